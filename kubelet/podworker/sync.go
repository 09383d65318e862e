package podworker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
	"github.com/kubeshim/kubeshim/kubelet/status"
)

// Reasons of the Waiting state, as upstream's kubelet writes them.
const (
	reasonContainerCreating          = "ContainerCreating"
	reasonErrImagePull               = "ErrImagePull"
	reasonImagePullBackOff           = "ImagePullBackOff"
	reasonCrashLoopBackOff           = "CrashLoopBackOff"
	reasonCreateContainerConfigError = "CreateContainerConfigError"
	reasonCreateContainerError       = "CreateContainerError"
	reasonRunContainerError          = "RunContainerError"
)

// keptAttempts is how many attempts of a container the worker keeps: the newest and the one
// before it (`kubectl logs --previous` and lastState).
const keptAttempts = 2

// sync reconciles a pod that is not being deleted.
func (wk *worker) sync(ctx context.Context, pod *corev1.Pod) error {
	cfg := wk.parent.cfg
	wk.retryAt = time.Time{}
	if pod.Spec.NodeName != cfg.NodeName {
		return nil
	}
	if isTerminal(pod) {
		// A finished pod runs nothing more; after a kubelet restart make sure of it.
		if cfg.Prober != nil {
			cfg.Prober.RemovePod(pod.UID)
		}
		return wk.stopRunning(ctx, pod, gracePeriod(pod))
	}
	rt := cfg.Runtime
	sb, err := rt.RunSandbox(ctx, pod)
	if err != nil {
		wk.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		wk.retryAt = cfg.Clock.Now().Add(5 * time.Second)
		return errors.Join(fmt.Errorf("run sandbox: %w", err), wk.writeStatus(ctx, pod, nil, nil))
	}
	podIPs := sb.IPs
	if pod.Spec.HostNetwork && cfg.HostIP != "" {
		podIPs = []string{cfg.HostIP}
		sb = withIPs(sb, podIPs)
	}
	ctrs, err := wk.containers(ctx)
	if err != nil {
		return err
	}
	if wk.killRequested(ctx, pod, ctrs) {
		if ctrs, err = wk.containers(ctx); err != nil {
			return err
		}
	}
	paths, err := cfg.Volumes.Setup(ctx, pod)
	if err != nil {
		wk.event(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
		wk.retryAt = cfg.Clock.Now().Add(2 * time.Second)
		return wk.writeStatus(ctx, pod, sb, ctrs)
	}
	s := &podSync{wk: wk, pod: pod, sb: sb, podIPs: podIPs, paths: paths, ctrs: ctrs}

	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := newest(ctrs, c.Name)
		switch {
		case latest == nil:
			s.start(ctx, c, 0)
		case latest.State == runtime.ContainerCreated:
			s.startCreated(ctx, c, latest)
		case latest.State == runtime.ContainerExited && latest.ExitCode == 0:
			delete(wk.waiting, c.Name)
			continue
		case latest.State == runtime.ContainerExited:
			if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				s.restart(ctx, c, latest)
			}
		default:
			delete(wk.waiting, c.Name)
		}
		initDone = false
		break
	}
	if initDone {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			latest := newest(ctrs, c.Name)
			switch {
			case latest == nil:
				s.start(ctx, c, 0)
			case latest.State == runtime.ContainerCreated:
				s.startCreated(ctx, c, latest)
			case latest.State == runtime.ContainerExited:
				if shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) {
					s.restart(ctx, c, latest)
				} else {
					delete(wk.waiting, c.Name)
				}
			default:
				delete(wk.waiting, c.Name)
			}
		}
	}
	if s.changed {
		if ctrs, err = wk.containers(ctx); err != nil {
			return err
		}
	}
	wk.pruneAttempts(ctx, ctrs)
	wk.syncProbes(pod, podIPs, ctrs)
	return wk.writeStatus(ctx, pod, sb, ctrs)
}

