package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// runCompile prints the Amazon States Language machine that runs a declaration.
func runCompile(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: relais compile FILE (- for stdin)\n\nPrints the state machine (ASL JSON) that runs the pipeline; "+
			statemachines.GateFunction+" and "+statemachines.ActionFunction+" name Relais's task functions.")
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
	data, err := readInput(fs.Arg(0), s.in)
	if err != nil {
		fmt.Fprintf(s.err, "relais compile: %v\n", err)
		return 2
	}
	d, err := pipeline.Parse(data)
	if err != nil {
		fmt.Fprintf(s.err, "relais compile: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	if vs := pipeline.Validate(d, pipeline.TargetRules); len(vs) > 0 {
		for _, v := range vs {
			fmt.Fprintf(s.err, "%s: %s\n", fs.Arg(0), v)
		}
		return 1
	}
	out, err := statemachines.Compile(d)
	if err != nil {
		fmt.Fprintf(s.err, "relais compile: %v\n", err)
		return 1
	}
	s.out.Write(out)
	return 0
}
