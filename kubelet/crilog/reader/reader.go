// Package reader reads container logs in the CRI log format ("<RFC3339Nano> <stream> <P|F>
// <content>", as kubelet/crilog writes them) the way `kubectl logs` asks: tail, since, byte
// limit, timestamps, one stream or both, and follow. It reads a log's rotated files
// ("<path>.<YYYYMMDD-hhmmss>", see crilog.RotatedFiles) before the current one, and follows a
// rotation while following. It is upstream kubelet's pkg/kubelet/kuberuntime/logs, with
// partial lines joined and rotation handled.
package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
)

// TimestampFormat is how Timestamps prefixes each line: upstream's RFC3339NanoFixed (RFC3339
// with always nine fractional digits, so that prefixes line up).
const TimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Options says what ReadLogs writes.
type Options struct {
	// Follow keeps reading what the container writes until it stops.
	Follow bool
	// TailLines, if set and not negative, starts with the last TailLines complete lines of the
	// log (its rotated files included) instead of its beginning.
	TailLines *int64
	// LimitBytes, if set and not negative, stops after writing that many bytes (mid-line).
	LimitBytes *int64
	// Since, if not zero, drops lines written before it.
	Since time.Time
	// Timestamps prefixes each line with its time (TimestampFormat) and a space.
	Timestamps bool
	// Stdout and Stderr choose the streams written; both false means both.
	Stdout, Stderr bool
}

// NewOptions converts the API's log options; now is the reference for SinceSeconds. Previous
// and Container choose the file, which is the caller's business.
func NewOptions(o *corev1.PodLogOptions, now time.Time) Options {
	opts := Options{Follow: o.Follow, Timestamps: o.Timestamps, Stdout: true, Stderr: true}
	if o.TailLines != nil {
		n := *o.TailLines
		opts.TailLines = &n
	}
	if o.LimitBytes != nil {
		n := *o.LimitBytes
		opts.LimitBytes = &n
	}
	if o.SinceSeconds != nil {
		opts.Since = now.Add(-time.Duration(*o.SinceSeconds) * time.Second)
	}
	if o.SinceTime != nil && o.SinceTime.After(opts.Since) {
		opts.Since = o.SinceTime.Time
	}
	if o.Stream != nil {
		switch *o.Stream {
		case corev1.LogStreamStdout:
			opts.Stderr = false
		case corev1.LogStreamStderr:
			opts.Stdout = false
		}
	}
	return opts
}

// followPollInterval bounds how long following waits without an inotify event before it looks
// at the file and asks stillRunning again (upstream's logForceCheckPeriod).
var followPollInterval = time.Second

// useInotify is false in tests of the polling fallback.
var useInotify = true

// errLimit ends reading once LimitBytes are written.
var errLimit = errors.New("byte limit reached")

// ReadLogs writes the log at path, its rotated files first (oldest first), to stdout and stderr
// as opts says. With opts.Follow it then waits for new lines (inotify on the log's directory,
// with a poll every second) and writes them, follows the file through a rotation (renamed and
// replaced by a new one), and returns once stillRunning reports false and what was written by
// then is read, or when ctx ends (returning nil); a nil stillRunning follows until ctx ends.
// Malformed lines are skipped. Each line is one Write; a caller streaming over HTTP flushes.
func ReadLogs(ctx context.Context, path string, opts Options, stillRunning func() bool, stdout, stderr io.Writer) error {
	if stillRunning == nil {
		stillRunning = func() bool { return true }
	}
	if evaluated, err := filepath.EvalSymlinks(path); err == nil {
		path = evaluated
	}
	r := newLogReader(opts, stdout, stderr)
	defer func() {
		for _, f := range r.opened {
			f.f.Close()
		}
	}()
	// The current file first, then the rotated ones: a rotation in between shows as the current
	// file among the rotated ones (left out) or as a rotation to follow.
	cur, err := openLog(path)
	if err != nil {
		return err
	}
	r.opened = append(r.opened, cur)
	older, err := openRotatedAfter(path, nil, cur)
	r.opened = append(r.opened, older...)
	if err != nil {
		return err
	}
	files := append(older, cur)

	var w *watcher
	if opts.Follow {
		// Watch before reading, so that no write after the last read goes unnoticed.
		if useInotify {
			if w, err = newWatcher(ctx, filepath.Dir(path)); err != nil {
				klog.V(2).InfoS("Following a log by polling", "path", path, "err", err)
			}
		}
		if w != nil {
			defer w.close()
		}
	}

	start := position{}
	if opts.TailLines != nil && *opts.TailLines >= 0 {
		if start, err = r.findTail(files, *opts.TailLines); err != nil {
			return err
		}
	}
	err = r.readFrom(files, start, opts.Follow)
	if err == nil && opts.Follow {
		err = r.follow(ctx, path, stillRunning, w)
	}
	if err == nil {
		err = r.flushPending()
	}
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// logFile is one open file of a log; idx orders the files of one ReadLogs call.
type logFile struct {
	name string
	f    *os.File
	fi   os.FileInfo
	idx  int
}

func openLog(path string) (*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	return &logFile{name: path, f: f, fi: fi}, nil
}

// openRotatedAfter opens the rotated files of path newer than after (all of them when after is
// nil or no longer among them), leaving out the file not (the one being read as current).
func openRotatedAfter(path string, after *logFile, not *logFile) ([]*logFile, error) {
	names, err := crilog.RotatedFiles(path)
	if err != nil {
		return nil, err
	}
	var out []*logFile
	for _, name := range names {
		lf, err := openLog(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed as the oldest meanwhile
				continue
			}
			for _, o := range out {
				o.f.Close()
			}
			return nil, err
		}
		switch {
		case after != nil && os.SameFile(lf.fi, after.fi):
			// Everything so far is older than after.
			for _, o := range out {
				o.f.Close()
			}
			out = out[:0]
			lf.f.Close()
		case not != nil && os.SameFile(lf.fi, not.fi):
			lf.f.Close()
		default:
			out = append(out, lf)
		}
	}
	return out, nil
}

