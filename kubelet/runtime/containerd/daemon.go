package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerdclient "github.com/containerd/containerd"
	"k8s.io/klog/v2"
)

// maxSocketPath is the longest unix socket path the kernel accepts (sun_path is 108 bytes with
// its terminating NUL).
const maxSocketPath = 107

// DaemonConfig configures a private containerd.
type DaemonConfig struct {
	// Dir holds the daemon's root, state, socket, config and log.
	Dir string
	// Binary is the containerd executable; "containerd" (on PATH) when empty.
	Binary string
}

// Daemon is a private containerd started by kubeshim.
type Daemon struct {
	dir     string
	address string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
	// sockDir is the short directory made for the socket when Dir is too deep, removed at Stop.
	sockDir string
}

// SocketPath returns where the daemon of dir listens: dir/containerd.sock, or, when that is too
// long for a unix socket, /run/kubeshim/<hash of dir>/containerd.sock.
func SocketPath(dir string) string {
	p := filepath.Join(dir, "containerd.sock")
	if len(p)+len(".ttrpc") <= maxSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join("/run/kubeshim", hex.EncodeToString(sum[:])[:16], "containerd.sock")
}

// daemonConfigTOML is containerd's config.toml for a private daemon of dir.
func daemonConfigTOML(dir, address string) string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	var b strings.Builder
	b.WriteString("version = 2\n")
	b.WriteString("root = " + q(filepath.Join(dir, "root")) + "\n")
	b.WriteString("state = " + q(filepath.Join(dir, "state")) + "\n")
	b.WriteString("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n")
	b.WriteString("[grpc]\n  address = " + q(address) + "\n\n")
	b.WriteString("[ttrpc]\n  address = " + q(address+".ttrpc") + "\n\n")
	b.WriteString("[plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = " + q(filepath.Join(dir, "opt")) + "\n")
	return b.String()
}

// StartDaemon writes dir/config.toml, starts containerd with its log in dir/containerd.log and
// returns once the daemon answers on its socket. The daemon runs in its own process group so an
// interrupt of the caller's group does not kill it; Stop ends it.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if cfg.Dir == "" {
		return nil, errors.New("containerd daemon: no directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("containerd daemon: %w", err)
	}
	bin := cfg.Binary
	if bin == "" {
		bin = "containerd"
	}
	if bin, err = exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("containerd daemon: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "root"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("containerd daemon: %w", err)
		}
	}
	address := SocketPath(dir)
	d := &Daemon{dir: dir, address: address, done: make(chan struct{})}
	if filepath.Dir(address) != dir {
		d.sockDir = filepath.Dir(address)
		klog.InfoS("containerd socket path too long under the data dir; using a short one", "dir", dir, "socket", address)
		if err := os.MkdirAll(d.sockDir, 0o700); err != nil {
			return nil, fmt.Errorf("containerd daemon: %w", err)
		}
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(daemonConfigTOML(dir, address)), 0o600); err != nil {
		return nil, fmt.Errorf("containerd daemon: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd daemon: %w", err)
	}
	defer logf.Close()

	// A containerd left running by a kubeshim that was killed holds the socket and the root:
	// end it first. Its shims, and so the containers, keep running.
	pidFile := filepath.Join(dir, "containerd.pid")
	if err := stopStale(pidFile); err != nil {
		return nil, err
	}

	cmd := exec.Command(bin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Its own process group, so an interrupt of the caller's group does not reach it; and
	// SIGTERM when kubeshim dies, even of SIGKILL. The parent-death signal follows the thread
	// that forked, so containerd is started from a locked thread that lives until it exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Never unlocked: the thread ends with containerd's wait, and is not reused meanwhile.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	d.cmd = cmd
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		klog.ErrorS(err, "Write containerd's pid file", "path", pidFile)
	}
	klog.InfoS("Started containerd", "pid", cmd.Process.Pid, "address", address, "log", filepath.Join(dir, "containerd.log"))

	if err := d.waitReady(ctx); err != nil {
		_ = d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("containerd exited during start-up (%v); see %s", d.waitErr, filepath.Join(d.dir, "containerd.log"))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := os.Stat(d.address); err == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := containerdclient.New(d.address, containerdclient.WithTimeout(2*time.Second))
			if err == nil {
				_, err = c.Version(cctx)
				c.Close()
			}
			cancel()
			if err == nil {
				return nil
			}
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not answer on %s within 30s: %v", d.address, lastErr)
}

// stopStale ends the containerd whose pid pidFile holds, if it still runs.
func stopStale(pidFile string) error {
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("containerd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return nil
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "containerd" || !alive(pid) {
		return nil
	}
	klog.InfoS("Stopping the containerd a previous kubeshim left running", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	return nil
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// Address is the daemon's gRPC socket.
func (d *Daemon) Address() string { return d.address }

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to 10 s, then SIGKILLs. Shims (and so containers) keep running.
func (d *Daemon) Stop() error {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			klog.InfoS("containerd did not stop after SIGTERM; killing it", "pid", d.cmd.Process.Pid)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if d.sockDir != "" {
			_ = os.Remove(d.address)
			_ = os.Remove(d.address + ".ttrpc")
			_ = os.Remove(d.sockDir)
		}
	})
	return d.stopErr
}
