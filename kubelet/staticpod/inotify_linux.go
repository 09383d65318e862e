//go:build linux

package staticpod

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dirWatch is an inotify watch on one folder. It only says that something changed; the
// folder is then read in full.
type dirWatch struct {
	file *os.File
}

const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE |
	unix.IN_ATTRIB | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR

func watchDir(dir string) (*dirWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking descriptor goes to Go's poller: Read parks the goroutine, Close wakes it.
	return &dirWatch{file: os.NewFile(uintptr(fd), "inotify:"+dir)}, nil
}

// run sends on changed (without blocking: one pending signal is enough) for every batch of
// events, until the watch is closed or the folder itself goes away.
func (w *dirWatch) run(changed chan<- struct{}) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.file.Read(buf)
		if err != nil || n <= 0 {
			return
		}
		gone := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4 : off+8])
			nameLen := binary.NativeEndian.Uint32(buf[off+12 : off+16])
			if mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT) != 0 {
				gone = true
			}
			off += unix.SizeofInotifyEvent + int(nameLen)
		}
		select {
		case changed <- struct{}{}:
		default:
		}
		if gone {
			return
		}
	}
}

func (w *dirWatch) close() {
	_ = w.file.Close()
}
