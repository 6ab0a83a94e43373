// Package apigw serves an http.Handler behind API Gateway HTTP APIs (payload format 2.0):
// it turns the Lambda event into an *http.Request and the handler's answer into the
// response event. The api and approval functions share it so that their handlers are the
// same http.Handlers that `relais serve` mounts.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodyBytes bounds a request body: API Gateway's own payload limit (10 MB).
const MaxBodyBytes = 10 << 20

// Request returns the HTTP request an API Gateway HTTP API event describes.
func Request(ctx context.Context, e events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(e.Body)
	if e.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body of request %s: %w", e.RequestContext.RequestID, err)
		}
		body = b
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("request %s: body of %d bytes is over %d", e.RequestContext.RequestID, len(body), MaxBodyBytes)
	}
	method := e.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	path := e.RawPath
	if path == "" {
		path = "/"
	}
	target := path
	if e.RawQueryString != "" {
		target += "?" + e.RawQueryString
	}
	r, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", e.RequestContext.RequestID, err)
	}
	// API Gateway joins repeated headers with commas, which is also how HTTP allows them
	// to be combined.
	for k, v := range e.Headers {
		r.Header.Set(k, v)
	}
	if len(e.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(e.Cookies, "; "))
	}
	r.Host = e.RequestContext.DomainName
	if r.Host == "" {
		r.Host = e.Headers["host"]
	}
	r.RemoteAddr = e.RequestContext.HTTP.SourceIP
	r.RequestURI = target
	r.ContentLength = int64(len(body))
	for k, v := range e.PathParameters {
		r.SetPathValue(k, v)
	}
	return r, nil
}

// Serve answers one event with h.
func Serve(ctx context.Context, h http.Handler, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := Request(ctx, e)
	if err != nil {
		// A malformed event is the client's fault (a bad base64 body); say so without detail.
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			Body:       "bad request\n",
		}, nil
	}
	w := &response{header: http.Header{}}
	h.ServeHTTP(w, r)
	return w.event(), nil
}

// response collects what a handler writes.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *response) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *response) event() events.APIGatewayV2HTTPResponse {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, vs := range w.header {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ",")
	}
	if utf8.Valid(w.body.Bytes()) {
		out.Body = w.body.String()
	} else {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(w.body.Bytes()), true
	}
	return out
}
