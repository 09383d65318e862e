package podworker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

type harness struct {
	t       *testing.T
	clock   *testingclock.FakeClock
	rt      *fakeRuntime
	vols    *fakeVolumes
	client  *fake.Clientset
	events  *record.FakeRecorder
	workers *Workers
	wk      *worker
	pod     *corev1.Pod
}

func newHarness(t *testing.T, pod *corev1.Pod) *harness {
	t.Helper()
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	h := &harness{t: t, clock: clk, rt: newFakeRuntime(clk), vols: &fakeVolumes{}, client: fake.NewClientset(pod.DeepCopy()),
		events: record.NewFakeRecorder(1000), pod: pod}
	h.workers = New(Config{
		NodeName: "node1", Client: h.client, Runtime: h.rt, Volumes: h.vols, HostIP: "192.0.2.1",
		Env: func(context.Context, *corev1.Pod, *corev1.Container, []string, string) ([]string, error) {
			return []string{"A=1"}, nil
		},
		Mounts: func(*corev1.Pod, *corev1.Container, map[string]string, []string) ([]runtime.Mount, error) {
			return nil, nil
		},
		Recorder:     h.events,
		Clock:        clk,
		CrashBackOff: flowcontrol.NewFakeBackOff(10*time.Second, 300*time.Second, clk),
		ImageBackOff: flowcontrol.NewFakeBackOff(10*time.Second, 300*time.Second, clk),
	})
	h.wk = newWorker(h.workers, pod.UID)
	return h
}

// sync runs one sync over the pod as the API has it now.
func (h *harness) sync() *corev1.Pod {
	h.t.Helper()
	pod := h.current()
	if err := h.wk.sync(context.Background(), pod); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	return h.current()
}

func (h *harness) current() *corev1.Pod {
	h.t.Helper()
	p, err := h.client.CoreV1().Pods(h.pod.Namespace).Get(context.Background(), h.pod.Name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get pod: %v", err)
	}
	return p
}

func (h *harness) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func testPod(policy corev1.RestartPolicy, containers ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: types.UID("uid-1")},
		Spec:       corev1.PodSpec{NodeName: "node1", RestartPolicy: policy},
	}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent})
	}
	return pod
}

func containerStatus(t *testing.T, pod *corev1.Pod, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for container %s in %+v", name, pod.Status)
	return corev1.ContainerStatus{}
}

