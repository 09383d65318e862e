package reader

import (
	"bytes"
	"fmt"
	"io"
)

// Stream states of the tail search, going backwards from the end of the log.
const (
	tailUnseen = iota // no record of the stream yet
	tailNeeded        // the stream's earliest record seen belongs to a line that is written
	tailDone          // a complete line of the stream ends before the first line written
)

// findTail finds where reading starts to write the last n complete lines of the wanted streams
// in files (oldest first) and sets the cut-off: lines completed before it are not written. It
// reads the files backwards, so a tail of a big log costs about what it writes.
func (r *logReader) findTail(files []*logFile, n int64) (position, error) {
	if n == 0 {
		last := len(files) - 1
		fi, err := files[last].f.Stat()
		if err != nil {
			return position{}, fmt.Errorf("tailing log file %s: %w", files[last].name, err)
		}
		return position{last, fi.Size()}, nil
	}
	var (
		state   [2]int
		count   int64
		start   position
		reached bool
	)
	for i := len(files) - 1; i >= 0; i-- {
		fi, err := files[i].f.Stat()
		if err != nil {
			return position{}, fmt.Errorf("tailing log file %s: %w", files[i].name, err)
		}
		stop := false
		err = scanBackward(files[i].f, fi.Size(), func(l []byte, off int64) bool {
			rec, ok := parseRecord(l)
			if !ok || !r.want[rec.stream] {
				return false
			}
			p := position{i, off}
			s := rec.stream
			if !reached {
				state[s] = tailNeeded
				if !rec.partial {
					if count++; count == n {
						reached = true
						r.cutoff, r.hasCutoff = p, true
					}
				}
				start = p
				return false
			}
			if state[s] == tailDone {
				return false
			}
			if rec.partial {
				state[s] = tailNeeded
				start = p
				return false
			}
			state[s] = tailDone
			stop = state[0] != tailNeeded && state[1] != tailNeeded
			return stop
		})
		if err != nil {
			return position{}, fmt.Errorf("tailing log file %s: %w", files[i].name, err)
		}
		if stop {
			return start, nil
		}
	}
	if !reached {
		// Fewer lines than asked for: all of them.
		r.hasCutoff = false
		return position{}, nil
	}
	return start, nil
}

// tailChunk is how much scanBackward reads at a time.
const tailChunk = 64 << 10

// scanBackward calls fn with each complete line (without its newline) of f's first size bytes
// and the line's offset, last line first, until fn returns true. Bytes after the last newline
// (a line being written) are left out.
func scanBackward(f io.ReaderAt, size int64, fn func(line []byte, off int64) bool) error {
	var data []byte // f[dataOff : dataOff+len(data)]
	dataOff := size
	more := func() error {
		n := min(int64(max(tailChunk, len(data))), dataOff)
		nd := make([]byte, int(n)+len(data))
		if _, err := f.ReadAt(nd[:n], dataOff-n); err != nil && err != io.EOF {
			return err
		}
		copy(nd[n:], data)
		data, dataOff = nd, dataOff-n
		return nil
	}
	// The end of the last complete line.
	for {
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i]
			break
		}
		if dataOff == 0 {
			return nil
		}
		if err := more(); err != nil {
			return err
		}
	}
	for {
		i := bytes.LastIndexByte(data, '\n')
		if i < 0 && dataOff > 0 {
			if err := more(); err != nil {
				return err
			}
			continue
		}
		if fn(data[i+1:], dataOff+int64(i+1)) || i < 0 {
			return nil
		}
		data = data[:i]
	}
}
