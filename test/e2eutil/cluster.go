// Package e2eutil runs the built kubeshim binary and the stock kubectl binaries for the
// end-to-end tests: a Cluster is one `kubeshim up`, a Kubectl one kubectl pointed at it.
package e2eutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeshim/kubeshim/kubeconfig"
)

// StockKubectls are the kubectl releases the tests run with: the oldest and the newest on
// this machine.
var StockKubectls = []string{
	"/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
	"/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
}

// SyncBuffer collects a process's output while tests read it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// KubeshimBinary returns KUBESHIM_BIN (set by `make e2e`), or builds the binary into a
// temporary directory that cleanup removes.
func KubeshimBinary() (bin string, cleanup func(), err error) {
	if bin := os.Getenv("KUBESHIM_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "kubeshim-bin-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "kubeshim")
	// kubeshim-logger beside kubeshim, where the kubelet looks for it.
	build := exec.Command("go", "build", "-tags", "no_dynamic_plugins grpcnotrace", "-o", dir+"/", "./cmd/kubeshim", "./cmd/kubeshim-logger")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build kubeshim: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Cluster is one running `kubeshim up`.
type Cluster struct {
	Bin        string
	DataDir    string
	Kubeconfig string
	Args       []string
	Logs       *SyncBuffer
	Config     *rest.Config
	Client     kubernetes.Interface

	cmd    *exec.Cmd
	exited chan error
}

// StartCluster runs `kubeshim up --data-dir dir --secure-port 0 args...` and waits until it
// has written its kubeconfig, its sign of readiness.
func StartCluster(bin, dir string, args []string) (*Cluster, error) {
	c := &Cluster{Bin: bin, DataDir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), Args: args}
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start() error {
	c.Logs = &SyncBuffer{}
	c.exited = make(chan error, 1)
	_ = os.Remove(c.Kubeconfig)
	args := append([]string{"up", "--data-dir", c.DataDir, "--secure-port", "0"}, c.Args...)
	c.cmd = exec.Command(c.Bin, args...)
	c.cmd.Stdout = c.Logs
	c.cmd.Stderr = c.Logs
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Bin, err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(c.Kubeconfig); err == nil {
			break
		}
		select {
		case err := <-c.exited:
			return fmt.Errorf("kubeshim exited before it was ready: %v\n%s", err, c.Logs.String())
		case <-deadline:
			_ = c.Stop()
			return fmt.Errorf("kubeshim not ready after 60s\n%s", c.Logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	var err error
	if c.Config, err = kubeconfig.Load(c.Kubeconfig); err != nil {
		_ = c.Stop()
		return err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		_ = c.Stop()
		return err
	}
	return nil
}

// Stop sends SIGTERM and waits for a clean exit; it returns the process's exit error, if any.
// The data directory stays.
func (c *Cluster) Stop() error {
	select {
	case err := <-c.exited:
		c.exited <- err
		return fmt.Errorf("kubeshim had already exited: %v", err)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		c.exited <- err
		return err
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		err := <-c.exited
		c.exited <- err
		return fmt.Errorf("no exit 40s after SIGTERM")
	}
}

// Kill ends kubeshim with SIGKILL, as a crash would.
func (c *Cluster) Kill() {
	_ = c.cmd.Process.Kill()
	err := <-c.exited
	c.exited <- err
}

// Restart starts kubeshim again on the same data directory and arguments.
func (c *Cluster) Restart() error { return c.start() }
