package crilog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLoggerArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    LoggerConfig
		wantErr bool
	}{
		{name: "legacy form", args: []string{"container-logger", "/l/0.log"}, want: LoggerConfig{Path: "/l/0.log"}},
		{name: "all pairs", args: []string{"container-logger", "/l/0.log", "max-size", "1024", "max-files", "3"}, want: LoggerConfig{Path: "/l/0.log", MaxSize: 1024, MaxFiles: 3}},
		{name: "path last", args: []string{"max-files", "3", "max-size", "1024", "container-logger", "/l/0.log"}, want: LoggerConfig{Path: "/l/0.log", MaxSize: 1024, MaxFiles: 3}},
		{name: "path between", args: []string{"max-size", "1024", "container-logger", "/l/0.log", "max-files", "3"}, want: LoggerConfig{Path: "/l/0.log", MaxSize: 1024, MaxFiles: 3}},
		{name: "size alone", args: []string{"max-size", "10", "container-logger", "/l/0.log"}, want: LoggerConfig{Path: "/l/0.log", MaxSize: 10}},
		{name: "no args", args: nil, wantErr: true},
		{name: "no path", args: []string{"max-size", "10"}, wantErr: true},
		{name: "odd", args: []string{"container-logger"}, wantErr: true},
		{name: "odd with path", args: []string{"container-logger", "/l/0.log", "max-size"}, wantErr: true},
		{name: "unknown key", args: []string{"container-logger", "/l/0.log", "colour", "red"}, wantErr: true},
		{name: "twice", args: []string{"container-logger", "/a", "container-logger", "/b"}, wantErr: true},
		{name: "bad size", args: []string{"container-logger", "/l/0.log", "max-size", "10Mi"}, wantErr: true},
		{name: "negative size", args: []string{"container-logger", "/l/0.log", "max-size", "-1"}, wantErr: true},
		{name: "bad count", args: []string{"container-logger", "/l/0.log", "max-files", "x"}, wantErr: true},
		{name: "a kubeshim command", args: []string{"kubelet", "--data-dir", "/x"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLoggerArgs(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if IsLoggerInvocation(tc.args) == tc.wantErr {
				t.Errorf("IsLoggerInvocation = %v", !tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestLoggerArgsRoundTrip passes LoggerArgs through the shim's map-to-argv flattening (see
// containerd's process.NewBinaryCmd: key, value, in map order) in every order.
func TestLoggerArgsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		files int
		want  LoggerConfig
		n     int
	}{
		{10 << 20, 5, LoggerConfig{Path: "/logs/p/c/0.log", MaxSize: 10 << 20, MaxFiles: 5}, 3},
		{4096, 0, LoggerConfig{Path: "/logs/p/c/0.log", MaxSize: 4096}, 2},
		{0, 5, LoggerConfig{Path: "/logs/p/c/0.log"}, 1},
	} {
		m := LoggerArgs("/logs/p/c/0.log", tc.size, tc.files)
		if len(m) != tc.n {
			t.Errorf("LoggerArgs(%d, %d) = %v", tc.size, tc.files, m)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for perm := range permutations(keys) {
			var argv []string
			for _, k := range perm {
				argv = append(argv, k, m[k])
			}
			got, err := ParseLoggerArgs(argv)
			if err != nil || got != tc.want {
				t.Errorf("%q: %+v, %v; want %+v", argv, got, err, tc.want)
			}
		}
	}
}

func permutations(s []string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		var rec func(int) bool
		rec = func(k int) bool {
			if k == len(s) {
				return yield(slices.Clone(s))
			}
			for i := k; i < len(s); i++ {
				s[k], s[i] = s[i], s[k]
				if !rec(k + 1) {
					return false
				}
				s[k], s[i] = s[i], s[k]
			}
			return true
		}
		rec(0)
	}
}

func TestRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	names := []string{
		"0.log", "1.log", "1.log.20240101-000000", "0.log.20240102-000000.10", "0.log.20240102-000000",
		"0.log.20240102-000000.2", "0.log.20231231-235959", "0.log.20240102-000001.gz", "0.log.2024",
		"0.log.20241332-000000", "0.log.20240102-000000.02", "0.log.20240102-000000.0", "x0.log.20240101-000000",
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "0.log.20240103-000000"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range []string{"0.log.20231231-235959", "0.log.20240102-000000", "0.log.20240102-000000.2", "0.log.20240102-000000.10"} {
		want = append(want, filepath.Join(dir, n))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rotated (-want +got):\n%s", diff)
	}
	if got, err := RotatedFiles(filepath.Join(dir, "missing", "0.log")); err != nil || len(got) != 0 {
		t.Errorf("missing directory: %v, %v", got, err)
	}
}

// fakeClock advances by step at each reading.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	t := start.Add(-step)
	return func() time.Time { t = t.Add(step); return t }
}

func TestRotation(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		maxSize  int64
		maxFiles int
		step     time.Duration // clock step per reading (records and rotations)
		lines    int
		wantKept int // rotated files left
	}{
		{name: "keeps max-files-1 rotated", maxSize: 1000, maxFiles: 3, step: time.Second, lines: 200, wantKept: 2},
		{name: "several rotations a second", maxSize: 1000, maxFiles: 4, step: time.Millisecond, lines: 200, wantKept: 3},
		{name: "one file: rotation drops the old", maxSize: 1000, maxFiles: 1, step: time.Second, lines: 200, wantKept: 0},
		{name: "no file limit", maxSize: 1000, maxFiles: 0, step: time.Second, lines: 200, wantKept: -1},
		{name: "no rotation", maxSize: 0, maxFiles: 3, step: time.Second, lines: 200, wantKept: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logs", "0.log")
			var in strings.Builder
			for i := range tc.lines {
				fmt.Fprintf(&in, "line %03d %s\n", i, strings.Repeat("x", i%50))
			}
			cfg := LoggerConfig{Path: path, MaxSize: tc.maxSize, MaxFiles: tc.maxFiles}
			ready := 0
			err := runLogger(cfg, strings.NewReader(in.String()), strings.NewReader(""), func() error { ready++; return nil }, fakeClock(start, tc.step))
			if err != nil {
				t.Fatal(err)
			}
			if ready != 1 {
				t.Errorf("ready called %d times", ready)
			}
			rotated, err := RotatedFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantKept >= 0 && len(rotated) != tc.wantKept {
				t.Errorf("%d rotated files, want %d: %v", len(rotated), tc.wantKept, rotated)
			}
			if tc.wantKept < 0 && len(rotated) < 10 {
				t.Errorf("only %d rotated files kept without a limit", len(rotated))
			}
			// The files, oldest first, hold a suffix of the output, each one whole records and
			// within max-size.
			var all bytes.Buffer
			for _, f := range append(rotated, path) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if tc.maxSize > 0 && int64(len(b)) > tc.maxSize {
					t.Errorf("%s has %d bytes, over %d", f, len(b), tc.maxSize)
				}
				if len(b) > 0 && b[len(b)-1] != '\n' {
					t.Errorf("%s does not end on a record", f)
				}
				all.Write(b)
			}
			var content strings.Builder
			for _, l := range strings.SplitAfter(all.String(), "\n") {
				if l == "" {
					continue
				}
				fields := strings.SplitN(l, " ", 4)
				if len(fields) != 4 || fields[1] != "stdout" || fields[2] != "F" {
					t.Fatalf("bad record %q", l)
				}
				content.WriteString(fields[3])
			}
			if !strings.HasSuffix(in.String(), content.String()) || content.Len() == 0 {
				t.Errorf("the log is not the end of the output:\n%s", content.String())
			}
			if tc.wantKept < 0 || tc.maxSize == 0 {
				if content.String() != in.String() {
					t.Errorf("output lost without a file limit")
				}
			}
		})
	}
}

// TestRotationAppendsToExisting checks that a restarted logger counts the size already there.
func TestRotationAppendsToExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("2024-01-02T03:04:05Z stdout F old\n"), 20), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg := LoggerConfig{Path: path, MaxSize: 700, MaxFiles: 2}
	if err := runLogger(cfg, strings.NewReader("new\n"), nil, func() error { return nil }, time.Now); err != nil {
		t.Fatal(err)
	}
	rotated, err := RotatedFiles(path)
	if err != nil || len(rotated) != 1 {
		t.Fatalf("rotated %v, %v", rotated, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), " stdout F new\n") || strings.Count(string(b), "\n") != 1 {
		t.Errorf("current file %q", b)
	}
}

func TestRunLoggerReadyError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	err := runLogger(LoggerConfig{Path: path}, strings.NewReader("x\n"), nil, func() error { return io.ErrClosedPipe }, time.Now)
	if err == nil || !strings.Contains(err.Error(), "signalling") {
		t.Errorf("err %v", err)
	}
}
