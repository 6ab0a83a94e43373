package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// API is Relais's HTTP API.
//
// No route uses an API Gateway authorizer; each function authenticates its callers
// itself, as each protocol requires:
//
//   - POST /webhooks/github: GitHub signs every delivery with the webhook secret
//     (X-Hub-Signature-256), checked before the body is parsed;
//   - GET|POST /approvals/{id}: approval links carry a signed, expiring, single-use token;
//   - POST /: the CodePipeline-protocol API requires the API token (X-Relais-Api-Token,
//     in Secrets Manager). IAM authorization would need SigV4 signatures for
//     execute-api, but the CodePipeline clients that speak this protocol (the AWS SDKs,
//     the AWS CLI, relais) sign for the codepipeline service, which API Gateway refuses.
type API struct {
	Api  awsapigatewayv2.HttpApi
	Logs awslogs.LogGroup
}

func newAPI(stack awscdk.Stack, f *Functions) *API {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("Relais: GitHub webhooks, approval links and the CodePipeline-protocol API"),
		CreateDefaultStage: jsii.Bool(true),
	})
	route := func(path string, fn *Function, methods ...awsapigatewayv2.HttpMethod) {
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:    jsii.String(path),
			Methods: &methods,
			Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(*fn.Fn.Node().Id()+"Integration"), fn.Fn,
				&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
					PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
				}),
		})
	}
	route("/webhooks/github", f.Webhook, awsapigatewayv2.HttpMethod_POST)
	route("/approvals/{id}", f.Approval, awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST)
	route("/", f.API, awsapigatewayv2.HttpMethod_POST)

	logs := awslogs.NewLogGroup(stack, jsii.String("HttpApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// No query string or header is logged: approval links carry their token in the query.
	format, _ := json.Marshal(map[string]string{
		"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
		"requestTime": "$context.requestTime", "method": "$context.httpMethod",
		"routeKey": "$context.routeKey", "status": "$context.status",
		"responseLength": "$context.responseLength", "latency": "$context.responseLatency",
		"integrationError": "$context.integrationErrorMessage",
	})
	stage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})
	// Bounds what an unauthenticated caller can make the functions do.
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingBurstLimit: jsii.Number(50),
		ThrottlingRateLimit:  jsii.Number(25),
	})
	return &API{Api: api, Logs: logs}
}
