package githubsource

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/pipeline"
)

const (
	sha   = "0123456789abcdef0123456789abcdef01234567"
	token = "ghp_secret"
)

// fakeGitHub serves one repository's commit and archive; the archive is redirected to a
// second server, as api.github.com redirects to codeload.github.com.
type fakeGitHub struct {
	api, codeload *httptest.Server
	archive       []byte

	mu          sync.Mutex
	apiAuth     []string // Authorization of each API request
	codeAuth    []string // Authorization of each download
	commitPaths []string
}

func newFakeGitHub(t *testing.T, archive []byte) *fakeGitHub {
	f := &fakeGitHub{archive: archive}
	f.codeload = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.codeAuth = append(f.codeAuth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if r.URL.Query().Get("token") != "dl" {
			http.Error(w, "no download token", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Write(f.archive)
	}))
	t.Cleanup(f.codeload.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/acme/web/commits/{ref...}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.commitPaths = append(f.commitPaths, r.URL.EscapedPath())
		f.mu.Unlock()
		switch r.PathValue("ref") {
		case "main", "feature/x", sha:
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"message":"No commit found for SHA: `+r.PathValue("ref")+`"}`)
			return
		}
		io.WriteString(w, `{"sha":"`+sha+`","html_url":"https://github.com/acme/web/commit/`+sha+`",
			"commit":{"message":"Add the home page\n\nWith a title.\n",
			"author":{"date":"2026-11-25T10:00:00Z"},"committer":{"date":"2026-11-25T11:30:00+01:00"}}}`)
	})
	mux.HandleFunc("GET /repos/acme/web/zipball/{sha}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.codeload.URL+"/acme/web/legacy.zip/"+r.PathValue("sha")+"?token=dl", http.StatusFound)
	})
	f.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.apiAuth = append(f.apiAuth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.api.Close)
	return f
}

// zipball is an archive as GitHub makes it: everything under owner-repo-sha/, folders
// included.
func zipball(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	top := "acme-web-0123456/"
	add := func(name, body string, exec bool) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := 0o644
		if exec {
			mode = 0o755
		}
		if strings.HasSuffix(name, "/") {
			mode = 0o755 | int(1<<31) // fs.ModeDir
		}
		h.SetMode(modeOf(mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	add(top, "", false)
	add(top+"index.html", "<h1>hi</h1>", false)
	add(top+"scripts/", "", false)
	add(top+"scripts/build.sh", "#!/bin/sh\necho ok\n", true)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func job(provider string, cfg map[string]string, revs ...core.SourceRevision) action.Job {
	owner := pipeline.OwnerAWS
	if provider == "GitHub" {
		owner = pipeline.OwnerThirdParty
	}
	return action.Job{
		Execution: core.Execution{ID: "exec-1", PipelineName: "web", SourceRevisions: revs},
		Stage:     "Source",
		Declared: pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: owner, Provider: provider, Version: "1"},
			OutputArtifacts: []pipeline.Artifact{{Name: "SourceOutput"}}},
		Record: core.ActionExecution{ID: "act-1", PipelineName: "web", ExecutionID: "exec-1", StageName: "Source", ActionName: "Source", Configuration: cfg},
	}
}

func newSource(t *testing.T, f *fakeGitHub) (*Source, *fileartifact.Store) {
	t.Helper()
	store, err := fileartifact.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return New(Deps{Artifacts: store, Token: token, APIURL: f.api.URL, Logger: slog.New(slog.DiscardHandler)}), store
}

func TestRunCodeStarSourceConnection(t *testing.T) {
	f := newFakeGitHub(t, zipball(t))
	src, store := newSource(t, f)
	cfg := map[string]string{"FullRepositoryId": "acme/web", "BranchName": "feature/x", "ConnectionArn": "arn:aws:codeconnections:eu-west-1:1:connection/c"}
	res, err := src.Run(t.Context(), job("CodeStarSourceConnection", cfg))
	if err != nil {
		t.Fatal(err)
	}
	commitURL := "https://github.com/acme/web/commit/" + sha
	want := action.Result{
		Status: core.ActionSucceeded,
		OutputVariables: map[string]string{
			"AuthorDate": "2026-11-25T10:00:00Z", "BranchName": "feature/x", "CommitId": sha,
			"CommitMessage": "Add the home page\n\nWith a title.", "ConnectionArn": cfg["ConnectionArn"], "FullRepositoryName": "acme/web",
		},
		Summary:     "acme/web 0123456 (head of feature/x): 2 files from GitHub",
		ExternalID:  sha,
		ExternalURL: commitURL,
		Revision:    &core.SourceRevision{RevisionID: sha, RevisionSummary: "Add the home page", RevisionURL: commitURL},
	}
	arts := res.OutputArtifacts
	res.OutputArtifacts = nil
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if len(arts) != 1 || arts[0].Name != "SourceOutput" {
		t.Fatalf("got output artifacts %+v, want SourceOutput", arts)
	}
	rc, err := store.OpenArtifact(t.Context(), arts[0].Location)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var names []string
	for _, zf := range zr.File {
		r, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		r.Close()
		got[zf.Name] = string(body)
		names = append(names, zf.Name)
		if zf.Name == "scripts/build.sh" && zf.Mode()&0o111 == 0 {
			t.Errorf("scripts/build.sh lost its executable bit: %v", zf.Mode())
		}
	}
	sort.Strings(names)
	if diff := cmp.Diff(map[string]string{"index.html": "<h1>hi</h1>", "scripts/build.sh": "#!/bin/sh\necho ok\n"}, got); diff != "" {
		t.Errorf("artifact files (-want +got):\n%s", diff)
	}
	// The token goes to the API, never to the download host.
	for _, a := range f.apiAuth {
		if a != "Bearer "+token {
			t.Errorf("got API Authorization %q, want the token", a)
		}
	}
	if diff := cmp.Diff([]string{""}, f.codeAuth); diff != "" {
		t.Errorf("download Authorization (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/repos/acme/web/commits/feature/x"}, f.commitPaths); diff != "" {
		t.Errorf("commit requests (-want +got):\n%s", diff)
	}
}

func TestRunGitHubRevisionOfExecution(t *testing.T) {
	f := newFakeGitHub(t, zipball(t))
	src, _ := newSource(t, f)
	cfg := map[string]string{"Owner": "acme", "Repo": "web", "Branch": "main"}
	res, err := src.Run(t.Context(), job("GitHub", cfg, core.SourceRevision{ActionName: "Source", RevisionID: sha}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"AuthorDate": "2026-11-25T10:00:00Z", "BranchName": "main", "CommitId": sha, "CommitMessage": "Add the home page\n\nWith a title.",
		"CommitterDate": "2026-11-25T10:30:00Z", "CommitUrl": "https://github.com/acme/web/commit/" + sha, "RepositoryName": "web",
	}
	if diff := cmp.Diff(want, res.OutputVariables); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Summary, "(revision of the execution)") {
		t.Errorf("got summary %q, want the execution's revision named", res.Summary)
	}
	if diff := cmp.Diff([]string{"/repos/acme/web/commits/" + sha}, f.commitPaths); diff != "" {
		t.Errorf("commit requests (-want +got):\n%s", diff)
	}
}

func TestRunFails(t *testing.T) {
	tests := []struct {
		name, provider string
		cfg            map[string]string
		wantCode, want string
	}{
		{"no repository", "CodeStarSourceConnection", map[string]string{"BranchName": "main"}, "ConfigurationError", "FullRepositoryId is required"},
		{"bad repository", "CodeStarSourceConnection", map[string]string{"FullRepositoryId": "acme"}, "ConfigurationError", "not owner/name"},
		{"bad format", "CodeStarSourceConnection", map[string]string{"FullRepositoryId": "acme/web", "BranchName": "main", "OutputArtifactFormat": "TAR"}, "ConfigurationError", "OutputArtifactFormat"},
		{"no branch", "CodeStarSourceConnection", map[string]string{"FullRepositoryId": "acme/web"}, "RevisionUnavailable", "no branch configured"},
		{"unknown branch", "GitHub", map[string]string{"Owner": "acme", "Repo": "web", "Branch": "gone"}, "RevisionUnavailable", "No commit found for SHA: gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGitHub(t, zipball(t))
			src, _ := newSource(t, f)
			res, err := src.Run(t.Context(), job(tt.provider, tt.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != tt.wantCode || !strings.Contains(res.Error.Message, tt.want) {
				t.Errorf("got %s %+v, want Failed %s with %q", res.Status, res.Error, tt.wantCode, tt.want)
			}
		})
	}
}

func TestRunErrorsHideToken(t *testing.T) {
	f := newFakeGitHub(t, []byte("not a zip"))
	src, _ := newSource(t, f)
	_, err := src.Run(t.Context(), job("GitHub", map[string]string{"Owner": "acme", "Repo": "web", "Branch": "main"}))
	if err == nil || !strings.Contains(err.Error(), "is not a zip") {
		t.Fatalf("got %v, want the archive refused", err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "token=dl") {
		t.Errorf("error %q shows a token", err)
	}
	if s := src.String(); strings.Contains(s, token) {
		t.Errorf("String %q shows the token", s)
	}
}

func modeOf(m int) fs.FileMode { return fs.FileMode(uint32(m)) }

func TestRunGitHubOAuthToken(t *testing.T) {
	for _, tt := range []struct{ configured, want string }{
		{"ghp_own", "Bearer ghp_own"},
		{"****", "Bearer " + token},
		{"{{resolve:secretsmanager:gh:SecretString:token}}", "Bearer " + token},
	} {
		t.Run(tt.configured, func(t *testing.T) {
			f := newFakeGitHub(t, zipball(t))
			src, _ := newSource(t, f)
			res, err := src.Run(t.Context(), job("GitHub", map[string]string{"Owner": "acme", "Repo": "web", "Branch": "main", "OAuthToken": tt.configured}))
			if err != nil || res.Status != core.ActionSucceeded {
				t.Fatalf("got %v %+v, want Succeeded", err, res.Error)
			}
			if diff := cmp.Diff([]string{tt.want, tt.want}, f.apiAuth); diff != "" {
				t.Errorf("API Authorization (-want +got):\n%s", diff)
			}
		})
	}
}
