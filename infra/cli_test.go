package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-ci/relais/test/nodetool"
)

// TestCDKSynth synthesizes the app the way `cdk deploy` does: the aws-cdk CLI pinned in
// tools/package.json runs `go run ./infra` from the repository root (cdk.json's app),
// with cdk-nag applied, so a finding fails the synth.
func TestCDKSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app (about a minute)")
	}
	lambdas, out := t.TempDir(), t.TempDir()
	if err := stubLambdas(lambdas); err != nil {
		t.Fatal(err)
	}
	cmd := nodetool.Command(t, "cdk", "synth", "--app", "go run ./infra", "--quiet", "--no-notices",
		"--no-version-reporting", "--output", out, "--context", ContextLambdaDir+"="+lambdas,
		"--context", ContextApproverEmails+"=ops@example.com")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Env, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "CDK_DISABLE_CLI_TELEMETRY=true")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "Relais.template.json"))
	if err != nil {
		t.Fatalf("read the synthesized template: %v", err)
	}
	var tmpl struct {
		Resources map[string]struct{ Type string }
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range tmpl.Resources {
		count[r.Type]++
	}
	// The app's own pipelines folder, not the tests' (mustPipelines).
	pipelines, err := loadPipelines(filepath.Join("..", defaultPipelinesDir))
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{"AWS::Lambda::Function": 6, "AWS::SNS::Subscription": 1, "AWS::StepFunctions::StateMachine": len(pipelines)} {
		if count[typ] != want {
			t.Errorf("got %d %s, want %d", count[typ], typ, want)
		}
	}
}
