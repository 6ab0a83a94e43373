// Package githubsource runs the git Source actions (CodeStarSourceConnection, and GitHub
// version 1) on AWS through GitHub's REST API: the commit the execution names for the
// action (or the head of its branch) is read with GET /repos/{owner}/{repo}/commits/{ref},
// its archive is downloaded with GET /repos/{owner}/{repo}/zipball/{sha} (following
// GitHub's redirect to its download host), and the archive is written to the artifact
// store as a zip of the commit's files without the top-level folder GitHub puts them in
// — the same artifact, output variables, revision and summary as the local twin
// (shared/local/gitsource).
//
// The archive is spooled to a temporary file (a zip is read from its end) and re-zipped
// entry by entry without decompressing: entries keep GitHub's modes, times and
// compressed bytes. The token goes to GitHub's API only: the Authorization header is
// dropped on a redirect to any other host or port, and errors never carry the
// redirect's URL, which holds a short-lived download token.
package githubsource

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Providers names the action types this package runs, as action.ProviderKey spells them.
var Providers = []string{
	pipeline.CategorySource + "/" + pipeline.OwnerAWS + "/CodeStarSourceConnection",
	pipeline.CategorySource + "/" + pipeline.OwnerThirdParty + "/GitHub",
}

// DefaultAPIURL is GitHub's REST API.
const DefaultAPIURL = "https://api.github.com"

// Output artifact formats of CodeStarSourceConnection.
const (
	FormatZip      = "CODE_ZIP"
	FormatCloneRef = "CODEBUILD_CLONE_REF"
)

// Deps are what the Source needs.
type Deps struct {
	Artifacts core.ArtifactStore
	// Token authenticates to GitHub's API (a fine-grained token with contents:read on
	// the repositories, or an app installation token); a GitHub v1 action's own
	// OAuthToken, when its configuration holds a real one, is used instead. "" reads
	// public repositories only.
	Token string
	// APIURL is GitHub's REST API; "" is DefaultAPIURL (set it for GitHub Enterprise).
	APIURL string
	// HTTPClient sends the requests (a copy, whose redirects never carry the token to
	// another host); nil is a client with a 5 minute timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Source runs git Source actions against GitHub. It is safe for concurrent use.
type Source struct{ d Deps }

var _ action.Provider = (*Source)(nil)

// New returns a Source over d.
func New(d Deps) *Source {
	if d.APIURL == "" {
		d.APIURL = DefaultAPIURL
	}
	d.APIURL = strings.TrimRight(d.APIURL, "/")
	c := http.Client{Timeout: 5 * time.Minute}
	if d.HTTPClient != nil {
		c = *d.HTTPClient
	}
	c.CheckRedirect = dropTokenOnRedirect
	d.HTTPClient = &c
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Source{d: d}
}

// dropTokenOnRedirect keeps the token from any host but the API's, ports included (Go
// drops it only for another host name).
func dropTokenOnRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		req.Header.Del("Authorization")
	}
	return nil
}

// String hides the token.
func (s *Source) String() string { return "githubsource.Source(" + s.d.APIURL + ")" }

// spec is what one action asks for, read from its configuration.
type spec struct {
	provider string // CodeStarSourceConnection or GitHub
	repo     string // owner/name
	branch   string
	format   string
	conn     string // ConnectionArn
	token    string // GitHub v1's OAuthToken, when the configuration holds one
}

func readSpec(job action.Job) (spec, error) {
	cfg := job.Record.Configuration
	s := spec{provider: job.Declared.ActionTypeID.Provider}
	switch s.provider {
	case "CodeStarSourceConnection":
		s.repo, s.branch, s.conn = cfg["FullRepositoryId"], cfg["BranchName"], cfg["ConnectionArn"]
		s.format = cfg["OutputArtifactFormat"]
		if s.repo == "" {
			return s, errors.New("configuration FullRepositoryId is required")
		}
	case "GitHub":
		if cfg["Owner"] == "" || cfg["Repo"] == "" {
			return s, errors.New("configuration Owner and Repo are required")
		}
		s.repo, s.branch = cfg["Owner"]+"/"+cfg["Repo"], cfg["Branch"]
		// A masked value ("****", as GetPipeline shows it) or an unresolved dynamic
		// reference is not a token: the Source's own token is used instead.
		if t := cfg["OAuthToken"]; t != "" && strings.Trim(t, "*") != "" && !strings.HasPrefix(t, "{{") {
			s.token = t
		}
	default:
		return s, fmt.Errorf("provider %s is not a git source", s.provider)
	}
	if owner, name, ok := strings.Cut(s.repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return s, fmt.Errorf("repository %q is not owner/name", s.repo)
	}
	if s.format == "" {
		s.format = FormatZip
	}
	if s.format != FormatZip && s.format != FormatCloneRef {
		return s, fmt.Errorf("configuration OutputArtifactFormat %q is neither %s nor %s", s.format, FormatZip, FormatCloneRef)
	}
	return s, nil
}

