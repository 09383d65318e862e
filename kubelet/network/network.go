// Package network attaches pod network namespaces through CNI (github.com/containerd/go-cni):
// a Linux bridge with host-local IPAM, portmap for hostPorts, and loopback. It implements the
// kubelet's runtime.Network.
//
// Each pod gets a network namespace pinned (bind-mounted nsfs) at NetNSDir/<pod UID>; its CNI
// container ID is the pod UID, so host-local reservations, portmap's iptables chains and
// libcni's result cache (/var/lib/cni/results, go-cni has no option to move it) are all keyed
// by the pod UID.
//
// Reachability (checked by the tests, in a private network namespace):
//   - node ↔ pod IP, pod ↔ pod: the bridge is the pods' gateway (isGateway) and the bridge
//     plugin turns net.ipv4.ip_forward on; ipMasq masquerades pod traffic leaving the pod CIDR.
//   - hostPort: <nodeIP>:hostPort, <bridge gateway IP>:hostPort and 127.0.0.1:hostPort from the
//     node reach the pod's containerPort (portmap with snat sets route_localnet on the bridge
//     and masquerades connections from localhost). portmap uses `iptables` from PATH (the
//     nf_tables backend of Debian's iptables works).
package network

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/sasha-s/go-deadlock"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

func init() {
	// go-cni guards its state with github.com/sasha-s/go-deadlock. Its detector tells
	// goroutines apart by their ids; where it cannot (they all read as 0, as seen under -race)
	// it takes two pods set up at once for a recursive lock and exits the process. Plain
	// mutexes are what kubeshim wants.
	deadlock.Opts.Disable = true
}

// Defaults of Config.
const (
	DefaultPodCIDR     = "10.88.0.0/16"
	DefaultBridgeName  = "kubeshim0"
	DefaultNetworkName = "kubeshim"
	DefaultNetNSDir    = "/run/kubeshim/netns"
	// ConfListName is the file kubeshim writes in Config.ConfDir.
	ConfListName = "10-kubeshim.conflist"
	// ifName is the pod's interface; go-cni names the first conflist's interface eth0.
	ifName = "eth0"
)

// DefaultBinDirs are searched, in order, for the CNI plugins when Config.BinDirs is empty.
var DefaultBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// requiredPlugins are the CNI plugins kubeshim's conflist (and go-cni's loopback) use.
var requiredPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// Config configures the pod network.
type Config struct {
	// ConfDir is where kubeshim writes its own conflist (e.g. DATA/cni/net.d). Required.
	ConfDir string
	// BinDirs are searched for the CNI plugins; the first that has them all is used.
	// Default DefaultBinDirs.
	BinDirs []string
	// NetNSDir is where pod network namespaces are bind-mounted, one file per pod UID.
	// Default DefaultNetNSDir.
	NetNSDir string
	// PodCIDR is the pods' subnet: "10.88.0.0/16" by default; "V4CIDR,V6CIDR" for dual-stack.
	PodCIDR string
	// BridgeName is the Linux bridge the pods attach to. Default "kubeshim0".
	BridgeName string
	// DataDir is host-local's IPAM state directory. Default ConfDir/../ipam.
	DataDir string
	// NetworkName is the CNI network's name. Default "kubeshim".
	NetworkName string
}

