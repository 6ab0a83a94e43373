// Command approval is the Lambda behind GET|POST /approvals/{id}: the pages approval
// links lead to.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relais-ci/relais/functions/api/lambdaenv"
	"github.com/relais-ci/relais/shared/approval/web"
)

func main() {
	r, err := lambdaenv.Open(context.Background())
	if err != nil {
		lambdaenv.Fatal(nil, err)
	}
	pages := web.New(web.Deps{Service: r.Approvals, Logger: r.Logger})
	lambda.StartHandlerFunc(NewHandler(pages).Invoke)
}
