package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultAPIURL is GitHub's REST API.
const DefaultAPIURL = "https://api.github.com"

// EnvGitHubToken is the environment variable that may hold the GitHub token.
const EnvGitHubToken = "RELAIS_GITHUB_TOKEN"

// LoadToken reads a GitHub token from a file (surrounding space trimmed) or, when path
// is "", from RELAIS_GITHUB_TOKEN. "" with no error means no token: no commit
// statuses, and no changed files beyond what deliveries list.
func LoadToken(path string) (string, error) {
	if path == "" {
		return strings.TrimSpace(os.Getenv(EnvGitHubToken)), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read GitHub token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// GitHub is a small client of GitHub's REST API: the compare endpoint (changed files of
// a push or pull request) and commit statuses. It holds a token: its String never shows
// it, and neither do its errors.
type GitHub struct {
	base   string
	token  string
	client *http.Client
}

// NewGitHub returns a client of the API at baseURL (DefaultAPIURL when "") that
// authenticates with token. client may be nil (a client with a 10 s timeout).
func NewGitHub(baseURL, token string, client *http.Client) *GitHub {
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &GitHub{base: strings.TrimRight(baseURL, "/"), token: token, client: client}
}

// String hides the token.
func (g *GitHub) String() string { return "webhook.GitHub(" + g.base + ")" }

// maxCompareFiles is how many files the compare endpoint lists at most; a response
// listing that many may be incomplete.
const maxCompareFiles = 300

// ChangedFiles returns the paths that differ between base and head in repo (owner/name),
// through GET /repos/{owner}/{repo}/compare/{base}...{head}; renamed files count under
// both names. complete is false when GitHub may have listed only part of them.
func (g *GitHub) ChangedFiles(ctx context.Context, repo, base, head string) (files []string, complete bool, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, false, fmt.Errorf("compare %s: repository is not owner/name", repo)
	}
	u := fmt.Sprintf("%s/repos/%s/%s/compare/%s...%s", g.base, url.PathEscape(owner), url.PathEscape(name),
		url.PathEscape(base), url.PathEscape(head))
	var out struct {
		Files []struct {
			Filename         string `json:"filename"`
			PreviousFilename string `json:"previous_filename"`
		} `json:"files"`
	}
	if err := g.do(ctx, http.MethodGet, u, nil, http.StatusOK, &out); err != nil {
		return nil, false, fmt.Errorf("compare %s %.7s...%.7s: %w", repo, base, head, err)
	}
	for _, f := range out.Files {
		files = append(files, f.Filename)
		if f.PreviousFilename != "" {
			files = append(files, f.PreviousFilename)
		}
	}
	return files, len(out.Files) < maxCompareFiles, nil
}

// CommitStatus is the body of POST /repos/{owner}/{repo}/statuses/{sha}.
type CommitStatus struct {
	State       string `json:"state"` // pending, success, failure or error
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

// PostStatus creates a commit status on sha in repo (owner/name).
func (g *GitHub) PostStatus(ctx context.Context, repo, sha string, st CommitStatus) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return fmt.Errorf("post status on %s: repository is not owner/name", repo)
	}
	u := fmt.Sprintf("%s/repos/%s/%s/statuses/%s", g.base, url.PathEscape(owner), url.PathEscape(name), url.PathEscape(sha))
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("post status on %s@%.7s: %w", repo, sha, err)
	}
	if err := g.do(ctx, http.MethodPost, u, b, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("post status %s on %s@%.7s: %w", st.State, repo, sha, err)
	}
	return nil
}

// StatusError is a GitHub API answer other than the one expected.
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

// Temporary reports whether trying again may succeed (rate limits, server errors).
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusForbidden || e.Code >= 500
}

func (g *GitHub) do(ctx context.Context, method, u string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "relais")
	if g.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // the URL holds no secret, but keep messages short
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != want {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &m)
		return &StatusError{Code: resp.StatusCode, Message: truncate(m.Message, 200)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// truncate shortens s to at most n bytes and an ellipsis, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
