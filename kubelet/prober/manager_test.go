package prober

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	testingclock "k8s.io/utils/clock/testing"
)

const podUID = types.UID("pod-uid")

// recordedEvent is one event of eventLog.
type recordedEvent struct {
	ref     *corev1.ObjectReference
	text    string // "TYPE REASON MESSAGE"
	message string
}

// eventLog is a record.EventRecorder that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (l *eventLog) Event(obj k8sruntime.Object, eventType, reason, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref, _ := obj.(*corev1.ObjectReference)
	l.events = append(l.events, recordedEvent{ref: ref, text: eventType + " " + reason + " " + message, message: message})
}

func (l *eventLog) Eventf(obj k8sruntime.Object, eventType, reason, format string, args ...any) {
	l.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (l *eventLog) AnnotatedEventf(obj k8sruntime.Object, _ map[string]string, eventType, reason, format string, args ...any) {
	l.Eventf(obj, eventType, reason, format, args...)
}

func (l *eventLog) texts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.text)
	}
	return out
}

type killCall struct {
	uid                types.UID
	name, id, message  string
	gracePeriodSeconds *int64
}

type execCall struct {
	id  string
	cmd string
}

type round struct {
	container string
	kind      probeType
}

// harness is a Manager on a fake clock with a scripted Exec.
type harness struct {
	t      *testing.T
	clock  *testingclock.FakeClock
	m      *Manager
	events *eventLog
	rounds chan round

	mu      sync.Mutex
	results map[string][]bool // by command: the exit results to give in turn (the last repeats)
	calls   []execCall
	kills   []killCall
	changes int
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		events: &eventLog{}, rounds: make(chan round, 1000), results: map[string][]bool{}}
	h.m = NewManager(Config{
		Exec: func(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			key := strings.Join(cmd, " ")
			h.calls = append(h.calls, execCall{id: id, cmd: key})
			rs := h.results[key]
			ok := true
			if len(rs) > 0 {
				ok = rs[0]
				if len(rs) > 1 {
					h.results[key] = rs[1:]
				}
			}
			if ok {
				return []byte("ok"), 0, nil
			}
			return []byte(key + " failed"), 1, nil
		},
		Recorder: h.events,
		Clock:    h.clock,
		OnChange: func(uid types.UID) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if uid == podUID {
				h.changes++
			}
		},
		Kill: func(uid types.UID, name, id, message string, grace *int64) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.kills = append(h.kills, killCall{uid, name, id, message, grace})
		},
	})
	h.m.probed = func(_ types.UID, container string, kind probeType) {
		select { // never block a worker (Stop waits for them)
		case h.rounds <- round{container, kind}:
		default:
		}
	}
	t.Cleanup(h.m.Stop)
	return h
}

// script sets the exit results cmd gives in turn (true: exit 0); the last one repeats.
func (h *harness) script(cmd string, results ...bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results[cmd] = results
}

// waitRounds waits for n rounds of the worker of kind (of container "c"), failing on a round of
// another worker.
func (h *harness) waitRounds(kind probeType, n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		select {
		case r := <-h.rounds:
			if r.kind != kind || r.container != "c" {
				h.t.Fatalf("round of %s/%v, want %v", r.container, r.kind, kind)
			}
		case <-time.After(5 * time.Second):
			h.t.Fatalf("no %v round after 5 s (%d of %d)", kind, i, n)
		}
	}
}

// step moves the clock one period (10 s) on and waits for the round of kind it causes.
func (h *harness) step(kind probeType) {
	h.t.Helper()
	h.clock.Step(10 * time.Second)
	h.waitRounds(kind, 1)
}

func (h *harness) execCount(cmd string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		if c.cmd == cmd {
			n++
		}
	}
	return n
}

func (h *harness) killCalls() []killCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]killCall(nil), h.kills...)
}

func (h *harness) changeCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changes
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: strings.Fields(cmd)}}}
}

func testPod(c corev1.Container) *corev1.Pod {
	c.Name = "c"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: podUID},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
}

func (h *harness) running(id string) map[string]RunningContainer {
	return map[string]RunningContainer{"c": {ID: id, StartedAt: h.clock.Now()}}
}

