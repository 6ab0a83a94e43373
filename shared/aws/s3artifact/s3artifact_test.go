package s3artifact

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

const bucket = "relais-artifacts"

// recorder is an HTTP client that remembers the headers of every request it sends.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, query string
	header              http.Header
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone()})
	r.mu.Unlock()
	return http.DefaultClient.Do(req)
}

// writes returns the requests that start an object: PutObject and CreateMultipartUpload.
func (r *recorder) writes() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if !strings.HasSuffix(q.path, artifactExt) {
			continue // bucket operations
		}
		isPut := q.method == http.MethodPut && !strings.Contains(q.query, "partNumber")
		isCreate := q.method == http.MethodPost && strings.HasPrefix(q.query, "uploads")
		if isPut || isCreate {
			out = append(out, q)
		}
	}
	return out
}

type fixture struct {
	client *s3.Client
	rec    *recorder
}

// newFixture serves a gofakes3 bucket (the stand-in for S3) to a real SDK client.
func newFixture(t *testing.T, versioned bool) *fixture {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	rec := &recorder{}
	c := s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       rec,
		RetryMaxAttempts: 1,
	})
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if versioned {
		_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		})
		if err != nil {
			t.Fatalf("enable versioning: %v", err)
		}
	}
	return &fixture{client: c, rec: rec}
}

func (f *fixture) store(opts ...Option) *Store {
	return New(f.client, s3.NewPresignClient(f.client), bucket, opts...)
}

func TestArtifactStore(t *testing.T) {
	for _, tt := range []struct {
		name      string
		versioned bool
		opts      []Option
	}{
		{"unversioned", false, nil},
		{"versioned", true, nil},
		{"prefixed", true, []Option{WithPrefix("artifacts")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			coretest.ArtifactStore(t, func(t *testing.T) core.ArtifactStore {
				return newFixture(t, tt.versioned).store(tt.opts...)
			})
		})
	}
}

func TestLocations(t *testing.T) {
	ctx := t.Context()
	put := func(t *testing.T, s *Store, data string) core.ArtifactLocation {
		t.Helper()
		loc, err := s.PutArtifact(ctx, "build", "e1", "out", strings.NewReader(data))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return loc
	}
	read := func(t *testing.T, s *Store, loc core.ArtifactLocation) string {
		t.Helper()
		r, err := s.OpenArtifact(ctx, loc)
		if err != nil {
			t.Fatalf("open %+v: %v", loc, err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read %+v: %v", loc, err)
		}
		return string(b)
	}

	t.Run("unversioned bucket: bucket and key", func(t *testing.T) {
		s := newFixture(t, false).store(WithPrefix("a/"))
		got := put(t, s, "x")
		want := core.ArtifactLocation{Store: bucket, Key: "a/build/e1/out.zip"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("location (-want +got):\n%s", diff)
		}
	})

	t.Run("versioned bucket: each write its version", func(t *testing.T) {
		s := newFixture(t, true).store()
		first := put(t, s, "first")
		second := put(t, s, "second")
		if first.Version == "" || second.Version == "" || first.Version == second.Version {
			t.Fatalf("versions: got %q and %q, want two different ones", first.Version, second.Version)
		}
		if got := read(t, s, first); got != "first" {
			t.Errorf("first version: got %q, want %q", got, "first")
		}
		if got := read(t, s, second); got != "second" {
			t.Errorf("second version: got %q, want %q", got, "second")
		}
	})

	t.Run("a location of another bucket is invalid", func(t *testing.T) {
		s := newFixture(t, false).store()
		loc := put(t, s, "x")
		loc.Store = "elsewhere"
		if _, err := s.OpenArtifact(ctx, loc); !isInvalid(err) {
			t.Errorf("open: got error %v, want ErrInvalid", err)
		}
		if _, err := s.ArtifactURL(ctx, loc, time.Minute); !isInvalid(err) {
			t.Errorf("url: got error %v, want ErrInvalid", err)
		}
	})

	t.Run("artifact url is a presigned GET of the version", func(t *testing.T) {
		s := newFixture(t, true).store()
		loc := put(t, s, "x")
		raw, err := s.ArtifactURL(ctx, loc, 15*time.Minute)
		if err != nil {
			t.Fatalf("url: %v", err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parse %q: %v", raw, err)
		}
		q := u.Query()
		for k, want := range map[string]string{"X-Amz-Expires": "900", "versionId": loc.Version} {
			if got := q.Get(k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
		if !strings.HasSuffix(u.Path, "/"+bucket+"/build/e1/out.zip") || q.Get("X-Amz-Signature") == "" {
			t.Errorf("got URL %s, want a signed link to %s/build/e1/out.zip", raw, bucket)
		}
		// The stand-in ignores signatures, so the link can be followed.
		resp, err := http.Get(raw)
		if err != nil {
			t.Fatalf("get %s: %v", raw, err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != "x" {
			t.Errorf("following the link: got %d %q, want 200 %q", resp.StatusCode, b, "x")
		}
	})
}

func TestEncryption(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name    string
		opts    []Option
		size    int
		want    string
		wantKey string
	}{
		{"SSE-S3 by default", nil, 10, "AES256", ""},
		{"SSE-KMS with a key", []Option{WithKMSKey("alias/relais")}, 10, "aws:kms", "alias/relais"},
		{"multipart upload", []Option{WithKMSKey("alias/relais")}, 11 << 20, "aws:kms", "alias/relais"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			s := f.store(tt.opts...)
			if _, err := s.PutArtifact(ctx, "build", "e1", "out", io.MultiReader(bytes.NewReader(make([]byte, tt.size)))); err != nil {
				t.Fatalf("put: %v", err)
			}
			writes := f.rec.writes()
			if len(writes) != 1 {
				t.Fatalf("got %d object writes, want 1: %+v", len(writes), writes)
			}
			h := writes[0].header
			if got := h.Get("X-Amz-Server-Side-Encryption"); got != tt.want {
				t.Errorf("X-Amz-Server-Side-Encryption: got %q, want %q", got, tt.want)
			}
			if got := h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != tt.wantKey {
				t.Errorf("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id: got %q, want %q", got, tt.wantKey)
			}
			if tt.size > 5<<20 && writes[0].method != http.MethodPost {
				t.Errorf("a %d-byte artifact: got %s %s, want a multipart upload", tt.size, writes[0].method, writes[0].path)
			}
		})
	}
}

func isInvalid(err error) bool { return errors.Is(err, core.ErrInvalid) }
