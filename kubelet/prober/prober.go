// Package prober runs the liveness, readiness and startup probes of the containers of the pods a
// node runs, the way upstream's kubelet does (pkg/kubelet/prober, pkg/probe): one worker per probe
// of each running container instance, probing every periodSeconds after initialDelaySeconds, with
// upstream's success and failure thresholds. Readiness and startup results are kept for the pod
// worker's status (Ready, Started); a liveness or startup probe that reaches its failure threshold
// asks the pod worker to kill the container (Config.Kill).
package prober

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Config is what a Manager needs from the kubelet.
type Config struct {
	// Exec runs cmd in a running container and returns its combined output and exit code
	// (runtime.Runtime.ExecSync).
	Exec func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int, err error)
	// Recorder gets the events on the pod: Warning Unhealthy "Liveness probe failed: OUTPUT"
	// (Readiness, Startup likewise), Warning Unhealthy "... probe errored and resulted in unknown
	// state: ERR", Warning ProbeWarning "... probe warning: ..." and Normal Killing "Container NAME
	// failed liveness probe, will be restarted". Nil records none.
	Recorder record.EventRecorder
	// Clock times the probes (periods, initial delays); nil is the real clock.
	Clock clock.WithTicker
	// OnChange is called when a readiness or startup result changes, so the pod worker syncs. It
	// is called from a probe worker, with no lock held, and must not block for long.
	OnChange func(podUID types.UID)
	// Kill is called when a liveness or startup probe reaches its failureThreshold: the pod worker
	// stops that container instance (containerID) and its restart policy decides what follows.
	// gracePeriodSeconds is the probe's terminationGracePeriodSeconds, nil when the probe sets
	// none (then the pod's applies). It is called once per container instance, from a probe
	// worker, with no lock held.
	Kill func(podUID types.UID, containerName, containerID, message string, gracePeriodSeconds *int64)
}

// RunningContainer is a running container instance of a pod.
type RunningContainer struct {
	// ID is the runtime's container ID.
	ID string
	// StartedAt is when it started; initialDelaySeconds counts from it.
	StartedAt time.Time
}

// probeType is the kind of a probe.
type probeType int

const (
	liveness probeType = iota
	readiness
	startup
)

// String is how events name the probe ("Liveness probe failed: ...").
func (t probeType) String() string {
	switch t {
	case liveness:
		return "Liveness"
	case readiness:
		return "Readiness"
	default:
		return "Startup"
	}
}

// probeKey names a worker within a pod.
type probeKey struct {
	container string
	kind      probeType
}

// result is a readiness or startup result of one container instance.
type result struct {
	containerID string
	value       bool
}

// podProbes is the state of one pod (under Manager.mu).
type podProbes struct {
	pod     *corev1.Pod
	podIP   string
	workers map[probeKey]*worker
	ready   map[string]result // by container name
	started map[string]result // by container name
	killed  map[string]bool   // container IDs Kill was called for
}

// Manager runs the probes of every pod of the node. Its methods are safe for concurrent use.
type Manager struct {
	cfg      Config
	handlers *handlers

	mu      sync.Mutex
	pods    map[types.UID]*podProbes
	stopped bool
	wg      sync.WaitGroup

	// probed, when set (tests), is called by a worker after every round, probe run or not.
	probed func(uid types.UID, container string, kind probeType)
}

// NewManager returns a Manager with no pods.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Manager{cfg: cfg, handlers: newHandlers(cfg.Exec), pods: map[types.UID]*podProbes{}}
}

// containerSpec finds a container of pod by name among its containers and init containers.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func probeOf(c *corev1.Container, kind probeType) *corev1.Probe {
	switch kind {
	case liveness:
		return c.LivenessProbe
	case readiness:
		return c.ReadinessProbe
	default:
		return c.StartupProbe
	}
}

// Sync is called by the pod worker on every sync of pod with its IPs and its running containers
// (by name). It starts a worker for each probe of each running container, restarts them for a
// new container instance (readiness and startup results start over at false, initialDelaySeconds
// counts from the new StartedAt) and stops those of containers that no longer run. Once the pod
// is being deleted its liveness and startup probes stop (a container not yet started counts as
// started, as upstream's quiet shutdown does); readiness probes go on.
func (m *Manager) Sync(pod *corev1.Pod, podIPs []string, running map[string]RunningContainer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	ps := m.pods[pod.UID]
	if ps == nil {
		ps = &podProbes{workers: map[probeKey]*worker{}, ready: map[string]result{},
			started: map[string]result{}, killed: map[string]bool{}}
		m.pods[pod.UID] = ps
	}
	ps.pod = pod
	ps.podIP = ""
	if len(podIPs) > 0 {
		ps.podIP = podIPs[0]
	}
	deleting := pod.DeletionTimestamp != nil

	// Stop the workers of containers that no longer run, of a new instance, or whose probe changed.
	for key, w := range ps.workers {
		rc, ok := running[key.container]
		c := containerSpec(pod, key.container)
		var spec *corev1.Probe
		if c != nil {
			spec = probeOf(c, key.kind)
		}
		if ok && rc.ID == w.containerID && spec != nil && equality.Semantic.DeepEqual(spec, w.orig) &&
			!(deleting && key.kind != readiness) {
			continue
		}
		w.stop()
		delete(ps.workers, key)
		if deleting && key.kind == startup && ok && rc.ID == w.containerID {
			ps.started[key.container] = result{containerID: rc.ID, value: true}
		}
	}
	// Forget the results of instances that no longer run.
	for name, r := range ps.ready {
		if rc, ok := running[name]; !ok || rc.ID != r.containerID {
			delete(ps.ready, name)
		}
	}
	for name, r := range ps.started {
		if rc, ok := running[name]; !ok || rc.ID != r.containerID {
			delete(ps.started, name)
		}
	}
	for id := range ps.killed {
		still := false
		for _, rc := range running {
			still = still || rc.ID == id
		}
		if !still {
			delete(ps.killed, id)
		}
	}

	// Start the workers that are missing.
	for name, rc := range running {
		c := containerSpec(pod, name)
		if c == nil {
			continue
		}
		for _, kind := range []probeType{startup, readiness, liveness} {
			spec := probeOf(c, kind)
			key := probeKey{container: name, kind: kind}
			if spec == nil || ps.workers[key] != nil || (deleting && kind != readiness) {
				continue
			}
			if kind == startup {
				if r, ok := ps.started[name]; ok && r.containerID == rc.ID {
					continue // started (or given up on) already: the instance needs no more
				}
			}
			w := m.newWorker(pod.UID, c, kind, spec, rc)
			ps.workers[key] = w
			switch kind {
			case readiness:
				if _, ok := ps.ready[name]; !ok {
					ps.ready[name] = result{containerID: rc.ID}
				}
			case startup:
				ps.started[name] = result{containerID: rc.ID}
			}
			m.wg.Add(1)
			go w.run()
		}
	}
	if len(ps.workers) == 0 && len(ps.ready) == 0 && len(ps.started) == 0 {
		delete(m.pods, pod.UID)
	}
}

