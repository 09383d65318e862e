package nodestatus

import (
	"fmt"
	"net"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/klog/v2"
)

// DefaultAddresses returns the Node's addresses: InternalIP and Hostname (os.Hostname, lower
// case, as upstream). The InternalIP is the first non-empty preferredIP if one is given (e.g.
// the pod bridge's gateway in a private network namespace); otherwise the address of the
// default route's interface (apimachinery's ChooseHostInterface, as upstream's kubelet), or
// the first global unicast address (IPv4 first) of an up non-loopback interface when there is
// no default route; 127.0.0.1 if there is none.
func DefaultAddresses(preferredIP ...string) ([]corev1.NodeAddress, error) {
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("node addresses: hostname: %w", err)
	}
	hostname = strings.ToLower(strings.TrimSpace(hostname))

	var ip string
	for _, p := range preferredIP {
		if p == "" {
			continue
		}
		parsed := net.ParseIP(p)
		if parsed == nil {
			return nil, fmt.Errorf("node addresses: preferred IP %q is not an IP address", p)
		}
		ip = parsed.String()
		break
	}
	if ip == "" {
		if chosen, err := utilnet.ChooseHostInterface(); err == nil {
			ip = chosen.String()
		} else if chosen := firstInterfaceIP(); chosen != nil {
			klog.V(2).InfoS("No default route, using the first up interface's address", "ip", chosen, "err", err)
			ip = chosen.String()
		} else {
			klog.InfoS("No interface with a global unicast address, using the loopback address", "err", err)
			ip = "127.0.0.1"
		}
	}
	return []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: ip},
		{Type: corev1.NodeHostName, Address: hostname},
	}, nil
}

// firstInterfaceIP is the first global unicast IPv4 address of an up non-loopback interface,
// else the first such IPv6 address, else nil.
func firstInterfaceIP() net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok || !ipnet.IP.IsGlobalUnicast() {
				continue
			}
			if v4 := ipnet.IP.To4(); v4 != nil {
				return v4
			}
			if v6 == nil {
				v6 = ipnet.IP
			}
		}
	}
	return v6
}
