package sfnapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl"
)

const (
	callbackResource = "arn:aws:states:::lambda:invoke.waitForTaskToken"
	roleArn          = "arn:aws:iam::123456789012:role/relais"
	machineARN       = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"
)

// approvalMachine waits for a callback with the task token, then succeeds.
const approvalMachine = `{
  "StartAt": "Approve",
  "States": {
    "Approve": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "approver", "Payload": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
      "ResultPath": "$.approval",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}`

// now is the engine's (fake) time in every test: nothing here waits on a timer.
var now = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

type fixture struct {
	eng    *asl.Engine
	client *sfn.Client
	url    string
	tokens chan string // task tokens handed to the callback task, in order
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{eng: asl.New(asl.Options{Clock: asl.NewFakeClock(now)}), tokens: make(chan string, 10)}
	t.Cleanup(f.eng.Close)
	f.eng.Tasks().HandleFunc(callbackResource, func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		f.tokens <- req.Token
		return nil, nil
	})
	srv := httptest.NewServer(New(f.eng))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.client = sfn.New(sfn.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	return f
}

func (f *fixture) token(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-f.tokens:
		return tok
	case <-t.Context().Done():
		t.Fatal("no task token before the test ended")
		return ""
	}
}

// finish waits for the execution to end in the engine (no polling, no timing).
func (f *fixture) finish(t *testing.T, arn string) {
	t.Helper()
	if _, err := f.eng.WaitExecution(t.Context(), arn); err != nil {
		t.Fatalf("wait for %s: %v", arn, err)
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "not an API error: " + err.Error()
}

func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()

	created, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String("orders"), Definition: aws.String(approvalMachine), RoleArn: aws.String(roleArn)})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	if got := aws.ToString(created.StateMachineArn); got != machineARN {
		t.Errorf("stateMachineArn: got %q, want %q", got, machineARN)
	}
	if created.CreationDate == nil || !created.CreationDate.Equal(now) {
		t.Errorf("creationDate: got %v, want %v", created.CreationDate, now)
	}

	desc, err := f.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN)})
	if err != nil {
		t.Fatalf("DescribeStateMachine: %v", err)
	}
	gotDesc := []string{aws.ToString(desc.Name), string(desc.Status), string(desc.Type), aws.ToString(desc.RoleArn), aws.ToString(desc.Definition)}
	if diff := cmp.Diff([]string{"orders", "ACTIVE", "STANDARD", roleArn, approvalMachine}, gotDesc); diff != "" {
		t.Errorf("DescribeStateMachine (-want +got):\n%s", diff)
	}

	list, err := f.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
	if err != nil {
		t.Fatalf("ListStateMachines: %v", err)
	}
	if len(list.StateMachines) != 1 || aws.ToString(list.StateMachines[0].StateMachineArn) != machineARN {
		t.Errorf("ListStateMachines: got %+v, want the one machine", list.StateMachines)
	}

	// Start, then complete the callback task with SendTaskSuccess.
	started, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machineARN), Name: aws.String("order-1"), Input: aws.String(`{"order": 7}`)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	execARN := aws.ToString(started.ExecutionArn)
	if want := "arn:aws:states:us-east-1:123456789012:execution:orders:order-1"; execARN != want {
		t.Errorf("executionArn: got %q, want %q", execARN, want)
	}
	tok := f.token(t)
	running, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
	if err != nil {
		t.Fatalf("DescribeExecution: %v", err)
	}
	if running.Status != types.ExecutionStatusRunning || running.StopDate != nil {
		t.Errorf("while waiting: got status %s stopDate %v, want RUNNING and no stopDate", running.Status, running.StopDate)
	}
	if _, err := f.client.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(tok)}); err != nil {
		t.Fatalf("SendTaskHeartbeat: %v", err)
	}
	if _, err := f.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(`{"approved": true}`)}); err != nil {
		t.Fatalf("SendTaskSuccess: %v", err)
	}
	f.finish(t, execARN)
	done, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
	if err != nil {
		t.Fatalf("DescribeExecution: %v", err)
	}
	if done.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("status: got %s, want SUCCEEDED (error %q cause %q)", done.Status, aws.ToString(done.Error), aws.ToString(done.Cause))
	}
	var output any
	if err := json.Unmarshal([]byte(aws.ToString(done.Output)), &output); err != nil {
		t.Fatalf("output %q: %v", aws.ToString(done.Output), err)
	}
	if diff := cmp.Diff(map[string]any{"order": 7.0, "approval": map[string]any{"approved": true}}, output); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if done.StartDate == nil || !done.StartDate.Equal(now) || done.StopDate == nil || !done.StopDate.Equal(now) {
		t.Errorf("dates: got start %v stop %v, want both %v", done.StartDate, done.StopDate, now)
	}
	if _, err := f.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(`{}`)}); errorCode(err) != "TaskTimedOut" {
		t.Errorf("SendTaskSuccess with a used token: got %v, want TaskTimedOut", err)
	}

	// History: in order, numbered from 1, from ExecutionStarted to ExecutionSucceeded.
	hist, err := f.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN)})
	if err != nil {
		t.Fatalf("GetExecutionHistory: %v", err)
	}
	var kinds []types.HistoryEventType
	for i, ev := range hist.Events {
		kinds = append(kinds, ev.Type)
		if ev.Id != int64(i+1) {
			t.Errorf("event %d: got id %d, want %d", i, ev.Id, i+1)
		}
		if ev.Timestamp == nil || !ev.Timestamp.Equal(now) {
			t.Errorf("event %d: got timestamp %v, want %v", i, ev.Timestamp, now)
		}
	}
	if len(kinds) < 4 || kinds[0] != types.HistoryEventTypeExecutionStarted || kinds[len(kinds)-1] != types.HistoryEventTypeExecutionSucceeded {
		t.Fatalf("history: got %v, want ExecutionStarted … ExecutionSucceeded", kinds)
	}
	if !contains(kinds, types.HistoryEventTypeTaskSucceeded) {
		t.Errorf("history: got %v, want a TaskSucceeded event", kinds)
	}
	if d := hist.Events[0].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"order":7}` {
		t.Errorf("ExecutionStarted details: got %+v, want the input", d)
	}
	rev, err := f.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), ReverseOrder: true, MaxResults: 2})
	if err != nil {
		t.Fatalf("GetExecutionHistory reversed: %v", err)
	}
	if len(rev.Events) != 2 || rev.Events[0].Type != types.HistoryEventTypeExecutionSucceeded || rev.NextToken == nil {
		t.Errorf("reversed first page: got %d events starting %v, next %v; want 2 from ExecutionSucceeded and a next token", len(rev.Events), rev.Events[0].Type, rev.NextToken)
	}

	// Stop an execution waiting on its callback, then redrive it and complete it.
	second, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machineARN), Name: aws.String("order-2"), Input: aws.String(`{"order": 8}`)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	secondARN := aws.ToString(second.ExecutionArn)
	f.token(t)
	running2, err := f.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN), StatusFilter: types.ExecutionStatusRunning})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	if len(running2.Executions) != 1 || aws.ToString(running2.Executions[0].ExecutionArn) != secondARN {
		t.Errorf("running executions: got %+v, want only order-2", running2.Executions)
	}
	stopped, err := f.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(secondARN), Error: aws.String("Cancelled"), Cause: aws.String("by the test")})
	if err != nil {
		t.Fatalf("StopExecution: %v", err)
	}
	if stopped.StopDate == nil {
		t.Error("StopExecution: got no stopDate")
	}
	aborted, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(secondARN)})
	if err != nil {
		t.Fatalf("DescribeExecution: %v", err)
	}
	if got := []string{string(aborted.Status), aws.ToString(aborted.Error), aws.ToString(aborted.Cause)}; !cmp.Equal(got, []string{"ABORTED", "Cancelled", "by the test"}) {
		t.Errorf("after stop: got %v, want [ABORTED Cancelled by the test]", got)
	}
	redriven, err := f.client.RedriveExecution(ctx, &sfn.RedriveExecutionInput{ExecutionArn: aws.String(secondARN)})
	if err != nil {
		t.Fatalf("RedriveExecution: %v", err)
	}
	if redriven.RedriveDate == nil {
		t.Error("RedriveExecution: got no redriveDate")
	}
	tok2 := f.token(t)
	if _, err := f.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok2), Output: aws.String(`"ok"`)}); err != nil {
		t.Fatalf("SendTaskSuccess after redrive: %v", err)
	}
	f.finish(t, secondARN)
	after, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(secondARN)})
	if err != nil {
		t.Fatalf("DescribeExecution: %v", err)
	}
	if after.Status != types.ExecutionStatusSucceeded || after.RedriveCount == nil || *after.RedriveCount != 1 {
		t.Errorf("after redrive: got status %s redriveCount %v, want SUCCEEDED and 1", after.Status, after.RedriveCount)
	}

	all, err := f.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN)})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	var names []string
	for _, x := range all.Executions {
		names = append(names, aws.ToString(x.Name)+":"+string(x.Status))
	}
	if diff := cmp.Diff([]string{"order-2:SUCCEEDED", "order-1:SUCCEEDED"}, names); diff != "" {
		t.Errorf("ListExecutions, newest first (-want +got):\n%s", diff)
	}

	// Update, then delete.
	updated := strings.Replace(approvalMachine, `"Done": {"Type": "Succeed"}`, `"Done": {"Type": "Pass", "End": true}`, 1)
	up, err := f.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(machineARN), Definition: aws.String(updated)})
	if err != nil {
		t.Fatalf("UpdateStateMachine: %v", err)
	}
	if up.UpdateDate == nil {
		t.Error("UpdateStateMachine: got no updateDate")
	}
	desc, err = f.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN)})
	if err != nil || aws.ToString(desc.Definition) != updated {
		t.Errorf("after update: got definition %q (err %v), want the new one", aws.ToString(desc.Definition), err)
	}
	if _, err := f.client.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String(machineARN)}); err != nil {
		t.Fatalf("DeleteStateMachine: %v", err)
	}
	if _, err := f.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN)}); errorCode(err) != "StateMachineDoesNotExist" {
		t.Errorf("DescribeStateMachine after delete: got %v, want StateMachineDoesNotExist", err)
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String("orders"), Definition: aws.String(approvalMachine), RoleArn: aws.String(roleArn)}); err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	if _, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN), Name: aws.String("dup"), Input: aws.String(`{"order":1}`)}); err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	dupToken := f.token(t) // the "dup" execution waits on its callback
	doneARN := startAndFinish(t, f, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)

	const unknownExec = "arn:aws:states:us-east-1:123456789012:execution:orders:nope"
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"invalid definition", func() error {
			_, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{"StartAt":"X","States":{}}`), RoleArn: aws.String(roleArn)})
			return err
		}, "InvalidDefinition"},
		{"definition not JSON", func() error {
			_, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{`), RoleArn: aws.String(roleArn)})
			return err
		}, "InvalidDefinition"},
		{"machine exists with another definition", func() error {
			_, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("orders"), Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`), RoleArn: aws.String(roleArn)})
			return err
		}, "StateMachineAlreadyExists"},
		{"invalid machine name", func() error {
			_, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("has space"), Definition: aws.String(approvalMachine), RoleArn: aws.String(roleArn)})
			return err
		}, "InvalidName"},
		{"unsupported machine type", func() error {
			_, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("fast"), Definition: aws.String(approvalMachine), RoleArn: aws.String(roleArn), Type: types.StateMachineTypeExpress})
			return err
		}, "StateMachineTypeNotSupported"},
		{"unknown machine", func() error {
			_, err := f.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:nope")})
			return err
		}, "StateMachineDoesNotExist"},
		{"start on unknown machine", func() error {
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:nope")})
			return err
		}, "StateMachineDoesNotExist"},
		{"malformed machine ARN", func() error {
			_, err := f.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("orders")})
			return err
		}, "InvalidArn"},
		{"malformed execution ARN", func() error {
			_, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(machineARN)})
			return err
		}, "InvalidArn"},
		{"same execution name, other input", func() error {
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN), Name: aws.String("dup"), Input: aws.String(`{"order":2}`)})
			return err
		}, "ExecutionAlreadyExists"},
		{"same name and input as a closed execution", func() error {
			// Step Functions: "When the original execution is closed, the
			// ExecutionAlreadyExists message is returned regardless of input."
			name := doneARN[strings.LastIndex(doneARN, ":")+1:]
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(strings.Replace(machineARN, ":orders", ":quick", 1)),
				Name: aws.String(name), Input: aws.String(`{}`)})
			return err
		}, "ExecutionAlreadyExists"},
		{"same name and input as a running execution", func() error {
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN), Name: aws.String("dup"), Input: aws.String(`{"order":1}`)})
			return err
		}, ""},
		{"invalid execution name", func() error {
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN), Name: aws.String("a/b")})
			return err
		}, "InvalidName"},
		{"input not JSON", func() error {
			_, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN), Input: aws.String(`{oops`)})
			return err
		}, "InvalidExecutionInput"},
		{"unknown execution", func() error {
			_, err := f.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(unknownExec)})
			return err
		}, "ExecutionDoesNotExist"},
		{"history of unknown execution", func() error {
			_, err := f.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(unknownExec)})
			return err
		}, "ExecutionDoesNotExist"},
		{"stop unknown execution", func() error {
			_, err := f.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(unknownExec)})
			return err
		}, "ExecutionDoesNotExist"},
		{"malformed task token", func() error {
			_, err := f.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("not-a-token"), Output: aws.String(`{}`)})
			return err
		}, "InvalidToken"},
		{"task output not JSON", func() error {
			_, err := f.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(dupToken), Output: aws.String(`{oops`)})
			return err
		}, "InvalidOutput"},
		{"redrive a succeeded execution", func() error {
			_, err := f.client.RedriveExecution(ctx, &sfn.RedriveExecutionInput{ExecutionArn: aws.String(doneARN)})
			return err
		}, "ExecutionNotRedrivable"},
		{"redrive unknown execution", func() error {
			_, err := f.client.RedriveExecution(ctx, &sfn.RedriveExecutionInput{ExecutionArn: aws.String(unknownExec)})
			return err
		}, "ExecutionDoesNotExist"},
		{"list executions of unknown machine", func() error {
			_, err := f.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:nope")})
			return err
		}, "StateMachineDoesNotExist"},
		{"bad list token", func() error {
			_, err := f.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{NextToken: aws.String("garbage")})
			return err
		}, "InvalidToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorCode(tt.call()); got != tt.want {
				t.Errorf("got error %q, want %q", got, tt.want)
			}
		})
	}
}

