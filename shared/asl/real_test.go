package asl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/relais-ci/relais/test/realdata"
)

// realDir returns a folder of real inputs.
func realDir(t *testing.T, sub string) string { return realdata.Dir(t, sub) }

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
			sc := realScenarios[name]
			got := runWithStubs(t, def, sc.input, sc.replies)
			if sc.want != "" && got != sc.want {
				t.Errorf("got status %s, want %s", got, sc.want)
			}
		})
	}
}

// realScenarios give some real definitions an input and task replies (by state name)
// that take them down their main path, with the status that path ends in.
var realScenarios = map[string]struct {
	input   string
	replies map[string]string
	want    string
}{
	"path-based-on-data.asl.json":         {input: `{"type":"Private","value":25}`, want: StatusSucceeded},
	"either-or-parallel-pattern.asl.json": {want: StatusSucceeded},
	"dynamically-process-data-with-map-state.asl.json": {
		replies: map[string]string{"Read messages from SQS queue": `{"Payload":[{"MessageId":"m1","Body":"hi","ReceiptHandle":"r1"},{"MessageId":"m2","Body":"ho","ReceiptHandle":"r2"}]}`},
		want:    StatusSucceeded,
	},
	"scatter-gather.asl.json": {
		input:   `{"requestDescription":"r","quoteProviders":["arn:aws:lambda:us-east-1:123456789012:function:p1","p2"]}`,
		replies: map[string]string{"Get quote": `{"Payload":{"quote":1}}`},
		want:    StatusSucceeded,
	},
	"simple-retry.asl.json": {want: StatusSucceeded},
	// An Express-workflow sample: it reads a ninth ARN field that Standard execution ARNs
	// do not have, so States.ArrayGetItem fails as it would on Step Functions.
	"async-streaming-intrinsics.asl.json": {want: StatusFailed},
	// Distributed Map parses but does not run here.
	"distributed-map-csv-iterator.asl.json": {want: StatusFailed},
}

// runWithStubs runs a definition with every task answered by a stub; callback tasks are
// completed right away. It checks the execution ends, and logs how.
func runWithStubs(t *testing.T, def []byte, input string, replies map[string]string) string {
	h := newHarness(t)
	h.eng.Tasks().HandleFunc("*", func(ctx context.Context, req *TaskRequest) (any, error) {
		if r, ok := replies[req.StateName]; ok {
			return decodeJSON([]byte(r))
		}
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
	if input == "" {
		input = `{"items":[1,2,3],"input":"x"}`
	}
	x := h.run(string(def), input)
	switch x.Status {
	case StatusSucceeded, StatusFailed:
	default:
		t.Fatalf("got status %s, want an ended execution", x.Status)
	}
	t.Logf("%s error=%q cause=%q", x.Status, x.Error, x.Cause)
	return x.Status
}