func TestLivenessThresholds(t *testing.T) {
	cases := []struct {
		name      string
		threshold int32
		results   []bool
		rounds    int
		wantKill  int // round (1-based) whose result kills, 0 for none
	}{
		{name: "default threshold 3", results: []bool{false}, rounds: 6, wantKill: 3},
		{name: "threshold 1", threshold: 1, results: []bool{false}, rounds: 3, wantKill: 1},
		{name: "a success resets the count", results: []bool{false, false, true, false, false, true}, rounds: 6},
		{name: "failures after successes", results: []bool{true, true, false, false, false}, rounds: 7, wantKill: 5},
		{name: "always healthy", results: []bool{true}, rounds: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			p := execProbe("check")
			p.FailureThreshold = tc.threshold
			grace := int64(7)
			p.TerminationGracePeriodSeconds = &grace
			h.script("check", tc.results...)
			h.m.Sync(testPod(corev1.Container{LivenessProbe: p}), []string{"127.0.0.1"}, h.running("id-1"))
			h.waitRounds(liveness, 1)
			for i := 2; i <= tc.rounds; i++ {
				h.step(liveness)
			}
			probes := tc.rounds
			if tc.wantKill > 0 {
				probes = tc.wantKill // the worker holds after the kill
			}
			if got := h.execCount("check"); got != probes {
				t.Errorf("%d probes, want %d", got, probes)
			}
			kills := h.killCalls()
			if tc.wantKill == 0 {
				if len(kills) != 0 {
					t.Fatalf("kills %+v, want none", kills)
				}
				return
			}
			if len(kills) != 1 {
				t.Fatalf("kills %+v, want one", kills)
			}
			k := kills[0]
			if k.uid != podUID || k.name != "c" || k.id != "id-1" || k.message != "Container c failed liveness probe, will be restarted" ||
				k.gracePeriodSeconds == nil || *k.gracePeriodSeconds != 7 {
				t.Errorf("kill %+v", k)
			}
			texts := h.events.texts()
			if last := texts[len(texts)-1]; last != "Normal Killing Container c failed liveness probe, will be restarted" {
				t.Errorf("last event %q", last)
			}
			if !contains(texts, "Warning Unhealthy Liveness probe failed: check failed") {
				t.Errorf("events %q lack the Unhealthy one", texts)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestLivenessKillWaitsForNewContainer: after the kill the worker holds until a Sync names a new
// container instance, which is probed from scratch (its own failure count, its own kill).
func TestLivenessKillWaitsForNewContainer(t *testing.T) {
	h := newHarness(t)
	p := execProbe("check")
	p.FailureThreshold = 1
	h.script("check", false)
	pod := testPod(corev1.Container{LivenessProbe: p})
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-1"))
	h.waitRounds(liveness, 1)
	h.step(liveness)
	h.step(liveness)
	// The same instance, still running (the pod worker has not stopped it yet): no new probe.
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-1"))
	h.step(liveness)
	if n := h.execCount("check"); n != 1 || len(h.killCalls()) != 1 {
		t.Fatalf("%d probes, kills %+v: want 1 and 1", n, h.killCalls())
	}
	// The container was restarted.
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-2"))
	h.waitRounds(liveness, 1)
	kills := h.killCalls()
	if len(kills) != 2 || kills[1].id != "id-2" || kills[1].gracePeriodSeconds != nil {
		t.Fatalf("kills %+v, want a second for id-2 with no grace period", kills)
	}
	h.mu.Lock()
	last := h.calls[len(h.calls)-1]
	h.mu.Unlock()
	if last.id != "id-2" {
		t.Errorf("probed %s, want id-2", last.id)
	}
}

func TestReadinessThresholdsAndOnChange(t *testing.T) {
	h := newHarness(t)
	p := execProbe("ready")
	p.SuccessThreshold = 2
	p.FailureThreshold = 2
	h.script("ready", true, true, true, false, true, false, false, true)
	h.m.Sync(testPod(corev1.Container{ReadinessProbe: p}), []string{"127.0.0.1"}, h.running("id-1"))
	if ready, probed := h.m.Ready(podUID, "c"); ready || !probed {
		t.Fatalf("before any probe: ready %v probed %v, want false true", ready, probed)
	}
	want := []struct {
		ready   bool
		changes int
	}{
		{false, 0}, // success 1 of 2
		{true, 1},  // success 2 of 2
		{true, 1},
		{true, 1},  // failure 1 of 2
		{true, 1},  // success
		{true, 1},  // failure 1 of 2
		{false, 2}, // failure 2 of 2
		{false, 2}, // success 1 of 2
	}
	for i, w := range want {
		if i == 0 {
			h.waitRounds(readiness, 1)
		} else {
			h.step(readiness)
		}
		ready, probed := h.m.Ready(podUID, "c")
		if ready != w.ready || !probed || h.changeCount() != w.changes {
			t.Fatalf("round %d: ready %v probed %v changes %d; want %v true %d", i+1, ready, probed, h.changeCount(), w.ready, w.changes)
		}
	}
	if len(h.killCalls()) != 0 {
		t.Errorf("readiness killed: %+v", h.killCalls())
	}
	if texts := h.events.texts(); !contains(texts, "Warning Unhealthy Readiness probe failed: ready failed") {
		t.Errorf("events %q", texts)
	}
}

func TestInitialDelay(t *testing.T) {
	cases := []struct {
		name       string
		delay      int32
		startedAgo time.Duration
		wantProbes []int // exec count after each round
	}{
		{name: "no delay", wantProbes: []int{1, 2, 3}},
		{name: "15 s delay", delay: 15, wantProbes: []int{0, 0, 1, 2}},
		{name: "20 s delay: probed at 20 s", delay: 20, wantProbes: []int{0, 0, 1}},
		{name: "started long ago (kubelet restarted)", delay: 15, startedAgo: time.Minute, wantProbes: []int{1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			p := execProbe("ready")
			p.InitialDelaySeconds = tc.delay
			h.m.Sync(testPod(corev1.Container{ReadinessProbe: p}), []string{"127.0.0.1"},
				map[string]RunningContainer{"c": {ID: "id-1", StartedAt: h.clock.Now().Add(-tc.startedAgo)}})
			for i, want := range tc.wantProbes {
				if i == 0 {
					h.waitRounds(readiness, 1)
				} else {
					h.step(readiness)
				}
				if got := h.execCount("ready"); got != want {
					t.Fatalf("after round %d: %d probes, want %d", i+1, got, want)
				}
			}
			if ready, _ := h.m.Ready(podUID, "c"); !ready {
				t.Errorf("not ready after the delay")
			}
		})
	}
}

// TestStartupGates: liveness and readiness wait for the startup probe; its success is reported
// (Started, OnChange) and runs the readiness probe at once.
func TestStartupGates(t *testing.T) {
	h := newHarness(t)
	start := execProbe("start")
	start.FailureThreshold = 5
	h.script("start", false, false, true)
	h.m.Sync(testPod(corev1.Container{StartupProbe: start, ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("live")}),
		[]string{"127.0.0.1"}, h.running("id-1"))
	if started, probed := h.m.Started(podUID, "c"); started || !probed {
		t.Fatalf("Started %v %v, want false true", started, probed)
	}
	eventually(t, "the first startup probe", func() bool { return h.execCount("start") == 1 })
	for i := 0; i < 2; i++ {
		h.clock.Step(10 * time.Second)
		want := i + 2
		eventually(t, "a startup probe", func() bool { return h.execCount("start") == want })
		if i == 0 && (h.execCount("ready") != 0 || h.execCount("live") != 0) {
			t.Fatalf("readiness or liveness probed before the container started")
		}
	}
	eventually(t, "started", func() bool { s, _ := h.m.Started(podUID, "c"); return s })
	// The readiness probe runs at once, without waiting for its period.
	eventually(t, "readiness probed after startup", func() bool { r, _ := h.m.Ready(podUID, "c"); return r })
	if h.changeCount() < 2 {
		t.Errorf("%d OnChange calls, want 2 (started, ready)", h.changeCount())
	}
	// Liveness runs from the next period on; startup probes no more.
	h.clock.Step(10 * time.Second)
	eventually(t, "liveness probed", func() bool { return h.execCount("live") >= 1 })
	h.clock.Step(10 * time.Second)
	eventually(t, "liveness probed again", func() bool { return h.execCount("live") >= 2 })
	if n := h.execCount("start"); n != 3 {
		t.Errorf("%d startup probes, want 3", n)
	}
	if len(h.killCalls()) != 0 {
		t.Errorf("kills %+v", h.killCalls())
	}
}

func TestStartupFailureKills(t *testing.T) {
	h := newHarness(t)
	start := execProbe("start")
	start.FailureThreshold = 2
	h.script("start", false)
	h.m.Sync(testPod(corev1.Container{StartupProbe: start, LivenessProbe: execProbe("live")}), []string{"127.0.0.1"}, h.running("id-1"))
	eventually(t, "a startup probe", func() bool { return h.execCount("start") == 1 })
	h.clock.Step(10 * time.Second)
	eventually(t, "the kill", func() bool { return len(h.killCalls()) == 1 })
	k := h.killCalls()[0]
	if k.id != "id-1" || k.message != "Container c failed startup probe, will be restarted" {
		t.Errorf("kill %+v", k)
	}
	for i := 0; i < 3; i++ {
		h.clock.Step(10 * time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	if h.execCount("start") != 2 || h.execCount("live") != 0 || len(h.killCalls()) != 1 {
		t.Errorf("after the kill: %d startup, %d liveness probes, %d kills", h.execCount("start"), h.execCount("live"), len(h.killCalls()))
	}
	if started, probed := h.m.Started(podUID, "c"); started || !probed {
		t.Errorf("Started %v %v, want false true", started, probed)
	}
	texts := h.events.texts()
	if !contains(texts, "Warning Unhealthy Startup probe failed: start failed") ||
		!contains(texts, "Normal Killing Container c failed startup probe, will be restarted") {
		t.Errorf("events %q", texts)
	}
}

// TestNewContainerResets: a new instance starts over at not ready and not started; a container
// that stops loses its results and its workers.
func TestNewContainerResets(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{StartupProbe: execProbe("start"), ReadinessProbe: execProbe("ready")})
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-1"))
	eventually(t, "ready", func() bool { r, _ := h.m.Ready(podUID, "c"); return r })
	if s, _ := h.m.Started(podUID, "c"); !s {
		t.Fatal("not started")
	}
	h.script("start", false)
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-2"))
	if r, p := h.m.Ready(podUID, "c"); r || !p {
		t.Errorf("new instance: ready %v %v, want false true", r, p)
	}
	if s, p := h.m.Started(podUID, "c"); s || !p {
		t.Errorf("new instance: started %v %v, want false true", s, p)
	}
	eventually(t, "the new instance probed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.calls[len(h.calls)-1].id == "id-2"
	})
	h.m.Sync(pod, []string{"127.0.0.1"}, nil)
	if _, p := h.m.Ready(podUID, "c"); p {
		t.Errorf("a stopped container keeps a readiness result")
	}
	if _, p := h.m.Started(podUID, "c"); p {
		t.Errorf("a stopped container keeps a startup result")
	}
	waitNoWorkers(t)
}

// TestDeletion: a pod being deleted keeps its readiness probe and stops liveness and startup.
func TestDeletion(t *testing.T) {
	h := newHarness(t)
	h.script("start", false)
	pod := testPod(corev1.Container{StartupProbe: execProbe("start"), ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("live")})
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-1"))
	eventually(t, "a startup probe", func() bool { return h.execCount("start") == 1 })
	deleting := pod.DeepCopy()
	now := metav1.NewTime(h.clock.Now())
	deleting.DeletionTimestamp = &now
	h.m.Sync(deleting, []string{"127.0.0.1"}, h.running("id-1"))
	if s, _ := h.m.Started(podUID, "c"); !s {
		t.Errorf("a deleted pod's container counts as started")
	}
	for i := 0; i < 3; i++ {
		h.clock.Step(10 * time.Second)
	}
	eventually(t, "readiness probes go on", func() bool { return h.execCount("ready") >= 1 })
	time.Sleep(50 * time.Millisecond)
	if h.execCount("start") != 1 || h.execCount("live") != 0 || len(h.killCalls()) != 0 {
		t.Errorf("startup %d, liveness %d probes, kills %+v after deletion", h.execCount("start"), h.execCount("live"), h.killCalls())
	}
}

// TestHTTPReadinessThroughManager: an httpGet readiness probe on the pod IP by named port, with
// headers; a 500 makes it not ready with upstream's event.
func TestHTTPReadinessThroughManager(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusOK
	var gotHeader, gotUA string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotHeader, gotUA = r.Header.Get("X-Probe"), r.UserAgent()
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	h := newHarness(t)
	p := &corev1.Probe{FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString("web"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}}}}
	pod := testPod(corev1.Container{ReadinessProbe: p, Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(serverPort(t, srv.URL))}}})
	h.m.Sync(pod, []string{"127.0.0.1", "fd00::1"}, h.running("id-1"))
	h.waitRounds(readiness, 1)
	if r, _ := h.m.Ready(podUID, "c"); !r {
		t.Fatalf("not ready; events %q", h.events.texts())
	}
	mu.Lock()
	if gotHeader != "yes" || gotUA != "kube-probe/1.37" {
		t.Errorf("header %q, user agent %q", gotHeader, gotUA)
	}
	status = http.StatusInternalServerError
	mu.Unlock()
	h.step(readiness)
	if r, _ := h.m.Ready(podUID, "c"); r {
		t.Fatal("still ready after a 500")
	}
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	e := h.events.events[len(h.events.events)-1]
	if e.text != "Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500" {
		t.Errorf("event %q", e.text)
	}
	if e.ref == nil || e.ref.Kind != "Pod" || e.ref.Name != "web" || e.ref.Namespace != "default" || e.ref.UID != podUID ||
		e.ref.FieldPath != "spec.containers{c}" {
		t.Errorf("event on %+v", e.ref)
	}
}

