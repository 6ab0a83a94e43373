package asl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// realDir finds ../shared/testdata/real/<sub> beside the module root (CI clones main with
// shared/ beside it). Missing: fail when CI=true, skip otherwise.
func realDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	real := filepath.Join(dir, "..", "shared", "testdata", "real", sub)
	if _, err := os.Stat(real); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real test data missing: %v", err)
		}
		t.Skipf("real test data missing: %v", err)
	}
	return real
}

var dummyRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute replaces ${Name} placeholders with dummy Lambda ARNs, as
// DefinitionSubstitutions would.
func substitute(def []byte) []byte {
	return dummyRE.ReplaceAll(def, []byte("arn:aws:lambda:us-east-1:123456789012:function:$1"))
}

func problemCodes(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var codes []string
	for _, p := range ve.Problems {
		codes = append(codes, p.Code)
	}
	return codes
}

func TestRealDefinitions(t *testing.T) {
	dir := realDir(t, "asl")
	files, err := filepath.Glob(filepath.Join(dir, "*.asl.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no definitions in %s: %v", dir, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			def, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(def)
			switch {
			case strings.HasPrefix(name, "JSONATA"):
				if err == nil || !strings.Contains(err.Error(), "JSONata") {
					t.Fatalf("got %v, want a refusal naming JSONata", err)
				}
				return
			case dummyRE.Match(def):
				for _, c := range problemCodes(err) {
					if c != CodePlaceholder {
						t.Fatalf("got problem %s in %v, want only placeholder problems", c, err)
					}
				}
				if err == nil {
					t.Fatal("got no error, want the placeholders refused")
				}
				def = substitute(def)
				if _, err := Parse(def); err != nil {
					t.Fatalf("after substitution: %v", err)
				}
			case err != nil:
				t.Fatalf("Parse: %v", err)
			}
			runWithStubs(t, def)
		})
	}
}

// runWithStubs runs a definition with every task answered by a stub; callback tasks are
// completed right away. It checks the execution ends, and logs how.
func runWithStubs(t *testing.T, def []byte) {
	h := newHarness(t)
	h.eng.Tasks().HandleFunc("*", func(ctx context.Context, req *TaskRequest) (any, error) {
		if req.Token != "" {
			go func() {
				for {
					err := h.eng.SendTaskSuccess(context.Background(), req.Token, `{"approved":true,"Status":"Approved"}`)
					if !errors.Is(err, ErrTaskTimedOut) {
						return
					}
				}
			}()
		}
		return map[string]any{"Payload": map[string]any{"ok": true}, "StatusCode": jsonInt(200), "Item": map[string]any{}}, nil
	})
	x := h.run(string(def), `{"items":[1,2,3],"input":"x"}`)
	switch x.Status {
	case StatusSucceeded, StatusFailed:
	default:
		t.Fatalf("got status %s, want an ended execution", x.Status)
	}
	t.Logf("%s error=%q cause=%q", x.Status, x.Error, x.Cause)
}