// position is a place in the files of one ReadLogs call: file index and byte offset.
type position struct {
	file int
	off  int64
}

func (p position) before(q position) bool {
	return p.file < q.file || p.file == q.file && p.off < q.off
}

// record is one parsed line of the CRI log format.
type record struct {
	ts      []byte
	stream  int // 0 stdout, 1 stderr
	partial bool
	content []byte
}

var streamNames = [2][]byte{[]byte("stdout"), []byte("stderr")}

// parseRecord parses "<time> <stream> <tag> <content>" (without the newline); tags may carry
// further ":"-separated fields after P or F, as the CRI allows.
func parseRecord(line []byte) (record, bool) {
	var rec record
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return rec, false
	}
	rec.ts, line = line[:i], line[i+1:]
	if !plausibleTime(rec.ts) {
		return rec, false
	}
	i = bytes.IndexByte(line, ' ')
	if i < 0 {
		return rec, false
	}
	switch s := line[:i]; {
	case bytes.Equal(s, streamNames[0]):
		rec.stream = 0
	case bytes.Equal(s, streamNames[1]):
		rec.stream = 1
	default:
		return rec, false
	}
	line = line[i+1:]
	i = bytes.IndexByte(line, ' ')
	if i < 0 {
		return rec, false
	}
	tag := line[:i]
	if j := bytes.IndexByte(tag, ':'); j >= 0 {
		tag = tag[:j]
	}
	switch string(tag) {
	case "P":
		rec.partial = true
	case "F":
	default:
		return rec, false
	}
	rec.content = line[i+1:]
	return rec, true
}

// plausibleTime checks the shape of an RFC3339 time cheaply ("2006-01-02T15:04:05" and a zone);
// the time is parsed in full only when it is needed (Since, Timestamps).
func plausibleTime(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}

// parseTime parses a record's time, with a fast path for the UTC form the logger writes.
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseUTC(b); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}

// parseUTC parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" without allocating.
func parseUTC(b []byte) (time.Time, bool) {
	if !plausibleTime(b) || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	hour, minute, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		digits := frac[1:]
		for _, c := range digits {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
		}
		nsec = num(digits)
		for range 9 - len(digits) {
			nsec *= 10
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and the like
		return time.Time{}, false
	}
	return t, true
}

// pending is a stream's line being joined from partial records.
type pending struct {
	active  bool
	ts      []byte
	content []byte
	at      position // first fragment
}

// logReader turns records into output lines: joins partial records per stream, filters by
// stream, time and tail cut-off, and writes with timestamps and byte limit.
type logReader struct {
	opts      Options
	want      [2]bool
	out       [2]io.Writer
	remain    int64 // < 0: no limit
	needTime  bool
	cutoff    position
	hasCutoff bool
	pend      [2]pending
	buf       []byte
	cur       *lineReader // the current (last) file's reader once readFrom is done
	opened    []*logFile  // every file opened, closed when ReadLogs returns
}

func newLogReader(opts Options, stdout, stderr io.Writer) *logReader {
	r := &logReader{opts: opts, want: [2]bool{opts.Stdout, opts.Stderr}, out: [2]io.Writer{stdout, stderr}, remain: -1}
	if !opts.Stdout && !opts.Stderr {
		r.want = [2]bool{true, true}
	}
	if opts.LimitBytes != nil && *opts.LimitBytes >= 0 {
		r.remain = *opts.LimitBytes
	}
	r.needTime = opts.Timestamps || !opts.Since.IsZero()
	return r
}