// commit is the part of GitHub's commit object Run reads.
type commit struct {
	SHA     string `json:"sha"`
	HTMLURL string `json:"html_url"`
	Commit  struct {
		Message string `json:"message"`
		Author  struct {
			Date time.Time `json:"date"`
		} `json:"author"`
		Committer struct {
			Date time.Time `json:"date"`
		} `json:"committer"`
	} `json:"commit"`
}

// Run exports the commit and reports it. Running it again for the same action
// execution writes the same artifact again.
func (s *Source) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	logger := s.d.Logger.With("pipeline", rec.PipelineName, "execution_id", rec.ExecutionID, "stage", job.Stage, "action", rec.ActionName)
	sp, err := readSpec(job)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	if len(job.Declared.OutputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("a source action has exactly one output artifact; %s declares %d", rec.ActionName, len(job.Declared.OutputArtifacts))), nil
	}
	ref, how := "", ""
	if i := slices.IndexFunc(job.Execution.SourceRevisions, func(r core.SourceRevision) bool {
		return r.ActionName == rec.ActionName && r.RevisionID != ""
	}); i >= 0 {
		ref, how = job.Execution.SourceRevisions[i].RevisionID, "revision of the execution"
	} else if sp.branch != "" {
		ref, how = sp.branch, "head of "+sp.branch
	} else {
		return action.Failed("RevisionUnavailable", fmt.Errorf("repository %s: no branch configured and no revision named by the execution", sp.repo)), nil
	}

	var c commit
	token := s.d.Token
	if sp.token != "" {
		token = sp.token
	}
	if err := s.getJSON(ctx, token, "/repos/"+sp.repo+"/commits/"+escapeRef(ref), &c); err != nil {
		var se *StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusUnprocessableEntity) {
			return action.Failed("RevisionUnavailable", fmt.Errorf("repository %s: commit %s: %w", sp.repo, ref, err)), nil
		}
		return action.Result{}, fmt.Errorf("read commit %s of %s: %w", ref, sp.repo, err)
	}
	if c.SHA == "" {
		return action.Result{}, fmt.Errorf("read commit %s of %s: GitHub answered no sha", ref, sp.repo)
	}

	tmp, err := os.CreateTemp("", "relais-zipball-*.zip")
	if err != nil {
		return action.Result{}, fmt.Errorf("spool archive of %s: %w", sp.repo, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := s.download(ctx, token, "/repos/"+sp.repo+"/zipball/"+c.SHA, tmp)
	if err != nil {
		return action.Result{}, fmt.Errorf("download archive of %s at %s: %w", sp.repo, c.SHA, err)
	}
	zr, err := zip.NewReader(tmp, size)
	if err != nil {
		return action.Result{}, fmt.Errorf("archive of %s at %s is not a zip: %w", sp.repo, c.SHA, err)
	}

	name := job.Declared.OutputArtifacts[0].Name
	pr, pw := io.Pipe()
	files := make(chan int, 1)
	go func() {
		n, err := rezip(pw, zr)
		files <- n
		pw.CloseWithError(err)
	}()
	loc, err := s.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, pr)
	pr.CloseWithError(errors.New("artifact store stopped reading")) // ends the writer if the store gave up early
	n := <-files
	if err != nil {
		return action.Result{}, fmt.Errorf("export commit %s of %s as artifact %s: %w", c.SHA, sp.repo, name, err)
	}

	commitURL := c.HTMLURL
	if commitURL == "" {
		commitURL = "https://github.com/" + sp.repo + "/commit/" + c.SHA
	}
	summary := fmt.Sprintf("%s %s (%s): %d files from GitHub", sp.repo, short(c.SHA), how, n)
	if sp.format == FormatCloneRef {
		summary += "; CODEBUILD_CLONE_REF: the artifact is the commit's files, not a git clone reference"
	}
	logger.InfoContext(ctx, "source exported", "repository", sp.repo, "commit", c.SHA, "files", n)
	return action.Result{
		Status:          core.ActionSucceeded,
		OutputArtifacts: []core.Artifact{{Name: name, Location: loc}},
		OutputVariables: variables(sp, c, commitURL),
		Summary:         summary,
		ExternalID:      c.SHA,
		ExternalURL:     commitURL,
		Revision:        &core.SourceRevision{RevisionID: c.SHA, RevisionSummary: firstLine(c.Commit.Message), RevisionURL: commitURL},
	}, nil
}