// CNI is the pod network. It is safe for concurrent use; calls for one pod must not overlap.
type CNI struct {
	cfg      Config
	binDir   string
	confPath string
	subnets  []*net.IPNet
	cni      gocni.CNI
	// lib and list read libcni's result cache (the port mappings an earlier Setup used).
	lib  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

var _ runtime.Network = (*CNI)(nil)

// New writes kubeshim's conflist into cfg.ConfDir and loads it, with go-cni's loopback.
func New(cfg Config) (*CNI, error) {
	if cfg.ConfDir == "" {
		return nil, errors.New("network: ConfDir is required")
	}
	if len(cfg.BinDirs) == 0 {
		cfg.BinDirs = DefaultBinDirs
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if cfg.BridgeName == "" {
		cfg.BridgeName = DefaultBridgeName
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.ConfDir)), "ipam")
	}
	if cfg.NetworkName == "" {
		cfg.NetworkName = DefaultNetworkName
	}
	if len(cfg.BridgeName) > 15 || strings.ContainsAny(cfg.BridgeName, "/ ") {
		return nil, fmt.Errorf("network: invalid bridge name %q (at most 15 characters, no '/' or spaces)", cfg.BridgeName)
	}
	subnets, err := parsePodCIDRs(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	binDir, err := findBinDir(cfg.BinDirs)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}

	conf, err := buildConfList(cfg.NetworkName, cfg.BridgeName, cfg.DataDir, subnets)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	confPath := filepath.Join(cfg.ConfDir, ConfListName)
	if err := writeFileAtomic(confPath, conf); err != nil {
		return nil, fmt.Errorf("network: write conflist: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("network: create IPAM dir: %w", err)
	}

	c, err := gocni.New(
		gocni.WithPluginDir([]string{binDir}),
		gocni.WithPluginConfDir(cfg.ConfDir),
		gocni.WithInterfacePrefix("eth"),
		gocni.WithMinNetworkCount(2),
	)
	if err != nil {
		return nil, fmt.Errorf("network: init go-cni: %w", err)
	}
	// The conflist first, so its interface is eth0; then go-cni's loopback (brings lo up).
	if err := c.Load(gocni.WithConfListFile(confPath), gocni.WithLoNetwork); err != nil {
		return nil, fmt.Errorf("network: load %s: %w", confPath, err)
	}
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return nil, fmt.Errorf("network: parse conflist: %w", err)
	}
	klog.InfoS("Pod network configured", "conflist", confPath, "pluginDir", binDir,
		"podCIDR", cfg.PodCIDR, "bridge", cfg.BridgeName, "netnsDir", cfg.NetNSDir)
	return &CNI{
		cfg:      cfg,
		binDir:   binDir,
		confPath: confPath,
		subnets:  subnets,
		cni:      c,
		lib:      libcni.NewCNIConfig([]string{binDir}, nil),
		list:     list,
	}, nil
}

// Config returns the configuration with its defaults filled in.
func (c *CNI) Config() Config { return c.cfg }

// ConfListPath is the conflist New wrote.
func (c *CNI) ConfListPath() string { return c.confPath }

// PluginDir is the directory the CNI plugins run from.
func (c *CNI) PluginDir() string { return c.binDir }

// NetNSPath is where the network namespace of the pod with uid is (or would be) pinned.
func (c *CNI) NetNSPath(uid types.UID) string {
	return filepath.Join(c.cfg.NetNSDir, string(uid))
}

// Setup creates the pod's network namespace at NetNSPath(pod.UID), attaches it (eth0 on the
// bridge, lo up, hostPorts mapped) and returns its path and IPs, IPv4 first.
//
// When a namespace already exists for pod.UID (a kubelet restarted between Setup and recording
// the sandbox, or a retried Setup), the old attachment is torn down first (CNI DEL: IP freed,
// portmap rules dropped; namespace unmounted) and a fresh one made: Setup never reuses, so the
// pod may get a different IP. Callers that want to keep a running sandbox must not call Setup
// again for it.
func (c *CNI) Setup(ctx context.Context, pod runtime.PodNetwork) (string, []string, error) {
	if err := validUID(pod.UID); err != nil {
		return "", nil, err
	}
	path := c.NetNSPath(pod.UID)
	if _, err := os.Lstat(path); err == nil {
		klog.InfoS("Pod network namespace exists; tearing it down before setting up anew",
			"pod", klog.KRef(pod.Namespace, pod.Name), "podUID", pod.UID, "netns", path)
		if err := c.Teardown(ctx, pod, path); err != nil {
			return "", nil, fmt.Errorf("tear down stale network of pod %s: %w", pod.UID, err)
		}
	}

	start := time.Now()
	if err := createNetNS(path); err != nil {
		return "", nil, fmt.Errorf("network namespace of pod %s: %w", pod.UID, err)
	}
	res, err := c.cni.Setup(ctx, string(pod.UID), path, c.namespaceOpts(pod, toCNIPortMappings(pod.PortMappings))...)
	if err == nil {
		var ips []string
		ips, err = resultIPs(res)
		if err == nil {
			klog.V(2).InfoS("Pod network attached", "pod", klog.KRef(pod.Namespace, pod.Name),
				"podUID", pod.UID, "netns", path, "ips", ips, "duration", time.Since(start))
			return path, ips, nil
		}
	}
	// Undo what was done: the attachment may be partial (IP reserved, rules added).
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if terr := c.Teardown(cleanupCtx, pod, path); terr != nil {
		klog.ErrorS(terr, "Cleaning up a failed pod network setup", "podUID", pod.UID, "netns", path)
	}
	return "", nil, fmt.Errorf("attach network of pod %s: %w", pod.UID, err)
}

