// Package lambda boots Relais's Lambda binaries under the AWS Lambda Runtime Interface
// Emulator and answers the samples in events/ through it: the real bootstrap, its init
// (environment, clients, services) and the Go runtime's wire format, with DynamoDB served
// by minidyn and Secrets Manager by a fake that knows one secret.
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/truora/minidyn/server"

	"github.com/relais-ci/relais/shared/aws/dynamostore"
	"github.com/relais-ci/relais/shared/core"
)

const riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// rie installs the emulator once into the user cache (about 20 s the first time).
func rie(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "relais", "aws-lambda-rie")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", riePackage)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install aws-lambda-rie: %v\n%s", err, out)
	}
	return bin
}

// build builds a function for linux/amd64 (this machine), as make lambdas builds it for
// arm64.
func build(t *testing.T, fn, dir string) string {
	t.Helper()
	out := filepath.Join(dir, fn, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/"+fn)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", fn, err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// function is one bootstrap running under the emulator. The emulator takes one request
// at a time: invoke is called from one goroutine.
type function struct {
	addr string
	stop func()
}

func start(t *testing.T, emulator, bootstrap string, env []string) *function {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(emulator, "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", logs.String())
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &function{addr: addr, stop: stop}
}

func (f *function) invoke(t *testing.T, payload []byte) (map[string]any, time.Duration) {
	t.Helper()
	began := time.Now()
	res, err := http.Post("http://"+f.addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	took := time.Since(began)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %d: %s", res.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("invoke: answer %s: %v", body, err)
	}
	return out, took
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secretsManager answers GetSecretValue from values, by secret id.
func secretsManager(values map[string]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		v, ok := values[in.SecretId]
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetSecretValue") || !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"no such secret"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"ARN":%q,"Name":"x","SecretString":%q}`, in.SecretId, v)
	}))
}

// stepFunctions records the task tokens sent back to it.
type stepFunctions struct {
	srv       *httptest.Server
	successes chan string
}

func newStepFunctions() *stepFunctions {
	f := &stepFunctions{successes: make(chan string, 10)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ TaskToken string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") == "AWSStepFunctions.SendTaskSuccess" {
			f.successes <- in.TaskToken
		}
		fmt.Fprint(w, "{}")
	}))
	return f
}

func TestFunctionsUnderEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions and boots them under the emulator")
	}
	emulator := rie(t)
	bin := t.TempDir()
	ctx := context.Background()

	dynamo := httptest.NewServer(server.NewServer())
	defer dynamo.Close()
	const apiToken, linkKey = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:link"
	secrets := secretsManager(map[string]string{apiToken: "sample-token", linkKey: strings.Repeat("k", 64)})
	defer secrets.Close()
	client := dynamodb.New(dynamodb.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(dynamo.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""),
	})
	if err := dynamostore.CreateTable(ctx, client, "relais"); err != nil {
		t.Fatal(err)
	}
	store := dynamostore.New(client, "relais")
	// An execution stopped while it waited: its gate answers StoppedError.
	now := time.Now().UTC()
	if _, err := store.CreateExecution(ctx, core.Execution{PipelineName: "hello", ID: "6f1c1b8e-2f0a-4c55-9a51-0c4f0f4b2b11",
		Status: core.ExecutionStopping, Stop: &core.StopRequest{Mode: core.StopAndWait, Reason: "by hand", At: now},
		StartTime: now, LastUpdateTime: now}); err != nil {
		t.Fatal(err)
	}
	sfn := newStepFunctions()
	defer sfn.srv.Close()
	// An execution running its Source stage: let into Build at once.
	if _, err := store.CreateExecution(ctx, core.Execution{PipelineName: "hello", ID: "running", Status: core.ExecutionInProgress,
		Mode: core.ModeSuperseded, EngineRun: "running", StartTime: now, LastUpdateTime: now}); err != nil {
		t.Fatal(err)
	}
	var enter map[string]any
	if err := json.Unmarshal(sample(t, "gate/enter.json"), &enter); err != nil {
		t.Fatal(err)
	}
	enter["executionId"], enter["token"] = "running", "token-of-running"
	enterRunning, _ := json.Marshal(enter)

	env := []string{
		"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x",
		"AWS_ENDPOINT_URL_DYNAMODB=" + dynamo.URL, "AWS_ENDPOINT_URL_SFN=" + sfn.srv.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + secrets.URL,
		// Nothing may reach AWS: every other service points at a closed port.
		"AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED=true",
		"RELAIS_TABLE=relais", "RELAIS_ACCOUNT=123456789012", "RELAIS_MACHINE_PREFIX=Relais-",
		"RELAIS_MACHINE_ROLE_ARN=arn:aws:iam::123456789012:role/machines",
		"RELAIS_API_TOKEN_SECRET_ARN=" + apiToken, "RELAIS_LINK_KEY_SECRET_ARN=" + linkKey,
		"RELAIS_APPROVAL_URL=https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/",
	}
	tests := []struct {
		fn      string
		sample  string
		payload []byte         // instead of the sample, when set
		want    map[string]any // keys that must have these values in the answer
		token   string         // a task token the function must send back as a success
	}{
		{"gate", "gate/enter.json", nil, map[string]any{"errorType": core.ErrorStopped}, ""},
		{"gate", "gate/enter.json (running execution)", enterRunning, map[string]any{}, "token-of-running"},
		{"action", "action/run.json", nil, map[string]any{"errorType": core.ErrorStopped}, ""},
		{"events", "events/codebuild-in-progress.json", nil, map[string]any{"outcome": "ignored"}, ""},
		{"events", "events/stepfunctions-succeeded.json", nil, map[string]any{"outcome": "ignored"}, ""},
		// No action waits for the build: found by the external-id index, answered as such.
		{"events", "events/codebuild-succeeded.json", nil, map[string]any{"outcome": "unknown"}, ""},
		// The execution is already Stopped (the gate ended it): nothing left to free.
		{"events", "events/stepfunctions-aborted.json", nil, map[string]any{"outcome": "ended"}, ""},
		// The sample's signature is made up: the page refuses the link.
		{"approval", "approval/get.json", nil, map[string]any{"statusCode": float64(403)}, ""},
		{"api", "api/list-pipelines.json", nil, map[string]any{"statusCode": float64(200), "body": `{"pipelines":[]}`}, ""},
		{"api", "api/no-token.json", nil, map[string]any{"statusCode": float64(403)}, ""},
	}
	// One emulator at a time: each binds the runtime API's fixed port (9001). Tests of
	// one function follow each other and reuse it warm.
	var f *function
	fn := ""
	outer := t
	for _, tt := range tests {
		t.Run(tt.fn+"/"+tt.sample, func(t *testing.T) {
			cold := tt.fn != fn
			if cold {
				if f != nil {
					f.stop()
				}
				f, fn = start(outer, emulator, build(t, tt.fn, bin), env), tt.fn
			}
			payload := tt.payload
			if payload == nil {
				payload = sample(t, tt.sample)
			}
			got, took := f.invoke(t, payload)
			if cold {
				if st, err := os.Stat(filepath.Join(bin, tt.fn, "bootstrap")); err == nil {
					t.Logf("%s: bootstrap %.1f MB, first answer (init and invoke) in %v", tt.fn, float64(st.Size())/1e6, took)
				}
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("got %s = %v, want %v (answer %v)", k, got[k], want, got)
				}
			}
			if tt.token != "" {
				select {
				case tok := <-sfn.successes:
					if tok != tt.token {
						t.Errorf("got SendTaskSuccess(%q), want %q", tok, tt.token)
					}
				default:
					t.Errorf("got no SendTaskSuccess, want one for %q (answer %v)", tt.token, got)
				}
			}
		})
	}
}
