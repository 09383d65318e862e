package network

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// The networking tests run in a private network (and mount) namespace: TestMain re-executes the
// test binary under `unshare --net --mount` when root, so the bridge, veths, iptables rules and
// sysctls they make live and die with that namespace; the host's are never touched.

const childEnv = "KUBESHIM_NETWORK_TEST_CHILD"

// Addresses of the simulated node interface in the private namespace (TEST-NET-1).
const (
	testNodeIP    = "192.0.2.10"
	testNodeCIDR  = "192.0.2.10/24"
	testGatewayIP = "192.0.2.1"
)

// skipReason says why the privileged tests cannot run; "" inside the private namespace.
var skipReason string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild(m))
	}
	skipReason = privilegedUnavailable()
	if skipReason == "" {
		args := append([]string{"--net", "--mount", "--propagation", "private", "--", os.Args[0]}, os.Args[1:]...)
		cmd := exec.Command("unshare", args...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			os.Exit(0)
		case errors.As(err, &ee):
			os.Exit(ee.ExitCode())
		default:
			fmt.Fprintf(os.Stderr, "re-exec under unshare: %v\n", err)
			os.Exit(1)
		}
	}
	fmt.Printf("kubelet/network: privileged networking tests will skip: %s\n", skipReason)
	os.Exit(m.Run())
}

// privilegedUnavailable returns why the private-namespace tests cannot run here, or "".
func privilegedUnavailable() string {
	if os.Geteuid() != 0 {
		return "not root (network namespaces, bridges and iptables need root)"
	}
	for _, bin := range []string{"unshare", "ip", "iptables", "iptables-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not found on PATH"
		}
	}
	if _, err := findBinDir(DefaultBinDirs); err != nil {
		return err.Error()
	}
	return ""
}

// runChild prepares the private namespace as a small node (lo up, an interface with an address
// and a default route) and runs the tests in it.
func runChild(m *testing.M) int {
	cmds := [][]string{
		{"link", "set", "lo", "up"},
		// No dummy module everywhere: a veth pair whose peer stays here serves as "eth0".
		{"link", "add", "node0", "type", "veth", "peer", "name", "node0peer"},
		{"link", "set", "node0peer", "up"},
		{"link", "set", "node0", "up"},
		{"addr", "add", testNodeCIDR, "dev", "node0"},
		{"route", "add", "default", "via", testGatewayIP},
	}
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "prepare test network namespace: ip %v: %v: %s\n", args, err, out)
			return 1
		}
	}
	// Keep libcni's result cache out of the host's /var/lib/cni.
	cache, err := os.MkdirTemp("", "kubeshim-cni-cache-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "cni cache dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(cache) }()
	libcni.CacheDir = cache
	return m.Run()
}

// requirePrivateNetNS skips (or, under CI=true, fails) a test that needs the private namespace.
func requirePrivateNetNS(t *testing.T) {
	t.Helper()
	if os.Getenv(childEnv) == "1" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the networking tests cannot run: %s", skipReason)
	}
	t.Skipf("needs a private network namespace: %s", skipReason)
}
