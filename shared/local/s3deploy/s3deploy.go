// Package s3deploy runs the S3 Deploy action on one machine: a bucket is a folder under a
// data root (<root>/<bucket>, created when missing), and the input artifact is either
// extracted into it (Extract true, under ObjectKey as a prefix when given) or copied into
// it as the file ObjectKey (Extract false).
//
// Extraction is confined to the bucket's folder: an entry with an absolute path or one
// that climbs out (zip-slip) refuses the whole artifact before anything is written, and
// every write goes through an os.Root on the folder, so a symlink already in the folder
// is not followed out of it. Zip entries that are symlinks become plain files holding
// the link's target, as S3 would store them.
package s3deploy

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// Provider is the action type this package runs, as action.ProviderKey spells it.
const Provider = "Deploy/AWS/S3"

// Deployer runs S3 Deploy actions over local folders.
type Deployer struct {
	store  core.ArtifactStore
	root   string
	logger *slog.Logger
}

var _ action.Provider = (*Deployer)(nil)

// New returns a Deployer that reads input artifacts from store and writes bucket B to
// the folder root/B. logger may be nil.
func New(store core.ArtifactStore, root string, logger *slog.Logger) *Deployer {
	if logger == nil {
		logger = slog.Default()
	}
	return &Deployer{store: store, root: root, logger: logger}
}

// Run deploys the input artifact. Running it again deploys the same files again.
func (d *Deployer) Run(ctx context.Context, job action.Job) (action.Result, error) {
	rec := job.Record
	cfg := rec.Configuration
	bucket, key := cfg["BucketName"], strings.TrimPrefix(cfg["ObjectKey"], "/")
	if bucket == "" || bucket == "." || bucket == ".." || strings.ContainsAny(bucket, `/\`) {
		return action.Failed("ConfigurationError", fmt.Errorf("configuration BucketName %q cannot name a folder under %s", bucket, d.root)), nil
	}
	var extract bool
	switch strings.ToLower(cfg["Extract"]) {
	case "true":
		extract = true
	case "false":
	default:
		return action.Failed("ConfigurationError", fmt.Errorf("configuration Extract is %q, want true or false", cfg["Extract"])), nil
	}
	if key != "" && !filepath.IsLocal(filepath.FromSlash(strings.TrimSuffix(key, "/"))) {
		return action.Failed("ConfigurationError", fmt.Errorf("configuration ObjectKey %q would leave the bucket's folder %s", key, filepath.Join(d.root, bucket))), nil
	}
	if !extract && (key == "" || strings.HasSuffix(key, "/")) {
		return action.Failed("ConfigurationError", errors.New("configuration ObjectKey must name a file when Extract is false")), nil
	}
	if len(rec.InputArtifacts) != 1 {
		return action.Failed("ConfigurationError", fmt.Errorf("an S3 deploy action takes exactly one input artifact; %s has %d", rec.ActionName, len(rec.InputArtifacts))), nil
	}
	in := rec.InputArtifacts[0]
	dir := filepath.Join(d.root, bucket)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return action.Result{}, fmt.Errorf("create bucket folder %s: %w", dir, err)
	}
	bk, err := os.OpenRoot(dir)
	if err != nil {
		return action.Result{}, fmt.Errorf("open bucket folder %s: %w", dir, err)
	}
	defer bk.Close()

	rc, err := d.store.OpenArtifact(ctx, in.Location)
	if err != nil {
		return action.Result{}, fmt.Errorf("open input artifact %s: %w", in.Name, err)
	}
	defer rc.Close()

	var what string
	if extract {
		n, err := d.extract(ctx, bk, rc, key)
		var refused *refusal
		if errors.As(err, &refused) {
			return action.Failed("JobFailed", fmt.Errorf("input artifact %s: %w", in.Name, err)), nil
		}
		if err != nil {
			return action.Result{}, fmt.Errorf("extract input artifact %s into %s: %w", in.Name, filepath.Join(dir, filepath.FromSlash(key)), err)
		}
		what = fmt.Sprintf("Extracted %d files of %s to s3://%s/%s (folder %s)", n, in.Name, bucket, key, filepath.Join(dir, filepath.FromSlash(key)))
	} else {
		if err := writeFile(bk, key, rc, 0o644); err != nil {
			return action.Result{}, fmt.Errorf("copy input artifact %s to %s: %w", in.Name, filepath.Join(dir, filepath.FromSlash(key)), err)
		}
		what = fmt.Sprintf("Copied %s to s3://%s/%s (file %s)", in.Name, bucket, key, filepath.Join(dir, filepath.FromSlash(key)))
	}
	var noted []string
	for _, k := range []string{"CannedACL", "CacheControl", "KMSEncryptionKeyARN"} {
		if v := cfg[k]; v != "" {
			noted = append(noted, k+" "+v)
		}
	}
	if len(noted) > 0 {
		what += "; " + strings.Join(noted, ", ") + " recorded (no meaning for a local folder)"
	}
	d.logger.InfoContext(ctx, "s3 deploy done", "pipeline", rec.PipelineName, "execution_id", rec.ExecutionID,
		"stage", job.Stage, "action", rec.ActionName, "bucket", bucket, "dir", dir)
	return action.Result{Status: core.ActionSucceeded, Summary: what}, nil
}

// refusal is an artifact that cannot be deployed as it is (not a zip, a path that leaves
// the bucket): the action fails, it is not an error of Relais.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// extract writes the zip read from r into bk under prefix and returns how many files it
// wrote. Every entry is checked before the first is written.
func (d *Deployer) extract(ctx context.Context, bk *os.Root, r io.Reader, prefix string) (int, error) {
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
		f    *zip.File
		name string // slash-separated, relative to the bucket folder
	}
	var items []item
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") || f.Mode().IsDir() {
			continue
		}
		raw := strings.ReplaceAll(f.Name, `\`, "/")
		if path.IsAbs(raw) || filepath.IsAbs(f.Name) || !filepath.IsLocal(filepath.FromSlash(raw)) {
			return 0, &refusal{fmt.Sprintf("entry %q would be written outside the bucket folder: refused, nothing deployed", f.Name)}
		}
		items = append(items, item{f: f, name: path.Join(prefix, path.Clean(raw))})
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rc, err := it.f.Open()
		if err != nil {
			return 0, &refusal{fmt.Sprintf("entry %s: %v", it.f.Name, err)}
		}
		perm := fs.FileMode(0o644)
		if it.f.Mode()&0o111 != 0 && it.f.Mode()&fs.ModeSymlink == 0 {
			perm = 0o755
		}
		err = writeFile(bk, it.name, rc, perm)
		rc.Close()
		if err != nil {
			return 0, fmt.Errorf("entry %s: %w", it.f.Name, err)
		}
	}
	return len(items), nil
}

// writeFile writes name (slash-separated, inside bk) from r: into a temporary file next
// to it, renamed over it once complete, so a reader sees the old file or the new one.
func writeFile(bk *os.Root, name string, r io.Reader, perm fs.FileMode) error {
	name = filepath.FromSlash(name)
	if dir := filepath.Dir(name); dir != "." {
		if err := bk.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := name + ".relais-part"
	f, err := bk.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		bk.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		bk.Remove(tmp)
		return err
	}
	if err := bk.Chmod(tmp, perm); err != nil {
		bk.Remove(tmp)
		return err
	}
	if err := bk.Rename(tmp, name); err != nil {
		bk.Remove(tmp)
		return err
	}
	return nil
}
