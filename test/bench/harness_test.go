// Package bench measures kubeshim from the outside, as its users meet it: how long the built
// binary takes from exec to a ready API server, how much memory it holds idle and with 10,000
// pods stored, and how many creates, gets and paged lists per second it serves to concurrent
// client-go clients. `make bench` runs it against bin/kubeshim and prints every figure; the
// benchmarks make no timing assertions and fail only when something is broken (an API error,
// a wrong answer, the process dying).
package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeshim/kubeshim/kubeconfig"
)

const (
	// pollInterval is how often readiness is polled while a server starts.
	pollInterval = time.Millisecond
	// readyTimeout bounds a start: a server not ready by then is hung, not slow.
	readyTimeout = 2 * time.Minute
	// stopTimeout is how long a server gets to exit after SIGTERM before it is killed: kubeshim
	// takes about a second, so a server still running after this is hung.
	stopTimeout = 10 * time.Second
	// clientQPS is the client-side rate limit of every benchmark client: high enough that
	// client-go never throttles, so the server is what is measured.
	clientQPS = 10000
	// requestTimeout bounds every API request: a request that takes longer is a hang.
	requestTimeout = time.Minute
)

func TestMain(m *testing.M) {
	code := m.Run()
	printSummary(os.Stdout)
	binary.cleanup()
	os.Exit(code)
}

// binary is the kubeshim executable under test: KUBESHIM_BIN (set by `make bench`), or one
// built on first use into a temporary directory, so `go test -run` of the unit tests alone
// never builds it.
var binary builtBinary

type builtBinary struct {
	once sync.Once
	path string
	dir  string // set when the binary was built here, removed by cleanup
	err  error
}

