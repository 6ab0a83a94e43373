package pipeline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReferences(t *testing.T) {
	tests := []struct {
		in      string
		want    []Reference
		wantErr string
	}{
		{in: "plain", want: nil},
		{in: "#{SourceVariables.CommitId}", want: []Reference{{"SourceVariables", "CommitId", 0, 27}}},
		{in: "a #{x.y} b #{variables.Env-1}", want: []Reference{{"x", "y", 2, 8}, {"variables", "Env-1", 11, 29}}},
		{in: "dots #{ns.a.b}", want: []Reference{{"ns", "a.b", 5, 14}}},
		{in: "{not} # { } #x", want: nil},
		{in: "#{open", wantErr: "no closing '}'"},
		{in: "#{nodot}", wantErr: "is not #{namespace.name}"},
		{in: "#{.name}", wantErr: "is not #{namespace.name}"},
		{in: "#{ns.}", wantErr: "is not #{namespace.name}"},
		{in: "#{bad ns.x}", wantErr: "is not #{namespace.name}"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReferences(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("references (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	scope := map[string]map[string]string{
		"SourceVariables": {"CommitId": "abc123", "BranchName": "main"},
		"codepipeline":    {"PipelineExecutionId": "e-1"},
		"variables":       {"Env": "prod"},
	}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "no refs", want: "no refs"},
		{in: "#{SourceVariables.CommitId}", want: "abc123"},
		{in: "deploy #{SourceVariables.BranchName}@#{SourceVariables.CommitId} to #{variables.Env} (#{codepipeline.PipelineExecutionId})", want: "deploy main@abc123 to prod (e-1)"},
		{in: "#{SourceVariables.Missing} and #{Nope.X}", wantErr: "unknown variable #{SourceVariables.Missing}\nunknown variable #{Nope.X}"},
		{in: "#{broken", wantErr: "no closing"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Resolve(tc.in, scope)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
