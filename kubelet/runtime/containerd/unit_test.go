package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestContainerArgs(t *testing.T) {
	env := []string{"A=1", "B=two", "A=3"}
	cases := []struct {
		name                string
		entrypoint, cmd     []string
		command, args, want []string
		wantErr             bool
	}{
		{name: "image only", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, want: []string{"/ep", "c1"}},
		{name: "args replace cmd", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, args: []string{"a"}, want: []string{"/ep", "a"}},
		{name: "command drops cmd", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, command: []string{"/x"}, want: []string{"/x"}},
		{name: "command and args", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, command: []string{"/x"}, args: []string{"y"}, want: []string{"/x", "y"}},
		{name: "cmd only image", cmd: []string{"sh"}, want: []string{"sh"}},
		{name: "empty entrypoint string", entrypoint: []string{""}, cmd: []string{"sh"}, want: []string{"sh"}},
		{name: "expansion", command: []string{"echo", "$(A)", "$(B)x", "$$(A)", "$(C)", "$", "a$b", "$(unclosed"},
			want: []string{"echo", "3", "twox", "$(A)", "$(C)", "$", "a$b", "$(unclosed"}},
		{name: "args expanded", entrypoint: []string{"/ep"}, args: []string{"--b=$(B)"}, want: []string{"/ep", "--b=two"}},
		{name: "nothing", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerArgs(tc.entrypoint, tc.cmd, tc.command, tc.args, env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCPUConversions(t *testing.T) {
	for _, tc := range []struct {
		milli  int64
		shares uint64
		quota  int64
	}{{0, 2, 0}, {1, 2, 1000}, {100, 102, 10000}, {250, 256, 25000}, {1000, 1024, 100000}, {2500, 2560, 250000}, {1000000, 262144, 100000000}} {
		if s := milliCPUToShares(tc.milli); s != tc.shares {
			t.Errorf("shares(%d) = %d, want %d", tc.milli, s, tc.shares)
		}
		if q := milliCPUToQuota(tc.milli); q != tc.quota {
			t.Errorf("quota(%d) = %d, want %d", tc.milli, q, tc.quota)
		}
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "2024-01-02T03:04:05Z stdout F line %d\n", i)
	}
	b.WriteString("2024-01-02T03:04:05Z stdout P part-\n2024-01-02T03:04:05Z stdout F end\n")
	p := filepath.Join(dir, "0.log")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(p, 80, 2048)
	if !strings.HasPrefix(got, "line 21\n") || !strings.HasSuffix(got, "line 99\npart-end\n") {
		t.Errorf("tail = %q", got)
	}
	if got := logTail(p, 80, 20); got != "line 99\npart-end\n" && len(got) != 20 {
		t.Errorf("byte-limited tail = %q", got)
	}
	if got := logTail(filepath.Join(dir, "none"), 80, 2048); got != "" {
		t.Errorf("missing log tail = %q", got)
	}
}

func TestParseOOMKill(t *testing.T) {
	v1 := "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
	v2 := "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"
	if n := parseOOMKill([]byte(v1)); n != 2 {
		t.Errorf("v1: %d", n)
	}
	if n := parseOOMKill([]byte(v2)); n != 1 {
		t.Errorf("v2: %d", n)
	}
	if n := parseOOMKill([]byte("oom_kill_disable 0\n")); n != 0 {
		t.Errorf("none: %d", n)
	}
}

func TestIsNetworkError(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "registry-1.docker.io"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("resolve: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("resolve: %w", dns), true},
		{fmt.Errorf("wrapped: %w", syscall.ENETUNREACH), true},
		{errors.New("failed to do request: Head \"https://x/v2/\": dial tcp: lookup x: no such host"), true},
		{fmt.Errorf("pulling: %w", errdefs.ErrNotFound), false},
		{fmt.Errorf("pulling: %w", errdefs.ErrPermissionDenied), false},
		{errors.New("unexpected status code 500"), false},
		{nil, false},
	} {
		if got := IsNetworkError(tc.err); got != tc.want {
			t.Errorf("IsNetworkError(%v) = %v", tc.err, got)
		}
	}
}

func TestHostsAndResolvConf(t *testing.T) {
	dir := t.TempDir()
	oldResolv, oldHosts := hostResolvConf, hostHostsFile
	defer func() { hostResolvConf, hostHostsFile = oldResolv, oldHosts }()
	hostResolvConf, hostHostsFile = filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	_ = os.WriteFile(hostResolvConf, []byte("nameserver 192.0.2.1\nsearch lan"), 0o644)
	_ = os.WriteFile(hostHostsFile, []byte("127.0.0.1 localhost\n192.0.2.9 node1\n"), 0o644)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"},
		Spec: corev1.PodSpec{Hostname: "web", Subdomain: "svc1",
			HostAliases: []corev1.HostAlias{{IP: "192.0.2.5", Hostnames: []string{"a", "b"}}}}}
	hosts, err := hostsFileContent(pod, []string{"10.88.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"10.88.0.5\tweb.svc1.ns.svc.cluster.local\tweb\n\n# Entries added by HostAliases.\n192.0.2.5\ta\tb\n"
	if diff := cmp.Diff(want, string(hosts)); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	hostPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "h"}, Spec: corev1.PodSpec{HostNetwork: true}}
	hosts, _ = hostsFileContent(hostPod, nil)
	if string(hosts) != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.9 node1\n" {
		t.Errorf("host network hosts = %q", hosts)
	}

	resolv, _ := resolvConfContent(pod)
	if string(resolv) != "nameserver 192.0.2.1\nsearch lan\n" {
		t.Errorf("resolv = %q", resolv)
	}
	ndots := "2"
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.b", "c"},
		Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}}}
	resolv, _ = resolvConfContent(pod)
	if string(resolv) != "nameserver 1.1.1.1\nsearch a.b c\noptions ndots:2 edns0\n" {
		t.Errorf("dnsPolicy None resolv = %q", resolv)
	}
	long := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 62) + "-bcd"}}
	if h := podHostname(long); h != strings.Repeat("a", 62) {
		t.Errorf("hostname = %q", h)
	}
}

func TestSocketPathAndConfig(t *testing.T) {
	if p := SocketPath("/var/lib/kubeshim/containerd"); p != "/var/lib/kubeshim/containerd/containerd.sock" {
		t.Errorf("short: %s", p)
	}
	deep := "/" + strings.Repeat("d", 120)
	p := SocketPath(deep)
	if !strings.HasPrefix(p, "/run/kubeshim/") || len(p)+len(".ttrpc") > maxSocketPath || p != SocketPath(deep) {
		t.Errorf("long: %s", p)
	}
	toml := daemonConfigTOML("/d", "/d/containerd.sock")
	for _, want := range []string{"version = 2\n", `root = "/d/root"`, `state = "/d/state"`,
		`disabled_plugins = ["io.containerd.grpc.v1.cri"]`, "[grpc]\n  address = \"/d/containerd.sock\""} {
		if !strings.Contains(toml, want) {
			t.Errorf("config lacks %q:\n%s", want, toml)
		}
	}
}

func TestDaemonStartStop(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	d, err := StartDaemon(context.Background(), DaemonConfig{Dir: filepath.Join(t.TempDir(), "cd")})
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Pid()
	if pgid, _ := syscall.Getpgid(pid); pgid != pid {
		t.Errorf("containerd pgid %d, want its own group %d", pgid, pid)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("containerd %d still running after Stop", pid)
	}
}
