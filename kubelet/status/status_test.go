package status

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

var (
	t0  = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	now = t0.Add(10 * time.Minute)
)

const podUID = "uid-1"

// testPod is a scheduled pod with containers apps (image busybox) and init containers inits.
func testPod(policy corev1.RestartPolicy, apps []string, inits ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: podUID, Generation: 1,
			CreationTimestamp: metav1.NewTime(t0)},
		Spec: corev1.PodSpec{NodeName: "node-a", RestartPolicy: policy},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			QOSClass:   corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}},
		},
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	return p
}

// rc is attempt of container name: running, or exited with code and reason.
func rc(name string, attempt int, state runtime.ContainerState, code int32, reason string) *runtime.Container {
	start := t0.Add(time.Duration(attempt+1) * time.Minute)
	c := &runtime.Container{
		ID: name + "-" + string(rune('a'+attempt)), PodUID: podUID, PodName: "web", PodNamespace: "default",
		Name: name, Attempt: attempt, Image: "busybox", ImageRef: "docker.io/library/busybox:latest",
		ImageID: "docker.io/library/busybox@sha256:1234", State: state,
		CreatedAt: start.Add(-time.Second), StartedAt: start,
	}
	if state == runtime.ContainerExited {
		c.FinishedAt = start.Add(30 * time.Second)
		c.ExitCode = code
		c.Reason = reason
	}
	return c
}

func running(name string, attempt int) *runtime.Container {
	return rc(name, attempt, runtime.ContainerRunning, 0, "")
}

func exited(name string, attempt int, code int32, reason string) *runtime.Container {
	return rc(name, attempt, runtime.ContainerExited, code, reason)
}

func sandbox(ips ...string) *runtime.Sandbox {
	return &runtime.Sandbox{PodUID: podUID, PodName: "web", PodNamespace: "default", IPs: ips, CreatedAt: t0}
}

func input(p *corev1.Pod, cs ...*runtime.Container) Input {
	return Input{Pod: p, Sandbox: sandbox("10.88.0.5"), HostIP: "192.168.1.10", Containers: cs, Now: now}
}

func withWaiting(in Input, name, reason string) Input {
	if in.Waiting == nil {
		in.Waiting = map[string]Waiting{}
	}
	in.Waiting[name] = Waiting{Reason: reason, Message: reason + " message"}
	return in
}

// printed is the READY, STATUS and RESTARTS cells kubeshim's API server prints for p with status s.
func printed(t *testing.T, p *corev1.Pod, s corev1.PodStatus) (ready, status, restarts string) {
	t.Helper()
	p = p.DeepCopy()
	p.Status = s
	tc := printers.TableConvertorFor(schema.GroupResource{Resource: "pods"})
	table, err := tc.ConvertToTable(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(table.Rows))
	}
	cells := table.Rows[0].Cells
	return cells[1].(string), cells[2].(string), cells[3].(string)
}

