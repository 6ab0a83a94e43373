package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/relais-ci/relais/shared/aws/console"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/webhook"
)

// Statuses reports executions as GitHub commit statuses the way `relais serve` does
// (webhook.Reporter): on the commit of an execution a GitHub delivery started, context
// relais/<pipeline>, pending while it runs, then success or failure; a failed post is
// retried, then logged. Each status links to the page Link gives.
type Statuses struct {
	GitHub webhook.StatusPoster
	// Link returns the page of an execution ("" or nil: no link).
	Link func(e core.Execution) string
	// Attempts and Backoff: see webhook.ReporterDeps (defaults 3 and 1 s).
	Attempts int
	Backoff  time.Duration
	Logger   *slog.Logger
}

var _ StatusReporter = Statuses{}

// Report posts e's status on its commit. The Reporter is made per call: its memory of
// what was posted would not outlive the Lambda instance anyway, and its link is that
// of e.
func (s Statuses) Report(ctx context.Context, e core.Execution) error {
	var link string
	if s.Link != nil {
		link = s.Link(e)
	}
	rep := webhook.NewReporter(webhook.ReporterDeps{
		GitHub: linked{poster: s.GitHub, link: link}, Attempts: s.Attempts, Backoff: s.Backoff, Logger: s.Logger,
	})
	return rep.Report(ctx, e)
}

// linked posts statuses that link to one page.
type linked struct {
	poster webhook.StatusPoster
	link   string
}

func (l linked) PostStatus(ctx context.Context, repo, sha string, st webhook.CommitStatus) error {
	st.TargetURL = l.link
	return l.poster.PostStatus(ctx, repo, sha, st)
}

// RunLink returns the Link of Statuses on AWS: the console page of the execution's
// current run, whose ARN arnOf gives (sfnengine.Engine.ExecutionARN).
func RunLink(arnOf func(pipelineName, run string) string) func(core.Execution) string {
	return func(e core.Execution) string {
		run := e.EngineRun
		if run == "" {
			run = e.ID
		}
		return ExecutionConsoleURL(arnOf(e.PipelineName, run))
	}
}

// ExecutionConsoleURL is the Step Functions console page of a state machine execution,
// from its ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>): where an
// execution's stages and their events are seen on AWS. "" when the ARN cannot be read.
func ExecutionConsoleURL(executionARN string) string {
	a, err := arn.Parse(executionARN)
	if err != nil || a.Service != "states" || a.Region == "" {
		return ""
	}
	host := console.Host(a.Partition, a.Region)
	return fmt.Sprintf("https://%s/states/home?region=%s#/v2/executions/details/%s", host, a.Region, executionARN)
}
