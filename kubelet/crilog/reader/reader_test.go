package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func init() { followPollInterval = 50 * time.Millisecond }

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// at is the time of the i-th fixture record: i seconds and i microseconds after t0.
func at(i int) time.Time {
	return t0.Add(time.Duration(i)*time.Second + time.Duration(i)*time.Microsecond)
}

// rec is a CRI log record as the logger writes it.
func rec(i int, stream, tag, content string) string {
	return at(i).Format(time.RFC3339Nano) + " " + stream + " " + tag + " " + content + "\n"
}

func TestParseRecord(t *testing.T) {
	ts := "2024-01-02T03:04:05.123456789Z"
	for _, tc := range []struct {
		line    string
		ok      bool
		stream  int
		partial bool
		content string
	}{
		{line: ts + " stdout F hello world", ok: true, content: "hello world"},
		{line: ts + " stderr F x", ok: true, stream: 1, content: "x"},
		{line: ts + " stdout P part", ok: true, partial: true, content: "part"},
		{line: ts + " stdout F ", ok: true, content: ""},
		{line: ts + " stdout F  two  spaces ", ok: true, content: " two  spaces "},
		{line: ts + " stdout F:extra tagged", ok: true, content: "tagged"},
		{line: ts + " stdout P:x:y p", ok: true, partial: true, content: "p"},
		{line: "2024-01-02T03:04:05+02:00 stdout F zone", ok: true, content: "zone"},
		{line: ""},
		{line: "garbage"},
		{line: "notatime stdout F x"},
		{line: ts + " stdin F x"},
		{line: ts + " stdout X x"},
		{line: ts + " stdout F"},
		{line: ts + " stdout"},
		{line: `{"log":"docker json","stream":"stdout","time":"2024-01-02T03:04:05Z"}`},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, ok := parseRecord([]byte(tc.line))
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got.stream != tc.stream || got.partial != tc.partial || string(got.content) != tc.content {
				t.Errorf("got stream %d partial %v content %q, want %d %v %q", got.stream, got.partial, got.content, tc.stream, tc.partial, tc.content)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-01-02T03:04:05Z", t0, true},
		{"2024-01-02T03:04:05.5Z", t0.Add(500 * time.Millisecond), true},
		{"2024-01-02T03:04:05.000000001Z", t0.Add(1), true},
		{"2024-01-02T05:04:05.25+02:00", t0.Add(250 * time.Millisecond), true},
		{"2024-02-31T03:04:05Z", time.Time{}, false},
		{"2024-01-02T03:04:05.Z", time.Time{}, false},
		{"2024-01-02T03:04:05.12a4Z", time.Time{}, false},
		{"2024-01-02T25:04:05Z", time.Time{}, false},
		{"2024-01-02 03:04:05Z", time.Time{}, false},
	} {
		got, ok := parseTime([]byte(tc.in))
		if ok != tc.ok || ok && !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNewOptions(t *testing.T) {
	now := t0
	later := metav1.NewTime(t0.Add(-10 * time.Second))
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	for _, tc := range []struct {
		name string
		in   corev1.PodLogOptions
		want Options
	}{
		{"defaults", corev1.PodLogOptions{}, Options{Stdout: true, Stderr: true}},
		{"all", corev1.PodLogOptions{Follow: true, Timestamps: true, TailLines: ptr.To[int64](3), LimitBytes: ptr.To[int64](7)},
			Options{Follow: true, Timestamps: true, TailLines: ptr.To[int64](3), LimitBytes: ptr.To[int64](7), Stdout: true, Stderr: true}},
		{"sinceSeconds", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60)}, Options{Since: t0.Add(-time.Minute), Stdout: true, Stderr: true}},
		{"sinceTime", corev1.PodLogOptions{SinceTime: &later}, Options{Since: later.Time, Stdout: true, Stderr: true}},
		{"the later of both", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60), SinceTime: &earlier}, Options{Since: t0.Add(-time.Minute), Stdout: true, Stderr: true}},
		{"stdout", corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamStdout)}, Options{Stdout: true}},
		{"stderr", corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamStderr)}, Options{Stderr: true}},
		{"All", corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamAll)}, Options{Stdout: true, Stderr: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewOptions(&tc.in, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if tc.in.TailLines != nil && got.TailLines == tc.in.TailLines {
				t.Errorf("TailLines aliases the API object")
			}
		})
	}
}

