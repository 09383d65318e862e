// Package podworker runs one worker per pod bound to the node. A worker reconciles the pod as
// the API has it with the runtime's sandbox and containers: it starts init containers in
// order, then the app containers, restarts them as the restart policy says under the
// CrashLoopBackOff back-off, writes the pod status and, once the pod is being deleted, stops
// its containers gracefully, tears the sandbox down and removes the pod object.
package podworker

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/kubelet/prober"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// Volumes prepares and removes a pod's volumes (kubelet/volume).
type Volumes interface {
	Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	Cleanup(podUID types.UID) error
}

// Config is what the workers need.
type Config struct {
	NodeName string
	Client   kubernetes.Interface
	Runtime  runtime.Runtime
	Volumes  Volumes
	// Env resolves a container's environment (kubelet/envvars).
	Env func(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string, hostIP string) ([]string, error)
	// Mounts maps a container's volumeMounts to host paths, expanding subPathExpr with the
	// container's environment (kubelet/volume.MountsWithEnv).
	Mounts func(pod *corev1.Pod, c *corev1.Container, paths map[string]string, env []string) ([]runtime.Mount, error)
	// HostIP is the node's IP (status.hostIP, and podIP of hostNetwork pods).
	HostIP   string
	Recorder record.EventRecorder
	Clock    clock.Clock
	// CrashBackOff and ImageBackOff default to upstream's: 10 s doubling to 5 min.
	CrashBackOff *flowcontrol.Backoff
	ImageBackOff *flowcontrol.Backoff
	// ResyncInterval is how often a worker looks at its pod without being told to (default 10 s).
	ResyncInterval time.Duration
	// Prober runs the pods' probes (kubelet/prober); nil runs none, and a container with a
	// readiness probe then never becomes ready.
	Prober Prober
}

// Prober runs liveness, readiness and startup probes (kubelet/prober). Its liveness kills
// reach the workers through Workers.Kill.
type Prober interface {
	// Sync tells the prober which containers of pod run now, by name.
	Sync(pod *corev1.Pod, podIPs []string, running map[string]RunningContainer)
	// RemovePod stops the probes of a pod.
	RemovePod(uid types.UID)
	// Ready and Started are the readiness and startup results of a container.
	Ready(uid types.UID, name string) (ready, probed bool)
	Started(uid types.UID, name string) (started, probed bool)
}

// RunningContainer is a running container as the prober sees it.
type RunningContainer = prober.RunningContainer

// Workers is the set of pod workers of a node.
type Workers struct {
	cfg Config

	mu      sync.Mutex
	workers map[types.UID]*worker
	wg      sync.WaitGroup
	ctx     context.Context
}

// New returns the workers; Start must be called before Update.
func New(cfg Config) *Workers {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.CrashBackOff == nil {
		cfg.CrashBackOff = flowcontrol.NewBackOff(10*time.Second, 300*time.Second)
	}
	if cfg.ImageBackOff == nil {
		cfg.ImageBackOff = flowcontrol.NewBackOff(10*time.Second, 300*time.Second)
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	return &Workers{cfg: cfg, workers: map[types.UID]*worker{}}
}

// Start sets the context the workers run in; they stop when it ends, and Wait returns then.
func (w *Workers) Start(ctx context.Context) {
	w.mu.Lock()
	w.ctx = ctx
	w.mu.Unlock()
	go func() {
		for uid := range w.cfg.Runtime.Events(ctx) {
			w.Poke(uid)
		}
	}()
}

// Wait waits for every worker to end (after the context of Start ends).
func (w *Workers) Wait() { w.wg.Wait() }

// Update gives the worker of pod the pod as the API has it now, starting the worker if needed.
func (w *Workers) Update(pod *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil || w.ctx.Err() != nil {
		return
	}
	wk, ok := w.workers[pod.UID]
	if !ok {
		wk = newWorker(w, pod.UID)
		w.workers[pod.UID] = wk
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			wk.run(w.ctx)
		}()
	}
	wk.update(pod)
}

// Gone tells the worker of uid that its pod no longer exists in the API. A pod gone with no
// worker (the kubelet restarted) gets one to clean its sandbox and containers up.
func (w *Workers) Gone(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil || w.ctx.Err() != nil {
		return
	}
	wk, ok := w.workers[uid]
	if !ok {
		wk = newWorker(w, uid)
		w.workers[uid] = wk
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			wk.run(w.ctx)
		}()
	}
	wk.set(nil, true)
}

// RemoveStatic stops a static pod whose manifest is gone: its containers get the pod's grace
// period and no API object is deleted (its mirror pod is the static pod source's business).
func (w *Workers) RemoveStatic(pod *corev1.Pod) {
	w.mu.Lock()
	wk := w.workers[pod.UID]
	w.mu.Unlock()
	if wk != nil {
		wk.set(pod, true)
	}
}

// Poke asks the worker of uid, if any, to look at its pod now.
func (w *Workers) Poke(uid types.UID) {
	w.mu.Lock()
	wk := w.workers[uid]
	w.mu.Unlock()
	if wk != nil {
		wk.poke()
	}
}

// Kill asks the worker of uid to stop a container (a failed liveness or startup probe) within
// gracePeriodSeconds (nil: the pod's); the restart policy then decides what follows.
func (w *Workers) Kill(uid types.UID, containerName, containerID, message string, gracePeriodSeconds *int64) {
	w.mu.Lock()
	wk := w.workers[uid]
	w.mu.Unlock()
	if wk == nil {
		return
	}
	wk.mu.Lock()
	wk.kills[containerID] = gracePeriodSeconds
	wk.mu.Unlock()
	wk.poke()
}

