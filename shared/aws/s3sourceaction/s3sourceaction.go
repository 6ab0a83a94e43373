// Package s3sourceaction runs the S3 Source action (AWS/S3/1) on AWS: the object
// S3ObjectKey of the bucket S3Bucket, a zip, is copied to the artifact store as the
// action's single output artifact — the same configuration, output variables, revision
// and summary as the local twin (shared/local/s3source), with S3's own ETag and version
// id in place of the content hashes the local twin makes up.
//
// The object is pinned to one version: when the execution already names a revision for
// the action (started for a given revision, or Run again after a crash), that version is
// read; otherwise the latest. The revision is the object's version id, or its ETag in a
// bucket without versioning (where an ETag revision is read with If-Match, and fails
// the action once the object has changed). The object streams from GetObject to the
// artifact store: nothing is buffered beyond the store's upload parts and the zip's last
// 64 KiB, kept to check its end-of-central-directory record (a zip that lacks one fails
// the action after the copy: the artifact written is then never reported).
//
// A missing bucket, object or version, an object that is not a zip, or access denied
// fail the action; other errors are returned, to be retried. The function needs
// s3:GetObject and s3:GetObjectVersion on the source objects, and s3:ListBucket on the
// source bucket so that S3 answers a missing object with NoSuchKey rather than
// AccessDenied.
//
// AllowOverrideForS3ObjectKey and PollForSourceChanges are accepted and do not change
// Run: Relais refuses source revision overrides at StartPipelineExecution, and starting
// an execution on a change is the trigger's business.
package s3sourceaction

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Source/AWS/S3"

// Client is the part of *s3.Client the Source calls.
type Client interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Deps are what the Source needs.
type Deps struct {
	// Client reads the source bucket.
	Client Client
	// Artifacts receives the output artifact (on AWS, shared/aws/s3artifact).
	Artifacts core.ArtifactStore
	// Logger may be nil.
	Logger *slog.Logger
}

// Source runs S3 Source actions. It is safe for concurrent use.
type Source struct{ d Deps }

var _ action.Provider = (*Source)(nil)

// New returns a Source over d.
func New(d Deps) *Source {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Source{d: d}
}

// etagPattern matches an S3 ETag (the MD5 of a single-part object, or the MD5 of the
// parts' MD5s and the part count), quoted or not; a version id is never hex only.
var etagPattern = regexp.MustCompile(`^"?[0-9a-f]{32}(-[0-9]+)?"?$`)