// TestErroredProbe: a probe that cannot run (unknown port name) records upstream's "errored"
// event and never counts as a failure, so it kills nothing.
func TestErroredProbe(t *testing.T) {
	h := newHarness(t)
	p := &corev1.Probe{FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("nope")}}}
	h.m.Sync(testPod(corev1.Container{LivenessProbe: p}), []string{"127.0.0.1"}, h.running("id-1"))
	h.waitRounds(liveness, 1)
	h.step(liveness)
	if len(h.killCalls()) != 0 {
		t.Errorf("kills %+v", h.killCalls())
	}
	texts := h.events.texts()
	if len(texts) != 2 || !strings.HasPrefix(texts[0], `Warning Unhealthy Liveness probe errored and resulted in unknown state: port "nope" not found`) {
		t.Errorf("events %q", texts)
	}
}

func TestRemovePodAndStop(t *testing.T) {
	h := newHarness(t)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hold the probe in flight until the test ends
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	httpProbe := &corev1.Probe{TimeoutSeconds: 30, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(int32(serverPort(t, srv.URL)))}}}
	pod := testPod(corev1.Container{ReadinessProbe: httpProbe, LivenessProbe: execProbe("live")})
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-1"))
	other := testPod(corev1.Container{ReadinessProbe: execProbe("ready")})
	other.UID = "other"
	h.m.Sync(other, []string{"127.0.0.1"}, h.running("id-2"))
	eventually(t, "the other pod ready", func() bool { r, _ := h.m.Ready("other", "c"); return r })

	h.m.RemovePod("other")
	if _, p := h.m.Ready("other", "c"); p {
		t.Errorf("a removed pod keeps results")
	}
	start := time.Now()
	h.m.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s with a probe in flight", d)
	}
	waitNoWorkers(t)
	// Sync after Stop starts nothing.
	h.m.Sync(pod, []string{"127.0.0.1"}, h.running("id-3"))
	if _, p := h.m.Ready(podUID, "c"); p {
		t.Errorf("Sync after Stop recorded a result")
	}
	waitNoWorkers(t)
}

// waitNoWorkers waits until no goroutine runs a probe worker.
func waitNoWorkers(t *testing.T) {
	t.Helper()
	eventually(t, "the probe workers to end", func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		return !strings.Contains(string(buf), "prober.(*worker)")
	})
}
