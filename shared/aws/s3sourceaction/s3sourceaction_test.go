package s3sourceaction

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/s3artifact"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

const (
	artifactBucket  = "relais-artifacts"
	versionedBucket = "releases"
	plainBucket     = "plain"
)

var quiet = slog.New(slog.DiscardHandler)

type fixture struct {
	client *s3.Client
	store  *s3artifact.Store
	src    *Source
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	for _, b := range []string{artifactBucket, versionedBucket, plainBucket} {
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	if _, err := c.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(versionedBucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	store := s3artifact.New(c, s3.NewPresignClient(c), artifactBucket)
	return &fixture{client: c, store: store, src: New(Deps{Client: c, Artifacts: store, Logger: quiet})}
}

// put writes an object and returns its version id ("" without versioning).
func (f *fixture) put(t *testing.T, bucket, key string, body []byte) string {
	t.Helper()
	out, err := f.client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.VersionId)
}

func (f *fixture) artifact(t *testing.T, res action.Result) []byte {
	t.Helper()
	if len(res.OutputArtifacts) != 1 {
		t.Fatalf("got %d output artifacts, want 1", len(res.OutputArtifacts))
	}
	rc, err := f.store.OpenArtifact(t.Context(), res.OutputArtifacts[0].Location)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, body := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// job is the action Source of pipeline app reading bucket/key; revs are the execution's
// source revisions.
func job(bucket, key string, revs ...core.SourceRevision) action.Job {
	cfg := map[string]string{"S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"}
	return action.Job{
		Execution: core.Execution{PipelineName: "app", ID: "e1", SourceRevisions: revs},
		Stage:     "Source",
		Declared: pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: "AWS", Provider: "S3", Version: "1"},
			Configuration: cfg, OutputArtifacts: []pipeline.Artifact{{Name: "SourceOutput"}}},
		Record: core.ActionExecution{ID: "a1", PipelineName: "app", ExecutionID: "e1", StageName: "Source", ActionName: "Source", Configuration: cfg},
	}
}

