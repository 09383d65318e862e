// Package kubelet is kubeshim's node agent: it registers the Node, keeps its Lease and status,
// and runs the pods bound to it as containers on containerd (a private one it starts, or the
// one named by its configuration), with their network set up through CNI.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	containerdlog "github.com/containerd/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apis/defaults"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/kubelet/envvars"
	"github.com/kubeshim/kubeshim/kubelet/network"
	"github.com/kubeshim/kubeshim/kubelet/nodestatus"
	"github.com/kubeshim/kubeshim/kubelet/podworker"
	"github.com/kubeshim/kubeshim/kubelet/prober"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
	"github.com/kubeshim/kubeshim/kubelet/runtime/containerd"
	"github.com/kubeshim/kubeshim/kubelet/server"
	"github.com/kubeshim/kubeshim/kubelet/staticpod"
	"github.com/kubeshim/kubeshim/kubelet/volume"
)

// Config configures a kubelet.
type Config struct {
	// NodeName is the Node's name.
	NodeName string
	// Client acts as the node (system:node:NAME in group system:nodes).
	Client kubernetes.Interface
	// RootDir holds everything the kubelet keeps: containerd's state, pods, logs, CNI state.
	RootDir string
	// ContainerdAddress is the socket of a running containerd; empty starts a private one.
	ContainerdAddress string
	// ContainerdNamespace is the containerd namespace kubeshim works in ("kubeshim").
	ContainerdNamespace string
	// PodCIDR is the range pod IPs come from ("10.88.0.0/16").
	PodCIDR string
	// ImagesDir holds image archives imported at start.
	ImagesDir string
	// InsecureRegistries are "host:port" registries pulled over plain HTTP.
	InsecureRegistries []string
	// ImagePullFallback uses the local copy of an image when no registry answers a pull.
	ImagePullFallback bool
	// LoggerBinary is the executable containerd's shims run to write container logs: kubeshim
	// itself (its container-logger subcommand).
	LoggerBinary string
	// KubeletVersion is reported in the Node's nodeInfo.
	KubeletVersion string
	// NodeIP is the node's InternalIP; empty finds one.
	NodeIP string
	// CgroupRoot is the cgroup under which pods get theirs ("/kubeshim").
	CgroupRoot string
	// ContainerLogMaxSize and ContainerLogMaxFiles rotate container logs.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// PodManifestPath is the folder of static pod manifests.
	PodManifestPath string
	// Server configures the kubelet's HTTPS API (logs, exec, attach, port-forward); nil runs
	// none.
	Server *ServerConfig
}

// ServerConfig configures the kubelet's HTTPS API.
type ServerConfig struct {
	// Port is where it listens on the node IP (10250).
	Port int32
	// CertFile and KeyFile are its serving certificate; ClientCAFile verifies clients.
	CertFile, KeyFile, ClientCAFile string
	// AllowedUsers and AllowedGroups are the client certificate identities let in (the API
	// server's kubelet client).
	AllowedUsers, AllowedGroups []string
}

