package bench

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The size of every measurement: `make bench` runs each benchmark once (-benchtime 1x) and
// these keep the whole run to about a minute and a half on a 2-core machine.
const (
	// starts is how many starts each start-to-ready figure is taken over.
	starts = 5
	// startTarget is the goal for start to ready.
	startTarget = time.Second
	// idleSettle is how long a server sits idle after ready before its memory is read.
	idleSettle = 3 * time.Second
	// idleRSSTargetMiB is the goal for idle memory.
	idleRSSTargetMiB = 80
	// storedPods is how many pods the memory-under-load figure stores.
	storedPods = 10000
	// loadPause is how long the server rests after the pods are stored before its memory is
	// read, so the figure is what it holds, not what it had in flight.
	loadPause = 2 * time.Second
	// concurrentClients is how many client-go clients, each with a connection of its own,
	// load the server at once.
	concurrentClients = 8
	// phase is how long each throughput figure runs.
	phase = 3 * time.Second
	// pageSize is the limit of every paged list.
	pageSize = 500
	// minGetPods and minListPods are how many pods the get and list phases need stored at
	// least; they create what is missing (untimed) when run on their own.
	minGetPods  = 1000
	minListPods = 10 * pageSize
)

// BenchmarkStartToReady times exec of `kubeshim up` to the first 200 from /readyz, on a
// fresh data directory (the CA and certificates are made) and on restarts of an existing one.
func BenchmarkStartToReady(b *testing.B) {
	bin := kubeshimBinary(b)
	b.Run("fresh", func(b *testing.B) {
		var ready, stopped []time.Duration
		for i := range starts {
			r, st := timeStart(b, bin, b.TempDir(), fmt.Sprintf("fresh start %d", i+1))
			ready, stopped = append(ready, r), append(stopped, st)
		}
		reportStarts(b, "fresh data dir, certificates made", ready, stopped)
	})
	b.Run("restart", func(b *testing.B) {
		dir := b.TempDir()
		timeStart(b, bin, dir, "first start")
		var ready, stopped []time.Duration
		for i := range starts {
			r, st := timeStart(b, bin, dir, fmt.Sprintf("restart %d", i+1))
			ready, stopped = append(ready, r), append(stopped, st)
		}
		reportStarts(b, "restart on existing data dir", ready, stopped)
	})
}

// timeStart starts a server in dir and stops it; it returns how long the server took to be
// ready, and to exit after SIGTERM. A start that fails ends the benchmark; a stop that fails
// (an unclean exit, a hang after SIGTERM) fails it too, but the figures are still taken.
func timeStart(b *testing.B, bin, dir, what string) (ready, stopped time.Duration) {
	b.Helper()
	s, err := startServer(bin, dir)
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	if err := s.stop(); err != nil {
		b.Errorf("%s, stopping it: %v", what, err)
	}
	return s.readyIn, s.stoppedIn
}

func reportStarts(b *testing.B, how string, ready, stopped []time.Duration) {
	b.Helper()
	med, worst := median(ready), slices.Max(ready)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(milliseconds(med), "ms-median")
	b.ReportMetric(milliseconds(worst), "ms-max")
	b.ReportMetric(milliseconds(median(stopped)), "ms-stop-median")
	b.Logf("each start to ready: %v", ready)
	b.Logf("each SIGTERM to exit: %v", stopped)
	record(b, figure{
		what:   fmt.Sprintf("start to ready, %s (median of %d)", how, len(ready)),
		value:  fmt.Sprintf("%.1f ms", milliseconds(med)),
		target: "< 1 s", met: med < startTarget,
	})
	record(b, figure{
		what:   fmt.Sprintf("start to ready, %s (max of %d)", how, len(ready)),
		value:  fmt.Sprintf("%.1f ms", milliseconds(worst)),
		target: "< 1 s", met: worst < startTarget,
	})
	record(b, figure{
		what:  fmt.Sprintf("  SIGTERM to exit (median of %d)", len(stopped)),
		value: fmt.Sprintf("%.1f ms", milliseconds(median(stopped))),
	})
}

