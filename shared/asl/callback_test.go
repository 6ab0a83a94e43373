package asl

import (
	"context"
	"errors"
	"testing"
	"time"
)

const callbackDef = `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
	"Parameters":{"MessageBody":{"token.$":"$$.Task.Token","in.$":"$"}},%s"ResultPath":"$.answer","End":true}}}`

// tokens captures the token each callback task hands out.
func captureTokens(h *harness) chan string {
	ch := make(chan string, 16)
	h.eng.Tasks().HandleFunc("arn:aws:states:::sqs:sendMessage", func(ctx context.Context, req *TaskRequest) (any, error) {
		body := req.Parameters.(map[string]any)["MessageBody"].(map[string]any)
		if body["token"] != req.Token {
			return nil, errors.New("token in parameters differs from TaskRequest.Token")
		}
		ch <- req.Token
		return map[string]any{"MessageId": "m1"}, nil
	})
	return ch
}

func TestCallbackSuccessFailure(t *testing.T) {
	ctx := context.Background()
	t.Run("success", func(t *testing.T) {
		h := newHarness(t)
		tokens := captureTokens(h)
		x := h.start(sprintf(callbackDef, ""), `{"a":1}`)
		tok := <-tokens
		if err := h.eng.SendTaskSuccess(ctx, tok, `{"ok":true}`); err != nil {
			t.Fatal(err)
		}
		d := h.wait(x.ARN)
		if got, want := d.Output, `{"a":1,"answer":{"ok":true}}`; got != want {
			t.Errorf("got output %s, want %s", got, want)
		}
		if err := h.eng.SendTaskSuccess(ctx, tok, `{}`); !errors.Is(err, ErrTaskTimedOut) {
			t.Errorf("second SendTaskSuccess: got %v, want ErrTaskTimedOut", err)
		}
		types := eventTypes(h.history(x.ARN))
		want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}
		if mustJSON(t, types) != mustJSON(t, want) {
			t.Errorf("got events %v, want %v", types, want)
		}
	})
	t.Run("failure", func(t *testing.T) {
		h := newHarness(t)
		tokens := captureTokens(h)
		x := h.start(sprintf(callbackDef, ""), `{}`)
		if err := h.eng.SendTaskFailure(ctx, <-tokens, "Rejected", "no"); err != nil {
			t.Fatal(err)
		}
		d := h.wait(x.ARN)
		if d.Status != StatusFailed || d.Error != "Rejected" || d.Cause != "no" {
			t.Errorf("got %s %q %q, want FAILED Rejected no", d.Status, d.Error, d.Cause)
		}
	})
	t.Run("invalid token", func(t *testing.T) {
		h := newHarness(t)
		if err := h.eng.SendTaskSuccess(ctx, "garbage!", `{}`); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("got %v, want ErrInvalidToken", err)
		}
	})
}

func TestCallbackHeartbeat(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	tokens := captureTokens(h)
	x := h.start(sprintf(callbackDef, `"HeartbeatSeconds":10,"TimeoutSeconds":100,`), `{}`)
	tok := <-tokens
	done := h.eng.liveDone(x.ARN)
	for i := 0; i < 3; i++ { // three heartbeats 8 s apart keep it alive past 10 s
		h.clock.BlockUntil(1, done)
		h.clock.Advance(8 * time.Second)
		if err := h.eng.SendTaskHeartbeat(ctx, tok); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	d := h.wait(x.ARN)
	if d.Error != ErrNameHeartbeatTimeout {
		t.Fatalf("got %s %q, want States.HeartbeatTimeout", d.Status, d.Error)
	}
	if got, want := d.StopDate.Sub(d.StartDate), 34*time.Second; got != want {
		t.Errorf("got failure after %v, want %v (last heartbeat at 24 s + 10 s)", got, want)
	}
}

func TestCallbackHeartbeatSecondsPath(t *testing.T) {
	h := newHarness(t)
	captureTokens(h)
	d := h.run(sprintf(callbackDef, `"HeartbeatSecondsPath":"$.hb",`), `{"hb":30}`)
	if d.Error != ErrNameHeartbeatTimeout {
		t.Fatalf("got %s %q, want States.HeartbeatTimeout", d.Status, d.Error)
	}
	if got := d.StopDate.Sub(d.StartDate); got != 30*time.Second {
		t.Errorf("got failure after %v, want 30s", got)
	}
}

func TestCallbackTimeout(t *testing.T) {
	h := newHarness(t)
	captureTokens(h)
	d := h.run(sprintf(callbackDef, `"TimeoutSeconds":60,`), `{}`)
	if d.Error != ErrNameTimeout {
		t.Fatalf("got %s %q, want States.Timeout", d.Status, d.Error)
	}
	evs := h.history(d.ARN)
	if got := evs[len(evs)-2].Type; got != "TaskTimedOut" {
		t.Errorf("got %s before the end, want TaskTimedOut", got)
	}
}
