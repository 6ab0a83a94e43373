// Command api is the Lambda behind POST / of the HTTP API: the CodePipeline-protocol API,
// which requires the API token from Secrets Manager. It also installs the stack's
// pipeline declarations on deploy (a custom resource).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/api"
)

func main() {
	ctx := context.Background()
	r, err := lambdaenv.Open(ctx)
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	token, err := r.Secret(ctx, lambdaenv.EnvAPIToken)
	if err != nil {
		lambdaenv.Fatal(r.Logger, err)
	}
	st := r.Store
	h := api.New(api.Deps{
		Service: r.Executions, Approval: r.Approvals,
		Pipelines: st, Executions: st, Stages: st, Actions: st, Transitions: st, Approvals: st, Queue: st,
		Logger: r.Logger,
	}, api.WithToken(token), api.WithARNPrefix(fmt.Sprintf("arn:aws:codepipeline:%s:%s:", r.AWS.Region, os.Getenv(lambdaenv.EnvAccount))))
	lambda.StartHandlerFunc(NewHandler(h, r.Executions).Invoke)
}
