package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// median returns the median of ds (the mean of the middle two for an even count), or 0 for
// none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// milliseconds is d in milliseconds, for metrics.
func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mebibytes is n KiB in MiB, for metrics.
func mebibytes(kib int64) float64 { return float64(kib) / 1024 }

// perSecond is the rate of n events in d.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// figure is one line of the summary `make bench` prints at the end.
type figure struct {
	what   string // what was measured and how ("start to ready, fresh data dir (median of 5)")
	value  string // the measurement with its unit ("412.3 ms")
	target string // the goal, if there is one ("< 1 s")
	met    bool   // whether value meets target
}

// line is the figure as one readable sentence.
func (f figure) line() string {
	s := f.what + ": " + f.value
	if f.target != "" {
		s += fmt.Sprintf(" (target %s: %s)", f.target, f.verdict())
	}
	return s
}

func (f figure) verdict() string {
	switch {
	case f.target == "":
		return ""
	case f.met:
		return "met"
	default:
		return "MISSED"
	}
}

// figures collects every figure the benchmarks measured, in order, for printSummary.
var figures struct {
	mu   sync.Mutex
	list []figure
}

// record logs f under the benchmark and keeps it for the summary. Missing a target is
// reported, never a failure: a slow machine is not a broken kubeshim.
func record(b *testing.B, f figure) {
	b.Helper()
	b.Log(f.line())
	figures.mu.Lock()
	defer figures.mu.Unlock()
	figures.list = append(figures.list, f)
}

// printSummary writes the recorded figures as a table; nothing if none were recorded (a
// run of the unit tests only).
func printSummary(w io.Writer) {
	figures.mu.Lock()
	defer figures.mu.Unlock()
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil && len(strings.Fields(string(data))) >= 3 {
		load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	writeSummary(w, figures.list, load)
}

// writeSummary writes list as a table under a header naming the machine and its load
// average, since other work on a small machine moves every figure.
func writeSummary(w io.Writer, list []figure, loadavg string) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(w, "\nkubeshim figures (%s/%s, %d CPUs, load average at the end %s):\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadavg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FIGURE\tVALUE\tTARGET")
	for _, f := range list {
		target := ""
		if f.target != "" {
			target = f.target + ": " + f.verdict()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.what, f.value, target)
	}
	_ = tw.Flush()
}
