package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// runStart starts an execution and prints its id; with --watch it follows it as
// `relais watch` does and exits as watch does.
func runStart(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "start", "start [flags] PIPELINE")
	cf := addClientFlags(fs)
	var vars []types.PipelineVariable
	seen := map[string]bool{}
	fs.Func("var", "pipeline variable NAME=VALUE (repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return fmt.Errorf("want NAME=VALUE, not %q", v)
		}
		if seen[name] {
			return fmt.Errorf("variable %s given twice", name)
		}
		seen[name] = true
		vars = append(vars, types.PipelineVariable{Name: aws.String(name), Value: aws.String(value)})
		return nil
	})
	watch := fs.Bool("watch", false, "follow the execution until it ends")
	token := fs.String("client-token", "", "idempotency token: starting again with the same token starts nothing new")
	interval := fs.Duration("interval", 500*time.Millisecond, "with --watch: how often to poll")
	pos, code, ok := parseCommand(fs, args, 1, 1)
	if !ok {
		return code
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais start: %v\n", err)
		return 2
	}
	in := &codepipeline.StartPipelineExecutionInput{Name: aws.String(pos[0]), Variables: vars}
	if *token != "" {
		in.ClientRequestToken = token
	}
	out, err := c.StartPipelineExecution(ctx, in)
	if err != nil {
		return apiFailed(s, "start", err)
	}
	id := aws.ToString(out.PipelineExecutionId)
	fmt.Fprintln(s.out, id)
	if !*watch {
		return 0
	}
	return follow(ctx, c, s, pos[0], id, *interval)
}
