// Package crilog writes container output in the CRI log format ("<RFC3339Nano time> <stream>
// <P|F> <line>"), as kubelets on containerd's CRI do. Its RunLogger is containerd's binary
// logger: the shim starts it with a container's stdout and stderr and it appends them to a log
// file, so logs go on while the kubelet is down. It is small on purpose: cmd/kubeshim-logger,
// one process per running container, is built from it alone.
package crilog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/runtime/v2/logging"
)

// LoggerSubcommand is the first argument the shim passes to the logger binary; the second is
// the log file. `kubeshim-logger container-logger FILE` (or `kubeshim container-logger FILE`)
// calls RunLogger.
const LoggerSubcommand = "container-logger"

// maxLogLine is where a long line is split into partial (P) records, as containerd's CRI does.
const maxLogLine = 16 * 1024

// RunLogger is the body of the container logger: the shim starts LoggerBinary with the
// arguments LoggerSubcommand and the log path and hands it the container's stdout and stderr
// (containerd's binary logging protocol); RunLogger appends them in the CRI log format to that
// file and returns (exits the process) when both streams end. The log path is the last argument.
func RunLogger() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "container-logger: no log file argument")
		os.Exit(2)
	}
	path := os.Args[len(os.Args)-1]
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := ready(); err != nil {
			return err
		}
		return copyCRILog(f, cfg.Stdout, cfg.Stderr)
	})
}

// copyCRILog writes both streams to w in the CRI log format until both end.
func copyCRILog(w io.Writer, stdout, stderr io.Reader) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if s.r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = criLogStream(w, &mu, s.name, s.r, time.Now)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// criLogStream copies r to w as "<RFC3339Nano> <stream> F|P <line>" records.
func criLogStream(w io.Writer, mu *sync.Mutex, stream string, r io.Reader, now func() time.Time) error {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			tag := "F"
			if isPrefix {
				tag = "P"
			}
			rec := make([]byte, 0, len(line)+64)
			rec = now().UTC().AppendFormat(rec, time.RFC3339Nano)
			rec = append(rec, ' ')
			rec = append(rec, stream...)
			rec = append(rec, ' ')
			rec = append(rec, tag...)
			rec = append(rec, ' ')
			rec = append(rec, line...)
			rec = append(rec, '\n')
			mu.Lock()
			_, werr := w.Write(rec)
			mu.Unlock()
			if werr != nil {
				return werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
