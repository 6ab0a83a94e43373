package pipeline

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestRoundTrip marshals every parseable real declaration back to JSON. The output must
// equal testdata/<file>.golden (rewritten with -update), mean the same as the input
// (TestRoundTrip compares both as generic JSON after normalizing what Parse fills in or
// leaves out), and parse back to the same declaration.
func TestRoundTrip(t *testing.T) {
	dir := realPipelines(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no real declarations: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ParseDocument(in)
			if err != nil {
				t.Fatalf("ParseDocument: %v", err)
			}
			out, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')

			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".json")+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("marshalled declaration differs from %s (-want +got):\n%s", golden, diff)
			}

			var orig, back any
			if err := json.Unmarshal(in, &orig); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(orig), normalize(back)); diff != "" {
				t.Errorf("round trip changed the meaning (-input +output):\n%s", diff)
			}

			again, err := ParseDocument(out)
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if diff := cmp.Diff(doc, again, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("reparse differs (-first +second):\n%s", diff)
			}
		})
	}
}

// normalize removes what carries no meaning in a declaration: empty arrays and objects,
// "__type" shape names, and an absent runOrder (which is 1).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "__type" {
				continue
			}
			n := normalize(e)
			if empty(n) {
				continue
			}
			out[k] = n
		}
		if _, isAction := out["actionTypeId"]; isAction {
			if _, ok := out["runOrder"]; !ok {
				out["runOrder"] = float64(1)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, normalize(e))
		}
		return out
	}
	return v
}

func empty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case nil:
		return true
	}
	return false
}