// killRequested stops the running containers the prober asked to kill and reports whether it
// stopped any.
func (wk *worker) killRequested(ctx context.Context, pod *corev1.Pod, ctrs []*runtime.Container) bool {
	wk.mu.Lock()
	kills := wk.kills
	wk.kills = map[string]*int64{}
	wk.mu.Unlock()
	stopped := false
	for _, c := range ctrs {
		probeGrace, ok := kills[c.ID]
		if !ok || c.State != runtime.ContainerRunning {
			continue
		}
		grace := gracePeriod(pod)
		if probeGrace != nil {
			grace = time.Duration(*probeGrace) * time.Second
		}
		if err := wk.parent.cfg.Runtime.StopContainer(ctx, c.ID, grace); err != nil {
			klog.FromContext(ctx).Error(err, "Stop a container that failed its probe", "container", c.Name)
			continue
		}
		stopped = true
	}
	return stopped
}

// syncProbes tells the prober which containers run now.
func (wk *worker) syncProbes(pod *corev1.Pod, podIPs []string, ctrs []*runtime.Container) {
	prober := wk.parent.cfg.Prober
	if prober == nil {
		return
	}
	running := map[string]RunningContainer{}
	for _, c := range ctrs {
		if c.State == runtime.ContainerRunning {
			if cur, ok := running[c.Name]; !ok || c.StartedAt.After(cur.StartedAt) {
				running[c.Name] = RunningContainer{ID: c.ID, StartedAt: c.StartedAt}
			}
		}
	}
	prober.Sync(pod, podIPs, running)
}

// probeResults are the readiness and startup results for the status, by container name.
func (wk *worker) probeResults(pod *corev1.Pod) (ready, started map[string]bool) {
	prober := wk.parent.cfg.Prober
	if prober == nil {
		return nil, nil
	}
	ready, started = map[string]bool{}, map[string]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.ReadinessProbe != nil {
				ready[c.Name], _ = prober.Ready(pod.UID, c.Name)
			}
			if c.StartupProbe != nil {
				started[c.Name], _ = prober.Started(pod.UID, c.Name)
			}
		}
	}
	return ready, started
}

func withIPs(sb *runtime.Sandbox, ips []string) *runtime.Sandbox {
	c := *sb
	c.IPs = ips
	return &c
}

// podSync is one pass of sync over a pod.
type podSync struct {
	wk      *worker
	pod     *corev1.Pod
	sb      *runtime.Sandbox
	podIPs  []string
	paths   map[string]string
	ctrs    []*runtime.Container
	changed bool
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// restart starts the next attempt of c unless it is in its CrashLoopBackOff.
func (s *podSync) restart(ctx context.Context, c *corev1.Container, latest *runtime.Container) {
	wk := s.wk
	cfg := wk.parent.cfg
	key := string(s.pod.UID) + "_" + c.Name
	if cfg.CrashBackOff.IsInBackOffSince(key, latest.FinishedAt) {
		delay := cfg.CrashBackOff.Get(key)
		wk.setWaiting(c.Name, reasonCrashLoopBackOff, fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			delay, c.Name, s.pod.Name, s.pod.Namespace, s.pod.UID))
		wk.event(s.pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
			c.Name, s.pod.Name, s.pod.Namespace, s.pod.UID)
		wk.retryAfter(latest.FinishedAt.Add(delay))
		return
	}
	cfg.CrashBackOff.Next(key, latest.FinishedAt)
	s.start(ctx, c, latest.Attempt+1)
}