// Known reports whether a worker runs for uid.
func (w *Workers) Known(uid types.UID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.workers[uid]
	return ok
}

func (w *Workers) remove(uid types.UID, wk *worker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.workers[uid] == wk {
		delete(w.workers, uid)
	}
}

// CleanupOrphans removes the sandboxes and containers whose pod is not in known (the pods bound
// to this node in the API). It is called once the pod informer has synced.
func (w *Workers) CleanupOrphans(ctx context.Context, known func(types.UID) bool) error {
	sandboxes, err := w.cfg.Runtime.ListSandboxes(ctx)
	if err != nil {
		return err
	}
	containers, err := w.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return err
	}
	orphans := map[types.UID]bool{}
	for _, sb := range sandboxes {
		if !known(sb.PodUID) {
			orphans[sb.PodUID] = true
		}
	}
	for _, c := range containers {
		if !known(c.PodUID) {
			orphans[c.PodUID] = true
		}
	}
	for uid := range orphans {
		klog.FromContext(ctx).Info("Cleaning up the sandbox and containers of a pod that no longer exists", "podUID", uid)
		w.Gone(uid)
	}
	return nil
}

// worker is one pod's worker.
type worker struct {
	parent *Workers
	uid    types.UID

	mu   sync.Mutex
	pod  *corev1.Pod
	gone bool
	wake chan struct{}

	// lastStatus is the status last written, to write only on change.
	lastStatus *corev1.PodStatus
	// waiting says why a container is not running, by name.
	waiting map[string]waitingReason
	// retryAt is when the worker must look again at the latest (back-offs).
	retryAt time.Time
	// pullFailedAt is when the last image pull of a container failed, by name.
	pullFailedAt map[string]time.Time
	// kills are the containers the prober asked to stop, by ID, with the probe's grace period
	// if it has one (under mu).
	kills map[string]*int64
}

type waitingReason struct{ Reason, Message string }

func newWorker(parent *Workers, uid types.UID) *worker {
	return &worker{parent: parent, uid: uid, wake: make(chan struct{}, 1), waiting: map[string]waitingReason{},
		pullFailedAt: map[string]time.Time{}, kills: map[string]*int64{}}
}

func (wk *worker) set(pod *corev1.Pod, gone bool) {
	wk.mu.Lock()
	if pod != nil {
		wk.pod = pod
	}
	if gone {
		wk.gone = true
	}
	wk.mu.Unlock()
	wk.poke()
}

// update stores the pod as the API has it now and wakes the worker, unless only its status
// (or metadata the kubelet ignores) changed: the worker's own status writes must not make it
// sync again at once, as in upstream's kubelet.
func (wk *worker) update(pod *corev1.Pod) {
	wk.mu.Lock()
	old := wk.pod
	wk.pod = pod
	wk.mu.Unlock()
	if old == nil || specChanged(old, pod) {
		wk.poke()
	}
}

// specChanged reports whether a pod changed in what the worker acts on.
func specChanged(old, pod *corev1.Pod) bool {
	return !apiequality.Semantic.DeepEqual(old.Spec, pod.Spec) ||
		!apiequality.Semantic.DeepEqual(old.Labels, pod.Labels) ||
		!apiequality.Semantic.DeepEqual(old.Annotations, pod.Annotations) ||
		!apiequality.Semantic.DeepEqual(old.DeletionTimestamp, pod.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, pod.DeletionGracePeriodSeconds) ||
		(old.Status.Phase != pod.Status.Phase && isTerminal(pod))
}

func (wk *worker) poke() {
	select {
	case wk.wake <- struct{}{}:
	default:
	}
}

func (wk *worker) snapshot() (*corev1.Pod, bool) {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	return wk.pod, wk.gone
}

func (wk *worker) run(ctx context.Context) {
	cfg := wk.parent.cfg
	logger := klog.FromContext(ctx).WithValues("podUID", wk.uid)
	ctx = klog.NewContext(ctx, logger)
	timer := cfg.Clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wk.wake:
		case <-timer.C():
		}
		pod, gone := wk.snapshot()
		done := false
		var err error
		if gone || pod == nil {
			done, err = wk.terminate(ctx, pod)
		} else if pod.DeletionTimestamp != nil {
			done, err = wk.terminate(ctx, pod)
		} else {
			err = wk.sync(ctx, pod)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			logger.Error(err, "Sync pod", "pod", podName(pod))
		}
		if done {
			// Another Update may have come in for a recreated object with the same UID: none
			// can, UIDs are unique. The worker ends.
			wk.parent.remove(wk.uid, wk)
			return
		}
		next := cfg.ResyncInterval
		if err != nil {
			next = time.Second
		}
		if !wk.retryAt.IsZero() {
			if d := wk.retryAt.Sub(cfg.Clock.Now()); d < next {
				next = max(d, 10*time.Millisecond)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		timer.Reset(next)
	}
}

// Annotations of static pods (kubelet/staticpod sets them).
const (
	configSourceAnnotation = "kubernetes.io/config.source"
	configHashAnnotation   = "kubernetes.io/config.hash"
	configMirrorAnnotation = "kubernetes.io/config.mirror"
)

// isStatic reports whether pod came from the manifest folder rather than the API.
func isStatic(pod *corev1.Pod) bool {
	return pod != nil && pod.Annotations[configSourceAnnotation] == "file"
}

func podName(pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	return pod.Namespace + "/" + pod.Name
}