// Teardown detaches the pod's network (CNI DEL: host-local frees its IPs, portmap drops its
// iptables rules, the veth goes) and unmounts and removes the namespace file. netnsPath ""
// means NetNSPath(pod.UID). pod.PortMappings may be empty: the hostPorts the last Setup used
// are read from libcni's cache.
//
// A namespace that is gone (or a file that no longer pins one, e.g. after a reboot) is
// detached with an empty netns path, which still frees the IP and the hostPort rules; the
// bridge plugin's per-pod masquerade rule, which the plugin can only find from inside the
// namespace, Teardown removes itself (pod IP from libcni's cache).
//
// Teardown is idempotent; when CNI DEL fails the namespace is kept so a retry can finish.
func (c *CNI) Teardown(ctx context.Context, pod runtime.PodNetwork, netnsPath string) error {
	if err := validUID(pod.UID); err != nil {
		return err
	}
	path := netnsPath
	if path == "" {
		path = c.NetNSPath(pod.UID)
	}
	delPath := path
	if !isNetNS(path) {
		delPath = ""
	}
	mappings := toCNIPortMappings(pod.PortMappings)
	if len(mappings) == 0 {
		mappings = c.cachedPortMappings(pod.UID)
	}
	var orphanIPs []net.IP
	if delPath == "" {
		// Read before DEL drops libcni's cache.
		orphanIPs = c.cachedIPs(pod.UID)
	}
	if err := c.cni.Remove(ctx, string(pod.UID), delPath, c.namespaceOpts(pod, mappings)...); err != nil {
		return fmt.Errorf("detach network of pod %s (netns %q): %w", pod.UID, delPath, err)
	}
	if len(orphanIPs) > 0 {
		c.removeMasqRules(ctx, pod.UID, orphanIPs)
	}
	if err := removeNetNS(path); err != nil {
		return fmt.Errorf("remove network namespace of pod %s: %w", pod.UID, err)
	}
	klog.V(2).InfoS("Pod network detached", "pod", klog.KRef(pod.Namespace, pod.Name),
		"podUID", pod.UID, "netns", path)
	return nil
}

// namespaceOpts are the CNI arguments of a pod: the labels upstream's runtimes pass (the
// bridge and portmap plugins ignore them) and its hostPorts.
func (c *CNI) namespaceOpts(pod runtime.PodNetwork, mappings []gocni.PortMapping) []gocni.NamespaceOpts {
	opts := []gocni.NamespaceOpts{gocni.WithLabels(map[string]string{
		"IgnoreUnknown":              "1",
		"K8S_POD_NAMESPACE":          pod.Namespace,
		"K8S_POD_NAME":               pod.Name,
		"K8S_POD_INFRA_CONTAINER_ID": string(pod.UID),
		"K8S_POD_UID":                string(pod.UID),
	})}
	if len(mappings) > 0 {
		opts = append(opts, gocni.WithCapabilityPortMap(mappings))
	}
	return opts
}

