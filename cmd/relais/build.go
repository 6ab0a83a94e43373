package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/buildspec"
	"github.com/relais-ci/relais/shared/local/buildrunner"
)

// envFlags collects repeated --env K=V flags.
type envFlags []buildrunner.EnvVar

func (e *envFlags) String() string { return "" }

func (e *envFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	*e = append(*e, buildrunner.EnvVar{Name: k, Value: val})
	return nil
}

// runBuild runs a buildspec here as CodeBuild would, printing the log as it goes and a
// summary at the end: exit 0 when the build succeeded, 1 when it did not (an invalid
// buildspec included), 2 on usage or I/O errors.
func runBuild(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(s.err)
	specPath := fs.String("buildspec", "", "the buildspec (default: buildspec.yml in --src)")
	src := fs.String("src", ".", "the source directory or zip: CODEBUILD_SRC_DIR gets a copy")
	var env envFlags
	fs.Var(&env, "env", "an environment variable K=V, as start-build's override (repeatable)")
	out := fs.String("out", "", "the directory for artifact zips (default: a new temporary directory)")
	timeout := fs.Duration("timeout", buildrunner.DefaultTimeout, "the build timeout")
	secrets := fs.String("secrets", "", "a JSON file of parameter-store and secrets-manager values\n"+
		`({"parameter-store": {"/name": "value"}, "secrets-manager": {"id": "value"}});`+"\n"+
		"RELAIS_SECRET_<VAR> in the environment also sets the secret variable VAR")
	strict := fs.Bool("strict", false, "refuse keys CodeBuild does not know (CodeBuild itself only warns)")
	ignoreBatch := fs.Bool("ignore-batch", false, "run a buildspec with a batch block as one plain build")
	project := fs.String("project", "relais-local", "the CodeBuild project name the build reports")
	keep := fs.Bool("keep", false, "keep the workspace (the copy of the source) after the build")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: relais build [--buildspec FILE] [--src DIR] [--env K=V]... [--out DIR] [--timeout DUR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "relais build: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(s.err, "relais build: --timeout must be positive")
		return 2
	}

	if _, err := os.Stat(*src); err != nil {
		fmt.Fprintf(s.err, "relais build: source: %v\n", err)
		return 2
	}
	path := *specPath
	if path == "" {
		if fi, err := os.Stat(*src); err == nil && !fi.IsDir() {
			fmt.Fprintln(s.err, "relais build: --src is a zip: say which buildspec with --buildspec")
			return 2
		}
		path = filepath.Join(*src, "buildspec.yml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(s.err, "relais build: %v\n", err)
		return 2
	}
	parse := buildspec.ParseLenient
	if *strict {
		parse = buildspec.Parse
	}
	spec, err := parse(data)
	if err != nil {
		var perr *buildspec.Error
		if errors.As(err, &perr) {
			fmt.Fprintf(s.err, "relais build: %s is not a valid buildspec:\n", path)
			for _, p := range perr.Problems {
				fmt.Fprintf(s.err, "  %s\n", p)
			}
			return 1
		}
		fmt.Fprintf(s.err, "relais build: %v\n", err)
		return 2
	}

	resolvers := []buildrunner.SecretResolver{buildrunner.EnvSecrets(os.LookupEnv)}
	if *secrets != "" {
		f, err := buildrunner.LoadSecretsFile(*secrets)
		if err != nil {
			fmt.Fprintf(s.err, "relais build: %v\n", err)
			return 2
		}
		resolvers = append(resolvers, f)
	}

	ws, err := os.MkdirTemp("", "relais-build-")
	if err != nil {
		fmt.Fprintf(s.err, "relais build: %v\n", err)
		return 2
	}
	if !*keep {
		defer os.RemoveAll(ws)
	}
	outDir := *out
	if outDir == "" {
		if outDir, err = os.MkdirTemp("", "relais-artifacts-"); err != nil {
			fmt.Fprintf(s.err, "relais build: %v\n", err)
			return 2
		}
	}

	commit := gitHead(ctx, *src)
	res, err := buildrunner.New().Run(ctx, buildrunner.Request{
		Workspace:             ws,
		Source:                *src,
		Spec:                  spec,
		IgnoreBatch:           *ignoreBatch,
		Project:               *project,
		SourceVersion:         commit,
		ResolvedSourceVersion: commit,
		Overrides:             env,
		Secrets:               buildrunner.ChainSecrets(resolvers...),
		Timeout:               *timeout,
		OutDir:                outDir,
		Log:                   s.out,
	})
	if err != nil {
		fmt.Fprintf(s.err, "relais build: %v\n", err)
		return 2
	}
	printSummary(s.out, res, ws, *keep)
	if res.Status != buildrunner.StatusSucceeded {
		return 1
	}
	return 0
}

// gitHead returns the commit checked out in dir, or "" when it is not a git work tree.
func gitHead(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func printSummary(w io.Writer, r *buildrunner.Result, ws string, kept bool) {
	fmt.Fprintf(w, "\nBuild %s %s in %s\n", r.BuildID, r.Status, r.Duration.Round(time.Millisecond))
	for _, p := range r.Phases {
		if p.Status == "" || p.Type == buildrunner.PhaseSubmitted || p.Type == buildrunner.PhaseQueued {
			continue
		}
		line := fmt.Sprintf("  %-17s %-12s %s", p.Type, p.Status, p.End.Sub(p.Start).Round(time.Millisecond))
		for _, c := range p.Contexts {
			if c.StatusCode != "" || c.Message != "" {
				line += fmt.Sprintf("  %s: %s", c.StatusCode, c.Message)
			}
		}
		fmt.Fprintln(w, line)
	}
	for _, rt := range r.Runtimes {
		switch {
		case rt.Found == "":
			fmt.Fprintf(w, "Runtime %s %s: not found on this machine\n", rt.Name, rt.Requested)
		case !rt.Matches:
			fmt.Fprintf(w, "Runtime %s %s: this machine has %s\n", rt.Name, rt.Requested, rt.Found)
		}
	}
	if len(r.ExportedVariables) > 0 {
		fmt.Fprintln(w, "Exported variables:")
		names := make([]string, 0, len(r.ExportedVariables))
		for n := range r.ExportedVariables {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %s=%s\n", n, r.ExportedVariables[n])
		}
	}
	if len(r.Artifacts) > 0 {
		fmt.Fprintln(w, "Artifacts:")
		for _, a := range r.Artifacts {
			id := a.Identifier
			if id == "" {
				id = "primary"
			}
			fmt.Fprintf(w, "  %-10s %s (%d files)\n", id, a.Path, a.Files)
		}
	}
	if kept {
		fmt.Fprintf(w, "Workspace kept: %s\n", ws)
	}
}
