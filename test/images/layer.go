// Package images builds the OCI image archives `make images` writes: docker.io/library/busybox
// and docker.io/library/nginx, assembled from the host's Debian packages (busybox-static,
// nginx-light) so kubeshim's scenario runs with no registry at all.
//
// The archives are deterministic: entries are sorted, owners and modification times are fixed,
// and layers are plain (uncompressed) tars, so the same host files always give the same digests.
package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Epoch is the modification time of every file in every layer and the creation time of every
// image, so that builds are reproducible.
var Epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Entry is one file, directory or symbolic link of a layer.
type Entry struct {
	// Path is the absolute path inside the image, e.g. "/bin/busybox".
	Path string
	// Type is tar.TypeReg, tar.TypeDir or tar.TypeSymlink.
	Type byte
	// Mode holds the permission bits (and sticky/setuid bits), e.g. 0o755 or 0o1777.
	Mode int64
	// UID and GID own the entry.
	UID, GID int
	// Data is the content of a regular file.
	Data []byte
	// Link is the target of a symbolic link.
	Link string
}

// Layer is a set of entries keyed by cleaned path. Parent directories are added implicitly
// (root-owned, 0755) when an entry is added below them.
type Layer struct {
	entries map[string]Entry
}

// NewLayer returns an empty layer.
func NewLayer() *Layer { return &Layer{entries: map[string]Entry{}} }

func cleanPath(p string) string {
	return path.Clean("/" + p)
}

// Add puts e into the layer, replacing any entry at the same path, and adds missing parents.
func (l *Layer) Add(e Entry) {
	e.Path = cleanPath(e.Path)
	if e.Path == "/" {
		return
	}
	for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
		if _, ok := l.entries[dir]; !ok {
			l.entries[dir] = Entry{Path: dir, Type: tar.TypeDir, Mode: 0o755}
		}
	}
	l.entries[e.Path] = e
}

// Dir adds a root-owned directory with the given mode.
func (l *Layer) Dir(p string, mode int64) {
	l.Add(Entry{Path: p, Type: tar.TypeDir, Mode: mode})
}

// File adds a root-owned regular file.
func (l *Layer) File(p string, mode int64, data []byte) {
	l.Add(Entry{Path: p, Type: tar.TypeReg, Mode: mode, Data: data})
}

// Symlink adds a symbolic link at p pointing to target.
func (l *Layer) Symlink(p, target string) {
	l.Add(Entry{Path: p, Type: tar.TypeSymlink, Mode: 0o777, Link: target})
}

// Has reports whether the layer holds an entry at p.
func (l *Layer) Has(p string) bool {
	_, ok := l.entries[cleanPath(p)]
	return ok
}

// Get returns the entry at p.
func (l *Layer) Get(p string) (Entry, bool) {
	e, ok := l.entries[cleanPath(p)]
	return e, ok
}

// Paths returns every path of the layer, sorted.
func (l *Layer) Paths() []string {
	paths := make([]string, 0, len(l.entries))
	for p := range l.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Tar serialises the layer as an uncompressed tar: entries sorted by path (so parents precede
// children), names relative to the root ("bin/busybox"), directories with a trailing slash,
// numeric owners only and Epoch as every modification time.
func (l *Layer) Tar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range l.Paths() {
		e := l.entries[p]
		hdr := &tar.Header{
			Typeflag: e.Type,
			Name:     strings.TrimPrefix(p, "/"),
			Mode:     e.Mode,
			Uid:      e.UID,
			Gid:      e.GID,
			ModTime:  Epoch,
			Format:   tar.FormatPAX,
		}
		switch e.Type {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = int64(len(e.Data))
		case tar.TypeSymlink:
			hdr.Linkname = e.Link
		default:
			return nil, fmt.Errorf("layer entry %s: unsupported type %q", p, e.Type)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", p, err)
		}
		if e.Type == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// fileMode maps a host file's permission bits to the tar mode of its copy.
func fileMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
