package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// realPipelines returns the directory of real declarations nobody here wrote. It lives
// beside the repository (../shared/testdata/real/pipelines from the root holding go.mod).
func realPipelines(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
	real := filepath.Join(dir, "..", "shared", "testdata", "real", "pipelines")
	if _, err := os.Stat(real); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real testdata missing under CI: %v", err)
		}
		t.Skipf("real testdata not present: %v", err)
	}
	return real
}

func mustParse(t testing.TB, data string) *Declaration {
	t.Helper()
	d, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}
