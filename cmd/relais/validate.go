package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/relais-ci/relais/shared/pipeline"
)

// validateResult is one file's verdict in --format json.
type validateResult struct {
	File       string               `json:"file"`
	Valid      bool                 `json:"valid"`
	Violations []pipeline.Violation `json:"violations"`
}

// runValidate checks pipeline declarations: exit 0 when all are valid, 1 when one is
// not (malformed JSON included), 2 on usage or I/O errors.
func runValidate(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(s.err)
	target := fs.String("target", "", "also refuse what Relais cannot run there: aws or local (default: CodePipeline's rules only)")
	format := fs.String("format", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: relais validate [--target aws|local] [--format text|json] FILE... (- for stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	tgt, err := pipeline.ParseTarget(*target)
	if err != nil {
		fmt.Fprintf(s.err, "relais validate: %v\n", err)
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(s.err, "relais validate: unknown format %q: want text or json\n", *format)
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return 2
	}

	code := 0
	results := make([]validateResult, 0, len(files))
	for _, name := range files {
		if ctx.Err() != nil {
			fmt.Fprintf(s.err, "relais validate: %v\n", ctx.Err())
			return 2
		}
		data, err := readInput(name, s.in)
		if err != nil {
			fmt.Fprintf(s.err, "relais validate: %v\n", err)
			code = 2
			continue
		}
		label := name
		if name == "-" {
			label = "<stdin>"
		}
		vs := check(data, tgt)
		if len(vs) > 0 && code == 0 {
			code = 1
		}
		results = append(results, validateResult{File: label, Valid: len(vs) == 0, Violations: vs})
	}

	if *format == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			fmt.Fprintf(s.err, "relais validate: %v\n", err)
			return 2
		}
		return code
	}
	for _, r := range results {
		if r.Valid {
			fmt.Fprintf(s.out, "%s: valid\n", r.File)
			continue
		}
		for _, v := range r.Violations {
			fmt.Fprintf(s.out, "%s: %s\n", r.File, v)
		}
	}
	return code
}

// check parses and validates one declaration; parse failures are violations too.
func check(data []byte, tgt pipeline.Target) []pipeline.Violation {
	d, err := pipeline.Parse(data)
	if err != nil {
		var pe *pipeline.ParseError
		if errors.As(err, &pe) {
			return pe.Violations
		}
		return []pipeline.Violation{{Rule: "syntax", Message: err.Error()}}
	}
	vs := pipeline.Validate(d, tgt)
	if vs == nil {
		vs = []pipeline.Violation{}
	}
	return vs
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read declaration: %w", err)
	}
	return data, nil
}
