// Package status computes the PodStatus the kubelet writes for a pod from what the runtime
// reports, the pod worker's decisions (why a container waits) and the probe results, the way
// upstream's kubelet does (pkg/kubelet/kubelet_pods.go generateAPIPodStatus, getPhase,
// convertToAPIContainerStatuses; pkg/kubelet/status generate.go and status_manager.go;
// pkg/kubelet/prober UpdatePodStatus). Everything here is a pure function of its input.
package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// Waiting reasons of containers, as upstream's kubelet reports them.
const (
	ContainerCreating          = "ContainerCreating"
	PodInitializing            = "PodInitializing"
	ErrImagePull               = "ErrImagePull"
	ImagePullBackOff           = "ImagePullBackOff"
	ErrImageNeverPull          = "ErrImageNeverPull"
	InvalidImageName           = "InvalidImageName"
	CrashLoopBackOff           = "CrashLoopBackOff"
	CreateContainerConfigError = "CreateContainerConfigError"
	CreateContainerError       = "CreateContainerError"
	RunContainerError          = "RunContainerError"
)

// Condition reasons, as upstream's pkg/kubelet/status sets them.
const (
	PodCompleted             = "PodCompleted"
	PodFailed                = "PodFailed"
	ContainersNotReady       = "ContainersNotReady"
	ContainersNotInitialized = "ContainersNotInitialized"
	ReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// containerStatusUnknown is the reason of a container that was running and is gone from the
// runtime without an exit status.
const containerStatusUnknown = "ContainerStatusUnknown"

// maxTerminationMessageBytes is what all the termination messages of a pod may take together
// (upstream kubecontainer.MaxPodTerminationMessageLogLength); each container gets its share.
const maxTerminationMessageBytes = 12 * 1024

// containerIDPrefix is the runtime type in ContainerStatus.ContainerID ("containerd://<id>").
const containerIDPrefix = "containerd://"

// Waiting says why a container of the spec is not running now (decided by the pod worker).
type Waiting struct{ Reason, Message string }

// Input is everything the status of a pod is computed from.
type Input struct {
	// Pod is the pod as the API has it; its status is the old status.
	Pod *corev1.Pod
	// Sandbox is the pod's sandbox, nil while there is none.
	Sandbox *runtime.Sandbox
	// HostIP is the node's IP.
	HostIP string
	// Containers are every runtime container of this pod: all attempts, init and app.
	Containers []*runtime.Container
	// Waiting says, by container name (init or app), why a container that is not running waits.
	Waiting map[string]Waiting
	// Ready holds the readiness-probe results by container name. A running container with a
	// readinessProbe that is absent here is not ready; without a probe, running (and started)
	// means ready.
	Ready map[string]bool
	// Started holds the startup-probe results by container name, with the same rule.
	Started map[string]bool
	// Terminal is set by the pod worker once it has decided the pod will run no more (deleted,
	// evicted): its stopped containers will not restart whatever the restartPolicy, so a pod
	// whose containers all stopped is Succeeded (all exited 0) or Failed. Upstream's
	// podIsTerminal.
	Terminal bool
	// Now is the time of this status: new condition transitions and the first startTime.
	Now time.Time
}

// Generate returns the status of in.Pod.
func Generate(in Input) corev1.PodStatus {
	pod := in.Pod
	old := pod.Status
	now := metav1.NewTime(in.Now).Rfc3339Copy()

	// Fields the kubelet does not own (qosClass, nominatedNodeName, resize, resource claims,
	// ephemeral containers …) stay as the API has them.
	s := *old.DeepCopy()
	s.ObservedGeneration = pod.Generation

	// Addresses.
	if in.HostIP != "" {
		s.HostIP = in.HostIP
		s.HostIPs = []corev1.HostIP{{IP: in.HostIP}}
	}
	if in.Sandbox != nil && len(in.Sandbox.IPs) > 0 {
		s.PodIP = in.Sandbox.IPs[0]
		s.PodIPs = make([]corev1.PodIP, 0, len(in.Sandbox.IPs))
		for _, ip := range in.Sandbox.IPs {
			s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if pod.Spec.HostNetwork && s.PodIP == "" && in.HostIP != "" {
		s.PodIP = in.HostIP
		s.PodIPs = []corev1.PodIP{{IP: in.HostIP}}
	}
	if old.StartTime == nil || old.StartTime.IsZero() {
		s.StartTime = &now
	}

	// Containers.
	byName := map[string][]*runtime.Container{}
	for _, c := range in.Containers {
		if c == nil || (c.PodUID != "" && pod.UID != "" && c.PodUID != pod.UID) {
			continue
		}
		byName[c.Name] = append(byName[c.Name], c)
	}
	for _, attempts := range byName {
		slices.SortFunc(attempts, func(a, b *runtime.Container) int {
			if a.Attempt != b.Attempt {
				return cmp.Compare(b.Attempt, a.Attempt)
			}
			return b.CreatedAt.Compare(a.CreatedAt)
		})
	}
	g := generator{in: in, byName: byName, anyAppCreated: anyCreated(pod.Spec.Containers, byName)}
	s.InitContainerStatuses = g.containerStatuses(pod.Spec.InitContainers, old.InitContainerStatuses, true)
	s.ContainerStatuses = g.containerStatuses(pod.Spec.Containers, old.ContainerStatuses, false)
	normalizeStatuses(pod, &s)

	// Phase.
	all := append(append([]corev1.ContainerStatus{}, s.ContainerStatuses...), s.InitContainerStatuses...)
	s.Phase = phase(pod, all, in.Terminal, anyAppRunning(pod.Spec.Containers, byName))
	if !terminal(s.Phase) && terminal(old.Phase) {
		// Pods never leave a terminal phase.
		klog.V(4).InfoS("Pod keeps its terminal phase", "pod", klog.KObj(pod), "phase", old.Phase, "computed", s.Phase)
		s.Phase = old.Phase
	}
	if s.Phase != old.Phase {
		// The reason and message go with the phase they were given for.
		s.Reason, s.Message = "", ""
	}

	// Conditions: those the kubelet does not own first, as they are, then its own.
	s.Conditions = make([]corev1.PodCondition, 0, len(old.Conditions)+5)
	for _, c := range old.Conditions {
		if !ownedByKubelet(c.Type) {
			s.Conditions = append(s.Conditions, c)
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, s.InitContainerStatuses...), s.ContainerStatuses...)
	s.Conditions = append(s.Conditions,
		readyToStartContainersCondition(pod, in.Sandbox),
		initializedCondition(pod, statuses, s.Phase),
		podReadyCondition(pod, s.Conditions, statuses, s.Phase),
		containersReadyCondition(pod, statuses, s.Phase),
		corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	)
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if !ownedByKubelet(c.Type) {
			continue
		}
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = now
		if prev := findCondition(old.Conditions, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		}
	}
	return s
}

// Equal reports whether two statuses are semantically equal, so that the pod worker writes a
// status only when it changed.
func Equal(a, b corev1.PodStatus) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}

// generator computes the container statuses of one pod.
type generator struct {
	in            Input
	byName        map[string][]*runtime.Container
	anyAppCreated bool
}

// containerStatuses returns the statuses of specs (the init or the app containers), in spec
// order, from their runtime attempts, the pod worker's waiting reasons, the probe results
// and the old statuses.
func (g *generator) containerStatuses(specs []corev1.Container, previous []corev1.ContainerStatus, isInit bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	pod := g.in.Pod
	oldByName := make(map[string]corev1.ContainerStatus, len(previous))
	for _, st := range previous {
		oldByName[st.Name] = st
	}
	defaultReason := ContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		defaultReason = PodInitializing
	}

	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		attempts := g.byName[spec.Name]
		old, hadOld := oldByName[spec.Name]

		st := corev1.ContainerStatus{
			Name:  spec.Name,
			Image: spec.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: defaultReason}},
		}
		if hadOld {
			if old.State.Terminated != nil {
				st = *old.DeepCopy()
			} else {
				st.RestartCount = old.RestartCount
				st.LastTerminationState = *old.LastTerminationState.DeepCopy()
			}
		}

		switch {
		case len(attempts) > 0:
			// The newest attempt gives the state, the one before it the last state.
			newest := attempts[0]
			st = corev1.ContainerStatus{
				Name:         spec.Name,
				Image:        cmp.Or(newest.ImageRef, newest.Image, spec.Image),
				ImageID:      newest.ImageID,
				ContainerID:  containerIDPrefix + newest.ID,
				RestartCount: int32(newest.Attempt),
				State:        containerState(newest),
			}
			if newest.State == runtime.ContainerUnknown && hadOld && old.State.Running != nil {
				// It was running and the runtime lost it: it did not succeed.
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason:   containerStatusUnknown,
					Message:  "The container could not be located when the pod was terminated",
					ExitCode: 137,
				}}
				st.RestartCount = old.RestartCount + 1
			}
			if len(attempts) > 1 {
				st.LastTerminationState = containerState(attempts[1])
			}
		case hadOld && old.State.Running != nil && st.State.Waiting != nil && st.LastTerminationState.Terminated == nil:
			// It was running and its container is gone without an exit status: show it stopped
			// rather than never started, so the pod does not fall back to Pending.
			st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason:   containerStatusUnknown,
				Message:  "The container could not be located when the pod was deleted.  The container used to be Running",
				ExitCode: 137,
			}}
			if pod.DeletionTimestamp == nil {
				st.RestartCount++
			}
		case isInit && !isSidecar(spec) && g.anyAppCreated && st.State.Waiting != nil:
			// An app container exists, so this init container completed; its container is gone.
			st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason:   "Completed",
				Message:  "Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally",
				ExitCode: 0,
			}}
		}

		// The pod worker's reason for a container that is not running.
		if w, ok := g.in.Waiting[spec.Name]; ok && !newestRunning(attempts) && !(isInit && succeeded(attempts)) {
			if st.State.Terminated != nil {
				st.LastTerminationState = st.State
			}
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
		}

		g.probe(spec, &st, isInit)
		out = append(out, st)
	}
	return out
}

