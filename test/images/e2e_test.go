package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// innerEnv carries the archives' directory into the re-executed test binary that runs inside
// `unshare --net --mount --pid`.
const innerEnv = "MKIMAGE_E2E_ARCHIVES"

// skipOrFail skips with reason, or fails when CI=true (where every prerequisite must be there).
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: %s", reason)
	}
	t.Skip("skipping: " + reason)
}

// TestContainerdImport imports both archives into a private containerd and runs them with runc:
// busybox's `echo hi` and bare Cmd, and nginx serving its page, fetched with the image's own
// wget through `ctr task exec`. It runs in a fresh network, mount and PID namespace, so nothing
// touches the host's network or containerd, and every process dies with the namespace.
func TestContainerdImport(t *testing.T) {
	if os.Getenv(innerEnv) != "" {
		runContainerdInner(t, os.Getenv(innerEnv))
		return
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "containerd end-to-end needs root")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, fmt.Sprintf("%s not on PATH (apt-get install containerd runc iproute2 util-linux)", bin))
		}
	}
	dir := built(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
		os.Args[0], "-test.run=^TestContainerdImport$", "-test.v", "-test.count=1", "-test.timeout=110s")
	cmd.Env = append(os.Environ(), innerEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("inside unshare:\n%s", out)
	if err != nil {
		t.Fatalf("containerd end-to-end: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestContainerdImport") {
		t.Fatalf("the re-executed test did not pass")
	}
}

type ctrClient struct {
	t    *testing.T
	sock string
}

func (c ctrClient) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.sock, "-n", "test"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c ctrClient) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(60*time.Second, args...)
	if err != nil {
		c.t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// removeAll kills and deletes every task and container of the test namespace.
func (c ctrClient) removeAll() {
	out, _ := c.run(10*time.Second, "containers", "ls", "-q")
	for _, id := range strings.Fields(out) {
		_, _ = c.run(10*time.Second, "task", "kill", "-s", "SIGKILL", id)
		for i := 0; i < 50; i++ {
			if _, err := c.run(10*time.Second, "task", "rm", "-f", id); err == nil || !c.hasTask(id) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, err := c.run(10*time.Second, "containers", "rm", id); err != nil {
			c.t.Errorf("ctr containers rm %s: %v\n%s", id, err, out)
		}
	}
	// Only the images' committed layers may remain; an active snapshot is a container's rootfs.
	if out, err := c.run(10*time.Second, "snapshots", "ls"); err != nil || strings.Contains(out, "Active") {
		c.t.Errorf("container snapshots left behind (%v):\n%s", err, out)
	}
}

func (c ctrClient) hasTask(id string) bool {
	out, _ := c.run(10*time.Second, "task", "ls", "-q")
	for _, t := range strings.Fields(out) {
		if t == id {
			return true
		}
	}
	return false
}

func runContainerdInner(t *testing.T, archives string) {
	if os.Getpid() != 1 {
		t.Fatalf("expected to be PID 1 of a fresh PID namespace, am %d", os.Getpid())
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	// ctr and the runc shim keep fifos, sockets and runc state under /run/containerd: give this
	// mount namespace its own, so nothing lands in (or collides with) the host's.
	if err := os.MkdirAll("/run/containerd", 0o711); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", "/run/containerd", "tmpfs", 0, "mode=0711"); err != nil {
		t.Fatalf("mounting tmpfs on /run/containerd: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount("/run/containerd", syscall.MNT_DETACH) })

	dir, err := os.MkdirTemp("", "mkimage-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("containerd log:\n%s", log)
		}
	})

	ctr := ctrClient{t: t, sock: sock}
	// Registered after containerd's stop, so it runs before it: remove every task and container
	// left behind (their snapshots go with them), whatever step failed.
	t.Cleanup(func() { ctr.removeAll() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := ctr.run(5*time.Second, "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, a := range []string{BusyboxArchive, NginxArchive} {
		ctr.must("images", "import", filepath.Join(archives, a))
	}
	t.Cleanup(func() { _, _ = ctr.run(30*time.Second, "images", "rm", BusyboxName, NginxName) })
	list := ctr.must("images", "ls", "-q")
	for _, name := range []string{BusyboxName, NginxName} {
		if !strings.Contains(list, name) {
			t.Fatalf("images ls lacks %s:\n%s", name, list)
		}
	}

	// busybox: a command, then the image's own Cmd ["sh"], which exits at once with no tty.
	if out := ctr.must("run", "--rm", "--net-host", BusyboxName, "bb-echo", "echo", "hi"); strings.TrimSpace(out) != "hi" {
		t.Errorf("busybox echo hi printed %q", out)
	}
	// Like a kubelet, which attaches no stdin: sh reads EOF and the container exits 0 at once.
	if out, err := ctr.run(30*time.Second, "run", "--rm", "--null-io", "--net-host", BusyboxName, "bb-cmd"); err != nil {
		t.Errorf("busybox with its own Cmd: %v\n%s", err, out)
	}

	// nginx: started detached, then fetched from inside its container.
	ctr.must("run", "-d", "--null-io", "--net-host", NginxName, "web")
	var out string
	deadline = time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		out, err = ctr.run(10*time.Second, "task", "exec", "--exec-id", fmt.Sprintf("wget%d", i), "web",
			"wget", "-qO-", "http://127.0.0.1/")
		if err == nil && strings.Contains(out, "Welcome to nginx") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wget http://127.0.0.1/ in nginx's container: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("nginx served: %s", strings.SplitN(out, "\n", 2)[0])
}
