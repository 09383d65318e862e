package bench

// Unit tests of the harness itself: they need no kubeshim binary and run in a second.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestParseStatus(t *testing.T) {
	const head = "Name:\tkubeshim\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\n"
	tests := []struct {
		name    string
		status  string
		want    memory
		wantErr string
	}{
		{name: "both", status: head + "VmHWM:\t   91234 kB\nVmRSS:\t   81920 kB\nThreads:\t12\n", want: memory{rssKiB: 81920, peakKiB: 91234}},
		{name: "no VmRSS (kernel thread)", status: head + "Threads:\t1\n", wantErr: "no VmRSS"},
		{name: "no VmHWM", status: head + "VmRSS:\t 100 kB\n", wantErr: "no VmRSS or VmHWM"},
		{name: "unit is not kB", status: "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", wantErr: "unexpected value"},
		{name: "not a number", status: "VmHWM:\t 1 kB\nVmRSS:\t x kB\n", wantErr: "VmRSS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(strings.NewReader(tt.status))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatus() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatus() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatusOfThisProcess(t *testing.T) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.rssKiB <= 0 || m.peakKiB < m.rssKiB {
		t.Fatalf("this test process: VmRSS %d KiB, VmHWM %d KiB; want 0 < RSS <= HWM", m.rssKiB, m.peakKiB)
	}
}

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{name: "none", in: nil, want: 0},
		{name: "one", in: []time.Duration{7 * ms}, want: 7 * ms},
		{name: "odd, unsorted", in: []time.Duration{900 * ms, 100 * ms, 300 * ms, 200 * ms, 5000 * ms}, want: 300 * ms},
		{name: "even: mean of the middle two", in: []time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, want: 2500 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tt.in...)
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range before {
				if before[i] != tt.in[i] {
					t.Fatalf("median reordered its argument: %v, was %v", tt.in, before)
				}
			}
		})
	}
}

func TestUnits(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{name: "milliseconds", got: milliseconds(1500 * time.Microsecond), want: 1.5},
		{name: "mebibytes", got: mebibytes(81920), want: 80},
		{name: "per second", got: perSecond(3000, 2*time.Second), want: 1500},
		{name: "per second of nothing", got: perSecond(10, 0), want: 0},
		{name: "round up", got: float64(roundUp(5001, 500)), want: 5500},
		{name: "round up, exact", got: float64(roundUp(5000, 500)), want: 5000},
		{name: "round up, zero", got: float64(roundUp(0, 500)), want: 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{in: "a\nb\nc\n", n: 2, want: "b\nc"},
		{in: "a\nb\nc", n: 5, want: "a\nb\nc"},
		{in: "", n: 3, want: ""},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestBenchPod(t *testing.T) {
	names := sets.New[string]()
	for i := range 1000 {
		p := benchPod("pod", i)
		if errs := validation.IsDNS1123Subdomain(p.Name); len(errs) > 0 {
			t.Fatalf("pod %d: name %q: %v", i, p.Name, errs)
		}
		if names.Has(p.Name) {
			t.Fatalf("pod %d: name %q used twice", i, p.Name)
		}
		names.Insert(p.Name)
		if p.Namespace != benchNamespace {
			t.Fatalf("pod %d in namespace %q, want %q", i, p.Namespace, benchNamespace)
		}
		for k, v := range p.Labels {
			if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
				t.Fatalf("pod %d: label %s=%s: %v", i, k, v, errs)
			}
		}
		if len(p.Spec.Containers) != 1 {
			t.Fatalf("pod %d: %d containers, want 1", i, len(p.Spec.Containers))
		}
		c := p.Spec.Containers[0]
		switch {
		case c.Image == "":
			t.Fatalf("pod %d: no image", i)
		case len(c.Ports) == 0 || len(c.Env) == 0:
			t.Fatalf("pod %d: ports %v, env %v: want both", i, c.Ports, c.Env)
		case c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero():
			t.Fatalf("pod %d: resources %v: want requests and limits", i, c.Resources)
		}
	}
	if a, b := benchPod("pod", 1), benchPod("pod", 1); a.Name != b.Name || a.Spec.Containers[0].Image != b.Spec.Containers[0].Image {
		t.Fatal("benchPod is not deterministic")
	}
	if benchPod("pod", 1).Name == benchPod("tput", 1).Name {
		t.Fatal("prefixes do not keep names apart")
	}
}

func TestRunCount(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		workers  int
		n        int
		failAt   int // index whose op fails; -1 for none
		wantErr  error
		wantSeen int // how many indexes ran at least (all of them when nothing fails)
	}{
		{name: "every index once", workers: 8, n: 1000, failAt: -1, wantSeen: 1000},
		{name: "more workers than work", workers: 8, n: 3, failAt: -1, wantSeen: 3},
		{name: "nothing to do", workers: 4, n: 0, failAt: -1},
		{name: "first error stops the rest", workers: 4, n: 100000, failAt: 10, wantErr: boom, wantSeen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[int]int{}
			workersSeen := sets.New[int]()
			_, err := runCount(context.Background(), tt.workers, tt.n, func(_ context.Context, w, i int) error {
				mu.Lock()
				seen[i]++
				workersSeen.Insert(w)
				mu.Unlock()
				if i == tt.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("runCount() error = %v, want %v", err, tt.wantErr)
			}
			for i, c := range seen {
				if c != 1 || i < 0 || i >= tt.n {
					t.Fatalf("index %d ran %d times", i, c)
				}
			}
			if len(seen) < tt.wantSeen {
				t.Fatalf("%d indexes ran, want at least %d", len(seen), tt.wantSeen)
			}
			if tt.wantErr == nil && len(seen) != tt.n {
				t.Fatalf("%d indexes ran, want %d", len(seen), tt.n)
			}
			if tt.wantErr != nil && len(seen) == tt.n {
				t.Fatal("an error did not stop the other workers")
			}
			for w := range workersSeen {
				if w < 0 || w >= tt.workers {
					t.Fatalf("worker index %d out of range [0,%d)", w, tt.workers)
				}
			}
		})
	}
}

func TestRunCountCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int64
	_, err := runCount(ctx, 2, 1_000_000, func(ctx context.Context, _, i int) error {
		if ran.Add(1) == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("runCount() after cancel: error = %v, want context.Canceled", err)
	}
	if ran.Load() >= 1_000_000 {
		t.Fatal("cancel did not stop the workers")
	}
}

func TestRunFor(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		failAt  int64 // the op call that fails; 0 for none
		wantErr error
	}{
		{name: "runs until the time is up"},
		{name: "stops at the first error", failAt: 5, wantErr: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			perWorker := make([]int, 3)
			d := 100 * time.Millisecond
			n, took, err := runFor(context.Background(), 3, d, func(_ context.Context, w, it int) error {
				if it != perWorker[w] {
					return fmt.Errorf("worker %d: iteration %d, want %d", w, it, perWorker[w])
				}
				perWorker[w]++
				if calls.Add(1) == tt.failAt {
					return boom
				}
				time.Sleep(time.Millisecond)
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("runFor() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if took >= d {
					t.Fatalf("runFor() ran %v after an error, want it to stop early", took)
				}
				return
			}
			if took < d {
				t.Fatalf("runFor() took %v, want at least %v", took, d)
			}
			if n != calls.Load() || n < 3 {
				t.Fatalf("runFor() counted %d calls, %d were made", n, calls.Load())
			}
		})
	}
}

