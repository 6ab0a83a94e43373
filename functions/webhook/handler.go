// Command webhook is the Lambda behind API Gateway's POST /webhooks/github route (HTTP
// API, payload format 2.0): it hands each GitHub delivery to the webhook service and
// returns its decision. handler.go only translates events. main.go — read the
// configuration, build the service over the AWS adapters (DynamoDB stores, the Step
// Functions engine), lambda.StartHandlerFunc(handler{intake: svc}.Handle) — comes with
// the AWS wiring, as for the other functions.
package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relais-ci/relais/shared/webhook"
)

// Intake decides deliveries; *webhook.Service is one.
type Intake interface {
	Handle(ctx context.Context, r webhook.Request) webhook.Decision
}

// handler translates API Gateway requests to deliveries and decisions to responses.
type handler struct{ intake Intake }

// Handle answers one request; errors become HTTP statuses, never Lambda errors, so that
// GitHub always sees an answer it can show.
func (h handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var d webhook.Decision
	if m := req.RequestContext.HTTP.Method; m != "" && m != http.MethodPost {
		d = webhook.Decision{Status: http.StatusMethodNotAllowed, Message: "deliveries are POSTed"}
	} else {
		r := webhook.NewRequest(header(req.Headers), []byte(req.Body))
		r.Base64 = req.IsBase64Encoded
		d = h.intake.Handle(ctx, r)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: d.Status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(d.JSON()),
	}, nil
}

// header looks a header up without regard to case: API Gateway lower-cases the names
// of HTTP API requests, a test or another proxy may not.
func header(h map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := h[strings.ToLower(name)]; ok {
			return v
		}
		for k, v := range h {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
}
