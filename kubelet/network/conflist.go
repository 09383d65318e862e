package network

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
)

// cniVersion is the CNI spec version of kubeshim's conflist. Debian's containernetworking-plugins
// (1.1.x) support up to 1.0.0.
const cniVersion = "1.0.0"

// The conflist kubeshim writes, as typed structs so the JSON is always well formed.
type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgeConf struct {
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge"`
	IsGateway   bool     `json:"isGateway"`
	IPMasq      bool     `json:"ipMasq"`
	HairpinMode bool     `json:"hairpinMode"`
	IPAM        ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string          `json:"type"`
	Ranges  [][]ipamRange   `json:"ranges"`
	Routes  []ipamRouteConf `json:"routes"`
	DataDir string          `json:"dataDir"`
}

type ipamRange struct {
	Subnet string `json:"subnet"`
}

type ipamRouteConf struct {
	Dst string `json:"dst"`
}

type portmapConf struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

// parsePodCIDRs parses a pod CIDR ("10.88.0.0/16", or a dual-stack "10.88.0.0/16,fd88::/64")
// into its subnets, IPv4 first. At most one subnet per family.
func parsePodCIDRs(s string) ([]*net.IPNet, error) {
	var v4, v6 []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ip, ipnet, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("invalid pod CIDR %q: %w", part, err)
		}
		if !ip.Equal(ipnet.IP) {
			return nil, fmt.Errorf("invalid pod CIDR %q: host bits set (did you mean %s?)", part, ipnet)
		}
		ones, bits := ipnet.Mask.Size()
		if bits-ones < 2 {
			return nil, fmt.Errorf("invalid pod CIDR %q: too small for a gateway and a pod", part)
		}
		if ip.To4() != nil {
			v4 = append(v4, ipnet)
		} else {
			v6 = append(v6, ipnet)
		}
	}
	if len(v4) > 1 || len(v6) > 1 {
		return nil, fmt.Errorf("invalid pod CIDR %q: at most one subnet per IP family", s)
	}
	all := append(v4, v6...)
	if len(all) == 0 {
		return nil, fmt.Errorf("invalid pod CIDR %q: no subnet", s)
	}
	return all, nil
}

// buildConfList renders kubeshim's conflist: a bridge with host-local IPAM, chained with portmap
// for hostPorts. Loopback is not in it: go-cni adds its own loopback network.
func buildConfList(name, bridge, dataDir string, subnets []*net.IPNet) ([]byte, error) {
	ipam := ipamConf{Type: "host-local", DataDir: dataDir}
	for _, sn := range subnets {
		ipam.Ranges = append(ipam.Ranges, []ipamRange{{Subnet: sn.String()}})
		dst := "0.0.0.0/0"
		if sn.IP.To4() == nil {
			dst = "::/0"
		}
		ipam.Routes = append(ipam.Routes, ipamRouteConf{Dst: dst})
	}
	cl := confList{
		CNIVersion: cniVersion,
		Name:       name,
		Plugins: []any{
			bridgeConf{
				Type:        "bridge",
				Bridge:      bridge,
				IsGateway:   true,
				IPMasq:      true,
				HairpinMode: true,
				IPAM:        ipam,
			},
			portmapConf{
				Type:         "portmap",
				Capabilities: map[string]bool{"portMappings": true},
				SNAT:         true,
			},
		},
	}
	b, err := json.MarshalIndent(cl, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render CNI conflist: %w", err)
	}
	return append(b, '\n'), nil
}
