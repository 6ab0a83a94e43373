// Package core is the vocabulary every part of Relais shares: the domain types of
// pipelines, executions, stages, actions, artifacts and approvals; the status words and
// the rules for moving between them; the ports (small interfaces) that the AWS and local
// adapters implement; the sentinel errors adapters map their failures to; and the error
// names that compiled state machines match in Retry and Catch.
//
// It imports no AWS SDK, no net/http and no aws-lambda-go (a test enforces that), so that
// the usecases built on it run unchanged on AWS and on one machine.
//
// Status values are CodePipeline's API values, spelled exactly as the CodePipeline API
// returns them, so the API façade and the CLI can print them unchanged.
package core