// BenchmarkRSS reads the server's resident memory (VmRSS) idle, a few seconds after ready,
// and then with storedPods pods stored by concurrent clients, after a pause.
func BenchmarkRSS(b *testing.B) {
	// The API server alone first, as kube-apiserver would run; then everything.
	b.Run("idle-api-server", func(b *testing.B) {
		api := startForBenchmark(b, "--no-controllers")
		time.Sleep(idleSettle)
		m, err := api.memory()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(mebibytes(m.rssKiB), "MiB-rss")
		record(b, figure{
			what:   fmt.Sprintf("idle RSS, API server alone (--no-controllers), %v after ready", idleSettle),
			value:  fmt.Sprintf("%.1f MiB (%.1f anonymous, %.1f mapped files)", mebibytes(m.rssKiB), mebibytes(m.anonKiB), mebibytes(m.fileKiB)),
			target: fmt.Sprintf("< %d MiB", idleRSSTargetMiB), met: mebibytes(m.rssKiB) < idleRSSTargetMiB,
		})
	})
	s := startForBenchmark(b)
	time.Sleep(idleSettle)
	idle, err := s.memory()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("idle", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(mebibytes(idle.rssKiB), "MiB-rss")
		b.ReportMetric(mebibytes(idle.peakKiB), "MiB-peak")
		record(b, figure{
			what:   fmt.Sprintf("idle RSS, with controllers, %v after ready", idleSettle),
			value:  fmt.Sprintf("%.1f MiB (%.1f anonymous, %.1f mapped files)", mebibytes(idle.rssKiB), mebibytes(idle.anonKiB), mebibytes(idle.fileKiB)),
			target: fmt.Sprintf("< %d MiB", idleRSSTargetMiB), met: mebibytes(idle.rssKiB) < idleRSSTargetMiB,
		})
		record(b, figure{what: "peak RSS (VmHWM) by then", value: fmt.Sprintf("%.1f MiB", mebibytes(idle.peakKiB))})
	})
	b.Run(fmt.Sprintf("pods-%d", storedPods), func(b *testing.B) {
		ctx := b.Context()
		clients, err := newClients(s.config, concurrentClients)
		if err != nil {
			b.Fatal(err)
		}
		if err := ensureNamespace(ctx, clients[0]); err != nil {
			b.Fatal(s.check(err))
		}
		fill, err := measure(s, func() (int64, time.Duration, error) {
			took, err := createPods(ctx, clients, "pod", 0, storedPods)
			return storedPods, took, err
		})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(loadPause)
		loaded, err := s.memory()
		if err != nil {
			b.Fatal(err)
		}
		// Counted after the memory is read, so the list's garbage is not in the figure.
		items, _, err := listAll(ctx, clients[0], pageSize)
		if err != nil {
			b.Fatal(s.check(err))
		}
		if items != storedPods {
			b.Fatalf("%d pods created, but a paged list returns %d", storedPods, items)
		}
		// With no node, the scheduler records why it cannot place each pod: part of what the
		// server then holds.
		events, err := countEvents(ctx, clients[0])
		if err != nil {
			b.Fatal(s.check(err))
		}
		perPod := float64(loaded.rssKiB-idle.rssKiB) / storedPods
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(mebibytes(loaded.rssKiB), "MiB-rss")
		b.ReportMetric(mebibytes(loaded.peakKiB), "MiB-peak")
		b.ReportMetric(perPod, "KiB/pod")
		record(b, figure{
			what:  fmt.Sprintf("RSS with %d pods stored, %v after the last create", storedPods, loadPause),
			value: fmt.Sprintf("%.1f MiB", mebibytes(loaded.rssKiB)),
		})
		record(b, figure{what: "peak RSS (VmHWM) while storing them", value: fmt.Sprintf("%.1f MiB", mebibytes(loaded.peakKiB))})
		record(b, figure{what: "RSS growth per stored pod (with all it brings along)", value: fmt.Sprintf("%.2f KiB", perPod)})
		record(b, figure{what: "  events stored meanwhile (by the controllers)", value: fmt.Sprint(events)})
		b.ReportMetric(float64(events), "events")
		reportLoad(b, "creates", fmt.Sprintf("storing them: %d pod creates", storedPods), fill)
	})
}