// probe sets started and ready the way upstream's prober manager does.
func (g *generator) probe(spec *corev1.Container, st *corev1.ContainerStatus, isInit bool) {
	started := false
	if st.State.Running != nil {
		started = spec.StartupProbe == nil || g.in.Started[spec.Name]
	}
	st.Started = &started
	st.Ready = false
	if isInit && !isSidecar(spec) {
		// A regular init container is ready once it completed.
		st.Ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		return
	}
	if started {
		st.Ready = spec.ReadinessProbe == nil || g.in.Ready[spec.Name]
	}
}

// containerState is the API state of one runtime container.
func containerState(c *runtime.Container) corev1.ContainerState {
	switch c.State {
	case runtime.ContainerRunning:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}}
	case runtime.ContainerExited:
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:    c.ExitCode,
			Reason:      c.Reason,
			Message:     c.Message,
			StartedAt:   metav1.NewTime(c.StartedAt),
			FinishedAt:  metav1.NewTime(c.FinishedAt),
			ContainerID: containerIDPrefix + c.ID,
		}}
	default:
		// Created (not started yet) and Unknown: waiting to run.
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	}
}

// newestRunning reports whether the newest attempt runs.
func newestRunning(attempts []*runtime.Container) bool {
	return len(attempts) > 0 && attempts[0].State == runtime.ContainerRunning
}

