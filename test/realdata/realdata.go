// Package realdata finds the real inputs that tests check Relais against — CodePipeline
// declarations, buildspecs, GitHub deliveries, ASL definitions nobody here wrote — in
// shared/testdata/real beside the repository (CI clones the repository with shared/
// next to it).
package realdata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding the repository's go.mod, searching up from the
// working directory (a test's is its package's folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "cmd", "relais")); err == nil {
				return dir, nil // the repository's, not a nested module's (tools/, examples/)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no repository root (go.mod beside cmd/relais) above the working directory")
		}
		dir = parent
	}
}

// DirIfAny returns the folder of real inputs named sub ("pipelines", "buildspecs",
// "webhooks", "asl"), or "" when it is not there.
func DirIfAny(sub string) string {
	root, err := RepoRoot()
	if err != nil {
		return ""
	}
	dir := filepath.Join(root, "..", "shared", "testdata", "real", sub)
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// Dir returns the folder of real inputs named sub. When it is missing the test is
// skipped — except under CI (CI set), where that fails it: CI must never pass by
// skipping the real inputs.
func Dir(tb testing.TB, sub string) string {
	tb.Helper()
	dir := DirIfAny(sub)
	if dir == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("real testdata %s missing beside the repository (../shared/testdata/real)", sub)
		}
		tb.Skipf("real testdata %s not present beside the repository", sub)
	}
	return dir
}