func TestStartsContainersAndWritesRunning(t *testing.T) {
	h := newHarness(t, testPod(corev1.RestartPolicyAlways, "a", "b"))
	pod := h.sync()
	calls := h.rt.callLog()
	for _, want := range []string{"sandbox p", "create a/0", "start a/0", "create b/0", "start b/0"} {
		if !slices.Contains(calls, want) {
			t.Errorf("runtime calls %v lack %q", calls, want)
		}
	}
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running", pod.Status.Phase)
	}
	if pod.Status.PodIP != "10.88.0.5" || pod.Status.HostIP != "192.0.2.1" {
		t.Errorf("podIP %q hostIP %q", pod.Status.PodIP, pod.Status.HostIP)
	}
	if s := containerStatus(t, pod, "a"); s.State.Running == nil || !s.Ready {
		t.Errorf("container a: %+v", s)
	}
	events := strings.Join(h.drainEvents(), "\n")
	for _, want := range []string{"Created container: a", "Started container b", `Container image "busybox" already present on machine`} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
	// A second sync changes nothing.
	h.sync()
	if calls := h.rt.callLog(); len(calls) != 0 {
		t.Errorf("second sync called the runtime: %v", calls)
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t, testPod(corev1.RestartPolicyAlways, "main"))
	h.sync()
	uid := h.pod.UID

	// First exit: restarted at once.
	h.clock.Step(time.Second)
	h.rt.exit(uid, "main", 0)
	pod := h.sync()
	if s := containerStatus(t, pod, "main"); s.RestartCount != 1 || s.State.Running == nil {
		t.Fatalf("after the first exit: %+v", s)
	}
	// Second exit: CrashLoopBackOff for 10 s.
	h.clock.Step(time.Second)
	h.rt.exit(uid, "main", 0)
	pod = h.sync()
	s := containerStatus(t, pod, "main")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Fatalf("after the second exit: %+v", s)
	}
	if !strings.Contains(s.State.Waiting.Message, "back-off 10s restarting failed container=main pod=p_default(uid-1)") {
		t.Errorf("message %q", s.State.Waiting.Message)
	}
	if s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.Reason != "Completed" {
		t.Errorf("lastState %+v", s.LastTerminationState)
	}
	if s.RestartCount != 1 {
		t.Errorf("restartCount %d, want 1", s.RestartCount)
	}
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running (restartPolicy Always)", pod.Status.Phase)
	}
	h.rt.callLog()
	h.clock.Step(9 * time.Second)
	h.sync()
	if calls := h.rt.callLog(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "start") }) {
		t.Fatalf("restarted inside the back-off: %v", calls)
	}
	h.clock.Step(2 * time.Second)
	pod = h.sync()
	if s := containerStatus(t, pod, "main"); s.RestartCount != 2 || s.State.Running == nil {
		t.Fatalf("after the back-off: %+v", s)
	}
	// Third exit: 20 s now.
	h.rt.exit(uid, "main", 1)
	pod = h.sync()
	if s := containerStatus(t, pod, "main"); !strings.Contains(s.State.Waiting.Message, "back-off 20s") {
		t.Errorf("third back-off: %+v", s.State)
	}
	h.clock.Step(19 * time.Second)
	h.sync()
	if s := containerStatus(t, h.current(), "main"); s.State.Waiting == nil {
		t.Errorf("restarted before 20 s: %+v", s.State)
	}
	h.clock.Step(2 * time.Second)
	if s := containerStatus(t, h.sync(), "main"); s.RestartCount != 3 || s.State.Running == nil {
		t.Errorf("after the 20 s back-off: %+v", s)
	}
	// Only the two newest attempts are kept.
	ctrs, _ := h.rt.ListContainers(context.Background())
	if len(ctrs) != keptAttempts {
		t.Errorf("%d containers kept, want %d", len(ctrs), keptAttempts)
	}
	if events := strings.Join(h.drainEvents(), "\n"); !strings.Contains(events, "Back-off restarting failed container main in pod p_default(uid-1)") {
		t.Errorf("no BackOff event:\n%s", events)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy    corev1.RestartPolicy
		exit      int32
		phase     corev1.PodPhase
		restarted bool
	}{
		{corev1.RestartPolicyNever, 0, corev1.PodSucceeded, false},
		{corev1.RestartPolicyNever, 1, corev1.PodFailed, false},
		{corev1.RestartPolicyOnFailure, 0, corev1.PodSucceeded, false},
		{corev1.RestartPolicyOnFailure, 2, corev1.PodRunning, true},
		{corev1.RestartPolicyAlways, 0, corev1.PodRunning, true},
	} {
		t.Run(string(tc.policy)+"/"+string(rune('0'+tc.exit)), func(t *testing.T) {
			h := newHarness(t, testPod(tc.policy, "main"))
			h.sync()
			h.rt.exit(h.pod.UID, "main", tc.exit)
			pod := h.sync()
			if pod.Status.Phase != tc.phase {
				t.Errorf("phase %s, want %s", pod.Status.Phase, tc.phase)
			}
			s := containerStatus(t, pod, "main")
			if got := s.RestartCount == 1; got != tc.restarted {
				t.Errorf("restarted = %v, want %v (%+v)", got, tc.restarted, s)
			}
			if !tc.restarted && (s.State.Terminated == nil || s.State.Terminated.ExitCode != tc.exit) {
				t.Errorf("state %+v", s.State)
			}
			// A finished pod starts nothing more.
			h.rt.callLog()
			h.sync()
			if calls := h.rt.callLog(); !tc.restarted && slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "start") }) {
				t.Errorf("finished pod started again: %v", calls)
			}
		})
	}
}

func TestImagePullBackOff(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "main")
	pod.Spec.Containers[0].Image = "nosuch"
	h := newHarness(t, pod)
	h.rt.pullErr["nosuch"] = errors.New("docker.io/library/nosuch:latest: not found")
	s := containerStatus(t, h.sync(), "main")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "ErrImagePull" {
		t.Fatalf("first pull: %+v", s.State)
	}
	h.clock.Step(time.Second)
	s = containerStatus(t, h.sync(), "main")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "ImagePullBackOff" || s.State.Waiting.Message != `Back-off pulling image "nosuch"` {
		t.Fatalf("inside the back-off: %+v", s.State)
	}
	if n := strings.Count(strings.Join(h.rt.callLog(), ","), "pull nosuch"); n != 1 {
		t.Errorf("%d pulls, want 1 (none inside the back-off)", n)
	}
	h.clock.Step(10 * time.Second)
	if s = containerStatus(t, h.sync(), "main"); s.State.Waiting.Reason != "ErrImagePull" {
		t.Errorf("after the back-off the pull is retried: %+v", s.State)
	}
	events := strings.Join(h.drainEvents(), "\n")
	for _, want := range []string{`Failed to pull image "nosuch"`, "Error: ErrImagePull", `Back-off pulling image "nosuch"`, "Error: ImagePullBackOff"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
	// Fixed: the image appears, the container starts.
	delete(h.rt.pullErr, "nosuch")
	h.clock.Step(time.Minute)
	if s = containerStatus(t, h.sync(), "main"); s.State.Running == nil {
		t.Errorf("after the image appeared: %+v", s.State)
	}
}

