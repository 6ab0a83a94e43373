package buildspec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want *Spec
	}{
		{
			name: "minimal",
			yaml: "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n",
			want: &Spec{Version: "0.2", Phases: Phases{Build: &Phase{Commands: []string{"make"}}}},
		},
		{
			name: "version 0.1",
			yaml: "version: 0.1\nphases:\n  build:\n    commands: [a, b]\n",
			want: &Spec{Version: "0.1", Phases: Phases{Build: &Phase{Commands: []string{"a", "b"}}}},
		},
		{
			name: "everything",
			yaml: `version: 0.2
run-as: builder
env:
  shell: sh
  variables:
    A: "1"
    N: 4.10
    EMPTY:
  parameter-store:
    P: /app/p
  secrets-manager:
    S: my-secret:password
  exported-variables: [A, OUT]
  git-credential-helper: yes
proxy:
  upload-artifacts: yes
  logs: no
phases:
  install:
    run-as: root
    on-failure: continue
    runtime-versions:
      python: 3.10
      nodejs: latest
    commands:
      - "echo a: b"
    finally:
      - echo done
  pre_build:
    on-failure: ABORT
    commands:
      - |
        if true; then
          echo multi
        fi
  build:
    commands: [make]
  post_build:
    commands: [make post]
reports:
  arn:aws:codebuild:us-east-1:1:report-group/x:
    files: ["**/*"]
    base-directory: reports
    discard-paths: yes
    file-format: junitxml
artifacts:
  files: ["**/*"]
  name: out-$(date +%Y)
  discard-paths: yes
  base-directory: dist
  exclude-paths: ["**/*.map"]
  enable-symlinks: yes
  s3-prefix: builds
  secondary-artifacts:
    docs:
      files: [docs/**/*]
      name: docs
cache:
  key: k
  fallback-keys: [k1, k2]
  action: restore
  paths: ['/root/.m2/**/*']
`,
			want: &Spec{
				Version: "0.2",
				RunAs:   "builder",
				Env: Env{
					Shell:               ShellSh,
					Variables:           []Var{{"A", "1"}, {"N", "4.10"}, {"EMPTY", ""}},
					ParameterStore:      []Var{{"P", "/app/p"}},
					SecretsManager:      []Var{{"S", "my-secret:password"}},
					ExportedVariables:   []string{"A", "OUT"},
					GitCredentialHelper: true,
				},
				Proxy: Proxy{UploadArtifacts: true},
				Phases: Phases{
					Install: &Phase{
						RunAs: "root", OnFailure: OnFailureContinue,
						RuntimeVersions: []Runtime{{"python", "3.10"}, {"nodejs", "latest"}},
						Commands:        []string{"echo a: b"}, Finally: []string{"echo done"},
					},
					PreBuild:  &Phase{OnFailure: OnFailureAbort, Commands: []string{"if true; then\n  echo multi\nfi\n"}},
					Build:     &Phase{Commands: []string{"make"}},
					PostBuild: &Phase{Commands: []string{"make post"}},
				},
				Reports: []Report{{Group: "arn:aws:codebuild:us-east-1:1:report-group/x", Files: []string{"**/*"}, BaseDirectory: "reports", DiscardPaths: true, FileFormat: "JUNITXML"}},
				Artifacts: &Artifacts{
					Files: []string{"**/*"}, Name: "out-$(date +%Y)", DiscardPaths: true, BaseDirectory: "dist",
					ExcludePaths: []string{"**/*.map"}, EnableSymlinks: true, S3Prefix: "builds",
					Secondary: []SecondaryArtifact{{Identifier: "docs", Artifacts: Artifacts{Files: []string{"docs/**/*"}, Name: "docs"}}},
				},
				Cache: &Cache{Key: "k", FallbackKeys: []string{"k1", "k2"}, Action: "restore", Paths: []string{"/root/.m2/**/*"}},
			},
		},
		{
			name: "anchors and merge keys",
			yaml: `version: 0.2
x-common: &common
  commands: [shared]
phases:
  build:
    <<: *common
    finally: [cleanup]
`,
			want: nil, // x-common is unknown: strict refuses, see TestParseErrors
		},
		{
			name: "batch build-list",
			yaml: `version: 0.2
batch:
  fast-fail: true
  build-list:
    - identifier: a
      env:
        compute-type: BUILD_GENERAL1_SMALL
        variables: {K: v}
phases:
  build:
    commands: [x]
`,
			want: &Spec{
				Version: "0.2",
				Batch: &Batch{FastFail: true, Kind: "build-list", Line: 3, Tasks: []BatchTask{
					{Identifier: "a", Env: BatchEnv{ComputeType: "BUILD_GENERAL1_SMALL", Variables: []Var{{"K", "v"}}}},
				}},
				Phases: Phases{Build: &Phase{Commands: []string{"x"}}},
			},
		},
		{
			name: "a single file is a list of one",
			yaml: "version: 0.2\nphases:\n  build:\n    commands: [x]\nartifacts:\n  files: out.txt\n",
			want: &Spec{Version: "0.2", Phases: Phases{Build: &Phase{Commands: []string{"x"}}}, Artifacts: &Artifacts{Files: []string{"out.txt"}}},
		},
	}
	for _, tt := range tests {
		if tt.want == nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: got error %v, want none", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMergeKeysLenient(t *testing.T) {
	y := `version: 0.2
x-common: &common
  commands: [shared]
phases:
  build:
    <<: *common
    finally: [cleanup]
`
	got, err := ParseLenient([]byte(y))
	if err != nil {
		t.Fatalf("ParseLenient: got error %v, want none", err)
	}
	want := &Phase{Commands: []string{"shared"}, Finally: []string{"cleanup"}}
	if diff := cmp.Diff(want, got.Phases.Build); diff != "" {
		t.Errorf("build phase (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Problem{{Line: 2, Path: "x-common", Msg: "unknown key"}}, got.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Problem
	}{
		{"empty", "", []Problem{{Msg: "empty buildspec"}}},
		{"not a mapping", "- a\n", []Problem{{Line: 1, Msg: "expected a mapping, found a sequence"}}},
		{"bad yaml", "version: 0.2\n  phases:\n", []Problem{{Line: 2, Msg: "invalid YAML: mapping values are not allowed in this context"}}},
		{"tab", "version: 0.2\nphases:\n\tbuild:\n", []Problem{{Line: 3, Msg: "invalid YAML: found character that cannot start any token"}}},
		{"missing version and phases", "env: {}\n", []Problem{
			{Line: 1, Path: "version", Msg: "missing: a buildspec starts with version: 0.2"},
			{Line: 1, Path: "phases", Msg: "missing: a buildspec needs at least one phase"},
		}},
		{"bad version", "version: 0.3\nphases: {}\n", []Problem{{Line: 1, Path: "version", Msg: `unsupported buildspec version "0.3": CodeBuild reads 0.2 and 0.1`}}},
		{"unknown top-level key", "version: 0.2\nphase:\n  build: {}\nphases: {}\n", []Problem{{Line: 2, Path: "phase", Msg: "unknown key"}}},
		{"unknown phase", "version: 0.2\nphases:\n  test:\n    commands: [x]\n", []Problem{{Line: 3, Path: "phases.test", Msg: "unknown key"}}},
		{"unknown env key", "version: 0.2\nenv:\n  variable:\n    A: b\nphases: {}\n", []Problem{{Line: 3, Path: "env.variable", Msg: "unknown key"}}},
		{"runtime-versions outside install", "version: 0.2\nphases:\n  build:\n    runtime-versions: {go: 1}\n", []Problem{{Line: 4, Path: "phases.build.runtime-versions", Msg: "unknown key"}}},
		{"command is a mapping", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\n      - echo FATAL: x\n", []Problem{
			{Line: 6, Path: "phases.build.commands[1]", Msg: `expected a command (a string), found a mapping: quote a command that contains ": "`},
		}},
		{"commands is a string", "version: 0.2\nphases:\n  build:\n    commands: make\n", []Problem{{Line: 4, Path: "phases.build.commands", Msg: "expected a sequence of commands, found a scalar"}}},
		{"empty command", "version: 0.2\nphases:\n  build:\n    commands:\n      -\n", []Problem{{Line: 5, Path: "phases.build.commands[0]", Msg: "empty command"}}},
		{"bad on-failure", "version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n    commands: [x]\n", []Problem{{Line: 4, Path: "phases.build.on-failure", Msg: `expected ABORT or CONTINUE, found "RETRY"`}}},
		{"bad bool", "version: 0.2\nphases: {}\nartifacts:\n  files: [a]\n  discard-paths: maybe\n", []Problem{{Line: 5, Path: "artifacts.discard-paths", Msg: `expected yes/no or true/false, found "maybe"`}}},
		{"bad shell", "version: 0.2\nenv:\n  shell: zsh\nphases: {}\n", []Problem{{Line: 3, Path: "env.shell", Msg: `unsupported shell "zsh": use bash or /bin/sh (Linux), powershell.exe or cmd.exe (Windows)`}}},
		{"variables is a list", "version: 0.2\nenv:\n  variables:\n    - A=b\nphases: {}\n", []Problem{{Line: 4, Path: "env.variables", Msg: "expected a mapping, found a sequence"}}},
		{"variable value is a mapping", "version: 0.2\nenv:\n  variables:\n    A:\n      b: c\nphases: {}\n", []Problem{{Line: 5, Path: "env.variables.A", Msg: "expected a string, found a mapping"}}},
		{"bad exported name", "version: 0.2\nenv:\n  exported-variables: [OK, 'no-dash']\nphases: {}\n", []Problem{{Line: 3, Path: "env.exported-variables[1]", Msg: `"no-dash" is not a variable name`}}},
		{"duplicate key", "version: 0.2\nphases:\n  build:\n    commands: [a]\n  build:\n    commands: [b]\n", []Problem{{Line: 5, Path: "phases.build", Msg: "duplicate key"}}},
		{"bad report format", "version: 0.2\nphases: {}\nreports:\n  r:\n    files: [x]\n    file-format: XML\n", []Problem{{Line: 6, Path: "reports.r.file-format", Msg: "unknown report format \"XML\": want one of CUCUMBERJSON, JUNITXML, NUNITXML, NUNIT3XML, TESTNGXML, VISUALSTUDIOTRX, CLOVERXML, COBERTURAXML, JACOCOXML, SIMPLECOV"}}},
		{"bad secondary identifier", "version: 0.2\nphases: {}\nartifacts:\n  files: [a]\n  secondary-artifacts:\n    my-art:\n      files: [b]\n", []Problem{{Line: 6, Path: "artifacts.secondary-artifacts.my-art", Msg: "artifact identifier must be letters, digits and underscores"}}},
		{"nested secondary", "version: 0.2\nphases: {}\nartifacts:\n  secondary-artifacts:\n    a:\n      secondary-artifacts: {}\n", []Problem{{Line: 6, Path: "artifacts.secondary-artifacts.a.secondary-artifacts", Msg: "unknown key"}}},
		{"batch without kind", "version: 0.2\nbatch:\n  fast-fail: true\nphases: {}\n", []Problem{{Line: 3, Path: "batch", Msg: "missing build-list, build-graph, build-matrix or build-fanout"}}},
		{"two batch kinds", "version: 0.2\nbatch:\n  build-list: []\n  build-fanout:\n    parallelism: 2\nphases: {}\n", []Problem{{Line: 4, Path: "batch.build-fanout", Msg: "a batch has one of build-list, build-graph, build-matrix and build-fanout; this one also has build-list"}}},
		{"unknown fanout key", "version: 0.2\nbatch:\n  build-fanout:\n    parallel: 2\nphases: {}\n", []Problem{{Line: 4, Path: "batch.build-fanout.parallel", Msg: "unknown key"}}},
		{"graph task without identifier", "version: 0.2\nbatch:\n  build-graph:\n    - buildspec: b.yml\nphases: {}\n", []Problem{{Line: 4, Path: "batch.build-graph[0].identifier", Msg: "missing: every build-graph task needs an identifier"}}},
		{"several problems at once", "version: 0.2\nfoo: 1\nphases:\n  build:\n    commands: {a: b}\n  bar: {}\n", []Problem{
			{Line: 2, Path: "foo", Msg: "unknown key"},
			{Line: 5, Path: "phases.build.commands", Msg: "expected a sequence of commands, found a mapping"},
			{Line: 6, Path: "phases.bar", Msg: "unknown key"},
		}},
		{"merge key brings unknown keys", "version: 0.2\nphases:\n  build:\n    <<: {commandz: [x]}\n", []Problem{{Line: 4, Path: "phases.build.commandz", Msg: "unknown key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse: got %+v, want an error", got)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse: got error %T %v, want *Error", err, err)
			}
			if diff := cmp.Diff(tt.want, perr.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBoundsMergeKeys(t *testing.T) {
	// Each level merges the previous one twice: 2^30 expansions without a bound.
	var b strings.Builder
	b.WriteString("version: 0.2\nphases:\n  build:\n    commands: [x]\nx0: &m0 {a: 1}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "x%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("cache:\n  <<: *m30\n")
	_, err := ParseLenient([]byte(b.String()))
	var perr *Error
	if !errors.As(err, &perr) || !strings.Contains(perr.Error(), "too many merge keys") {
		t.Fatalf("got %v, want a too-many-merge-keys error", err)
	}
}

func TestParseLenientKeepsOtherErrors(t *testing.T) {
	_, err := ParseLenient([]byte("version: 0.2\nfoo: 1\nphases:\n  build:\n    commands: make\n"))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("ParseLenient: got %v, want *Error", err)
	}
	want := []Problem{{Line: 5, Path: "phases.build.commands", Msg: "expected a sequence of commands, found a scalar"}}
	if diff := cmp.Diff(want, perr.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestErrorString(t *testing.T) {
	err := &Error{Problems: []Problem{{Line: 3, Path: "phases.x", Msg: "unknown key"}, {Msg: "empty buildspec"}}}
	if got, want := err.Error(), "buildspec: line 3: phases.x: unknown key; empty buildspec"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