func cond(s corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func cstatus(t *testing.T, list []corev1.ContainerStatus, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for container %q in %v", name, list)
	return corev1.ContainerStatus{}
}

// want is what one case expects of the generated status.
type want struct {
	phase            corev1.PodPhase
	ready            corev1.ConditionStatus
	readyReason      string
	readyMessage     string
	initialized      corev1.ConditionStatus
	initializedMsg   string
	containersReady  corev1.ConditionStatus
	printedStatus    string // the STATUS column
	printedReady     string // the READY column
	printedRestarts  string // the start of the RESTARTS column, when set (the printer's clock is the real one)
	waiting          map[string]string
	terminatedReason map[string]string
	lastTerminated   map[string]string
	restartCount     map[string]int32
	containerReady   map[string]bool
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want want
	}{
		{
			name: "Always: exited twice, CrashLoopBackOff",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"}),
				exited("app", 0, 0, "Completed"), exited("app", 1, 0, "Completed")), "app", CrashLoopBackOff),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, readyReason: ContainersNotReady,
				readyMessage: "containers with unready status: [app]", initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse,
				printedStatus:   "CrashLoopBackOff", printedReady: "0/1", printedRestarts: "1 (",
				waiting: map[string]string{"app": CrashLoopBackOff}, lastTerminated: map[string]string{"app": "Completed"},
				restartCount: map[string]int32{"app": 1}, containerReady: map[string]bool{"app": false},
			},
		},
		{
			name: "Always: exited once, CrashLoopBackOff before the first restart",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"}),
				exited("app", 0, 0, "Completed")), "app", CrashLoopBackOff),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "CrashLoopBackOff", printedReady: "0/1",
				printedRestarts: "0",
				waiting:         map[string]string{"app": CrashLoopBackOff}, lastTerminated: map[string]string{"app": "Completed"},
				restartCount: map[string]int32{"app": 0},
			},
		},
		{
			name: "Always: restarted and running again",
			in: input(testPod(corev1.RestartPolicyAlways, []string{"app"}),
				exited("app", 0, 1, "Error"), running("app", 1)),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionTrue, printedStatus: "Running", printedReady: "1/1",
				lastTerminated: map[string]string{"app": "Error"}, restartCount: map[string]int32{"app": 1},
				containerReady: map[string]bool{"app": true},
			},
		},
		{
			name: "Never: exit 0 is Succeeded",
			in:   input(testPod(corev1.RestartPolicyNever, []string{"app"}), exited("app", 0, 0, "Completed")),
			want: want{
				phase: corev1.PodSucceeded, ready: corev1.ConditionFalse, readyReason: PodCompleted,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "Completed", printedReady: "0/1",
				terminatedReason: map[string]string{"app": "Completed"}, containerReady: map[string]bool{"app": false},
			},
		},
		{
			name: "Never: exit 1 is Failed",
			in:   input(testPod(corev1.RestartPolicyNever, []string{"app"}), exited("app", 0, 1, "Error")),
			want: want{
				phase: corev1.PodFailed, ready: corev1.ConditionFalse, readyReason: PodFailed,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "Error", printedReady: "0/1",
				terminatedReason: map[string]string{"app": "Error"},
			},
		},
		{
			name: "Never: OOMKilled is Failed",
			in:   input(testPod(corev1.RestartPolicyNever, []string{"app"}), exited("app", 0, 137, "OOMKilled")),
			want: want{
				phase: corev1.PodFailed, ready: corev1.ConditionFalse, readyReason: PodFailed,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "OOMKilled", printedReady: "0/1",
				terminatedReason: map[string]string{"app": "OOMKilled"},
			},
		},
		{
			name: "Always: just OOM-killed, not yet backing off",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app"}), exited("app", 0, 137, "OOMKilled")),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "OOMKilled", printedReady: "0/1",
				terminatedReason: map[string]string{"app": "OOMKilled"},
			},
		},
		{
			name: "OnFailure: exit 0 is Succeeded",
			in:   input(testPod(corev1.RestartPolicyOnFailure, []string{"app"}), exited("app", 0, 0, "Completed")),
			want: want{
				phase: corev1.PodSucceeded, ready: corev1.ConditionFalse, readyReason: PodCompleted,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "Completed", printedReady: "0/1", terminatedReason: map[string]string{"app": "Completed"},
			},
		},
		{
			name: "OnFailure: exit 1 restarts, Running",
			in: withWaiting(input(testPod(corev1.RestartPolicyOnFailure, []string{"app"}),
				exited("app", 0, 1, "Error")), "app", CrashLoopBackOff),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "CrashLoopBackOff", printedReady: "0/1",
				waiting: map[string]string{"app": CrashLoopBackOff}, lastTerminated: map[string]string{"app": "Error"},
			},
		},
		{
			name: "init container running",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app"}, "init"), running("init", 0)),
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, readyReason: ContainersNotReady,
				readyMessage: "containers with unready status: [app]",
				initialized:  corev1.ConditionFalse, initializedMsg: "containers with incomplete status: [init]",
				containersReady: corev1.ConditionFalse, printedStatus: "Init:0/1", printedReady: "0/1",
				waiting: map[string]string{"app": PodInitializing}, containerReady: map[string]bool{"init": false},
			},
		},
		{
			name: "second init container not reached",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app"}, "init-a", "init-b"), exited("init-a", 0, 0, "Completed")),
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, initialized: corev1.ConditionFalse,
				initializedMsg:  "containers with incomplete status: [init-b]",
				containersReady: corev1.ConditionFalse, printedStatus: "Init:1/2", printedReady: "0/1",
				waiting:          map[string]string{"init-b": PodInitializing, "app": PodInitializing},
				terminatedReason: map[string]string{"init-a": "Completed"},
				containerReady:   map[string]bool{"init-a": true, "init-b": false},
			},
		},
		{
			name: "init container failed with Never",
			in:   input(testPod(corev1.RestartPolicyNever, []string{"app"}, "init"), exited("init", 0, 2, "Error")),
			want: want{
				phase: corev1.PodFailed, ready: corev1.ConditionFalse, readyReason: PodFailed,
				initialized: corev1.ConditionFalse, containersReady: corev1.ConditionFalse,
				printedStatus: "Init:Error", printedReady: "0/1",
				terminatedReason: map[string]string{"init": "Error"}, waiting: map[string]string{"app": PodInitializing},
			},
		},
		{
			name: "init container crash-looping with Always",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"}, "init"),
				exited("init", 0, 1, "Error"), exited("init", 1, 1, "Error")), "init", CrashLoopBackOff),
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, initialized: corev1.ConditionFalse,
				containersReady: corev1.ConditionFalse, printedStatus: "Init:CrashLoopBackOff", printedReady: "0/1",
				waiting:        map[string]string{"init": CrashLoopBackOff, "app": PodInitializing},
				lastTerminated: map[string]string{"init": "Error"}, restartCount: map[string]int32{"init": 1},
			},
		},
		{
			name: "initialized, app running",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app"}, "init"), exited("init", 0, 0, "Completed"), running("app", 0)),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionTrue, printedStatus: "Running", printedReady: "1/1",
				terminatedReason: map[string]string{"init": "Completed"}, containerReady: map[string]bool{"init": true, "app": true},
			},
		},
		{
			name: "initialized, init container removed from the runtime",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app"}, "init"), running("app", 0)),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionTrue, printedStatus: "Running", printedReady: "1/1",
				terminatedReason: map[string]string{"init": "Completed"},
			},
		},
		{
			name: "image pull failed",
			in:   withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"})), "app", ErrImagePull),
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, readyReason: ContainersNotReady,
				readyMessage: "containers with unready status: [app]", initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "ErrImagePull", printedReady: "0/1",
				waiting: map[string]string{"app": ErrImagePull}, restartCount: map[string]int32{"app": 0},
			},
		},
		{
			name: "nothing created yet",
			in:   Input{Pod: testPod(corev1.RestartPolicyAlways, []string{"app"}), HostIP: "192.168.1.10", Now: now},
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "ContainerCreating", printedReady: "0/1",
				waiting: map[string]string{"app": ContainerCreating},
			},
		},
		{
			name: "one running, one crash-looping",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app", "helper"}),
				running("app", 0), exited("helper", 0, 1, "Error")), "helper", CrashLoopBackOff),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, readyReason: ContainersNotReady,
				readyMessage: "containers with unready status: [helper]", initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "CrashLoopBackOff", printedReady: "1/2",
				waiting:        map[string]string{"helper": CrashLoopBackOff},
				containerReady: map[string]bool{"app": true, "helper": false},
			},
		},
		{
			name: "one running, one never started: Pending as upstream",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app", "helper"}),
				running("app", 0)), "helper", ImagePullBackOff),
			want: want{
				phase: corev1.PodPending, ready: corev1.ConditionFalse, readyMessage: "containers with unready status: [helper]",
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "ImagePullBackOff", printedReady: "1/2", waiting: map[string]string{"helper": ImagePullBackOff},
			},
		},
		{
			name: "two running",
			in:   input(testPod(corev1.RestartPolicyAlways, []string{"app", "helper"}), running("app", 0), running("helper", 0)),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionTrue, printedStatus: "Running", printedReady: "2/2",
			},
		},
		{
			name: "Never: one done, one running",
			in:   input(testPod(corev1.RestartPolicyNever, []string{"app", "helper"}), running("app", 0), exited("helper", 0, 0, "Completed")),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, readyMessage: "containers with unready status: [helper]",
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "NotReady", printedReady: "1/2", terminatedReason: map[string]string{"helper": "Completed"},
			},
		},
		{
			name: "waiting reason ignored while the container runs",
			in:   withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"}), running("app", 0)), "app", CrashLoopBackOff),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionTrue, printedStatus: "Running", printedReady: "1/1",
			},
		},
		{
			name: "start failed: RunContainerError keeps the last exit",
			in: withWaiting(input(testPod(corev1.RestartPolicyAlways, []string{"app"}),
				exited("app", 0, 1, "Error"), rc("app", 1, runtime.ContainerCreated, 0, "")), "app", RunContainerError),
			want: want{
				phase: corev1.PodRunning, ready: corev1.ConditionFalse, initialized: corev1.ConditionTrue,
				containersReady: corev1.ConditionFalse, printedStatus: "RunContainerError", printedReady: "0/1",
				waiting: map[string]string{"app": RunContainerError}, lastTerminated: map[string]string{"app": "Error"},
				restartCount: map[string]int32{"app": 1},
			},
		},
		{
			name: "Terminal: Always pod stopped for good is Succeeded",
			in: func() Input {
				in := input(testPod(corev1.RestartPolicyAlways, []string{"app"}), exited("app", 0, 0, "Completed"))
				in.Terminal = true
				return in
			}(),
			want: want{
				phase: corev1.PodSucceeded, ready: corev1.ConditionFalse, readyReason: PodCompleted,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse,
				printedStatus: "Completed", printedReady: "0/1",
			},
		},
		{
			name: "Terminal: Always pod killed is Failed",
			in: func() Input {
				in := input(testPod(corev1.RestartPolicyAlways, []string{"app"}), exited("app", 0, 137, "Error"))
				in.Terminal = true
				return in
			}(),
			want: want{phase: corev1.PodFailed, ready: corev1.ConditionFalse, readyReason: PodFailed,
				initialized: corev1.ConditionTrue, containersReady: corev1.ConditionFalse, printedStatus: "Error", printedReady: "0/1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Generate(tc.in)
			w := tc.want
			if s.Phase != w.phase {
				t.Errorf("phase = %s, want %s", s.Phase, w.phase)
			}
			checkCond := func(ct corev1.PodConditionType, status corev1.ConditionStatus, reason, message string) {
				t.Helper()
				c := cond(s, ct)
				if c.Status != status {
					t.Errorf("%s = %q, want %q (%+v)", ct, c.Status, status, c)
				}
				if reason != "" && c.Reason != reason {
					t.Errorf("%s reason = %q, want %q", ct, c.Reason, reason)
				}
				if message != "" && c.Message != message {
					t.Errorf("%s message = %q, want %q", ct, c.Message, message)
				}
			}
			checkCond(corev1.PodReady, w.ready, w.readyReason, w.readyMessage)
			checkCond(corev1.PodInitialized, w.initialized, "", w.initializedMsg)
			checkCond(corev1.ContainersReady, w.containersReady, "", "")
			checkCond(corev1.PodScheduled, corev1.ConditionTrue, "", "")

			all := append(append([]corev1.ContainerStatus{}, s.InitContainerStatuses...), s.ContainerStatuses...)
			if got, want := len(all), len(tc.in.Pod.Spec.Containers)+len(tc.in.Pod.Spec.InitContainers); got != want {
				t.Fatalf("%d container statuses, want %d", got, want)
			}
			for name, reason := range w.waiting {
				st := cstatus(t, all, name)
				if st.State.Waiting == nil || st.State.Waiting.Reason != reason {
					t.Errorf("%s state = %+v, want waiting %s", name, st.State, reason)
				}
				if st.State.Running != nil || st.State.Terminated != nil {
					t.Errorf("%s has more than one state: %+v", name, st.State)
				}
			}
			for name, reason := range w.terminatedReason {
				st := cstatus(t, all, name)
				if st.State.Terminated == nil || st.State.Terminated.Reason != reason {
					t.Errorf("%s state = %+v, want terminated %s", name, st.State, reason)
				}
			}
			for name, reason := range w.lastTerminated {
				st := cstatus(t, all, name)
				if st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.Reason != reason {
					t.Errorf("%s lastState = %+v, want terminated %s", name, st.LastTerminationState, reason)
				}
			}
			for name, n := range w.restartCount {
				if st := cstatus(t, all, name); st.RestartCount != n {
					t.Errorf("%s restartCount = %d, want %d", name, st.RestartCount, n)
				}
			}
			for name, r := range w.containerReady {
				if st := cstatus(t, all, name); st.Ready != r {
					t.Errorf("%s ready = %v, want %v", name, st.Ready, r)
				}
			}
			for _, st := range all {
				if st.Started == nil {
					t.Errorf("%s: started unset", st.Name)
				} else if *st.Started != (st.State.Running != nil) {
					t.Errorf("%s: started = %v with state %+v", st.Name, *st.Started, st.State)
				}
			}

			ready, status, restarts := printed(t, tc.in.Pod, s)
			if status != w.printedStatus {
				t.Errorf("kubectl STATUS = %q, want %q", status, w.printedStatus)
			}
			if ready != w.printedReady {
				t.Errorf("kubectl READY = %q, want %q", ready, w.printedReady)
			}
			if w.printedRestarts != "" && !strings.HasPrefix(restarts, w.printedRestarts) {
				t.Errorf("kubectl RESTARTS = %q, want %q", restarts, w.printedRestarts)
			}
		})
	}
}

