package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// file is one file of a configMap, secret, downwardAPI or projected volume.
type file struct {
	Data []byte
	Mode os.FileMode
}

const (
	dataLink    = "..data"
	newDataLink = "..data_tmp"
)

// writeAtomic makes dir hold exactly payload (paths relative to dir), with upstream's
// AtomicWriter layout: the files live in a hidden timestamped directory "..2006_01_02_15_04_05.N",
// "..data" is a symlink to it, and each top-level name of the payload is a symlink
// "name" → "..data/name". An update writes a new timestamped directory and swaps "..data" with
// one rename, so a reader sees either the old or the new content, never a mix. Nothing is
// written when the content and modes are unchanged.
func writeAtomic(dir string, payload map[string]file) error {
	clean := make(map[string]file, len(payload))
	for p, f := range payload {
		if err := validateFilePath(p); err != nil {
			return err
		}
		clean[filepath.Clean(p)] = f
	}

	dataPath := filepath.Join(dir, dataLink)
	oldTs, err := os.Readlink(dataPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", dataPath, err)
	}
	oldTopLevel := map[string]bool{}
	if oldTs != "" {
		oldTsPath := filepath.Join(dir, oldTs)
		same, err := sameContent(oldTsPath, clean)
		if err != nil {
			return err
		}
		if same {
			return nil
		}
		entries, err := os.ReadDir(oldTsPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading %s: %w", oldTsPath, err)
		}
		for _, e := range entries {
			oldTopLevel[e.Name()] = true
		}
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	// 0755 whatever the umask: group and others must be able to walk the tree.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		_ = os.RemoveAll(tsDir)
		return fmt.Errorf("chmod %s: %w", tsDir, err)
	}
	for p, f := range clean {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("creating directory for %s: %w", p, err)
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}

	// User-visible symlinks for the top-level names that are new.
	newTopLevel := map[string]bool{}
	for p := range clean {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		newTopLevel[top] = true
	}
	for top := range newTopLevel {
		visible := filepath.Join(dir, top)
		if _, err := os.Readlink(visible); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataLink, top), visible); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("creating symlink %s: %w", visible, err)
		}
	}

	// The swap: ..data_tmp → new dir, renamed over ..data.
	tmpLink := filepath.Join(dir, newDataLink)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		_ = os.RemoveAll(tsDir)
		return fmt.Errorf("creating symlink %s: %w", tmpLink, err)
	}
	if err := os.Rename(tmpLink, dataPath); err != nil {
		_ = os.Remove(tmpLink)
		_ = os.RemoveAll(tsDir)
		return fmt.Errorf("renaming %s: %w", tmpLink, err)
	}

	// Old top-level names that are gone, then the old data.
	for top := range oldTopLevel {
		if newTopLevel[top] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, top)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing old %s: %w", top, err)
		}
	}
	if oldTs != "" && oldTs != filepath.Base(tsDir) {
		if err := os.RemoveAll(filepath.Join(dir, oldTs)); err != nil {
			return fmt.Errorf("removing old data directory: %w", err)
		}
	}
	return nil
}

// sameContent reports whether tsDir holds exactly payload, with the same modes.
func sameContent(tsDir string, payload map[string]file) (bool, error) {
	var onDisk []string
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(tsDir, p)
		if err != nil {
			return err
		}
		onDisk = append(onDisk, rel)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", tsDir, err)
	}
	if len(onDisk) != len(payload) {
		return false, nil
	}
	sort.Strings(onDisk)
	for _, rel := range onDisk {
		want, ok := payload[rel]
		if !ok {
			return false, nil
		}
		full := filepath.Join(tsDir, rel)
		st, err := os.Lstat(full)
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", full, err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != want.Mode.Perm() {
			return false, nil
		}
		got, err := os.ReadFile(full)
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", full, err)
		}
		if !bytes.Equal(got, want.Data) {
			return false, nil
		}
	}
	return true, nil
}

// validateFilePath refuses what upstream's AtomicWriter refuses: an empty or absolute path, a
// ".." element, a first element starting with "..", names over 255 and paths over 4096 bytes.
func validateFilePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > 4096 {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", 4096)
	}
	items := strings.Split(p, string(filepath.Separator))
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > 255 {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", 255)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}
