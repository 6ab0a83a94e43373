package awse2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/google/uuid"
)

// apiGateway is the stack's HTTP API ($default stage, payload format 2.0): each route's
// requests become the events API Gateway sends, invoked through the Lambda service, and
// the functions' answers become HTTP responses.
type apiGateway struct {
	srv     *httptest.Server
	lambda  *lambda.Client
	account string
	id      string
	routes  []route
}

// route is one route of infra/api.go: a method and path pattern, and its function.
type route struct {
	method, path, function string
}

func newAPIGateway(t *testing.T, client *lambda.Client, account string, routes []route) *apiGateway {
	g := &apiGateway{lambda: client, account: account, id: "a1b2c3d4e5", routes: routes}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

// URL is the stage's invoke URL, with its trailing slash (the stack's API URL output).
func (g *apiGateway) URL() string { return g.srv.URL + "/" }

// match finds the route of a request and its path parameters.
func (g *apiGateway) match(method, path string) (route, map[string]string, bool) {
	for _, rt := range g.routes {
		if rt.method != method {
			continue
		}
		want, got := strings.Split(rt.path, "/"), strings.Split(path, "/")
		if len(want) != len(got) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i := range want {
			if strings.HasPrefix(want[i], "{") && strings.HasSuffix(want[i], "}") && got[i] != "" {
				v, err := url.PathUnescape(got[i])
				if err != nil {
					ok = false
					break
				}
				params[strings.Trim(want[i], "{}")] = v
				continue
			}
			if want[i] != got[i] {
				ok = false
				break
			}
		}
		if ok {
			if len(params) == 0 {
				params = nil
			}
			return rt, params, true
		}
	}
	return route{}, nil, false
}

// textual says whether API Gateway passes a body of this content type as text; other
// bodies (forms among them) reach the function base64-encoded.
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || mt == "application/javascript"
}

func (g *apiGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params, ok := g.match(r.Method, r.URL.Path)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Not Found"}`)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20+1))
	if err != nil || len(body) > 10<<20 {
		http.Error(w, `{"message":"Request Entity Too Large"}`, http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now().UTC()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: rt.method + " " + rt.path, RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: rt.method + " " + rt.path, AccountID: g.account, Stage: "$default", RequestID: uuid.NewString()[:16],
			APIID: g.id, DomainName: r.Host, DomainPrefix: g.id, Time: now.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent(),
			},
		},
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	payload, _ := json.Marshal(ev)
	out, err := g.lambda.Invoke(r.Context(), &lambda.InvokeInput{FunctionName: aws.String(rt.function), Payload: payload})
	if err != nil || out.FunctionError != nil {
		detail := ""
		if err != nil {
			detail = err.Error()
		} else {
			detail = string(out.Payload)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Test-Integration-Error", strings.ReplaceAll(detail, "\n", " "))
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"Internal Server Error"}`)
		return
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out.Payload, &res); err != nil || res.StatusCode == 0 {
		// Payload 2.0 takes a body without statusCode as a 200 JSON answer.
		w.Header().Set("Content-Type", "application/json")
		w.Write(out.Payload)
		return
	}
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range res.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	data := []byte(res.Body)
	if res.IsBase64Encoded {
		if data, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
			http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(res.StatusCode)
	w.Write(data)
}

// call sends one request through the gateway as a client would, and returns the
// status and body.
func call(ctx context.Context, c *http.Client, method, u string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}
