package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// errMountNotPermitted: the process may not mount (not root, no CAP_SYS_ADMIN).
var errMountNotPermitted = errors.New("mount not permitted")

// mountTmpfs mounts a tmpfs on dir (size bytes, 0 = the kernel's default) unless one is mounted
// there already. It reports whether it mounted one now.
func mountTmpfs(dir string, size int64) (bool, error) {
	dir, err := realPath(dir)
	if err != nil {
		return false, err
	}
	infos, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil {
		return false, fmt.Errorf("reading mounts: %w", err)
	}
	for _, in := range infos {
		if in.FSType == "tmpfs" {
			return false, nil
		}
	}
	opts := "mode=0777"
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		if errors.Is(err, unix.EPERM) || os.Geteuid() != 0 {
			return false, fmt.Errorf("%w: mounting tmpfs on %s: %v", errMountNotPermitted, dir, err)
		}
		return false, fmt.Errorf("mounting tmpfs on %s: %w", dir, err)
	}
	return true, nil
}

// unmountTmpfsUnder unmounts every tmpfs mounted under dir (deepest first) and fails if any
// mount at all remains under dir afterwards, so that removing dir cannot reach into a mounted
// file system.
func unmountTmpfsUnder(dir string) error {
	dir, err := realPath(dir)
	if err != nil {
		return err
	}
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	sort.Slice(infos, func(i, j int) bool { return len(infos[i].Mountpoint) > len(infos[j].Mountpoint) })
	for _, in := range infos {
		if in.FSType != "tmpfs" {
			continue
		}
		if err := unix.Unmount(in.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting %s: %w", in.Mountpoint, err)
		}
	}
	left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	if len(left) > 0 {
		return fmt.Errorf("%s is still mounted (%s), not removing anything", left[0].Mountpoint, left[0].FSType)
	}
	return nil
}

// realPath is path absolute and with its symlinks resolved, as /proc/self/mountinfo shows it.
func realPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	return real, nil
}
