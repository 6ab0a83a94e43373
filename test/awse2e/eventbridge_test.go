package awse2e

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/uuid"

	"github.com/relais-ci/relais/shared/asl"
)

// watchRuns is EventBridge's rule on the machines' runs (infra/rules.go): a "Step
// Functions Execution Status Change" event when a run starts (RUNNING) and when it ends
// (SUCCEEDED, FAILED, ABORTED, TIMED_OUT), delivered to the events function. Runs are
// watched through the interpreter, every few milliseconds; EventBridge does not
// promise an order either. The returned function stops watching.
func (s *stack) watchRuns(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sent := map[string]string{} // run ARN → last status sent
		for {
			xs, _, err := s.engine.ListExecutions(ctx, asl.ListExecutionsInput{StateMachine: s.machine})
			if err == nil {
				for _, x := range xs {
					if _, ok := sent[x.ARN]; !ok {
						running := x
						running.Status, running.StopDate, running.Error, running.Cause = asl.StatusRunning, time.Time{}, "", ""
						s.emitRun(ctx, running)
						sent[x.ARN] = asl.StatusRunning
					}
					switch x.Status {
					case asl.StatusSucceeded, asl.StatusFailed, asl.StatusAborted, asl.StatusTimedOut:
					default:
						continue
					}
					if sent[x.ARN] == x.Status {
						continue
					}
					sent[x.ARN] = x.Status
					s.emitRun(ctx, x)
				}
			}
			s.mu.Lock()
			s.runPasses++
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// emitRun delivers a run's status change as the Step Functions user guide shows it.
func (s *stack) emitRun(ctx context.Context, x asl.Execution) {
	ms := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMilli()
	}
	null := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	at := x.StopDate
	if at.IsZero() {
		at = x.StartDate
	}
	var output any
	if x.Status == asl.StatusSucceeded {
		output = x.Output
	}
	ev := map[string]any{
		"version": "0", "id": uuid.NewString(), "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
		"account": account, "time": at.UTC().Format(time.RFC3339), "region": region, "resources": []string{x.ARN},
		"detail": map[string]any{
			"executionArn": x.ARN, "stateMachineArn": x.StateMachineARN, "name": x.Name, "status": x.Status,
			"startDate": ms(x.StartDate), "stopDate": ms(x.StopDate), "input": x.Input, "output": output,
			"inputDetails": map[string]any{"included": true}, "outputDetails": nil, "error": null(x.Error), "cause": null(x.Cause),
		},
	}
	payload, _ := json.Marshal(ev)
	s.mu.Lock()
	s.runEventsSent++
	s.mu.Unlock()
	if _, err := s.lambdac.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fnARN(fnEvents)), Payload: payload,
		InvocationType: lambdatypes.InvocationTypeEvent}); err != nil {
		s.t.Errorf("deliver the status change of %s: %v", x.ARN, err)
	}
}

func (s *stack) runEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runEventsSent
}

func (s *stack) runEventsHandled() int {
	n := 0
	for _, inv := range s.lambda.invocations(fnEvents) {
		if strings.Contains(string(inv.Payload), `"source":"aws.states"`) {
			n++
		}
	}
	return n
}

// waitRunEvents waits until the events function has handled the events of every run
// as it is now: a pass of the watcher that began after the call has sent them, and
// each was handled.
func (s *stack) waitRunEvents(ctx context.Context) {
	s.mu.Lock()
	since := s.runPasses
	s.mu.Unlock()
	s.poll(ctx, "every run's events handled", func() (bool, error) {
		s.mu.Lock()
		passes := s.runPasses
		s.mu.Unlock()
		return passes >= since+2 && s.runEvents() == s.runEventsHandled(), nil
	})
}