func kubeshimBinary(tb testing.TB) string {
	tb.Helper()
	binary.once.Do(func() {
		if bin := os.Getenv("KUBESHIM_BIN"); bin != "" {
			binary.path = bin
			return
		}
		dir, err := os.MkdirTemp("", "kubeshim-bench-bin-")
		if err != nil {
			binary.err = fmt.Errorf("temporary directory for the kubeshim binary: %w", err)
			return
		}
		binary.dir = dir
		binary.path = filepath.Join(dir, "kubeshim")
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", binary.path, "./cmd/kubeshim")
		build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("build kubeshim: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		tb.Fatal(binary.err)
	}
	return binary.path
}

// cleanup removes a binary built by kubeshimBinary.
func (bin *builtBinary) cleanup() {
	if bin.dir != "" {
		_ = os.RemoveAll(bin.dir)
	}
}

// syncBuffer collects a process's output while the benchmark runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n lines written, for error messages.
func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return lastLines(b.buf.String(), n)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// server is one running `kubeshim up --no-kubelet`.
type server struct {
	dataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan struct{} // closed once the process has exited and waitErr is set
	waitErr error
	// config is the admin client configuration from the kubeconfig the server wrote.
	config *rest.Config
	// readyIn is the wall time from exec to the first 200 from /readyz.
	readyIn time.Duration
	// stoppedIn is the wall time from SIGTERM to exit, once stop has returned.
	stoppedIn time.Duration
	// grace is how long stop waits after SIGTERM before it kills the process.
	grace time.Duration

	stopOnce sync.Once
	stopErr  error
}

// startServer runs kubeshim on a free port with dataDir as its data directory and returns
// once /readyz answers 200. Certificates already in dataDir are reused; a kubeconfig left
// there by an earlier run is removed first, since the new one names the new port.
func startServer(bin, dataDir string, extraArgs ...string) (*server, error) {
	kubeconfigPath := filepath.Join(dataDir, "kubeconfig")
	if err := os.Remove(kubeconfigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove old kubeconfig: %w", err)
	}
	s := &server{dataDir: dataDir, logs: &syncBuffer{}, done: make(chan struct{}), grace: stopTimeout}
	s.cmd = exec.Command(bin, append([]string{"up", "--no-kubelet", "--data-dir", dataDir, "--secure-port", "0"}, extraArgs...)...)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	// A child left holding the output pipe must not keep Wait from returning.
	s.cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(start, kubeconfigPath); err != nil {
		if stopErr := s.stop(); stopErr != nil {
			err = fmt.Errorf("%w (and stopping it: %v)", err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

// waitReady polls every pollInterval, first for the kubeconfig the server writes once it
// serves (it holds the port and the admin credentials), then for a 200 from /readyz.
func (s *server) waitReady(start time.Time, kubeconfigPath string) error {
	deadline := start.Add(readyTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	wait := func(what string, lastErr error) error {
		select {
		case <-s.done:
			return fmt.Errorf("kubeshim exited (%v) while waiting for %s:\n%s", s.waitErr, what, s.logs.tail(40))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s %v after exec (last error: %v):\n%s", what, readyTimeout, lastErr, s.logs.tail(40))
		}
		return nil
	}
	for {
		_, err := os.Stat(kubeconfigPath)
		if err == nil {
			break
		}
		if err := wait("kubeconfig", err); err != nil {
			return err
		}
	}
	cfg, err := kubeconfig.Load(kubeconfigPath)
	if err != nil {
		return err
	}
	s.config = cfg
	client, closeIdle, err := probeClient(cfg)
	if err != nil {
		return err
	}
	defer closeIdle()
	for {
		code, err := getStatus(client, cfg.Host+"/readyz")
		if err == nil && code == http.StatusOK {
			s.readyIn = time.Since(start)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("/readyz answered %d", code)
		}
		if err := wait("200 from /readyz", err); err != nil {
			return err
		}
	}
}

// probeClient is a plain HTTPS client with the admin credentials of cfg, for /readyz.
func probeClient(cfg *rest.Config) (*http.Client, func(), error) {
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS configuration from kubeconfig: %w", err)
	}
	transport := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	return &http.Client{Transport: transport, Timeout: 5 * time.Second}, transport.CloseIdleConnections, nil
}

// getStatus GETs url and returns the status code, draining the body so the connection is
// reused by the next poll.
func getStatus(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// alive returns an error, with the end of the server's log, if the process has exited.
func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("kubeshim (pid %d) exited: %v\n%s", s.cmd.Process.Pid, s.waitErr, s.logs.tail(40))
	default:
		return nil
	}
}

// check wraps err, adding the server's log when the process has died, since that is then
// the cause worth reading.
func (s *server) check(err error) error {
	if err == nil {
		return nil
	}
	if dead := s.alive(); dead != nil {
		return fmt.Errorf("%w; %v", err, dead)
	}
	return err
}

// stop sends SIGTERM to the server's pid, waits for it to exit (killing it after its grace
// period) and reports an exit that was not clean. It is safe to call more than once.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = fmt.Errorf("kubeshim (pid %d) had already exited: %v\n%s", s.cmd.Process.Pid, s.waitErr, s.logs.tail(40))
			return
		default:
		}
		sent := time.Now()
		defer func() { s.stoppedIn = time.Since(sent) }()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.stopErr = fmt.Errorf("SIGTERM kubeshim (pid %d): %w", s.cmd.Process.Pid, err)
		}
		select {
		case <-s.done:
			if s.waitErr != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("kubeshim (pid %d) exited uncleanly after SIGTERM: %v\n%s", s.cmd.Process.Pid, s.waitErr, s.logs.tail(40))
			}
		case <-time.After(s.grace):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("kubeshim (pid %d) still running %v after SIGTERM; killed:\n%s", s.cmd.Process.Pid, s.grace, s.logs.tail(40))
		}
	})
	return s.stopErr
}

