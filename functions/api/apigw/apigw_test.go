package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

// TestSamplesRoundTrip checks that the HTTP API samples of the api and approval
// functions are payload 2.0 events as aws-lambda-go reads them: no field unknown to it,
// and the event encoded again reads back the same (aws-lambda-go writes some empty
// structures API Gateway leaves out, so the JSON texts differ).
func TestSamplesRoundTrip(t *testing.T) {
	var files []string
	for _, fn := range []string{"api", "approval"} {
		f, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", fn, "*.json"))
		for _, name := range f {
			// The api function's install-*.json are CloudFormation custom resource requests.
			if !strings.HasPrefix(filepath.Base(name), "install-") {
				files = append(files, name)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var e events.APIGatewayV2HTTPRequest
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, _ := json.Marshal(e)
			var again events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e, again); diff != "" {
				t.Errorf("round trip (-sample +encoded):\n%s", diff)
			}
		})
	}
}

type seen struct {
	Method, Target, Host, Remote, Cookie, Token, ID string
	Body                                            string
}

func TestRequest(t *testing.T) {
	read := func(name string) events.APIGatewayV2HTTPRequest {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		sample string
		want   seen
	}{
		{"api/get-pipeline-state-base64.json", seen{Method: "POST", Target: "/", Host: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
			Remote: "203.0.113.7", Token: "sample-token", Body: `{"name":"hello"}`}},
		{"approval/post.json", seen{Method: "POST", Target: "/approvals/0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01",
			Host: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", Remote: "203.0.113.7", Cookie: "relais_approval=bm9uY2U",
			ID: "0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01", Body: "decision=approve&comment=ship+it"}},
		{"approval/get.json", seen{Method: "GET", Target: "/approvals/0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01?page=approve&to=alice%40example.com&exp=1796321668&sig=c2lnbmF0dXJl",
			Host: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", Remote: "203.0.113.7", ID: "0b5e8d1c-7f36-4c4e-9d1b-3f0d2c9a1e01"}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			var got seen
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got = seen{Method: r.Method, Target: r.URL.RequestURI(), Host: r.Host, Remote: r.RemoteAddr,
					Cookie: r.Header.Get("Cookie"), Token: r.Header.Get("X-Relais-Api-Token"), ID: r.PathValue("id"), Body: string(body)}
				http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
				w.Header().Set("Content-Type", "application/octet-stream")
				w.WriteHeader(http.StatusTeapot)
				w.Write([]byte{0xff, 0xfe})
			})
			res, err := Serve(context.Background(), h, read(tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			wantRes := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusTeapot,
				Headers: map[string]string{"Content-Type": "application/octet-stream"},
				Cookies: []string{"a=1"}, Body: "//4=", IsBase64Encoded: true}
			if diff := cmp.Diff(wantRes, res); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeRefusesBadBase64(t *testing.T) {
	res, err := Serve(context.Background(), http.NotFoundHandler(), events.APIGatewayV2HTTPRequest{Body: "%%%", IsBase64Encoded: true})
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("got %d, %v; want 400", res.StatusCode, err)
	}
}
