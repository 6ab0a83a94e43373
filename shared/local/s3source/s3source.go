// Package s3source runs the S3 Source action on one machine: a bucket is a folder under
// a data root (<root>/<bucket>), the object key a zip file inside it, and the action
// copies that zip to the artifact store.
//
// Local files have no S3 ETag or version id: content hashes stand in for both (ETag is
// the MD5 of the content, as S3 gives for an object uploaded in one part; VersionId is
// derived from its SHA-256), so a variable changes exactly when the object's content
// does.
package s3source

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Source/AWS/S3"

// Source runs S3 Source actions over local folders.
type Source struct {
	store  core.ArtifactStore
	root   string
	logger *slog.Logger
}

var _ action.Provider = (*Source)(nil)

// New returns a Source that reads bucket B from the folder root/B and writes artifacts to
// store. logger may be nil.
func New(store core.ArtifactStore, root string, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.Default()
	}
	return &Source{store: store, root: root, logger: logger}
}

// Run copies the object to the artifact store as the action's output artifact.
func (s *Source) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	cfg := rec.Configuration
	bucket, key := cfg["S3Bucket"], cfg["S3ObjectKey"]
	if len(job.Declared.OutputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("a source action has exactly one output artifact; %s declares %d", rec.ActionName, len(job.Declared.OutputArtifacts))), nil
	}
	path, err := objectPath(s.root, bucket, key)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return action.Failed("RevisionUnavailable", fmt.Errorf("object s3://%s/%s not found: locally it is the file %s", bucket, key, path)), nil
	}
	if err != nil {
		return action.Result{}, fmt.Errorf("open object s3://%s/%s at %s: %w", bucket, key, path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return action.Failed("RevisionUnavailable", fmt.Errorf("object s3://%s/%s: %s is a folder, not a zip file", bucket, key, path)), nil
	}

	name := job.Declared.OutputArtifacts[0].Name
	md, sha := md5.New(), sha256.New()
	var size countWriter
	loc, err := s.store.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, io.TeeReader(f, io.MultiWriter(md, sha, &size)))
	if err != nil {
		return action.Result{}, fmt.Errorf("copy s3://%s/%s (%s) to artifact %s: %w", bucket, key, path, name, err)
	}
	etag := hex.EncodeToString(md.Sum(nil))
	version := hex.EncodeToString(sha.Sum(nil))[:32]
	s.logger.InfoContext(ctx, "s3 source copied", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "object", "s3://"+bucket+"/"+key, "bytes", int64(size))
	return action.Result{
		Status:          core.ActionSucceeded,
		OutputArtifacts: []core.Artifact{{Name: name, Location: loc}},
		OutputVariables: map[string]string{"ETag": etag, "ObjectKey": key, "VersionId": version},
		Summary: fmt.Sprintf("s3://%s/%s: %d bytes from %s (ETag and VersionId are content hashes locally)",
			bucket, key, int64(size), path),
		ExternalID: version,
		Revision:   &core.SourceRevision{RevisionID: version, RevisionSummary: key},
	}, nil
}

// objectPath maps bucket and key to a file under root, refusing any that would leave the
// bucket's folder.
func objectPath(root, bucket, key string) (string, error) {
	if bucket == "" || key == "" {
		return "", errors.New("configuration S3Bucket and S3ObjectKey are required")
	}
	if bucket == "." || bucket == ".." || strings.ContainsAny(bucket, `/\`) {
		return "", fmt.Errorf("bucket name %q cannot name a folder under %s", bucket, root)
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return "", fmt.Errorf("object key %q would leave the bucket's folder %s", key, filepath.Join(root, bucket))
	}
	return filepath.Join(root, bucket, filepath.FromSlash(key)), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