// escapeRef escapes each segment of a ref, keeping the slashes of branch names.
func escapeRef(ref string) string {
	segs := strings.Split(ref, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// rezip copies the files of GitHub's archive to w without its top-level folder
// ("owner-repo-sha/"), compressed bytes as they are, and returns how many it wrote.
func rezip(w io.Writer, zr *zip.Reader) (int, error) {
	zw := zip.NewWriter(w)
	n := 0
	for _, f := range zr.File {
		_, rest, ok := strings.Cut(f.Name, "/")
		if !ok {
			return n, fmt.Errorf("entry %q is not under the archive's top-level folder", f.Name)
		}
		if rest == "" || strings.HasSuffix(rest, "/") || f.Mode().IsDir() {
			continue // folders: the artifact holds files, as the local twin's does
		}
		raw, err := f.OpenRaw()
		if err != nil {
			return n, fmt.Errorf("entry %s: %w", f.Name, err)
		}
		h := f.FileHeader
		h.Name = rest
		out, err := zw.CreateRaw(&h)
		if err != nil {
			return n, fmt.Errorf("zip %s: %w", rest, err)
		}
		if _, err := io.Copy(out, raw); err != nil {
			return n, fmt.Errorf("zip %s: %w", rest, err)
		}
		n++
	}
	if err := zw.Close(); err != nil {
		return n, fmt.Errorf("finish zip: %w", err)
	}
	return n, nil
}

// StatusError is an answer of GitHub other than the one asked for.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("GitHub answered %d", e.Code)
	}
	return fmt.Sprintf("GitHub answered %d: %s", e.Code, e.Message)
}

// get sends GET path to the API and returns the response when it is 200 OK.
func (s *Source) get(ctx context.Context, token, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.d.APIURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "relais")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.d.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err // a redirect's URL holds a download token
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var m struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&m)
		if len(m.Message) > 200 {
			m.Message = m.Message[:200] + "…"
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: m.Message}
	}
	return resp, nil
}

func (s *Source) getJSON(ctx context.Context, token, path string, out any) error {
	resp, err := s.get(ctx, token, path, "application/vnd.github+json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func (s *Source) download(ctx context.Context, token, path string, w io.Writer) (int64, error) {
	resp, err := s.get(ctx, token, path, "application/vnd.github+json")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return n, fmt.Errorf("read archive: %w", err)
	}
	return n, nil
}

// variables are the output variables CodePipeline documents for the provider, as the
// local twin sets them.
func variables(sp spec, c commit, commitURL string) map[string]string {
	v := map[string]string{
		"AuthorDate":    iso(c.Commit.Author.Date),
		"BranchName":    sp.branch,
		"CommitId":      c.SHA,
		"CommitMessage": strings.TrimRight(c.Commit.Message, "\n"),
	}
	switch sp.provider {
	case "CodeStarSourceConnection":
		v["ConnectionArn"] = sp.conn
		v["FullRepositoryName"] = sp.repo
	case "GitHub":
		v["CommitterDate"] = iso(c.Commit.Committer.Date)
		v["CommitUrl"] = commitURL
		v["RepositoryName"] = sp.repo[strings.Index(sp.repo, "/")+1:]
	}
	return v
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func short(id string) string {
	if len(id) > 7 {
		return id[:7]
	}
	return id
}
