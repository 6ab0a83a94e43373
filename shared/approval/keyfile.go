package approval

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeyFile returns the link-signing keys kept in a file: the local runtime's key source
// (on AWS the keys come from Secrets Manager and go to NewLinks directly). The file holds
// one base64 key per line, the signing key first; blank lines and lines starting with #
// are ignored. When the file does not exist, KeyFile creates it (mode 0600) with one new
// random 32-byte key. A file that group or others may read is refused: whoever reads the
// key can approve anything.
//
// To rotate: put a new key (openssl rand -base64 32) on the first line, keep the old one
// below it while links it signed may still be used (the longest approval timeout), then
// remove it.
func KeyFile(path string) ([][]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		line := "# Relais approval link signing keys: the first signs, all verify.\n" + base64.StdEncoding.EncodeToString(key) + "\n"
		_, werr := f.WriteString(line)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("create approval key file %s: %w", path, werr)
		}
		return [][]byte{key}, nil
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("create approval key file %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read approval key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("approval key file %s is readable by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read approval key file: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			// The line is a secret: say where, never what.
			return nil, fmt.Errorf("approval key file %s, line %d: not base64", path, n)
		}
		if len(key) < MinKeyLength {
			return nil, fmt.Errorf("approval key file %s, line %d: key of %d bytes, want at least %d", path, n, len(key), MinKeyLength)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("approval key file %s holds no key", path)
	}
	return keys, nil
}
