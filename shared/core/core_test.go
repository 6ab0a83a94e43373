package core

import (
	"errors"
	"fmt"
	"go/build"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestImports keeps core free of the AWS SDK, net/http and aws-lambda-go: the usecases
// built on it must run unchanged on AWS and on one machine.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("read package: %v", err)
	}
	forbidden := []string{"github.com/aws/", "net/http", "github.com/aws/aws-lambda-go"}
	for _, imp := range slices.Concat(pkg.Imports, pkg.TestImports) {
		for _, f := range forbidden {
			if strings.HasPrefix(imp, f) {
				t.Errorf("shared/core imports %s; it must not import %s", imp, f)
			}
		}
	}
}

func TestExecutionStatusTransitions(t *testing.T) {
	tests := []struct {
		from, to ExecutionStatus
		want     bool
	}{
		{ExecutionInProgress, ExecutionSucceeded, true},
		{ExecutionInProgress, ExecutionStopping, true},
		{ExecutionInProgress, ExecutionSuperseded, true},
		{ExecutionInProgress, "Bogus", false},
		{ExecutionStopping, ExecutionStopped, true},
		{ExecutionStopping, ExecutionFailed, true},
		{ExecutionStopping, ExecutionSucceeded, false},
		{ExecutionFailed, ExecutionInProgress, true},
		{ExecutionStopped, ExecutionInProgress, true},
		{ExecutionFailed, ExecutionSucceeded, false},
		{ExecutionSucceeded, ExecutionInProgress, false},
		{ExecutionSuperseded, ExecutionInProgress, false},
		{ExecutionCancelled, ExecutionInProgress, false},
		{ExecutionSucceeded, ExecutionSucceeded, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s->%s", tt.from, tt.to), func(t *testing.T) {
			if got := tt.from.CanBecome(tt.to); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStageAndActionTransitions(t *testing.T) {
	if !StageInProgress.CanBecome(StageSucceeded) || StageSucceeded.CanBecome(StageInProgress) {
		t.Error("stage: InProgress→Succeeded must be allowed and Succeeded→InProgress refused")
	}
	if !StageFailed.CanBecome(StageInProgress) {
		t.Error("stage: a retry moves Failed back to InProgress")
	}
	if StageSkipped.CanBecome(StageInProgress) {
		t.Error("stage: Skipped is final")
	}
	if !ActionInProgress.CanBecome(ActionAbandoned) || ActionFailed.CanBecome(ActionSucceeded) {
		t.Error("action: only InProgress moves")
	}
	if !ActionSucceeded.CanBecome(ActionSucceeded) {
		t.Error("action: recording the same status again is idempotent")
	}
	if ActionStatus("Running").Valid() {
		t.Error("action: Running is not a CodePipeline status")
	}
}

// TestStatusWords pins the exact API spelling CodePipeline uses.
func TestStatusWords(t *testing.T) {
	got := fmt.Sprint(ExecutionStatuses, StageStatuses, ActionStatuses)
	want := "[Cancelled InProgress Stopped Stopping Succeeded Superseded Failed] " +
		"[Cancelled InProgress Failed Stopped Stopping Succeeded Skipped] " +
		"[InProgress Abandoned Succeeded Failed]"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, s := range ExecutionStatuses {
		if s.Terminal() == (s == ExecutionInProgress || s == ExecutionStopping) {
			t.Errorf("%s: Terminal() = %v", s, s.Terminal())
		}
	}
}

// TestErrorNamesAreTypeNames: on AWS the Lambda runtime names an error by its Go type, so
// each constant must be the name of the type that ErrorName maps to it.
func TestErrorNamesAreTypeNames(t *testing.T) {
	errs := []error{
		&ActionFailedError{}, &ActionAbandonedError{}, &SupersededError{}, &StoppedError{},
		&RejectedError{}, &ApprovalTimeoutError{},
	}
	for _, err := range errs {
		typeName := reflect.TypeOf(err).Elem().Name()
		wrapped := fmt.Errorf("run action: %w", err)
		if got := ErrorName(wrapped); got != typeName {
			t.Errorf("ErrorName(%T) = %q, want the type name %q", err, got, typeName)
		}
		if got := StateMachineError(wrapped); got != err {
			t.Errorf("StateMachineError(wrapped %T) = %v, want the %T value itself", err, got, err)
		}
		if !slices.Contains(StateMachineErrorNames, typeName) {
			t.Errorf("%s missing from StateMachineErrorNames", typeName)
		}
	}
	plain := errors.New("plain")
	if got := StateMachineError(plain); got != plain {
		t.Errorf("StateMachineError(plain) = %v, want it unchanged", got)
	}
	if got := ErrorName(errors.New("plain")); got != "" {
		t.Errorf("ErrorName(plain error) = %q, want empty", got)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("got %q, want a v4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}
