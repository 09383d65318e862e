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

// LoggerSubcommand is the argument the shim passes to the logger binary before the log file:
// `kubeshim-logger container-logger FILE` (or `kubeshim container-logger FILE`) calls RunLogger.
// With rotation the shim passes further "key value" pairs (see LoggerArgs), in any order.
const LoggerSubcommand = "container-logger"

// maxLogLine is where a long line is split into partial (P) records, as containerd's CRI does.
const maxLogLine = 16 * 1024

// RunLogger is the body of the container logger: the shim starts LoggerBinary with the
// arguments of LoggerArgs (the pairs LoggerSubcommand FILE, and optionally max-size BYTES and
// max-files N, in any order) and hands it the container's stdout and stderr (containerd's binary
// logging protocol); RunLogger appends them in the CRI log format to that file, rotating it by
// size, and exits the process when both streams end.
func RunLogger() {
	cfg, err := ParseLoggerArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "container-logger:", err)
		os.Exit(2)
	}
	logging.Run(func(_ context.Context, lc *logging.Config, ready func() error) error {
		return runLogger(cfg, lc.Stdout, lc.Stderr, ready, time.Now)
	})
}

// runLogger opens cfg's log file, tells the shim it is ready and copies both streams to it until
// they end.
func runLogger(cfg LoggerConfig, stdout, stderr io.Reader, ready func() error, now func() time.Time) error {
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return fmt.Errorf("creating the log directory: %w", err)
	}
	f, err := openRotating(cfg, now)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ready(); err != nil {
		return fmt.Errorf("signalling the shim: %w", err)
	}
	return copyCRILog(f, stdout, stderr, now)
}

// copyCRILog writes both streams to w in the CRI log format until both end.
func copyCRILog(w io.Writer, stdout, stderr io.Reader, now func() time.Time) error {
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
			errs[i] = criLogStream(w, &mu, s.name, s.r, now)
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