// startForBenchmark starts a server in a data directory of the benchmark's own and stops
// it, then removes the directory, when the benchmark ends.
func startForBenchmark(b *testing.B, extraArgs ...string) *server {
	b.Helper()
	dir := b.TempDir()
	s, err := startServer(kubeshimBinary(b), dir, extraArgs...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.stop(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// memory is a process's resident set, in KiB, as /proc/PID/status reports it.
type memory struct {
	rssKiB  int64 // VmRSS: resident now
	peakKiB int64 // VmHWM: the most ever resident
	anonKiB int64 // RssAnon: the process's own memory (heap, stacks)
	fileKiB int64 // RssFile: resident pages of mapped files, the binary's code above all
}

// memory reads the server's VmRSS and VmHWM.
func (s *server) memory() (memory, error) {
	if err := s.alive(); err != nil {
		return memory{}, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return memory{}, fmt.Errorf("read kubeshim's memory: %w", err)
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads VmRSS and VmHWM from the text of a /proc/PID/status file.
func parseStatus(r io.Reader) (memory, error) {
	var m memory
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		fieldOf := map[string]*int64{"VmRSS": &m.rssKiB, "VmHWM": &m.peakKiB, "RssAnon": &m.anonKiB, "RssFile": &m.fileKiB}
		target, known := fieldOf[key]
		if !ok || !known {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("parse /proc status: %s: unexpected value %q", key, value)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("parse /proc status: %s: %w", key, err)
		}
		*target = n
		haveRSS = haveRSS || key == "VmRSS"
		haveHWM = haveHWM || key == "VmHWM"
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("parse /proc status: %w", err)
	}
	if !haveRSS || !haveHWM {
		return memory{}, errors.New("parse /proc status: no VmRSS or VmHWM line (kernel thread or exited process?)")
	}
	return m, nil
}

// newClients returns n client-go clientsets for cfg, each from a rest.Config of its own
// with client-side throttling out of the way. Each gets a dialer of its own, which keeps
// client-go from sharing one cached transport between them: n clients mean n connections,
// as n separate programs would open.
func newClients(cfg *rest.Config, n int) ([]kubernetes.Interface, error) {
	clients := make([]kubernetes.Interface, n)
	for i := range clients {
		c := rest.CopyConfig(cfg)
		c.QPS = clientQPS
		c.Burst = clientQPS
		c.Timeout = requestTimeout
		c.UserAgent = fmt.Sprintf("kubeshim-bench/client-%d", i)
		dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		c.Dial = dialer.DialContext
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = cs
	}
	return clients, nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat: Linux reports them in USER_HZ
// ticks, 100 a second on every architecture.
const userHZ = 100

// cpuTime returns the CPU time, user and system, the server has used so far.
func (s *server) cpuTime() (time.Duration, error) {
	if err := s.alive(); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read kubeshim's CPU time: %w", err)
	}
	return parseStatCPU(string(data))
}

// parseStatCPU returns utime+stime from the text of a /proc/PID/stat file.
func parseStatCPU(stat string) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces and parentheses: fields are counted
	// from the last ')'. After it come state (field 3) ... utime (14) and stime (15).
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name in %q", stat)
	}
	fields := strings.Fields(stat[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name, want more than %d", len(fields), stime)
	}
	var ticks int64
	for _, i := range []int{utime, stime} {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat: field %d: %w", i+3, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// selfCPUTime returns the CPU time, user and system, this process (the benchmark's clients)
// has used so far.
func selfCPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// machineBusyCPU returns the CPU time all processes on the machine have used so far (every
// state of /proc/stat's "cpu" line but idle and iowait): what the server and the clients did
// not use of it was other work competing with them.
func machineBusyCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read the machine's CPU time: %w", err)
	}
	return parseMachineBusy(string(data))
}

// parseMachineBusy returns the busy time of the "cpu" line of a /proc/stat text: user, nice,
// system, irq, softirq and steal (guest time is already part of user and nice).
func parseMachineBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat: cpu field %d: %w", i+1, err)
		}
		if i != 3 && i != 4 {
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuTimes is CPU time used: by the server, by this process (the benchmark's clients) and by
// the whole machine.
type cpuTimes struct {
	server, clients, machine time.Duration
}

func readCPU(s *server) (cpuTimes, error) {
	var t cpuTimes
	var err error
	if t.server, err = s.cpuTime(); err != nil {
		return t, err
	}
	if t.clients, err = selfCPUTime(); err != nil {
		return t, err
	}
	if t.machine, err = machineBusyCPU(); err != nil {
		return t, err
	}
	return t, nil
}

func (t cpuTimes) sub(u cpuTimes) cpuTimes {
	return cpuTimes{server: t.server - u.server, clients: t.clients - u.clients, machine: t.machine - u.machine}
}

// others is the CPU time the machine spent on neither the server nor the clients.
func (t cpuTimes) others() time.Duration { return max(t.machine-t.server-t.clients, 0) }