// start pulls c's image and creates and starts attempt of c.
func (s *podSync) start(ctx context.Context, c *corev1.Container, attempt int) {
	wk := s.wk
	cfg := wk.parent.cfg
	now := cfg.Clock.Now()
	pullKey := string(s.pod.UID) + "_" + c.Image
	if cfg.ImageBackOff.IsInBackOffSinceUpdate(pullKey, now) {
		wk.setWaiting(c.Name, reasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q", c.Image))
		wk.event(s.pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
		wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %s", reasonImagePullBackOff)
		wk.retryAfter(wk.pullFailedAt[c.Name].Add(cfg.ImageBackOff.Get(pullKey)))
		return
	}
	if _, waiting := wk.waiting[c.Name]; !waiting {
		wk.setWaiting(c.Name, reasonContainerCreating, "")
	}
	if c.ImagePullPolicy == corev1.PullAlways {
		wk.event(s.pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	}
	began := cfg.Clock.Now()
	img, err := cfg.Runtime.EnsureImage(ctx, c.Image, c.ImagePullPolicy, s.pod)
	if err != nil {
		reason := reasonErrImagePull
		msg := err.Error()
		if ie, ok := runtime.AsImageError(err); ok {
			reason = string(ie.Kind)
			if ie.Err != nil {
				msg = ie.Err.Error()
			}
		}
		now = cfg.Clock.Now()
		wk.setWaiting(c.Name, reason, msg)
		if reason != reasonErrImagePull {
			// ErrImageNeverPull, InvalidImageName: no pull was tried, so no back-off; the
			// reason stays until the image appears or the spec changes.
			wk.event(s.pod, corev1.EventTypeWarning, reason, "%s", msg)
			wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
			wk.retryAfter(now.Add(5 * time.Second))
			return
		}
		cfg.ImageBackOff.Next(pullKey, now)
		wk.pullFailedAt[c.Name] = now
		wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, msg)
		wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
		// Look again within the back-off, as upstream's periodic syncs do, so the status moves
		// on to ImagePullBackOff; the pull itself is retried when the back-off ends.
		wk.retryAfter(now.Add(min(2*time.Second, cfg.ImageBackOff.Get(pullKey))))
		return
	}
	cfg.ImageBackOff.Reset(pullKey)
	delete(wk.pullFailedAt, c.Name)
	switch {
	case img.Fallback != "":
		wk.event(s.pod, corev1.EventTypeWarning, "PullFallback", "%s", img.Fallback)
	case img.Pulled:
		if c.ImagePullPolicy != corev1.PullAlways {
			wk.event(s.pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
		}
		wk.event(s.pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, cfg.Clock.Since(began).Round(time.Millisecond))
	default:
		wk.event(s.pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	}

	env, err := cfg.Env(ctx, s.pod, c, s.podIPs, cfg.HostIP)
	if err != nil {
		s.configError(c, err)
		return
	}
	mounts, err := cfg.Mounts(s.pod, c, s.paths, env)
	if err != nil {
		s.configError(c, err)
		return
	}
	id, err := cfg.Runtime.CreateContainer(ctx, s.sb, s.pod, c, runtime.ContainerConfig{
		Attempt: attempt, Env: env, Mounts: mounts, Image: img,
	})
	if err != nil {
		wk.setWaiting(c.Name, reasonCreateContainerError, err.Error())
		wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		wk.retryAfter(cfg.Clock.Now().Add(5 * time.Second))
		return
	}
	s.changed = true
	wk.event(s.pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	s.startCreated(ctx, c, &runtime.Container{ID: id, Name: c.Name, Attempt: attempt})
}

func (s *podSync) configError(c *corev1.Container, err error) {
	wk := s.wk
	wk.setWaiting(c.Name, reasonCreateContainerConfigError, err.Error())
	wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
	wk.retryAfter(wk.parent.cfg.Clock.Now().Add(5 * time.Second))
}

// startCreated starts a created container; a failure removes it and backs off.
func (s *podSync) startCreated(ctx context.Context, c *corev1.Container, ctr *runtime.Container) {
	wk := s.wk
	cfg := wk.parent.cfg
	s.changed = true
	if err := cfg.Runtime.StartContainer(ctx, ctr.ID); err != nil {
		wk.setWaiting(c.Name, reasonRunContainerError, err.Error())
		wk.event(s.pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		if rerr := cfg.Runtime.RemoveContainer(ctx, ctr.ID); rerr != nil {
			klog.FromContext(ctx).Error(rerr, "Remove a container that failed to start", "container", c.Name)
		}
		wk.retryAfter(cfg.Clock.Now().Add(5 * time.Second))
		return
	}
	delete(wk.waiting, c.Name)
	wk.event(s.pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
}

func (wk *worker) setWaiting(name, reason, message string) {
	wk.waiting[name] = waitingReason{Reason: reason, Message: message}
}

func (wk *worker) retryAfter(t time.Time) {
	if wk.retryAt.IsZero() || t.Before(wk.retryAt) {
		wk.retryAt = t
	}
}

func (wk *worker) event(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if r := wk.parent.cfg.Recorder; r != nil && pod != nil {
		r.Eventf(pod, eventType, reason, format, args...)
	}
}

// containers lists the runtime containers of the worker's pod.
func (wk *worker) containers(ctx context.Context) ([]*runtime.Container, error) {
	all, err := wk.parent.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var mine []*runtime.Container
	for _, c := range all {
		if c.PodUID == wk.uid {
			mine = append(mine, c)
		}
	}
	return mine, nil
}

// newest returns the newest attempt of the container named name.
func newest(ctrs []*runtime.Container, name string) *runtime.Container {
	var best *runtime.Container
	for _, c := range ctrs {
		if c.Name != name {
			continue
		}
		if best == nil || c.Attempt > best.Attempt || (c.Attempt == best.Attempt && c.CreatedAt.After(best.CreatedAt)) {
			best = c
		}
	}
	return best
}

// pruneAttempts removes exited attempts older than the newest keptAttempts of each container.
func (wk *worker) pruneAttempts(ctx context.Context, ctrs []*runtime.Container) {
	byName := map[string][]*runtime.Container{}
	for _, c := range ctrs {
		byName[c.Name] = append(byName[c.Name], c)
	}
	for _, list := range byName {
		if len(list) <= keptAttempts {
			continue
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Attempt > list[j].Attempt })
		for _, c := range list[keptAttempts:] {
			if c.State == runtime.ContainerRunning {
				continue
			}
			if err := wk.parent.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil {
				klog.FromContext(ctx).Error(err, "Remove an old attempt", "container", c.Name, "attempt", c.Attempt)
			}
		}
	}
}

// writeStatus writes the pod's status when it changed.
func (wk *worker) writeStatus(ctx context.Context, pod *corev1.Pod, sb *runtime.Sandbox, ctrs []*runtime.Container) error {
	cfg := wk.parent.cfg
	waiting := make(map[string]status.Waiting, len(wk.waiting))
	for name, w := range wk.waiting {
		waiting[name] = status.Waiting{Reason: w.Reason, Message: w.Message}
	}
	ready, started := wk.probeResults(pod)
	st := status.Generate(status.Input{
		Pod: pod, Sandbox: sb, HostIP: cfg.HostIP, Containers: ctrs, Waiting: waiting, Ready: ready, Started: started,
		Now: cfg.Clock.Now(),
	})
	if wk.lastStatus != nil && status.Equal(*wk.lastStatus, st) && status.Equal(pod.Status, st) {
		return nil
	}
	if status.Equal(pod.Status, st) {
		wk.lastStatus = &st
		return nil
	}
	if isStatic(pod) {
		return wk.writeMirrorStatus(ctx, pod, st)
	}
	p := pod.DeepCopy()
	p.Status = st
	pods := cfg.Client.CoreV1().Pods(pod.Namespace)
	_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		latest, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("get pod %s for its status: %w", podName(pod), gerr)
		}
		if latest.UID != pod.UID {
			return nil
		}
		st = status.Generate(status.Input{
			Pod: latest, Sandbox: sb, HostIP: cfg.HostIP, Containers: ctrs, Waiting: waiting, Ready: ready, Started: started,
			Now: cfg.Clock.Now(),
		})
		latest.Status = st
		_, err = pods.UpdateStatus(ctx, latest, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of pod %s: %w", podName(pod), err)
	}
	wk.lastStatus = &st
	return nil
}

// writeMirrorStatus writes a static pod's status to its mirror pod, if the mirror exists (the
// static pod source makes it).
func (wk *worker) writeMirrorStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	pods := wk.parent.cfg.Client.CoreV1().Pods(pod.Namespace)
	mirror, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get mirror pod %s: %w", podName(pod), err)
	}
	if mirror.Annotations[configMirrorAnnotation] != pod.Annotations[configHashAnnotation] {
		return nil
	}
	if status.Equal(mirror.Status, st) {
		wk.lastStatus = &st
		return nil
	}
	mirror.Status = st
	if _, err := pods.UpdateStatus(ctx, mirror, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update status of mirror pod %s: %w", podName(pod), err)
	}
	wk.lastStatus = &st
	return nil
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// gracePeriod is the grace period to stop pod's containers with.
func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod == nil {
		return 2 * time.Second
	}
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// stopRunning stops the pod's running containers, running their preStop hooks first, all in
// parallel within grace.
func (wk *worker) stopRunning(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	cfg := wk.parent.cfg
	ctrs, err := wk.containers(ctx)
	if err != nil {
		return err
	}
	deadline := cfg.Clock.Now().Add(grace)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, c := range ctrs {
		if c.State != runtime.ContainerRunning && c.State != runtime.ContainerCreated {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.event(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			if hook := preStop(pod, c.Name); hook != nil && c.State == runtime.ContainerRunning {
				if out, code, err := cfg.Runtime.ExecSync(ctx, c.ID, hook, grace); err != nil || code != 0 {
					wk.event(pod, corev1.EventTypeWarning, "FailedPreStopHook",
						"PreStopHook failed: exit code %d, output %q, error %v", code, out, err)
				}
			}
			left := max(deadline.Sub(cfg.Clock.Now()), 0)
			if err := cfg.Runtime.StopContainer(ctx, c.ID, left); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stop container %s: %w", c.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// preStop returns the exec preStop hook of the container named name, if any.
func preStop(pod *corev1.Pod, name string) []string {
	if pod == nil {
		return nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == name })
		if i < 0 {
			continue
		}
		if lc := list[i].Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Exec != nil {
			return lc.PreStop.Exec.Command
		}
	}
	return nil
}

// terminate stops and removes everything of the pod and, if it still exists in the API,
// deletes it with grace 0. pod is nil when the pod is gone from the API.
func (wk *worker) terminate(ctx context.Context, pod *corev1.Pod) (bool, error) {
	cfg := wk.parent.cfg
	if cfg.Prober != nil {
		cfg.Prober.RemovePod(wk.uid)
	}
	_, gone := wk.snapshot()
	grace := gracePeriod(pod)
	if gone && !isStatic(pod) && (pod == nil || pod.DeletionTimestamp == nil) {
		grace = gracePeriod(nil)
	}
	if err := wk.stopRunning(ctx, pod, grace); err != nil {
		return false, err
	}
	ctrs, err := wk.containers(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range ctrs {
		if err := cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return false, fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	}
	if err := cfg.Runtime.RemoveSandbox(ctx, wk.uid); err != nil {
		return false, fmt.Errorf("remove sandbox: %w", err)
	}
	if err := cfg.Volumes.Cleanup(wk.uid); err != nil {
		return false, fmt.Errorf("clean volumes up: %w", err)
	}
	if pod == nil || gone || isStatic(pod) {
		return true, nil
	}
	zero := int64(0)
	err = cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, fmt.Errorf("delete pod %s: %w", podName(pod), err)
	}
	return true, nil
}