func TestRunVersioned(t *testing.T) {
	f := newFixture(t)
	v1 := zipOf(t, map[string]string{"app.txt": "one"})
	v2 := zipOf(t, map[string]string{"app.txt": "two, longer"})
	id1 := f.put(t, versionedBucket, "app/app.zip", v1)
	id2 := f.put(t, versionedBucket, "app/app.zip", v2)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Fatalf("got version ids %q and %q, want two different ones", id1, id2)
	}

	tests := []struct {
		name     string
		job      action.Job
		want     []byte
		wantID   string
		wantHow  string
		wantSize int
	}{
		{"latest", job(versionedBucket, "app/app.zip"), v2, id2, "(latest)", len(v2)},
		{"pinned older version", job(versionedBucket, "app/app.zip", core.SourceRevision{ActionName: "Other", RevisionID: id2},
			core.SourceRevision{ActionName: "Source", RevisionID: id1}), v1, id1, "(revision of the execution)", len(v1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.src.Run(t.Context(), tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != core.ActionSucceeded {
				t.Fatalf("got status %s (%+v), want Succeeded", res.Status, res.Error)
			}
			if got := f.artifact(t, res); !bytes.Equal(got, tc.want) {
				t.Errorf("got artifact of %d bytes, want the %d bytes of version %s", len(got), len(tc.want), tc.wantID)
			}
			if got := res.OutputArtifacts[0].Name; got != "SourceOutput" {
				t.Errorf("got artifact name %q, want SourceOutput", got)
			}
			wantVars := map[string]string{"ETag": md5hex(tc.want), "ObjectKey": "app/app.zip", "VersionId": tc.wantID}
			if diff := cmp.Diff(wantVars, res.OutputVariables); diff != "" {
				t.Errorf("output variables (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&core.SourceRevision{RevisionID: tc.wantID, RevisionSummary: "app/app.zip"}, res.Revision); diff != "" {
				t.Errorf("revision (-want +got):\n%s", diff)
			}
			if res.ExternalID != tc.wantID {
				t.Errorf("got external id %q, want %q", res.ExternalID, tc.wantID)
			}
			for _, want := range []string{"s3://releases/app/app.zip", "version " + tc.wantID, tc.wantHow} {
				if !strings.Contains(res.Summary, want) {
					t.Errorf("got summary %q, want it to contain %q", res.Summary, want)
				}
			}
		})
	}
}

func TestRunUnversioned(t *testing.T) {
	f := newFixture(t)
	v1 := zipOf(t, map[string]string{"a": "1"})
	f.put(t, plainBucket, "src.zip", v1)
	etag := md5hex(v1)

	res, err := f.src.Run(t.Context(), job(plainBucket, "src.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != core.ActionSucceeded {
		t.Fatalf("got status %s (%+v), want Succeeded", res.Status, res.Error)
	}
	if got := f.artifact(t, res); !bytes.Equal(got, v1) {
		t.Errorf("got artifact %q, want the object", got)
	}
	if diff := cmp.Diff(map[string]string{"ETag": etag, "ObjectKey": "src.zip", "VersionId": ""}, res.OutputVariables); diff != "" {
		t.Errorf("output variables (-want +got):\n%s", diff)
	}
	if res.Revision == nil || res.Revision.RevisionID != etag {
		t.Errorf("got revision %+v, want the ETag %s", res.Revision, etag)
	}
	if !strings.Contains(res.Summary, "ETag "+etag) || !strings.Contains(res.Summary, "keeps no versions") {
		t.Errorf("got summary %q, want the ETag and that the bucket keeps no versions", res.Summary)
	}

	t.Run("pinned to the current ETag", func(t *testing.T) {
		res, err := f.src.Run(t.Context(), job(plainBucket, "src.zip", core.SourceRevision{ActionName: "Source", RevisionID: etag}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != core.ActionSucceeded || res.Revision == nil || res.Revision.RevisionID != etag {
			t.Fatalf("got %s %+v revision %+v, want Succeeded at %s", res.Status, res.Error, res.Revision, etag)
		}
	})
	t.Run("pinned to an ETag the object no longer has", func(t *testing.T) {
		f.put(t, plainBucket, "src.zip", zipOf(t, map[string]string{"a": "2"}))
		res, err := f.src.Run(t.Context(), job(plainBucket, "src.zip", core.SourceRevision{ActionName: "Source", RevisionID: etag}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != "RevisionUnavailable" || !strings.Contains(res.Error.Message, "has changed since revision "+etag) {
			t.Errorf("got %s %+v, want Failed RevisionUnavailable: has changed", res.Status, res.Error)
		}
	})
}

func TestRunFails(t *testing.T) {
	f := newFixture(t)
	f.put(t, versionedBucket, "app.zip", zipOf(t, map[string]string{"a": "a"}))
	f.put(t, versionedBucket, "notes.txt", []byte("plain text, not a zip"))
	f.put(t, versionedBucket, "empty", nil)
	whole := zipOf(t, map[string]string{"a": strings.Repeat("x", 1000)})
	f.put(t, versionedBucket, "truncated.zip", whole[:len(whole)-10])
	twoOutputs := job(versionedBucket, "app.zip")
	twoOutputs.Declared.OutputArtifacts = append(twoOutputs.Declared.OutputArtifacts, pipeline.Artifact{Name: "More"})

	tests := []struct {
		name     string
		job      action.Job
		wantCode string
		wantMsg  []string
	}{
		{"missing bucket", job("nobucket", "app.zip"), "RevisionUnavailable", []string{"s3://nobucket/app.zip", "bucket does not exist"}},
		{"missing key", job(versionedBucket, "nope.zip"), "RevisionUnavailable", []string{"s3://releases/nope.zip", "no such object"}},
		{"missing version", job(versionedBucket, "app.zip", core.SourceRevision{ActionName: "Source", RevisionID: "no-such-version"}),
			"RevisionUnavailable", []string{"s3://releases/app.zip", "no-such-version"}},
		{"not a zip", job(versionedBucket, "notes.txt"), "JobFailed", []string{"s3://releases/notes.txt", "is not a zip file", `"plai"`}},
		{"empty object", job(versionedBucket, "empty"), "JobFailed", []string{"s3://releases/empty", "is not a zip file"}},
		{"truncated zip", job(versionedBucket, "truncated.zip"), "JobFailed", []string{"s3://releases/truncated.zip", "no end of central directory"}},
		{"no bucket configured", job("", "app.zip"), "ConfigurationError", []string{"S3Bucket and S3ObjectKey are required"}},
		{"no key configured", job(versionedBucket, ""), "ConfigurationError", []string{"S3Bucket and S3ObjectKey are required"}},
		{"bucket with a slash", job("a/b", "app.zip"), "ConfigurationError", []string{`"a/b" is not a bucket name`}},
		{"two output artifacts", twoOutputs, "ConfigurationError", []string{"exactly one output artifact", "declares 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.src.Run(t.Context(), tc.job)
			if err != nil {
				t.Fatalf("got error %v, want a Failed result", err)
			}
			if res.Status != core.ActionFailed || res.Error == nil || res.Error.Code != tc.wantCode {
				t.Fatalf("got %s %+v, want Failed %s", res.Status, res.Error, tc.wantCode)
			}
			for _, want := range tc.wantMsg {
				if !strings.Contains(res.Error.Message, want) {
					t.Errorf("got message %q, want it to contain %q", res.Error.Message, want)
				}
			}
			if res.Revision != nil || len(res.OutputArtifacts) != 0 {
				t.Errorf("got revision %+v and artifacts %v from a failed action, want none", res.Revision, res.OutputArtifacts)
			}
		})
	}
}

// clientFunc scripts GetObject.
type clientFunc func(ctx context.Context, in *s3.GetObjectInput) (*s3.GetObjectOutput, error)

func (c clientFunc) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return c(ctx, in)
}

// failingStore refuses every artifact.
type failingStore struct{ core.ArtifactStore }

func (failingStore) PutArtifact(context.Context, string, string, string, io.Reader) (core.ArtifactLocation, error) {
	return core.ArtifactLocation{}, errors.New("slow down")
}

func TestRunErrors(t *testing.T) {
	f := newFixture(t)
	f.put(t, versionedBucket, "app.zip", zipOf(t, map[string]string{"a": "a"}))
	apiErr := func(code string) clientFunc {
		return func(context.Context, *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: code, Message: code + " from S3"}
		}
	}
	t.Run("infrastructure failures are returned, to be retried", func(t *testing.T) {
		for _, c := range []Client{apiErr("InternalError"), apiErr("SlowDown"), clientFunc(func(context.Context, *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
			return nil, errors.New("connection reset")
		})} {
			res, err := New(Deps{Client: c, Artifacts: f.store, Logger: quiet}).Run(t.Context(), job(versionedBucket, "app.zip"))
			if err == nil || !strings.Contains(err.Error(), "s3://releases/app.zip") {
				t.Errorf("got %v (result %s %+v), want an error naming the object", err, res.Status, res.Error)
			}
		}
		res, err := New(Deps{Client: f.client, Artifacts: failingStore{f.store}, Logger: quiet}).Run(t.Context(), job(versionedBucket, "app.zip"))
		if err == nil || !strings.Contains(err.Error(), "slow down") || !strings.Contains(err.Error(), "artifact SourceOutput") {
			t.Errorf("got %v (result %s), want the store's error", err, res.Status)
		}
	})
	t.Run("access denied fails the action", func(t *testing.T) {
		res, err := New(Deps{Client: apiErr("AccessDenied"), Artifacts: f.store, Logger: quiet}).Run(t.Context(), job(versionedBucket, "app.zip"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != core.ActionFailed || res.Error == nil || !strings.Contains(res.Error.Message, "s3://releases/app.zip: access denied") {
			t.Errorf("got %s %+v, want Failed: access denied", res.Status, res.Error)
		}
	})
	t.Run("a pinned version is asked for, an ETag with If-Match", func(t *testing.T) {
		var got []*s3.GetObjectInput
		c := clientFunc(func(_ context.Context, in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
			got = append(got, in)
			return nil, &smithy.GenericAPIError{Code: "NoSuchKey"}
		})
		etag := strings.Repeat("ab", 16)
		for _, rev := range []string{"v1", etag, `"` + etag + `-3"`} {
			if _, err := New(Deps{Client: c, Artifacts: f.store, Logger: quiet}).Run(t.Context(), job(versionedBucket, "app.zip", core.SourceRevision{ActionName: "Source", RevisionID: rev})); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"version v1", `if-match "` + etag + `"`, `if-match "` + etag + `-3"`}
		for i, in := range got {
			s := ""
			if in.VersionId != nil {
				s = "version " + *in.VersionId
			}
			if in.IfMatch != nil {
				s += "if-match " + *in.IfMatch
			}
			if s != want[i] {
				t.Errorf("request %d: got %s, want %s", i, s, want[i])
			}
		}
	})
}

// countingClient counts the bytes its objects' bodies have delivered.
type countingClient struct {
	Client
	read atomic.Int64
}

func (c *countingClient) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.Client.GetObject(ctx, in, optFns...)
	if err == nil {
		out.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(out.Body, counter{&c.read}), out.Body}
	}
	return out, err
}

type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// peekingStore notes how much of the object had been read from S3 when the store had
// received its first MiB.
type peekingStore struct {
	core.ArtifactStore
	client    *countingClient
	readAtMiB int64
}

func (s *peekingStore) PutArtifact(ctx context.Context, p, e, n string, r io.Reader) (core.ArtifactLocation, error) {
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, first); err != nil {
		return core.ArtifactLocation{}, err
	}
	s.readAtMiB = s.client.read.Load()
	return s.ArtifactStore.PutArtifact(ctx, p, e, n, io.MultiReader(bytes.NewReader(first), r))
}

func TestRunLargeObjectStreams(t *testing.T) {
	f := newFixture(t)
	// 24 MiB of incompressible content, stored: several upload parts of the artifact.
	big := make([]byte, 24<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(big)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "blob.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(big)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	object := buf.Bytes()
	id := f.put(t, versionedBucket, "big.zip", object)

	cc := &countingClient{Client: f.client}
	store := &peekingStore{ArtifactStore: f.store, client: cc}
	res, err := New(Deps{Client: cc, Artifacts: store, Logger: quiet}).Run(t.Context(), job(versionedBucket, "big.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != core.ActionSucceeded {
		t.Fatalf("got %s %+v, want Succeeded", res.Status, res.Error)
	}
	if got := f.artifact(t, res); md5hex(got) != md5hex(object) || len(got) != len(object) {
		t.Errorf("got an artifact of %d bytes (md5 %s), want the object's %d (md5 %s)", len(got), md5hex(got), len(object), md5hex(object))
	}
	if res.Revision == nil || res.Revision.RevisionID != id {
		t.Errorf("got revision %+v, want %s", res.Revision, id)
	}
	if limit := int64(2 << 20); store.readAtMiB > limit {
		t.Errorf("%d bytes had been read from S3 when the store had its first MiB, want at most %d: the object is buffered, not streamed", store.readAtMiB, limit)
	}
	if want := "big.zip: " + strconv.Itoa(len(object)) + " bytes"; !strings.Contains(res.Summary, want) {
		t.Errorf("got summary %q, want it to contain %q", res.Summary, want)
	}
}
