// Command events is the Lambda of the EventBridge rules: CodeBuild builds that ended
// complete their actions; state machine runs that ended abnormally free their stages.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
)

func main() {
	r, err := lambdaenv.Open(context.Background())
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	st := r.Store
	runs := &Runs{Pipelines: st, Executions: st, Stages: st, Locks: st, Queue: st, Gate: r.Gate, Logger: r.Logger}
	builds := Builds{Client: codebuild.NewFromConfig(r.AWS)}
	lambda.StartHandlerFunc(NewHandler(r.Actions, runs, builds, r.Logger).Invoke)
}
