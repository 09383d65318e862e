package e2eutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// isolatedEnv marks a test binary re-executed inside its own namespaces.
const isolatedEnv = "KUBESHIM_E2E_ISOLATED"

// NodeIP is the address of the "host NIC" inside the isolated network namespace: the bridge
// Bridge, which more nodes' network namespaces join (AddNode).
const (
	NodeIP = "192.0.2.10"
	Bridge = "e2ebr"
)

// NodeRequirements returns why tests that run real containers cannot run here, or "" when they
// can: they need root, containerd, runc, the CNI plugins, iptables, unshare and the image
// archives of `make images`.
func NodeRequirements() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "iptables", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not found (make deps installs it)"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		if _, err := os.Stat("/opt/cni/bin/bridge"); err != nil {
			return "the CNI plugins are not installed (make deps installs containernetworking-plugins)"
		}
	}
	for _, name := range []string{"busybox.tar", "nginx.tar"} {
		if _, err := os.Stat(filepath.Join(ImagesDir(), name)); err != nil {
			return fmt.Sprintf("%s not found in %s (make images builds it)", name, ImagesDir())
		}
	}
	return ""
}

// ImagesDir is where `make images` writes the image archives (KUBESHIM_IMAGES overrides).
func ImagesDir() string {
	if d := os.Getenv("KUBESHIM_IMAGES"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "_output", "images")
}

// SkipOrFail ends a test binary whose tests cannot run: under CI=true it fails, otherwise it
// prints why and exits 0 (a skip).
func SkipOrFail(reason string) {
	if os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "FAIL: these tests must run in CI but cannot: %s\n", reason)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "SKIP: %s\n", reason)
	os.Exit(0)
}

// Isolated reports whether this process runs inside the namespaces ReexecIsolated makes.
func Isolated() bool { return os.Getenv(isolatedEnv) != "" }

// ReexecIsolated runs this test binary again, with the same arguments, in new network, mount
// and PID namespaces (`unshare --net --mount --pid --fork --mount-proc`) and returns its exit
// code. Nothing it makes can leak: bridges, iptables rules and routes die with the network
// namespace, mounts with the mount namespace, and every process (containerd, shims,
// containers) with the PID namespace when the test binary, its init, exits.
func ReexecIsolated() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	args := append([]string{"--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", self}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Fprintf(os.Stderr, "e2e: the isolated test binary died of %v\n", ws.Signal())
			return 1
		}
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: unshare:", err)
		return 1
	}
	return 0
}

// SetUpIsolated prepares the isolated namespaces: lo up, a veth with NodeIP as the node's
// "host NIC" (no default route, so registries on the internet fail at once as
// unreachable), and a tmpfs at the returned directory for all state, so nothing is left on
// disk when the mount namespace goes.
func SetUpIsolated() (string, error) {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// The node's "NIC": a bridge other nodes' namespaces can join (AddNode), with one veth
		// port so it has a carrier.
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", Bridge},
		{"link", "add", "e2e0", "type", "veth", "peer", "name", "e2e1"},
		{"link", "set", "e2e1", "master", Bridge},
		{"link", "set", "e2e0", "up"},
		{"link", "set", "e2e1", "up"},
		{"link", "set", Bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// runc's and the shims' state under /run, and CNI's cache, stay private too.
	for _, run := range []string{"/run/containerd", "/run/kubeshim", "/var/lib/cni", "/run/netns"} {
		if err := os.MkdirAll(run, 0o711); err != nil {
			return "", err
		}
		if err := syscall.Mount("tmpfs", run, "tmpfs", 0, "mode=0711"); err != nil {
			return "", fmt.Errorf("mount tmpfs on %s: %w", run, err)
		}
	}
	dir, err := os.MkdirTemp("", "kubeshim-node-e2e-")
	if err != nil {
		return "", err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		return "", fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return dir, nil
}

// TearDownIsolated unmounts the state directory of SetUpIsolated and removes it.
func TearDownIsolated(dir string) {
	_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	_ = os.Remove(dir)
}

// CgroupRoot returns a cgroup root for one test run's pods (kubeshim's --cgroup-root), unique
// even across PID namespaces where every test binary is pid 1.
func CgroupRoot(prefix string) string {
	return fmt.Sprintf("/%s-%d-%d", prefix, time.Now().UnixNano(), os.Getpid())
}

// RemoveCgroups removes the cgroup root and what is left below it in every hierarchy, once
// nothing runs in it; it returns an error naming any cgroup it could not remove (a process
// still in it).
func RemoveCgroups(root string) error {
	hierarchies, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		return err
	}
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	var failed []string
	for _, h := range hierarchies {
		dir := filepath.Join(h, root)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				failed = append(failed, fmt.Sprintf("%s: %v", dirs[i], err))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cgroups left: %s", strings.Join(failed, "; "))
	}
	return nil
}

// AddNode makes a network namespace for another node, joined to the first node's bridge with
// address ip/24, and returns its path (for nsenter --net=PATH). It goes with the isolated
// namespaces.
func AddNode(name, ip string) (string, error) {
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", "v-" + name, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"link", "set", "v-" + name, "master", Bridge},
		{"link", "set", "v-" + name, "up"},
		{"-n", name, "addr", "add", ip + "/24", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return "/run/netns/" + name, nil
}