func TestInitContainersRunInOrder(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "app")
	pod.Spec.InitContainers = []corev1.Container{{Name: "init1", Image: "busybox"}, {Name: "init2", Image: "busybox"}}
	h := newHarness(t, pod)
	p := h.sync()
	if calls := h.rt.callLog(); !slices.Contains(calls, "start init1/0") || slices.Contains(calls, "start init2/0") {
		t.Fatalf("first sync: %v", calls)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s while initializing", p.Status.Phase)
	}
	h.rt.exit(pod.UID, "init1", 0)
	h.sync()
	if calls := h.rt.callLog(); !slices.Contains(calls, "start init2/0") || slices.Contains(calls, "start app/0") {
		t.Fatalf("second sync: %v", calls)
	}
	// A failing init container is restarted (policy Always) and the app still waits.
	h.rt.exit(pod.UID, "init2", 1)
	h.sync()
	if calls := h.rt.callLog(); !slices.Contains(calls, "start init2/1") || slices.Contains(calls, "start app/0") {
		t.Fatalf("third sync: %v", calls)
	}
	h.rt.exit(pod.UID, "init2", 0)
	p = h.sync()
	if calls := h.rt.callLog(); !slices.Contains(calls, "start app/0") {
		t.Fatalf("fourth sync: %v", calls)
	}
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s", p.Status.Phase)
	}
}

func TestConfigErrors(t *testing.T) {
	h := newHarness(t, testPod(corev1.RestartPolicyAlways, "main"))
	h.workers.cfg.Env = func(context.Context, *corev1.Pod, *corev1.Container, []string, string) ([]string, error) {
		return nil, errors.New(`configmap "cfg" not found`)
	}
	s := containerStatus(t, h.sync(), "main")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "CreateContainerConfigError" || s.State.Waiting.Message != `configmap "cfg" not found` {
		t.Fatalf("state %+v", s.State)
	}
	h.rt.createErr = errors.New("bad mount")
	h.workers.cfg.Env = func(context.Context, *corev1.Pod, *corev1.Container, []string, string) ([]string, error) {
		return nil, nil
	}
	if s = containerStatus(t, h.sync(), "main"); s.State.Waiting == nil || s.State.Waiting.Reason != "CreateContainerError" {
		t.Fatalf("state %+v", s.State)
	}
}

func TestDeletionStopsGracefullyAndRemovesThePod(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "main", "side")
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo bye"}}}}
	h := newHarness(t, pod)
	h.sync()
	p := h.current()
	now := metav1.NewTime(h.clock.Now())
	grace := int64(7)
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = &grace
	done, err := h.wk.terminate(context.Background(), p)
	if err != nil || !done {
		t.Fatalf("terminate: %v %v", done, err)
	}
	if !slices.Equal(h.rt.execs, []string{"main:[sh -c echo bye]"}) {
		t.Errorf("preStop hooks run: %v", h.rt.execs)
	}
	if h.rt.stops["main"] > 7*time.Second || h.rt.stops["main"] < 6*time.Second || h.rt.stops["side"] != 7*time.Second {
		t.Errorf("grace given: %v", h.rt.stops)
	}
	if ctrs, _ := h.rt.ListContainers(context.Background()); len(ctrs) != 0 {
		t.Errorf("containers left: %d", len(ctrs))
	}
	if sbs, _ := h.rt.ListSandboxes(context.Background()); len(sbs) != 0 {
		t.Errorf("sandboxes left: %d", len(sbs))
	}
	if len(h.vols.cleaned) != 1 {
		t.Errorf("volumes cleaned %v", h.vols.cleaned)
	}
	if _, err := h.client.CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still in the API: %v", err)
	}
	var deleteAction bool
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" {
			deleteAction = true
		}
	}
	if !deleteAction {
		t.Error("no delete call")
	}
}

