package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// triggerJSON has an "App" source with triggers, a "Docs" source without (default
// behaviour), a "Quiet" source with DetectChanges false and a "Legacy" GitHub v1 source.
const triggerJSON = `{
  "pipelineType": "V2",
  "triggers": [
    {"providerType": "CodeStarSourceConnection", "gitConfiguration": {
      "sourceActionName": "App",
      "push": [
        {"branches": {"includes": ["main", "release/**", "feature/*", "hotfix-?", "{dev,staging}", "[!x]ops", "lit\\*"], "excludes": ["release/old-*"]}},
        {"tags": {"includes": ["v*"], "excludes": ["v*-rc*"]}},
        {"branches": {"includes": ["docs-site"]}, "filePaths": {"includes": ["site/**"], "excludes": ["**/*.tmp"]}}
      ],
      "pullRequest": [
        {"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**/*.go"], "excludes": ["**/*_test.go"]}},
        {"branches": {"excludes": ["main", "wip/**"]}}
      ]
    }},
    {"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Plain"}}
  ],
  "stages": [{"name": "Source", "actions": [
    {"name": "App", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
     "configuration": {"FullRepositoryId": "relais-ci/App", "BranchName": "main"}},
    {"name": "Docs", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
     "configuration": {"FullRepositoryId": "relais-ci/docs", "BranchName": "main"}},
    {"name": "Quiet", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
     "configuration": {"FullRepositoryId": "relais-ci/quiet", "BranchName": "main", "DetectChanges": "false"}},
    {"name": "Plain", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
     "configuration": {"FullRepositoryId": "relais-ci/plain", "BranchName": "trunk"}},
    {"name": "Legacy", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
     "configuration": {"Owner": "relais-ci", "Repo": "legacy", "Branch": "master"}}
  ]}]
}`

