package awse2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Each function signs its requests with its own access key (as each function runs as
// its own role), so the stand-ins know who calls what: calls records, per caller, the
// IAM actions its requests need and on which resources, and checkGrants compares them
// with what the stack grants each function's role.

// callLog is what each caller asked of the AWS stand-ins, as IAM sees it.
type callLog struct {
	mu    sync.Mutex
	calls map[string]map[string]bool // access key → "action resource"
}

func newCallLog() *callLog { return &callLog{calls: map[string]map[string]bool{}} }

// caller is the access key that signed r.
func caller(r *http.Request) string {
	_, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func (l *callLog) add(who, action, resource string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls[who] == nil {
		l.calls[who] = map[string]bool{}
	}
	l.calls[who][action+" "+resource] = true
}

// of returns what who asked, sorted.
func (l *callLog) of(who string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for c := range l.calls[who] {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// wrap records the requests next serves, read by describe (IAM actions and resources).
func (l *callLog) wrap(describe func(r *http.Request, body []byte) [][2]string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		for _, c := range describe(r, body) {
			l.add(caller(r), c[0], c[1])
		}
		next.ServeHTTP(w, r)
	})
}

// jsonTarget reads the operation of an AWS JSON request (X-Amz-Target: Service.Op).
func jsonTarget(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndex(t, ".")+1:]
}

func describeDynamoDB(r *http.Request, body []byte) [][2]string {
	op := jsonTarget(r)
	table := func(name, index string) string {
		arn := "arn:aws:dynamodb:" + region + ":" + account + ":table/" + name
		if index != "" {
			arn += "/index/" + index
		}
		return arn
	}
	var in struct {
		TableName     string
		IndexName     string
		TransactItems []map[string]struct{ TableName string }
	}
	_ = json.Unmarshal(body, &in)
	if op == "TransactWriteItems" {
		// IAM authorizes each item of a transaction by its own action (Put → PutItem …).
		var out [][2]string
		for _, item := range in.TransactItems {
			for kind, v := range item {
				action := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}[kind]
				out = append(out, [2]string{"dynamodb:" + action, table(v.TableName, "")})
			}
		}
		return out
	}
	return [][2]string{{"dynamodb:" + op, table(in.TableName, in.IndexName)}}
}

// describeS3 maps a REST request (path style) to the IAM action it needs.
func describeS3(r *http.Request, _ []byte) [][2]string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	key, _ = url.PathUnescape(key)
	q := r.URL.Query()
	obj := "arn:aws:s3:::" + bucket + "/" + key
	bkt := "arn:aws:s3:::" + bucket
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch {
	case key == "" && r.Method == http.MethodGet && has("location"):
		return [][2]string{{"s3:GetBucketLocation", bkt}}
	case key == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return [][2]string{{"s3:ListBucket", bkt}}
	case key == "":
		return [][2]string{{"s3:" + r.Method + "Bucket?" + r.URL.RawQuery, bkt}}
	case r.Method == http.MethodGet && has("versionId"), r.Method == http.MethodHead && has("versionId"):
		return [][2]string{{"s3:GetObjectVersion", obj}}
	case r.Method == http.MethodGet && has("tagging"):
		return [][2]string{{"s3:GetObjectTagging", obj}}
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		return [][2]string{{"s3:GetObject", obj}}
	case r.Method == http.MethodPut && has("acl"):
		return [][2]string{{"s3:PutObjectAcl", obj}}
	case r.Method == http.MethodPut && has("tagging"):
		return [][2]string{{"s3:PutObjectTagging", obj}}
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		src, _ := url.PathUnescape(strings.TrimPrefix(r.Header.Get("X-Amz-Copy-Source"), "/"))
		return [][2]string{{"s3:PutObject", obj}, {"s3:GetObject", "arn:aws:s3:::" + src}}
	case r.Method == http.MethodPut, r.Method == http.MethodPost:
		// PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload.
		return [][2]string{{"s3:PutObject", obj}}
	case r.Method == http.MethodDelete && has("uploadId"):
		return [][2]string{{"s3:AbortMultipartUpload", obj}}
	case r.Method == http.MethodDelete && has("versionId"):
		return [][2]string{{"s3:DeleteObjectVersion", obj}}
	case r.Method == http.MethodDelete:
		return [][2]string{{"s3:DeleteObject", obj}}
	}
	return [][2]string{{"s3:?" + r.Method, obj}}
}

func describeStates(r *http.Request, body []byte) [][2]string {
	op := jsonTarget(r)
	var in struct {
		StateMachineArn, ExecutionArn, Name, RoleArn string
	}
	_ = json.Unmarshal(body, &in)
	res := in.StateMachineArn
	switch {
	case in.ExecutionArn != "":
		res = in.ExecutionArn
	case op == "CreateStateMachine":
		res = "arn:aws:states:" + region + ":" + account + ":stateMachine:" + in.Name
	case strings.HasPrefix(op, "SendTask"):
		// A task token names no resource Relais could scope.
		res = "*"
	}
	out := [][2]string{{"states:" + op, res}}
	if in.RoleArn != "" && (op == "CreateStateMachine" || op == "UpdateStateMachine") {
		out = append(out, [2]string{"iam:PassRole", in.RoleArn})
	}
	return out
}

