package s3source

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/pipeline"
)

func TestRun(t *testing.T) {
	root := t.TempDir()
	content := []byte("PK\x03\x04 a zip, as far as this provider cares")
	other := []byte("PK\x03\x04 another zip")
	must(t, os.MkdirAll(filepath.Join(root, "releases", "app"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "releases", "app", "app.zip"), content, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "releases", "other.zip"), other, 0o644))
	sum := md5.Sum(content)

	t.Run("copies the object and reports it", func(t *testing.T) {
		store := newStore(t)
		res, err := New(store, root, nil).Run(t.Context(), job(map[string]string{"S3Bucket": "releases", "S3ObjectKey": "app/app.zip"}))
		must(t, err)
		if res.Status != core.ActionSucceeded {
			t.Fatalf("got status %s (%+v), want Succeeded", res.Status, res.Error)
		}
		if got := read(t, store, res.OutputArtifacts[0]); got != string(content) {
			t.Errorf("got artifact %q, want %q", got, content)
		}
		if res.OutputArtifacts[0].Name != "SourceOutput" {
			t.Errorf("got artifact name %q, want SourceOutput", res.OutputArtifacts[0].Name)
		}
		if got, want := res.OutputVariables["ETag"], hex.EncodeToString(sum[:]); got != want {
			t.Errorf("got ETag %q, want %q", got, want)
		}
		if got := res.OutputVariables["ObjectKey"]; got != "app/app.zip" {
			t.Errorf("got ObjectKey %q, want app/app.zip", got)
		}
		if v := res.OutputVariables["VersionId"]; len(v) != 32 || res.Revision == nil || res.Revision.RevisionID != v {
			t.Errorf("got VersionId %q and revision %+v, want 32 hex digits, also the revision id", v, res.Revision)
		}
		if !strings.Contains(res.Summary, "content hashes") {
			t.Errorf("got summary %q, want it to say the hashes stand in", res.Summary)
		}
	})

	t.Run("other content, other version", func(t *testing.T) {
		store := newStore(t)
		a, err := New(store, root, nil).Run(t.Context(), job(map[string]string{"S3Bucket": "releases", "S3ObjectKey": "app/app.zip"}))
		must(t, err)
		b, err := New(store, root, nil).Run(t.Context(), job(map[string]string{"S3Bucket": "releases", "S3ObjectKey": "other.zip"}))
		must(t, err)
		if a.OutputVariables["VersionId"] == b.OutputVariables["VersionId"] || a.OutputVariables["ETag"] == b.OutputVariables["ETag"] {
			t.Errorf("two contents gave the same ETag or VersionId: %v and %v", a.OutputVariables, b.OutputVariables)
		}
	})

	fails := []struct {
		name     string
		cfg      map[string]string
		wantCode string
		wantMsg  string
	}{
		{"missing object", map[string]string{"S3Bucket": "releases", "S3ObjectKey": "nope.zip"}, "RevisionUnavailable", filepath.Join(root, "releases", "nope.zip")},
		{"missing bucket", map[string]string{"S3Bucket": "nobucket", "S3ObjectKey": "app.zip"}, "RevisionUnavailable", "s3://nobucket/app.zip"},
		{"key is a folder", map[string]string{"S3Bucket": "releases", "S3ObjectKey": "app"}, "RevisionUnavailable", "is a folder"},
		{"key leaves the bucket", map[string]string{"S3Bucket": "releases", "S3ObjectKey": "../secrets.zip"}, "ConfigurationError", "would leave"},
		{"absolute key", map[string]string{"S3Bucket": "releases", "S3ObjectKey": "/etc/passwd"}, "ConfigurationError", "would leave"},
		{"bucket with a slash", map[string]string{"S3Bucket": "../x", "S3ObjectKey": "a.zip"}, "ConfigurationError", "cannot name a folder"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New(newStore(t), root, nil).Run(t.Context(), job(tc.cfg))
			must(t, err)
			if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != tc.wantCode || !strings.Contains(res.Error.Message, tc.wantMsg) {
				t.Errorf("got %s %+v, want Failed %s containing %q", res.Status, res.Error, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func job(cfg map[string]string) action.Job {
	d := pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: "AWS", Provider: "S3", Version: "1"},
		Configuration: cfg, OutputArtifacts: []pipeline.Artifact{{Name: "SourceOutput"}}}
	return action.Job{
		Execution: core.Execution{PipelineName: "app", ID: "e1"},
		Stage:     "Source",
		Declared:  d,
		Record:    core.ActionExecution{ID: "a1", PipelineName: "app", ExecutionID: "e1", StageName: "Source", ActionName: "Source", Configuration: cfg},
	}
}

func read(t *testing.T, store core.ArtifactStore, a core.Artifact) string {
	t.Helper()
	rc, err := store.OpenArtifact(t.Context(), a.Location)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return string(b)
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
