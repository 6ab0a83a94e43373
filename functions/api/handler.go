package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relais-ci/relais/functions/api/apigw"
)

// Handler serves the CodePipeline-protocol API (shared/api) behind API Gateway.
type Handler struct{ api http.Handler }

// NewHandler returns a handler over the API's http.Handler.
func NewHandler(api http.Handler) *Handler { return &Handler{api: api} }

// Invoke answers one API Gateway HTTP API request.
func (h *Handler) Invoke(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return apigw.Serve(ctx, h.api, e)
}
