package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

const (
	sandboxFile  = "sandbox.json"
	hostsFile    = "etc-hosts"
	resolvFile   = "resolv.conf"
	hostnameFile = "hostname"
	// clusterDomain is used in the FQDN of pods with a subdomain.
	clusterDomain = "cluster.local"
)

// The host files a sandbox copies; variables so tests can point them elsewhere.
var (
	hostResolvConf = "/etc/resolv.conf"
	hostHostsFile  = "/etc/hosts"
)

// sandboxRecord is what sandbox.json holds.
type sandboxRecord struct {
	runtime.Sandbox
	HostNetwork bool   `json:"hostNetwork,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
}

func (r *Runtime) podDir(uid types.UID) string {
	return filepath.Join(r.cfg.RootDir, "pods", string(uid))
}

func (r *Runtime) loadSandbox(uid types.UID) (*sandboxRecord, error) {
	b, err := os.ReadFile(filepath.Join(r.podDir(uid), sandboxFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sandbox of pod %s: %w", uid, runtime.ErrNotFound)
		}
		return nil, err
	}
	var rec sandboxRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("sandbox of pod %s: %w", uid, err)
	}
	return &rec, nil
}

// RunSandbox makes the pod's directory, network namespace, hosts and resolv.conf files.
func (r *Runtime) RunSandbox(ctx context.Context, pod *corev1.Pod) (*runtime.Sandbox, error) {
	if pod.UID == "" {
		return nil, errors.New("run sandbox: pod has no UID")
	}
	defer r.lock("pod/" + string(pod.UID))()
	if rec, err := r.loadSandbox(pod.UID); err == nil {
		sb := rec.Sandbox
		return &sb, nil
	} else if !errors.Is(err, runtime.ErrNotFound) {
		return nil, err
	}
	dir := r.podDir(pod.UID)
	if err := os.MkdirAll(filepath.Join(dir, "containers"), 0o755); err != nil {
		return nil, fmt.Errorf("sandbox of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	rec := &sandboxRecord{
		Sandbox: runtime.Sandbox{
			PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace,
			CreatedAt: time.Now(), Dir: dir,
		},
		HostNetwork: pod.Spec.HostNetwork,
		Hostname:    podHostname(pod),
	}
	pn := runtime.PodNetworkFor(pod)
	if !pod.Spec.HostNetwork {
		if r.cfg.Network == nil {
			return nil, fmt.Errorf("sandbox of pod %s/%s: no pod network configured", pod.Namespace, pod.Name)
		}
		netns, ips, err := r.cfg.Network.Setup(ctx, pn)
		if err != nil {
			return nil, fmt.Errorf("setting up the network of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		rec.NetNSPath, rec.IPs = netns, ips
	}
	fail := func(err error) (*runtime.Sandbox, error) {
		if rec.NetNSPath != "" {
			if terr := r.cfg.Network.Teardown(ctx, pn, rec.NetNSPath); terr != nil {
				klog.ErrorS(terr, "Tearing down the network of a failed sandbox", "pod", klog.KObj(pod))
			}
		}
		return nil, fmt.Errorf("sandbox of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	hosts, err := hostsFileContent(pod, rec.IPs)
	if err != nil {
		return fail(err)
	}
	resolv, err := resolvConfContent(pod)
	if err != nil {
		return fail(err)
	}
	for name, content := range map[string][]byte{hostsFile: hosts, resolvFile: resolv, hostnameFile: []byte(rec.Hostname + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return fail(err)
		}
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, sandboxFile), b); err != nil {
		return fail(err)
	}
	klog.V(2).InfoS("Sandbox ready", "pod", klog.KObj(pod), "netns", rec.NetNSPath, "ips", rec.IPs)
	sb := rec.Sandbox
	return &sb, nil
}

// RemoveSandbox detaches the network, removes the pod cgroup, directory and logs.
func (r *Runtime) RemoveSandbox(ctx context.Context, podUID types.UID) error {
	defer r.lock("pod/" + string(podUID))()
	cs, err := r.ListContainers(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.PodUID == podUID {
			return fmt.Errorf("removing sandbox of pod %s: container %s (%s) still exists", podUID, c.ID, c.Name)
		}
	}
	rec, err := r.loadSandbox(podUID)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		klog.ErrorS(err, "Reading sandbox record; removing the directory anyway", "podUID", podUID)
	}
	if rec != nil && rec.NetNSPath != "" && r.cfg.Network != nil {
		pn := runtime.PodNetwork{UID: rec.PodUID, Name: rec.PodName, Namespace: rec.PodNamespace}
		if err := r.cfg.Network.Teardown(ctx, pn, rec.NetNSPath); err != nil {
			return fmt.Errorf("tearing down the network of pod %s: %w", podUID, err)
		}
	}
	removePodCgroups(r.cfg.CgroupParent, podUID)
	if err := os.RemoveAll(r.podDir(podUID)); err != nil {
		return fmt.Errorf("removing sandbox of pod %s: %w", podUID, err)
	}
	logDirs, _ := filepath.Glob(filepath.Join(r.cfg.RootDir, "logs", "*_"+string(podUID)))
	for _, d := range logDirs {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("removing logs of pod %s: %w", podUID, err)
		}
	}
	return nil
}

// ListSandboxes lists the sandboxes recorded under RootDir/pods.
func (r *Runtime) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.RootDir, "pods"))
	if err != nil {
		return nil, fmt.Errorf("listing sandboxes: %w", err)
	}
	var out []*runtime.Sandbox
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, err := r.loadSandbox(types.UID(e.Name()))
		if err != nil {
			if !errors.Is(err, runtime.ErrNotFound) {
				klog.ErrorS(err, "Skipping an unreadable sandbox", "dir", e.Name())
			}
			continue
		}
		sb := rec.Sandbox
		out = append(out, &sb)
	}
	return out, nil
}

// podHostname is the pod's hostname: spec.hostname or its name, cut to 63 characters.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostsFileContent is the pod's /etc/hosts as the kubelet writes it.
func hostsFileContent(pod *corev1.Pod, ips []string) ([]byte, error) {
	var b strings.Builder
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile(hostHostsFile)
		if err != nil {
			return nil, err
		}
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(host)
		if len(host) > 0 && host[len(host)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		hostname := podHostname(pod)
		for _, ip := range ips {
			if pod.Spec.Subdomain != "" {
				fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, clusterDomain)
				fmt.Fprintf(&b, "%s\t%s\t%s\n", ip, fqdn, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, ha := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
		}
	}
	return []byte(b.String()), nil
}

// resolvConfContent is the host's resolv.conf, or spec.dnsConfig alone with dnsPolicy None;
// with other policies dnsConfig's entries are added to the host's.
func resolvConfContent(pod *corev1.Pod) ([]byte, error) {
	dc := pod.Spec.DNSConfig
	var b strings.Builder
	if pod.Spec.DNSPolicy != corev1.DNSNone {
		host, err := os.ReadFile(hostResolvConf)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		b.Write(host)
		if len(host) > 0 && host[len(host)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if dc != nil {
		for _, ns := range dc.Nameservers {
			b.WriteString("nameserver " + ns + "\n")
		}
		if len(dc.Searches) > 0 {
			b.WriteString("search " + strings.Join(dc.Searches, " ") + "\n")
		}
		var opts []string
		for _, o := range dc.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
		if len(opts) > 0 {
			b.WriteString("options " + strings.Join(opts, " ") + "\n")
		}
	}
	return []byte(b.String()), nil
}

// writeFileAtomic replaces path with data through a temporary file in the same directory.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
