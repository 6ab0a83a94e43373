package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relais-ci/relais/functions/api/apigw"
)

// Handler serves the approval pages (shared/approval/web) behind API Gateway:
// GET /approvals/{id} shows an approval, POST decides it.
type Handler struct{ pages http.Handler }

// NewHandler returns a handler over the pages' http.Handler.
func NewHandler(pages http.Handler) *Handler { return &Handler{pages: pages} }

// Invoke answers one API Gateway HTTP API request.
func (h *Handler) Invoke(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return apigw.Serve(ctx, h.pages, e)
}
