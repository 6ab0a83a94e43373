// Command action is the Lambda that runs the actions of the state machines.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
)

func main() {
	r, err := lambdaenv.Open(context.Background())
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	lambda.StartHandlerFunc(lambdaenv.NewTaskHandler(r.Actions.Handle).Invoke)
}
