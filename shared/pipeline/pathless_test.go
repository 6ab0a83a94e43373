package pipeline

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPathOrder(t *testing.T) {
	got := []string{
		"pipeline.stages[10].name",
		"pipeline.stages[2].actions[11].name",
		"pipeline.stages[2].actions[3].name",
		"pipeline.name",
		"pipeline.stages",
		"pipeline.stages[2]",
	}
	slices.SortStableFunc(got, func(a, b string) int {
		switch {
		case pathLess(a, b):
			return -1
		case pathLess(b, a):
			return 1
		}
		return 0
	})
	want := []string{
		"pipeline.name",
		"pipeline.stages",
		"pipeline.stages[2]",
		"pipeline.stages[2].actions[3].name",
		"pipeline.stages[2].actions[11].name",
		"pipeline.stages[10].name",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
