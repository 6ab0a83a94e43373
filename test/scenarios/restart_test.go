package scenarios

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestServeKilledMidBuild: see 15_serve_killed_mid_build/README.md.
func TestServeKilledMidBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relais binary")
	}
	scenario, err := filepath.Abs("15_serve_killed_mid_build")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "relais")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/relais").CombinedOutput(); err != nil {
		t.Fatalf("build relais: %v\n%s", err, out)
	}
	repo := gitRepo(t, filepath.Join(scenario, "repo"))
	marks := filepath.Join(work, "marks")
	if err := os.MkdirAll(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	serve := func() *relaisProcess {
		p := &relaisProcess{cmd: exec.Command(bin, "serve", "--data", filepath.Join(work, "data"), "--listen", addr,
			"--pipelines", scenario, "--repo", "example/app="+repo, "-v")}
		p.cmd.Env = append(os.Environ(), "RELAIS_SCENARIO_DIR="+marks)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
		return p
	}
	client := codepipeline.New(codepipeline.Options{
		BaseEndpoint: aws.String("http://" + addr), Region: "local",
		Credentials: aws.AnonymousCredentials{},
	})
	ctx := context.Background()

	first := serve()
	waitUntil(t, "relais serve to answer", first, func() bool {
		_, err := client.ListPipelines(ctx, &codepipeline.ListPipelinesInput{})
		return err == nil
	})
	started, err := client.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("killed")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(started.PipelineExecutionId)
	waitUntil(t, "the build to start", first, func() bool { return exists(filepath.Join(marks, "started-1")) })

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()

	second := serve()
	waitUntil(t, "the interrupted build to run again", second, func() bool { return exists(filepath.Join(marks, "started-2")) })
	if err := os.WriteFile(filepath.Join(marks, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var status types.PipelineExecutionStatus
	waitUntil(t, "the execution to end", second, func() bool {
		out, err := client.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("killed"), PipelineExecutionId: aws.String(id)})
		if err != nil {
			return false
		}
		status = out.PipelineExecution.Status
		return status != types.PipelineExecutionStatusInProgress
	})
	if status != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("execution %s: got %s, want Succeeded\nrelais output:\n%s", id, status, second.output())
	}
	runs, _ := os.ReadFile(filepath.Join(marks, "runs"))
	if got := strings.Count(string(runs), "run"); got != 2 {
		t.Errorf("the build ran %d times, want 2: once interrupted, once after the restart", got)
	}
	acts, err := client.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{
		PipelineName: aws.String("killed"), Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(id)},
	})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range acts.ActionExecutionDetails {
		count[aws.ToString(a.ActionName)]++
		if a.Status != types.ActionExecutionStatusSucceeded {
			t.Errorf("action %s: got %s, want Succeeded", aws.ToString(a.ActionName), a.Status)
		}
	}
	if count["Src"] != 1 || count["Compile"] != 1 || count["Ship"] != 1 {
		t.Errorf("action executions: got %v, want one each (the interrupted build re-run under the same action execution)", count)
	}
	if _, err := os.Stat(filepath.Join(work, "data", "buckets", "example-site", "out.txt")); err != nil {
		t.Errorf("deployed file: %v", err)
	}
}

// relaisProcess is a running `relais serve`.
type relaisProcess struct {
	cmd *exec.Cmd
	out lockedBuffer
}

func (p *relaisProcess) output() string { return p.out.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitUntil polls cond until it holds; a process that exits meanwhile, or a minute
// without it, fails the test.
func waitUntil(t *testing.T, what string, p *relaisProcess, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if p.cmd.ProcessState != nil || time.Now().After(deadline) || syscall.Kill(p.cmd.Process.Pid, 0) != nil {
			t.Fatalf("gave up waiting for %s\nrelais output:\n%s", what, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gitRepo makes a git repository of the files in src, one commit on main.
func gitRepo(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("scenario", &git.CommitOptions{Author: &object.Signature{Name: "S", Email: "s@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return dir
}