func TestMatch(t *testing.T) {
	d := mustParse(t, triggerJSON)
	app := func(ev GitEvent) GitEvent { ev.Repository = "relais-ci/app"; return ev }
	tests := []struct {
		name string
		ev   GitEvent
		want []Fire
	}{
		{"push to main", app(GitEvent{Kind: Push, Branch: "main"}), []Fire{{"App", 0, 0}}},
		{"ref prefix and repository case are ignored", GitEvent{Kind: Push, Repository: "Relais-CI/APP", Branch: "refs/heads/main"}, []Fire{{"App", 0, 0}}},
		{"** crosses segments", app(GitEvent{Kind: Push, Branch: "release/1.2/hotfix"}), []Fire{{"App", 0, 0}}},
		{"excludes win over includes", app(GitEvent{Kind: Push, Branch: "release/old-1"}), nil},
		{"* stays in a segment", app(GitEvent{Kind: Push, Branch: "feature/login"}), []Fire{{"App", 0, 0}}},
		{"* does not cross /", app(GitEvent{Kind: Push, Branch: "feature/login/v2"}), nil},
		{"? is one character", app(GitEvent{Kind: Push, Branch: "hotfix-1"}), []Fire{{"App", 0, 0}}},
		{"? is not two", app(GitEvent{Kind: Push, Branch: "hotfix-12"}), nil},
		{"{} alternatives", app(GitEvent{Kind: Push, Branch: "staging"}), []Fire{{"App", 0, 0}}},
		{"[!x] negated class", app(GitEvent{Kind: Push, Branch: "xops"}), nil},
		{"[!x] matches others", app(GitEvent{Kind: Push, Branch: "sops"}), []Fire{{"App", 0, 0}}},
		{"escaped star is literal", app(GitEvent{Kind: Push, Branch: "lit*"}), []Fire{{"App", 0, 0}}},
		{"escaped star is not a wildcard", app(GitEvent{Kind: Push, Branch: "litany"}), nil},
		{"unlisted branch", app(GitEvent{Kind: Push, Branch: "develop"}), nil},
		{"tag push", app(GitEvent{Kind: Push, Tag: "refs/tags/v1.2.3"}), []Fire{{"App", 0, 1}}},
		{"excluded tag", app(GitEvent{Kind: Push, Tag: "v1.2.3-rc1"}), nil},
		{"tag named like an included branch", app(GitEvent{Kind: Push, Tag: "main"}), nil},
		{"branch named like an included tag", app(GitEvent{Kind: Push, Branch: "v2"}), nil},
		{"branch and file paths both match", app(GitEvent{Kind: Push, Branch: "docs-site", ChangedFiles: []string{"README.md", "site/a/index.html"}}), []Fire{{"App", 0, 2}}},
		{"only excluded files changed", app(GitEvent{Kind: Push, Branch: "docs-site", ChangedFiles: []string{"site/draft.tmp"}}), nil},
		{"no selected file changed", app(GitEvent{Kind: Push, Branch: "docs-site", ChangedFiles: []string{"src/main.go"}}), nil},
		{"unknown files meet file criteria", app(GitEvent{Kind: Push, Branch: "docs-site", FilesUnknown: true}), []Fire{{"App", 0, 2}}},
		{"unknown files do not widen branches", app(GitEvent{Kind: Push, Branch: "docs-other", FilesUnknown: true}), nil},
		{"unknown files of a pull request", app(GitEvent{Kind: PullRequest, PullRequestEvent: "UPDATED", Branch: "main", ChangedFiles: []string{"src/a_test.go"}, FilesUnknown: true}), []Fire{{"App", 0, 0}}},
		{"pull request opened with Go changes", app(GitEvent{Kind: PullRequest, PullRequestEvent: "OPEN", Branch: "main", ChangedFiles: []string{"src/pkg/a.go"}}), []Fire{{"App", 0, 0}}},
		{"pull request with only tests changed", app(GitEvent{Kind: PullRequest, PullRequestEvent: "UPDATED", Branch: "main", ChangedFiles: []string{"src/pkg/a_test.go"}}), nil},
		{"pull request closed into main", app(GitEvent{Kind: PullRequest, PullRequestEvent: "CLOSED", Branch: "main", ChangedFiles: []string{"src/a.go"}}), nil},
		{"any event into another branch (excludes only)", app(GitEvent{Kind: PullRequest, PullRequestEvent: "CLOSED", Branch: "develop"}), []Fire{{"App", 0, 1}}},
		{"excluded destination", app(GitEvent{Kind: PullRequest, PullRequestEvent: "OPEN", Branch: "wip/x/y"}), nil},
		{"default: push to the configured branch", GitEvent{Kind: Push, Repository: "relais-ci/docs", Branch: "main"}, []Fire{{"Docs", -1, -1}}},
		{"default: other branch", GitEvent{Kind: Push, Repository: "relais-ci/docs", Branch: "dev"}, nil},
		{"default: no tags", GitEvent{Kind: Push, Repository: "relais-ci/docs", Tag: "v1"}, nil},
		{"default: no pull requests", GitEvent{Kind: PullRequest, PullRequestEvent: "OPEN", Repository: "relais-ci/docs", Branch: "main"}, nil},
		{"DetectChanges false", GitEvent{Kind: Push, Repository: "relais-ci/quiet", Branch: "main"}, nil},
		{"trigger without filters keeps the default", GitEvent{Kind: Push, Repository: "relais-ci/plain", Branch: "trunk"}, []Fire{{"Plain", -1, -1}}},
		{"GitHub v1 default uses Branch", GitEvent{Kind: Push, Repository: "relais-ci/legacy", Branch: "master"}, []Fire{{"Legacy", -1, -1}}},
		{"unknown repository", GitEvent{Kind: Push, Repository: "someone/else", Branch: "main"}, nil},
		{"no repository: every source looks", GitEvent{Kind: Push, Branch: "main"}, []Fire{{"App", 0, 0}, {"Docs", -1, -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := d.Match(tc.ev)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
		})
	}
}
