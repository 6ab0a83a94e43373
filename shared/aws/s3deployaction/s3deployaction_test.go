package s3deployaction

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/s3artifact"
	"github.com/relais-ci/relais/shared/core"
)

const (
	artifactBucket = "relais-artifacts"
	siteBucket     = "www.example.com"
)

// recorder is an HTTP client that remembers the object writes it sends.
type recorder struct {
	mu   sync.Mutex
	puts map[string]http.Header // by path
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodPost {
		r.mu.Lock()
		r.puts[req.URL.Path] = req.Header.Clone()
		r.mu.Unlock()
	}
	return http.DefaultClient.Do(req)
}

type fixture struct {
	client *s3.Client
	rec    *recorder
	store  *s3artifact.Store
	dep    *Deployer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	rec := &recorder{puts: map[string]http.Header{}}
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  rec, RetryMaxAttempts: 1,
	})
	for _, b := range []string{artifactBucket, siteBucket} {
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	store := s3artifact.New(c, s3.NewPresignClient(c), artifactBucket)
	return &fixture{client: c, rec: rec, store: store, dep: New(store, c, nil)}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (f *fixture) job(t *testing.T, cfg map[string]string, zipped []byte) action.Job {
	t.Helper()
	loc, err := f.store.PutArtifact(t.Context(), "web", "exec-1", "BuildOutput", bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	return action.Job{Stage: "Deploy", Record: core.ActionExecution{
		ID: "act-1", PipelineName: "web", ExecutionID: "exec-1", StageName: "Deploy", ActionName: "Site",
		Configuration: cfg, InputArtifacts: []core.Artifact{{Name: "BuildOutput", Location: loc}},
	}}
}

// objects returns the deploy bucket's keys and contents.
func (f *fixture) objects(t *testing.T) map[string]string {
	t.Helper()
	out, err := f.client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(siteBucket)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, o := range out.Contents {
		g, err := f.client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(siteBucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(g.Body)
		g.Body.Close()
		m[*o.Key] = string(b)
	}
	return m
}

func TestExtract(t *testing.T) {
	f := newFixture(t)
	cfg := map[string]string{"BucketName": siteBucket, "Extract": "true", "ObjectKey": "/v2",
		"CannedACL": "public-read", "CacheControl": "max-age=60", "KMSEncryptionKeyARN": "arn:aws:kms:us-east-1:123456789012:key/k1"}
	files := map[string]string{"index.html": "<h1>hi</h1>", "css/site.css": "body{}", "data/blob.bin": "\x00\x01", "./app.js": "x()"}
	res, err := f.dep.Run(t.Context(), f.job(t, cfg, zipOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	want := action.Result{Status: core.ActionSucceeded, Summary: "Extracted 4 files of BuildOutput to s3://www.example.com/v2 with " +
		"CannedACL public-read, CacheControl max-age=60, KMSEncryptionKeyARN arn:aws:kms:us-east-1:123456789012:key/k1"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	wantObjs := map[string]string{"v2/index.html": "<h1>hi</h1>", "v2/css/site.css": "body{}", "v2/data/blob.bin": "\x00\x01", "v2/app.js": "x()"}
	if diff := cmp.Diff(wantObjs, f.objects(t)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	for key, ct := range map[string]string{"v2/index.html": "text/html", "v2/css/site.css": "text/css", "v2/data/blob.bin": "application/octet-stream", "v2/app.js": "text/javascript"} {
		h := f.rec.puts["/"+siteBucket+"/"+key]
		if h == nil {
			t.Errorf("no PUT of %s", key)
			continue
		}
		if got := h.Get("Content-Type"); !strings.HasPrefix(got, ct) {
			t.Errorf("%s: got Content-Type %q, want %s", key, got, ct)
		}
		for hdr, want := range map[string]string{
			"X-Amz-Acl": "public-read", "Cache-Control": "max-age=60",
			"X-Amz-Server-Side-Encryption": "aws:kms", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": cfg["KMSEncryptionKeyARN"],
		} {
			if got := h.Get(hdr); got != want {
				t.Errorf("%s: got %s %q, want %q", key, hdr, got, want)
			}
		}
	}
}

func TestCopy(t *testing.T) {
	f := newFixture(t)
	zipped := zipOf(t, map[string]string{"a.txt": "a"})
	res, err := f.dep.Run(t.Context(), f.job(t, map[string]string{"BucketName": siteBucket, "Extract": "false", "ObjectKey": "releases/site.zip"}, zipped))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Copied BuildOutput to s3://www.example.com/releases/site.zip"; res.Status != core.ActionSucceeded || res.Summary != want {
		t.Errorf("got %s %q, want Succeeded %q", res.Status, res.Summary, want)
	}
	if diff := cmp.Diff(map[string]string{"releases/site.zip": string(zipped)}, f.objects(t)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	h := f.rec.puts["/"+siteBucket+"/releases/site.zip"]
	if got := h.Get("Content-Type"); got != "application/zip" {
		t.Errorf("got Content-Type %q, want application/zip", got)
	}
	if got := h.Get("X-Amz-Acl"); got != "" {
		t.Errorf("got ACL %q without CannedACL, want none", got)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name  string
		cfg   map[string]string
		files map[string]string
		raw   []byte
		want  string
	}{
		{"zip slip", map[string]string{"BucketName": siteBucket, "Extract": "true", "ObjectKey": "site"},
			map[string]string{"ok.txt": "fine", "../../escape.txt": "bad"}, nil, `entry "../../escape.txt" would be written outside`},
		{"absolute entry", map[string]string{"BucketName": siteBucket, "Extract": "true"},
			map[string]string{"/etc/passwd": "bad"}, nil, "would be written outside"},
		{"not a zip", map[string]string{"BucketName": siteBucket, "Extract": "true"}, nil, []byte("plain text"), "not a zip file"},
		{"no bucket", map[string]string{"Extract": "true"}, map[string]string{"a": "a"}, nil, "BucketName"},
		{"bad extract", map[string]string{"BucketName": siteBucket, "Extract": "yes"}, map[string]string{"a": "a"}, nil, "Extract is"},
		{"copy without key", map[string]string{"BucketName": siteBucket, "Extract": "false"}, map[string]string{"a": "a"}, nil, "ObjectKey must name"},
		{"bad acl", map[string]string{"BucketName": siteBucket, "Extract": "true", "CannedACL": "everyone"}, map[string]string{"a": "a"}, nil, "CannedACL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			raw := tt.raw
			if raw == nil {
				raw = zipOf(t, tt.files)
			}
			res, err := f.dep.Run(t.Context(), f.job(t, tt.cfg, raw))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, tt.want) {
				t.Errorf("got %s %+v, want Failed with %q", res.Status, res.Error, tt.want)
			}
			if objs := f.objects(t); len(objs) != 0 {
				t.Errorf("got objects %v, want none written", objs)
			}
		})
	}
}
