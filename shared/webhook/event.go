package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/relais-ci/relais/shared/pipeline"
)

// The parts of GitHub's payloads Relais reads. Unknown fields are ignored: GitHub adds
// fields without notice.

type repository struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
}

type gitUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username"`
}

type commit struct {
	ID      string  `json:"id"`
	Message string  `json:"message"`
	URL     string  `json:"url"`
	Author  gitUser `json:"author"`
	// The file lists stay raw until a file-path filter needs them: most deliveries
	// never read them, and they are most of a push's bytes.
	Added    json.RawMessage `json:"added"`
	Removed  json.RawMessage `json:"removed"`
	Modified json.RawMessage `json:"modified"`
}

type pushPayload struct {
	Ref        string      `json:"ref"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Created    bool        `json:"created"`
	Deleted    bool        `json:"deleted"`
	Forced     bool        `json:"forced"`
	Commits    []commit    `json:"commits"`
	HeadCommit *commit     `json:"head_commit"`
	Repository *repository `json:"repository"`
	Pusher     gitUser     `json:"pusher"`
	Sender     *struct {
		Login string `json:"login"`
	} `json:"sender"`
}

type prRef struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *repository `json:"repo"`
}

type pullRequestPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		HTMLURL string `json:"html_url"`
		Merged  bool   `json:"merged"`
		User    struct {
			Login string `json:"login"`
		} `json:"user"`
		Head prRef `json:"head"`
		Base prRef `json:"base"`
	} `json:"pull_request"`
	Changes *struct {
		Base *json.RawMessage `json:"base"`
	} `json:"changes"`
	Repository *repository `json:"repository"`
}

type pingPayload struct {
	HookID int64 `json:"hook_id"`
}

// GitHub truncates what a push lists: Relais treats a push listing this many commits, or
// this many changed files, as possibly incomplete.
const (
	maxListedCommits = 20
	maxListedFiles   = 3000
)

// zeroSHA is what GitHub sends as before for a created ref and after for a deleted one.
const zeroSHA = "0000000000000000000000000000000000000000"

// payload extracts the JSON payload from a body of the given content type: the body
// itself for application/json, its payload field for a form.
func payload(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil // GitHub always sends one; curl users may not
	}
	if err != nil {
		return nil, &unsupportedError{fmt.Sprintf("content type %q cannot be read", contentType)}
	}
	switch mt {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("form body cannot be decoded")
		}
		p, ok := form["payload"]
		if !ok || len(p) != 1 {
			return nil, errors.New("form body has no payload field")
		}
		return []byte(p[0]), nil
	}
	return nil, &unsupportedError{fmt.Sprintf("content type %s is neither application/json nor application/x-www-form-urlencoded", mt)}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

// decode unmarshals a payload, with a short reason when it is not a JSON object.
func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("payload is not valid JSON (offset %d)", se.Offset)
		case errors.As(err, &te) && te.Field == "":
			return errors.New("payload is not a JSON object")
		case errors.As(err, &te):
			return fmt.Errorf("payload field %s has the wrong type", te.Field)
		}
		return errors.New("payload is not valid JSON")
	}
	return nil
}

// change is what a push or pull-request delivery asks for, before matching.
type change struct {
	event  pipeline.GitEvent
	ignore string // why nothing starts, when set

	repo    string // owner/name
	ref     string // full ref (refs/heads/x, refs/tags/v1) or, for a pull request, its head branch
	sha     string // the commit to build
	base    string // the commit to compare against for changed files ("" when none)
	message string
	author  string // who pushed, or opened the pull request (a GitHub login)
	// commitAuthor is the head commit's author: GitHub login when GitHub knows it,
	// else the name in the commit.
	commitAuthor string
	url          string
	branch       string // the branch the revision is on (push to a branch; pull request head)
	action       string // pull_request action, or created/forced for a push
	pr           int
	prBase       string // the branch a pull request merges into
	truncate     string // why the files listed may be incomplete
	commits      []commit
}

// listedFiles returns the files the push's commits list as added, removed or modified;
// why says, when the list may be incomplete, why.
func (c *change) listedFiles() (files []string, why string) {
	seen := map[string]bool{}
	for _, cm := range c.commits {
		for _, raw := range []json.RawMessage{cm.Added, cm.Removed, cm.Modified} {
			var l []string
			if len(raw) == 0 || string(raw) == "null" {
				continue
			}
			if err := json.Unmarshal(raw, &l); err != nil {
				return nil, "a commit's file list cannot be read"
			}
			for _, f := range l {
				if !seen[f] {
					seen[f] = true
					files = append(files, f)
				}
			}
		}
	}
	if len(files) >= maxListedFiles {
		return nil, fmt.Sprintf("the push lists %d changed files, where GitHub may cut the list", len(files))
	}
	return files, ""
}

func parsePush(b []byte) (change, error) {
	var p pushPayload
	if err := decode(b, &p); err != nil {
		return change{}, err
	}
	if p.Repository == nil || p.Repository.FullName == "" {
		return change{}, errors.New("push payload has no repository.full_name")
	}
	if p.Ref == "" {
		return change{}, errors.New("push payload has no ref")
	}
	c := change{repo: p.Repository.FullName, ref: p.Ref, sha: p.After, author: p.Pusher.Name}
	if c.author == "" && p.Sender != nil {
		c.author = p.Sender.Login
	}
	switch {
	case p.Created && p.Forced:
		c.action = "created, forced"
	case p.Created:
		c.action = "created"
	case p.Forced:
		c.action = "forced"
	}
	c.event = pipeline.GitEvent{Kind: pipeline.Push, Repository: c.repo}
	switch {
	case strings.HasPrefix(p.Ref, "refs/heads/"):
		c.branch = strings.TrimPrefix(p.Ref, "refs/heads/")
		c.event.Branch = c.branch
	case strings.HasPrefix(p.Ref, "refs/tags/"):
		c.event.Tag = strings.TrimPrefix(p.Ref, "refs/tags/")
	default:
		c.ignore = "ref " + p.Ref + " is neither a branch nor a tag"
		return c, nil
	}
	if p.Deleted || p.After == zeroSHA {
		c.ignore = "ref " + p.Ref + " was deleted"
		return c, nil
	}
	if !isSHA(p.After) {
		return change{}, errors.New("push payload has no valid after commit")
	}
	if h := p.HeadCommit; h != nil {
		c.message, c.url = h.Message, h.URL
		c.commitAuthor = h.Author.Username
		if c.commitAuthor == "" {
			c.commitAuthor = h.Author.Name
		}
	}
	if c.url == "" || strings.Contains(c.url, "/compare/") {
		if p.Repository.HTMLURL != "" {
			c.url = p.Repository.HTMLURL + "/commit/" + p.After
		} else {
			c.url = "https://github.com/" + c.repo + "/commit/" + p.After
		}
	}
	if p.Before != "" && p.Before != zeroSHA && isSHA(p.Before) {
		c.base = p.Before
	}
	c.commits = p.Commits
	switch {
	case len(p.Commits) >= maxListedCommits:
		c.truncate = fmt.Sprintf("the push lists %d commits, where GitHub may cut the list", len(p.Commits))
	case len(p.Commits) == 0:
		// A created branch or tag, or a forced push back to an older commit: no commit
		// is new, so the payload says nothing of what the ref now holds.
		c.truncate = "the push lists no commits"
	}
	return c, nil
}

// prEvents maps pull_request actions to CodePipeline's pull-request events; an action
// not listed starts nothing (closed unmerged, labeled, assigned…).
func prEvent(p *pullRequestPayload) (string, bool) {
	switch p.Action {
	case "opened", "reopened":
		return pipeline.EventOpen, true
	case "synchronize":
		return pipeline.EventUpdated, true
	case "edited":
		// Only a change of the base branch changes what the pull request merges into.
		return pipeline.EventUpdated, p.Changes != nil && p.Changes.Base != nil
	case "closed":
		return pipeline.EventClosed, p.PullRequest.Merged
	}
	return "", false
}

func parsePullRequest(b []byte) (change, error) {
	var p pullRequestPayload
	if err := decode(b, &p); err != nil {
		return change{}, err
	}
	pr := p.PullRequest
	if pr == nil || p.Action == "" {
		return change{}, errors.New("pull_request payload has no action or pull_request")
	}
	if p.Repository == nil || p.Repository.FullName == "" {
		return change{}, errors.New("pull_request payload has no repository.full_name")
	}
	if pr.Base.Ref == "" || pr.Head.Ref == "" || !isSHA(pr.Head.SHA) {
		return change{}, errors.New("pull_request payload has no base ref, head ref or head sha")
	}
	number := pr.Number
	if number == 0 {
		number = p.Number
	}
	c := change{
		repo: p.Repository.FullName, ref: pr.Head.Ref, branch: pr.Head.Ref, sha: pr.Head.SHA,
		message: pr.Title, author: pr.User.Login, action: p.Action, pr: number, prBase: pr.Base.Ref,
	}
	ev, ok := prEvent(&p)
	if !ok {
		what := p.Action
		if p.Action == "closed" {
			what = "closed without merge"
		}
		c.ignore = "pull_request " + what
		return c, nil
	}
	headRepo := c.repo
	if pr.Head.Repo != nil && pr.Head.Repo.FullName != "" {
		headRepo = pr.Head.Repo.FullName
	}
	c.url = "https://github.com/" + headRepo + "/commit/" + pr.Head.SHA
	if isSHA(pr.Base.SHA) {
		c.base = pr.Base.SHA
	}
	c.truncate = "a pull_request delivery lists no files"
	c.event = pipeline.GitEvent{
		Kind: pipeline.PullRequest, Repository: c.repo, Branch: pr.Base.Ref, PullRequestEvent: ev,
	}
	return c, nil
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
