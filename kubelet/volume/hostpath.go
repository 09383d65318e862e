package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath checks (and for the *OrCreate types creates) a hostPath volume's path, with the
// messages of upstream's hostpath plugin. Type "" checks nothing; a path that does not exist is
// then created as a directory (0755), as containerd's CRI does for a missing bind-mount source.
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	path := src.Path
	var typ corev1.HostPathType
	if src.Type != nil {
		typ = *src.Type
	}
	switch typ {
	case corev1.HostPathUnset:
		if !exists(path) {
			return makeDir(path)
		}
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists(path) {
			if err := makeDir(path); err != nil {
				return err
			}
		}
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathDirectory:
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathFileOrCreate:
		if !exists(path) {
			if err := makeFile(path); err != nil {
				return err
			}
		}
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathFile:
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathSocket:
		return typeMatches(path, corev1.HostPathSocket, "socket file")
	case corev1.HostPathCharDev:
		return typeMatches(path, corev1.HostPathCharDev, "character device")
	case corev1.HostPathBlockDev:
		return typeMatches(path, corev1.HostPathBlockDev, "block device")
	}
	return fmt.Errorf("%s is an invalid volume type", typ)
}

// exists follows symlinks, as upstream: a dangling symlink does not exist.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func typeMatches(path string, want corev1.HostPathType, desc string) error {
	if !exists(path) {
		return fmt.Errorf("hostPath %s doesn't exist", path)
	}
	got, err := fileType(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, desc, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, desc, got)
	}
	return nil
}

// fileType is the HostPathType of what is at path (following symlinks).
func fileType(path string) (corev1.HostPathType, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	mode := st.Mode()
	switch {
	case mode.IsDir():
		return corev1.HostPathDirectory, nil
	case mode.IsRegular():
		return corev1.HostPathFile, nil
	case mode&fs.ModeSocket != 0:
		return corev1.HostPathSocket, nil
	case mode&fs.ModeCharDevice != 0:
		return corev1.HostPathCharDev, nil
	case mode&fs.ModeDevice != 0:
		return corev1.HostPathBlockDev, nil
	}
	return "", errors.New("only recognise file, directory, socket, block device and character device")
}

// makeDir creates path and its missing parents, 0755.
func makeDir(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// makeFile creates an empty file 0644. Its directory must exist (upstream does not create it).
func makeFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return f.Close()
}