// RemovePod stops every probe of the pod and forgets its results.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps := m.pods[uid]; ps != nil {
		for _, w := range ps.workers {
			w.stop()
		}
		delete(m.pods, uid)
	}
}

// Ready is the readiness result of the running instance of container name: probed is false when
// the manager has none (the container has no readiness probe or does not run). A readiness
// probe's result is false from the Sync that saw its instance running until the probe has
// succeeded successThreshold times in a row.
func (m *Manager) Ready(uid types.UID, name string) (ready bool, probed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps := m.pods[uid]; ps != nil {
		r, ok := ps.ready[name]
		return r.value, ok
	}
	return false, false
}

// Started is the startup result of the running instance of container name: false until its
// startup probe has succeeded; probed is false when the manager has none (no startup probe, or
// the container does not run).
func (m *Manager) Started(uid types.UID, name string) (started bool, probed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps := m.pods[uid]; ps != nil {
		r, ok := ps.started[name]
		return r.value, ok
	}
	return false, false
}

// Stop stops every worker and waits for them to end. Sync does nothing afterwards.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	for uid, ps := range m.pods {
		for _, w := range ps.workers {
			w.stop()
		}
		delete(m.pods, uid)
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.handlers.close()
}

// currentLocked reports whether w is still the worker of its probe, and its pod (under m.mu).
func (m *Manager) currentLocked(w *worker) (*podProbes, bool) {
	ps := m.pods[w.podUID]
	if ps == nil || ps.workers[probeKey{container: w.container.Name, kind: w.kind}] != w {
		return nil, false
	}
	return ps, true
}

// record applies what w's probe concluded once a threshold was reached.
func (m *Manager) record(w *worker, success bool) {
	m.mu.Lock()
	ps, ok := m.currentLocked(w)
	if !ok {
		m.mu.Unlock()
		return
	}
	name := w.container.Name
	pod := ps.pod
	changed, kill := false, false
	switch w.kind {
	case readiness:
		prev, had := ps.ready[name]
		changed = !had || prev.value != success || prev.containerID != w.containerID
		ps.ready[name] = result{containerID: w.containerID, value: success}
	case startup:
		prev, had := ps.started[name]
		changed = !had || prev.value != success || prev.containerID != w.containerID
		ps.started[name] = result{containerID: w.containerID, value: success}
		if success {
			// The readiness probe waited for this: let it run now rather than a period later.
			if rw := ps.workers[probeKey{container: name, kind: readiness}]; rw != nil {
				rw.trigger()
			}
		} else {
			kill = true
		}
	case liveness:
		kill = !success
	}
	if kill {
		if ps.killed[w.containerID] {
			kill = false
		} else {
			ps.killed[w.containerID] = true
		}
	}
	m.mu.Unlock()

	if changed && m.cfg.OnChange != nil {
		m.cfg.OnChange(w.podUID)
	}
	if kill {
		msg := "Container " + name + " failed " + map[probeType]string{liveness: "liveness", startup: "startup"}[w.kind] +
			" probe, will be restarted"
		klog.InfoS("Probe failed, killing the container", "pod", klog.KObj(pod), "container", name,
			"containerID", w.containerID, "probe", w.kind.String())
		m.event(pod, w.container, corev1.EventTypeNormal, "Killing", "%s", msg)
		if m.cfg.Kill != nil {
			m.cfg.Kill(w.podUID, name, w.containerID, msg, w.orig.TerminationGracePeriodSeconds)
		}
	}
}

// podSnapshot is what a worker needs of its pod for one probe; ok is false once w is replaced.
func (m *Manager) podSnapshot(w *worker) (pod *corev1.Pod, podIP string, started bool, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps, ok := m.currentLocked(w)
	if !ok {
		return nil, "", false, false
	}
	started = true
	if probeOf(&w.container, startup) != nil {
		r, had := ps.started[w.container.Name]
		started = had && r.containerID == w.containerID && r.value
	}
	return ps.pod, ps.podIP, started, true
}

// event records an event on the container of pod (its field path, as upstream's container
// references have).
func (m *Manager) event(pod *corev1.Pod, c corev1.Container, eventType, reason, format string, args ...any) {
	if m.cfg.Recorder == nil || pod == nil {
		return
	}
	ref := &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: fieldPath(pod, c.Name),
	}
	m.cfg.Recorder.Eventf(ref, eventType, reason, format, args...)
}

func fieldPath(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}
