package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Container states and statuses the pod cases are built from.
func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}
}

func status(name string, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready}
}

// restarted gives a status a restart count and the time its last run finished.
func restarted(s corev1.ContainerStatus, count int32, finished time.Duration) corev1.ContainerStatus {
	s.RestartCount = count
	if finished > 0 {
		s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(finished)}
	}
	return s
}

func started(s corev1.ContainerStatus) corev1.ContainerStatus {
	s.Started = ptrTo(true)
	return s
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus, reason string) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s, Reason: reason}
}

// pod is a pod created 10 minutes ago with the given containers, init containers
// (names starting with "sidecar" are restartable) and status.
func pod(containers, initContainers []string, st corev1.PodStatus) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
		Status:     st,
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "nginx"})
	}
	for _, c := range initContainers {
		ic := corev1.Container{Name: c, Image: "busybox"}
		if len(c) >= 7 && c[:7] == "sidecar" {
			ic.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, ic)
	}
	return p
}

func deleting(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = agoPtr(5 * time.Second)
	return p
}

// TestPodStatus covers the READY, STATUS and RESTARTS columns, one case per
// STATUS word kube-apiserver can print.
func TestPodStatus(t *testing.T) {
	one := []string{"app"}
	two := []string{"app", "helper"}
	initialized := condition(corev1.PodInitialized, corev1.ConditionTrue, "")

	tests := []struct {
		name     string
		pod      *corev1.Pod
		ready    string
		status   string
		restarts string
	}{
		{"pending phase", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending}), "0/1", "Pending", "0"},
		{"status reason wins over phase", pod(one, nil, corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}), "0/1", "Evicted", "0"},
		{"scheduling gated", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			condition(corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonSchedulingGated)}}), "0/1", "SchedulingGated", "0"},
		{"Init:N/M first init container running", pod(one, []string{"init-a", "init-b"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", running(), false), status("init-b", waiting("PodInitializing"), false)}}),
			"0/1", "Init:0/2", "0"},
		{"Init:N/M second init container running", pod(one, []string{"init-a", "init-b"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", terminated("Completed", 0, 0), false), status("init-b", running(), false)}}),
			"0/1", "Init:1/2", "0"},
		{"Init:Error", pod(one, []string{"init-a"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", terminated("Error", 1, 0), false)}}),
			"0/1", "Init:Error", "0"},
		{"Init:CrashLoopBackOff counts init restarts", pod(one, []string{"init-a"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{restarted(status("init-a", waiting("CrashLoopBackOff"), false), 3, 40*time.Second)}}),
			"0/1", "Init:CrashLoopBackOff", "3 (40s ago)"},
		{"Init:Signal:N", pod(one, []string{"init-a"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", terminated("", 137, 9), false)}}),
			"0/1", "Init:Signal:9", "0"},
		{"Init:ExitCode:N", pod(one, []string{"init-a"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", terminated("", 2, 0), false)}}),
			"0/1", "Init:ExitCode:2", "0"},
		{"PodInitializing", pod(one, []string{"init-a"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("init-a", terminated("Completed", 0, 0), false)},
			ContainerStatuses:     []corev1.ContainerStatus{status("app", waiting("PodInitializing"), false)}}),
			"0/1", "PodInitializing", "0"},
		{"ContainerCreating", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{status("app", waiting("ContainerCreating"), false)}}),
			"0/1", "ContainerCreating", "0"},
		{"CrashLoopBackOff with restarts", pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{restarted(status("app", waiting("CrashLoopBackOff"), false), 4, 90*time.Second)}}),
			"0/1", "CrashLoopBackOff", "4 (90s ago)"},
		{"ErrImagePull", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{status("app", waiting("ErrImagePull"), false)}}),
			"0/1", "ErrImagePull", "0"},
		{"ImagePullBackOff", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{status("app", waiting("ImagePullBackOff"), false)}}),
			"0/1", "ImagePullBackOff", "0"},
		{"Completed", pod(one, nil, corev1.PodStatus{Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Completed", 0, 0), false)}}),
			"0/1", "Completed", "0"},
		{"Error", pod(one, nil, corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Error", 1, 0), false)}}),
			"0/1", "Error", "0"},
		{"OOMKilled", pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{restarted(status("app", terminated("OOMKilled", 137, 0), false), 1, 3*time.Minute)}}),
			"0/1", "OOMKilled", "1 (3m ago)"},
		{"Signal:N", pod(one, nil, corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("", 143, 15), false)}}),
			"0/1", "Signal:15", "0"},
		{"ExitCode:N", pod(one, nil, corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("", 3, 0), false)}}),
			"0/1", "ExitCode:3", "0"},
		{"Running and ready", pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)}}),
			"1/1", "Running", "0"},
		{"Running but not ready keeps the phase", pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{status("app", running(), false)}}),
			"0/1", "Running", "0"},
		{"Running: one completed, one running, Ready condition true", pod(two, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue, "")},
			ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true), status("helper", terminated("Completed", 0, 0), false)}}),
			"1/2", "Running", "0"},
		{"NotReady: one completed, one running, Ready condition false", pod(two, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady")},
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Completed", 0, 0), false), status("helper", running(), true)}}),
			"1/2", "NotReady", "0"},
		{"Terminating", deleting(pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)}})),
			"1/1", "Terminating", "0"},
		{"deleted pod in a terminal phase is not Terminating", deleting(pod(one, nil, corev1.PodStatus{Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Completed", 0, 0), false)}})),
			"0/1", "Completed", "0"},
		{"Unknown: deleted pod of a lost node", deleting(pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost",
			ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)}})),
			"1/1", "Unknown", "0"},
		{"sidecar started and ready counts as a container", pod(one, []string{"sidecar-log"}, corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:            []corev1.PodCondition{initialized},
			InitContainerStatuses: []corev1.ContainerStatus{started(status("sidecar-log", running(), true))},
			ContainerStatuses:     []corev1.ContainerStatus{status("app", running(), true)}}),
			"2/2", "Running", "0"},
		{"sidecar not started yet holds initialization", pod(one, []string{"sidecar-log"}, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("sidecar-log", running(), false)},
			ContainerStatuses:     []corev1.ContainerStatus{status("app", waiting("PodInitializing"), false)}}),
			"0/2", "Init:0/1", "0"},
		{"sidecar restarts add to the containers' once initialized", pod(one, []string{"init-a", "sidecar-log"}, corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{initialized},
			InitContainerStatuses: []corev1.ContainerStatus{
				restarted(status("init-a", terminated("Completed", 0, 0), false), 5, 9*time.Minute),
				restarted(started(status("sidecar-log", running(), true)), 2, 2*time.Minute),
			},
			ContainerStatuses: []corev1.ContainerStatus{restarted(status("app", running(), true), 1, 5*time.Minute)}}),
			"2/2", "Running", "3 (2m ago)"},
		{"restarts without a last termination time", pod(one, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{restarted(status("app", running(), true), 2, 0)}}),
			"1/1", "Running", "2"},
		{"restarts sum over containers with the latest time", pod(two, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				restarted(status("app", running(), true), 2, 4*time.Hour),
				restarted(status("helper", running(), true), 3, 150*time.Second),
			}}),
			"2/2", "Running", "5 (2m30s ago)"},
		{"status of an init container missing from the spec", pod(one, nil, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{status("ghost", running(), false)}}),
			"0/1", "Init:0/0", "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cells := cellsOf(t, gr("", "pods"), tc.pod)
			got := []interface{}{cells[1], cells[2], cells[3]}
			want := []interface{}{tc.ready, tc.status, tc.restarts}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("READY, STATUS, RESTARTS = %q, want %q", got, want)
			}
		})
	}
}

