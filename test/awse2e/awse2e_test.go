// Package awse2e runs Relais's AWS wiring end to end on one machine: the real Lambda
// bootstraps of functions/ (main.go, lambdaenv and the handlers, built as make lambdas
// builds them) and the real AWS adapters talk through the AWS SDK to stand-ins started
// by the test — DynamoDB (minidyn), S3 (gofakes3), Step Functions (Relais's interpreter
// behind its Step Functions API, shared/asl/sfnapi, whose Lambda tasks go through the
// Lambda Invoke API), Lambda (a Runtime API per execution environment), API Gateway
// (HTTP API, payload 2.0), Secrets Manager, SNS, CodeBuild (which runs the buildspec with
// Relais's build runner and emits the EventBridge event), CloudFormation's custom
// resource answers and GitHub.
//
// TestHelloOnAWS installs pipelines/hello.json as a deploy of the stack does, then plays
// GitHub and the approver: a signed push starts an execution, which exports the commit,
// builds and tests it on "CodeBuild", asks for approval by SNS, and after the approver
// follows the emailed link deploys the site into an S3 bucket.
package awse2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/truora/minidyn/server"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/asl/sfnapi"
	"github.com/relais-ci/relais/shared/aws/dynamostore"
	"github.com/relais-ci/relais/shared/aws/sfnengine"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// The account and stack the run deploys.
const (
	region     = "eu-west-1"
	account    = "123456789012"
	stackName  = "Relais"
	table      = "Relais-Table-E2E"
	artifacts  = "relais-artifactbucket-e2e"
	siteBucket = "relais-hello-site" // pipelines/hello.json's deploy bucket
	repo       = "relais-ci/hello"
	approver   = "alice@example.com"
	// A topic of the account, not the stack's, that a declaration may name.
	teamTopic = "arn:aws:sns:" + region + ":" + account + ":release-team"
	// The state machines' role; its name is also its access key here.
	machineRoleName = "Relais-PipelineRole-E2E"
	machineRoleARN  = "arn:aws:iam::" + account + ":role/" + machineRoleName
)

// Function names, as CloudFormation would name the stack's functions.
const (
	fnWebhook  = "Relais-WebhookFunction-E2E"
	fnAPI      = "Relais-ApiFunction-E2E"
	fnGate     = "Relais-GateFunction-E2E"
	fnAction   = "Relais-ActionFunction-E2E"
	fnApproval = "Relais-ApprovalFunction-E2E"
	fnEvents   = "Relais-EventsFunction-E2E"
)

func fnARN(name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}

func secretARN(name string) string {
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + name + "-AbCdEf"
}

// stack is everything the run deploys and the stand-ins it talks to.
type stack struct {
	t             *testing.T
	cfg           aws.Config
	dynamo        *dynamodb.Client
	store         *dynamostore.Store
	s3            *s3.Client
	sfn           *sfn.Client
	engine        *asl.Engine
	lambda        *lambdaService
	lambdac       *lambda.Client
	gateway       *apiGateway
	github        *gitHub
	secrets       *secretsManager
	sns           *sns
	codebuild     *codeBuild
	cfn           *cloudFormation
	apiToken      string
	webhookSecret string
	machine       string // the hello machine's ARN
	topic         string // the approval topic
	calls         *callLog

	mu            sync.Mutex
	runEventsSent int
	runPasses     int // passes the run watcher has made
}

func TestHelloOnAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions and runs a pipeline through them")
	}
	bins := functions(t)
	// A deadline for liveness only: the run takes seconds.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s := deploy(t, ctx, bins)

	// GitHub delivers a signed push of main.
	sha := s.github.head()
	delivery := "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	push := pushEvent(sha)
	status, body := s.deliver(ctx, delivery, push)
	var dec struct {
		Message    string `json:"message"`
		Executions []struct {
			Pipeline string `json:"pipeline"`
			ID       string `json:"pipelineExecutionId"`
		} `json:"executions"`
	}
	if err := json.Unmarshal(body, &dec); err != nil || status != http.StatusOK || len(dec.Executions) != 1 || dec.Executions[0].Pipeline != "hello" {
		t.Fatalf("push: got %d %s, want 200 and one execution of hello", status, body)
	}
	id := dec.Executions[0].ID
	t.Logf("push started execution %s on commit %s", id, sha)

	// The approval request reaches the approver by SNS, with their link.
	msg := s.waitApprovalMessage(ctx, id)
	link := regexp.MustCompile(`https?://\S+/approvals/\S+`).FindAllString(msg.Message, -1)
	var approve string
	for _, l := range link {
		if u, err := url.Parse(l); err == nil && u.Query().Get("page") == "approve" {
			approve = l
		}
	}
	if approve == "" {
		t.Fatalf("the approval message has no approve link:\n%s", msg.Message)
	}
	for k, want := range map[string]string{"pipeline": "String:hello", "execution": "String:" + id, "recipient": "String:" + approver} {
		if got := msg.Attributes[k]; got != want {
			t.Errorf("approval message attribute %s: got %q, want %q", k, got, want)
		}
	}
	if want := "Release " + sha + " (built as " + sha[:7] + ") to the site?"; !strings.Contains(msg.Message, want) {
		t.Errorf("approval message does not carry the resolved CustomData %q:\n%s", want, msg.Message)
	}

	// The approver follows the link: the page, then its form.
	browser := newBrowser(t)
	page := browser.get(ctx, approve)
	if page.status != http.StatusOK {
		t.Fatalf("approval page: got %d\n%s", page.status, page.body)
	}
	form := page.form()
	form.Set("comment", "ship it")
	decided := browser.post(ctx, approve, form)
	if decided.status != http.StatusOK || !strings.Contains(decided.body, "Approved") {
		t.Fatalf("approve: got %d\n%s", decided.status, decided.body)
	}

	x := s.waitExecution(ctx, id)
	if x.Status != core.ExecutionSucceeded {
		t.Fatalf("execution %s ended %s (%s), want Succeeded", id, x.Status, x.StatusSummary)
	}
	runARN := s.executionARN(id)
	out, err := s.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(runARN)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Errorf("state machine run: got %s (%s %s), want SUCCEEDED", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	// Everything the execution caused in the functions has happened once the run's end
	// is handled: the figures count it.
	s.waitRunEvents(ctx)
	perExecution := s.lambda.invocations("")

	t.Run("deployed site", func(t *testing.T) { s.checkSite(ctx, t, sha) })
	t.Run("artifacts", func(t *testing.T) { s.checkArtifacts(ctx, t, id) })
	t.Run("build request", func(t *testing.T) { s.checkBuild(ctx, t, id, sha) })
	t.Run("api", func(t *testing.T) { s.checkAPI(ctx, t, id, sha) })
	t.Run("second use of the link", func(t *testing.T) {
		again := browser.post(ctx, approve, form)
		if again.status == http.StatusOK {
			t.Errorf("second POST of the approval form: got 200, want a refusal\n%s", again.body)
		}
	})
	t.Run("redelivery", func(t *testing.T) {
		status, body := s.deliver(ctx, delivery, push)
		if status != http.StatusOK || !strings.Contains(string(body), id) {
			t.Errorf("redelivery: got %d %s, want 200 naming execution %s", status, body, id)
		}
		list, _, err := s.store.ListExecutions(ctx, "hello", core.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Errorf("after a redelivery: got %d executions, want 1", len(list))
		}
	})
	t.Run("commit statuses", func(t *testing.T) {
		// The run's start and end, reported by the events function as relais serve
		// reports them: pending, then success, on the pushed commit. EventBridge may
		// deliver the start late: then both report success.
		got := s.github.posted()
		ok := len(got) == 2 && got[1] == sha+" success relais/hello" &&
			(got[0] == sha+" pending relais/hello" || got[0] == got[1])
		if !ok {
			t.Errorf("commit statuses: got %q, want pending (or success) then success on %s, context relais/hello", got, sha)
		}
	})
	t.Run("events delivered twice", func(t *testing.T) {
		// EventBridge delivers at least once: the build's end and the run's end again
		// change nothing and fail no invocation (a failed one would be retried, then
		// dead-lettered and alarmed).
		before := len(s.lambda.invocations(fnEvents))
		builds := s.codebuild.events()
		if len(builds) != 1 {
			t.Fatalf("got %d build events, want 1", len(builds))
		}
		if err := s.codebuild.deliver(builds[0]); err != nil {
			t.Fatal(err)
		}
		run, err := s.engine.DescribeExecution(ctx, runARN)
		if err != nil {
			t.Fatal(err)
		}
		s.emitRun(ctx, run)
		s.poll(ctx, "the duplicates handled", func() (bool, error) {
			return len(s.lambda.invocations(fnEvents)) == before+2, nil
		})
		for _, inv := range s.lambda.invocations(fnEvents)[before:] {
			if inv.ErrorType != "" {
				t.Errorf("duplicate event failed the events function: %s %s", inv.ErrorType, inv.Result)
			}
		}
		if x, err := s.store.GetExecution(ctx, "hello", id); err != nil || x.Status != core.ExecutionSucceeded {
			t.Errorf("after the duplicates: execution %s (%v), want Succeeded", x.Status, err)
		}
		if a := s.action(ctx, t, id, "BuildAndTest"); a.Status != cptypes.ActionExecutionStatusSucceeded {
			t.Errorf("after the duplicates: BuildAndTest %s, want Succeeded", a.Status)
		}
	})
	t.Run("stand-ins saw only well-formed requests", func(t *testing.T) { s.checkRequests(t) })
	t.Run("functions", func(t *testing.T) { s.checkFunctions(t) })
	t.Run("least privilege", func(t *testing.T) { s.checkGrants(t) })

	fig := s.figures(ctx, t, runARN, perExecution)
	fig.log(t)
	// What the figures say of any pipeline whose stages hold one action each (the
	// README's cost per execution): the machine's Start and Done, then per stage its
	// entry gate, the action and its exit gate, each a transition and the last three a
	// Lambda invocation; outside the machine, the webhook, the run's start and end
	// (commit statuses), the build's end, and the approval's page and decision.
	if fig.total.transitions != 2+3*4 || fig.total.machineInv != 3*4 || fig.total.otherInv != 1+2+1+2 {
		t.Errorf("per execution: got %d transitions, %d Lambda invocations by the machine and %d others; want 14, 12 and 6",
			fig.total.transitions, fig.total.machineInv, fig.total.otherInv)
	}
}

