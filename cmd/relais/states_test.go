package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/google/go-cmp/cmp"
)

// statesExec runs `relais …` in-process and returns its exit code, stdout and stderr.
func statesExec(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, stdio{strings.NewReader(stdin), &out, &errOut})
	return code, out.String(), errOut.String()
}

// statesFiles writes files into a temporary directory and returns its path.
func statesFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const statesTaskMachine = `{
  "StartAt": "Fetch",
  "States": {
    "Fetch": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fetch",
      "Parameters": {"id.$": "$.id"},
      "ResultPath": "$.fetched",
      "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2, "IntervalSeconds": 1}],
      "Catch": [{"ErrorEquals": ["NotFound"], "ResultPath": "$.error", "Next": "Missing"}],
      "Next": "Done"
    },
    "Missing": {"Type": "Pass", "Result": "missing", "ResultPath": "$.outcome", "End": true},
    "Done": {"Type": "Succeed"}
  }
}`

func TestStatesValidate(t *testing.T) {
	dir := statesFiles(t, map[string]string{
		"good.json": statesTaskMachine,
		"bad.json":  `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}`,
	})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a substring of stdout
		wantErr  string // a substring of stderr
	}{
		{"valid", []string{"states", "validate", filepath.Join(dir, "good.json")}, 0, "valid (3 states)", ""},
		{"invalid", []string{"states", "validate", filepath.Join(dir, "bad.json")}, 1, "", "Nowhere"},
		{"missing file", []string{"states", "validate", filepath.Join(dir, "none.json")}, 2, "", "no such file"},
		{"no file", []string{"states", "validate"}, 2, "", "want 1 argument"},
		{"unknown subcommand", []string{"states", "frobnicate"}, 2, "", "unknown subcommand"},
		{"no subcommand", []string{"states"}, 2, "", "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := statesExec(t, "", tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("got exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
					code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestStatesRun(t *testing.T) {
	dir := statesFiles(t, map[string]string{
		"machine.json":  statesTaskMachine,
		"pass.json":     `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"}, "End": true}}}`,
		"fail.json":     `{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "always"}}}`,
		"bad.json":      `{"StartAt": "A", "States": {}}`,
		"input.json":    `{"id": 7, "name": "Ada"}`,
		"found.json":    `{"Fetch": {"result": {"title": "seven"}}}`,
		"notfound.json": `{"Fetch": {"error": "NotFound", "cause": "no item 7"}}`,
		"boom.json":     `{"Fetch": {"error": "Boom", "cause": "it broke"}}`,
		"flaky.json":    `{"Fetch": [{"error": "Flaky", "cause": "1"}, {"result": "second time"}]}`,
		"notjson.json":  `{"Fetch": `,
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  any // the JSON printed on stdout; nil: nothing
		wantErr  string
	}{
		{"pass with input file", []string{"states", "run", p("pass.json"), "--input", p("input.json")}, "", 0,
			map[string]any{"greeting": "hello Ada"}, ""},
		{"input from stdin, flags before the file", []string{"states", "run", "--input", "-", p("pass.json")}, `{"name": "Bob"}`, 0,
			map[string]any{"greeting": "hello Bob"}, ""},
		{"task result", []string{"states", "run", p("machine.json"), "--input", p("input.json"), "--task-results", p("found.json")}, "", 0,
			map[string]any{"id": 7.0, "name": "Ada", "fetched": map[string]any{"title": "seven"}}, ""},
		{"task error caught", []string{"states", "run", p("machine.json"), "--input", p("input.json"), "--task-results", p("notfound.json")}, "", 0,
			map[string]any{"id": 7.0, "name": "Ada", "outcome": "missing", "error": map[string]any{"Error": "NotFound", "Cause": "no item 7"}}, ""},
		{"task error fails the execution", []string{"states", "run", p("machine.json"), "--input", p("input.json"), "--task-results", p("boom.json")}, "", 1,
			map[string]any{"status": "FAILED", "error": "Boom", "cause": "it broke"}, ""},
		{"results consumed one per retry", []string{"states", "run", p("machine.json"), "--input", p("input.json"), "--task-results", p("flaky.json")}, "", 0,
			map[string]any{"id": 7.0, "name": "Ada", "fetched": "second time"}, ""},
		{"unanswered task", []string{"states", "run", p("machine.json"), "--input", p("input.json")}, "", 1,
			map[string]any{"status": "FAILED", "error": "States.TaskFailed", "cause": `no --task-handler or --task-results entry answers the Task state "Fetch"`}, ""},
		{"fail state", []string{"states", "run", p("fail.json")}, "", 1,
			map[string]any{"status": "FAILED", "error": "Nope", "cause": "always"}, ""},
		{"bad definition", []string{"states", "run", p("bad.json")}, "", 2, nil, "bad.json"},
		{"bad results file", []string{"states", "run", p("machine.json"), "--task-results", p("notjson.json")}, "", 2, nil, "task results"},
		{"bad handler flag", []string{"states", "run", p("machine.json"), "--task-handler", "Fetch"}, "", 2, nil, "want STATE=COMMAND"},
		{"unknown flag", []string{"states", "run", p("pass.json"), "--frobnicate"}, "", 2, nil, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := statesExec(t, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit: got %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut, tt.wantErr)
			}
			if tt.wantOut == nil {
				if out != "" {
					t.Errorf("stdout: got %q, want nothing", out)
				}
				return
			}
			var got any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout %q is not JSON: %v", out, err)
			}
			if diff := cmp.Diff(tt.wantOut, got); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatesRunHistory(t *testing.T) {
	dir := statesFiles(t, map[string]string{"pass.json": `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`})
	code, _, errOut := statesExec(t, "", "states", "run", filepath.Join(dir, "pass.json"), "--history")
	if code != 0 {
		t.Fatalf("exit: got %d, want 0 (stderr %q)", code, errOut)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		var ev struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("history line %q is not an event: %v", line, err)
		}
		types = append(types, ev.Type)
	}
	want := []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("history event types (-want +got):\n%s", diff)
	}
}

// TestStatesTaskHandlerCommand answers Task states with shell commands: the task's input on
// stdin, its result on stdout, and a non-zero exit with {"error", "cause"} to fail it.
func TestStatesTaskHandlerCommand(t *testing.T) {
	dir := statesFiles(t, map[string]string{
		"machine.json": statesTaskMachine,
		"input.json":   `{"id": 7}`,
	})
	tests := []struct {
		name     string
		handler  string
		wantCode int
		want     any
	}{
		{"result from stdout", `read input; printf '{"seen": %s, "state": "%s"}' "$input" "$RELAIS_STATE_NAME"`, 0,
			map[string]any{"id": 7.0, "fetched": map[string]any{"seen": map[string]any{"id": 7.0}, "state": "Fetch"}}},
		{"error from a non-zero exit", `echo '{"error": "NotFound", "cause": "no such id"}'; exit 3`, 0,
			map[string]any{"id": 7.0, "outcome": "missing", "error": map[string]any{"Error": "NotFound", "Cause": "no such id"}}},
		{"crash without an error object", `echo oops >&2; exit 4`, 1,
			map[string]any{"status": "FAILED", "error": "States.TaskFailed", "cause": `task handler "echo oops >&2; exit 4": exit status 4: oops`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := statesExec(t, "", "states", "run", filepath.Join(dir, "machine.json"),
				"--input", filepath.Join(dir, "input.json"), "--task-handler", "Fetch="+tt.handler)
			if code != tt.wantCode {
				t.Fatalf("exit: got %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, out, errOut)
			}
			var got any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout %q is not JSON: %v", out, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatesServe drives `relais states serve` with the AWS SDK; its Lambda tasks go to a
// fake Lambda endpoint named by AWS_ENDPOINT_URL_LAMBDA.
func TestStatesServe(t *testing.T) {
	var (
		mu      sync.Mutex
		invoked []string
	)
	lambdaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		invoked = append(invoked, r.Method+" "+r.URL.Path)
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/2015-03-31/functions/double/invocations":
			var in struct{ N int }
			_ = json.Unmarshal(body, &in)
			_ = json.NewEncoder(w).Encode(map[string]int{"n": in.N * 2})
		default:
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = io.WriteString(w, `{"errorType": "NoSuchFunction", "errorMessage": "not here"}`)
		}
	}))
	defer lambdaSrv.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", lambdaSrv.URL)

	addr, _ := statesStartServe(t, "--listen", "127.0.0.1:0")
	ctx := t.Context()
	client := statesClient(addr)
	def := `{"StartAt": "Double", "States": {
	  "Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
	             "Parameters": {"FunctionName": "double", "Payload.$": "$"}, "OutputPath": "$.Payload", "Next": "Missing"},
	  "Missing": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:missing",
	              "Catch": [{"ErrorEquals": ["NoSuchFunction"], "ResultPath": "$.error", "Next": "Done"}], "End": true},
	  "Done": {"Type": "Pass", "End": true}}}`
	m, err := client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("doubler"), Definition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/r")})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	x, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Input: aws.String(`{"n": 21}`)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	desc := statesAwait(t, client, aws.ToString(x.ExecutionArn))
	if desc.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status: got %s (%s: %s), want SUCCEEDED", desc.Status, aws.ToString(desc.Error), aws.ToString(desc.Cause))
	}
	var got any
	if err := json.Unmarshal([]byte(aws.ToString(desc.Output)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": 42.0, "error": map[string]any{"Error": "NoSuchFunction",
		"Cause": `{"errorType": "NoSuchFunction", "errorMessage": "not here"}`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	wantCalls := []string{"POST /2015-03-31/functions/double/invocations", "POST /2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:missing/invocations"}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantCalls, invoked); diff != "" {
		t.Errorf("Lambda invocations (-want +got):\n%s", diff)
	}
}

// statesStartServe runs `relais states serve ARGS…` until stop is called or the test ends,
// and returns the address it listens on.
func statesStartServe(t *testing.T, args ...string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"states", "serve"}, args...), stdio{strings.NewReader(""), io.Discard, pw})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if _, a, ok := strings.Cut(lines.Text(), "Step Functions API on "); ok {
			addr = a
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if addr == "" {
		cancel()
		t.Fatalf("serve printed no address (exit %d)", <-done)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit: got %d, want 0", code)
		}
	}
	t.Cleanup(stop)
	return addr, stop
}

