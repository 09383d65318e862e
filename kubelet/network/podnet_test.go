package network

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

const dialTimeout = 2 * time.Second

// serveIn starts a TCP server on :port inside the network namespace at nsPath that answers
// every connection with name and closes it. The listener is closed when the test ends.
func serveIn(t *testing.T, nsPath string, port int, name string) {
	t.Helper()
	var l net.Listener
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port)) // the socket belongs to the pod's netns
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", nsPath, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintln(c, name)
			_ = c.Close()
		}
	}()
}

// dial connects to addr from the network namespace at nsPath ("" = the node's) and returns the
// line the server sent.
func dial(nsPath, addr string) (string, error) {
	var line string
	do := func() error {
		c, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(dialTimeout))
		line, err = bufio.NewReader(c).ReadString('\n')
		line = strings.TrimSpace(line)
		return err
	}
	if nsPath == "" {
		return line, do()
	}
	return line, ns.WithNetNSPath(nsPath, func(ns.NetNS) error { return do() })
}

func expectReply(t *testing.T, from, addr, want string) {
	t.Helper()
	got, err := dial(from, addr)
	if err != nil || got != want {
		t.Errorf("from %q to %s: got %q, %v; want %q", nameOr(from), addr, got, err, want)
	}
}

func nameOr(p string) string {
	if p == "" {
		return "node"
	}
	return filepath.Base(p)
}

