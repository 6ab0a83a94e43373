package buildrunner

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/relais-ci/relais/shared/buildspec"
)

// errNoArtifacts is CodeBuild's error when an artifact's files match nothing.
var errNoArtifacts = errors.New(MessageNoArtifacts)

// artifactFile is one file of an artifact: where it is and its name in the zip.
type artifactFile struct {
	abs  string
	name string // slash-separated
}

// collectArtifact applies CodeBuild's rules to find an artifact's files under srcDir:
//
//   - base-directory, relative to srcDir, may be a pattern ('my-build*'): every matching
//     directory is a base, and paths in the zip are relative to their base;
//   - files are patterns relative to the base, with * (within a path segment) and **
//     (across segments); a pattern that matches a directory takes all files under it;
//   - exclude-paths are patterns relative to the base, removing what they match;
//   - discard-paths keeps only each file's name;
//   - a symbolic link is stored as a link with enable-symlinks, else as the file it
//     points to.
//
// say logs each step as CodeBuild's agent does. An empty result is errNoArtifacts.
func collectArtifact(srcDir string, a buildspec.Artifacts, say func(string)) ([]artifactFile, error) {
	baseSpec := a.BaseDirectory
	if baseSpec == "" {
		baseSpec = "."
	}
	say("Expanding base directory path: " + baseSpec)
	bases, err := expandBase(srcDir, baseSpec)
	if err != nil {
		return nil, err
	}
	var out []artifactFile
	seen := map[string]string{}
	for _, base := range bases {
		rel, _ := filepath.Rel(srcDir, base)
		say("Assembling file list")
		say("Expanding " + filepath.ToSlash(rel))
		say("Expanding file paths for base directory " + filepath.ToSlash(rel))
		files, err := walkFiles(base)
		if err != nil {
			return nil, err
		}
		for _, pat := range a.Files {
			say("Expanding " + pat)
		}
		for _, f := range files {
			if !matchesAny(a.Files, f) || matchesAny(a.ExcludePaths, f) {
				continue
			}
			name := f
			if a.DiscardPaths {
				name = path.Base(f)
			}
			abs := filepath.Join(base, filepath.FromSlash(f))
			if prev, ok := seen[name]; ok {
				say(fmt.Sprintf("Skipping %s: %s already has that name in the artifact", abs, prev))
				continue
			}
			seen[name] = abs
			out = append(out, artifactFile{abs: abs, name: name})
		}
	}
	if len(out) == 0 {
		return nil, errNoArtifacts
	}
	say(fmt.Sprintf("Found %d file(s)", len(out)))
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// expandBase returns the base directories base-directory names: one directory, or every
// directory a pattern matches. None is errNoArtifacts.
func expandBase(srcDir, spec string) ([]string, error) {
	spec = strings.TrimPrefix(path.Clean(filepath.ToSlash(spec)), "./")
	root := srcDir
	if path.IsAbs(spec) {
		root, spec = "/", strings.TrimPrefix(spec, "/")
	}
	if !hasMeta(spec) {
		dir := filepath.Join(root, filepath.FromSlash(spec))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, errNoArtifacts
		}
		return []string{dir}, nil
	}
	matches, err := doublestar.Glob(os.DirFS(root), spec)
	if err != nil {
		return nil, fmt.Errorf("base-directory %q: %w", spec, err)
	}
	var dirs []string
	for _, m := range matches {
		dir := filepath.Join(root, filepath.FromSlash(m))
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) == 0 {
		return nil, errNoArtifacts
	}
	sort.Strings(dirs)
	return dirs, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[{") }

// walkFiles lists the files and symbolic links under base, as slash-separated relative
// paths.
func walkFiles(base string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out, err
}

// matchesAny reports whether a pattern matches the file. A pattern without wildcards
// that names one of the file's directories matches it too ("dist" takes dist's files);
// a wildcard matches files only ("*" is the files at the top, "**/*" all of them).
func matchesAny(patterns []string, file string) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(filepath.ToSlash(p), "./")
		p = strings.TrimSuffix(p, "/")
		if p == "" || p == "." {
			p = "**"
		}
		if ok, _ := doublestar.Match(p, file); ok {
			return true
		}
		if hasMeta(p) {
			continue
		}
		if strings.HasPrefix(file, path.Clean(p)+"/") {
			return true
		}
	}
	return false
}

// writeZip writes the files into a new zip at dst.
func writeZip(dst string, files []artifactFile, symlinks bool) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	for _, f := range files {
		if err := addToZip(zw, f, symlinks); err != nil {
			zw.Close()
			out.Close()
			return fmt.Errorf("add %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func addToZip(zw *zip.Writer, f artifactFile, symlinks bool) error {
	li, err := os.Lstat(f.abs)
	if err != nil {
		return err
	}
	if li.Mode()&fs.ModeSymlink != 0 && symlinks {
		link, err := os.Readlink(f.abs)
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(li)
		if err != nil {
			return err
		}
		h.Name, h.Method = f.name, zip.Store
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, link)
		return err
	}
	fi, err := os.Stat(f.abs) // follows a link
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil // a link to a directory, a socket …
	}
	h, err := zip.FileInfoHeader(fi)
	if err != nil {
		return err
	}
	h.Name, h.Method = f.name, zip.Deflate
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	in, err := os.Open(f.abs)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(w, in)
	return err
}
