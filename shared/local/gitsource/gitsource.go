// Package gitsource runs the git Source actions (CodeStarSourceConnection, and GitHub
// version 1) on one machine: the action's repository is mapped to a local git
// repository, the revision the execution names (or the head of the action's branch) is
// resolved there, and the commit's tree — not a working directory, no .git — is written
// as a zip to the artifact store, with the output variables CodePipeline documents for
// each provider.
package gitsource

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Providers names the action types this package runs: use each as a key of
// action.Deps.Providers (action.ProviderKey form).
var Providers = []string{
	pipeline.CategorySource + "/" + pipeline.OwnerAWS + "/CodeStarSourceConnection",
	pipeline.CategorySource + "/" + pipeline.OwnerThirdParty + "/GitHub",
}

// Output artifact formats of CodeStarSourceConnection.
const (
	FormatZip      = "CODE_ZIP"
	FormatCloneRef = "CODEBUILD_CLONE_REF"
)

// Source runs git Source actions against local repositories.
type Source struct {
	store  core.ArtifactStore
	repos  map[string]string
	logger *slog.Logger
}

var _ action.Provider = (*Source)(nil)

// New returns a Source that writes artifacts to store. repos maps a repository's full
// name, "owner/name" as FullRepositoryId (or GitHub v1's Owner and Repo) spell it, to
// the path of a local git repository (a working copy or a bare one). logger may be nil.
func New(store core.ArtifactStore, repos map[string]string, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.Default()
	}
	m := make(map[string]string, len(repos))
	for k, v := range repos {
		m[k] = v
	}
	return &Source{store: store, repos: m, logger: logger}
}

// spec is what one action asks for, read from its configuration.
type spec struct {
	provider string // CodeStarSourceConnection or GitHub
	repo     string // owner/name
	branch   string
	format   string
	conn     string // ConnectionArn
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
	default:
		return s, fmt.Errorf("provider %s is not a git source", s.provider)
	}
	if s.format == "" {
		s.format = FormatZip
	}
	if s.format != FormatZip && s.format != FormatCloneRef {
		return s, fmt.Errorf("configuration OutputArtifactFormat %q is neither %s nor %s", s.format, FormatZip, FormatCloneRef)
	}
	return s, nil
}

// Run exports the commit and reports it. Running it again for the same action
// execution writes the same artifact again.
func (s *Source) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	logger := s.logger.With("pipeline", rec.PipelineName, "execution_id", rec.ExecutionID, "stage", job.Stage, "action", rec.ActionName)
	sp, err := readSpec(job)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	if len(job.Declared.OutputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("a source action has exactly one output artifact; %s declares %d", rec.ActionName, len(job.Declared.OutputArtifacts))), nil
	}
	path, ok := s.repos[sp.repo]
	if !ok {
		return action.Failed("ConfigurationError", fmt.Errorf(
			"repository %s is not mapped to a local git repository: start relais serve with --repo %s=PATH", sp.repo, sp.repo)), nil
	}
	repo, err := git.PlainOpen(path)
	if err != nil {
		return action.Failed("ConfigurationError", fmt.Errorf("open git repository %s at %s (mapped with --repo %s=%s): %w", sp.repo, path, sp.repo, path, err)), nil
	}
	commit, how, err := resolve(repo, job, sp)
	if err != nil {
		return action.Failed("RevisionUnavailable", fmt.Errorf("repository %s at %s: %w", sp.repo, path, err)), nil
	}

	name := job.Declared.OutputArtifacts[0].Name
	pr, pw := io.Pipe()
	files := make(chan int, 1)
	go func() {
		n, err := writeZip(pw, commit)
		files <- n
		pw.CloseWithError(err)
	}()
	loc, err := s.store.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, pr)
	pr.CloseWithError(errors.New("artifact store stopped reading")) // ends the writer if the store gave up early
	n := <-files
	if err != nil {
		return action.Result{}, fmt.Errorf("export commit %s of %s as artifact %s: %w", commit.Hash, sp.repo, name, err)
	}

	id := commit.Hash.String()
	commitURL := "https://github.com/" + sp.repo + "/commit/" + id
	summary := fmt.Sprintf("%s %s (%s): %d files from %s", sp.repo, short(id), how, n, path)
	if sp.format == FormatCloneRef {
		summary += "; CODEBUILD_CLONE_REF: locally the artifact is a full copy of the commit's tree, not a git clone reference"
	}
	res := action.Result{
		Status:          core.ActionSucceeded,
		OutputArtifacts: []core.Artifact{{Name: name, Location: loc}},
		OutputVariables: variables(sp, commit, commitURL),
		Summary:         summary,
		ExternalID:      id,
		ExternalURL:     commitURL,
		Revision:        &core.SourceRevision{RevisionID: id, RevisionSummary: firstLine(commit.Message), RevisionURL: commitURL},
	}
	logger.InfoContext(ctx, "source exported", "repository", sp.repo, "commit", id, "files", n)
	return res, nil
}