// reservations lists the IPs host-local holds for uid in dir.
func reservations(t *testing.T, dir string, uid types.UID) []string {
	t.Helper()
	var ips []string
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || net.ParseIP(e.Name()) == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]) == string(uid) {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

// iptablesLines returns the lines of iptables-save (all tables) that mention s.
func iptablesLines(t *testing.T, s string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return lines
}

// portmapLines are the portmap plugin's rules for uid (its DNAT chain's comment names the pod).
func portmapLines(t *testing.T, uid types.UID) []string {
	t.Helper()
	var out []string
	for _, l := range iptablesLines(t, string(uid)) {
		if strings.Contains(l, "dnat name") {
			out = append(out, l)
		}
	}
	return out
}

func TestPodNetwork(t *testing.T) {
	requirePrivateNetNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	base := t.TempDir()
	c, err := New(Config{
		ConfDir:  filepath.Join(base, "cni", "net.d"),
		NetNSDir: filepath.Join(base, "netns"),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ipamDir := filepath.Join(c.Config().DataDir, c.Config().NetworkName)
	_, podCIDR, _ := net.ParseCIDR(DefaultPodCIDR)
	gateway := "10.88.0.1"

	podA := runtime.PodNetwork{UID: uuid.NewUUID(), Name: "a", Namespace: "default",
		PortMappings: []runtime.PortMapping{{HostPort: 18080, ContainerPort: 8080, Protocol: "tcp"}}}
	podB := runtime.PodNetwork{UID: uuid.NewUUID(), Name: "b", Namespace: "default",
		PortMappings: []runtime.PortMapping{{HostPort: 18081, ContainerPort: 8080, Protocol: "tcp"}}}
	// Whatever happens, leave no namespace mounted under the temp dir.
	t.Cleanup(func() {
		for _, p := range []runtime.PodNetwork{podA, podB} {
			_ = c.Teardown(context.Background(), p, "")
		}
	})

	setup := func(p runtime.PodNetwork) (string, string) {
		t.Helper()
		path, ips, err := c.Setup(ctx, p)
		if err != nil {
			t.Fatalf("Setup %s: %v", p.Name, err)
		}
		if path != c.NetNSPath(p.UID) || !isNetNS(path) {
			t.Fatalf("Setup %s: netns %q is not a pinned namespace at %q", p.Name, path, c.NetNSPath(p.UID))
		}
		if len(ips) != 1 || !podCIDR.Contains(net.ParseIP(ips[0])) || ips[0] == gateway {
			t.Fatalf("Setup %s: IPs %v, want one pod IP in %s", p.Name, ips, podCIDR)
		}
		if got := reservations(t, ipamDir, p.UID); len(got) != 1 || got[0] != ips[0] {
			t.Fatalf("Setup %s: host-local reservations %v, want [%s]", p.Name, got, ips[0])
		}
		return path, ips[0]
	}

	start := time.Now()
	pathA, ipA := setup(podA)
	pathB, ipB := setup(podB)
	t.Logf("two pods attached in %v: a=%s b=%s", time.Since(start), ipA, ipB)
	if ipA == ipB {
		t.Fatalf("pods got the same IP %s", ipA)
	}
	serveIn(t, pathA, 8080, "pod-a")
	serveIn(t, pathB, 8080, "pod-b")

	hostIP, err := c.HostIP()
	if err != nil || hostIP != testNodeIP {
		t.Errorf("HostIP = %q, %v; want %s (source of the default route)", hostIP, err, testNodeIP)
	}

	t.Run("node reaches pods", func(t *testing.T) {
		expectReply(t, "", net.JoinHostPort(ipA, "8080"), "pod-a")
		expectReply(t, "", net.JoinHostPort(ipB, "8080"), "pod-b")
	})
	t.Run("pod to pod", func(t *testing.T) {
		expectReply(t, pathB, net.JoinHostPort(ipA, "8080"), "pod-a")
		expectReply(t, pathA, net.JoinHostPort(ipB, "8080"), "pod-b")
	})
	t.Run("pod loopback is up", func(t *testing.T) {
		expectReply(t, pathA, "127.0.0.1:8080", "pod-a")
	})
	t.Run("hostPort", func(t *testing.T) {
		for _, host := range []string{testNodeIP, gateway, "127.0.0.1"} {
			expectReply(t, "", net.JoinHostPort(host, "18080"), "pod-a")
			expectReply(t, "", net.JoinHostPort(host, "18081"), "pod-b")
		}
		// A pod reaches another pod's hostPort on the node's IP.
		expectReply(t, pathB, net.JoinHostPort(testNodeIP, "18080"), "pod-a")
	})

	t.Run("teardown frees everything", func(t *testing.T) {
		if len(portmapLines(t, podA.UID)) == 0 || len(iptablesLines(t, string(podA.UID))) == 0 {
			t.Fatalf("no iptables rules for pod a before Teardown; the check below would prove nothing")
		}
		if err := c.Teardown(ctx, podA, pathA); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		if _, err := os.Lstat(pathA); !os.IsNotExist(err) {
			t.Errorf("netns file %s still there (err %v)", pathA, err)
		}
		if got := reservations(t, ipamDir, podA.UID); len(got) != 0 {
			t.Errorf("host-local still holds %v for pod a", got)
		}
		if got := iptablesLines(t, string(podA.UID)); len(got) != 0 {
			t.Errorf("iptables still mention pod a:\n%s", strings.Join(got, "\n"))
		}
		if _, err := dial("", "127.0.0.1:18080"); err == nil {
			t.Errorf("hostPort 18080 still answers after Teardown")
		}
		expectReply(t, "", "127.0.0.1:18081", "pod-b") // the other pod is untouched
		if err := c.Teardown(ctx, podA, pathA); err != nil {
			t.Errorf("second Teardown: %v", err)
		}
	})

	t.Run("teardown by UID alone uses cached hostPorts", func(t *testing.T) {
		if err := c.Teardown(ctx, runtime.PodNetwork{UID: podB.UID}, ""); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		if got := iptablesLines(t, string(podB.UID)); len(got) != 0 {
			t.Errorf("iptables still mention pod b:\n%s", strings.Join(got, "\n"))
		}
		if got := reservations(t, ipamDir, podB.UID); len(got) != 0 {
			t.Errorf("host-local still holds %v for pod b", got)
		}
		if _, err := os.Lstat(pathB); !os.IsNotExist(err) {
			t.Errorf("netns file %s still there (err %v)", pathB, err)
		}
	})

	t.Run("setup after teardown", func(t *testing.T) {
		path, ip := setup(podA)
		serveIn(t, path, 8080, "pod-a again")
		expectReply(t, "", net.JoinHostPort(ip, "8080"), "pod-a again")
		expectReply(t, "", "127.0.0.1:18080", "pod-a again")
	})

	t.Run("setup over an existing namespace replaces it", func(t *testing.T) {
		// As after a kubelet restart that lost its record of the sandbox.
		path, ip := setup(podA) // setup checks exactly one reservation is left
		if n := len(portmapLines(t, podA.UID)); n == 0 {
			t.Errorf("no portmap rules after the second Setup")
		}
		serveIn(t, path, 8080, "pod-a replaced")
		expectReply(t, "", net.JoinHostPort(ip, "8080"), "pod-a replaced")
		expectReply(t, "", "127.0.0.1:18080", "pod-a replaced")
	})

	t.Run("teardown of a vanished namespace still frees the IP and hostPorts", func(t *testing.T) {
		path := c.NetNSPath(podA.UID)
		if err := removeNetNS(path); err != nil { // gone behind our back (or a reboot)
			t.Fatal(err)
		}
		if err := c.Teardown(ctx, podA, path); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		if got := reservations(t, ipamDir, podA.UID); len(got) != 0 {
			t.Errorf("host-local still holds %v for pod a", got)
		}
		// portmap's chains, and the bridge plugin's masquerade chain it cannot find without
		// the namespace (Teardown drops that one itself).
		if got := iptablesLines(t, string(podA.UID)); len(got) != 0 {
			t.Errorf("iptables still mention pod a:\n%s", strings.Join(got, "\n"))
		}
	})

	t.Run("teardown of a pod never set up", func(t *testing.T) {
		if err := c.Teardown(ctx, runtime.PodNetwork{UID: uuid.NewUUID()}, ""); err != nil {
			t.Errorf("Teardown: %v", err)
		}
	})
}

func TestHostIPFallbacks(t *testing.T) {
	requirePrivateNetNS(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "lo-only")
	if err := createNetNS(path); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := removeNetNS(path); err != nil {
			t.Error(err)
		}
	}()
	c := &CNI{cfg: Config{BridgeName: DefaultBridgeName}}
	var got string
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		var err error
		got, err = c.HostIP()
		return err
	})
	if err != nil || got != "127.0.0.1" {
		t.Errorf("HostIP in a namespace with only lo = %q, %v; want 127.0.0.1", got, err)
	}

	// An interface address but no default route: that address.
	err = ns.WithNetNSPath(path, func(ns.NetNS) error {
		for _, args := range [][]string{
			{"link", "add", "x0", "type", "veth", "peer", "name", "x1"},
			{"link", "set", "x0", "up"}, {"link", "set", "x1", "up"},
			{"addr", "add", "198.51.100.7/24", "dev", "x0"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %v: %v: %s", args, err, out)
			}
		}
		got, err = c.HostIP()
		return err
	})
	if err != nil || got != "198.51.100.7" {
		t.Errorf("HostIP without a default route = %q, %v; want 198.51.100.7", got, err)
	}
}

