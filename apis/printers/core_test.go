package printers

import (
	"reflect"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func node(mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", CreationTimestamp: ago(30 * 24 * time.Hour)},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "node-a"},
				{Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
				{Type: corev1.NodeInternalIP, Address: "192.168.1.11"},
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2+kubeshim.0.1.0", OSImage: "Debian GNU/Linux 13 (trixie)",
				KernelVersion: "6.12.0-1-amd64", ContainerRuntimeVersion: "containerd://1.6.20"},
		},
	}
	mutate(n)
	return n
}

func TestNodeRows(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		want []interface{}
	}{
		{"ready worker", node(func(*corev1.Node) {}), []interface{}{"node-a", "Ready", "<none>", "30d", "v1.37.2+kubeshim.0.1.0",
			"192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0-1-amd64", "containerd://1.6.20"}},
		{"not ready, cordoned, roles", node(func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}
			n.Spec.Unschedulable = true
			n.Labels = map[string]string{
				"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true",
				"node-role.kubernetes.io/": "", "kubernetes.io/role": "master", "kubernetes.io/hostname": "node-a",
			}
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.7"})
		}), []interface{}{"node-a", "NotReady,SchedulingDisabled", "control-plane,etcd,master", "30d", "v1.37.2+kubeshim.0.1.0",
			"192.168.1.10", "203.0.113.7", "Debian GNU/Linux 13 (trixie)", "6.12.0-1-amd64", "containerd://1.6.20"}},
		{"ready and cordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			[]interface{}{"node-a", "Ready,SchedulingDisabled", "<none>", "30d", "v1.37.2+kubeshim.0.1.0",
				"192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0-1-amd64", "containerd://1.6.20"}},
		{"new node without status", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: ago(time.Second)}},
			[]interface{}{"n", "Unknown", "<none>", "1s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"last Ready condition counts", node(func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}, {Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
		}), []interface{}{"node-a", "NotReady", "<none>", "30d", "v1.37.2+kubeshim.0.1.0",
			"192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0-1-amd64", "containerd://1.6.20"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cellsOf(t, gr("", "nodes"), tc.node); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestSmallKindRows(t *testing.T) {
	tests := []struct {
		name     string
		resource schema.GroupResource
		obj      runtime.Object
		want     []interface{}
	}{
		{"namespace", gr("", "namespaces"), &corev1.Namespace{ObjectMeta: objMeta("dev", 4*time.Minute), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]interface{}{"dev", "Active", "4m"}},
		{"terminating namespace", gr("", "namespaces"), &corev1.Namespace{ObjectMeta: objMeta("old", time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]interface{}{"old", "Terminating", "60m"}},
		{"configmap counts data and binaryData", gr("", "configmaps"), &corev1.ConfigMap{ObjectMeta: objMeta("cfg", 2*time.Minute),
			Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			[]interface{}{"cfg", int64(3), "2m"}},
		{"secret", gr("", "secrets"), &corev1.Secret{ObjectMeta: objMeta("tls", time.Minute), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]interface{}{"tls", "kubernetes.io/tls", int64(2), "60s"}},
		{"secret merges stringData into data", gr("", "secrets"), &corev1.Secret{ObjectMeta: objMeta("s", time.Minute), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"a": nil}, StringData: map[string]string{"a": "x", "b": "y"}},
			[]interface{}{"s", "Opaque", int64(2), "60s"}},
		{"serviceaccount", gr("", "serviceaccounts"), &corev1.ServiceAccount{ObjectMeta: objMeta("default", 20*24*time.Hour),
			Secrets: []corev1.ObjectReference{{Name: "token"}}},
			[]interface{}{"default", int64(1), "20d"}},
		{"lease", gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: objMeta("node-a", 3*time.Hour),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-a")}},
			[]interface{}{"node-a", "node-a", "3h"}},
		{"lease without holder", gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: objMeta("free", 3*time.Hour)},
			[]interface{}{"free", "", "3h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cellsOf(t, tc.resource, tc.obj); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestCoreEventRows(t *testing.T) {
	backoff := corev1.Event{
		ObjectMeta:     objMeta("web.17f", 10*time.Minute),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		Reason:         "BackOff", Type: corev1.EventTypeWarning,
		Message:        "Back-off restarting failed container app\n",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(3 * time.Minute), Count: 5,
	}
	tests := []struct {
		name  string
		event *corev1.Event
		want  []interface{}
	}{
		{"repeated event", &backoff, []interface{}{"3m", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node-a",
			"Back-off restarting failed container app", "10m", int64(5), "web.17f"}},
		{"event of the new API: eventTime, series, reporting controller", &corev1.Event{
			ObjectMeta:     objMeta("web.18a", 10*time.Minute),
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Reason:         "ScalingReplicaSet", Type: corev1.EventTypeNormal, Message: "Scaled up",
			EventTime:           metav1.NewMicroTime(now.Add(-8 * time.Minute)),
			Series:              &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))},
			ReportingController: "deployment-controller", ReportingInstance: "kubeshim-0",
		}, []interface{}{"30s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller, kubeshim-0",
			"Scaled up", "8m", int64(7), "web.18a"}},
		{"singleton without count, object without name", &corev1.Event{
			ObjectMeta:     objMeta("n.1", time.Minute),
			InvolvedObject: corev1.ObjectReference{Kind: "Node"},
			Reason:         "Starting", Type: corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "kubelet"},
			FirstTimestamp: ago(2 * time.Hour),
		}, []interface{}{"120m", "Normal", "Starting", "node", "", "kubelet", "", "120m", int64(1), "n.1"}},
		{"no timestamps at all", &corev1.Event{ObjectMeta: objMeta("e", time.Minute)},
			[]interface{}{"<unknown>", "", "", "", "", "", "", "<unknown>", int64(1), "e"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cellsOf(t, gr("", "events"), tc.event); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestEventsV1Rows checks that an events.k8s.io event prints as the core event it converts to.
func TestEventsV1Rows(t *testing.T) {
	tests := []struct {
		name  string
		event *eventsv1.Event
		core  *corev1.Event
	}{
		{"deprecated fields", &eventsv1.Event{
			ObjectMeta: objMeta("web.17f", 10*time.Minute),
			Regarding:  corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
			Reason:     "BackOff", Type: corev1.EventTypeWarning, Note: " Back-off ",
			DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
			DeprecatedFirstTimestamp: ago(10 * time.Minute), DeprecatedLastTimestamp: ago(3 * time.Minute), DeprecatedCount: 5,
		}, &corev1.Event{
			ObjectMeta:     objMeta("web.17f", 10*time.Minute),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
			Reason:         "BackOff", Type: corev1.EventTypeWarning, Message: " Back-off ",
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
			FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(3 * time.Minute), Count: 5,
		}},
		{"series and reporting", &eventsv1.Event{
			ObjectMeta: objMeta("web.18a", 10*time.Minute),
			Regarding:  corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Reason:     "ScalingReplicaSet", Type: corev1.EventTypeNormal, Note: "Scaled up",
			EventTime:           metav1.NewMicroTime(now.Add(-8 * time.Minute)),
			Series:              &eventsv1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))},
			ReportingController: "deployment-controller", ReportingInstance: "kubeshim-0",
		}, &corev1.Event{
			ObjectMeta:     objMeta("web.18a", 10*time.Minute),
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Reason:         "ScalingReplicaSet", Type: corev1.EventTypeNormal, Message: "Scaled up",
			EventTime:           metav1.NewMicroTime(now.Add(-8 * time.Minute)),
			Series:              &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))},
			ReportingController: "deployment-controller", ReportingInstance: "kubeshim-0",
		}},
		{"singleton", &eventsv1.Event{
			ObjectMeta: objMeta("x", time.Minute), Regarding: corev1.ObjectReference{Kind: "Node", Name: "node-a"},
			Reason: "Starting", Type: corev1.EventTypeNormal, EventTime: metav1.NewMicroTime(now.Add(-time.Minute)),
			ReportingController: "kubelet", ReportingInstance: "node-a",
		}, &corev1.Event{
			ObjectMeta: objMeta("x", time.Minute), InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-a"},
			Reason: "Starting", Type: corev1.EventTypeNormal, EventTime: metav1.NewMicroTime(now.Add(-time.Minute)),
			ReportingController: "kubelet", ReportingInstance: "node-a",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cellsOf(t, gr("events.k8s.io", "events"), tc.event)
			want := cellsOf(t, gr("", "events"), tc.core)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events.k8s.io cells\n got %#v\nwant %#v (core)", got, want)
			}
		})
	}
	// And one literal row, so both printers cannot be wrong together.
	got := cellsOf(t, gr("events.k8s.io", "events"), tests[2].event)
	want := []interface{}{"60s", "Normal", "Starting", "node/node-a", "", "kubelet, node-a", "", "60s", int64(1), "x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("singleton cells\n got %#v\nwant %#v", got, want)
	}
}
