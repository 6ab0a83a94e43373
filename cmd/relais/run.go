package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// runRun runs one pipeline once on this machine: it starts the local runtime with the
// declaration, starts an execution, follows it to its end and says where it deployed.
func runRun(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(s.err)
	f := addServerFlags(fs, "127.0.0.1:0")
	vars := mapFlag{}
	fs.Var(vars, "var", "set a pipeline variable: NAME=VALUE (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: relais run [flags] PIPELINE.json\n\n"+
			"Runs the pipeline once on this machine and follows it. A manual approval is asked at the\n"+
			"terminal when there is one; RELAIS_AUTO_APPROVE=1 approves without asking; otherwise the\n"+
			"approve command is printed. Exit 0 only when the execution succeeded.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(s.err, "relais run: %v\n", err)
		return 2
	}
	d, err := pipeline.Parse(data)
	if err != nil {
		fmt.Fprintf(s.err, "relais run: %s: %v\n", file, err)
		return 1
	}
	srv, err := startServer(ctx, f, []string{file}, s.err)
	if err != nil {
		fmt.Fprintf(s.err, "relais run: %v\n", err)
		return 1
	}
	defer srv.stop()

	cf := &clientFlags{endpoint: srv.URL(), tokenFile: f.tokenFile}
	client, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais run: %v\n", err)
		return 2
	}
	in := &codepipeline.StartPipelineExecutionInput{Name: aws.String(d.Name)}
	for k, v := range vars {
		in.Variables = append(in.Variables, types.PipelineVariable{Name: aws.String(k), Value: aws.String(v)})
	}
	out, err := client.StartPipelineExecution(ctx, in)
	if err != nil {
		return apiFailed(s, "run", err)
	}
	id := aws.ToString(out.PipelineExecutionId)
	fmt.Fprintf(s.out, "Relais API on %s (RELAIS_ENDPOINT=%s relais status %s)\n", srv.URL(), srv.URL(), d.Name)

	approverCtx, stopApprover := context.WithCancel(ctx)
	defer stopApprover()
	go approve(approverCtx, srv, d.Name, id, s)

	code := follow(ctx, client, s, d.Name, id, 250*time.Millisecond)
	stopApprover()
	summarize(ctx, srv, f.data, d.Name, id, s)
	return code
}

// approve answers the execution's manual approvals: automatically with
// RELAIS_AUTO_APPROVE=1, by asking at the terminal when there is one, or else by saying
// how to decide from another terminal.
func approve(ctx context.Context, srv *server, name, id string, s stdio) {
	auto := os.Getenv("RELAIS_AUTO_APPROVE") == "1"
	term := isTerminal(s.in)
	lines := make(chan string)
	if term && !auto {
		go func() {
			sc := bufio.NewScanner(s.in)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
	}
	asked := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pending, err := srv.rt.Store.PendingApprovals(ctx, name, id)
		if err != nil {
			continue
		}
		for _, a := range pending {
			if asked[a.ID] {
				continue
			}
			asked[a.ID] = true
			d := approval.Decision{ID: a.ID, Status: core.Approved}
			switch {
			case auto:
				d.By, d.Comment = "relais run", "RELAIS_AUTO_APPROVE=1"
			case term:
				fmt.Fprintf(s.out, "Approve %s/%s? [y/N, or a comment to reject with] ", a.StageName, a.ActionName)
				var answer string
				select {
				case answer = <-lines:
				case <-ctx.Done():
					return
				}
				d.By = os.Getenv("USER")
				if yes := strings.ToLower(strings.TrimSpace(answer)); yes != "y" && yes != "yes" {
					d.Status, d.Comment = core.Rejected, strings.TrimSpace(answer)
				}
			default:
				fmt.Fprintf(s.out, "To decide from another terminal:\n  RELAIS_ENDPOINT=%s relais approve %s %s %s\n  (or run with RELAIS_AUTO_APPROVE=1)\n",
					srv.URL(), name, a.StageName, a.ActionName)
				continue
			}
			if _, err := srv.rt.Approvals.Decide(ctx, d); err != nil && !errors.Is(err, core.ErrConflict) {
				fmt.Fprintf(s.err, "relais run: decide approval: %v\n", err)
			}
		}
	}
}

// summarize says where the execution's deploy actions put their files.
func summarize(ctx context.Context, srv *server, dataDir, name, id string, s stdio) {
	acts, err := core.AllActions(ctx, srv.rt.Store, core.ActionFilter{PipelineName: name, ExecutionID: id})
	if err != nil {
		return
	}
	for _, a := range acts {
		if a.Type.Category != pipeline.CategoryDeploy || a.Type.Provider != "S3" || a.Status != core.ActionSucceeded {
			continue
		}
		dir, _ := filepath.Abs(filepath.Join(dataDir, "buckets", a.Configuration["BucketName"], a.Configuration["ObjectKey"]))
		fmt.Fprintf(s.out, "Deployed by %s/%s to %s\n", a.StageName, a.ActionName, dir)
	}
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
