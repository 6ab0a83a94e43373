package buildspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/test/realdata"
)

// realDir returns shared/testdata/real/buildspecs: CI clones main with shared/ beside it,
// so it is ../shared/testdata/real from the directory holding go.mod. Missing, it fails
// the test under CI and skips it elsewhere.
func realDir(t testing.TB) string {
	t.Helper()
	dir := realDirIfAny()
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("real buildspecs not found: want ../shared/testdata/real/buildspecs beside the module")
		}
		t.Skip("real buildspecs not found beside the module")
	}
	return dir
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestRealBuildspecs parses every real buildspec. All parse leniently (as CodeBuild would
// run them) except the malformed one; the strict parse refuses exactly the unknown keys
// listed here, which CodeBuild itself ignores with a warning.
func TestRealBuildspecs(t *testing.T) {
	dir := realDir(t)
	tests := map[string]struct {
		malformed []Problem // refused by both parsers
		unknown   []Problem // refused by Parse, warnings of ParseLenient
	}{
		"FOUND-MALFORMED-awsdocs-sample-test-report-cli.yml.txt": {
			malformed: []Problem{{Line: 2, Msg: "invalid YAML: mapping values are not allowed in this context"}},
		},
		"LEGACY-v0.1-alvinjaison-cicdtest-node.yml": {
			// "type: zip" was in early CodeBuild examples; CodeBuild ignores it.
			unknown: []Problem{{Line: 18, Path: "artifacts.type", Msg: "unknown key"}},
		},
		"amplify-cli-publish_to_npm.yml":                                    {},
		"aws-cdk-examples-codepipeline-build-deploy-reports.yaml":           {},
		"aws-encryption-sdk-python-decrypt_dafny_esdk_vectors_keyrings.yml": {},
		"aws-for-fluent-bit-buildspec_load_test.yml":                        {},
		"aws-toolkit-vscode-linuxE2ETests.yml":                              {},
		"awsdocs-build-spec-ref-example.yml":                                {},
		"awsdocs-getting-started-maven.yml":                                 {},
		"awsdocs-sample-docker.yml":                                         {},
		"awsdocs-sample-pipeline-batch-build-list.yml":                      {},
		"awsdocs-sample-runtime-versions-multi.yml":                         {},
		"awsdocs-sample-windows-dotnet.yml":                                 {},
		"awsdocs-test-report-rspec.yml":                                     {},
		"dopc02devops-flask-memcached.yml":                                  {},
		"ngtrhieu-api-express-lambda.yml": {
			// A typo for "variables": NODE_ENVIRONMENT is never set on CodeBuild either.
			unknown: []Problem{{Line: 6, Path: "env.variable", Msg: "unknown key"}},
		},
		"ramanjulreddykotlo-python-app.yml": {
			unknown: []Problem{{Line: 33, Path: "artifacts.location", Msg: "unknown key"}},
		},
		"williaumwu-buildspec-to-s3-TEMPLATE-on-failure.yml": {},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		if name == "SOURCES.md" {
			continue
		}
		seen++
		tt, ok := tests[name]
		if !ok {
			t.Errorf("%s: not in this test's table: add it", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			spec, lerr := ParseLenient(data)
			_, serr := Parse(data)
			if tt.malformed != nil {
				for _, err := range []error{lerr, serr} {
					var perr *Error
					if !errors.As(err, &perr) {
						t.Fatalf("got %v, want *Error", err)
					}
					if diff := cmp.Diff(tt.malformed, perr.Problems); diff != "" {
						t.Errorf("problems (-want +got):\n%s", diff)
					}
				}
				return
			}
			if lerr != nil {
				t.Fatalf("ParseLenient: got %v, want no error", lerr)
			}
			if diff := cmp.Diff(tt.unknown, spec.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if tt.unknown == nil {
				if serr != nil {
					t.Errorf("Parse: got %v, want no error", serr)
				}
			} else {
				var perr *Error
				if !errors.As(serr, &perr) {
					t.Fatalf("Parse: got %v, want *Error", serr)
				}
				if diff := cmp.Diff(tt.unknown, perr.Problems); diff != "" {
					t.Errorf("strict problems (-want +got):\n%s", diff)
				}
			}
			wantVersion := Version02
			if strings.HasPrefix(name, "LEGACY-v0.1") {
				wantVersion = Version01
			}
			if spec.Version != wantVersion {
				t.Errorf("version: got %q, want %q", spec.Version, wantVersion)
			}
		})
	}
	if seen != len(tests) {
		t.Errorf("got %d buildspecs in %s, want %d", seen, dir, len(tests))
	}
}

// TestRealBuildspecDetails checks a few values the runner depends on.
func TestRealBuildspecDetails(t *testing.T) {
	dir := realDir(t)
	read := func(name string) *Spec {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseLenient(data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := read("awsdocs-sample-runtime-versions-multi.yml")
	if diff := cmp.Diff([]Runtime{{"golang", "1.13"}, {"nodejs", "12"}}, s.Phases.Install.RuntimeVersions); diff != "" {
		t.Errorf("runtime versions (-want +got):\n%s", diff)
	}
	if got := len(s.Artifacts.Secondary); got != 2 {
		t.Errorf("secondary artifacts: got %d, want 2", got)
	}
	s = read("williaumwu-buildspec-to-s3-TEMPLATE-on-failure.yml")
	if got := s.Phases.PreBuild.OnFailure; got != OnFailureAbort {
		t.Errorf("pre_build on-failure: got %q, want ABORT", got)
	}
	s = read("aws-encryption-sdk-python-decrypt_dafny_esdk_vectors_keyrings.yml")
	if diff := cmp.Diff([]Var{{"GITHUB_TOKEN", "Github/lucasmcdonald3-fgpat:actions read"}}, s.Env.SecretsManager); diff != "" {
		t.Errorf("secrets-manager (-want +got):\n%s", diff)
	}
	s = read("awsdocs-sample-pipeline-batch-build-list.yml")
	if s.Batch == nil || s.Batch.Kind != "build-list" || len(s.Batch.Tasks) != 2 {
		t.Errorf("batch: got %+v, want a build-list of 2 tasks", s.Batch)
	}
}

func FuzzParse(f *testing.F) {
	if dir := realDirIfAny(); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("version: 0.2\nphases:\n  build:\n    commands: [make]\n"))
	f.Add([]byte("version: 0.2\nx: &a {commands: [a]}\nphases:\n  build: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) (*Spec, error){Parse, ParseLenient} {
			s, err := parse(data)
			if err != nil {
				var perr *Error
				if !errors.As(err, &perr) || len(perr.Problems) == 0 {
					t.Fatalf("got error %T %v, want *Error with problems", err, err)
				}
				if s != nil {
					t.Fatalf("got a spec with an error")
				}
				continue
			}
			if s.Version != Version01 && s.Version != Version02 {
				t.Fatalf("accepted version %q", s.Version)
			}
			for _, n := range s.Env.ExportedVariables {
				if !IsIdentifier(n) {
					t.Fatalf("accepted exported variable %q", n)
				}
			}
		}
	})
}

// realDirIfAny returns the real buildspecs, or "" without them.
func realDirIfAny() string { return realdata.DirIfAny("buildspecs") }
