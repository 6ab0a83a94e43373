package fileartifact

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/core/coretest"
)

// newStore returns a Store on a new folder in t's temporary directory.
func newStore(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "artifacts"), opts...)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestArtifactStore(t *testing.T) {
	coretest.ArtifactStore(t, func(t *testing.T) core.ArtifactStore { return newStore(t) })
}

func TestLocationAndLayout(t *testing.T) {
	s := newStore(t, WithLabel("data"))
	loc, err := s.PutArtifact(t.Context(), "build", "e1", "src", strings.NewReader("zip bytes"))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if diff := cmp.Diff(core.ArtifactLocation{Store: "data", Key: "build/e1/src.zip"}, loc); diff != "" {
		t.Errorf("location (-want +got):\n%s", diff)
	}
	got, err := os.ReadFile(filepath.Join(s.Dir(), "build", "e1", "src.zip"))
	if err != nil || string(got) != "zip bytes" {
		t.Errorf("file on disk: got %q (%v), want %q", got, err, "zip bytes")
	}
	u, err := s.ArtifactURL(t.Context(), loc, time.Hour)
	if want := "file://" + filepath.ToSlash(filepath.Join(s.Dir(), "build", "e1", "src.zip")); err != nil || u != want {
		t.Errorf("url: got %q (%v), want %q", u, err, want)
	}
}

func TestDefaultLabelIsFolderName(t *testing.T) {
	s := newStore(t)
	loc, err := s.PutArtifact(t.Context(), "build", "e1", "src", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if loc.Store != "artifacts" {
		t.Errorf("store label: got %q, want %q", loc.Store, "artifacts")
	}
}

func TestLocationsOutsideAreRefused(t *testing.T) {
	s := newStore(t)
	outside := filepath.Join(filepath.Dir(s.Dir()), "secret.zip")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink planted in the folder must not lead out of it.
	if err := os.MkdirAll(filepath.Join(s.Dir(), "build", "e1"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "build", "e1", "link.zip")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "build", "e1", ".src.zip.0123.part"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		loc  core.ArtifactLocation
		want error
	}{
		{"another store", core.ArtifactLocation{Store: "elsewhere", Key: "build/e1/src.zip"}, core.ErrInvalid},
		{"parent", core.ArtifactLocation{Store: "artifacts", Key: "../secret.zip"}, core.ErrInvalid},
		{"dot dot inside", core.ArtifactLocation{Store: "artifacts", Key: "build/../secret.zip"}, core.ErrInvalid},
		{"absolute", core.ArtifactLocation{Store: "artifacts", Key: outside}, core.ErrInvalid},
		{"not a zip", core.ArtifactLocation{Store: "artifacts", Key: "build/e1/src"}, core.ErrInvalid},
		{"partial write", core.ArtifactLocation{Store: "artifacts", Key: "build/e1/.src.zip.0123.part"}, core.ErrInvalid},
		{"too deep", core.ArtifactLocation{Store: "artifacts", Key: "build/e1/x/src.zip"}, core.ErrInvalid},
		{"backslash", core.ArtifactLocation{Store: "artifacts", Key: `build/e1/..\..\secret.zip`}, core.ErrInvalid},
		{"symlink out", core.ArtifactLocation{Store: "artifacts", Key: "build/e1/link.zip"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.OpenArtifact(t.Context(), tt.loc)
			if err == nil {
				b, _ := io.ReadAll(r)
				r.Close()
				t.Fatalf("got the artifact %q, want an error", b)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
			if _, err := s.ArtifactURL(t.Context(), tt.loc, time.Hour); err == nil && tt.want != nil {
				t.Errorf("url: got nil error, want %v", tt.want)
			}
		})
	}
}

// blockingReader hands out its data, then waits on release before it ends with err.
type blockingReader struct {
	data    *bytes.Reader
	reached chan struct{}
	release chan struct{}
	err     error
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if r.data.Len() > 0 {
		return r.data.Read(p)
	}
	close(r.reached)
	<-r.release
	return 0, r.err
}

// TestNoPartialArtifactIsVisible stops a write halfway, as a crash would, and checks
// that nothing is readable under the artifact's name meanwhile, and nothing is left
// behind after the write failed.
func TestNoPartialArtifactIsVisible(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "new", true: "replacing"}[existing], func(t *testing.T) {
			s := newStore(t)
			ctx := t.Context()
			final := filepath.Join(s.Dir(), "build", "e1", "out.zip")
			if existing {
				if _, err := s.PutArtifact(ctx, "build", "e1", "out", strings.NewReader("old")); err != nil {
					t.Fatal(err)
				}
			}
			r := &blockingReader{
				data:    bytes.NewReader(bytes.Repeat([]byte("n"), 1<<20)),
				reached: make(chan struct{}), release: make(chan struct{}),
				err: errors.New("process killed"),
			}
			done := make(chan error)
			go func() {
				_, err := s.PutArtifact(ctx, "build", "e1", "out", r)
				done <- err
			}()
			<-r.reached // 1 MiB written to disk, the write not finished
			got, err := os.ReadFile(final)
			switch {
			case existing && string(got) != "old":
				t.Errorf("during the write: got %d bytes under the final name, want the old artifact", len(got))
			case !existing && !errors.Is(err, os.ErrNotExist):
				t.Errorf("during the write: got %d bytes under the final name (%v), want no file", len(got), err)
			}
			close(r.release)
			if err := <-done; !errors.Is(err, r.err) {
				t.Errorf("put: got error %v, want %v", err, r.err)
			}
			entries, err := os.ReadDir(filepath.Dir(final))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := []string(nil)
			if existing {
				want = []string{"out.zip"}
			}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("files left after the failed write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRefusesAnEmptyLabel(t *testing.T) {
	_, err := New(t.TempDir(), WithLabel(""))
	if !errors.Is(err, core.ErrInvalid) {
		t.Errorf("got error %v, want %v", err, core.ErrInvalid)
	}
}