// startAndFinish creates a machine named "quick" and runs one execution of it to its end.
func startAndFinish(t *testing.T, f *fixture, def string) string {
	t.Helper()
	ctx := t.Context()
	m, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("quick"), Definition: aws.String(def), RoleArn: aws.String(roleArn)})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	x, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	f.finish(t, aws.ToString(x.ExecutionArn))
	return aws.ToString(x.ExecutionArn)
}

func TestValidateStateMachineDefinition(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		definition string
		wantResult types.ValidateStateMachineDefinitionResultCode
		wantCodes  []string
	}{
		{"valid", approvalMachine, types.ValidateStateMachineDefinitionResultCodeOk, nil},
		{"missing target", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"B"}],"Default":"C"},"C":{"Type":"Succeed"}}}`, types.ValidateStateMachineDefinitionResultCodeFail, []string{asl.CodeMissingTarget}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.ValidateStateMachineDefinition(t.Context(), &sfn.ValidateStateMachineDefinitionInput{Definition: aws.String(tt.definition)})
			if err != nil {
				t.Fatalf("ValidateStateMachineDefinition: %v", err)
			}
			if out.Result != tt.wantResult {
				t.Errorf("result: got %s, want %s", out.Result, tt.wantResult)
			}
			var codes []string
			for _, d := range out.Diagnostics {
				codes = append(codes, aws.ToString(d.Code))
				if d.Severity != types.ValidateStateMachineDefinitionSeverityError || aws.ToString(d.Message) == "" {
					t.Errorf("diagnostic %+v: want severity ERROR and a message", d)
				}
			}
			if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
				t.Errorf("diagnostic codes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWire checks the raw protocol: error bodies, status codes and numeric timestamps.
func TestWire(t *testing.T) {
	f := newFixture(t)
	post := func(target, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: body %q is not a JSON object: %v", target, data, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
			t.Errorf("%s: Content-Type %q, want application/x-amz-json-1.0", target, ct)
		}
		return resp.StatusCode, m
	}
	tests := []struct {
		name, target, body string
		wantStatus         int
		wantType           string
	}{
		{"unknown execution", "AWSStepFunctions.DescribeExecution", `{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:m:x"}`, 400, "ExecutionDoesNotExist"},
		{"unknown operation", "AWSStepFunctions.CreateActivity", `{}`, 400, "UnknownOperationException"},
		{"no target", "", `{}`, 400, "UnknownOperationException"},
		{"malformed body", "AWSStepFunctions.DescribeExecution", `{"executionArn":`, 400, "SerializationException"},
		{"missing required field", "AWSStepFunctions.StartExecution", `{}`, 400, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := post(tt.target, tt.body)
			if status != tt.wantStatus || m["__type"] != tt.wantType {
				t.Errorf("got %d %v, want %d with __type %s", status, m, tt.wantStatus, tt.wantType)
			}
			if msg, _ := m["message"].(string); msg == "" {
				t.Errorf("got %v, want a message", m)
			}
		})
	}
	t.Run("timestamps are epoch seconds", func(t *testing.T) {
		status, m := post("AWSStepFunctions.CreateStateMachine", `{"name":"w","roleArn":"`+roleArn+`","definition":"{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}"}`)
		if status != 200 {
			t.Fatalf("CreateStateMachine: got %d %v", status, m)
		}
		if got, want := m["creationDate"], float64(now.UnixMilli())/1000; got != want {
			t.Errorf("creationDate: got %T %v, want the JSON number %v", got, got, want)
		}
	})
}

