package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// createNetNS makes a new network namespace and pins it by bind-mounting it on path (a new
// file; path must not exist). Neither containerd's pkg/netns nor CNI's ns package creates a
// namespace at a chosen path, so this is the same unshare + bind-mount they do, on a thread
// that is thrown away afterwards.
func createNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns mount point: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create netns mount point: %w", err)
	}

	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns the Go runtime
		// terminates it, so its new network namespace never leaks into other goroutines.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount network namespace on %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// removeNetNS unmounts the namespace pinned at path and removes the file. A path that does not
// exist or is not mounted is not an error.
func removeNetNS(path string) error {
	// Unmount every layer (a path bind-mounted twice has two); EINVAL means nothing is
	// mounted there any more.
	for range 8 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// isNetNS reports whether path is a pinned network namespace (an nsfs file).
func isNetNS(path string) bool {
	return ns.IsNSorErr(path) == nil
}
