package pipeline

import (
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// EventKind is the kind of a git event.
type EventKind int

const (
	// Push is a push of commits to a branch or of a tag.
	Push EventKind = iota + 1
	// PullRequest is a pull request opened, updated or closed.
	PullRequest
)

// GitEvent is what a repository host reports, reduced to what triggers look at.
type GitEvent struct {
	Kind EventKind
	// Repository is the repository's full name ("owner/repo"), compared without regard
	// to case with each source action's repository. Empty matches every source action.
	Repository string
	// Branch is, for a push, the branch pushed to (empty for a tag push) and, for a pull
	// request, its destination branch. A "refs/heads/" prefix is ignored.
	Branch string
	// Tag is the tag pushed, for a tag push. A "refs/tags/" prefix is ignored.
	Tag string
	// PullRequestEvent is OPEN, UPDATED or CLOSED (pull requests only).
	PullRequestEvent string
	// ChangedFiles are the paths the push or pull request changes, from the repository root.
	ChangedFiles []string
	// FilesUnknown says that ChangedFiles may be incomplete (the host truncated its list
	// and it could not be completed): a file-path criterion then counts as met, so that
	// a change is never missed; the caller says so where it records the execution.
	FilesUnknown bool
}

// Fire says that an event starts the pipeline from one source action.
type Fire struct {
	// SourceActionName is the source action whose revision the execution uses.
	SourceActionName string
	// Trigger is the index in Declaration.Triggers of the trigger that fired, or -1 when
	// the source action's default fired: a push to the branch its configuration names.
	Trigger int
	// Filter is the index of the matching filter in the trigger's push or pullRequest
	// list, or -1 for a default.
	Filter int
}

// Match returns, for each source action the event starts the pipeline from, the trigger
// and filter that matched, in the order of the source actions. It follows CodePipeline:
//
//   - A source action with a trigger fires only as its filters say. A push filter on tags
//     matches tag pushes whose tag it selects; one on branches matches branch pushes to a
//     selected branch and, if it also has file paths, only when a changed file is
//     selected. A pull-request filter matches its events (all three when it lists none),
//     selected destination branches and, if given, changed files. When the event's
//     changed files are unknown (FilesUnknown), file criteria count as met. Every criterion a
//     filter specifies must match; any filter of the trigger may.
//   - Within criteria, a name matching an exclude pattern is never selected (excludes
//     win); with no includes, every name not excluded is. Patterns are globs: * and ?
//     stay within a path segment, ** crosses segments, [] and {} are classes and
//     alternatives, \ escapes.
//   - A source action without a trigger (or whose trigger has no filters) fires on pushes
//     to the branch of its configuration (BranchName, or Branch for GitHub version 1),
//     unless DetectChanges is "false". It never fires on tags or pull requests.
//
// Match assumes d is valid; triggers naming no source action are ignored.
func (d *Declaration) Match(ev GitEvent) []Fire {
	ev.Branch = strings.TrimPrefix(ev.Branch, "refs/heads/")
	ev.Tag = strings.TrimPrefix(ev.Tag, "refs/tags/")
	var fires []Fire
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			a := &d.Stages[i].Actions[j]
			if a.ActionTypeID.Category != CategorySource || !sameRepository(a, ev.Repository) {
				continue
			}
			if f, ok := d.matchAction(a, ev); ok {
				fires = append(fires, f)
			}
		}
	}
	return fires
}

func (d *Declaration) matchAction(a *Action, ev GitEvent) (Fire, bool) {
	for t, tr := range d.Triggers {
		g := tr.GitConfiguration
		if g == nil || g.SourceActionName != a.Name {
			continue
		}
		if len(g.Push) == 0 && len(g.PullRequest) == 0 {
			break // no filter: the default applies
		}
		switch ev.Kind {
		case Push:
			for k := range g.Push {
				if g.Push[k].matches(ev) {
					return Fire{a.Name, t, k}, true
				}
			}
		case PullRequest:
			for k := range g.PullRequest {
				if g.PullRequest[k].matches(ev) {
					return Fire{a.Name, t, k}, true
				}
			}
		}
		return Fire{}, false
	}
	if ev.Kind != Push || ev.Tag != "" || ev.Branch == "" || a.Configuration["DetectChanges"] == "false" {
		return Fire{}, false
	}
	branch := a.Configuration["BranchName"]
	if a.ActionTypeID.Provider == "GitHub" && a.ActionTypeID.Owner == OwnerThirdParty {
		branch = a.Configuration["Branch"]
	}
	if branch != "" && branch == ev.Branch {
		return Fire{a.Name, -1, -1}, true
	}
	return Fire{}, false
}

func (f *GitPushFilter) matches(ev GitEvent) bool {
	if f.Tags != nil {
		return ev.Tag != "" && f.Tags.selects(ev.Tag)
	}
	if f.Branches == nil || ev.Tag != "" || !f.Branches.selects(ev.Branch) {
		return false
	}
	return f.FilePaths == nil || ev.FilesUnknown || f.FilePaths.selectsAny(ev.ChangedFiles)
}

func (f *GitPullRequestFilter) matches(ev GitEvent) bool {
	if len(f.Events) > 0 {
		found := false
		for _, e := range f.Events {
			found = found || e == ev.PullRequestEvent
		}
		if !found {
			return false
		}
	}
	if f.Branches == nil || !f.Branches.selects(ev.Branch) {
		return false
	}
	return f.FilePaths == nil || ev.FilesUnknown || f.FilePaths.selectsAny(ev.ChangedFiles)
}

// selects reports whether name is included and not excluded.
func (c *FilterCriteria) selects(name string) bool {
	if name == "" {
		return false
	}
	for _, p := range c.Excludes {
		if glob(p, name) {
			return false
		}
	}
	if c.Includes == nil {
		return true
	}
	for _, p := range c.Includes {
		if glob(p, name) {
			return true
		}
	}
	return false
}

// selectsAny reports whether any of the files is selected.
func (c *FilterCriteria) selectsAny(files []string) bool {
	for _, f := range files {
		if c.selects(strings.TrimPrefix(strings.TrimPrefix(f, "./"), "/")) {
			return true
		}
	}
	return false
}

func glob(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return err == nil && ok
}

// sameRepository reports whether a source action reads the event's repository.
func sameRepository(a *Action, repo string) bool {
	if repo == "" {
		return true
	}
	cfg := a.Configuration
	var own string
	switch {
	case cfg["FullRepositoryId"] != "":
		own = cfg["FullRepositoryId"]
	case cfg["Owner"] != "" && cfg["Repo"] != "":
		own = cfg["Owner"] + "/" + cfg["Repo"]
	case cfg["RepositoryName"] != "":
		// CodeCommit names a repository without an owner.
		_, name, _ := strings.Cut(repo, "/")
		return strings.EqualFold(cfg["RepositoryName"], name) || strings.EqualFold(cfg["RepositoryName"], repo)
	default:
		return false
	}
	return strings.EqualFold(own, repo)
}