// succeeded reports whether the newest attempt exited 0.
func succeeded(attempts []*runtime.Container) bool {
	return len(attempts) > 0 && attempts[0].State == runtime.ContainerExited && attempts[0].ExitCode == 0
}

// anyCreated reports whether any of specs has a runtime container.
func anyCreated(specs []corev1.Container, byName map[string][]*runtime.Container) bool {
	for _, c := range specs {
		if len(byName[c.Name]) > 0 {
			return true
		}
	}
	return false
}

// anyAppRunning reports whether an app container runs (upstream's
// HasAnyActiveRegularContainerStarted): the pod initialized, whatever its sidecars do now.
func anyAppRunning(specs []corev1.Container, byName map[string][]*runtime.Container) bool {
	for _, c := range specs {
		if newestRunning(byName[c.Name]) {
			return true
		}
	}
	return false
}

// isSidecar reports whether an init container is restartable (a sidecar).
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func terminal(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// normalizeStatuses does what upstream's status manager does before it writes a status:
// times to the second (what the API keeps), termination messages cut to the pod's share,
// app container statuses sorted by name (init container statuses stay in spec order).
func normalizeStatuses(pod *corev1.Pod, s *corev1.PodStatus) {
	perStatus := maxTerminationMessageBytes
	if n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers); n > 0 {
		perStatus /= n
	}
	state := func(c *corev1.ContainerState) {
		if c.Running != nil {
			c.Running.StartedAt = c.Running.StartedAt.Rfc3339Copy()
		}
		if t := c.Terminated; t != nil {
			t.StartedAt = t.StartedAt.Rfc3339Copy()
			t.FinishedAt = t.FinishedAt.Rfc3339Copy()
			if len(t.Message) > perStatus {
				t.Message = t.Message[:perStatus]
			}
		}
	}
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses} {
		for i := range list {
			state(&list[i].State)
			state(&list[i].LastTerminationState)
		}
	}
	slices.SortStableFunc(s.ContainerStatuses, func(a, b corev1.ContainerStatus) int {
		return strings.Compare(a.Name, b.Name)
	})
}