// resolve finds the commit to export: the one the execution's trigger names for this
// action, else the head of the configured branch. It says which in how.
func resolve(repo *git.Repository, job action.Job, sp spec) (*object.Commit, string, error) {
	i := slices.IndexFunc(job.Execution.SourceRevisions, func(r core.SourceRevision) bool {
		return r.ActionName == job.Record.ActionName && r.RevisionID != ""
	})
	if i >= 0 {
		rev := job.Execution.SourceRevisions[i].RevisionID
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return nil, "", fmt.Errorf("revision %s of the execution: %w", rev, err)
		}
		c, err := repo.CommitObject(*h)
		if err != nil {
			return nil, "", fmt.Errorf("revision %s of the execution is not a commit: %w", rev, err)
		}
		return c, "revision of the execution", nil
	}
	if sp.branch == "" {
		return nil, "", errors.New("no branch configured and no revision named by the execution")
	}
	for _, ref := range []plumbing.ReferenceName{
		plumbing.NewBranchReferenceName(sp.branch),
		plumbing.NewRemoteReferenceName("origin", sp.branch),
	} {
		r, err := repo.Reference(ref, true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("branch %s: %w", sp.branch, err)
		}
		c, err := repo.CommitObject(r.Hash())
		if err != nil {
			return nil, "", fmt.Errorf("head of branch %s: %w", sp.branch, err)
		}
		return c, "head of " + sp.branch, nil
	}
	return nil, "", fmt.Errorf("branch %s not found", sp.branch)
}

// writeZip writes the commit's tree as a zip to w and returns how many files it holds.
// Entries keep git's modes (executable bits, symlinks stored as their target, as zip
// does on Unix) and carry the commit's time, so the same commit gives the same zip.
func writeZip(w io.Writer, commit *object.Commit) (int, error) {
	tree, err := commit.Tree()
	if err != nil {
		return 0, fmt.Errorf("read tree of %s: %w", commit.Hash, err)
	}
	var files []*object.File
	if err := tree.Files().ForEach(func(f *object.File) error {
		files = append(files, f)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("walk tree of %s: %w", commit.Hash, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	zw := zip.NewWriter(w)
	when := commit.Committer.When
	for _, f := range files {
		mode, err := f.Mode.ToOSFileMode()
		if err != nil {
			return 0, fmt.Errorf("file %s: %w", f.Name, err)
		}
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: when}
		if f.Mode == filemode.Symlink {
			h.Method = zip.Store
		}
		h.SetMode(mode)
		out, err := zw.CreateHeader(h)
		if err != nil {
			return 0, fmt.Errorf("zip %s: %w", f.Name, err)
		}
		r, err := f.Reader()
		if err != nil {
			return 0, fmt.Errorf("read blob of %s: %w", f.Name, err)
		}
		_, err = io.Copy(out, r)
		r.Close()
		if err != nil {
			return 0, fmt.Errorf("zip %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("finish zip: %w", err)
	}
	return len(files), nil
}

// variables are the output variables CodePipeline documents for the provider.
func variables(sp spec, c *object.Commit, commitURL string) map[string]string {
	v := map[string]string{
		"AuthorDate":    iso(c.Author.When),
		"BranchName":    sp.branch,
		"CommitId":      c.Hash.String(),
		"CommitMessage": strings.TrimRight(c.Message, "\n"),
	}
	switch sp.provider {
	case "CodeStarSourceConnection":
		v["ConnectionArn"] = sp.conn
		v["FullRepositoryName"] = sp.repo
	case "GitHub":
		v["CommitterDate"] = iso(c.Committer.When)
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