// Run runs the kubelet until ctx ends. Pods keep running when it returns: a kubelet started
// again adopts them.
func Run(ctx context.Context, cfg Config) error {
	logger := klog.FromContext(ctx).WithName("kubelet")
	ctx = klog.NewContext(ctx, logger)
	// containerd's client logs every registry it tries at info level through logrus; the
	// kubelet's events and klog say what matters.
	_ = containerdlog.SetLevel("warn")
	if cfg.ContainerdNamespace == "" {
		cfg.ContainerdNamespace = "kubeshim"
	}
	if err := os.MkdirAll(cfg.RootDir, 0o755); err != nil {
		return fmt.Errorf("kubelet root dir: %w", err)
	}
	address := cfg.ContainerdAddress
	if address == "" {
		daemon, err := containerd.StartDaemon(ctx, containerd.DaemonConfig{Dir: filepath.Join(cfg.RootDir, "containerd")})
		if err != nil {
			return fmt.Errorf("start containerd: %w", err)
		}
		defer func() {
			if err := daemon.Stop(); err != nil {
				logger.Error(err, "Stop containerd")
			}
		}()
		address = daemon.Address()
	}
	// The pod network is configured once the podCIDR is known: --pod-cidr, or the one the
	// control plane gives the Node.
	podNet := &deferredNetwork{}
	rt, err := containerd.New(ctx, containerd.Config{
		Address: address, Namespace: cfg.ContainerdNamespace, RootDir: cfg.RootDir, Network: podNet,
		InsecureRegistries: cfg.InsecureRegistries, ImagePullFallback: cfg.ImagePullFallback,
		LoggerBinary: cfg.LoggerBinary, CgroupParent: cfg.CgroupRoot,
		ContainerLogMaxSize: cfg.ContainerLogMaxSize, ContainerLogMaxFiles: cfg.ContainerLogMaxFiles,
	})
	if err != nil {
		return fmt.Errorf("containerd runtime: %w", err)
	}
	defer rt.Close()
	if cfg.ImagesDir != "" {
		refs, err := rt.ImportDir(ctx, cfg.ImagesDir)
		if err != nil {
			logger.Error(err, "Import image archives", "dir", cfg.ImagesDir)
		} else if len(refs) > 0 {
			logger.Info("Imported image archives", "dir", cfg.ImagesDir, "images", refs)
		}
	}

	addresses, err := nodestatus.DefaultAddresses(cfg.NodeIP)
	if err != nil {
		return fmt.Errorf("node addresses: %w", err)
	}
	nodeIP := ""
	for i, a := range addresses {
		if a.Type == corev1.NodeInternalIP && nodeIP == "" {
			nodeIP = a.Address
		}
		if a.Type == corev1.NodeHostName {
			addresses[i].Address = cfg.NodeName
		}
	}
	var kubeletPort int32
	if cfg.Server != nil {
		kubeletPort = cfg.Server.Port
	}
	node := nodestatus.New(nodestatus.Config{
		NodeName: cfg.NodeName, Client: cfg.Client, RuntimeVersion: rt.Version, KubeletVersion: cfg.KubeletVersion,
		Addresses: addresses, RootDir: cfg.RootDir, PodCIDR: cfg.PodCIDR, KubeletPort: kubeletPort,
		ReadyFunc: podNet.ready,
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(ctx) }()
	select {
	case <-node.Registered():
	case <-ctx.Done():
		return waitNode(nodeDone)
	case err := <-nodeDone:
		return fmt.Errorf("register node %s: %w", cfg.NodeName, err)
	}

	podCIDR := cfg.PodCIDR
	if podCIDR == "" {
		if podCIDR, err = waitPodCIDR(ctx, cfg.Client, cfg.NodeName); err != nil {
			return err
		}
	}
	cni, err := network.New(network.Config{
		ConfDir:  filepath.Join(cfg.RootDir, "cni", "net.d"),
		NetNSDir: filepath.Join(cfg.RootDir, "netns"),
		DataDir:  filepath.Join(cfg.RootDir, "cni", "ipam"),
		PodCIDR:  podCIDR,
	})
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	podNet.set(cni)
	node.Sync()
	logger.Info("Pod network configured", "podCIDR", podCIDR)
	newRoutes(cfg.NodeName).start(ctx, cfg.Client)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	var workers *podworker.Workers
	probes := prober.NewManager(prober.Config{
		Exec:     rt.ExecSync,
		Recorder: recorder,
		OnChange: func(uid types.UID) { workers.Poke(uid) },
		Kill: func(uid types.UID, name, id, message string, grace *int64) {
			workers.Kill(uid, name, id, message, grace)
		},
	})
	defer probes.Stop()
	vols := volume.New(cfg.Client, filepath.Join(cfg.RootDir, "pods"))
	vols.SetAllocatable(node.Allocatable())
	workers = podworker.New(podworker.Config{
		NodeName: cfg.NodeName, Client: cfg.Client, Runtime: rt, Volumes: vols, HostIP: nodeIP, Recorder: recorder,
		Prober: probes,
		Env: func(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string, hostIP string) ([]string, error) {
			return envvars.Resolve(ctx, cfg.Client, pod, c, podIPs, hostIP, node.Allocatable())
		},
		Mounts: volume.MountsWithEnv,
	})
	workers.Start(ctx)
	defer workers.Wait()

	factory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
		}))
	static := newStaticPods(workers, staticpod.NewMirrors(cfg.Client, cfg.NodeName))
	pods := factory.Core().V1().Pods().Informer()
	// Mirror pods stand for static pods in the API: they are not run, only kept in step.
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod := obj.(*corev1.Pod); !staticpod.IsMirror(pod) {
				workers.Update(pod)
			}
		},
		UpdateFunc: func(_, obj any) {
			if pod := obj.(*corev1.Pod); staticpod.IsMirror(pod) {
				if pod.DeletionTimestamp != nil {
					static.mirrorsChanged()
				}
			} else {
				workers.Update(pod)
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				if staticpod.IsMirror(pod) {
					static.mirrorsChanged()
				} else {
					workers.Gone(pod.UID)
				}
			}
		},
	}); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return ctx.Err()
	}
	podByName := func(namespace, name string) *corev1.Pod {
		if p := static.byName(namespace, name); p != nil {
			return p
		}
		obj, ok, err := pods.GetStore().GetByKey(namespace + "/" + name)
		if err != nil || !ok || staticpod.IsMirror(obj.(*corev1.Pod)) {
			return nil
		}
		return obj.(*corev1.Pod)
	}
	if cfg.Server != nil {
		if err := startServer(ctx, cfg.Server, nodeIP, rt, podByName, func() []*corev1.Pod {
			var out []*corev1.Pod
			for _, obj := range pods.GetStore().List() {
				if p := obj.(*corev1.Pod); !staticpod.IsMirror(p) {
					out = append(out, p)
				}
			}
			return append(out, static.list()...)
		}); err != nil {
			return err
		}
	}
	if cfg.PodManifestPath != "" {
		if err := os.MkdirAll(cfg.PodManifestPath, 0o755); err != nil {
			return fmt.Errorf("static pod folder: %w", err)
		}
		source := staticpod.New(staticpod.Config{
			Dir: cfg.PodManifestPath, NodeName: cfg.NodeName, Recorder: recorder,
			Default:  defaults.SetObjectDefaultsPod,
			Validate: func(p *corev1.Pod) error { return validation.ValidatePod(p).ToAggregate() },
		})
		go func() {
			if err := source.Run(ctx, static.update); err != nil {
				logger.Error(err, "Static pods", "dir", cfg.PodManifestPath)
			}
		}()
		go static.run(ctx)
	}
	logger.Info("Kubelet started", "node", cfg.NodeName, "nodeIP", nodeIP, "containerd", address,
		"staticPods", cfg.PodManifestPath)
	known := func(uid types.UID) bool {
		if static.known(uid) {
			return true
		}
		for _, obj := range pods.GetStore().List() {
			if obj.(*corev1.Pod).UID == uid {
				return true
			}
		}
		return false
	}
	housekeeping := time.NewTicker(30 * time.Second)
	defer housekeeping.Stop()
	for {
		if err := workers.CleanupOrphans(ctx, known); err != nil && ctx.Err() == nil {
			logger.Error(err, "Clean up orphaned sandboxes and containers")
		}
		select {
		case <-ctx.Done():
			return waitNode(nodeDone)
		case err := <-nodeDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("node status: %w", err)
			}
			return nil
		case <-housekeeping.C:
		}
	}
}

