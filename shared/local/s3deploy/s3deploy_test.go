package s3deploy

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/fileartifact"
)

type zentry struct {
	name    string
	content string
	mode    fs.FileMode
}

func zipOf(t *testing.T, entries ...zentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		must(t, err)
		_, err = io.WriteString(w, e.content)
		must(t, err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

type file struct {
	Content string
	Mode    fs.FileMode
}

// tree lists the files under dir.
func tree(t *testing.T, dir string) map[string]file {
	t.Helper()
	out := map[string]file{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		var content string
		if info.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			content = "-> " + l
		} else {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		out[filepath.ToSlash(rel)] = file{content, info.Mode()}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func TestRun(t *testing.T) {
	site := zipOf(t,
		zentry{name: "index.html", content: "<h1>hi</h1>"},
		zentry{name: "assets/", mode: fs.ModeDir | 0o755},
		zentry{name: "assets/app.js", content: "run()"},
		zentry{name: "bin/tool", content: "#!/bin/sh\n", mode: 0o755},
		zentry{name: "latest", content: "index.html", mode: fs.ModeSymlink | 0o777},
	)
	tests := []struct {
		name        string
		cfg         map[string]string
		existing    map[string]string
		want        map[string]file
		wantSummary []string
	}{
		{
			name:     "extract at the bucket root, keeping other files",
			cfg:      map[string]string{"BucketName": "www", "Extract": "true"},
			existing: map[string]string{"old.txt": "stays", "index.html": "replaced"},
			want: map[string]file{
				"old.txt":       {"stays", 0o644},
				"index.html":    {"<h1>hi</h1>", 0o644},
				"assets/app.js": {"run()", 0o644},
				"bin/tool":      {"#!/bin/sh\n", 0o755},
				"latest":        {"index.html", 0o644},
			},
			wantSummary: []string{"Extracted 4 files", "s3://www/"},
		},
		{
			name: "extract under a prefix, with the options recorded",
			cfg: map[string]string{"BucketName": "www", "Extract": "true", "ObjectKey": "v2/",
				"CannedACL": "public-read", "CacheControl": "max-age=60", "KMSEncryptionKeyARN": "arn:aws:kms:us-east-1:1:key/k"},
			want: map[string]file{
				"v2/index.html":    {"<h1>hi</h1>", 0o644},
				"v2/assets/app.js": {"run()", 0o644},
				"v2/bin/tool":      {"#!/bin/sh\n", 0o755},
				"v2/latest":        {"index.html", 0o644},
			},
			wantSummary: []string{"Extracted 4 files", "s3://www/v2/", "CannedACL public-read", "CacheControl max-age=60", "KMSEncryptionKeyARN arn:aws:kms", "no meaning"},
		},
		{
			name:        "copy the zip as the object key",
			cfg:         map[string]string{"BucketName": "releases", "Extract": "false", "ObjectKey": "app/site.zip"},
			want:        map[string]file{"app/site.zip": {string(site), 0o644}},
			wantSummary: []string{"Copied Site to s3://releases/app/site.zip"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			bucket := filepath.Join(root, tc.cfg["BucketName"])
			for n, c := range tc.existing {
				must(t, os.MkdirAll(bucket, 0o755))
				must(t, os.WriteFile(filepath.Join(bucket, n), []byte(c), 0o644))
			}
			store := newStore(t)
			res, err := New(store, root, nil).Run(t.Context(), job(t, store, tc.cfg, site))
			must(t, err)
			if res.Status != core.ActionSucceeded {
				t.Fatalf("got %s (%+v), want Succeeded", res.Status, res.Error)
			}
			if diff := cmp.Diff(tc.want, tree(t, bucket)); diff != "" {
				t.Errorf("bucket folder (-want +got):\n%s", diff)
			}
			for _, w := range tc.wantSummary {
				if !strings.Contains(res.Summary, w) {
					t.Errorf("got summary %q, want it to contain %q", res.Summary, w)
				}
			}
		})
	}
}

func TestRefused(t *testing.T) {
	good := zentry{name: "index.html", content: "ok"}
	tests := []struct {
		name     string
		cfg      map[string]string
		artifact []byte
		wantCode string
		wantMsg  string
	}{
		{"zip-slip", map[string]string{"BucketName": "www", "Extract": "true"}, zipOf(t, good, zentry{name: "../../evil.txt", content: "x"}), "JobFailed", `"../../evil.txt"`},
		{"zip-slip under a prefix", map[string]string{"BucketName": "www", "Extract": "true", "ObjectKey": "a/b"}, zipOf(t, good, zentry{name: "x/../../../../evil.txt", content: "x"}), "JobFailed", "outside the bucket folder"},
		{"absolute entry", map[string]string{"BucketName": "www", "Extract": "true"}, zipOf(t, good, zentry{name: "/tmp/evil.txt", content: "x"}), "JobFailed", "outside the bucket folder"},
		{"backslash climb", map[string]string{"BucketName": "www", "Extract": "true"}, zipOf(t, good, zentry{name: `..\evil.txt`, content: "x"}), "JobFailed", "outside the bucket folder"},
		{"not a zip", map[string]string{"BucketName": "www", "Extract": "true"}, []byte("plain text"), "JobFailed", "not a zip"},
		{"object key climbs", map[string]string{"BucketName": "www", "Extract": "false", "ObjectKey": "../x.zip"}, zipOf(t, good), "ConfigurationError", "would leave"},
		{"copy without object key", map[string]string{"BucketName": "www", "Extract": "false"}, zipOf(t, good), "ConfigurationError", "ObjectKey must name a file"},
		{"bucket climbs", map[string]string{"BucketName": "..", "Extract": "true"}, zipOf(t, good), "ConfigurationError", "BucketName"},
		{"extract not a boolean", map[string]string{"BucketName": "www", "Extract": "yes"}, zipOf(t, good), "ConfigurationError", "Extract"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "data")
			must(t, os.MkdirAll(root, 0o755))
			store := newStore(t)
			res, err := New(store, root, nil).Run(t.Context(), job(t, store, tc.cfg, tc.artifact))
			must(t, err)
			if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != tc.wantCode || !strings.Contains(res.Error.Message, tc.wantMsg) {
				t.Errorf("got %s %+v, want Failed %s containing %q", res.Status, res.Error, tc.wantCode, tc.wantMsg)
			}
			// Nothing deployed, nothing written around the data root.
			if got := tree(t, filepath.Dir(root)); len(got) != 0 {
				t.Errorf("files written: %v", got)
			}
		})
	}
}

// TestSymlinkInBucketNotFollowed: a symlink already in the bucket folder does not lead
// writes out of it.
func TestSymlinkInBucketNotFollowed(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "data"), filepath.Join(base, "outside")
	must(t, os.MkdirAll(filepath.Join(root, "www"), 0o755))
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.Symlink(outside, filepath.Join(root, "www", "out")))
	for _, cfg := range []map[string]string{
		{"BucketName": "www", "Extract": "true", "ObjectKey": "out"},
		{"BucketName": "www", "Extract": "true"}, // entry out/index.html
		{"BucketName": "www", "Extract": "false", "ObjectKey": "out/site.zip"},
	} {
		store := newStore(t)
		art := zipOf(t, zentry{name: "index.html", content: "x"}, zentry{name: "out/index.html", content: "x"})
		res, err := New(store, root, nil).Run(t.Context(), job(t, store, cfg, art))
		if err == nil && res.Status != core.ActionFailed {
			t.Errorf("%v: got %s, want the deploy refused", cfg, res.Status)
		}
		if got := tree(t, outside); len(got) != 0 {
			t.Errorf("%v: files written outside the bucket through its symlink: %v", cfg, got)
		}
	}
}

func job(t *testing.T, store core.ArtifactStore, cfg map[string]string, artifact []byte) action.Job {
	t.Helper()
	loc, err := store.PutArtifact(t.Context(), "app", "e1", "Site", bytes.NewReader(artifact))
	must(t, err)
	return action.Job{
		Execution: core.Execution{PipelineName: "app", ID: "e1"},
		Stage:     "Deploy",
		Record: core.ActionExecution{ID: "a1", PipelineName: "app", ExecutionID: "e1", StageName: "Deploy", ActionName: "Deploy",
			Configuration: cfg, InputArtifacts: []core.Artifact{{Name: "Site", Location: loc}}},
	}
}

func newStore(t *testing.T) *fileartifact.Store {
	t.Helper()
	s, err := fileartifact.New(t.TempDir())
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
