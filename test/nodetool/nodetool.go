// Package nodetool finds the Node command-line tools that tests compare Relais against
// (asl-validator, aws-local-stepfunctions' local-sfn, Node 22 itself). They are pinned in
// tools/package.json and installed by `make tools` (`npm ci`).
package nodetool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/relais-ci/relais/test/realdata"
)

// Path returns the absolute path of the named tool in tools/node_modules/.bin.
// When the tools are not installed the test is skipped with the command that installs
// them, except under CI (CI=true), where a missing tool fails the test: CI must never
// pass by skipping.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("RELAIS_TOOLS_BIN")
	if dir == "" {
		root, err := realdata.RepoRoot()
		if err != nil {
			tb.Fatalf("find repository root: %v", err)
		}
		dir = filepath.Join(root, "tools", "node_modules", ".bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("node tool %s missing at %s (run `make tools`): %v", name, p, err)
		}
		tb.Skipf("node tool %s not installed (run `make tools`)", name)
	}
	return p
}

// Command returns an exec.Cmd for the named tool whose PATH puts the pinned Node 22 first,
// so that tools started through `#!/usr/bin/env node` run on it rather than the system Node.
func Command(tb testing.TB, name string, args ...string) *exec.Cmd {
	tb.Helper()
	p := Path(tb, name)
	cmd := exec.Command(p, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(p)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return cmd
}
