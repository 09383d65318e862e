package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

func newNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("2"), corev1.ResourceMemory: apiresource.MustParse("4Gi")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// TestNodeStatus: a kubelet registers its node with its status; afterwards only /status
// changes it, and /status cannot change the spec. Nodes have no generation.
func TestNodeStatus(t *testing.T) {
	_, s := rt.Storages(t, Definition())
	ctx := rt.Context("")
	created := rt.Must[*corev1.Node](t)(rt.Create(ctx, s["nodes"], newNode()))
	if len(created.Status.Conditions) != 1 || created.Status.Allocatable.Cpu().String() != "2" {
		t.Errorf("status after create = %+v, want the kubelet's (allocatable defaulted from capacity)", created.Status)
	}
	if created.Generation != 0 {
		t.Errorf("generation = %d, want none", created.Generation)
	}

	got := rt.Must[*corev1.Node](t)(rt.Mutate(ctx, s["nodes"], "n1", func(o runtime.Object) {
		n := o.(*corev1.Node)
		n.Spec.Unschedulable = true
		n.Status.Conditions[0].Status = corev1.ConditionFalse
	}))
	if !got.Spec.Unschedulable || got.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("main update: unschedulable %v, Ready %s; want the spec changed and the status kept", got.Spec.Unschedulable, got.Status.Conditions[0].Status)
	}

	got = rt.Must[*corev1.Node](t)(rt.Mutate(ctx, s["nodes/status"], "n1", func(o runtime.Object) {
		n := o.(*corev1.Node)
		n.Spec.Unschedulable = false
		n.Status.Conditions[0].Status = corev1.ConditionFalse
	}))
	if !got.Spec.Unschedulable || got.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("status update: unschedulable %v, Ready %s; want the spec kept and the status changed", got.Spec.Unschedulable, got.Status.Conditions[0].Status)
	}
	if got.Generation != 0 {
		t.Errorf("generation = %d, want none", got.Generation)
	}

	// Cluster-scoped: a namespace in the object is dropped, as upstream does.
	n := newNode()
	n.Name, n.Namespace = "n2", "ns"
	if got := rt.Must[*corev1.Node](t)(rt.Create(ctx, s["nodes"], n)); got.Namespace != "" {
		t.Errorf("node created with namespace %q", got.Namespace)
	}
}