func TestWorkersRunAndCleanOrphans(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "main")
	h := newHarness(t, pod)
	// A real clock for the run loop.
	h.workers.cfg.Clock = clock.RealClock{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		h.workers.Wait()
	}()
	h.workers.Start(ctx)
	h.workers.Update(h.current())
	waitFor(t, func() bool { return h.current().Status.Phase == corev1.PodRunning })

	// An orphan: a sandbox and container of a pod the API does not know.
	orphan := testPod(corev1.RestartPolicyAlways, "x")
	orphan.UID = "orphan"
	sb, _ := h.rt.RunSandbox(ctx, orphan)
	id, _ := h.rt.CreateContainer(ctx, sb, orphan, &orphan.Spec.Containers[0], runtime.ContainerConfig{Image: &runtime.Image{}})
	_ = h.rt.StartContainer(ctx, id)
	if err := h.workers.CleanupOrphans(ctx, func(uid types.UID) bool { return uid == pod.UID }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		ctrs, _ := h.rt.ListContainers(ctx)
		sbs, _ := h.rt.ListSandboxes(ctx)
		return len(ctrs) == 1 && len(sbs) == 1 && !h.workers.Known("orphan")
	})
	// The pod's own container is untouched.
	if s := containerStatus(t, h.current(), "main"); s.RestartCount != 0 || s.State.Running == nil {
		t.Errorf("the pod's container: %+v", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The worker's own status writes come back as updates; only changes to what it acts on wake it.
func TestSpecChanged(t *testing.T) {
	base := testPod(corev1.RestartPolicyAlways, "main")
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"status only", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}}
			p.ResourceVersion = "9"
		}, false},
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx" }, true},
		{"deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, true},
		{"labels", func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }, true},
		{"terminal phase", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, true},
		{"phase Pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, false},
	} {
		p := base.DeepCopy()
		tc.change(p)
		if got := specChanged(base, p); got != tc.want {
			t.Errorf("%s: specChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// ErrImageNeverPull tried no pull: it stays, with no ImagePullBackOff, until the image appears.
func TestErrImageNeverPullHasNoBackOff(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "main")
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	h := newHarness(t, pod)
	h.rt.pullErr["busybox"] = errors.New("image is not present with pull policy of Never")
	h.rt.pullKind["busybox"] = runtime.ImageNeverPullNotPresent
	for i := 0; i < 3; i++ {
		s := containerStatus(t, h.sync(), "main")
		if s.State.Waiting == nil || s.State.Waiting.Reason != "ErrImageNeverPull" {
			t.Fatalf("sync %d: %+v", i, s.State)
		}
		h.clock.Step(time.Second)
	}
	delete(h.rt.pullErr, "busybox")
	if s := containerStatus(t, h.sync(), "main"); s.State.Running == nil {
		t.Errorf("once the image is there: %+v", s.State)
	}
}

// fakeProber answers readiness from a map and records what it was told.
type fakeProber struct {
	ready   map[string]bool
	running map[string]RunningContainer
	removed bool
}

func (p *fakeProber) Sync(_ *corev1.Pod, _ []string, running map[string]RunningContainer) {
	p.running = running
}
func (p *fakeProber) RemovePod(types.UID) { p.removed = true }
func (p *fakeProber) Ready(_ types.UID, name string) (bool, bool) {
	r, ok := p.ready[name]
	return r, ok
}
func (p *fakeProber) Started(types.UID, string) (bool, bool) { return true, true }

// Readiness results drive the container's ready flag; a liveness kill stops the container and
// the restart policy brings it back.
func TestProbesDriveReadinessAndKills(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "web")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
	h := newHarness(t, pod)
	prober := &fakeProber{ready: map[string]bool{}}
	h.workers.cfg.Prober = prober
	p := h.sync()
	if s := containerStatus(t, p, "web"); s.Ready || s.State.Running == nil {
		t.Fatalf("before the first readiness result: %+v", s)
	}
	first, ok := prober.running["web"]
	if !ok || first.ID == "" {
		t.Fatalf("prober not told of the running container: %+v", prober.running)
	}
	prober.ready["web"] = true
	if s := containerStatus(t, h.sync(), "web"); !s.Ready {
		t.Fatalf("after a successful readiness probe: %+v", s)
	}
	// Liveness failed: the worker stops that container; it exits and is restarted.
	h.workers.mu.Lock()
	h.workers.workers[pod.UID] = h.wk
	h.workers.mu.Unlock()
	h.workers.Kill(pod.UID, "web", first.ID, "Liveness probe failed", nil)
	h.rt.callLog()
	p = h.sync()
	calls := h.rt.callLog()
	if !slices.Contains(calls, "stop web") || !slices.Contains(calls, "start web/1") {
		t.Fatalf("runtime calls after the kill: %v", calls)
	}
	if s := containerStatus(t, p, "web"); s.RestartCount != 1 {
		t.Errorf("restartCount %d after the liveness kill", s.RestartCount)
	}
	if prober.running["web"].ID == first.ID {
		t.Error("prober still probes the killed container")
	}
	// A finished pod's probes stop.
	h.rt.exit(pod.UID, "web", 0)
	p = h.current()
	p.Status.Phase = corev1.PodSucceeded
	if err := h.wk.sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if !prober.removed {
		t.Error("probes of a finished pod not removed")
	}
}