// TestContainerStatusFields checks every field of the statuses of a restarted container.
func TestContainerStatusFields(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	first := exited("app", 0, 1, "Error")
	first.Message = "boom"
	in := withWaiting(input(p, running("app", 2), first, exited("app", 1, 2, "Error")), "app", CrashLoopBackOff)
	in.Containers[2].Message = "bang"
	st := Generate(in).ContainerStatuses[0]

	if st.State.Running == nil || !st.State.Running.StartedAt.Time.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("state = %+v, want running since the third attempt started", st.State)
	}
	last := st.LastTerminationState.Terminated
	if last == nil {
		t.Fatalf("lastState = %+v, want the second attempt's exit", st.LastTerminationState)
	}
	wantLast := corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "bang",
		StartedAt: metav1.NewTime(t0.Add(2 * time.Minute)), FinishedAt: metav1.NewTime(t0.Add(2*time.Minute + 30*time.Second)),
		ContainerID: "containerd://app-b"}
	if *last != wantLast {
		t.Errorf("lastState terminated =\n %+v, want\n %+v", *last, wantLast)
	}
	if st.RestartCount != 2 || st.ContainerID != "containerd://app-c" ||
		st.ImageID != "docker.io/library/busybox@sha256:1234" || st.Image != "docker.io/library/busybox:latest" {
		t.Errorf("status = %+v", st)
	}
	if !st.Ready || st.Started == nil || !*st.Started {
		t.Errorf("running container without probes: ready %v started %v, want both true", st.Ready, st.Started)
	}

	// Before any container exists the image is the spec's.
	st = Generate(input(p)).ContainerStatuses[0]
	if st.Image != "busybox" || st.ImageID != "" || st.ContainerID != "" {
		t.Errorf("no container yet: %+v", st)
	}
}