// Run copies the object to the artifact store and reports it. Running it again for the
// same action execution copies the same version again.
func (s *Source) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	cfg := rec.Configuration
	bucket, key := cfg["S3Bucket"], cfg["S3ObjectKey"]
	if bucket == "" || key == "" {
		return action.Failed("ConfigurationError", errors.New("configuration S3Bucket and S3ObjectKey are required")), nil
	}
	if strings.ContainsAny(bucket, `/\`) {
		return action.Failed("ConfigurationError", fmt.Errorf("configuration S3Bucket %q is not a bucket name", bucket)), nil
	}
	if len(job.Declared.OutputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("a source action has exactly one output artifact; %s declares %d", rec.ActionName, len(job.Declared.OutputArtifacts))), nil
	}
	object := "s3://" + bucket + "/" + key

	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	pinned := ""
	if i := slices.IndexFunc(job.Execution.SourceRevisions, func(r core.SourceRevision) bool {
		return r.ActionName == rec.ActionName && r.RevisionID != ""
	}); i >= 0 {
		pinned = job.Execution.SourceRevisions[i].RevisionID
		if etagPattern.MatchString(pinned) {
			in.IfMatch = aws.String(quote(pinned))
		} else {
			in.VersionId = aws.String(pinned)
		}
	}
	out, err := s.d.Client.GetObject(ctx, in)
	if err != nil {
		if msg, ok := unavailable(err, pinned); ok {
			return action.Failed("RevisionUnavailable", fmt.Errorf("object %s: %s", object, msg)), nil
		}
		return action.Result{}, fmt.Errorf("get object %s: %w", object, err)
	}
	defer out.Body.Close()

	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	version := aws.ToString(out.VersionId)
	revision := version
	if version == "" || version == "null" {
		revision = etag // no versioning: the ETag is all that tells two contents apart
	}

	if in.IfMatch != nil && etag != strings.Trim(pinned, `"`) {
		// S3 answers a changed object with PreconditionFailed; this holds for a server
		// that ignores If-Match.
		msg, _ := unavailable(&smithy.GenericAPIError{Code: "PreconditionFailed"}, pinned)
		return action.Failed("RevisionUnavailable", fmt.Errorf("object %s: %s", object, msg)), nil
	}

	br := bufio.NewReader(out.Body)
	if head, err := br.Peek(4); !isZipStart(head) {
		if err != nil && !errors.Is(err, io.EOF) {
			return action.Result{}, fmt.Errorf("read object %s: %w", object, err)
		}
		return action.Failed("JobFailed", fmt.Errorf("object %s (revision %s) is not a zip file: it starts with %q", object, revision, head)), nil
	}
	name := job.Declared.OutputArtifacts[0].Name
	var tail tailWriter
	var size countWriter
	loc, err := s.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, io.TeeReader(br, io.MultiWriter(&tail, &size)))
	if err != nil {
		return action.Result{}, fmt.Errorf("copy %s (revision %s) to artifact %s: %w", object, revision, name, err)
	}
	if !tail.endsZip() {
		return action.Failed("JobFailed", fmt.Errorf("object %s (revision %s) is not a zip file: no end of central directory in its last bytes", object, revision)), nil
	}

	how := "latest"
	if pinned != "" {
		how = "revision of the execution"
	}
	summary := fmt.Sprintf("%s: %d bytes, version %s (%s)", object, int64(size), version, how)
	if revision == etag {
		summary = fmt.Sprintf("%s: %d bytes, ETag %s (%s; the bucket keeps no versions)", object, int64(size), etag, how)
	}
	s.d.Logger.InfoContext(ctx, "s3 source copied", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "object", object, "revision", revision, "bytes", int64(size))
	return action.Result{
		Status:          core.ActionSucceeded,
		OutputArtifacts: []core.Artifact{{Name: name, Location: loc}},
		OutputVariables: map[string]string{"ETag": etag, "ObjectKey": key, "VersionId": version},
		Summary:         summary,
		ExternalID:      revision,
		Revision:        &core.SourceRevision{RevisionID: revision, RevisionSummary: key},
	}, nil
}

// unavailable says why the object cannot be read, when retrying would not help.
func unavailable(err error, pinned string) (string, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", false
	}
	switch ae.ErrorCode() {
	case "NoSuchBucket":
		return "the bucket does not exist", true
	case "NoSuchKey", "NotFound":
		if pinned != "" {
			return "no such object at revision " + pinned, true
		}
		return "no such object", true
	case "NoSuchVersion":
		return "no version " + pinned, true
	case "InvalidArgument":
		if pinned != "" {
			return "no version " + pinned + ": " + ae.ErrorMessage(), true
		}
	case "PreconditionFailed":
		return "the object has changed since revision " + pinned + " (ETag), and the bucket keeps no versions", true
	case "AccessDenied", "Forbidden":
		return "access denied (S3 also answers so for a missing object when s3:ListBucket is not granted)", true
	}
	return "", false
}

func quote(etag string) string { return `"` + strings.Trim(etag, `"`) + `"` }

// isZipStart reports whether b starts a zip: a local file header, or the end of central
// directory of an empty archive.
func isZipStart(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// eocdSpan is the most an end of central directory record can take: 22 bytes and a
// comment of up to 65535.
const eocdSpan = 22 + 65535

// tailWriter keeps the last eocdSpan bytes written to it.
type tailWriter struct{ buf []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*eocdSpan {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-eocdSpan:]...)
	}
	return len(p), nil
}

// endsZip reports whether the bytes end with an end of central directory record whose
// comment runs exactly to the end.
func (t *tailWriter) endsZip() bool {
	b := t.buf
	for i := len(b) - 22; i >= 0 && i >= len(b)-eocdSpan; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 5 && b[i+3] == 6 {
			comment := int(b[i+20]) | int(b[i+21])<<8
			if i+22+comment == len(b) {
				return true
			}
		}
	}
	return false
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
