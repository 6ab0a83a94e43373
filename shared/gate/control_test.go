package gate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/core"
)

type cancelFunc func(a core.ActionExecution) error

func (f cancelFunc) CancelAction(_ context.Context, a core.ActionExecution) error { return f(a) }

// TestCancelers: every canceler is asked, even after one fails, and every error is
// returned.
func TestCancelers(t *testing.T) {
	var asked []string
	ask := func(name string, err error) Canceler {
		return cancelFunc(func(a core.ActionExecution) error {
			asked = append(asked, name+":"+a.ActionName)
			return err
		})
	}
	first, last := errors.New("first broke"), errors.New("last broke")
	cs := Cancelers{ask("builds", first), ask("stacks", nil), ask("other", last)}
	err := cs.CancelAction(context.Background(), core.ActionExecution{ActionName: "Deploy"})
	if !errors.Is(err, first) || !errors.Is(err, last) {
		t.Errorf("got %v, want both errors", err)
	}
	if want := "builds:Deploy stacks:Deploy other:Deploy"; strings.Join(asked, " ") != want {
		t.Errorf("asked %q, want %q", strings.Join(asked, " "), want)
	}
	if err := (Cancelers{}).CancelAction(context.Background(), core.ActionExecution{}); err != nil {
		t.Errorf("no cancelers: got %v", err)
	}
}
