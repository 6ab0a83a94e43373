// Package s3artifact keeps artifact zips in an S3 bucket: the AWS core.ArtifactStore.
//
// An artifact is the object <prefix><pipeline>/<execution>/<name>.zip, written with
// server-side encryption (SSE-S3 by default, or SSE-KMS with a key of the caller's
// choice). Uploads stream through the SDK's upload manager: parts of at most the part
// size are buffered, never the whole artifact, and a failed multipart upload is aborted,
// so a failed write leaves what the key held before. Locations carry the bucket, the key
// and, when the bucket is versioned, the object's version id, so that a location keeps
// naming the bytes it was given for even after the artifact is written again.
//
// The Store needs s3:PutObject, s3:GetObject, s3:GetObjectVersion and
// s3:AbortMultipartUpload on the bucket's objects (and kms:GenerateDataKey and
// kms:Decrypt on the key with SSE-KMS); a presigned link carries the signer's rights.
package s3artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/relais-ci/relais/shared/core"
)

var _ core.ArtifactStore = (*Store)(nil)

// Client is the part of *s3.Client the Store calls: the upload manager's operations and
// GetObject.
type Client interface {
	manager.UploadAPIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Presigner presigns download links; *s3.PresignClient is one.
type Presigner interface {
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Store is a bucket of artifacts. It is safe for concurrent use.
type Store struct {
	client    Client
	presigner Presigner
	bucket    string
	prefix    string
	kmsKeyID  string
	partSize  int64
	uploader  *manager.Uploader
}

// Option changes how New sets up a Store.
type Option func(*Store)

// WithPrefix puts every key under prefix (for example "artifacts/"; a missing trailing
// slash is added).
func WithPrefix(prefix string) Option {
	return func(s *Store) {
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		s.prefix = prefix
	}
}

// WithKMSKey encrypts artifacts with SSE-KMS under the given key (id, ARN or alias)
// instead of SSE-S3 (AES256).
func WithKMSKey(keyID string) Option { return func(s *Store) { s.kmsKeyID = keyID } }

// WithPartSize sets the size of the parts an upload buffers and sends (at least 5 MiB,
// S3's minimum; the default). Bigger parts mean fewer requests and more memory.
func WithPartSize(n int64) Option {
	return func(s *Store) { s.partSize = max(n, manager.MinUploadPartSize) }
}

// New returns a Store on bucket. presigner makes ArtifactURL's links (on AWS,
// s3.NewPresignClient of the same client).
func New(client Client, presigner Presigner, bucket string, opts ...Option) *Store {
	s := &Store{client: client, presigner: presigner, bucket: bucket, partSize: manager.DefaultUploadPartSize}
	for _, opt := range opts {
		opt(s)
	}
	s.uploader = manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = s.partSize
		// Two parts in flight keep an upload busy while bounding its memory.
		u.Concurrency = 2
	})
	return s
}

const artifactExt = ".zip"

// PutArtifact streams r to the bucket as the named artifact of an execution; see
// core.ArtifactStore.
func (s *Store) PutArtifact(ctx context.Context, pipeline, executionID, name string, r io.Reader) (core.ArtifactLocation, error) {
	for _, seg := range []string{pipeline, executionID, name} {
		if err := checkSegment(seg); err != nil {
			return core.ArtifactLocation{}, fmt.Errorf("put artifact %s/%s/%s: %w", pipeline, executionID, name, err)
		}
	}
	key := s.prefix + path.Join(pipeline, executionID, name+artifactExt)
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: r,
		ContentType:          aws.String("application/zip"),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
	}
	if s.kmsKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.kmsKeyID)
	}
	out, err := s.uploader.Upload(ctx, in)
	if err != nil {
		return core.ArtifactLocation{}, fmt.Errorf("put artifact s3://%s/%s: %w", s.bucket, key, err)
	}
	return core.ArtifactLocation{Store: s.bucket, Key: key, Version: aws.ToString(out.VersionID)}, nil
}

// OpenArtifact opens the artifact at loc (its version, when it has one); see
// core.ArtifactStore.
func (s *Store) OpenArtifact(ctx context.Context, loc core.ArtifactLocation) (io.ReadCloser, error) {
	if err := s.checkLocation(loc); err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", loc.Key, err)
	}
	out, err := s.client.GetObject(ctx, s.getInput(loc))
	if err != nil {
		return nil, fmt.Errorf("open artifact s3://%s/%s: %w", loc.Store, loc.Key, mapErr(err))
	}
	return out.Body, nil
}

// ArtifactURL returns a presigned GET of the artifact, valid for ttl; see
// core.ArtifactStore.
func (s *Store) ArtifactURL(ctx context.Context, loc core.ArtifactLocation, ttl time.Duration) (string, error) {
	if err := s.checkLocation(loc); err != nil {
		return "", fmt.Errorf("link artifact %s: %w", loc.Key, err)
	}
	req, err := s.presigner.PresignGetObject(ctx, s.getInput(loc), s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("link artifact s3://%s/%s: %w", loc.Store, loc.Key, err)
	}
	return req.URL, nil
}

func (s *Store) getInput(loc core.ArtifactLocation) *s3.GetObjectInput {
	in := &s3.GetObjectInput{Bucket: aws.String(loc.Store), Key: aws.String(loc.Key)}
	if loc.Version != "" {
		in.VersionId = aws.String(loc.Version)
	}
	return in
}

// checkLocation returns ErrInvalid unless loc is one PutArtifact could have returned:
// this bucket and a key <prefix><pipeline>/<execution>/<name>.zip of valid segments.
func (s *Store) checkLocation(loc core.ArtifactLocation) error {
	if loc.Store != s.bucket {
		return fmt.Errorf("location in bucket %q, not %q: %w", loc.Store, s.bucket, core.ErrInvalid)
	}
	rest, ok := strings.CutPrefix(loc.Key, s.prefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || !strings.HasSuffix(parts[2], artifactExt) {
		return fmt.Errorf("key %q is not %s<pipeline>/<execution>/<name>%s: %w", loc.Key, s.prefix, artifactExt, core.ErrInvalid)
	}
	parts[2] = strings.TrimSuffix(parts[2], artifactExt)
	for _, p := range parts {
		if err := checkSegment(p); err != nil {
			return fmt.Errorf("key %q: %w", loc.Key, err)
		}
	}
	return nil
}

// checkSegment returns ErrInvalid unless seg can be one segment of a key: not empty, not
// . or .., no separator.
func checkSegment(seg string) error {
	if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") {
		return fmt.Errorf("%q is not a path segment: %w", seg, core.ErrInvalid)
	}
	return nil
}

// mapErr turns a missing object or version into ErrNotFound, keeping the SDK error in the
// chain.
func mapErr(err error) error {
	var nsk *types.NoSuchKey
	var ae smithy.APIError
	if errors.As(err, &nsk) {
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchVersion", "NotFound":
			return fmt.Errorf("%w: %w", core.ErrNotFound, err)
		}
	}
	return err
}
