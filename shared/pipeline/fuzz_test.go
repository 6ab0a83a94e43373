package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relais-ci/relais/test/realdata"
)

// FuzzParse checks that Parse never panics, that every refusal is a *ParseError made of
// violations of known rules, and that whatever it accepts validates without panicking
// and survives a marshal/parse round trip.
func FuzzParse(f *testing.F) {
	if dir := realDirIfAny(); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json*"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(baseJSON))
	f.Add([]byte(triggerJSON))
	f.Add([]byte(`{"pipeline": {"stages": [{"actions": [{"runOrder": 1e3}]}]}, "metadata": {"created": "x"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Violations) == 0 {
				t.Fatalf("got error %v (%T), want a *ParseError with violations", err, err)
			}
			for _, v := range pe.Violations {
				if _, ok := rules[v.Rule]; !ok || v.Message == "" {
					t.Fatalf("bad violation %+v", v)
				}
			}
			return
		}
		for _, target := range []Target{TargetRules, TargetAWS, TargetLocal} {
			for _, v := range Validate(d, target) {
				if _, ok := rules[v.Rule]; !ok || v.Message == "" {
					t.Fatalf("bad violation %+v", v)
				}
			}
		}
		d.Match(GitEvent{Kind: Push, Branch: "main", ChangedFiles: []string{"a/b.go"}})
		d.Match(GitEvent{Kind: PullRequest, PullRequestEvent: EventOpen, Branch: "main"})
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		again.Root = d.Root // a marshalled Declaration is bare
		if diff := cmp.Diff(d, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// realDirIfAny returns the real declarations, or "" without them.
func realDirIfAny() string { return realdata.DirIfAny("pipelines") }

func BenchmarkParseValidate(b *testing.B) {
	dir := realPipelines(b)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no real declarations: %v", err)
	}
	var largest []byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		if len(data) > len(largest) {
			largest = data
		}
	}
	b.SetBytes(int64(len(largest)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(largest)
		if err != nil {
			b.Fatal(err)
		}
		if vs := Validate(d, TargetAWS); vs != nil && len(vs) > 100 {
			b.Fatal("unexpected violations")
		}
	}
}
