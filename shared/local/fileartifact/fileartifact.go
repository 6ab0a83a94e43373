// Package fileartifact keeps artifact zips in a folder on one machine, as S3 keeps them
// in a bucket on AWS: <dir>/<pipeline>/<execution>/<name>.zip.
//
// Writes stream into a temporary file next to the artifact, are synced, and are renamed
// over the final name, so a reader (or a restart after a crash) sees the old artifact or
// the new one, never half of one. Every file operation goes through an os.Root opened on
// the folder, so no location — even one forged, or a symlink planted in the folder —
// reads or writes outside it.
package fileartifact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

var _ core.ArtifactStore = (*Store)(nil)

// Store is a folder of artifacts. It is safe for concurrent use.
type Store struct {
	root  *os.Root
	dir   string // absolute
	label string
}

// Option changes how New sets up a Store.
type Option func(*Store)

// WithLabel sets the name that locations give as their Store. The default is the base
// name of the folder. Locations are recorded in executions, so the label must stay the
// same for as long as they are read.
func WithLabel(label string) Option { return func(s *Store) { s.label = label } }

// New opens the folder dir as an artifact store, creating it when missing. The caller
// closes the Store.
func New(dir string, opts ...Option) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open artifact folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("open artifact folder %s: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open artifact folder %s: %w", dir, err)
	}
	s := &Store{root: root, dir: abs, label: filepath.Base(abs)}
	for _, opt := range opts {
		opt(s)
	}
	if s.label == "" {
		root.Close()
		return nil, fmt.Errorf("open artifact folder %s: empty label: %w", dir, core.ErrInvalid)
	}
	return s, nil
}

// Close releases the folder.
func (s *Store) Close() error { return s.root.Close() }

// Dir returns the folder's absolute path.
func (s *Store) Dir() string { return s.dir }

// artifactExt ends every artifact's file name; temporary files end otherwise, so no
// location can name one.
const (
	artifactExt = ".zip"
	partialExt  = ".part"
)

// PutArtifact streams r into the folder as the named artifact of an execution; see
// core.ArtifactStore.
func (s *Store) PutArtifact(ctx context.Context, pipeline, executionID, name string, r io.Reader) (core.ArtifactLocation, error) {
	for _, seg := range []string{pipeline, executionID, name} {
		if err := checkSegment(seg); err != nil {
			return core.ArtifactLocation{}, fmt.Errorf("put artifact %s/%s/%s: %w", pipeline, executionID, name, err)
		}
	}
	key := path.Join(pipeline, executionID, name+artifactExt)
	if err := s.write(ctx, key, r); err != nil {
		return core.ArtifactLocation{}, fmt.Errorf("put artifact %s: %w", key, err)
	}
	return core.ArtifactLocation{Store: s.label, Key: key}, nil
}

// write streams r to a temporary file in key's folder and renames it to key once it is
// complete and on disk. On any failure the temporary file is removed and key is left as
// it was.
func (s *Store) write(ctx context.Context, key string, r io.Reader) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, file := path.Split(key)
	if err := s.root.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, f, err := s.createTemp(dir, file)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	if err := copyContext(ctx, f, r); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return err
	}
	// The rename is durable once the folder holding it is synced.
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// createTemp creates a new file beside key's final name, named so that it is hidden and
// is no artifact: .<file>.<random>.part.
func (s *Store) createTemp(dir, file string) (string, *os.File, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", nil, err
		}
		name := path.Join(dir, "."+file+"."+hex.EncodeToString(b[:])+partialExt)
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, fmt.Errorf("create a temporary file in %s: names taken", dir)
}

// OpenArtifact opens the artifact at loc for reading; see core.ArtifactStore.
func (s *Store) OpenArtifact(ctx context.Context, loc core.ArtifactLocation) (io.ReadCloser, error) {
	if err := s.checkLocation(loc); err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", loc.Key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", loc.Key, err)
	}
	f, err := s.root.Open(filepath.FromSlash(loc.Key))
	if err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", loc.Key, mapErr(err))
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open artifact %s: not a file: %w", loc.Key, core.ErrNotFound)
	}
	return f, nil
}

// ArtifactURL returns a file:// URL of the artifact. It is only useful on this machine
// and does not expire: ttl matters for presigned links, not for files.
func (s *Store) ArtifactURL(ctx context.Context, loc core.ArtifactLocation, ttl time.Duration) (string, error) {
	if err := s.checkLocation(loc); err != nil {
		return "", fmt.Errorf("link artifact %s: %w", loc.Key, err)
	}
	if _, err := s.root.Stat(filepath.FromSlash(loc.Key)); err != nil {
		return "", fmt.Errorf("link artifact %s: %w", loc.Key, mapErr(err))
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(s.dir, filepath.FromSlash(loc.Key)))}
	return u.String(), nil
}

// checkLocation returns ErrInvalid unless loc is one PutArtifact could have returned:
// this store's label and a key <pipeline>/<execution>/<name>.zip of valid segments.
func (s *Store) checkLocation(loc core.ArtifactLocation) error {
	if loc.Store != s.label {
		return fmt.Errorf("location of store %q, not %q: %w", loc.Store, s.label, core.ErrInvalid)
	}
	parts := strings.Split(loc.Key, "/")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], artifactExt) {
		return fmt.Errorf("key %q is not <pipeline>/<execution>/<name>%s: %w", loc.Key, artifactExt, core.ErrInvalid)
	}
	parts[2] = strings.TrimSuffix(parts[2], artifactExt)
	for _, p := range parts {
		if err := checkSegment(p); err != nil {
			return fmt.Errorf("key %q: %w", loc.Key, err)
		}
	}
	return nil
}

// checkSegment returns ErrInvalid unless seg can be one path element on every OS: not
// empty, not . or .., no separator, no NUL.
func checkSegment(seg string) error {
	if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") {
		return fmt.Errorf("%q is not a path segment: %w", seg, core.ErrInvalid)
	}
	return nil
}

// mapErr turns a missing file into ErrNotFound, keeping the file error in the chain.
func mapErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	return err
}

// copyContext copies r to w until r ends, like io.Copy, and stops when ctx ends.
func copyContext(ctx context.Context, w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