// Pod workers run in parallel: concurrent Setups get distinct IPs and concurrent Teardowns
// leave nothing behind.
func TestConcurrentPods(t *testing.T) {
	requirePrivateNetNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := t.TempDir()
	c, err := New(Config{
		ConfDir:    filepath.Join(base, "cni", "net.d"),
		NetNSDir:   filepath.Join(base, "netns"),
		PodCIDR:    "10.99.0.0/24",
		BridgeName: "kstest0",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const n = 6
	pods := make([]runtime.PodNetwork, n)
	for i := range pods {
		pods[i] = runtime.PodNetwork{UID: uuid.NewUUID(), Name: fmt.Sprintf("p%d", i), Namespace: "ns",
			PortMappings: []runtime.PortMapping{{HostPort: int32(19000 + i), ContainerPort: 80, Protocol: "tcp"}}}
	}
	t.Cleanup(func() {
		for _, p := range pods {
			_ = c.Teardown(context.Background(), p, "")
		}
	})
	type res struct {
		i    int
		path string
		ips  []string
		err  error
	}
	ch := make(chan res, n)
	for i, p := range pods {
		go func() {
			path, ips, err := c.Setup(ctx, p)
			ch <- res{i, path, ips, err}
		}()
	}
	seen := map[string]int{}
	paths := make([]string, n)
	for range n {
		r := <-ch
		if r.err != nil {
			t.Fatalf("Setup %d: %v", r.i, r.err)
		}
		if j, dup := seen[r.ips[0]]; dup {
			t.Fatalf("pods %d and %d both got %s", j, r.i, r.ips[0])
		}
		seen[r.ips[0]] = r.i
		paths[r.i] = r.path
	}
	for i, p := range paths {
		serveIn(t, p, 80, pods[i].Name)
	}
	for i := range pods {
		expectReply(t, "", fmt.Sprintf("127.0.0.1:%d", 19000+i), pods[i].Name)
	}

	errs := make(chan error, n)
	for i, p := range pods {
		go func() { errs <- c.Teardown(ctx, p, paths[i]) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Teardown: %v", err)
		}
	}
	ipamDir := filepath.Join(c.Config().DataDir, c.Config().NetworkName)
	for _, p := range pods {
		if got := reservations(t, ipamDir, p.UID); len(got) != 0 {
			t.Errorf("pod %s still holds %v", p.Name, got)
		}
		if got := iptablesLines(t, string(p.UID)); len(got) != 0 {
			t.Errorf("iptables still mention pod %s:\n%s", p.Name, strings.Join(got, "\n"))
		}
	}
	if entries, _ := os.ReadDir(c.Config().NetNSDir); len(entries) != 0 {
		t.Errorf("netns dir not empty: %v", entries)
	}
}
