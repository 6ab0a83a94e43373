// Package s3deployaction runs the S3 Deploy action on AWS: the input artifact, read from
// the artifact store, is either extracted into the bucket BucketName (Extract true, each
// file under ObjectKey as a prefix when given) or copied into it as the object ObjectKey
// (Extract false). The configuration keys and summaries are those of the local twin
// (shared/local/s3deploy); CannedACL, CacheControl and KMSEncryptionKeyARN apply to
// every object written.
//
// Extraction checks every entry before the first object is written: an entry with an
// absolute path or one that climbs out of the prefix (zip-slip) refuses the whole
// artifact. Each file gets the Content-Type its extension names. The zip is spooled to a
// temporary file (Lambda's /tmp), as reading a zip needs random access; objects are
// streamed to S3 through the upload manager.
//
// The function needs s3:PutObject (and s3:PutObjectAcl with CannedACL) on the deploy
// bucket, and kms:GenerateDataKey on the key with KMSEncryptionKeyARN.
package s3deployaction

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Deploy/AWS/S3"

// Client is the part of *s3.Client the Deployer calls: the upload manager's operations.
type Client interface {
	manager.UploadAPIClient
}

// Deployer runs S3 Deploy actions. It is safe for concurrent use.
type Deployer struct {
	store    core.ArtifactStore
	uploader *manager.Uploader
	logger   *slog.Logger
}

var _ action.Provider = (*Deployer)(nil)

// New returns a Deployer that reads input artifacts from store and writes objects
// through client. logger may be nil.
func New(store core.ArtifactStore, client Client, logger *slog.Logger) *Deployer {
	if logger == nil {
		logger = slog.Default()
	}
	up := manager.NewUploader(client, func(u *manager.Uploader) { u.Concurrency = 2 })
	return &Deployer{store: store, uploader: up, logger: logger}
}

// options are the settings every object written gets.
type options struct {
	acl          types.ObjectCannedACL
	cacheControl string
	kmsKey       string
}

func (o options) input(bucket, key, contentType string, body io.Reader) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body, ContentType: aws.String(contentType), ACL: o.acl}
	if o.cacheControl != "" {
		in.CacheControl = aws.String(o.cacheControl)
	}
	if o.kmsKey != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(o.kmsKey)
	}
	return in
}

// Run deploys the input artifact. Running it again writes the same objects again.
func (d *Deployer) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	cfg := rec.Configuration
	bucket, key := cfg["BucketName"], strings.TrimPrefix(cfg["ObjectKey"], "/")
	if bucket == "" || strings.ContainsAny(bucket, `/\`) {
		return action.Failed("ConfigurationError", fmt.Errorf("configuration BucketName %q is not a bucket name", bucket)), nil
	}
	var extract bool
	switch strings.ToLower(cfg["Extract"]) {
	case "true":
		extract = true
	case "false":
	default:
		return action.Failed("ConfigurationError", fmt.Errorf("configuration Extract is %q, want true or false", cfg["Extract"])), nil
	}
	if !extract && (key == "" || strings.HasSuffix(key, "/")) {
		return action.Failed("ConfigurationError", errors.New("configuration ObjectKey must name an object when Extract is false")), nil
	}
	opts := options{cacheControl: cfg["CacheControl"], kmsKey: cfg["KMSEncryptionKeyARN"]}
	if acl := cfg["CannedACL"]; acl != "" {
		opts.acl = types.ObjectCannedACL(acl)
		if !slices.Contains(opts.acl.Values(), opts.acl) {
			return action.Failed("ConfigurationError", fmt.Errorf("configuration CannedACL %q is not one of %v", acl, opts.acl.Values())), nil
		}
	}
	if len(rec.InputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("an S3 deploy action takes exactly one input artifact; %s has %d", rec.ActionName, len(rec.InputArtifacts))), nil
	}
	in := rec.InputArtifacts[0]
	rc, err := d.store.OpenArtifact(ctx, in.Location)
	if err != nil {
		return action.Result{}, fmt.Errorf("open input artifact %s: %w", in.Name, err)
	}
	defer rc.Close()

	var what string
	if extract {
		n, err := d.extract(ctx, rc, bucket, key, opts)
		var refused *refusal
		if errors.As(err, &refused) {
			return action.Failed("JobFailed", fmt.Errorf("input artifact %s: %w", in.Name, err)), nil
		}
		if err != nil {
			return action.Failed("JobFailed", fmt.Errorf("extract input artifact %s to s3://%s/%s: %w", in.Name, bucket, key, err)), nil
		}
		what = fmt.Sprintf("Extracted %d files of %s to s3://%s/%s", n, in.Name, bucket, key)
	} else {
		if _, err := d.uploader.Upload(ctx, opts.input(bucket, key, "application/zip", rc)); err != nil {
			return action.Failed("JobFailed", fmt.Errorf("copy input artifact %s to s3://%s/%s: %w", in.Name, bucket, key, err)), nil
		}
		what = fmt.Sprintf("Copied %s to s3://%s/%s", in.Name, bucket, key)
	}
	var noted []string
	for _, k := range []string{"CannedACL", "CacheControl", "KMSEncryptionKeyARN"} {
		if v := cfg[k]; v != "" {
			noted = append(noted, k+" "+v)
		}
	}
	if len(noted) > 0 {
		what += " with " + strings.Join(noted, ", ")
	}
	d.logger.InfoContext(ctx, "s3 deploy done", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "bucket", bucket, "key", key)
	return action.Result{Status: core.ActionSucceeded, Summary: what}, nil
}

// refusal is an artifact that cannot be deployed as it is (not a zip, a path that leaves
// the prefix): the action fails before anything is written.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// extract writes the zip read from r to bucket under prefix and returns how many
// objects it wrote. Every entry is checked before the first is written.
func (d *Deployer) extract(ctx context.Context, r io.Reader, bucket, prefix string, opts options) (int, error) {
	tmp, err := os.CreateTemp("", "relais-s3deploy-*.zip")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return 0, fmt.Errorf("read artifact: %w", err)
	}
	zr, err := zip.NewReader(tmp, size)
	if err != nil {
		return 0, &refusal{fmt.Sprintf("not a zip file: %v", err)}
	}
	type item struct {
		f   *zip.File
		key string
	}
	var items []item
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") || f.Mode().IsDir() {
			continue
		}
		raw := strings.ReplaceAll(f.Name, `\`, "/")
		clean := path.Clean(raw)
		if path.IsAbs(raw) || clean == ".." || strings.HasPrefix(clean, "../") || (len(raw) > 1 && raw[1] == ':') {
			return 0, &refusal{fmt.Sprintf("entry %q would be written outside s3://%s/%s: refused, nothing deployed", f.Name, bucket, prefix)}
		}
		items = append(items, item{f: f, key: path.Join(prefix, clean)})
	}
	for _, it := range items {
		rc, err := it.f.Open()
		if err != nil {
			return 0, &refusal{fmt.Sprintf("entry %s: %v", it.f.Name, err)}
		}
		ct := mime.TypeByExtension(path.Ext(it.key))
		if ct == "" {
			ct = "application/octet-stream"
		}
		_, err = d.uploader.Upload(ctx, opts.input(bucket, it.key, ct, rc))
		rc.Close()
		if err != nil {
			return 0, fmt.Errorf("entry %s: %w", it.f.Name, err)
		}
	}
	return len(items), nil
}
