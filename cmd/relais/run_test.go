package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// demoRepo makes a git repository of examples/hello with one commit on main, as
// `make run` does.
func demoRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "hello")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("Say hello", &git.CommitOptions{Author: &object.Signature{Name: "Demo", Email: "d@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRunHello is `make run` without make: the hello pipeline runs end to end through
// the CLI, its approval given by RELAIS_AUTO_APPROVE.
func TestRunHello(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	t.Setenv("RELAIS_AUTO_APPROVE", "1")
	data := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--data", data, "--repo", "relais-ci/hello=" + demoRepo(t), "../../pipelines/hello.json"},
		stdio{strings.NewReader(""), &out, &errb})
	if code != 0 {
		t.Fatalf("got exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	site := filepath.Join(data, "buckets", "relais-hello-site")
	for _, want := range []string{"Build/BuildAndTest", "Approved by relais run", "Succeeded", "Deployed by Deploy/Site to " + site} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if b, err := os.ReadFile(filepath.Join(site, "index.txt")); err != nil || !strings.HasPrefix(string(b), "hello, world!") {
		t.Errorf("deployed index.txt: %q, %v", b, err)
	}
}

// TestRunFailingBuild: a build that fails makes `relais run` exit 1.
func TestRunFailingBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a build")
	}
	repo := demoRepo(t)
	broken := strings.Replace(readFile(t, filepath.Join(repo, "main_test.go")), `"hello, world!"`, `"goodbye"`, 1)
	if err := os.WriteFile(filepath.Join(repo, "main_test.go"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := git.PlainOpen(repo)
	wt, _ := r.Worktree()
	wt.AddGlob(".")
	if _, err := wt.Commit("Break the test", &git.CommitOptions{Author: &object.Signature{Name: "Demo", Email: "d@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--data", t.TempDir(), "--repo", "relais-ci/hello=" + repo, "../../pipelines/hello.json"},
		stdio{strings.NewReader(""), &out, &errb})
	if code != 1 {
		t.Fatalf("got exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "Failed") || strings.Contains(out.String(), "Deployed by") {
		t.Errorf("output should report the failed build and no deploy:\n%s", out.String())
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	cloud := `{"pipeline":{"name":"cloud","roleArn":"arn:aws:iam::1:role/r","artifactStore":{"type":"S3","location":"bucket"},
	"stages":[{"name":"Source","actions":[{"name":"S","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
	"configuration":{"S3Bucket":"bucket","S3ObjectKey":"k.zip"},"outputArtifacts":[{"name":"A"}]}]},
	{"name":"Deploy","actions":[{"name":"Stack","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"CloudFormation","version":"1"},
	"configuration":{"ActionMode":"CREATE_UPDATE","StackName":"s","TemplatePath":"A::t.yml","RoleArn":"arn:aws:iam::1:role/cfn"},"inputArtifacts":[{"name":"A"}]}]}]}}`
	if err := os.WriteFile(filepath.Join(dir, "cloud.json"), []byte(cloud), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no pipelines", []string{"serve", "--data", t.TempDir(), "--pipelines", t.TempDir()}, 2, "no pipeline declarations"},
		{"provider not available locally", []string{"serve", "--data", t.TempDir(), "--pipelines", dir}, 1, "pipeline.stages[1].actions[0]"},
		{"open address without a token", []string{"serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0", "--pipelines", "../../pipelines"}, 1, "--api-token-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, stdio{strings.NewReader(""), &out, &errb})
			if code != tt.code || !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("got exit %d and stderr %q, want %d and %q", code, errb.String(), tt.code, tt.wantErr)
			}
		})
	}
}