// TestNewestAttempt: the highest attempt wins, then the latest creation.
func TestNewestAttempt(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	older := exited("app", 1, 1, "Error")
	newer := running("app", 0)
	newer.CreatedAt = t0.Add(time.Hour) // created later but of an earlier attempt
	st := Generate(input(p, newer, older)).ContainerStatuses[0]
	if st.State.Terminated == nil || st.RestartCount != 1 {
		t.Errorf("state %+v restartCount %d, want attempt 1's exit", st.State, st.RestartCount)
	}

	a := running("app", 3)
	b := exited("app", 3, 0, "Completed")
	b.CreatedAt = a.CreatedAt.Add(time.Second)
	st = Generate(input(p, a, b)).ContainerStatuses[0]
	if st.State.Terminated == nil || st.LastTerminationState.Running == nil {
		t.Errorf("same attempt: state %+v last %+v, want the later created first", st.State, st.LastTerminationState)
	}

	// Containers of another pod are not this pod's.
	other := running("app", 0)
	other.PodUID = "someone-else"
	if st := Generate(input(p, other)).ContainerStatuses[0]; st.State.Waiting == nil {
		t.Errorf("container of another pod used: %+v", st.State)
	}
}

func TestProbes(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	tests := []struct {
		name             string
		readiness        bool
		startup          bool
		ready, started   map[string]bool
		wantReady        bool
		wantStarted      bool
		wantPrintedReady string
	}{
		{name: "no probes", wantReady: true, wantStarted: true, wantPrintedReady: "1/1"},
		{name: "readiness not yet probed", readiness: true, wantStarted: true, wantPrintedReady: "0/1"},
		{name: "readiness failing", readiness: true, ready: map[string]bool{"app": false}, wantStarted: true, wantPrintedReady: "0/1"},
		{name: "readiness passing", readiness: true, ready: map[string]bool{"app": true}, wantReady: true, wantStarted: true, wantPrintedReady: "1/1"},
		{name: "startup not yet passed", startup: true, wantPrintedReady: "0/1"},
		{name: "startup not passed hides readiness", startup: true, readiness: true, ready: map[string]bool{"app": true},
			started: map[string]bool{"app": false}, wantPrintedReady: "0/1"},
		{name: "startup passed", startup: true, started: map[string]bool{"app": true}, wantReady: true, wantStarted: true, wantPrintedReady: "1/1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPod(corev1.RestartPolicyAlways, []string{"app"})
			if tc.readiness {
				p.Spec.Containers[0].ReadinessProbe = probe
			}
			if tc.startup {
				p.Spec.Containers[0].StartupProbe = probe
			}
			in := input(p, running("app", 0))
			in.Ready, in.Started = tc.ready, tc.started
			s := Generate(in)
			st := s.ContainerStatuses[0]
			if st.Ready != tc.wantReady || *st.Started != tc.wantStarted {
				t.Errorf("ready %v started %v, want %v %v", st.Ready, *st.Started, tc.wantReady, tc.wantStarted)
			}
			wantCond := corev1.ConditionFalse
			if tc.wantReady {
				wantCond = corev1.ConditionTrue
			}
			if c := cond(s, corev1.ContainersReady); c.Status != wantCond {
				t.Errorf("ContainersReady = %+v, want %s", c, wantCond)
			}
			if s.Phase != corev1.PodRunning {
				t.Errorf("phase = %s, want Running", s.Phase)
			}
			if ready, status, _ := printed(t, p, s); ready != tc.wantPrintedReady || status != "Running" {
				t.Errorf("kubectl READY %q STATUS %q, want %q Running", ready, status, tc.wantPrintedReady)
			}
		})
	}
	// A terminated container is neither ready nor started whatever the probe maps say.
	p := testPod(corev1.RestartPolicyNever, []string{"app"})
	in := input(p, exited("app", 0, 0, "Completed"))
	in.Ready, in.Started = map[string]bool{"app": true}, map[string]bool{"app": true}
	if st := Generate(in).ContainerStatuses[0]; st.Ready || *st.Started {
		t.Errorf("terminated: ready %v started %v", st.Ready, *st.Started)
	}
}

