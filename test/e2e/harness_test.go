// Package e2e drives the built kubeshim binary with the stock kubectl binaries of this machine
// (the oldest and the newest supported), a kubectl built from k8s.io/kubectl at the module's
// client-go version, and client-go itself.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeshim/kubeshim/kubeconfig"
)

// stockKubectls are the kubectl releases every e2e test runs with: the oldest and the newest
// on this machine.
var stockKubectls = []string{
	"/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
	"/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
}

// cluster is one running `kubeshim up`.
type cluster struct {
	dataDir    string
	kubeconfig string
	cmd        *exec.Cmd
	logs       *syncBuffer
	config     *rest.Config
	client     kubernetes.Interface
	exited     chan error
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// shared is the cluster most tests use; tests that need their own start one with startCluster.
var shared *cluster

func TestMain(m *testing.M) {
	code := func() int {
		bin, cleanup, err := kubeshimBinary()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer cleanup()
		kubeshimBin = bin
		// The API tests run against the API server alone, as against kube-apiserver.
		c, err := startCluster([]string{"--no-controllers"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start kubeshim:", err)
			return 1
		}
		shared = c
		defer c.stop()
		defer func() {
			for _, f := range cleanups {
				f()
			}
		}()
		return m.Run()
	}()
	os.Exit(code)
}

var kubeshimBin string

// cleanups run after every test, for clusters and helpers tests start lazily.
var cleanups []func()

// kubeshimBinary returns KUBESHIM_BIN (set by `make e2e`), or builds the binary.
func kubeshimBinary() (string, func(), error) {
	if bin := os.Getenv("KUBESHIM_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "kubeshim-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "kubeshim")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubeshim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("build kubeshim: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// startCluster runs `kubeshim up --no-kubelet` on a free port in a new data directory and
// waits until it has written its kubeconfig, its sign of readiness.
func startCluster(extraArgs []string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "kubeshim-e2e-")
	if err != nil {
		return nil, err
	}
	return startClusterIn(dir, extraArgs)
}

// startClusterIn is startCluster on an existing data directory.
func startClusterIn(dir string, extraArgs []string) (*cluster, error) {
	c := &cluster{dataDir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), logs: &syncBuffer{}, exited: make(chan error, 1)}
	args := append([]string{"up", "--no-kubelet", "--data-dir", dir, "--secure-port", "0"}, extraArgs...)
	c.cmd = exec.Command(kubeshimBin, args...)
	c.cmd.Stdout = c.logs
	c.cmd.Stderr = c.logs
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kubeshimBin, err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	var err error
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(c.kubeconfig); err == nil {
			break
		}
		select {
		case err := <-c.exited:
			return nil, fmt.Errorf("kubeshim exited before it was ready: %v\n%s", err, c.logs.String())
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("kubeshim not ready after 60s\n%s", c.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if c.config, err = kubeconfig.Load(c.kubeconfig); err != nil {
		c.stop()
		return nil, err
	}
	if c.client, err = kubernetes.NewForConfig(c.config); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// stop sends SIGTERM, waits for a clean exit and removes the data directory. It returns the
// process's exit error, if any.
func (c *cluster) stop() error {
	var exitErr error
	select {
	case exitErr = <-c.exited:
		c.exited <- exitErr
		os.RemoveAll(c.dataDir)
		return fmt.Errorf("kubeshim had already exited: %v", exitErr)
	default:
	}
	{
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case exitErr = <-c.exited:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			exitErr = fmt.Errorf("no exit 30s after SIGTERM")
			<-c.exited
		}
	}
	os.RemoveAll(c.dataDir)
	return exitErr
}

// kubectl is one kubectl binary pointed at a cluster.
type kubectl struct {
	path    string
	cluster *cluster
	env     []string
}

// result is what a kubectl run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// kubectls returns every kubectl the tests run with.
func kubectls(t *testing.T, c *cluster) []kubectl {
	t.Helper()
	var out []kubectl
	paths := append([]string{}, stockKubectls...)
	if built := os.Getenv("KUBECTL_BUILT"); built != "" {
		paths = append(paths, built)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("kubectl %s is missing: %v", p, err)
		}
		out = append(out, kubectl{path: p, cluster: c})
	}
	return out
}

// name is a short label for subtests ("kubectl.1.27").
func (k kubectl) name() string { return filepath.Base(k.path) }

// run runs kubectl with args (and stdin, if any) and returns what it printed.
func (k kubectl) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.path, append([]string{"--kubeconfig", k.cluster.kubeconfig}, args...)...)
	// EDITOR=false: nothing interactive may ever start.
	cmd.Env = append(append(os.Environ(), "HOME="+k.cluster.dataDir, "EDITOR=false"), k.env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// A child (an editor) holding the output pipes open must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", k.name(), args, err)
	}
	return r
}

// ok runs kubectl and fails the test unless it exits 0; it returns stdout.
func (k kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := k.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", k.name(), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okIn is ok with standard input.
func (k kubectl) okIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := k.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", k.name(), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// forEachKubectl runs f as a subtest per kubectl, each in a namespace of its own.
func forEachKubectl(t *testing.T, f func(t *testing.T, k kubectl, ns string)) {
	for i, k := range kubectls(t, shared) {
		t.Run(k.name(), func(t *testing.T) {
			ns := fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), i)
			ns = sanitizeNamespace(ns)
			k.ok(t, "create", "namespace", ns)
			f(t, k, ns)
		})
	}
}

// sanitizeNamespace makes a DNS label of a test name.
func sanitizeNamespace(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[len(out)-63:], "-")
	}
	return out
}

// table parses kubectl's table output by the header's column offsets (columns are at least
// two spaces apart), so headers and cells with single spaces ("NOMINATED NODE") survive.
func table(t *testing.T, out string) (header []string, rows []map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in output %q", out)
	}
	head := lines[0]
	var starts []int
	for i := 0; i < len(head); i++ {
		if head[i] != ' ' && (i == 0 || (i >= 2 && head[i-1] == ' ' && head[i-2] == ' ')) {
			starts = append(starts, i)
		}
	}
	for i, s := range starts {
		end := len(head)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		header = append(header, strings.TrimSpace(head[s:end]))
	}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, s := range starts {
			end := len(line)
			if i+1 < len(starts) && starts[i+1] < len(line) {
				end = starts[i+1]
			}
			if s < len(line) {
				row[header[i]] = strings.TrimSpace(line[s:min(end, len(line))])
			}
		}
		rows = append(rows, row)
	}
	return header, rows
}

// eventually polls cond every 100ms until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
