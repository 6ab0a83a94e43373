// Command relais is the Relais command line: it validates and compiles pipeline
// declarations, runs buildspecs and state machines locally, serves the local runtime and
// talks to its API. Each subcommand lives in its own file and is listed in commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it parses its own flags from args and returns the process
// exit code (0 success, 1 a negative verdict or failed run, 2 usage or I/O error).
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

// stdio is the subcommand's view of the process's standard streams.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// commands lists every subcommand by name.
var commands = map[string]command{
	"build":    {"run a buildspec here as CodeBuild would", runBuild},
	"run":      {"run a pipeline once on this machine and follow it", runRun},
	"serve":    {"run Relais on this machine: pipelines, API, resumed executions", runServe},
	"compile":  {"print the state machine (ASL) that runs a pipeline", runCompile},
	"validate": {"check pipeline declarations against CodePipeline's rules", runValidate},
	"states":   {"validate, run and serve Amazon States Language state machines", runStates},

	// Clients of the API (cmd/relais/client.go).
	"start":      {"start an execution of a pipeline (--watch to follow it)", runStart},
	"watch":      {"follow an execution until it ends", runWatch},
	"status":     {"show a pipeline's state: stages, transitions, latest actions", runStatus},
	"approve":    {"approve a pending manual approval", runApprove},
	"reject":     {"reject a pending manual approval", runReject},
	"executions": {"list a pipeline's executions, newest first", runExecutions},
	"stop":       {"stop an execution (--abandon to abandon running actions)", runStop},
	"retry":      {"retry the failed stage of an execution", runRetry},
	"transition": {"enable or disable the inbound transition of a stage", runTransition},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(s.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(s.err, "relais: unknown command %q\n\n", args[0])
		usage(s.err)
		return 2
	}
	return cmd.run(ctx, args[1:], s)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: relais <command> [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nrun 'relais <command> -h' for a command's flags")
}