// writeFixture writes a log with two rotated files: lines split by partial records across
// streams and across a rotation, a malformed line, and an unfinished partial line at the end.
func writeFixture(t testing.TB, dir string) string {
	path := filepath.Join(dir, "0.log")
	files := map[string]string{
		path + ".20240101-000001": rec(0, "stdout", "F", "a1") + rec(1, "stderr", "F", "e1") + rec(2, "stdout", "P", "b1-"),
		path + ".20240101-000002": rec(3, "stdout", "F", "b2") + "garbage line\n" + rec(4, "stderr", "P", "e2-") +
			rec(5, "stdout", "F", "c") + rec(6, "stderr", "F", "e2end"),
		path: rec(7, "stdout", "F", "d") + rec(8, "stderr", "F", "e3") + rec(9, "stdout", "P", "tail-"),
		// Not part of this log.
		filepath.Join(dir, "1.log"):              rec(0, "stdout", "F", "other attempt"),
		path + ".20240101-000003.gz":             "compressed",
		path + ".20231231-235959.not-a-rotation": rec(0, "stdout", "F", "stray"),
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestReadLogs(t *testing.T) {
	path := writeFixture(t, t.TempDir())
	ts := func(i int) string { return at(i).Format(TimestampFormat) + " " }
	for _, tc := range []struct {
		name     string
		opts     Options
		combined string // stdout and stderr to one writer
		stdout   string // to separate writers
		stderr   string
	}{
		{
			name:     "everything",
			opts:     Options{Stdout: true, Stderr: true},
			combined: "a1\ne1\nb1-b2\nc\ne2-e2end\nd\ne3\ntail-",
			stdout:   "a1\nb1-b2\nc\nd\ntail-",
			stderr:   "e1\ne2-e2end\ne3\n",
		},
		{
			name:     "no stream chosen is both",
			opts:     Options{},
			combined: "a1\ne1\nb1-b2\nc\ne2-e2end\nd\ne3\ntail-",
		},
		{name: "stdout only", opts: Options{Stdout: true}, combined: "a1\nb1-b2\nc\nd\ntail-", stdout: "a1\nb1-b2\nc\nd\ntail-"},
		{name: "stderr only", opts: Options{Stderr: true}, combined: "e1\ne2-e2end\ne3\n", stderr: "e1\ne2-e2end\ne3\n"},
		{name: "tail 0", opts: Options{TailLines: ptr.To[int64](0)}, combined: ""},
		{name: "tail 1", opts: Options{TailLines: ptr.To[int64](1)}, combined: "e3\ntail-"},
		{name: "tail 2", opts: Options{TailLines: ptr.To[int64](2)}, combined: "d\ne3\ntail-"},
		{
			name:     "tail 3 reaches into a rotated file, the joined line's start included",
			opts:     Options{TailLines: ptr.To[int64](3)},
			combined: "e2-e2end\nd\ne3\ntail-",
			stdout:   "d\ntail-",
			stderr:   "e2-e2end\ne3\n",
		},
		{name: "tail 4 skips a line completed inside the read range", opts: Options{TailLines: ptr.To[int64](4)}, combined: "c\ne2-e2end\nd\ne3\ntail-"},
		{name: "tail 5: a line joined across a rotation", opts: Options{TailLines: ptr.To[int64](5)}, combined: "b1-b2\nc\ne2-e2end\nd\ne3\ntail-"},
		{name: "tail beyond the log", opts: Options{TailLines: ptr.To[int64](100)}, combined: "a1\ne1\nb1-b2\nc\ne2-e2end\nd\ne3\ntail-"},
		{name: "negative tail is everything", opts: Options{TailLines: ptr.To[int64](-1)}, combined: "a1\ne1\nb1-b2\nc\ne2-e2end\nd\ne3\ntail-"},
		{name: "tail of stdout", opts: Options{Stdout: true, TailLines: ptr.To[int64](2)}, combined: "c\nd\ntail-"},
		{name: "tail of stderr", opts: Options{Stderr: true, TailLines: ptr.To[int64](2)}, combined: "e2-e2end\ne3\n"},
		{name: "since", opts: Options{Since: at(4)}, combined: "c\ne2-e2end\nd\ne3\ntail-"},
		{name: "since a partial line's start excludes it", opts: Options{Since: at(3)}, combined: "c\ne2-e2end\nd\ne3\ntail-"},
		{name: "since after all", opts: Options{Since: at(10)}, combined: ""},
		{name: "since and tail", opts: Options{Since: at(5), TailLines: ptr.To[int64](4)}, combined: "c\nd\ne3\ntail-"},
		{name: "limit 0", opts: Options{LimitBytes: ptr.To[int64](0)}, combined: ""},
		{name: "limit mid-line", opts: Options{LimitBytes: ptr.To[int64](4)}, combined: "a1\ne"},
		{name: "limit at a line's end", opts: Options{LimitBytes: ptr.To[int64](6)}, combined: "a1\ne1\n"},
		{name: "limit inside a joined line", opts: Options{LimitBytes: ptr.To[int64](9)}, combined: "a1\ne1\nb1-"},
		{name: "limit beyond the log", opts: Options{LimitBytes: ptr.To[int64](1000)}, combined: "a1\ne1\nb1-b2\nc\ne2-e2end\nd\ne3\ntail-"},
		{name: "limit and tail", opts: Options{TailLines: ptr.To[int64](2), LimitBytes: ptr.To[int64](4)}, combined: "d\ne3"},
		{
			name:     "timestamps",
			opts:     Options{Timestamps: true, TailLines: ptr.To[int64](3)},
			combined: ts(4) + "e2-e2end\n" + ts(7) + "d\n" + ts(8) + "e3\n" + ts(9) + "tail-",
		},
		{name: "timestamps and limit", opts: Options{Timestamps: true, LimitBytes: ptr.To[int64](34)}, combined: ts(0) + "a1\n"},
		{name: "timestamps, since, limit", opts: Options{Timestamps: true, Since: at(8), LimitBytes: ptr.To[int64](35)}, combined: ts(8) + "e3\n" + ts(9)[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, nil, &all, &all); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.combined, all.String()); diff != "" {
				t.Errorf("combined (-want +got):\n%s", diff)
			}
			if tc.stdout == "" && tc.stderr == "" {
				return
			}
			var out, errb bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, nil, &out, &errb); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.stdout, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.stderr, errb.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLogsErrorsAndEdges(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := ReadLogs(context.Background(), filepath.Join(dir, "missing.log"), Options{}, nil, &buf, &buf); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing log: err %v", err)
	}

	// An empty log, with tails.
	empty := filepath.Join(dir, "empty.log")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tail := range []*int64{nil, ptr.To[int64](0), ptr.To[int64](3)} {
		buf.Reset()
		if err := ReadLogs(context.Background(), empty, Options{TailLines: tail}, nil, &buf, &buf); err != nil || buf.Len() != 0 {
			t.Errorf("empty log, tail %v: %q, %v", tail, buf.String(), err)
		}
	}

	// A symlink to the log is followed; an unterminated last record is read when not following.
	real := filepath.Join(dir, "real.log")
	if err := os.WriteFile(real, []byte(rec(0, "stdout", "F", "one")+rec(1, "stdout", "F", "two")[:len(rec(1, "stdout", "F", "two"))-1]), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := ReadLogs(context.Background(), link, Options{}, nil, &buf, &buf); err != nil || buf.String() != "one\ntwo\n" {
		t.Errorf("symlinked log: %q, %v", buf.String(), err)
	}
	// The tail leaves the unterminated record out of its count but writes it.
	buf.Reset()
	if err := ReadLogs(context.Background(), link, Options{TailLines: ptr.To[int64](1)}, nil, &buf, &buf); err != nil || buf.String() != "one\ntwo\n" {
		t.Errorf("tail 1 with an unterminated record: %q, %v", buf.String(), err)
	}
}

// TestTailBigFile checks the backward scan over many chunks and lines longer than a chunk.
func TestTailBigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	var b strings.Builder
	long := strings.Repeat("x", 3*tailChunk)
	const n = 20000
	for i := range n {
		if i%5000 == 0 {
			b.WriteString(rec(i, "stdout", "P", long))
		}
		b.WriteString(rec(i, "stdout", "F", fmt.Sprintf("line %d", i)))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tail := range []int64{1, 3, 5001, 15001, n, n + 1} {
		var buf bytes.Buffer
		if err := ReadLogs(context.Background(), path, Options{TailLines: &tail}, nil, &buf, &buf); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i := max(0, n-int(tail)); i < n; i++ {
			if i%5000 == 0 {
				want.WriteString(long)
			}
			fmt.Fprintf(&want, "line %d\n", i)
		}
		if buf.String() != want.String() {
			t.Errorf("tail %d: got %d bytes, want %d", tail, buf.Len(), want.Len())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// follower runs ReadLogs with Follow in the background.
type follower struct {
	out     syncBuffer
	running atomic.Bool
	cancel  context.CancelFunc
	done    chan error
}

func startFollow(t *testing.T, path string, opts Options) *follower {
	t.Helper()
	f := &follower{done: make(chan error, 1)}
	f.running.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	opts.Follow = true
	go func() { f.done <- ReadLogs(ctx, path, opts, f.running.Load, &f.out, &f.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Error("ReadLogs did not return after cancel")
		}
	})
	return f
}

func (f *follower) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		f.done <- err // for Cleanup
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLogs did not return")
		return nil
	}
}

func TestFollow(t *testing.T) {
	for _, inotify := range []bool{true, false} {
		t.Run(fmt.Sprintf("inotify=%v", inotify), func(t *testing.T) {
			useInotify = inotify
			t.Cleanup(func() { useInotify = true })

			t.Run("appends are delivered, partial lines joined, ends when stopped and drained", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "0.log")
				appendFile(t, path, rec(0, "stdout", "F", "old"))
				f := startFollow(t, path, Options{})
				waitFor(t, "the existing line", func() bool { return f.out.String() == "old\n" })
				appendFile(t, path, rec(1, "stderr", "F", "new"))
				waitFor(t, "an appended line", func() bool { return f.out.String() == "old\nnew\n" })
				// A record written in two pieces, and a line in two records.
				r := rec(2, "stdout", "P", "jo")
				appendFile(t, path, r[:10])
				time.Sleep(3 * followPollInterval)
				appendFile(t, path, r[10:])
				time.Sleep(3 * followPollInterval)
				if got := f.out.String(); got != "old\nnew\n" {
					t.Fatalf("an unfinished line was written: %q", got)
				}
				appendFile(t, path, rec(3, "stdout", "F", "ined"))
				waitFor(t, "a joined line", func() bool { return f.out.String() == "old\nnew\njoined\n" })
				// Stopping: what was written before is still read, then ReadLogs returns.
				appendFile(t, path, rec(4, "stdout", "F", "last words")+rec(5, "stdout", "P", "unfinished"))
				f.running.Store(false)
				if err := f.wait(t); err != nil {
					t.Fatal(err)
				}
				if got, want := f.out.String(), "old\nnew\njoined\nlast words\nunfinished"; got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			})

			t.Run("across rotations", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "0.log")
				appendFile(t, path, rec(0, "stdout", "F", "first"))
				f := startFollow(t, path, Options{})
				waitFor(t, "the first line", func() bool { return f.out.String() == "first\n" })
				// Rotate as the logger does: a last write, rename, new file.
				appendFile(t, path, rec(1, "stdout", "P", "split-"))
				if err := os.Rename(path, path+".20240101-000001"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, rec(2, "stdout", "F", "across"))
				waitFor(t, "a line across the rotation", func() bool { return f.out.String() == "first\nsplit-across\n" })
				// Two rotations at once: the file in between is read too.
				appendFile(t, path, rec(3, "stdout", "F", "second file"))
				if err := os.Rename(path, path+".20240101-000002"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, rec(4, "stdout", "F", "third file"))
				if err := os.Rename(path, path+".20240101-000003"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, rec(5, "stdout", "F", "fourth file"))
				waitFor(t, "lines of three files", func() bool {
					return f.out.String() == "first\nsplit-across\nsecond file\nthird file\nfourth file\n"
				})
				f.running.Store(false)
				if err := f.wait(t); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("tail then follow", func(t *testing.T) {
				path := writeFixture(t, t.TempDir())
				f := startFollow(t, path, Options{TailLines: ptr.To[int64](2)})
				waitFor(t, "the tail", func() bool { return f.out.String() == "d\ne3\n" })
				appendFile(t, path, rec(10, "stdout", "F", "end"))
				waitFor(t, "the partial line completed", func() bool { return f.out.String() == "d\ne3\ntail-end\n" })
			})

			t.Run("limit ends following", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "0.log")
				appendFile(t, path, rec(0, "stdout", "F", "12345"))
				f := startFollow(t, path, Options{LimitBytes: ptr.To[int64](9)})
				waitFor(t, "the first line", func() bool { return f.out.String() == "12345\n" })
				appendFile(t, path, rec(1, "stdout", "F", "67890"))
				if err := f.wait(t); err != nil {
					t.Fatal(err)
				}
				if got := f.out.String(); got != "12345\n678" {
					t.Errorf("got %q", got)
				}
			})

			t.Run("since while following", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "0.log")
				appendFile(t, path, rec(0, "stdout", "F", "too old"))
				f := startFollow(t, path, Options{Since: at(1), Timestamps: true})
				appendFile(t, path, rec(0, "stdout", "F", "old too")+rec(2, "stdout", "F", "new"))
				want := at(2).Format(TimestampFormat) + " new\n"
				waitFor(t, "the new line", func() bool { return f.out.String() == want })
			})

			t.Run("context end returns nil", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "0.log")
				appendFile(t, path, rec(0, "stdout", "F", "x"))
				f := startFollow(t, path, Options{})
				waitFor(t, "the line", func() bool { return f.out.String() == "x\n" })
				start := time.Now()
				f.cancel()
				if err := f.wait(t); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("ReadLogs took %v to notice the end of its context", d)
				}
			})
		})
	}
}

func BenchmarkReadLogs(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "0.log")
	var sb strings.Builder
	line := strings.Repeat("benchmark log line ", 5)
	for i := 0; sb.Len() < 16<<20; i++ {
		sb.WriteString(rec(i%100000, []string{"stdout", "stderr"}[i%2], "F", line))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"all", Options{}},
		{"timestamps", Options{Timestamps: true}},
		{"since", Options{Since: t0}},
		{"tail1000", Options{TailLines: ptr.To[int64](1000)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(sb.Len()))
			if bc.opts.TailLines != nil {
				b.SetBytes(0)
			}
			for b.Loop() {
				if err := ReadLogs(context.Background(), path, bc.opts, nil, discard{}, discard{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestAppendTimestamp(t *testing.T) {
	for _, tm := range []time.Time{
		t0, at(7), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2024, 6, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2024, 6, 1, 2, 0, 0, 5, time.FixedZone("x", 7200)), time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := string(appendTimestamp([]byte("> "), tm)), "> "+tm.Format(TimestampFormat); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
