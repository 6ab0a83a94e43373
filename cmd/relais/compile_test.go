package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantErr  string
	}{
		{name: "example", args: []string{"../../pipelines/hello.json"}, wantCode: 0},
		{name: "no file", args: nil, wantCode: 2, wantErr: "usage"},
		{name: "missing file", args: []string{"nope.json"}, wantCode: 2, wantErr: "nope.json"},
		{name: "malformed", args: []string{"-"}, stdin: `{"pipeline": {`, wantCode: 1, wantErr: "relais compile"},
		{name: "invalid", args: []string{"-"}, stdin: `{"pipeline": {"name": "x", "stages": []}}`, wantCode: 1, wantErr: "pipeline.stages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"compile"}, tt.args...), stdio{strings.NewReader(tt.stdin), &out, &errb})
			if code != tt.wantCode {
				t.Fatalf("got exit %d, want %d (stderr: %s)", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.wantErr)
			}
			if tt.wantCode == 0 {
				var m struct{ StartAt string }
				if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.StartAt != "Start" {
					t.Errorf("output is not a compiled machine (%v): %.200s", err, out.String())
				}
			}
		})
	}
}