// phase is upstream's getPhase: the phase of a pod from its container statuses (init and app).
func phase(pod *corev1.Pod, statuses []corev1.ContainerStatus, podIsTerminal, podHasInitialized bool) corev1.PodPhase {
	spec := &pod.Spec
	pendingInit, pendingSidecars, failedInit := 0, 0, 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if isSidecar(c) {
			continue
		}
		st := findStatus(statuses, c.Name)
		switch {
		case st == nil, st.State.Running != nil:
			pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			if st.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}

	unknown, runningN, waiting, stopped, succeededN := 0, 0, 0, 0, 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if !isSidecar(c) {
			continue
		}
		st := findStatus(statuses, c.Name)
		switch {
		case st == nil:
			unknown++
		case st.State.Running != nil:
			if st.Started == nil || !*st.Started {
				pendingSidecars++
			}
			runningN++
		case st.State.Terminated != nil:
			// Stopped sidecars do not count for the phase.
		case st.State.Waiting != nil:
			if st.LastTerminationState.Terminated == nil {
				pendingSidecars++
				waiting++
			}
		default:
			pendingSidecars++
			unknown++
		}
	}
	for i := range spec.Containers {
		st := findStatus(statuses, spec.Containers[i].Name)
		switch {
		case st == nil:
			unknown++
		case st.State.Running != nil:
			runningN++
		case st.State.Terminated != nil:
			stopped++
			if st.State.Terminated.ExitCode == 0 {
				succeededN++
			}
		case st.State.Waiting != nil:
			if st.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}

	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0, pendingSidecars > 0 && !podHasInitialized, waiting > 0:
		// Initialization is not over, or a container has not been started yet.
		return corev1.PodPending
	case runningN > 0 && unknown == 0:
		return corev1.PodRunning
	case runningN == 0 && stopped > 0 && unknown == 0:
		if podIsTerminal && pod.Annotations[configSourceAnnotation] == "" {
			// Nothing restarts any more; static pods stay non-terminal as upstream.
			if stopped == succeededN {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		switch {
		case spec.RestartPolicy == corev1.RestartPolicyAlways:
			// They are all being restarted.
			return corev1.PodRunning
		case stopped == succeededN:
			return corev1.PodSucceeded
		case spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		default:
			// OnFailure: the failed ones are being restarted.
			return corev1.PodRunning
		}
	default:
		return corev1.PodPending
	}
}

// configSourceAnnotation marks a static pod (upstream kubetypes.ConfigSourceAnnotationKey);
// upstream never gives static pods a terminal phase.
const configSourceAnnotation = "kubernetes.io/config.source"

func findStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func findCondition(conditions []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conditions {
		if conditions[i].Type == t {
			return &conditions[i]
		}
	}
	return nil
}

// ownedByKubelet reports whether the kubelet sets conditions of type t (upstream
// kubetypes.PodConditionByKubelet); the others (readiness gates, DisruptionTarget …) belong
// to other writers and are kept as they are.
func ownedByKubelet(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady,
		corev1.PodReadyToStartContainers, corev1.PodResizePending, corev1.PodResizeInProgress:
		return true
	}
	return false
}