func TestPodRow(t *testing.T) {
	p := pod([]string{"app"}, nil, corev1.PodStatus{Phase: corev1.PodRunning,
		PodIP:             "10.88.0.5",
		PodIPs:            []corev1.PodIP{{IP: "10.88.0.5"}, {IP: "fd00::5"}},
		NominatedNodeName: "node-b",
		Conditions:        []corev1.PodCondition{condition("example.com/gate-a", corev1.ConditionTrue, ""), condition("example.com/gate-b", corev1.ConditionFalse, "")},
		ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)},
	})
	p.Spec.NodeName = "node-a"
	p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/gate-a"}, {ConditionType: "example.com/gate-b"}, {ConditionType: "example.com/gate-c"}}

	tests := []struct {
		name string
		pod  *corev1.Pod
		want []interface{}
	}{
		{"wide", p, []interface{}{"web", "1/1", "Running", "0", "10m", "10.88.0.5", "node-a", "node-b", "1/3"}},
		{"unscheduled", pod([]string{"app"}, nil, corev1.PodStatus{Phase: corev1.PodPending}),
			[]interface{}{"web", "0/1", "Pending", "0", "10m", "<none>", "<none>", "<none>", "<none>"}},
		{"podIPs without podIP", pod([]string{"app"}, nil, corev1.PodStatus{Phase: corev1.PodPending, PodIPs: []corev1.PodIP{{IP: "10.88.0.9"}}}),
			[]interface{}{"web", "0/1", "Pending", "0", "10m", "10.88.0.9", "<none>", "<none>", "<none>"}},
		{"no creation timestamp", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
			[]interface{}{"bare", "0/0", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cellsOf(t, gr("", "pods"), tc.pod); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodRunning, nil},
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Failed", Message: "The pod failed."}}},
	}
	for _, tc := range tests {
		t.Run(string(tc.phase), func(t *testing.T) {
			table := convert(t, gr("", "pods"), pod([]string{"app"}, nil, corev1.PodStatus{Phase: tc.phase}), nil)
			if got := table.Rows[0].Conditions; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row conditions %+v, want %+v", got, tc.want)
			}
		})
	}
}
