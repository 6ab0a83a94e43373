// Command infra is the CDK app that deploys Relais on AWS: `cdk deploy` runs it (see
// cdk.json). The stack, its constructs and the context keys it reads are in stack.go.
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	NewRelaisStack(app, "Relais", &RelaisStackProps{})
	CheckWithNag(app)
	app.Synth(nil)
}