func describeCodeBuild(r *http.Request, body []byte) [][2]string {
	var in struct {
		ProjectName string   `json:"projectName"`
		ID          string   `json:"id"`
		IDs         []string `json:"ids"`
	}
	_ = json.Unmarshal(body, &in)
	project := func(p string) string { return "arn:aws:codebuild:" + region + ":" + account + ":project/" + p }
	op := "codebuild:" + jsonTarget(r)
	if in.ProjectName != "" {
		return [][2]string{{op, project(in.ProjectName)}}
	}
	var out [][2]string
	for _, id := range append(in.IDs, in.ID) {
		if p, _, ok := strings.Cut(id, ":"); ok {
			out = append(out, [2]string{op, project(p)})
		}
	}
	return out
}

func describeSNS(r *http.Request, body []byte) [][2]string {
	f, _ := url.ParseQuery(string(body))
	return [][2]string{{"sns:" + f.Get("Action"), f.Get("TopicArn")}}
}

func describeSecrets(r *http.Request, body []byte) [][2]string {
	var in struct{ SecretId string }
	_ = json.Unmarshal(body, &in)
	return [][2]string{{"secretsmanager:" + jsonTarget(r), in.SecretId}}
}

func describeLambda(r *http.Request, _ []byte) [][2]string {
	rest := strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/")
	name, _ := url.PathUnescape(strings.TrimSuffix(rest, "/invocations"))
	return [][2]string{{"lambda:InvokeFunction", fnARN(functionName(name))}}
}

// grant is one statement: actions on resources ('*' matches any run of characters).
type grant struct {
	actions   []string
	resources []string
}

// grants are the statements of each function's role in infra (infra/functions.go:
// wire, grantMachines, grantDeclared), for this stack: the declarations are
// pipelines/hello.json, the default project Relais-DefaultProject-E2E. Only actions the
// stand-ins serve appear here; logs and X-Ray are not checked.
func grants(topic string) map[string][]grant {
	table := "arn:aws:dynamodb:" + region + ":" + account + ":table/" + table
	machines := "arn:aws:states:" + region + ":" + account + ":stateMachine:" + stackName + "-*"
	executions := "arn:aws:states:" + region + ":" + account + ":execution:" + stackName + "-*:*"
	projects := []string{"arn:aws:codebuild:" + region + ":" + account + ":project/Relais-DefaultProject-E2E",
		"arn:aws:codebuild:" + region + ":" + account + ":project/relais-hello"}
	objects := "arn:aws:s3:::" + artifacts + "/*"
	answer := grant{[]string{"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}, []string{machines, "*"}}
	common := []grant{
		{[]string{"dynamodb:GetItem", "dynamodb:Query"}, []string{table, table + "/index/*"}},
		{[]string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:TransactWriteItems"}, []string{table}},
	}
	secret := func(name string) grant {
		return grant{[]string{"secretsmanager:GetSecretValue"}, []string{secretARN(name)}}
	}
	return map[string][]grant{
		fnWebhook: append(common, secret("WebhookSecret"), secret("GitHubToken"),
			grant{[]string{"states:StartExecution"}, []string{machines}},
			grant{[]string{"states:DescribeExecution"}, []string{executions}}),
		fnAPI: append(common, secret("ApiToken"), answer,
			grant{[]string{"states:StartExecution", "states:CreateStateMachine", "states:UpdateStateMachine"}, []string{machines}},
			grant{[]string{"states:DescribeExecution", "states:StopExecution"}, []string{executions}},
			grant{[]string{"iam:PassRole"}, []string{machineRoleARN}},
			grant{[]string{"codebuild:StopBuild"}, projects}),
		fnGate: append(common, answer),
		fnAction: append(common, secret("GitHubToken"), secret("LinkSigningKey"), answer,
			grant{[]string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"}, []string{objects}},
			grant{[]string{"s3:PutObject", "s3:AbortMultipartUpload"}, []string{"arn:aws:s3:::" + siteBucket + "/*"}},
			// The stack's approval topic, and the NotificationArn topics the declarations
			// name (TestFailuresOnAWS declares teamTopic on hello's approval).
			grant{[]string{"sns:Publish"}, []string{topic, teamTopic}},
			grant{[]string{"codebuild:StartBuild"}, projects}),
		fnApproval: append(common, secret("LinkSigningKey"), answer),
		fnEvents: append(common, secret("GitHubToken"), answer,
			grant{[]string{"codebuild:BatchGetBuilds"}, projects}),
		// The state machines' role (infra/machines.go): the gate and action functions.
		machineRoleName: {{[]string{"lambda:InvokeFunction"}, []string{fnARN(fnGate), fnARN(fnAction)}}},
	}
}

func allows(gs []grant, action, resource string) bool {
	for _, g := range gs {
		for _, a := range g.actions {
			if a != action {
				continue
			}
			for _, r := range g.resources {
				if globMatch(r, resource) {
					return true
				}
			}
		}
	}
	return false
}

// globMatch matches s against a pattern where '*' is any run of characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts); i++ {
		if i == len(parts)-1 {
			return strings.HasSuffix(s, parts[i])
		}
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return s == ""
}

// checkGrants fails for each call a function (or the machines' role) made that its
// role does not allow, and logs what each called.
func (s *stack) checkGrants(t *testing.T) {
	gs := grants(s.topic)
	var b strings.Builder
	for _, who := range sortedKeys(gs) {
		calls := s.calls.of(who)
		fmt.Fprintf(&b, "%s:\n", who)
		for _, c := range calls {
			action, resource, _ := strings.Cut(c, " ")
			mark := "  "
			if !allows(gs[who], action, resource) {
				mark = "✗ "
				t.Errorf("%s called %s on %s, which the stack does not grant it", who, action, resource)
			}
			fmt.Fprintf(&b, "  %s%s %s\n", mark, action, resource)
		}
	}
	t.Logf("what each role called:\n%s", b.String())
}
