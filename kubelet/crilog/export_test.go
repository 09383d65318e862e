package crilog

import (
	"io"
	"time"
)

// RunLoggerForTest is runLogger, for the tests of the reader with the writer in crilog_test.
func RunLoggerForTest(cfg LoggerConfig, stdout, stderr io.Reader, now func() time.Time) error {
	return runLogger(cfg, stdout, stderr, func() error { return nil }, now)
}