func TestWriteSummary(t *testing.T) {
	tests := []struct {
		name string
		list []figure
		want []string
		not  []string
	}{
		{name: "nothing recorded prints nothing", list: nil},
		{
			name: "targets with verdicts",
			list: []figure{
				{what: "start to ready (median of 5)", value: "412.0 ms", target: "< 1 s", met: true},
				{what: "idle RSS", value: "91.0 MiB", target: "< 80 MiB", met: false},
				{what: "pod gets", value: "5000 /s"},
			},
			want: []string{"kubeshim figures", "load average at the end 0.50 0.40 0.30", "FIGURE", "start to ready (median of 5)", "412.0 ms", "< 1 s: met", "< 80 MiB: MISSED", "pod gets", "5000 /s"},
			not:  []string{"5000 /s  <"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeSummary(&buf, tt.list, "0.50 0.40 0.30")
			out := buf.String()
			if len(tt.list) == 0 && out != "" {
				t.Fatalf("writeSummary(nil) = %q, want nothing", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("summary has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestFigureLine(t *testing.T) {
	tests := []struct {
		f    figure
		want string
	}{
		{f: figure{what: "idle RSS", value: "70.0 MiB", target: "< 80 MiB", met: true}, want: "idle RSS: 70.0 MiB (target < 80 MiB: met)"},
		{f: figure{what: "idle RSS", value: "90.0 MiB", target: "< 80 MiB"}, want: "idle RSS: 90.0 MiB (target < 80 MiB: MISSED)"},
		{f: figure{what: "pod gets", value: "10 /s"}, want: "pod gets: 10 /s"},
	}
	for _, tt := range tests {
		if got := tt.f.line(); got != tt.want {
			t.Errorf("line() = %q, want %q", got, tt.want)
		}
	}
}

// fakeKubeshim is a shell script standing in for the binary: after a moment it writes the
// kubeconfig given in FAKE_KUBECONFIG into --data-dir, then idles until SIGTERM, on which it
// exits 0. FAKE_EXIT makes it exit with that code first instead; FAKE_IGNORE_TERM makes it
// ignore SIGTERM, as a hung server would.
const fakeKubeshim = `#!/bin/sh
dir=
while [ $# -gt 0 ]; do
	case "$1" in --data-dir) dir="$2"; shift;; esac
	shift
done
if [ -n "$FAKE_EXIT" ]; then echo "fake kubeshim failing on purpose"; exit "$FAKE_EXIT"; fi
if [ -n "$FAKE_IGNORE_TERM" ]; then trap 'echo ignoring SIGTERM' TERM; else trap 'echo terminated; exit 0' TERM; fi
sleep 0.05
cp "$FAKE_KUBECONFIG" "$dir/kubeconfig.tmp" && mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
while :; do sleep 0.05; done
`

func TestStartServerAgainstFake(t *testing.T) {
	// A TLS server whose /readyz answers 503 a few times, then 200.
	var polls atomic.Int64
	const notReady = 3
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if polls.Add(1) <= notReady {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer api.Close()

	dir := t.TempDir()
	bin := filepath.Join(dir, "kubeshim")
	if err := os.WriteFile(bin, []byte(fakeKubeshim), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	kc := filepath.Join(dir, "prepared-kubeconfig")
	if err := os.WriteFile(kc, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: fake
  user: {}
contexts:
- name: fake
  context: {cluster: fake, user: fake}
current-context: fake
`, api.URL, base64.StdEncoding.EncodeToString(ca)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_KUBECONFIG", kc)

	tests := []struct {
		name        string
		exit        string
		ignoreTerm  bool
		stale       bool // leave an old kubeconfig in the data dir
		wantErr     string
		wantStopErr string
	}{
		{name: "ready after /readyz turns 200"},
		{name: "an old kubeconfig is not taken for readiness", stale: true},
		{name: "exit before ready is an error with the output", exit: "3", wantErr: "fake kubeshim failing on purpose"},
		{name: "a server hung on SIGTERM is killed and reported", ignoreTerm: true, wantStopErr: "still running 300ms after SIGTERM; killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			polls.Store(0)
			t.Setenv("FAKE_EXIT", tt.exit)
			ignore := ""
			if tt.ignoreTerm {
				ignore = "1"
			}
			t.Setenv("FAKE_IGNORE_TERM", ignore)
			dataDir := t.TempDir()
			if tt.stale {
				if err := os.WriteFile(filepath.Join(dataDir, "kubeconfig"), []byte("not: a kubeconfig"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := startServer(bin, dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("startServer() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := polls.Load(); got != notReady+1 {
				t.Errorf("/readyz polled %d times, want %d (ready on the first 200)", got, notReady+1)
			}
			if s.readyIn < 50*time.Millisecond {
				t.Errorf("readyIn = %v, but the fake only wrote its kubeconfig after 50ms", s.readyIn)
			}
			if s.config.Host != api.URL {
				t.Errorf("config.Host = %q, want %q", s.config.Host, api.URL)
			}
			if err := s.alive(); err != nil {
				t.Fatalf("alive() = %v while running", err)
			}
			m, err := s.memory()
			if err != nil || m.rssKiB <= 0 {
				t.Fatalf("memory() = %+v, %v; want a positive RSS", m, err)
			}
			if _, err := readCPU(s); err != nil {
				t.Fatalf("readCPU() = %v", err)
			}
			s.grace = 300 * time.Millisecond
			err = s.stop()
			switch {
			case tt.wantStopErr == "" && err != nil:
				t.Fatalf("stop() = %v, want a clean exit on SIGTERM", err)
			case tt.wantStopErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantStopErr)):
				t.Fatalf("stop() = %v, want an error containing %q", err, tt.wantStopErr)
			}
			if again := s.stop(); fmt.Sprint(again) != fmt.Sprint(err) {
				t.Fatalf("second stop() = %v, want the first one's result %v", again, err)
			}
			if s.stoppedIn <= 0 || s.stoppedIn > s.grace+time.Second {
				t.Errorf("stoppedIn = %v, want between 0 and the grace period (%v) and a little", s.stoppedIn, s.grace)
			}
			if err := s.alive(); err == nil {
				t.Fatal("alive() = nil after stop")
			}
			if _, err := s.memory(); err == nil {
				t.Fatal("memory() of a stopped server succeeded")
			}
			if _, err := s.cpuTime(); err == nil {
				t.Fatal("cpuTime() of a stopped server succeeded")
			}
			wantLog := "terminated"
			if tt.ignoreTerm {
				wantLog = "ignoring SIGTERM"
			}
			if !strings.Contains(s.logs.tail(5), wantLog) {
				t.Errorf("the fake's output %q does not show SIGTERM's arrival (%q)", s.logs.tail(5), wantLog)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 4-13 after the state, then utime=250 and stime=50 ticks, then the rest.
	const tail = " 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 0"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr string
	}{
		{name: "plain name", stat: "4242 (kubeshim) S" + tail, want: 3 * time.Second},
		{name: "name with spaces and parentheses", stat: "4242 (a) b (c)) R" + tail, want: 3 * time.Second},
		{name: "no name", stat: "4242 kubeshim S" + tail, wantErr: "no command name"},
		{name: "cut short", stat: "4242 (kubeshim) S 1 2 3", wantErr: "fields after the command name"},
		{name: "not a number", stat: "4242 (kubeshim) S 1 2 3 4 5 6 7 8 9 10 x 50 0", wantErr: "field 14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatCPU() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatCPU() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatCPUOfThisProcess(t *testing.T) {
	// Burn some CPU, then /proc/self/stat and getrusage must both show it.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	fromStat, err := parseStatCPU(string(data))
	if err != nil {
		t.Fatal(err)
	}
	fromRusage, err := selfCPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if fromStat < 40*time.Millisecond || fromRusage < 40*time.Millisecond {
		t.Fatalf("after 50ms of work: /proc/self/stat says %v, getrusage %v of CPU; want both >= 40ms", fromStat, fromRusage)
	}
}

func TestLoadPerRequestAndCores(t *testing.T) {
	tests := []struct {
		l         load
		cpu       time.Duration
		perReq    float64
		wantCores float64
	}{
		{l: load{requests: 1000, took: time.Second}, cpu: time.Second, perReq: 1000, wantCores: 1},
		{l: load{requests: 4, took: 4 * time.Millisecond}, cpu: 2 * time.Millisecond, perReq: 500, wantCores: 0.5},
		{l: load{requests: 0, took: 0}, cpu: time.Second, perReq: 0, wantCores: 0},
	}
	for _, tt := range tests {
		if got := tt.l.perRequest(tt.cpu); got != tt.perReq {
			t.Errorf("%d requests, %v: perRequest = %v µs, want %v", tt.l.requests, tt.cpu, got, tt.perReq)
		}
		if got := tt.l.cores(tt.cpu); got != tt.wantCores {
			t.Errorf("%v over %v: cores = %v, want %v", tt.cpu, tt.l.took, got, tt.wantCores)
		}
	}
}

func TestParseMachineBusy(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr string
	}{
		{
			// user 100, nice 10, system 40, idle 5000, iowait 300, irq 20, softirq 20, steal 10, guest...
			name: "busy is all but idle and iowait",
			stat: "cpu  100 10 40 5000 300 20 20 10 0 0\ncpu0 50 5 20 2500 150 10 10 5 0 0\nintr 1\n",
			want: 2 * time.Second,
		},
		{name: "not the cpu line first", stat: "intr 1 2 3\n", wantErr: "unexpected first line"},
		{name: "too few fields", stat: "cpu 1 2 3\n", wantErr: "unexpected first line"},
		{name: "not a number", stat: "cpu 1 2 x 4 5 6 7 8\n", wantErr: "cpu field 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineBusy(tt.stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseMachineBusy() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseMachineBusy() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCPUTimesOthers(t *testing.T) {
	tests := []struct {
		t    cpuTimes
		want time.Duration
	}{
		{t: cpuTimes{server: 3 * time.Second, clients: time.Second, machine: 5 * time.Second}, want: time.Second},
		// Sampled at slightly different moments, the parts can exceed the whole: never negative.
		{t: cpuTimes{server: 3 * time.Second, clients: time.Second, machine: 3 * time.Second}, want: 0},
	}
	for _, tt := range tests {
		if got := tt.t.others(); got != tt.want {
			t.Errorf("%+v.others() = %v, want %v", tt.t, got, tt.want)
		}
	}
	a := cpuTimes{server: 5, clients: 7, machine: 20}
	if got := a.sub(cpuTimes{server: 1, clients: 2, machine: 3}); got != (cpuTimes{server: 4, clients: 5, machine: 17}) {
		t.Errorf("sub = %+v", got)
	}
}