func TestReadinessGates(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/x"}}

	s := Generate(input(p, running("app", 0)))
	c := cond(s, corev1.PodReady)
	if c.Status != corev1.ConditionFalse || c.Reason != ReadinessGatesNotReady ||
		c.Message != `corresponding condition of pod readiness gate "example.com/x" does not exist.` {
		t.Errorf("Ready without the gate condition = %+v", c)
	}
	if c := cond(s, corev1.ContainersReady); c.Status != corev1.ConditionTrue {
		t.Errorf("ContainersReady = %+v, want True", c)
	}

	gate := corev1.PodCondition{Type: "example.com/x", Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0)}
	p.Status.Conditions = append(p.Status.Conditions, gate)
	c = cond(Generate(input(p, running("app", 0))), corev1.PodReady)
	if c.Status != corev1.ConditionFalse || c.Message != `the status of pod readiness gate "example.com/x" is not "True", but False` {
		t.Errorf("Ready with the gate False = %+v", c)
	}

	p.Status.Conditions[1].Status = corev1.ConditionTrue
	s = Generate(input(p, running("app", 0)))
	if c := cond(s, corev1.PodReady); c.Status != corev1.ConditionTrue {
		t.Errorf("Ready with the gate True = %+v", c)
	}
	if got := cond(s, "example.com/x"); got != p.Status.Conditions[1] {
		t.Errorf("gate condition changed: %+v", got)
	}
}

