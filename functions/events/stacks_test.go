package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/cfnaction"
	"github.com/relais-ci/relais/shared/core"
)

type fakeStacks struct {
	raw  json.RawMessage
	ext  string
	res  action.Result
	done bool
	err  error
}

func (f *fakeStacks) StackEvent(_ context.Context, raw json.RawMessage) (string, action.Result, bool, error) {
	f.raw = raw
	return f.ext, f.res, f.done, f.err
}

func TestStackEvents(t *testing.T) {
	ctx := context.Background()
	raw := sample(t, "cloudformation-create-complete.json")
	ok := action.Result{Status: core.ActionSucceeded, Summary: "Stack web-app: CREATE_COMPLETE", OutputVariables: map[string]string{"Url": "https://x"}}

	t.Run("an ended operation completes its action", func(t *testing.T) {
		stacks := &fakeStacks{ext: "relais-a1", res: ok, done: true}
		builds := &fakeCompleter{}
		out, err := New(Deps{Builds: builds, Stacks: stacks, Logger: discard}).Invoke(ctx, raw)
		if err != nil || out.Outcome != outcomeCompleted {
			t.Fatalf("got %+v, %v; want completed", out, err)
		}
		if string(stacks.raw) != string(raw) {
			t.Errorf("the deployer got %s, want the whole event", stacks.raw)
		}
		if got := builds.got["relais-a1"]; got.Status != core.ActionSucceeded || got.OutputVariables["Url"] != "https://x" {
			t.Errorf("completed with %+v", got)
		}
	})
	t.Run("an operation on the way is ignored", func(t *testing.T) {
		builds := &fakeCompleter{}
		out, err := New(Deps{Builds: builds, Stacks: &fakeStacks{}, Logger: discard}).Invoke(ctx, raw)
		if err != nil || out.Outcome != outcomeIgnored || len(builds.got) != 0 {
			t.Fatalf("got %+v, %v, %d completions; want ignored and none", out, err, len(builds.got))
		}
	})
	t.Run("an action not found yet fails the invocation, to be delivered again", func(t *testing.T) {
		stacks := &fakeStacks{err: core.ErrNotFound}
		_, err := New(Deps{Builds: &fakeCompleter{}, Stacks: stacks, Logger: discard}).Invoke(ctx, raw)
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("got %v, want an error wrapping ErrNotFound", err)
		}
	})
	t.Run("a store failure on completion fails the invocation", func(t *testing.T) {
		builds := &fakeCompleter{err: errors.New("throttled")}
		_, err := New(Deps{Builds: builds, Stacks: &fakeStacks{ext: "relais-a1", res: ok, done: true}, Logger: discard}).Invoke(ctx, raw)
		if err == nil {
			t.Fatal("got no error")
		}
	})
	t.Run("without a deployer, stack events are ignored", func(t *testing.T) {
		out, err := New(Deps{Builds: &fakeCompleter{}, Logger: discard}).Invoke(ctx, raw)
		if err != nil || out.Outcome != outcomeIgnored {
			t.Fatalf("got %+v, %v; want ignored", out, err)
		}
	})
	t.Run("the real deployer ignores a stack operation Relais did not start", func(t *testing.T) {
		builds := &fakeCompleter{}
		h := New(Deps{Builds: builds, Stacks: cfnaction.New(cfnaction.Deps{}), Logger: discard})
		out, err := h.Invoke(ctx, sample(t, "cloudformation-console-update.json"))
		if err != nil || out.Outcome != outcomeIgnored || len(builds.got) != 0 {
			t.Fatalf("got %+v, %v; want ignored", out, err)
		}
	})
}