// cachedPortMappings returns the hostPorts the last successful Setup of uid passed to CNI, from
// libcni's result cache; nil when there is none.
func (c *CNI) cachedPortMappings(uid types.UID) []gocni.PortMapping {
	_, rt, err := c.lib.GetNetworkListCachedConfig(c.list, &libcni.RuntimeConf{ContainerID: string(uid), IfName: ifName})
	if err != nil || rt == nil {
		if err != nil {
			klog.V(2).InfoS("Reading cached CNI config", "podUID", uid, "err", err)
		}
		return nil
	}
	raw, ok := rt.CapabilityArgs["portMappings"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var pms []gocni.PortMapping
	if err := json.Unmarshal(b, &pms); err != nil {
		klog.V(2).InfoS("Decoding cached port mappings", "podUID", uid, "err", err)
		return nil
	}
	return pms
}

// cachedIPs returns the pod IPs of the last successful Setup of uid, from libcni's cache.
func (c *CNI) cachedIPs(uid types.UID) []net.IP {
	res, err := c.lib.GetNetworkListCachedResult(c.list, &libcni.RuntimeConf{ContainerID: string(uid), IfName: ifName})
	if err != nil || res == nil {
		return nil
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, ipc := range r.IPs {
		ips = append(ips, ipc.Address.IP)
	}
	return ips
}

// removeMasqRules drops the bridge plugin's per-pod masquerade rule and chain (nat table) of a
// pod whose namespace vanished before CNI DEL: the plugin only removes them when it can read the
// pod's addresses from inside the namespace. The chain name and comment are the plugin's
// (plugins/pkg/utils: "CNI-" and the first 24 hex digits of sha512(network name + container
// ID)). Best effort: failures are logged.
func (c *CNI) removeMasqRules(ctx context.Context, uid types.UID, ips []net.IP) {
	sum := sha512.Sum512([]byte(c.cfg.NetworkName + string(uid)))
	chain := "CNI-" + hex.EncodeToString(sum[:])[:24]
	comment := fmt.Sprintf("name: %q id: %q", c.cfg.NetworkName, string(uid))
	run := func(bin string, args ...string) {
		if out, err := exec.CommandContext(ctx, bin, append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput(); err != nil {
			klog.V(2).InfoS("Removing masquerade rule of a vanished pod network", "podUID", uid,
				"cmd", bin+" "+strings.Join(args, " "), "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
	used := map[string]bool{}
	for _, ip := range ips {
		bin, cidr := "iptables", ip.String()+"/32"
		if ip.To4() == nil {
			bin, cidr = "ip6tables", ip.String()+"/128"
		}
		used[bin] = true
		run(bin, "-D", "POSTROUTING", "-s", cidr, "-m", "comment", "--comment", comment, "-j", chain)
	}
	for bin := range used {
		run(bin, "-F", chain)
		run(bin, "-X", chain)
	}
}

// HostIP returns the node's primary IPv4 address: the source address of the default route;
// without one, the first IPv4 address of an up, non-loopback interface other than the pod
// bridge and veths; without any (a network namespace with only lo), 127.0.0.1.
func (c *CNI) HostIP() (string, error) {
	if ip := defaultRouteSource(); ip != nil {
		return ip.String(), nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list network interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
			ifc.Name == c.cfg.BridgeName || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4.IsGlobalUnicast() {
				return ip4.String(), nil
			}
		}
	}
	return "127.0.0.1", nil
}

// defaultRouteSource asks the kernel which source address it would use towards a public
// address (a UDP "connect" sends nothing); nil when there is no default route.
func defaultRouteSource() net.IP {
	conn, err := net.Dial("udp4", "8.8.8.8:53")
	if err != nil {
		return nil
	}
	defer func() { _ = conn.Close() }()
	addr, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || addr.IP.IsLoopback() || addr.IP.IsUnspecified() {
		return nil
	}
	return addr.IP.To4()
}

// resultIPs returns the IPs CNI gave eth0, IPv4 first.
func resultIPs(res *gocni.Result) ([]string, error) {
	cfg, ok := res.Interfaces[ifName]
	if !ok || len(cfg.IPConfigs) == 0 {
		return nil, fmt.Errorf("CNI result has no IP for %s", ifName)
	}
	var v4, v6 []string
	for _, ipc := range cfg.IPConfigs {
		if ipc.IP.To4() != nil {
			v4 = append(v4, ipc.IP.String())
		} else {
			v6 = append(v6, ipc.IP.String())
		}
	}
	return append(v4, v6...), nil
}

func toCNIPortMappings(pms []runtime.PortMapping) []gocni.PortMapping {
	var out []gocni.PortMapping
	for _, pm := range pms {
		if pm.HostPort <= 0 {
			continue
		}
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, gocni.PortMapping{
			HostPort:      pm.HostPort,
			ContainerPort: pm.ContainerPort,
			Protocol:      proto,
			HostIP:        pm.HostIP,
		})
	}
	return out
}

// validUID rejects UIDs that cannot name a file in NetNSDir.
func validUID(uid types.UID) error {
	s := string(uid)
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid pod UID %q", s)
	}
	return nil
}

// findBinDir returns the first of dirs that holds every required plugin.
func findBinDir(dirs []string) (string, error) {
	var problems []string
	for _, d := range dirs {
		var missing []string
		for _, p := range requiredPlugins {
			fi, err := os.Stat(filepath.Join(d, p))
			if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return d, nil
		}
		problems = append(problems, fmt.Sprintf("%s lacks %s", d, strings.Join(missing, ", ")))
	}
	return "", fmt.Errorf("no CNI plugin directory has %s (%s); install containernetworking-plugins",
		strings.Join(requiredPlugins, ", "), strings.Join(problems, "; "))
}

// writeFileAtomic writes data to path through a temporary file and a rename, so go-cni never
// reads a half-written conflist.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && slices.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
