package crilog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// ArgMaxSize is the logger argument followed by the size in bytes past which the log file is
	// rotated (upstream kubelet's --container-log-max-size).
	ArgMaxSize = "max-size"
	// ArgMaxFiles is the logger argument followed by how many files a container's log keeps, the
	// current one included (upstream kubelet's --container-log-max-files).
	ArgMaxFiles = "max-files"

	// DefaultMaxSize and DefaultMaxFiles are upstream kubelet's defaults (10Mi and 5).
	DefaultMaxSize  int64 = 10 * 1024 * 1024
	DefaultMaxFiles       = 5

	// rotatedTimeFormat is the suffix of rotated files, as upstream's "<log>.<YYYYMMDD-hhmmss>".
	rotatedTimeFormat = "20060102-150405"
)

// LoggerConfig is what the logger is told by its arguments.
type LoggerConfig struct {
	// Path is the log file.
	Path string
	// MaxSize is the size in bytes past which the file is rotated; 0: never.
	MaxSize int64
	// MaxFiles is how many files the log keeps, the current one included; 0: no limit.
	MaxFiles int
}

// LoggerArgs is the argument map for containerd's cio.BinaryIO that makes the logger write path,
// rotating it past maxSize bytes and keeping maxFiles files in all. A maxSize of 0 or less turns
// rotation off (the arguments are then the legacy pair alone); a maxFiles of 0 or less keeps
// every rotated file.
func LoggerArgs(path string, maxSize int64, maxFiles int) map[string]string {
	args := map[string]string{LoggerSubcommand: path}
	if maxSize > 0 {
		args[ArgMaxSize] = strconv.FormatInt(maxSize, 10)
		if maxFiles > 0 {
			args[ArgMaxFiles] = strconv.Itoa(maxFiles)
		}
	}
	return args
}

// IsLoggerInvocation reports whether args (os.Args[1:]) are a container logger's arguments: the
// shim passes LoggerArgs as "key value" pairs in random order, so LoggerSubcommand need not come
// first. A program that embeds the logger (kubeshim, a test binary) checks this before parsing
// its own command line and then calls RunLogger.
func IsLoggerInvocation(args []string) bool {
	_, err := ParseLoggerArgs(args)
	return err == nil
}

// ParseLoggerArgs parses the logger's arguments (os.Args[1:]): "key value" pairs in any order
// with the keys LoggerSubcommand (the log file; required), ArgMaxSize and ArgMaxFiles.
func ParseLoggerArgs(args []string) (LoggerConfig, error) {
	var cfg LoggerConfig
	if len(args)%2 != 0 {
		return cfg, fmt.Errorf("logger arguments %q are not key/value pairs", args)
	}
	seen := map[string]bool{}
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		if seen[k] {
			return cfg, fmt.Errorf("logger argument %q given twice", k)
		}
		seen[k] = true
		switch k {
		case LoggerSubcommand:
			cfg.Path = v
		case ArgMaxSize:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return cfg, fmt.Errorf("logger argument %s %q: not a size in bytes", k, v)
			}
			cfg.MaxSize = n
		case ArgMaxFiles:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cfg, fmt.Errorf("logger argument %s %q: not a file count", k, v)
			}
			cfg.MaxFiles = n
		default:
			return cfg, fmt.Errorf("unknown logger argument %q", k)
		}
	}
	if cfg.Path == "" {
		return cfg, fmt.Errorf("logger arguments %q name no log file (%s FILE)", args, LoggerSubcommand)
	}
	return cfg, nil
}

// RotatedFiles lists the rotated files of the log at path ("<path>.<YYYYMMDD-hhmmss>", with a
// ".N" suffix when one second saw several rotations), oldest first. A missing directory is no
// error.
func RotatedFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing rotated logs of %s: %w", path, err)
	}
	type rotated struct {
		name  string
		stamp string
		seq   int
	}
	var found []rotated
	for _, e := range entries {
		stamp, seq, ok := parseRotatedSuffix(base, e.Name())
		if ok && e.Type().IsRegular() {
			found = append(found, rotated{e.Name(), stamp, seq})
		}
	}
	slices.SortFunc(found, func(a, b rotated) int {
		if c := strings.Compare(a.stamp, b.stamp); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	out := make([]string, len(found))
	for i, r := range found {
		out[i] = filepath.Join(dir, r.name)
	}
	return out, nil
}

// parseRotatedSuffix splits name = base + "." + stamp [+ "." + seq].
func parseRotatedSuffix(base, name string) (stamp string, seq int, ok bool) {
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok || len(rest) < len(rotatedTimeFormat) {
		return "", 0, false
	}
	stamp, rest = rest[:len(rotatedTimeFormat)], rest[len(rotatedTimeFormat):]
	if _, err := time.Parse(rotatedTimeFormat, stamp); err != nil {
		return "", 0, false
	}
	if rest == "" {
		return stamp, 0, true
	}
	digits, ok := strings.CutPrefix(rest, ".")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 || strconv.Itoa(n) != digits {
		return "", 0, false
	}
	return stamp, n, true
}

// rotatingFile is the logger's output: an append-only file that, once a record would take it
// past maxSize, is renamed to a rotated name and replaced by a new file. Its caller serialises
// Write (copyCRILog's mutex), and records are written whole, so a rotated file ends on a
// record boundary.
type rotatingFile struct {
	cfg  LoggerConfig
	now  func() time.Time
	f    *os.File
	size int64
}

func openRotating(cfg LoggerConfig, now func() time.Time) (*rotatingFile, error) {
	r := &rotatingFile{cfg: cfg, now: now}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	if r.cfg.MaxSize > 0 && r.size > 0 && r.size+int64(len(p)) > r.cfg.MaxSize {
		if err := r.rotate(); err != nil {
			// Losing rotation is better than losing the container's output: go on appending.
			fmt.Fprintf(os.Stderr, "container-logger: rotating %s: %v\n", r.cfg.Path, err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate renames the current file to its rotated name, opens a new one and removes the oldest
// rotated files beyond MaxFiles-1.
func (r *rotatingFile) rotate() error {
	// Several rotations in one second get ".1", ".2", ... after the last one of that second,
	// so that names keep sorting in rotation order after the oldest are removed.
	stamp := r.now().UTC().Format(rotatedTimeFormat)
	seq := 0
	if existing, err := RotatedFiles(r.cfg.Path); err == nil {
		base := filepath.Base(r.cfg.Path)
		for _, e := range existing {
			if st, n, ok := parseRotatedSuffix(base, filepath.Base(e)); ok && st == stamp {
				seq = max(seq, n+1)
			}
		}
	}
	var name string
	for ; ; seq++ {
		name = r.cfg.Path + "." + stamp
		if seq > 0 {
			name += "." + strconv.Itoa(seq)
		}
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err := os.Rename(r.cfg.Path, name); err != nil {
		return fmt.Errorf("renaming to %s: %w", name, err)
	}
	old := r.f
	if err := r.open(); err != nil {
		// Keep writing to the renamed file rather than nowhere.
		r.size = 0
		return err
	}
	old.Close()
	if r.cfg.MaxFiles <= 0 {
		return nil
	}
	rotated, err := RotatedFiles(r.cfg.Path)
	if err != nil {
		return err
	}
	var errs []error
	for len(rotated) > r.cfg.MaxFiles-1 {
		if err := os.Remove(rotated[0]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing rotated log: %w", err))
		}
		rotated = rotated[1:]
	}
	return errors.Join(errs...)
}

// Close closes the current file.
func (r *rotatingFile) Close() error { return r.f.Close() }
