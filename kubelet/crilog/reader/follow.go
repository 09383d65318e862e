package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxLine bounds the buffer of one line; a longer "line" (no newline in maxLine bytes: not a
// CRI log) is handed on in pieces, which fail to parse and are skipped.
const maxLine = 4 << 20

// lineReader reads a file forward line by line, keeping an unterminated last line until the
// rest of it is written.
type lineReader struct {
	lf   *logFile
	buf  []byte
	r, w int
	off  int64 // file offset of buf[r]
}

func newLineReader(lf *logFile, off int64) *lineReader {
	return &lineReader{lf: lf, buf: make([]byte, 64<<10), off: off}
}

// next returns the next complete line (without its newline; valid until the next call) and its
// offset, or nil when the file holds no further complete line now.
func (lr *lineReader) next() ([]byte, int64, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			l, off := lr.buf[lr.r:lr.r+i], lr.off
			lr.r += i + 1
			lr.off += int64(i + 1)
			return l, off, nil
		}
		if lr.r > 0 {
			lr.w = copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.r = 0
		}
		if lr.w == len(lr.buf) {
			if len(lr.buf) >= maxLine {
				l, off := lr.rest()
				return l, off, nil
			}
			lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)
		}
		n, err := lr.lf.f.Read(lr.buf[lr.w:])
		lr.w += n
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("reading log file %s: %w", lr.lf.name, err)
		}
		if n == 0 {
			return nil, 0, nil
		}
	}
}

// rest takes the unterminated bytes after the last complete line.
func (lr *lineReader) rest() ([]byte, int64) {
	l, off := lr.buf[lr.r:lr.w], lr.off
	lr.off += int64(len(l))
	lr.r = lr.w
	return l, off
}

// follow reads what is appended to the current file, then to the files that replace it, until
// stillRunning is false and the file is read, or ctx ends.
func (r *logReader) follow(ctx context.Context, path string, stillRunning func() bool, w *watcher) error {
	lr := r.cur
	nextIdx := lr.lf.idx + 1
	stopping := false
	for {
		if err := r.readAvailable(lr, false); err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err == nil && !os.SameFile(fi, lr.lf.fi) {
			// Rotated: the writer is done with lr's file. Read its rest, then the files
			// rotated after it (if the reader fell behind several rotations), then the new one.
			cur, err := openLog(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // rotated once more in between; look again
			}
			if err != nil {
				return err
			}
			r.opened = append(r.opened, cur)
			if err := r.readAvailable(lr, true); err != nil {
				return err
			}
			lr.lf.f.Close()
			between, err := openRotatedAfter(path, lr.lf, cur)
			r.opened = append(r.opened, between...)
			if err != nil {
				return err
			}
			for _, lf := range between {
				lf.idx, nextIdx = nextIdx, nextIdx+1
				if err := r.readAvailable(newLineReader(lf, 0), true); err != nil {
					return err
				}
				lf.f.Close()
			}
			cur.idx, nextIdx = nextIdx, nextIdx+1
			lr = newLineReader(cur, 0)
			continue
		}
		if stopping {
			return nil
		}
		if !stillRunning() {
			// One more pass reads what was written before the container stopped.
			stopping = true
			continue
		}
		if w != nil {
			w.wait(ctx, followPollInterval)
		} else {
			sleep(ctx, min(followPollInterval, 250*time.Millisecond))
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// watcher wakes follow on changes in the log's directory (writes, creates, renames, removals)
// through inotify.
type watcher struct {
	f    *os.File
	stop func() bool
	buf  []byte
}

func newWatcher(ctx context.Context, dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	const mask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	// A non-blocking descriptor goes to Go's poller, so reads honour deadlines.
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))}
	w.stop = context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Unix(1, 0)) })
	return w, nil
}

// wait returns after an event, after d, or when ctx ends; it drains the queued events.
func (w *watcher) wait(ctx context.Context, d time.Duration) {
	if err := w.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		sleep(ctx, d)
		return
	}
	if ctx.Err() != nil { // ended before the deadline was set: AfterFunc's deadline was overwritten
		return
	}
	_, _ = w.f.Read(w.buf)
}

func (w *watcher) close() {
	w.stop()
	w.f.Close()
}