// BenchmarkThroughput measures requests per second from concurrentClients client-go clients,
// each on a connection of its own and unthrottled, for phase each: pod creates, gets of
// stored pods, and lists of pageSize-item pages that walk the namespace with continue tokens.
// BenchmarkThroughput measures the API server alone: with controllers and no node, every
// pod would also cost scheduler retries and events, on the same two cores.
func BenchmarkThroughput(b *testing.B) {
	s := startForBenchmark(b, "--no-controllers")
	clients, err := newClients(s.config, concurrentClients)
	if err != nil {
		b.Fatal(err)
	}
	if err := ensureNamespace(b.Context(), clients[0]); err != nil {
		b.Fatal(s.check(err))
	}
	// stored is how many pods the namespace holds, named podName("tput", 0..stored-1).
	stored := 0
	topUp := func(b *testing.B, want int) {
		b.Helper()
		if stored >= want {
			return
		}
		if _, err := createPods(b.Context(), clients, "tput", stored, want-stored); err != nil {
			b.Fatal(s.check(err))
		}
		stored = want
	}

	b.Run("create", func(b *testing.B) {
		first := stored
		var next atomic.Int64
		l, err := measure(s, func() (int64, time.Duration, error) {
			return runFor(b.Context(), len(clients), phase, func(ctx context.Context, w, _ int) error {
				pod := benchPod("tput", first+int(next.Add(1))-1)
				if _, err := clients[w].CoreV1().Pods(benchNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("create pod %s: %w", pod.Name, err)
				}
				return nil
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		stored = first + int(next.Load())
		reportLoad(b, "creates", "pod creates", l)
	})

	b.Run("get", func(b *testing.B) {
		topUp(b, minGetPods)
		total := stored
		l, err := measure(s, func() (int64, time.Duration, error) {
			return runFor(b.Context(), len(clients), phase, func(ctx context.Context, w, it int) error {
				name := podName("tput", (it*len(clients)+w)%total)
				pod, err := clients[w].CoreV1().Pods(benchNamespace).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("get pod %s: %w", name, err)
				}
				if pod.Name != name {
					return fmt.Errorf("get pod %s returned pod %s", name, pod.Name)
				}
				return nil
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		reportLoad(b, "gets", fmt.Sprintf("pod gets (of %d stored)", total), l)
	})

	b.Run(fmt.Sprintf("list-%d", pageSize), func(b *testing.B) {
		// Whole pages only, so every list returns pageSize pods.
		topUp(b, roundUp(max(stored, minListPods), pageSize))
		total := stored
		type walk struct {
			next  string // continue token of the next page, "" for the first
			items int    // pods seen so far in this walk
		}
		walks := make([]walk, len(clients))
		var items atomic.Int64
		l, err := measure(s, func() (int64, time.Duration, error) {
			return runFor(b.Context(), len(clients), phase, func(ctx context.Context, w, _ int) error {
				st := &walks[w]
				list, err := clients[w].CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{Limit: pageSize, Continue: st.next})
				if err != nil {
					return fmt.Errorf("list pods (limit %d): %w", pageSize, err)
				}
				if len(list.Items) > pageSize {
					return fmt.Errorf("list pods (limit %d) returned %d", pageSize, len(list.Items))
				}
				items.Add(int64(len(list.Items)))
				st.items += len(list.Items)
				st.next = list.Continue
				if st.next == "" {
					if st.items != total {
						return fmt.Errorf("a walk through the pages returned %d pods, %d are stored", st.items, total)
					}
					st.items = 0
				}
				return nil
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		reportLoad(b, "lists", fmt.Sprintf("lists of %d-pod pages (of %d stored)", pageSize, total), l)
		b.ReportMetric(perSecond(items.Load(), l.took), "pods/s")
		record(b, figure{what: "  pods returned by those lists", value: fmt.Sprintf("%.0f /s", perSecond(items.Load(), l.took))})
	})
}

// load is the outcome of one load phase: requests served, wall time, and the CPU time the
// server, the benchmark's clients (this process) and the rest of the machine used meanwhile.
type load struct {
	requests int64
	took     time.Duration
	cpu      cpuTimes
}

// measure runs phase, which returns how many requests it made and its wall time, between
// readings of the CPU time used.
func measure(s *server, phase func() (int64, time.Duration, error)) (load, error) {
	before, err := readCPU(s)
	if err != nil {
		return load{}, err
	}
	n, took, err := phase()
	if err != nil {
		return load{}, s.check(err)
	}
	after, err := readCPU(s)
	if err != nil {
		return load{}, err
	}
	return load{requests: n, took: took, cpu: after.sub(before)}, nil
}

// perRequest is the CPU time d spread over the phase's requests, in microseconds.
func (l load) perRequest(d time.Duration) float64 {
	if l.requests == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(l.requests)
}

// cores is how many CPUs d of CPU time kept busy over the phase.
func (l load) cores(d time.Duration) float64 {
	if l.took <= 0 {
		return 0
	}
	return d.Seconds() / l.took.Seconds()
}

// reportLoad reports a load phase: its rate (unit/s), the server's and the clients' CPU time
// per request, which tell whether kubeshim or the clients sharing its machine set the pace,
// and how busy other processes kept the machine, which tells how far to trust the rate.
func reportLoad(b *testing.B, unit, what string, l load) {
	b.Helper()
	rate := perSecond(l.requests, l.took)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate, unit+"/s")
	b.ReportMetric(float64(l.requests), unit)
	b.ReportMetric(l.perRequest(l.cpu.server), "server-cpu-us/req")
	b.ReportMetric(l.perRequest(l.cpu.clients), "client-cpu-us/req")
	b.ReportMetric(l.cores(l.cpu.others()), "other-cores-busy")
	record(b, figure{
		what:  fmt.Sprintf("%s, %d clients, %.1f s", what, concurrentClients, l.took.Seconds()),
		value: fmt.Sprintf("%.0f /s", rate),
	})
	record(b, figure{
		what:  "  kubeshim CPU per request",
		value: fmt.Sprintf("%.0f µs (%.2f cores busy)", l.perRequest(l.cpu.server), l.cores(l.cpu.server)),
	})
	record(b, figure{
		what:  "  client-go clients' CPU per request",
		value: fmt.Sprintf("%.0f µs (%.2f cores busy)", l.perRequest(l.cpu.clients), l.cores(l.cpu.clients)),
	})
	record(b, figure{
		what:  "  other processes on the machine meanwhile",
		value: fmt.Sprintf("%.2f cores busy", l.cores(l.cpu.others())),
	})
}

// countEvents returns how many events benchNamespace holds.
func countEvents(ctx context.Context, client kubernetes.Interface) (int, error) {
	n := 0
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := client.CoreV1().Events(benchNamespace).List(ctx, opts)
		if err != nil {
			return n, fmt.Errorf("list events: %w", err)
		}
		n += len(list.Items)
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

// ensureNamespace creates benchNamespace unless it exists.
func ensureNamespace(ctx context.Context, client kubernetes.Interface) error {
	err := createNamespace(ctx, client)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
