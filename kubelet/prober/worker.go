package prober

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// maxRetries is how often a probe that errors (could not be run) is retried within one round,
// as upstream's maxProbeRetries.
const maxRetries = 3

// worker probes one probe of one container instance until it is stopped. After a liveness or
// startup probe has concluded (failed, or for startup succeeded) it holds: a new container
// instance gets a new worker.
type worker struct {
	m           *Manager
	podUID      types.UID
	container   corev1.Container
	kind        probeType
	orig        *corev1.Probe // the probe as the pod has it, to notice a change
	spec        corev1.Probe  // with upstream's defaults applied
	containerID string
	startedAt   time.Time

	ctx      context.Context
	cancel   context.CancelFunc
	triggers chan struct{}

	// Owned by the worker's goroutine.
	lastSuccess bool
	streak      int // consecutive rounds with lastSuccess
	onHold      bool
}

func (m *Manager) newWorker(uid types.UID, c *corev1.Container, kind probeType, p *corev1.Probe, rc RunningContainer) *worker {
	spec := *p.DeepCopy()
	if spec.PeriodSeconds <= 0 {
		spec.PeriodSeconds = 10
	}
	if spec.TimeoutSeconds <= 0 {
		spec.TimeoutSeconds = 1
	}
	if spec.SuccessThreshold <= 0 || kind != readiness {
		// Liveness and startup probes must have 1 (validation says so); readiness defaults to 1.
		spec.SuccessThreshold = 1
	}
	if spec.FailureThreshold <= 0 {
		spec.FailureThreshold = 3
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		m: m, podUID: uid, container: *c.DeepCopy(), kind: kind, orig: p.DeepCopy(), spec: spec,
		containerID: rc.ID, startedAt: rc.StartedAt,
		ctx: ctx, cancel: cancel, triggers: make(chan struct{}, 1),
	}
}

// stop ends the worker (and cancels a probe in flight). It does not wait.
func (w *worker) stop() { w.cancel() }

// trigger asks for a round now, without waiting for the period.
func (w *worker) trigger() {
	select {
	case w.triggers <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	defer w.m.wg.Done()
	ticker := w.m.cfg.Clock.NewTicker(time.Duration(w.spec.PeriodSeconds) * time.Second)
	defer ticker.Stop()
	for {
		w.round()
		if w.m.probed != nil {
			w.m.probed(w.podUID, w.container.Name, w.kind)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-ticker.C():
		case <-w.triggers:
		}
	}
}

// round probes once if it is time to, and records what the thresholds conclude.
func (w *worker) round() {
	if w.onHold || w.ctx.Err() != nil {
		return
	}
	pod, podIP, started, ok := w.m.podSnapshot(w)
	if !ok {
		return
	}
	// Probes wait initialDelaySeconds (whole seconds) after the container started.
	if int32(w.m.cfg.Clock.Since(w.startedAt).Seconds()) < w.spec.InitialDelaySeconds {
		return
	}
	// Liveness and readiness wait for the startup probe.
	if w.kind != startup && !started {
		return
	}
	success, err := w.probe(pod, podIP)
	if err != nil {
		return // could not probe: the result is thrown away, as upstream does
	}
	if success == w.lastSuccess && w.streak > 0 {
		w.streak++
	} else {
		w.lastSuccess, w.streak = success, 1
	}
	if (!success && w.streak < int(w.spec.FailureThreshold)) || (success && w.streak < int(w.spec.SuccessThreshold)) {
		return
	}
	w.m.record(w, success)
	if (w.kind == liveness && !success) || w.kind == startup {
		// The liveness verdict kills the instance, and a startup probe's verdict is final for
		// it: probe no more until a new instance (a new worker).
		w.onHold = true
		w.streak = 0
	}
}

// probe runs the probe (retrying one that could not run) and records its events.
func (w *worker) probe(pod *corev1.Pod, podIP string) (bool, error) {
	t := target{podIP: podIP, container: &w.container, containerID: w.containerID}
	var (
		out outcome
		msg string
		err error
	)
	for i := 0; i < maxRetries; i++ {
		out, msg, err = w.m.handlers.run(w.ctx, &w.spec, t)
		if err == nil || w.ctx.Err() != nil {
			break
		}
	}
	if w.ctx.Err() != nil {
		return false, fmt.Errorf("probe stopped: %w", context.Canceled)
	}
	log := klog.Background().WithValues("pod", klog.KObj(pod), "container", w.container.Name, "probe", w.kind.String())
	if err != nil {
		log.V(1).Info("Probe errored", "err", err)
		w.m.event(pod, w.container, corev1.EventTypeWarning, "Unhealthy",
			"%s probe errored and resulted in %s state: %s", w.kind, outcomeUnknown, err)
		return false, err
	}
	switch out {
	case outcomeSuccess:
		log.V(3).Info("Probe succeeded")
		return true, nil
	case outcomeWarning:
		w.m.event(pod, w.container, corev1.EventTypeWarning, "ProbeWarning", "%s probe warning: %s", w.kind, msg)
		return true, nil
	case outcomeFailure:
		log.V(1).Info("Probe failed", "output", msg)
		w.m.event(pod, w.container, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", w.kind, msg)
		return false, nil
	default:
		return false, errors.New("probe: unknown outcome")
	}
}
