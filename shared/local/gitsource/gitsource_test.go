package gitsource

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/pipeline"
)

// fixture is a repository made for the tests: on master, commit one (README v1, an
// executable script, a symlink) then commit three (README v2); on feature, commit two
// (feature.txt) on top of commit one.
type fixture struct {
	dir                string
	one, two, three    plumbing.Hash
	oneTime, threeTime time.Time
}

func newRepo(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	must(t, err)
	wt, err := repo.Worktree()
	must(t, err)
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), mode))
		must(t, os.Chmod(p, mode))
		_, err := wt.Add(name)
		must(t, err)
	}
	commit := func(msg string, when time.Time) plumbing.Hash {
		t.Helper()
		sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: when}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		must(t, err)
		return h
	}
	f := fixture{dir: dir, oneTime: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), threeTime: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}
	write("README.md", "version one\n", 0o644)
	write("bin/run.sh", "#!/bin/sh\necho run\n", 0o755)
	must(t, os.Symlink("README.md", filepath.Join(dir, "link")))
	_, err = wt.Add("link")
	must(t, err)
	f.one = commit("First commit\n\nWith a body.\n", f.oneTime)

	must(t, wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}))
	write("feature.txt", "feature\n", 0o644)
	f.two = commit("Add feature\n", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))

	must(t, wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("master")}))
	write("README.md", "version two\n", 0o644)
	f.three = commit("Second version of the README\n", f.threeTime)
	// The working copy differs from every commit: the export must not read it.
	must(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("uncommitted\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "untracked.txt"), []byte("x"), 0o644))
	return f
}

type entry struct {
	Mode    fs.FileMode
	Content string
}

func readZip(t *testing.T, store core.ArtifactStore, loc core.ArtifactLocation) map[string]entry {
	t.Helper()
	rc, err := store.OpenArtifact(t.Context(), loc)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	out := map[string]entry{}
	for _, f := range zr.File {
		r, err := f.Open()
		must(t, err)
		c, err := io.ReadAll(r)
		must(t, err)
		r.Close()
		out[f.Name] = entry{Mode: f.Mode(), Content: string(c)}
	}
	return out
}

func codestar(cfg map[string]string) pipeline.Action {
	return pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: "AWS", Provider: "CodeStarSourceConnection", Version: "1"},
		Configuration: cfg, OutputArtifacts: []pipeline.Artifact{{Name: "SourceOutput"}}}
}

func github(cfg map[string]string) pipeline.Action {
	return pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: "ThirdParty", Provider: "GitHub", Version: "1"},
		Configuration: cfg, OutputArtifacts: []pipeline.Artifact{{Name: "SourceOutput"}}}
}

