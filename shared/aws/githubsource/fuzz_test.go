package githubsource

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzRezip checks that any archive GitHub could send is either refused or re-zipped
// into a zip whose entries are all below where they were.
func FuzzRezip(f *testing.F) {
	f.Add(zipball(f))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := rezip(&out, zr); err != nil {
			return
		}
		back, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("rezip wrote an unreadable zip: %v", err)
		}
		for _, e := range back.File {
			if strings.HasSuffix(e.Name, "/") {
				t.Errorf("got folder entry %q", e.Name)
			}
			rc, err := e.OpenRaw()
			if err == nil {
				io.Copy(io.Discard, rc)
			}
		}
	})
}
