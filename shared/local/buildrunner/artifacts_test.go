package buildrunner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/buildspec"
)

// The tree the glob cases run over; it includes the directory structure of the
// base-directory example of CodeBuild's buildspec reference.
var artifactTree = map[string]string{
	"top.txt":                                "",
	"README.md":                              "",
	"target/app.jar":                         "",
	"target/classes/A.class":                 "",
	"target/classes/sub/B.class":             "",
	"my-build1/my-file1.txt":                 "",
	"my-build2/my-file2.txt":                 "",
	"my-build2/my-subdirectory/my-file3.txt": "",
	"dist/index.js":                          "",
	"dist/index.js.map":                      "",
	"dist/assets/logo.png":                   "",
}

func TestCollectArtifact(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, artifactTree)
	tests := []struct {
		name string
		a    buildspec.Artifacts
		want []string // names in the zip; nil: no matching artifact paths found
	}{
		{"one file", buildspec.Artifacts{Files: []string{"target/app.jar"}}, []string{"target/app.jar"}},
		{"./ prefix", buildspec.Artifacts{Files: []string{"./target/app.jar"}}, []string{"target/app.jar"}},
		{"all files recursively", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "target"},
			[]string{"app.jar", "classes/A.class", "classes/sub/B.class"}},
		{"star is one level", buildspec.Artifacts{Files: []string{"*"}, BaseDirectory: "target"}, []string{"app.jar"}},
		{"star at the top", buildspec.Artifacts{Files: []string{"*"}}, []string{"README.md", "top.txt"}},
		{"subdirectory star", buildspec.Artifacts{Files: []string{"target/classes/*"}}, []string{"target/classes/A.class"}},
		{"subdirectory double star", buildspec.Artifacts{Files: []string{"target/classes/**/*"}},
			[]string{"target/classes/A.class", "target/classes/sub/B.class"}},
		{"a directory name takes its files", buildspec.Artifacts{Files: []string{"target/classes"}},
			[]string{"target/classes/A.class", "target/classes/sub/B.class"}},
		{"extension anywhere", buildspec.Artifacts{Files: []string{"**/*.class"}},
			[]string{"target/classes/A.class", "target/classes/sub/B.class"}},
		{"reference example: files under base", buildspec.Artifacts{Files: []string{"*/my-file3.txt"}, BaseDirectory: "my-build2"},
			[]string{"my-subdirectory/my-file3.txt"}},
		{"reference example: base pattern and discard-paths", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "my-build*", DiscardPaths: true},
			[]string{"my-file1.txt", "my-file2.txt", "my-file3.txt"}},
		{"discard-paths", buildspec.Artifacts{Files: []string{"target/**/*"}, DiscardPaths: true},
			[]string{"A.class", "B.class", "app.jar"}},
		{"exclude-paths", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "dist", ExcludePaths: []string{"**/*.map", "assets"}},
			[]string{"index.js"}},
		{"several patterns", buildspec.Artifacts{Files: []string{"top.txt", "dist/index.js", "top.txt"}},
			[]string{"dist/index.js", "top.txt"}},
		{"base-directory with ./", buildspec.Artifacts{Files: []string{"index.js"}, BaseDirectory: "./dist/"}, []string{"index.js"}},
		{"nothing matches", buildspec.Artifacts{Files: []string{"missing.txt"}}, nil},
		{"base-directory missing", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "nope"}, nil},
		{"base-directory outside the source", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "../python-app"}, nil},
		{"base pattern matching nothing", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "zz*"}, nil},
		{"excluded all", buildspec.Artifacts{Files: []string{"top.txt"}, ExcludePaths: []string{"*.txt"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := collectArtifact(src, tt.a, func(string) {})
			if tt.want == nil {
				if !errors.Is(err, errNoArtifacts) {
					t.Fatalf("got %v, %v; want %q", files, err, MessageNoArtifacts)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want files", err)
			}
			var names []string
			for _, f := range files {
				names = append(names, f.name)
				if _, err := os.Stat(f.abs); err != nil {
					t.Errorf("%s: %v", f.name, err)
				}
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZipSymlinks(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"real.txt": "content"})
	if err := os.Symlink("real.txt", filepath.Join(src, "link.txt")); err != nil {
		t.Fatal(err)
	}
	files, err := collectArtifact(src, buildspec.Artifacts{Files: []string{"*.txt"}}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		symlinks bool
		want     map[string]string
	}{
		{false, map[string]string{"link.txt": "content", "real.txt": "content"}},
		{true, map[string]string{"link.txt": "real.txt", "real.txt": "content"}},
	} {
		dst := filepath.Join(t.TempDir(), "a.zip")
		if err := writeZip(dst, files, tt.symlinks); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, readZip(t, dst)); diff != "" {
			t.Errorf("enable-symlinks %v (-want +got):\n%s", tt.symlinks, diff)
		}
	}
}

func TestSplitSecretRef(t *testing.T) {
	tests := []struct{ ref, id, key string }{
		{"my-secret", "my-secret", ""},
		{"my-secret:password", "my-secret", "password"},
		{"my-secret:password:AWSCURRENT", "my-secret", "password"},
		{"Github/lucasmcdonald3-fgpat:actions read", "Github/lucasmcdonald3-fgpat", "actions read"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", ""},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:user", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", "user"},
	}
	for _, tt := range tests {
		id, key := splitSecretRef(tt.ref)
		if id != tt.id || key != tt.key {
			t.Errorf("splitSecretRef(%q): got %q %q, want %q %q", tt.ref, id, key, tt.id, tt.key)
		}
	}
}

func TestLoadSecretsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets.json")
	writeFiles(t, filepath.Dir(p), map[string]string{"secrets.json": `{"parameter-store": {"/a": "1"}, "secrets-manager": {"s": "{\"k\": 2}"}}`})
	f, err := LoadSecretsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.ResolveSecret(t.Context(), SecretRef{Kind: SecretsManager, Var: "X", Name: "s:k"})
	if err != nil || got != "2" {
		t.Errorf("got %q, %v; want 2", got, err)
	}
	if _, err := f.ResolveSecret(t.Context(), SecretRef{Kind: ParameterStore, Var: "X", Name: "/b"}); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("got %v, want ErrSecretNotFound", err)
	}
	chain := ChainSecrets(EnvSecrets(func(string) (string, bool) { return "", false }), f)
	if got, err := chain.ResolveSecret(t.Context(), SecretRef{Kind: ParameterStore, Var: "X", Name: "/a"}); err != nil || got != "1" {
		t.Errorf("chain: got %q, %v; want 1", got, err)
	}
	writeFiles(t, filepath.Dir(p), map[string]string{"secrets.json": `{"parameters": {}}`})
	if _, err := LoadSecretsFile(p); err == nil {
		t.Error("a misspelt secrets file: got no error")
	}
}
