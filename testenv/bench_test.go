package testenv

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStart measures start to ready (Start's return: /readyz ok, and the simulated node
// registered where asked) and Stop, in milliseconds of wall time, and the CPU time the
// process spent per start and stop (which, on a loaded machine, says what the wall time
// would be on an idle one).
func BenchmarkStart(b *testing.B) {
	cases := []struct {
		name string
		opts Options
	}{
		{"server", Options{}},
		{"controllers+node", Options{Controllers: true, SimulatedNode: true}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var ready, stop time.Duration
			cpuBefore := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				env, err := Start(context.Background(), bc.opts)
				if err != nil {
					b.Fatalf("start: %v", err)
				}
				ready += time.Since(start)
				start = time.Now()
				if err := env.Stop(); err != nil {
					b.Fatalf("stop: %v", err)
				}
				stop += time.Since(start)
			}
			n := float64(b.N)
			cpu := ms(cpuTime(b)-cpuBefore) / n
			b.ReportMetric(ms(ready)/n, "ready-ms")
			b.ReportMetric(ms(stop)/n, "stop-ms")
			b.ReportMetric(cpu, "cpu-ms/cycle")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s: start to ready %.1f ms, stop %.1f ms, CPU %.1f ms per start+stop (%d runs)",
				bc.name, ms(ready)/n, ms(stop)/n, cpu, b.N)
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
