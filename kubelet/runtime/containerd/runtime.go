// Package containerd implements kubelet/runtime.Runtime on a containerd daemon through its Go
// client: images, pod sandboxes (a directory and a network namespace, no pause container) and
// containers whose logs a binary logger run by the shim writes in the CRI log format.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	containerdclient "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl/v2"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// Config configures a Runtime.
type Config struct {
	// Address is containerd's gRPC socket.
	Address string
	// Namespace is the containerd namespace of everything kubeshim makes ("kubeshim").
	Namespace string
	// RootDir holds pods/<uid> (sandbox directories) and logs/ (container logs).
	RootDir string
	// Network attaches pod network namespaces; required for pods without hostNetwork.
	Network runtime.Network
	// InsecureRegistries are "host:port" registries pulled over plain HTTP (localhost and
	// 127.0.0.1 always are).
	InsecureRegistries []string
	// ImagePullFallback uses the local copy of an image when policy Always finds no registry
	// answering at all (a network error).
	ImagePullFallback bool
	// LoggerBinary is the executable the shim runs as the container logger with the arguments
	// crilog.LoggerArgs makes; it must call crilog.RunLogger. Default: this executable.
	LoggerBinary string
	// ContainerLogMaxSize and ContainerLogMaxFiles rotate container logs by size (default 10 MiB,
	// 5 files, as upstream's kubelet).
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// CgroupParent is the cgroup under which pods get pod<uid>/<container id> ("/kubeshim").
	CgroupParent string
}

// Runtime is runtime.Runtime on containerd.
type Runtime struct {
	cfg    Config
	client *containerdclient.Client

	locks sync.Map // container id or pod uid → *sync.Mutex

	subMu sync.Mutex
	subs  map[chan types.UID]struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

var _ runtime.Runtime = (*Runtime)(nil)

const (
	defaultNamespace    = "kubeshim"
	defaultCgroupParent = "/kubeshim"
	snapshotter         = "overlayfs"
)

// New connects to containerd at cfg.Address and starts following its task events.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		return nil, errors.New("containerd runtime: no address")
	}
	if cfg.RootDir == "" {
		return nil, errors.New("containerd runtime: no root directory")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = defaultNamespace
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = defaultCgroupParent
	}
	if cfg.ContainerLogMaxSize == 0 {
		cfg.ContainerLogMaxSize = crilog.DefaultMaxSize
	}
	if cfg.ContainerLogMaxFiles == 0 {
		cfg.ContainerLogMaxFiles = crilog.DefaultMaxFiles
	}
	if cfg.LoggerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: logger binary: %w", err)
		}
		cfg.LoggerBinary = exe
	}
	root, err := filepath.Abs(cfg.RootDir)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	cfg.RootDir = root
	for _, d := range []string{root, filepath.Join(root, "pods"), filepath.Join(root, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
	}
	client, err := containerdclient.New(cfg.Address,
		containerdclient.WithDefaultNamespace(cfg.Namespace),
		containerdclient.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.Address, err)
	}
	r := &Runtime{cfg: cfg, client: client, subs: map[chan types.UID]struct{}{}, done: make(chan struct{})}
	ectx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	go r.watchEvents(ectx, ready)
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		klog.InfoS("containerd event subscription not confirmed yet; continuing")
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	}
	return r, nil
}

// Client is the containerd client (for the kubelet's image import command and tests).
func (r *Runtime) Client() *containerdclient.Client { return r.client }

// Close stops following events and closes the connection. Containers keep running.
func (r *Runtime) Close() error {
	r.cancel()
	<-r.done
	return r.client.Close()
}

func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

func (r *Runtime) lock(key string) func() {
	v, _ := r.locks.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Version is "containerd://" and the daemon's version.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd://" + v.Version, nil
}

// Events delivers the pod UID of a container that exited or was OOM-killed, after the runtime
// recorded its exit. The channel is closed when ctx ends. A consumer that falls 1024 events
// behind loses events (pod workers resync periodically anyway).
func (r *Runtime) Events(ctx context.Context) <-chan types.UID {
	ch := make(chan types.UID, 1024)
	r.subMu.Lock()
	r.subs[ch] = struct{}{}
	r.subMu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-r.done:
		}
		r.subMu.Lock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
		r.subMu.Unlock()
	}()
	return ch
}

func (r *Runtime) broadcast(uid types.UID) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- uid:
		default:
			klog.InfoS("Runtime event consumer is behind; dropping an event", "podUID", uid)
		}
	}
}

// watchEvents follows /tasks/exit and /tasks/oom of the namespace, records exits and tells the
// subscribers; it resubscribes when the stream breaks (containerd restarted).
func (r *Runtime) watchEvents(ctx context.Context, ready chan struct{}) {
	defer close(r.done)
	var once sync.Once
	filters := []string{
		fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, r.cfg.Namespace),
		fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, r.cfg.Namespace),
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		evs, errs := r.client.Subscribe(sctx, filters...)
		once.Do(func() { close(ready) })
		broken := false
		for !broken {
			select {
			case <-ctx.Done():
				broken = true
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					klog.InfoS("containerd event stream broke; resubscribing", "err", err)
				}
				broken = true
			case e := <-evs:
				if e == nil {
					continue
				}
				backoff = 100 * time.Millisecond
				ev, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					klog.ErrorS(err, "Decoding containerd event", "topic", e.Topic)
					continue
				}
				r.handleEvent(ctx, ev)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
	r.subMu.Lock()
	for ch := range r.subs {
		delete(r.subs, ch)
		close(ch)
	}
	r.subMu.Unlock()
}

func (r *Runtime) handleEvent(ctx context.Context, ev any) {
	ctx = r.ctx(ctx)
	var id string
	switch e := ev.(type) {
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return // an exec process
		}
		id = e.ContainerID
		if err := r.finalize(ctx, id); err != nil {
			klog.ErrorS(err, "Recording container exit", "containerID", id)
		}
	case *apievents.TaskOOM:
		id = e.ContainerID
		if err := r.recordOOM(ctx, id); err != nil {
			klog.ErrorS(err, "Recording container OOM", "containerID", id)
		}
	default:
		return
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	labels, err := c.Labels(ctx)
	if err != nil || labels[labelPodUID] == "" {
		return
	}
	r.broadcast(types.UID(labels[labelPodUID]))
}