func TestConditionsAndTimes(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	in := input(p, running("app", 0))
	in.Now = t0.Add(time.Minute + 500*time.Millisecond)
	first := Generate(in)

	types := []corev1.PodConditionType{}
	for _, c := range first.Conditions {
		types = append(types, c.Type)
		if c.ObservedGeneration != 1 {
			t.Errorf("%s observedGeneration = %d, want 1", c.Type, c.ObservedGeneration)
		}
	}
	wantTypes := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	if !equalSlices(types, wantTypes) {
		t.Errorf("condition types %v, want %v", types, wantTypes)
	}
	for _, c := range first.Conditions {
		want := metav1.NewTime(t0.Add(time.Minute)) // to the second, as the API keeps it
		if c.Type == corev1.PodScheduled {
			want = metav1.NewTime(t0) // kept from the scheduler's
		}
		if !c.LastTransitionTime.Equal(&want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, want)
		}
	}
	if first.StartTime == nil || !first.StartTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("startTime = %v, want the first status's time", first.StartTime)
	}
	if first.ObservedGeneration != 1 || first.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("observedGeneration %d qosClass %q", first.ObservedGeneration, first.QOSClass)
	}

	// Later, readiness fails: Ready and ContainersReady move, the others keep their times.
	p.Status = first
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	in = input(p, running("app", 0))
	in.Ready = map[string]bool{"app": false}
	in.Now = t0.Add(5 * time.Minute)
	second := Generate(in)
	for _, c := range second.Conditions {
		old := cond(first, c.Type)
		moved := c.Type == corev1.PodReady || c.Type == corev1.ContainersReady
		if moved && (c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Time.Equal(in.Now)) {
			t.Errorf("%s = %+v, want False since %v", c.Type, c, in.Now)
		}
		if !moved && !c.LastTransitionTime.Equal(&old.LastTransitionTime) {
			t.Errorf("%s lastTransitionTime %v changed from %v", c.Type, c.LastTransitionTime, old.LastTransitionTime)
		}
	}
	if !second.StartTime.Equal(first.StartTime) {
		t.Errorf("startTime moved: %v → %v", first.StartTime, second.StartTime)
	}
}