func TestRun(t *testing.T) {
	f := newRepo(t)
	const arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/abc"
	v1 := map[string]entry{
		"README.md":  {0o644, "version one\n"},
		"bin/run.sh": {0o755, "#!/bin/sh\necho run\n"},
		"link":       {fs.ModeSymlink | 0o777, "README.md"},
	}
	v3 := map[string]entry{
		"README.md":  {0o644, "version two\n"},
		"bin/run.sh": {0o755, "#!/bin/sh\necho run\n"},
		"link":       {fs.ModeSymlink | 0o777, "README.md"},
	}
	feature := map[string]entry{
		"README.md":   {0o644, "version one\n"},
		"bin/run.sh":  {0o755, "#!/bin/sh\necho run\n"},
		"link":        {fs.ModeSymlink | 0o777, "README.md"},
		"feature.txt": {0o644, "feature\n"},
	}
	url := func(h plumbing.Hash) string { return "https://github.com/acme/app/commit/" + h.String() }

	tests := []struct {
		name        string
		declared    pipeline.Action
		revisions   []core.SourceRevision
		wantFiles   map[string]entry
		wantVars    map[string]string
		wantRev     core.SourceRevision
		wantSummary string
	}{
		{
			name:      "codestar head of master",
			declared:  codestar(map[string]string{"ConnectionArn": arn, "FullRepositoryId": "acme/app", "BranchName": "master"}),
			wantFiles: v3,
			wantVars: map[string]string{"AuthorDate": "2026-03-03T10:00:00Z", "BranchName": "master", "CommitId": f.three.String(),
				"CommitMessage": "Second version of the README", "ConnectionArn": arn, "FullRepositoryName": "acme/app"},
			wantRev:     core.SourceRevision{RevisionID: f.three.String(), RevisionSummary: "Second version of the README", RevisionURL: url(f.three)},
			wantSummary: "head of master",
		},
		{
			name:      "codestar head of another branch",
			declared:  codestar(map[string]string{"ConnectionArn": arn, "FullRepositoryId": "acme/app", "BranchName": "feature"}),
			wantFiles: feature,
			wantVars: map[string]string{"AuthorDate": "2026-03-02T10:00:00Z", "BranchName": "feature", "CommitId": f.two.String(),
				"CommitMessage": "Add feature", "ConnectionArn": arn, "FullRepositoryName": "acme/app"},
			wantRev: core.SourceRevision{RevisionID: f.two.String(), RevisionSummary: "Add feature", RevisionURL: url(f.two)},
		},
		{
			name:     "the execution's revision wins over the branch head",
			declared: codestar(map[string]string{"ConnectionArn": arn, "FullRepositoryId": "acme/app", "BranchName": "master"}),
			revisions: []core.SourceRevision{
				{ActionName: "Other", RevisionID: f.two.String()},
				{ActionName: "Source", RevisionID: f.one.String()},
			},
			wantFiles: v1,
			wantVars: map[string]string{"AuthorDate": "2026-03-01T10:00:00Z", "BranchName": "master", "CommitId": f.one.String(),
				"CommitMessage": "First commit\n\nWith a body.", "ConnectionArn": arn, "FullRepositoryName": "acme/app"},
			wantRev:     core.SourceRevision{RevisionID: f.one.String(), RevisionSummary: "First commit", RevisionURL: url(f.one)},
			wantSummary: "revision of the execution",
		},
		{
			name:      "clone ref exports the tree and says so",
			declared:  codestar(map[string]string{"ConnectionArn": arn, "FullRepositoryId": "acme/app", "BranchName": "master", "OutputArtifactFormat": "CODEBUILD_CLONE_REF"}),
			wantFiles: v3,
			wantVars: map[string]string{"AuthorDate": "2026-03-03T10:00:00Z", "BranchName": "master", "CommitId": f.three.String(),
				"CommitMessage": "Second version of the README", "ConnectionArn": arn, "FullRepositoryName": "acme/app"},
			wantRev:     core.SourceRevision{RevisionID: f.three.String(), RevisionSummary: "Second version of the README", RevisionURL: url(f.three)},
			wantSummary: "full copy",
		},
		{
			name:      "github v1",
			declared:  github(map[string]string{"Owner": "acme", "Repo": "app", "Branch": "master", "OAuthToken": "****"}),
			wantFiles: v3,
			wantVars: map[string]string{"AuthorDate": "2026-03-03T10:00:00Z", "CommitterDate": "2026-03-03T10:00:00Z", "BranchName": "master",
				"CommitId": f.three.String(), "CommitMessage": "Second version of the README", "CommitUrl": url(f.three), "RepositoryName": "app"},
			wantRev: core.SourceRevision{RevisionID: f.three.String(), RevisionSummary: "Second version of the README", RevisionURL: url(f.three)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			src := New(store, map[string]string{"acme/app": f.dir}, nil)
			res, err := src.Run(t.Context(), job(tc.declared, tc.revisions))
			must(t, err)
			if res.Status != core.ActionSucceeded {
				t.Fatalf("got status %s (%+v), want Succeeded", res.Status, res.Error)
			}
			if len(res.OutputArtifacts) != 1 || res.OutputArtifacts[0].Name != "SourceOutput" {
				t.Fatalf("got output artifacts %+v, want one named SourceOutput", res.OutputArtifacts)
			}
			if diff := cmp.Diff(tc.wantFiles, readZip(t, store, res.OutputArtifacts[0].Location)); diff != "" {
				t.Errorf("artifact files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantVars, res.OutputVariables); diff != "" {
				t.Errorf("output variables (-want +got):\n%s", diff)
			}
			if res.Revision == nil {
				t.Fatal("got no revision")
			}
			if diff := cmp.Diff(tc.wantRev, *res.Revision); diff != "" {
				t.Errorf("revision (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.Summary, tc.wantSummary) {
				t.Errorf("got summary %q, want it to contain %q", res.Summary, tc.wantSummary)
			}
			if res.ExternalURL != tc.wantRev.RevisionURL {
				t.Errorf("got external URL %q, want %q", res.ExternalURL, tc.wantRev.RevisionURL)
			}
		})
	}
}

func TestRunFails(t *testing.T) {
	f := newRepo(t)
	tests := []struct {
		name      string
		declared  pipeline.Action
		revisions []core.SourceRevision
		wantCode  string
		wantMsg   string
	}{
		{"unmapped repository", codestar(map[string]string{"FullRepositoryId": "acme/other", "BranchName": "master"}),
			nil, "ConfigurationError", "--repo acme/other=PATH"},
		{"unmapped github v1 repository", github(map[string]string{"Owner": "acme", "Repo": "other", "Branch": "master"}),
			nil, "ConfigurationError", "--repo acme/other=PATH"},
		{"unknown branch", codestar(map[string]string{"FullRepositoryId": "acme/app", "BranchName": "nope"}),
			nil, "RevisionUnavailable", "branch nope not found"},
		{"unknown revision", codestar(map[string]string{"FullRepositoryId": "acme/app", "BranchName": "master"}),
			[]core.SourceRevision{{ActionName: "Source", RevisionID: strings.Repeat("ab", 20)}}, "RevisionUnavailable", "revision abab"},
		{"bad format", codestar(map[string]string{"FullRepositoryId": "acme/app", "BranchName": "master", "OutputArtifactFormat": "TAR"}),
			nil, "ConfigurationError", "OutputArtifactFormat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			src := New(store, map[string]string{"acme/app": f.dir}, nil)
			res, err := src.Run(t.Context(), job(tc.declared, tc.revisions))
			must(t, err)
			if res.Status != core.ActionFailed || res.Error == nil {
				t.Fatalf("got status %s, error %+v; want Failed with details", res.Status, res.Error)
			}
			if res.Error.Code != tc.wantCode || !strings.Contains(res.Error.Message, tc.wantMsg) {
				t.Errorf("got error %s %q, want %s containing %q", res.Error.Code, res.Error.Message, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestSameCommitSameZip: exporting one commit twice gives identical bytes (a retried
// action rewrites the same artifact).
func TestSameCommitSameZip(t *testing.T) {
	f := newRepo(t)
	store := newStore(t)
	src := New(store, map[string]string{"acme/app": f.dir}, nil)
	var got [][]byte
	for range 2 {
		res, err := src.Run(t.Context(), job(codestar(map[string]string{"FullRepositoryId": "acme/app", "BranchName": "master"}), nil))
		must(t, err)
		rc, err := store.OpenArtifact(t.Context(), res.OutputArtifacts[0].Location)
		must(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		got = append(got, b)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Errorf("two exports of one commit differ (%d and %d bytes)", len(got[0]), len(got[1]))
	}
}

func job(declared pipeline.Action, revisions []core.SourceRevision) action.Job {
	return action.Job{
		Execution: core.Execution{PipelineName: "app", ID: "e1", SourceRevisions: revisions},
		Stage:     "Source",
		Declared:  declared,
		Record: core.ActionExecution{ID: "a1", PipelineName: "app", ExecutionID: "e1", StageName: "Source",
			ActionName: declared.Name, Configuration: declared.Configuration},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T) *fileartifact.Store {
	t.Helper()
	s, err := fileartifact.New(t.TempDir())
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}
