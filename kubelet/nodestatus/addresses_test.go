package nodestatus

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDefaultAddresses(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host = strings.ToLower(host)
	tests := []struct {
		name      string
		preferred []string
		wantIP    string // "" = any valid IP
		wantErr   bool
	}{
		{name: "preferred", preferred: []string{"10.88.0.1"}, wantIP: "10.88.0.1"},
		{name: "empty preferred skipped", preferred: []string{"", "192.0.2.7"}, wantIP: "192.0.2.7"},
		{name: "ipv6 preferred normalised", preferred: []string{"fd00:0::1"}, wantIP: "fd00::1"},
		{name: "invalid preferred", preferred: []string{"not-an-ip"}, wantErr: true},
		{name: "chosen from the host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultAddresses(tt.preferred...)
			if tt.wantErr {
				if err == nil {
					t.Errorf("DefaultAddresses(%v) = %v, want an error", tt.preferred, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Type != corev1.NodeInternalIP || got[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: host}) {
				t.Fatalf("addresses = %v", got)
			}
			if net.ParseIP(got[0].Address) == nil || (tt.wantIP != "" && got[0].Address != tt.wantIP) {
				t.Errorf("InternalIP = %q, want %q", got[0].Address, tt.wantIP)
			}
		})
	}
}

// TestDefaultAddressesInPrivateNetns re-runs itself under `unshare --net`: with only a loopback
// the InternalIP is 127.0.0.1; once a pod bridge is up, its address is chosen. The namespace
// goes away with the child process.
func TestDefaultAddressesInPrivateNetns(t *testing.T) {
	if os.Getenv("NODESTATUS_NETNS_CHILD") == "1" {
		addrs, err := DefaultAddresses()
		if err != nil || addrs[0].Address != "127.0.0.1" {
			t.Fatalf("only loopback: %v, %v; want 127.0.0.1", addrs, err)
		}
		for _, args := range [][]string{
			{"link", "add", "kstest0", "type", "bridge"},
			{"addr", "add", "10.88.0.1/16", "dev", "kstest0"},
			{"link", "set", "kstest0", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v: %s", args, err, out)
			}
		}
		addrs, err = DefaultAddresses()
		if err != nil || addrs[0].Address != "10.88.0.1" {
			t.Fatalf("with a bridge: %v, %v; want 10.88.0.1", addrs, err)
		}
		return
	}
	skip := func(reason string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	if os.Geteuid() != 0 {
		skip("needs root for unshare --net")
	}
	for _, bin := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(bin + " not found")
		}
	}
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestDefaultAddressesInPrivateNetns$", "-test.v")
	cmd.Env = append(os.Environ(), "NODESTATUS_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child in a private netns: %v\n%s", err, out)
	}
}
