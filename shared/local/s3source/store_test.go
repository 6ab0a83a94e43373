package s3source

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// dirStore is a minimal artifact store over a folder, standing in for
// shared/local/fileartifact until that package lands.
type dirStore struct{ root string }

var _ core.ArtifactStore = dirStore{}

func (s dirStore) PutArtifact(_ context.Context, pipeline, executionID, name string, r io.Reader) (core.ArtifactLocation, error) {
	key := path.Join(pipeline, executionID, name)
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return core.ArtifactLocation{}, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return core.ArtifactLocation{}, err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return core.ArtifactLocation{}, err
	}
	if err := f.Close(); err != nil {
		return core.ArtifactLocation{}, err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return core.ArtifactLocation{}, err
	}
	return core.ArtifactLocation{Store: s.root, Key: key}, nil
}

func (s dirStore) OpenArtifact(_ context.Context, loc core.ArtifactLocation) (io.ReadCloser, error) {
	if loc.Store != s.root {
		return nil, core.ErrInvalid
	}
	f, err := os.Open(filepath.Join(s.root, filepath.FromSlash(loc.Key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, core.ErrNotFound
	}
	return f, err
}

func (s dirStore) ArtifactURL(_ context.Context, loc core.ArtifactLocation, _ time.Duration) (string, error) {
	return "file://" + filepath.Join(s.root, filepath.FromSlash(loc.Key)), nil
}
