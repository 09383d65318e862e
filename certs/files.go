package certs

import (
	"fmt"
	"os"

	"github.com/kubeshim/kubeshim/internal/atomicfile"
)

// ensureDir creates dir (and its parents) with mode 0700. An existing
// directory keeps its mode: it may be a data directory the user chose.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes data to path with mode 0600, atomically.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o600)
}

// fileExists reports whether path exists; errors other than "not exist" are
// returned so that an unreadable file is not mistaken for a missing one.
func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) {
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", path, err)
}