func TestAddresses(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	in := input(p, running("app", 0))
	in.Sandbox = sandbox("10.88.0.7", "fd00::7")
	s := Generate(in)
	if s.PodIP != "10.88.0.7" || len(s.PodIPs) != 2 || s.PodIPs[0].IP != "10.88.0.7" || s.PodIPs[1].IP != "fd00::7" {
		t.Errorf("podIP %q podIPs %v", s.PodIP, s.PodIPs)
	}
	if s.HostIP != "192.168.1.10" || len(s.HostIPs) != 1 || s.HostIPs[0].IP != "192.168.1.10" {
		t.Errorf("hostIP %q hostIPs %v", s.HostIP, s.HostIPs)
	}
	if c := cond(s, corev1.PodReadyToStartContainers); c.Status != corev1.ConditionTrue {
		t.Errorf("PodReadyToStartContainers = %+v, want True", c)
	}

	// Sandbox gone (pod finished): the addresses stay, the pod can no longer start containers.
	p.Status = s
	in = input(p, exited("app", 0, 0, "Completed"))
	in.Sandbox = nil
	s = Generate(in)
	if s.PodIP != "10.88.0.7" || len(s.PodIPs) != 2 {
		t.Errorf("after the sandbox: podIP %q podIPs %v", s.PodIP, s.PodIPs)
	}
	if c := cond(s, corev1.PodReadyToStartContainers); c.Status != corev1.ConditionFalse {
		t.Errorf("PodReadyToStartContainers = %+v, want False", c)
	}

	// A sandbox without an IP has no network yet (unless the pod uses the host's).
	in = input(testPod(corev1.RestartPolicyAlways, []string{"app"}))
	in.Sandbox = sandbox()
	if c := cond(Generate(in), corev1.PodReadyToStartContainers); c.Status != corev1.ConditionFalse {
		t.Errorf("sandbox without IP: %+v", c)
	}
	in.Pod.Spec.HostNetwork = true
	s = Generate(in)
	if c := cond(s, corev1.PodReadyToStartContainers); c.Status != corev1.ConditionTrue {
		t.Errorf("hostNetwork sandbox: %+v", c)
	}
	if s.PodIP != "192.168.1.10" {
		t.Errorf("hostNetwork podIP = %q, want the host's", s.PodIP)
	}
}

func TestKeptFields(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	start := metav1.NewTime(t0)
	p.Status.StartTime = &start
	p.Status.NominatedNodeName = "node-b"
	p.Status.QOSClass = corev1.PodQOSGuaranteed
	p.Status.Conditions = append(p.Status.Conditions,
		corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"})
	s := Generate(input(p, running("app", 0)))
	if !s.StartTime.Equal(&start) || s.NominatedNodeName != "node-b" || s.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("kept fields changed: startTime %v nominated %q qos %q", s.StartTime, s.NominatedNodeName, s.QOSClass)
	}
	if c := cond(s, corev1.DisruptionTarget); c.Reason != "EvictionByEvictionAPI" {
		t.Errorf("DisruptionTarget lost: %+v", s.Conditions)
	}
	if p.Status.ContainerStatuses != nil || len(p.Status.Conditions) != 2 {
		t.Errorf("Generate changed its input: %+v", p.Status)
	}
}

