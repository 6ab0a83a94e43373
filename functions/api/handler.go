package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/relais-ci/relais/functions/api/apigw"
	"github.com/relais-ci/relais/shared/core"
)

// Installer installs pipeline declarations (*execution.Service).
type Installer interface {
	Install(ctx context.Context, raw []byte) (core.Pipeline, error)
}

// Handler serves the CodePipeline-protocol API (shared/api) behind API Gateway, and the
// stack's custom resource that installs the declarations of pipelines/ on every deploy
// (the same Install the API's CreatePipeline runs), so that deployed pipelines are in
// the table before the first webhook arrives.
type Handler struct {
	api       http.Handler
	installer Installer
	// respond answers CloudFormation (cfn.LambdaWrap: it PUTs to the event's
	// ResponseURL); tests replace it.
	respond func(cfn.CustomResourceFunction) cfn.CustomResourceLambdaFunction
}

// NewHandler returns a handler over the API's http.Handler and the installer.
func NewHandler(api http.Handler, installer Installer) *Handler {
	return &Handler{api: api, installer: installer, respond: cfn.LambdaWrap}
}

// PropertyDeclarations is the custom resource property holding the declarations, each
// as its JSON text.
const PropertyDeclarations = "Declarations"

// Invoke answers one event: an API Gateway HTTP API request, or a CloudFormation custom
// resource request.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		RequestType string `json:"RequestType"`
		ResponseURL string `json:"ResponseURL"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if probe.RequestType != "" && probe.ResponseURL != "" {
		var e cfn.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("decode custom resource request: %w", err)
		}
		reason, err := h.respond(h.install)(ctx, e)
		if err != nil {
			return nil, err
		}
		return reason, nil
	}
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode HTTP API request: %w", err)
	}
	return apigw.Serve(ctx, h.api, e)
}

// install installs the declarations of a Create or Update; a Delete keeps the pipelines
// (the table outlives the stack). The resource's physical id stays the same, so that an
// update never replaces (and so deletes) it.
func (h *Handler) install(ctx context.Context, e cfn.Event) (string, map[string]any, error) {
	const id = "relais-pipelines"
	if e.RequestType == cfn.RequestDelete {
		return id, nil, nil
	}
	list, _ := e.ResourceProperties[PropertyDeclarations].([]any)
	var names []string
	var errs []error
	for i, d := range list {
		text, ok := d.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("declaration %d is not a JSON text", i))
			continue
		}
		p, err := h.installer.Install(ctx, []byte(text))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, p.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return id, nil, fmt.Errorf("install pipelines: %w", err)
	}
	sort.Strings(names)
	return id, map[string]any{"Installed": len(names)}, nil
}
