// Command events is the Lambda of the EventBridge rules: CodeBuild builds and
// CloudFormation stack operations that ended complete their actions; state machine
// runs that ended abnormally free their stages; runs that start and end report their
// execution's status on its GitHub commit.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/webhook"
)

func main() {
	ctx := context.Background()
	r, err := lambdaenv.Open(ctx)
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	st := r.Store
	d := Deps{
		Builds:  r.Actions,
		Runs:    &Runs{Pipelines: st, Executions: st, Stages: st, Locks: st, Queue: st, Gate: r.Gate, Logger: r.Logger},
		Reader:  Builds{Client: codebuild.NewFromConfig(r.AWS)},
		Outputs: Outputs{Actions: st, Declarations: r.Actions},
		Logger:  r.Logger,
	}
	if r.Stacks != nil {
		d.Stacks = r.Stacks
	}
	// Commit statuses need the GitHub token; without it builds and runs are still handled.
	if os.Getenv(lambdaenv.EnvGitHubToken) != "" {
		if token, err := r.Secret(ctx, lambdaenv.EnvGitHubToken); err != nil {
			r.Logger.Warn("no commit statuses", "err", err)
		} else {
			d.Executions = st
			d.Statuses = Statuses{GitHub: webhook.NewGitHub(os.Getenv(lambdaenv.EnvGitHubAPIURL), token, nil), Link: RunLink(r.Engine.ExecutionARN), Logger: r.Logger}
		}
	}
	lambda.StartHandlerFunc(New(d).Invoke)
}
