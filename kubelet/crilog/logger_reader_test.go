package crilog_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
	"github.com/kubeshim/kubeshim/kubelet/crilog/reader"
)

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

// TestLoggerAndReader runs the rotating logger on a stream of lines while a reader follows the
// log: every line arrives once, in order, through many rotations; then tails of the finished log
// read across its rotated files.
func TestLoggerAndReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxFiles int
		longLine bool
	}{
		{name: "all files kept", maxFiles: 0},
		{name: "with lines longer than a record", maxFiles: 0, longLine: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logs", "c", "0.log")
			cfg := crilog.LoggerConfig{Path: path, MaxSize: 64 << 10, MaxFiles: tc.maxFiles}
			pr, pw := io.Pipe()
			loggerDone := make(chan error, 1)
			var running atomic.Bool
			running.Store(true)
			go func() {
				err := crilog.RunLoggerForTest(cfg, pr, nil, time.Now)
				running.Store(false)
				loggerDone <- err
			}()
			// The logger creates the file before reading.
			deadline := time.Now().Add(5 * time.Second)
			for _, err := os.Stat(path); err != nil; _, err = os.Stat(path) {
				if time.Now().After(deadline) {
					t.Fatal("no log file")
				}
				time.Sleep(5 * time.Millisecond)
			}
			var got syncBuffer
			readDone := make(chan error, 1)
			go func() {
				readDone <- reader.ReadLogs(context.Background(), path, reader.Options{Follow: true}, running.Load, &got, &got)
			}()

			var want strings.Builder
			const n = 5000
			for i := range n {
				l := fmt.Sprintf("line %05d %s\n", i, strings.Repeat("y", i%97))
				if tc.longLine && i%1000 == 500 {
					l = fmt.Sprintf("long %05d %s\n", i, strings.Repeat("z", 40<<10))
				}
				want.WriteString(l)
				if _, err := io.WriteString(pw, l); err != nil {
					t.Fatal(err)
				}
				if i%500 == 0 {
					time.Sleep(time.Millisecond) // let the reader catch up now and then
				}
			}
			pw.Close()
			if err := <-loggerDone; err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-readDone:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the reader did not end after the logger")
			}
			if got.String() != want.String() {
				t.Fatalf("followed %d bytes, want %d", len(got.String()), want.Len())
			}
			rotated, err := crilog.RotatedFiles(path)
			if err != nil || len(rotated) < 5 {
				t.Fatalf("only %d rotations: %v", len(rotated), err)
			}

			lines := strings.SplitAfter(want.String(), "\n")
			lines = lines[:len(lines)-1]
			for _, tail := range []int64{1, 10, 1000, n} {
				var buf bytes.Buffer
				if err := reader.ReadLogs(context.Background(), path, reader.Options{TailLines: &tail}, nil, &buf, &buf); err != nil {
					t.Fatal(err)
				}
				if w := strings.Join(lines[n-int(tail):], ""); buf.String() != w {
					t.Errorf("tail %d: %d bytes, want %d", tail, buf.Len(), len(w))
				}
			}
		})
	}
}
