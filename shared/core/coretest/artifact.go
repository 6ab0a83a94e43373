package coretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

// ArtifactStore checks the promises of core.ArtifactStore. newStore returns an empty
// store; it is called once per subtest.
func ArtifactStore(t *testing.T, newStore func(t *testing.T) core.ArtifactStore) {
	ctx := t.Context()
	put := func(t *testing.T, s core.ArtifactStore, pipeline, execution, name string, data []byte) core.ArtifactLocation {
		t.Helper()
		// A reader that is neither a bytes.Reader nor a file, so nothing can learn its
		// size or seek it: the store has to stream.
		loc, err := s.PutArtifact(ctx, pipeline, execution, name, io.MultiReader(bytes.NewReader(data)))
		noErr(t, "put artifact "+name, err)
		if loc.IsZero() {
			t.Fatalf("put artifact %s: got a zero location", name)
		}
		return loc
	}
	read := func(t *testing.T, s core.ArtifactStore, loc core.ArtifactLocation) []byte {
		t.Helper()
		r, err := s.OpenArtifact(ctx, loc)
		noErr(t, fmt.Sprintf("open %+v", loc), err)
		defer r.Close()
		b, err := io.ReadAll(r)
		noErr(t, fmt.Sprintf("read %+v", loc), err)
		return b
	}
	wantContent := func(t *testing.T, s core.ArtifactStore, loc core.ArtifactLocation, want []byte) {
		t.Helper()
		if got := read(t, s, loc); !bytes.Equal(got, want) {
			t.Errorf("artifact at %+v: got %d bytes, want %d bytes (%q…)", loc, len(got), len(want), want[:min(len(want), 16)])
		}
	}

	t.Run("put then open", func(t *testing.T) {
		for _, size := range []int{0, 1, 5 << 20} {
			t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
				s := newStore(t)
				data := randomBytes(size)
				loc := put(t, s, "build", "e1", "src", data)
				wantContent(t, s, loc, data)
			})
		}
	})

	t.Run("names, executions and pipelines are apart", func(t *testing.T) {
		s := newStore(t)
		keys := [][3]string{{"build", "e1", "src"}, {"build", "e1", "out"}, {"build", "e2", "src"}, {"other", "e1", "src"}}
		locs := map[core.ArtifactLocation]bool{}
		var all []core.ArtifactLocation
		for _, k := range keys {
			loc := put(t, s, k[0], k[1], k[2], []byte(fmt.Sprint(k)))
			if locs[loc] {
				t.Errorf("%v: location %+v given twice", k, loc)
			}
			locs[loc] = true
			all = append(all, loc)
		}
		for i, k := range keys {
			wantContent(t, s, all[i], []byte(fmt.Sprint(k)))
		}
	})

	t.Run("writing a name again replaces it", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "build", "e1", "out", []byte("first attempt"))
		loc := put(t, s, "build", "e1", "out", []byte("second attempt"))
		wantContent(t, s, loc, []byte("second attempt"))
	})

	t.Run("a failed write keeps what the name held", func(t *testing.T) {
		s := newStore(t)
		old := []byte("good build output")
		loc := put(t, s, "build", "e1", "out", old)
		broken := errors.New("connection reset")
		_, err := s.PutArtifact(ctx, "build", "e1", "out", io.MultiReader(bytes.NewReader(randomBytes(1<<20)), errReader{broken}))
		if !errors.Is(err, broken) {
			t.Errorf("put from a failing reader: got error %v, want it to wrap %v", err, broken)
		}
		wantContent(t, s, loc, old)

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = s.PutArtifact(cctx, "build", "e1", "out", bytes.NewReader([]byte("cancelled")))
		if err == nil {
			t.Error("put with a cancelled context: got nil error")
		}
		wantContent(t, s, loc, old)
	})

	t.Run("a failed first write stores nothing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutArtifact(ctx, "build", "e1", "out", io.MultiReader(bytes.NewReader([]byte("half")), errReader{io.ErrUnexpectedEOF}))
		if err == nil {
			t.Fatal("put from a failing reader: got nil error")
		}
		// Where "out" would have been, had the write worked.
		loc := put(t, s, "build", "e2", "out", []byte("elsewhere"))
		loc.Key, loc.Version = replaceOnce(t, loc.Key, "e2", "e1"), ""
		_, err = s.OpenArtifact(ctx, loc)
		wantErr(t, "open the failed artifact", err, core.ErrNotFound)
	})

	t.Run("open of a missing artifact is not found", func(t *testing.T) {
		s := newStore(t)
		loc := put(t, s, "build", "e1", "src", []byte("x"))
		loc.Key, loc.Version = replaceOnce(t, loc.Key, "e1", "e9"), ""
		_, err := s.OpenArtifact(ctx, loc)
		wantErr(t, fmt.Sprintf("open %+v", loc), err, core.ErrNotFound)
	})

	t.Run("a location from outside cannot escape the store", func(t *testing.T) {
		s := newStore(t)
		loc := put(t, s, "build", "e1", "src", []byte("x"))
		for _, key := range []string{"", "../../../../../../etc/passwd", "/etc/passwd", "build/../../x.zip", "build/e1/../../../x.zip"} {
			bad := core.ArtifactLocation{Store: loc.Store, Key: key}
			r, err := s.OpenArtifact(ctx, bad)
			if err == nil {
				r.Close()
				t.Errorf("open key %q: got nil error, want ErrInvalid or ErrNotFound", key)
			} else if !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) {
				t.Errorf("open key %q: got error %v, want ErrInvalid or ErrNotFound", key, err)
			}
		}
	})

	t.Run("names must be path segments", func(t *testing.T) {
		s := newStore(t)
		for _, k := range [][3]string{
			{"", "e1", "src"}, {"build", "", "src"}, {"build", "e1", ""},
			{"..", "e1", "src"}, {"build", "..", "src"}, {"build", "e1", ".."}, {"build", "e1", "."},
			{"a/b", "e1", "src"}, {"build", "e/1", "src"}, {"build", "e1", `s\rc`}, {"build", "e1", "../../x"},
		} {
			_, err := s.PutArtifact(ctx, k[0], k[1], k[2], bytes.NewReader([]byte("x")))
			wantErr(t, fmt.Sprintf("put %q", k), err, core.ErrInvalid)
		}
	})

	t.Run("artifact url", func(t *testing.T) {
		s := newStore(t)
		loc := put(t, s, "build", "e1", "src", []byte("x"))
		raw, err := s.ArtifactURL(ctx, loc, 15*time.Minute)
		noErr(t, "url", err)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			t.Errorf("got URL %q (%v), want an absolute URL", raw, err)
		}
	})

	t.Run("concurrent writes of one name never mix", func(t *testing.T) {
		s := newStore(t)
		contents := make([][]byte, 8)
		for i := range contents {
			contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
		}
		var mu sync.Mutex
		var loc core.ArtifactLocation
		errs := race(len(contents), func(i int) error {
			l, err := s.PutArtifact(ctx, "build", "e1", "out", bytes.NewReader(contents[i]))
			mu.Lock()
			loc = l
			mu.Unlock()
			return err
		})
		if won := winners(t, errs, core.ErrConflict); len(won) != len(errs) {
			t.Fatalf("got %d successful writes, want %d", len(won), len(errs))
		}
		got := read(t, s, loc)
		for _, c := range contents {
			if bytes.Equal(got, c) {
				return
			}
		}
		t.Errorf("artifact holds %d bytes that are none of the written contents", len(got))
	})
}

// replaceOnce replaces old by new in key, failing t when key does not hold old: the
// suite derives locations of absent artifacts from present ones, which needs the
// adapter's keys to name the execution.
func replaceOnce(t *testing.T, key, old, new string) string {
	t.Helper()
	if !strings.Contains(key, old) {
		t.Fatalf("key %q does not hold %q", key, old)
	}
	return strings.Replace(key, old, new, 1)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