func statesClient(addr string) *sfn.Client {
	return sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(addr),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
}

// statesAwait asks for an execution until it is no longer running.
func statesAwait(t *testing.T, client *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	for {
		desc, err := client.DescribeExecution(t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		if desc.Status != sfntypes.ExecutionStatusRunning {
			return desc
		}
	}
}

// TestStatesServeData restarts `relais states serve --data FILE` and finds its state
// machines and executions again.
func TestStatesServeData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "states.db")
	ctx := t.Context()
	addr, stop := statesStartServe(t, "--listen", "127.0.0.1:0", "--data", data)
	client := statesClient(addr)
	m, err := client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("kept"),
		Definition: aws.String(`{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "done", "End": true}}}`),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/r")})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	x, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Name: aws.String("first")})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	statesAwait(t, client, aws.ToString(x.ExecutionArn))
	stop()

	addr, _ = statesStartServe(t, "--listen", "127.0.0.1:0", "--data", data)
	client = statesClient(addr)
	desc, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: x.ExecutionArn})
	if err != nil {
		t.Fatalf("DescribeExecution after restart: %v", err)
	}
	if got := []string{string(desc.Status), aws.ToString(desc.Output)}; !cmp.Equal(got, []string{"SUCCEEDED", `"done"`}) {
		t.Errorf("after restart: got %v, want [SUCCEEDED \"done\"]", got)
	}
	list, err := client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
	if err != nil || len(list.StateMachines) != 1 || aws.ToString(list.StateMachines[0].Name) != "kept" {
		t.Errorf("ListStateMachines after restart: got %+v (err %v), want the machine \"kept\"", list, err)
	}
}