// line handles one line of a log file (without its newline) found at p.
func (r *logReader) line(l []byte, p position) error {
	rec, ok := parseRecord(l)
	if !ok {
		if len(l) > 0 {
			klog.V(4).InfoS("Skipping a malformed log line", "line", string(l))
		}
		return nil
	}
	if !r.want[rec.stream] {
		return nil
	}
	pd := &r.pend[rec.stream]
	if rec.partial {
		if !pd.active {
			pd.active, pd.at = true, p
			pd.ts = append(pd.ts[:0], rec.ts...)
			pd.content = pd.content[:0]
		}
		pd.content = append(pd.content, rec.content...)
		return nil
	}
	if r.hasCutoff && p.before(r.cutoff) {
		pd.active = false
		return nil
	}
	if pd.active {
		pd.active = false
		pd.content = append(pd.content, rec.content...)
		return r.emit(rec.stream, pd.ts, pd.content, true)
	}
	return r.emit(rec.stream, rec.ts, rec.content, true)
}

// flushPending writes the lines still being joined (the log ended inside them), oldest first,
// without a newline, as upstream writes partial records.
func (r *logReader) flushPending() error {
	order := []int{0, 1}
	if r.pend[1].active && r.pend[0].active && r.pend[1].at.before(r.pend[0].at) {
		order = []int{1, 0}
	}
	for _, s := range order {
		if pd := &r.pend[s]; pd.active {
			pd.active = false
			if err := r.emit(s, pd.ts, pd.content, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *logReader) emit(stream int, ts, content []byte, newline bool) error {
	var t time.Time
	if r.needTime {
		var ok bool
		if t, ok = parseTime(ts); !ok {
			klog.V(4).InfoS("Skipping a log line with a malformed time", "time", string(ts))
			return nil
		}
		if t.Before(r.opts.Since) {
			return nil
		}
	}
	b := r.buf[:0]
	if r.opts.Timestamps {
		b = appendTimestamp(b, t)
		b = append(b, ' ')
	}
	b = append(b, content...)
	if newline {
		b = append(b, '\n')
	}
	r.buf = b
	limited := false
	if r.remain >= 0 && int64(len(b)) >= r.remain {
		b, limited = b[:r.remain], true
	}
	if len(b) > 0 {
		n, err := r.out[stream].Write(b)
		if err != nil {
			return fmt.Errorf("writing log: %w", err)
		}
		if n < len(b) {
			return fmt.Errorf("writing log: %w", io.ErrShortWrite)
		}
	}
	if limited {
		r.remain = 0
		return errLimit
	}
	if r.remain > 0 {
		r.remain -= int64(len(b))
	}
	return nil
}

// readFrom reads the files from start: every file but the last to its end, the last to its
// end (incomplete last line included unless follow).
func (r *logReader) readFrom(files []*logFile, start position, follow bool) error {
	for i, lf := range files {
		lf.idx = i
		if i < start.file {
			continue
		}
		off := int64(0)
		if i == start.file {
			off = start.off
		}
		if _, err := lf.f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("seeking in log file %s: %w", lf.name, err)
		}
		lr := newLineReader(lf, off)
		last := i == len(files)-1
		if err := r.readAvailable(lr, !last || !follow); err != nil {
			return err
		}
		if last {
			r.cur = lr
		}
	}
	return nil
}

// readAvailable hands every complete line lr can read now to r.line; with final, an
// unterminated last line too (a file no one writes anymore).
func (r *logReader) readAvailable(lr *lineReader, final bool) error {
	for {
		l, off, err := lr.next()
		if err != nil {
			return err
		}
		if l == nil {
			break
		}
		if err := r.line(l, position{lr.lf.idx, off}); err != nil {
			return err
		}
	}
	if final {
		if l, off := lr.rest(); len(l) > 0 {
			return r.line(l, position{lr.lf.idx, off})
		}
	}
	return nil
}

// appendTimestamp appends t in TimestampFormat, by hand for UTC times (the logger's).
func appendTimestamp(b []byte, t time.Time) []byte {
	if t.Location() != time.UTC {
		return t.AppendFormat(b, TimestampFormat)
	}
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimestampFormat)
	}
	hour, minute, sec := t.Clock()
	digits := func(b []byte, v, n int) []byte {
		for i := n - 1; i >= 0; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
		return b[n:]
	}
	n := len(b)
	b = append(b, "0000-00-00T00:00:00.000000000Z"...)
	d := b[n:]
	d = digits(d, year, 4)[1:]
	d = digits(d, int(month), 2)[1:]
	d = digits(d, day, 2)[1:]
	d = digits(d, hour, 2)[1:]
	d = digits(d, minute, 2)[1:]
	d = digits(d, sec, 2)[1:]
	digits(d, t.Nanosecond(), 9)
	return b
}