// deploy starts the stand-ins and deploys the stack on them: the table, the buckets,
// the secrets, the functions with the environment infra gives them, the routes, the
// pipeline's state machine, and the custom resource that installs the declarations.
func deploy(t *testing.T, ctx context.Context, bins map[string]string) *stack {
	return deployWith(t, ctx, bins, nil)
}

// deployWith deploys the stack with pipelines/hello.json as change makes it (nil: as it
// is).
func deployWith(t *testing.T, ctx context.Context, bins map[string]string, change func(t *testing.T, declaration []byte) []byte) *stack {
	s := &stack{t: t, apiToken: "api-token-e2e-0123456789abcdef0123456789abcdef",
		webhookSecret: "webhook-secret-e2e-0123456789abcdef0123"}
	s.calls = newCallLog()
	s.cfg = aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIAE2ETEST", "e2e-secret-key", "")}

	dyn := httptest.NewServer(s.calls.wrap(describeDynamoDB, server.NewServer()))
	t.Cleanup(dyn.Close)
	s.dynamo = dynamodb.NewFromConfig(s.cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint, o.DisableValidateResponseChecksum = aws.String(dyn.URL), true
	})
	if err := dynamostore.CreateTable(ctx, s.dynamo, table); err != nil {
		t.Fatal(err)
	}
	s.store = dynamostore.New(s.dynamo, table)

	s3srv := httptest.NewServer(s.calls.wrap(describeS3, gofakes3.New(s3mem.New()).Server()))
	t.Cleanup(s3srv.Close)
	s.s3 = s3.NewFromConfig(s.cfg, func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(s3srv.URL), true })
	for _, b := range []string{artifacts, siteBucket} {
		if _, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b),
			CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The stack's artifact bucket is versioned.
	if _, err := s.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(artifacts),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}

	s.lambda = newLambdaService(t, s.calls, region, account)
	s.lambdac = lambda.NewFromConfig(s.cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(s.lambda.srv.URL) })

	// Step Functions: the interpreter behind its API; its Lambda tasks invoke the
	// functions through the Lambda API, as the machines' role allows (gate and action).
	reg := asl.NewRegistry()
	asRole := s.cfg.Copy()
	asRole.Credentials = credentials.NewStaticCredentialsProvider(machineRoleName, "e2e-role-secret", "e2e-session")
	machines := lambda.NewFromConfig(asRole, func(o *lambda.Options) { o.BaseEndpoint = aws.String(s.lambda.srv.URL) })
	for _, fn := range []string{fnGate, fnAction} {
		reg.HandleLambda(fnARN(fn), invoker(machines, fnARN(fn)))
	}
	s.engine = asl.New(asl.Options{Tasks: reg, Region: region, AccountID: account,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(s.engine.Close)
	states := httptest.NewServer(s.calls.wrap(describeStates, signedBy("states", sfnapi.New(s.engine))))
	t.Cleanup(states.Close)
	s.sfn = sfn.NewFromConfig(s.cfg, func(o *sfn.Options) { o.BaseEndpoint = aws.String(states.URL) })

	s.github = newGitHub(t, repo, "ghp_e2eToken", filepath.Join("..", "..", "examples", "hello"))
	s.secrets = newSecretsManager(t, s.calls, region, map[string]string{
		secretARN("WebhookSecret"):  s.webhookSecret,
		secretARN("GitHubToken"):    s.github.token,
		secretARN("LinkSigningKey"): strings.Repeat("k3y", 22),
		secretARN("ApiToken"):       s.apiToken,
	})
	topic := "arn:aws:sns:" + region + ":" + account + ":Relais-ApprovalTopic-E2E"
	s.topic = topic
	s.sns = newSNS(t, s.calls, region, topic, teamTopic)
	s.codebuild = newCodeBuild(t, s.calls, s.s3, s.lambdac, region, account, fnARN(fnEvents), "relais-hello")
	s.cfn = newCloudFormation(t)

	// The HTTP API's routes (infra/api.go).
	s.gateway = newAPIGateway(t, s.lambdac, account, []route{
		{"POST", "/webhooks/github", fnWebhook},
		{"GET", "/approvals/{id}", fnApproval},
		{"POST", "/approvals/{id}", fnApproval},
		{"POST", "/", fnAPI},
	})

	// What the Lambda service gives every function, and where the SDK finds the
	// stand-ins: the AWS_ENDPOINT_URL_<SERVICE> variables of the SDK's configuration;
	// anything else goes to a closed port.
	tmp := t.TempDir()
	s.lambda.setBase([]string{
		// As Lambda: no HOME; /tmp is the writable place (here a folder of the test's).
		"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp, "LANG=en_US.UTF-8", "TZ=:UTC",
		"AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
		"AWS_ACCESS_KEY_ID=ASIAE2EFUNCTION", "AWS_SECRET_ACCESS_KEY=e2e-function-secret", "AWS_SESSION_TOKEN=e2e-session",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(tmp, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(tmp, "none"),
		"AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"AWS_ENDPOINT_URL_DYNAMODB=" + dyn.URL,
		"AWS_ENDPOINT_URL_S3=" + s3srv.URL,
		"AWS_ENDPOINT_URL_SFN=" + states.URL,
		"AWS_ENDPOINT_URL_LAMBDA=" + s.lambda.srv.URL,
		"AWS_ENDPOINT_URL_SNS=" + s.sns.srv.URL,
		"AWS_ENDPOINT_URL_CODEBUILD=" + s.codebuild.srv.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.secrets.srv.URL,
		"GORACE=halt_on_error=1",
	})
	// Each function's environment, as infra/functions.go and infra/stack.go set it.
	common := []string{
		lambdaenv.EnvTable + "=" + table, lambdaenv.EnvAccount + "=" + account,
		lambdaenv.EnvMachinePrefix + "=" + stackName + "-",
		lambdaenv.EnvMachineRole + "=" + machineRoleARN,
	}
	bucket := lambdaenv.EnvArtifactBucket + "=" + artifacts
	functions := []string{lambdaenv.EnvGateFunction + "=" + fnARN(fnGate), lambdaenv.EnvActionFunction + "=" + fnARN(fnAction)}
	approvalURL := lambdaenv.EnvApprovalURL + "=" + s.gateway.URL()
	// GitHub's API is the fake's (the variable a GitHub Enterprise Server needs too).
	githubAPI := lambdaenv.EnvGitHubAPIURL + "=" + s.github.api.URL
	env := func(parts ...[]string) []string { return slices.Concat(parts...) }
	s.lambda.add(fnWebhook, bins["webhook"], 10*time.Second, 256, env(common, functions, []string{bucket,
		lambdaenv.EnvWebhookSecret + "=" + secretARN("WebhookSecret"), lambdaenv.EnvGitHubToken + "=" + secretARN("GitHubToken"),
		lambdaenv.EnvAPIURL + "=" + s.gateway.URL(), githubAPI}))
	s.lambda.add(fnAPI, bins["api"], 29*time.Second, 256, env(common, functions, []string{bucket,
		lambdaenv.EnvAPIToken + "=" + secretARN("ApiToken"),
		lambdaenv.EnvMachineLogs + "=arn:aws:logs:" + region + ":" + account + ":log-group:Relais-PipelineLogs-E2E:*"}))
	s.lambda.add(fnGate, bins["gate"], 30*time.Second, 256, common)
	s.lambda.add(fnAction, bins["action"], 900*time.Second, 1024, env(common, []string{bucket,
		lambdaenv.EnvGitHubToken + "=" + secretARN("GitHubToken"), lambdaenv.EnvLinkKey + "=" + secretARN("LinkSigningKey"),
		lambdaenv.EnvApprovalTopic + "=" + topic,
		approvalURL, lambdaenv.EnvApprovers + "=" + approver, githubAPI}))
	s.lambda.add(fnApproval, bins["approval"], 10*time.Second, 256, env(common, functions, []string{
		lambdaenv.EnvLinkKey + "=" + secretARN("LinkSigningKey"), approvalURL}))
	s.lambda.add(fnEvents, bins["events"], 60*time.Second, 256, env(common, functions, []string{bucket,
		lambdaenv.EnvGitHubToken + "=" + secretARN("GitHubToken"), githubAPI}))

	// The pipeline's state machine, as the stack defines it: compiled at synth time,
	// the task placeholders substituted with the gate and action functions.
	raw, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		raw = change(t, raw)
	}
	decl, err := pipeline.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v := pipeline.Validate(decl, pipeline.TargetAWS); len(v) > 0 {
		t.Fatalf("pipelines/hello.json cannot run on AWS: %v", v)
	}
	def, err := statemachines.Compile(decl)
	if err != nil {
		t.Fatal(err)
	}
	names, err := sfnengine.New(nil, sfnengine.Config{Region: region, Account: account, RoleARN: "-",
		GateFunctionARN: "-", ActionFunctionARN: "-", NamePrefix: stackName + "-"})
	if err != nil {
		t.Fatal(err)
	}
	subst := strings.NewReplacer(statemachines.GateFunction, fnARN(fnGate), statemachines.ActionFunction, fnARN(fnAction))
	created, err := s.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(names.MachineName(decl.Name)), Definition: aws.String(subst.Replace(string(def))),
		RoleArn: aws.String(machineRoleARN), Type: sfntypes.StateMachineTypeStandard,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.machine = aws.ToString(created.StateMachineArn)

	// CloudFormation runs the custom resource that installs the declarations.
	s.install(ctx, string(raw))
	// EventBridge watches the runs from now on.
	t.Cleanup(s.watchRuns(ctx))
	return s
}

// signedBy checks that requests are signed for service before h serves them.
func signedBy(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := checkSigned(r, region, service); msg != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"InvalidSignatureException","message":%q}`, msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// invoker is how Step Functions' lambda:invoke integration calls a function: Invoke
// through the Lambda API; a function error fails the task with the error's type as its
// name and the error document as its cause, a Lambda API error as Lambda.<code>.
func invoker(client *lambda.Client, function string) asl.LambdaFunc {
	return func(ctx context.Context, payload any) (any, error) {
		data, err := json.Marshal(payload)
		if err != nil {
			return nil, asl.NewError("States.Runtime", "encode payload: %v", err)
		}
		out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: data})
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) {
				return nil, asl.NewError("Lambda."+ae.ErrorCode(), "%s", ae.ErrorMessage())
			}
			return nil, asl.NewError("Lambda.SdkClientException", "%v", err)
		}
		if out.FunctionError != nil {
			var doc struct {
				Type string `json:"errorType"`
			}
			_ = json.Unmarshal(out.Payload, &doc)
			if doc.Type == "" {
				doc.Type = "Lambda.Unknown"
			}
			return nil, &asl.Error{Name: doc.Type, Cause: string(out.Payload)}
		}
		var v any
		if len(out.Payload) > 0 {
			dec := json.NewDecoder(bytes.NewReader(out.Payload))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, asl.NewError("States.Runtime", "decode result: %v", err)
			}
		}
		return v, nil
	}
}

// install sends the Create request of the stack's InstallPipelines custom resource to
// the API function, as CloudFormation does (an asynchronous invocation), and waits for
// its answer at the response URL.
func (s *stack) install(ctx context.Context, declaration string) {
	t := s.t
	req := map[string]any{
		"RequestType": "Create", "ServiceToken": fnARN(fnAPI), "ResponseURL": s.cfn.responseURL("install-1"),
		"StackId":   "arn:aws:cloudformation:" + region + ":" + account + ":stack/" + stackName + "/6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11",
		"RequestId": "install-1", "LogicalResourceId": "InstallPipelines", "ResourceType": "Custom::RelaisPipelines",
		"ResourceProperties": map[string]any{"ServiceToken": fnARN(fnAPI), "Declarations": []string{declaration}},
	}
	payload, _ := json.Marshal(req)
	if _, err := s.lambdac.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fnARN(fnAPI)), Payload: payload,
		InvocationType: lambdatypes.InvocationTypeEvent}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ans := <-s.cfn.answers:
			if ans["Status"] != "SUCCESS" || ans["RequestId"] != "install-1" || ans["LogicalResourceId"] != "InstallPipelines" {
				t.Fatalf("install pipelines: CloudFormation got %v, want SUCCESS for install-1", ans)
			}
			return
		case <-ctx.Done():
			t.Fatalf("install pipelines: no answer reached CloudFormation; invocations:\n%s", s.describeInvocations(fnAPI))
		case <-time.After(25 * time.Millisecond):
			// A function that failed never answers: say so now.
			for _, inv := range s.lambda.invocations(fnAPI) {
				if inv.ErrorType != "" {
					t.Fatalf("install pipelines: the API function failed: %s %s", inv.ErrorType, inv.Result)
				}
			}
		}
	}
}

// pushEvent is GitHub's push of one commit to main of the repository, touching main.go.
func pushEvent(sha string) []byte {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha, "created": false, "deleted": false, "forced": false,
		"compare": "https://github.com/" + repo + "/compare/000000000000..." + sha[:12],
		"commits": []map[string]any{{"id": sha, "tree_id": strings.Repeat("1", 40), "distinct": true, "message": "Say hello",
			"timestamp": "2026-11-25T10:00:00Z", "author": map[string]string{"name": "Demo", "email": "demo@example.com", "username": "demo"},
			"added": []string{}, "removed": []string{}, "modified": []string{"main.go"}}},
		"head_commit": map[string]any{"id": sha, "message": "Say hello", "timestamp": "2026-11-25T10:00:00Z",
			"author": map[string]string{"name": "Demo", "email": "demo@example.com", "username": "demo"}},
		"repository": map[string]any{"id": 1296269, "name": "hello", "full_name": repo, "private": false,
			"html_url": "https://github.com/" + repo, "default_branch": "main", "owner": map[string]any{"login": "relais-ci"}},
		"pusher": map[string]string{"name": "demo", "email": "demo@example.com"},
		"sender": map[string]any{"login": "demo", "id": 1},
	})
	return body
}

// deliver posts a delivery to the webhook route as GitHub does.
func (s *stack) deliver(ctx context.Context, delivery string, body []byte) (int, []byte) {
	mac := hmac.New(sha256.New, []byte(s.webhookSecret))
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/87e258b")
	h.Set("X-GitHub-Event", "push")
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-GitHub-Hook-ID", "109948940")
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	status, data, err := call(ctx, http.DefaultClient, http.MethodPost, s.gateway.URL()+"webhooks/github", h, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return status, data
}

// poll calls check until it reports done, the execution ends early, or ctx ends.
func (s *stack) poll(ctx context.Context, what string, check func() (bool, error)) {
	s.t.Helper()
	for {
		done, err := check()
		if err != nil {
			s.t.Fatalf("%s: %v", what, err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("%s: not in time; invocations so far:\n%s", what, s.describeInvocations(""))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (s *stack) waitApprovalMessage(ctx context.Context, id string) published {
	var msg published
	s.poll(ctx, "approval request by SNS", func() (bool, error) {
		for _, m := range s.sns.messages() {
			if m.Attributes["execution"] == "String:"+id && m.Attributes["recipient"] == "String:"+approver {
				msg = m
				return true, nil
			}
		}
		x, err := s.store.GetExecution(ctx, "hello", id)
		if err == nil && x.Status.Terminal() {
			return false, fmt.Errorf("execution ended %s (%s) before its approval was asked", x.Status, x.StatusSummary)
		}
		return false, nil
	})
	return msg
}

func (s *stack) waitExecution(ctx context.Context, id string) core.Execution {
	var x core.Execution
	s.poll(ctx, "execution end", func() (bool, error) {
		var err error
		x, err = s.store.GetExecution(ctx, "hello", id)
		if err != nil {
			return false, err
		}
		if !x.Status.Terminal() {
			return false, nil
		}
		// The machine ends after the last gate has recorded the execution.
		out, err := s.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(s.executionARN(id))})
		return err == nil && out.Status != sfntypes.ExecutionStatusRunning, nil
	})
	return x
}

func (s *stack) executionARN(id string) string {
	return strings.Replace(s.machine, ":stateMachine:", ":execution:", 1) + ":" + id
}

// describeInvocations lists the invocations of fn ("" for all) for failure messages.
func (s *stack) describeInvocations(fn string) string {
	var b strings.Builder
	for _, inv := range s.lambda.invocations(fn) {
		fmt.Fprintf(&b, "  %s %s %s\n", inv.Function, truncate(string(inv.Payload), 160), truncate(inv.ErrorType+" "+string(inv.Result), 300))
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkSite: the Deploy action extracted the build's artifact into the site bucket.
func (s *stack) checkSite(ctx context.Context, t *testing.T, sha string) {
	list, err := s.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(siteBucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	if want := []string{"hello", "index.txt"}; !slices.Equal(keys, want) {
		t.Errorf("site bucket holds %q, want %q", keys, want)
	}
	obj, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(siteBucket), Key: aws.String("index.txt")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	got, _ := io.ReadAll(obj.Body)
	// GREETING is #{variables.greeting} and COMMIT #{SourceVariables.CommitId}: the
	// program says the greeting, the buildspec the version cut from the commit.
	if want := "hello, world!\nversion " + sha[:7] + "\n"; string(got) != want {
		t.Errorf("index.txt: got %q, want %q", got, want)
	}
	if ct := aws.ToString(obj.ContentType); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("index.txt content type: got %q, want text/plain", ct)
	}
}

// checkArtifacts: the source and build artifacts are zips at the store's keys.
func (s *stack) checkArtifacts(ctx context.Context, t *testing.T, id string) {
	for name, want := range map[string][]string{
		"SourceOutput": {"buildspec.yml", "go.mod", "main.go", "main_test.go"},
		"BuildOutput":  {"hello", "index.txt"},
	} {
		key := "hello/" + id + "/" + name + ".zip"
		obj, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(artifacts), Key: aws.String(key)})
		if err != nil {
			t.Errorf("artifact %s: %v", key, err)
			continue
		}
		data, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Errorf("artifact %s is not a zip: %v", key, err)
			continue
		}
		var files []string
		for _, f := range zr.File {
			if !strings.HasSuffix(f.Name, "/") {
				files = append(files, f.Name)
			}
		}
		sort.Strings(files)
		if !slices.Equal(files, want) {
			t.Errorf("artifact %s holds %q, want %q", key, files, want)
		}
	}
}

// checkBuild: StartBuild asked for the source artifact's version, the artifact store's
// key for the output and the resolved variables.
func (s *stack) checkBuild(ctx context.Context, t *testing.T, id, sha string) {
	starts := s.codebuild.requests()
	if len(starts) != 1 {
		t.Fatalf("got %d StartBuild requests, want 1", len(starts))
	}
	in := starts[0]
	head, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(artifacts), Key: aws.String("hello/" + id + "/SourceOutput.zip")})
	if err != nil {
		t.Fatal(err)
	}
	if want := artifacts + "/hello/" + id + "/SourceOutput.zip"; in.SourceLocationOverride != want {
		t.Errorf("sourceLocationOverride: got %q, want %q", in.SourceLocationOverride, want)
	}
	if v := aws.ToString(head.VersionId); v == "" || in.SourceVersion != v {
		t.Errorf("sourceVersion: got %q, want the source zip's version %q", in.SourceVersion, v)
	}
	if a := in.ArtifactsOverride; a == nil || a.Location != artifacts || a.Path != "hello/"+id || a.Name != "BuildOutput.zip" {
		t.Errorf("artifactsOverride: got %+v, want bucket %s, path hello/%s, name BuildOutput.zip", a, artifacts, id)
	}
	env := map[string]string{}
	for _, v := range in.EnvironmentVariablesOverride {
		env[v.Name] = string(v.Type) + ":" + v.Value
	}
	if want := map[string]string{"GREETING": "PLAINTEXT:hello", "COMMIT": "PLAINTEXT:" + sha}; !maps(env, want) {
		t.Errorf("environmentVariablesOverride: got %v, want %v", env, want)
	}
	if in.IdempotencyToken == "" {
		t.Error("StartBuild without an idempotency token")
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// apiClient is the CodePipeline SDK client on the stack's API, with its token.
func (s *stack) apiClient() *codepipeline.Client {
	return codepipeline.NewFromConfig(s.cfg, func(o *codepipeline.Options) {
		o.BaseEndpoint = aws.String(s.gateway.URL())
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return smithyhttp.AddHeaderValue("X-Relais-Api-Token", s.apiToken)(st)
		})
	})
}

// checkAPI reads the execution back through the API function, as `aws codepipeline`
// would: its status and revision, the stages' states and each action's execution.
func (s *stack) checkAPI(ctx context.Context, t *testing.T, id, sha string) {
	api := s.apiClient()
	x, err := api.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("hello"), PipelineExecutionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	pe := x.PipelineExecution
	if pe.Status != cptypes.PipelineExecutionStatusSucceeded {
		t.Errorf("GetPipelineExecution: status %s, want Succeeded", pe.Status)
	}
	if len(pe.ArtifactRevisions) != 1 || aws.ToString(pe.ArtifactRevisions[0].RevisionId) != sha {
		t.Errorf("GetPipelineExecution: artifact revisions %+v, want commit %s", pe.ArtifactRevisions, sha)
	}
	if pe.Trigger == nil || pe.Trigger.TriggerType != cptypes.TriggerTypeWebhookV2 {
		t.Errorf("GetPipelineExecution: trigger %+v, want WebhookV2", pe.Trigger)
	}

	state, err := api.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, st := range state.StageStates {
		got := aws.ToString(st.StageName) + ":"
		if st.LatestExecution != nil {
			got += string(st.LatestExecution.Status)
			if aws.ToString(st.LatestExecution.PipelineExecutionId) != id {
				t.Errorf("stage %s: latest execution %s, want %s", aws.ToString(st.StageName), aws.ToString(st.LatestExecution.PipelineExecutionId), id)
			}
		}
		for _, a := range st.ActionStates {
			got += " " + aws.ToString(a.ActionName) + "="
			if a.LatestExecution != nil {
				got += string(a.LatestExecution.Status)
			}
		}
		stages = append(stages, got)
	}
	want := []string{"Source:Succeeded Source=Succeeded", "Build:Succeeded BuildAndTest=Succeeded",
		"Approval:Succeeded Release=Succeeded", "Deploy:Succeeded Site=Succeeded"}
	if !slices.Equal(stages, want) {
		t.Errorf("GetPipelineState: got %q, want %q", stages, want)
	}

	acts, err := api.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("hello"),
		Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cptypes.ActionExecutionDetail{}
	for _, a := range acts.ActionExecutionDetails {
		got[aws.ToString(a.ActionName)] = a
		if a.Status != cptypes.ActionExecutionStatusSucceeded {
			t.Errorf("action %s: status %s, want Succeeded", aws.ToString(a.ActionName), a.Status)
		}
	}
	if len(got) != 4 {
		t.Errorf("ListActionExecutions: got %d actions, want 4", len(got))
	}
	if src, ok := got["Source"]; ok && src.Output != nil {
		if v := src.Output.OutputVariables["CommitId"]; v != sha {
			t.Errorf("Source output variable CommitId: got %q, want %s", v, sha)
		}
		if r := src.Output.ExecutionResult; r == nil || aws.ToString(r.ExternalExecutionUrl) != "https://github.com/"+repo+"/commit/"+sha {
			t.Errorf("Source execution result %+v: want the commit's URL", r)
		}
	}
	if b, ok := got["BuildAndTest"]; ok {
		if b.Output == nil || b.Output.OutputVariables["VERSION"] != sha[:7] {
			t.Errorf("BuildAndTest output variables: got %+v, want VERSION=%s (exported by the buildspec)", b.Output, sha[:7])
		}
		if b.Output != nil && b.Output.ExecutionResult != nil {
			if u := aws.ToString(b.Output.ExecutionResult.ExternalExecutionUrl); !strings.Contains(u, "/aws/codebuild/relais-hello") {
				t.Errorf("BuildAndTest external URL %q: want the build's log link from the build state change", u)
			}
			ext := aws.ToString(b.Output.ExecutionResult.ExternalExecutionId)
			if build, ok := s.codebuild.get(ext); !ok || build.Status != "SUCCEEDED" {
				t.Errorf("BuildAndTest external id %q: not a succeeded build of CodeBuild (%+v)", ext, build.Status)
			}
		}
	}
	if r, ok := got["Release"]; ok && (r.Output == nil || r.Output.ExecutionResult == nil ||
		!strings.Contains(aws.ToString(r.Output.ExecutionResult.ExternalExecutionSummary), approver)) {
		t.Errorf("Release: got %+v, want a summary naming the approver %s", r.Output, approver)
	}
}

// checkRequests: no stand-in refused a request as malformed or unsigned.
func (s *stack) checkRequests(t *testing.T) {
	for name, bad := range map[string][]string{
		"Lambda": s.lambda.bad, "CodeBuild": s.codebuild.bad, "SNS": s.sns.bad, "Secrets Manager": s.secrets.bad, "GitHub": s.github.bad,
	} {
		for _, b := range bad {
			t.Errorf("%s refused: %s", name, b)
		}
	}
}

// checkFunctions: every invocation answered without a function error, and no function
// reported a data race.
func (s *stack) checkFunctions(t *testing.T) {
	for _, inv := range s.lambda.invocations("") {
		if inv.ErrorType != "" {
			t.Errorf("%s failed %s: %s\npayload %s", inv.Function, inv.ErrorType, inv.Result, truncate(string(inv.Payload), 400))
		}
	}
	s.lambda.mu.Lock()
	fns := s.lambda.fns
	s.lambda.mu.Unlock()
	for name, f := range fns {
		if strings.Contains(f.logText(), "WARNING: DATA RACE") {
			t.Errorf("function %s reported a data race (see its log)", name)
		}
	}
}

// browser is a person's browser: it keeps cookies and sends what a browser sends.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}}
}

type page struct {
	status int
	body   string
}

func (b *browser) get(ctx context.Context, u string) page {
	h := http.Header{"Accept": {"text/html"}, "User-Agent": {"Mozilla/5.0"}, "Sec-Fetch-Site": {"none"}}
	status, body, err := call(ctx, b.c, http.MethodGet, u, h, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status, string(body)}
}

func (b *browser) post(ctx context.Context, u string, form url.Values) page {
	pu, _ := url.Parse(u)
	h := http.Header{"Accept": {"text/html"}, "User-Agent": {"Mozilla/5.0"}, "Content-Type": {"application/x-www-form-urlencoded"},
		"Origin": {pu.Scheme + "://" + pu.Host}, "Sec-Fetch-Site": {"same-origin"}}
	status, body, err := call(ctx, b.c, http.MethodPost, u, h, []byte(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status, string(body)}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form reads the page's form fields.
func (p page) form() url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}
