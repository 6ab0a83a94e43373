package pipeline

import (
	"testing"

	"github.com/relais-ci/relais/test/realdata"
)

// realPipelines returns the real CodePipeline declarations.
func realPipelines(t testing.TB) string { return realdata.Dir(t, "pipelines") }

func mustParse(t testing.TB, data string) *Declaration {
	t.Helper()
	d, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}
