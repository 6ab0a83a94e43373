package buildrunner

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/buildspec"
	"github.com/relais-ci/relais/test/realdata"
)

// realBuildspecs returns the real buildspecs.
func realBuildspecs(t *testing.T) string { return realdata.Dir(t, "buildspecs") }

// TestRealBuildspecsRun runs the real buildspecs whose commands can run on this machine
// without AWS, Docker or the network, over a small source tree standing in for the
// repository they came from; the table says why each other one cannot.
func TestRealBuildspecsRun(t *testing.T) {
	dir := realBuildspecs(t)
	tests := []struct {
		file   string
		cannot string // why it cannot run here; "" runs it
		needs  []string
		source map[string]string
		edit   func(*Request)
		status Status
		out    []string // lines the build must print, in order
		// artifacts: identifier → zip contents' names
		artifacts map[string][]string
	}{
		{
			file:   "awsdocs-sample-pipeline-batch-build-list.yml",
			edit:   func(r *Request) { r.IgnoreBatch = true }, // a plain StartBuild of a batch buildspec
			status: StatusSucceeded,
			artifacts: map[string][]string{
				"": {"output_file"}, "artifact1": {"output_file"}, "artifact2": {"output_file"},
			},
		},
		{
			file:  "amplify-cli-publish_to_npm.yml",
			needs: []string{"bash"},
			// The repository's shared-scripts.sh, standing in: the buildspec sources it.
			source:    map[string]string{"shared-scripts.sh": "_publishToNpm() { echo \"publishing from $(basename \"$PWD\") (stub)\"; }\n"},
			status:    StatusSucceeded,
			out:       []string{"publishing from src (stub)"},
			artifacts: map[string][]string{"": {"shared-scripts.sh"}},
		},
		{
			file:  "awsdocs-sample-runtime-versions-multi.yml",
			needs: []string{"go", "npm"},
			source: map[string]string{
				"golang-app/hello.go":     "package main\n\nfunc main() { println(\"hello\") }\n",
				"nodejs-app/index.js":     "console.log('hi')\n",
				"nodejs-app/package.json": `{"name": "nodejs-app", "version": "1.0.0", "scripts": {"test": "echo node tests pass"}}`,
			},
			edit:   func(r *Request) { r.BaseEnv = append(os.Environ(), "NO_UPDATE_NOTIFIER=1", "GOFLAGS=-buildvcs=false") },
			status: StatusSucceeded,
			out:    []string{"Building the Go code...", "Building the Node code...", "node tests pass"},
			artifacts: map[string][]string{
				"golang_artifacts": {"hello"}, "nodejs_artifacts": {"index.js", "package.json"},
			},
		},
		{file: "FOUND-MALFORMED-awsdocs-sample-test-report-cli.yml.txt", cannot: "not valid YAML (refused with its line by the parser)"},
		{file: "LEGACY-v0.1-alvinjaison-cicdtest-node.yml", cannot: "npm install from the registry and aws cloudformation package (AWS)"},
		{file: "aws-cdk-examples-codepipeline-build-deploy-reports.yaml", cannot: "npm install of the CDK app's dependencies (network)"},
		{file: "aws-encryption-sdk-python-decrypt_dafny_esdk_vectors_keyrings.yml", cannot: "a Secrets Manager GitHub token, the GitHub API and pip (network)"},
		{file: "aws-for-fluent-bit-buildspec_load_test.yml", cannot: "downloads eksctl, kubectl and the AWS CLI; assumes AWS roles"},
		{file: "aws-toolkit-vscode-linuxE2ETests.yml", cannot: "run-as codebuild-user, sysctl, xvfb and VS Code end-to-end tests"},
		{file: "awsdocs-build-spec-ref-example.yml", cannot: "apt-get, docker login and Maven Central (its parameter-store variable fails DOWNLOAD_SOURCE without a resolver: TestSecrets)"},
		{file: "awsdocs-getting-started-maven.yml", cannot: "mvn install needs Maven Central"},
		{file: "awsdocs-sample-docker.yml", cannot: "docker and Amazon ECR"},
		{file: "awsdocs-sample-windows-dotnet.yml", cannot: "PowerShell, nuget and msbuild on a Windows image"},
		{file: "awsdocs-test-report-rspec.yml", cannot: "gem install from RubyGems; placeholders in its paths"},
		{file: "dopc02devops-flask-memcached.yml", cannot: "pip install, docker, docker-compose and AWS Secrets Manager"},
		{file: "ngtrhieu-api-express-lambda.yml", cannot: "yarn install of the app's dependencies (network)"},
		{file: "ramanjulreddykotlo-python-app.yml", cannot: "parameter-store credentials, pip install and docker push"},
		{file: "williaumwu-buildspec-to-s3-TEMPLATE-on-failure.yml", cannot: "an unrendered Terraform template: git fetch of ${git_url} and aws s3 cp"},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, tt := range tests {
		inTable[tt.file] = true
	}
	for _, e := range entries {
		if e.Name() != "SOURCES.md" && !inTable[e.Name()] {
			t.Errorf("%s: not in this test's table: say whether it runs", e.Name())
		}
	}
	for _, tt := range tests {
		if tt.cannot != "" {
			continue
		}
		t.Run(tt.file, func(t *testing.T) {
			for _, tool := range tt.needs {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("needs %s", tool)
				}
			}
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := buildspec.ParseLenient(data)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			res, lines := run(t, "", tt.source, func(r *Request) {
				r.Spec = spec
				r.OutDir = out
				if tt.edit != nil {
					tt.edit(r)
				}
			})
			if res.Status != tt.status {
				t.Fatalf("status: got %s, want %s\n%s", res.Status, tt.status, strings.Join(lines, "\n"))
			}
			if missing := inOrder(commandOutput(lines), tt.out); missing != "" {
				t.Errorf("output lacks %q (in order)\n%s", missing, strings.Join(lines, "\n"))
			}
			got := map[string][]string{}
			for _, a := range res.Artifacts {
				for name := range readZip(t, a.Path) {
					got[a.Identifier] = append(got[a.Identifier], name)
				}
			}
			for id := range got {
				sort.Strings(got[id])
			}
			if diff := cmp.Diff(tt.artifacts, got); diff != "" {
				t.Errorf("artifacts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRealBatchBuildspecIsRefused(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(realBuildspecs(t), "awsdocs-sample-pipeline-batch-build-list.yml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := buildspec.ParseLenient(data)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, "", nil, func(r *Request) { r.Spec = spec })
	if got := res.Phase(PhaseDownloadSource); got.Status != StatusClientError {
		t.Errorf("DOWNLOAD_SOURCE: got %s, want CLIENT_ERROR", got.Status)
	}
}

// inOrder returns the first of want not found in got after the previous one, or "".
func inOrder(got, want []string) string {
	i := 0
	for _, w := range want {
		for i < len(got) && got[i] != w {
			i++
		}
		if i == len(got) {
			return w
		}
		i++
	}
	return ""
}