// TestPagingAndExecutionData pages ListStateMachines and ListExecutions, and leaves the
// payloads out of the history when includeExecutionData is false.
func TestPagingAndExecutionData(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const pass = `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"secret":1},"End":true}}}`
	for _, name := range []string{"c", "a", "b"} {
		if _, err := f.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(pass), RoleArn: aws.String(roleArn)}); err != nil {
			t.Fatalf("CreateStateMachine %s: %v", name, err)
		}
	}
	var names []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := f.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{MaxResults: 2, NextToken: token})
		if err != nil {
			t.Fatalf("ListStateMachines: %v", err)
		}
		if len(out.StateMachines) > 2 {
			t.Errorf("page %d: got %d machines, want at most 2", pages, len(out.StateMachines))
		}
		for _, m := range out.StateMachines {
			names = append(names, aws.ToString(m.Name))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, names); diff != "" {
		t.Errorf("machines over all pages (-want +got):\n%s", diff)
	}

	arnA := "arn:aws:states:us-east-1:123456789012:stateMachine:a"
	var execs []string
	for _, name := range []string{"x1", "x2", "x3"} {
		x, err := f.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arnA), Name: aws.String(name), Input: aws.String(`{"in":"put"}`)})
		if err != nil {
			t.Fatalf("StartExecution: %v", err)
		}
		f.finish(t, aws.ToString(x.ExecutionArn))
		execs = append(execs, aws.ToString(x.ExecutionArn))
	}
	first, err := f.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arnA), MaxResults: 2})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	second, err := f.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arnA), MaxResults: 2, NextToken: first.NextToken})
	if err != nil {
		t.Fatalf("ListExecutions page 2: %v", err)
	}
	if len(first.Executions) != 2 || first.NextToken == nil || len(second.Executions) != 1 || second.NextToken != nil {
		t.Errorf("pages: got %d (next %v) then %d (next %v), want 2 with a token then 1 without",
			len(first.Executions), first.NextToken, len(second.Executions), second.NextToken)
	}

	hist, err := f.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execs[0]), IncludeExecutionData: aws.Bool(false)})
	if err != nil {
		t.Fatalf("GetExecutionHistory: %v", err)
	}
	for _, ev := range hist.Events {
		if d := ev.ExecutionStartedEventDetails; d != nil && d.Input != nil {
			t.Errorf("ExecutionStarted: got input %q, want none without execution data", aws.ToString(d.Input))
		}
		if d := ev.ExecutionSucceededEventDetails; d != nil && d.Output != nil {
			t.Errorf("ExecutionSucceeded: got output %q, want none without execution data", aws.ToString(d.Output))
		}
	}
	if len(hist.Events) == 0 {
		t.Error("history: got no events")
	}
}
