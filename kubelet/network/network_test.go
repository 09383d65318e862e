package network

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gocni "github.com/containerd/go-cni"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

func TestParsePodCIDRs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "10.88.0.0/16", want: []string{"10.88.0.0/16"}},
		{in: " 10.244.1.0/24 ", want: []string{"10.244.1.0/24"}},
		{in: "fd88::/64,10.88.0.0/16", want: []string{"10.88.0.0/16", "fd88::/64"}},
		{in: "10.88.0.1/16", wantErr: "host bits set"},
		{in: "10.88.0.0/31", wantErr: "too small"},
		{in: "10.88.0.0/16,10.89.0.0/16", wantErr: "one subnet per IP family"},
		{in: "banana", wantErr: "invalid pod CIDR"},
		{in: ",", wantErr: "no subnet"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePodCIDRs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePodCIDRs(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePodCIDRs(%q): %v", tt.in, err)
			}
			var s []string
			for _, n := range got {
				s = append(s, n.String())
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Fatalf("parsePodCIDRs(%q) = %v, want %v", tt.in, s, tt.want)
			}
		})
	}
}

// fakeBinDir makes a directory with executable stand-ins for the required plugins; New only
// checks they are there (no plugin runs until Setup).
func fakeBinDir(t *testing.T, plugins ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range plugins {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewWritesConfList(t *testing.T) {
	bin := fakeBinDir(t, requiredPlugins...)
	incomplete := fakeBinDir(t, "bridge", "loopback")
	tests := []struct {
		name       string
		cfg        Config
		wantErr    string
		wantSubnet []string
		wantRoutes []string
		wantBridge string
		wantName   string
	}{{
		name:       "defaults",
		cfg:        Config{BinDirs: []string{incomplete, bin}},
		wantSubnet: []string{"10.88.0.0/16"},
		wantRoutes: []string{"0.0.0.0/0"},
		wantBridge: "kubeshim0",
		wantName:   "kubeshim",
	}, {
		name:       "custom dual-stack",
		cfg:        Config{BinDirs: []string{bin}, PodCIDR: "10.244.0.0/24,fd00:10::/64", BridgeName: "br-test", NetworkName: "testnet"},
		wantSubnet: []string{"10.244.0.0/24", "fd00:10::/64"},
		wantRoutes: []string{"0.0.0.0/0", "::/0"},
		wantBridge: "br-test",
		wantName:   "testnet",
	}, {
		name:    "no plugins",
		cfg:     Config{BinDirs: []string{incomplete}},
		wantErr: "lacks host-local, portmap",
	}, {
		name:    "bad cidr",
		cfg:     Config{BinDirs: []string{bin}, PodCIDR: "10.88.0.0/33"},
		wantErr: "invalid pod CIDR",
	}, {
		name:    "bridge name too long",
		cfg:     Config{BinDirs: []string{bin}, BridgeName: "a-very-long-bridge-name"},
		wantErr: "invalid bridge name",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			tt.cfg.ConfDir = filepath.Join(base, "cni", "net.d")
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := c.PluginDir(); got != bin {
				t.Errorf("PluginDir = %q, want %q (first complete dir)", got, bin)
			}
			wantData := filepath.Join(base, "cni", "ipam")
			if got := c.Config().DataDir; got != wantData {
				t.Errorf("DataDir = %q, want %q", got, wantData)
			}
			if got := c.NetNSPath("uid-1"); got != filepath.Join(DefaultNetNSDir, "uid-1") {
				t.Errorf("NetNSPath = %q", got)
			}
			raw, err := os.ReadFile(filepath.Join(tt.cfg.ConfDir, ConfListName))
			if err != nil {
				t.Fatal(err)
			}
			var cl struct {
				CNIVersion string `json:"cniVersion"`
				Name       string `json:"name"`
				Plugins    []struct {
					Type         string          `json:"type"`
					Bridge       string          `json:"bridge"`
					IsGateway    bool            `json:"isGateway"`
					IPMasq       bool            `json:"ipMasq"`
					HairpinMode  bool            `json:"hairpinMode"`
					Capabilities map[string]bool `json:"capabilities"`
					SNAT         *bool           `json:"snat"`
					IPAM         struct {
						Type    string `json:"type"`
						DataDir string `json:"dataDir"`
						Ranges  [][]struct {
							Subnet string `json:"subnet"`
						} `json:"ranges"`
						Routes []struct {
							Dst string `json:"dst"`
						} `json:"routes"`
					} `json:"ipam"`
				} `json:"plugins"`
			}
			if err := json.Unmarshal(raw, &cl); err != nil {
				t.Fatalf("conflist is not JSON: %v\n%s", err, raw)
			}
			if cl.Name != tt.wantName || cl.CNIVersion != cniVersion || len(cl.Plugins) != 2 {
				t.Fatalf("conflist header/plugins wrong:\n%s", raw)
			}
			br, pm := cl.Plugins[0], cl.Plugins[1]
			if br.Type != "bridge" || br.Bridge != tt.wantBridge || !br.IsGateway || !br.IPMasq || !br.HairpinMode {
				t.Errorf("bridge plugin wrong: %+v", br)
			}
			if br.IPAM.Type != "host-local" || br.IPAM.DataDir != wantData {
				t.Errorf("ipam wrong: %+v", br.IPAM)
			}
			var subnets, routes []string
			for _, r := range br.IPAM.Ranges {
				for _, rr := range r {
					subnets = append(subnets, rr.Subnet)
				}
			}
			for _, r := range br.IPAM.Routes {
				routes = append(routes, r.Dst)
			}
			if !reflect.DeepEqual(subnets, tt.wantSubnet) || !reflect.DeepEqual(routes, tt.wantRoutes) {
				t.Errorf("ranges %v routes %v, want %v %v", subnets, routes, tt.wantSubnet, tt.wantRoutes)
			}
			if pm.Type != "portmap" || !pm.Capabilities["portMappings"] || pm.SNAT == nil || !*pm.SNAT {
				t.Errorf("portmap plugin wrong: %+v", pm)
			}
			// go-cni loaded the conflist as eth0 and its own loopback as lo.
			gc := c.cni.GetConfig()
			if len(gc.Networks) != 2 || gc.Networks[0].IFName != "eth0" || gc.Networks[0].Config.Name != tt.wantName ||
				gc.Networks[1].IFName != "lo" {
				t.Errorf("go-cni networks wrong: %+v", gc.Networks)
			}
			// New is repeatable: a second New over the same dirs works.
			if _, err := New(tt.cfg); err != nil {
				t.Errorf("second New: %v", err)
			}
		})
	}
}

func TestToCNIPortMappings(t *testing.T) {
	in := []runtime.PortMapping{
		{HostPort: 4194, ContainerPort: 8080, Protocol: "tcp"},
		{HostPort: 53, ContainerPort: 5353, Protocol: "UDP", HostIP: "127.0.0.1"},
		{HostPort: 8443, ContainerPort: 443},
		{HostPort: 0, ContainerPort: 80, Protocol: "tcp"},
	}
	want := []gocni.PortMapping{
		{HostPort: 4194, ContainerPort: 8080, Protocol: "tcp"},
		{HostPort: 53, ContainerPort: 5353, Protocol: "udp", HostIP: "127.0.0.1"},
		{HostPort: 8443, ContainerPort: 443, Protocol: "tcp"},
	}
	if got := toCNIPortMappings(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("toCNIPortMappings = %+v, want %+v", got, want)
	}
	if got := toCNIPortMappings(nil); got != nil {
		t.Fatalf("toCNIPortMappings(nil) = %+v, want nil", got)
	}
}

func TestResultIPs(t *testing.T) {
	res := &gocni.Result{Interfaces: map[string]*gocni.Config{
		"eth0": {IPConfigs: []*gocni.IPConfig{
			{IP: net.ParseIP("fd88::5")},
			{IP: net.ParseIP("10.88.0.5")},
		}},
		"lo": {IPConfigs: []*gocni.IPConfig{{IP: net.ParseIP("127.0.0.1")}}},
	}}
	got, err := resultIPs(res)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.88.0.5", "fd88::5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resultIPs = %v, want %v (IPv4 first, eth0 only)", got, want)
	}
	if _, err := resultIPs(&gocni.Result{Interfaces: map[string]*gocni.Config{"eth0": {}}}); err == nil {
		t.Fatal("resultIPs without IPs: want an error")
	}
}

func TestValidUID(t *testing.T) {
	for _, tt := range []struct {
		uid types.UID
		ok  bool
	}{
		{"0b3c7a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"a\x00b", false},
	} {
		if err := validUID(tt.uid); (err == nil) != tt.ok {
			t.Errorf("validUID(%q) = %v, want ok=%v", tt.uid, err, tt.ok)
		}
	}
	c := &CNI{cfg: Config{NetNSDir: t.TempDir()}}
	if _, _, err := c.Setup(context.Background(), runtime.PodNetwork{UID: "../x"}); err == nil {
		t.Error("Setup with UID ../x: want an error")
	}
	if err := c.Teardown(context.Background(), runtime.PodNetwork{}, ""); err == nil {
		t.Error("Teardown without UID: want an error")
	}
}