func TestTerminalPhaseSticks(t *testing.T) {
	p := testPod(corev1.RestartPolicyNever, []string{"app"})
	p.Status = Generate(input(p, exited("app", 0, 0, "Completed")))
	p.Status.Reason, p.Status.Message = "Done", "all done"
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase = %s", p.Status.Phase)
	}
	// The containers were removed: the old terminated status stays, and so does the phase.
	s := Generate(Input{Pod: p, HostIP: "192.168.1.10", Now: now.Add(time.Hour)})
	if s.Phase != corev1.PodSucceeded || s.Reason != "Done" || s.Message != "all done" {
		t.Errorf("phase %s reason %q message %q, want Succeeded with its reason", s.Phase, s.Reason, s.Message)
	}
	st := s.ContainerStatuses[0]
	if st.State.Terminated == nil || st.State.Terminated.Reason != "Completed" {
		t.Errorf("state = %+v, want the old terminated state", st.State)
	}
	// Even a container that would run again does not bring it back.
	s = Generate(input(p, running("app", 1)))
	if s.Phase != corev1.PodSucceeded {
		t.Errorf("phase = %s, want Succeeded", s.Phase)
	}
}

func TestVanishedRunningContainer(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"})
	p.Status = Generate(input(p, running("app", 0)))
	// The runtime lost it: stopped with an unknown status, not "never started".
	s := Generate(input(p))
	st := s.ContainerStatuses[0]
	if st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.Reason != "ContainerStatusUnknown" ||
		st.LastTerminationState.Terminated.ExitCode != 137 || st.RestartCount != 1 {
		t.Errorf("status = %+v", st)
	}
	if s.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running", s.Phase)
	}
}

func TestOrder(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"web", "api", "cache"}, "setup", "migrate")
	s := Generate(input(p, exited("setup", 0, 0, "Completed"), exited("migrate", 0, 0, "Completed"),
		running("web", 0), running("api", 0), running("cache", 0)))
	var apps, inits []string
	for _, st := range s.ContainerStatuses {
		apps = append(apps, st.Name)
	}
	for _, st := range s.InitContainerStatuses {
		inits = append(inits, st.Name)
	}
	// As upstream's status manager: app statuses by name, init statuses in spec order.
	if !equalSlices(apps, []string{"api", "cache", "web"}) || !equalSlices(inits, []string{"setup", "migrate"}) {
		t.Errorf("apps %v inits %v", apps, inits)
	}
}

func TestTerminationMessageAndTimes(t *testing.T) {
	p := testPod(corev1.RestartPolicyNever, []string{"a", "b"})
	c := exited("a", 0, 1, "Error")
	c.Message = strings.Repeat("x", 10000)
	c.StartedAt = c.StartedAt.Add(123 * time.Millisecond)
	st := cstatus(t, Generate(input(p, c, running("b", 0))).ContainerStatuses, "a")
	if n := len(st.State.Terminated.Message); n != 12*1024/2 {
		t.Errorf("message of %d bytes, want %d (12KiB shared by 2 containers)", n, 12*1024/2)
	}
	if st.State.Terminated.StartedAt.Nanosecond() != 0 {
		t.Errorf("startedAt %v not cut to the second", st.State.Terminated.StartedAt)
	}
}

// TestStable: a status fed back as the pod's status regenerates equal, so the worker does
// not write it again; a change makes it differ.
func TestStable(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, []string{"app"}, "init")
	mk := func(at time.Time, cs ...*runtime.Container) Input {
		in := input(p, cs...)
		in.Now = at
		return in
	}
	first := Generate(mk(now, exited("init", 0, 0, "Completed"), running("app", 0)))
	p.Status = first
	again := Generate(mk(now.Add(time.Minute), exited("init", 0, 0, "Completed"), running("app", 0)))
	if !Equal(first, again) {
		t.Errorf("same input regenerated differently:\n%+v\n%+v", first, again)
	}
	changed := Generate(mk(now.Add(time.Minute), exited("init", 0, 0, "Completed"), exited("app", 0, 1, "Error")))
	if Equal(first, changed) {
		t.Errorf("a container exit did not change the status")
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