// readyToStartContainersCondition is True once the pod has a sandbox with its network.
func readyToStartContainersCondition(pod *corev1.Pod, sb *runtime.Sandbox) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if sb != nil && (pod.Spec.HostNetwork || len(sb.IPs) > 0) {
		c.Status = corev1.ConditionTrue
	}
	return c
}

// initializedCondition is upstream's GeneratePodInitializedCondition.
func initializedCondition(pod *corev1.Pod, statuses []corev1.ContainerStatus, ph corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		st := findStatus(statuses, ic.Name)
		switch {
		case st == nil:
			unknown = append(unknown, ic.Name)
		case isSidecar(ic) && (st.Started == nil || !*st.Started):
			incomplete = append(incomplete, ic.Name)
		case !isSidecar(ic) && !st.Ready:
			incomplete = append(incomplete, ic.Name)
		}
	}
	if ph == corev1.PodSucceeded && len(unknown) == 0 {
		c.Reason = PodCompleted
		return c
	}
	if anyAppStarted(pod, statuses) {
		// The pod initialized before; restarting sidecars do not undo that.
		return c
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(incomplete) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with incomplete status: %s", incomplete))
	}
	if len(msgs) > 0 {
		c.Status = corev1.ConditionFalse
		c.Reason = ContainersNotInitialized
		c.Message = strings.Join(msgs, ", ")
	}
	return c
}

// anyAppStarted reports whether an app container has ever left its waiting state.
func anyAppStarted(pod *corev1.Pod, statuses []corev1.ContainerStatus) bool {
	for i := range pod.Spec.Containers {
		if st := findStatus(statuses, pod.Spec.Containers[i].Name); st != nil && (st.State.Running != nil || st.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// containersReadyCondition is upstream's GenerateContainersReadyCondition.
func containersReadyCondition(pod *corev1.Pod, statuses []corev1.ContainerStatus, ph corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	var unknown, unready []string
	check := func(name string) {
		st := findStatus(statuses, name)
		switch {
		case st == nil:
			unknown = append(unknown, name)
		case !st.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name)
	}
	switch {
	case ph == corev1.PodSucceeded && len(unknown) == 0:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: PodCompleted}
	case ph == corev1.PodFailed:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: PodFailed}
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(unready) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unready status: %s", unready))
	}
	if len(msgs) > 0 {
		c.Status = corev1.ConditionFalse
		c.Reason = ContainersNotReady
		c.Message = strings.Join(msgs, ", ")
	}
	return c
}

// podReadyCondition is upstream's GeneratePodReadyCondition: ContainersReady, and every
// readiness gate's condition (among conditions) True.
func podReadyCondition(pod *corev1.Pod, conditions []corev1.PodCondition, statuses []corev1.ContainerStatus, ph corev1.PodPhase) corev1.PodCondition {
	cr := containersReadyCondition(pod, statuses, ph)
	if cr.Status != corev1.ConditionTrue {
		return corev1.PodCondition{Type: corev1.PodReady, Status: cr.Status, Reason: cr.Reason, Message: cr.Message}
	}
	var msgs []string
	for _, gate := range pod.Spec.ReadinessGates {
		gc := findCondition(conditions, gate.ConditionType)
		switch {
		case gc == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(gate.ConditionType)))
		case gc.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(gate.ConditionType), gc.Status))
		}
	}
	if len(msgs) > 0 {
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: ReadinessGatesNotReady, Message: strings.Join(msgs, ", ")}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}
