// Command gate is the Lambda of the state machines' stage gates (enter, leave, fail).
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
	lambda.StartHandlerFunc(lambdaenv.NewTaskHandler(r.Gate.Handle).Invoke)
}
