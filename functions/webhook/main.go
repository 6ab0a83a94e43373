package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/webhook"
)

func main() {
	ctx := context.Background()
	r, err := lambdaenv.Open(ctx)
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	secrets, err := r.Secret(ctx, lambdaenv.EnvWebhookSecret)
	if err != nil {
		lambdaenv.Fatal(r.Logger, err)
	}
	deps := webhook.Deps{
		Pipelines: r.Store, Executions: r.Store, Deliveries: r.Store, Starter: r.Executions,
		Secrets: webhook.ParseSecrets(secrets), Logger: r.Logger,
	}
	// The GitHub token is optional: without it, file-path filters that need GitHub's
	// compare API fire and say so in the trigger detail.
	if token, err := r.Secret(ctx, lambdaenv.EnvGitHubToken); err == nil {
		deps.Files = webhook.NewGitHub(os.Getenv(lambdaenv.EnvGitHubAPIURL), token, nil)
	}
	lambda.StartHandlerFunc(handler{intake: webhook.New(deps)}.Handle)
}