// waitPodCIDR waits until the control plane gives the Node a podCIDR.
func waitPodCIDR(ctx context.Context, client kubernetes.Interface, name string) (string, error) {
	logger := klog.FromContext(ctx)
	start := time.Now()
	lastLog := start
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && node.Spec.PodCIDR != "" {
			return strings.Join(append([]string{node.Spec.PodCIDR}, podCIDRsAfterFirst(node)...), ","), nil
		}
		if time.Since(lastLog) > 10*time.Second {
			logger.Info("Waiting for the control plane to give this node a podCIDR (is the nodeipam controller running? --pod-cidr sets one)", "waited", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func podCIDRsAfterFirst(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 1 {
		return node.Spec.PodCIDRs[1:]
	}
	return nil
}

// deferredNetwork is the pod network before and after its podCIDR is known: until then it
// refuses pods and keeps the Node NotReady, as a kubelet whose network plugin is not ready.
type deferredNetwork struct {
	mu  sync.Mutex
	cni *network.CNI
}

var errNetworkNotReady = errors.New("network is not ready: the pod network has no podCIDR yet")

func (d *deferredNetwork) get() *network.CNI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cni
}

func (d *deferredNetwork) set(cni *network.CNI) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cni = cni
}

func (d *deferredNetwork) ready() error {
	if d.get() == nil {
		return errNetworkNotReady
	}
	return nil
}

func (d *deferredNetwork) Setup(ctx context.Context, pod runtime.PodNetwork) (string, []string, error) {
	cni := d.get()
	if cni == nil {
		return "", nil, errNetworkNotReady
	}
	return cni.Setup(ctx, pod)
}

func (d *deferredNetwork) Teardown(ctx context.Context, pod runtime.PodNetwork, netnsPath string) error {
	cni := d.get()
	if cni == nil {
		return errNetworkNotReady
	}
	return cni.Teardown(ctx, pod, netnsPath)
}

// startServer runs the kubelet's HTTPS API on nodeIP until ctx ends.
func startServer(ctx context.Context, sc *ServerConfig, nodeIP string, rt *containerd.Runtime,
	podByName func(namespace, name string) *corev1.Pod, list func() []*corev1.Pod) error {
	ctrs := &containers{rt: rt, pod: podByName}
	srv, err := server.New(server.Config{
		Address: net.JoinHostPort(nodeIP, strconv.Itoa(int(sc.Port))), CertFile: sc.CertFile, KeyFile: sc.KeyFile,
		ClientCAFile: sc.ClientCAFile, AllowedUsers: sc.AllowedUsers, AllowedGroups: sc.AllowedGroups,
		Pods: list, Logs: ctrs, Streaming: rt, Resolve: ctrs.Resolve,
	})
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	go func() {
		if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Kubelet server stopped")
		}
	}()
	klog.FromContext(ctx).Info("Kubelet server listening", "address", srv.Addr().String())
	return nil
}

func waitNode(done <-chan error) error {
	err := <-done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
