package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

func typesUID(s string) types.UID { return types.UID(s) }

func mkfifo(path string) error { return unix.Mkfifo(path, 0o644) }

// blockDevice returns a block device node: made with mknod in dir as root, else the first one
// under /dev; "" when there is none.
func blockDevice(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "blk")
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err == nil {
		return p
	}
	entries, _ := os.ReadDir("/dev")
	for _, e := range entries {
		full := filepath.Join("/dev", e.Name())
		if st, err := os.Stat(full); err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0 {
			return full
		}
	}
	return ""
}

func mountLines(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mountLine is the mountinfo line of the mount on dir, "" when none.
func mountLine(t *testing.T, dir string) string {
	t.Helper()
	real, err := realPath(dir)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(mountLines(t), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == real {
			return l
		}
	}
	return ""
}

func bindMount(src, dst string) error { return unix.Mount(src, dst, "", unix.MS_BIND, "") }

func unmount(dir string) error { return unix.Unmount(dir, 0) }
