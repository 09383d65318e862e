package replicaset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func newReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
			},
		},
	}
}

// TestUpdates: annotations are not a new generation for ReplicaSets (only deployments copy
// them on), the selector is immutable, and /status may change labels.
func TestUpdates(t *testing.T) {
	_, s := rt.Storages(t, Definition())
	ctx := rt.Context(ns)
	if _, err := rt.Create(ctx, s["replicasets"], newReplicaSet()); err != nil {
		t.Fatal(err)
	}
	got := rt.Must[*appsv1.ReplicaSet](t)(rt.Mutate(ctx, s["replicasets"], "web", func(o runtime.Object) {
		o.(*appsv1.ReplicaSet).Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
	}))
	if got.Generation != 1 {
		t.Errorf("generation after an annotation change = %d, want 1", got.Generation)
	}
	_, err := rt.Mutate(ctx, s["replicasets"], "web", func(o runtime.Object) {
		rs := o.(*appsv1.ReplicaSet)
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
		rs.Spec.Template.Labels["v"] = "2"
	})
	if !apierrors.IsInvalid(err) {
		t.Errorf("changing the selector: %v, want 422", err)
	}
	got = rt.Must[*appsv1.ReplicaSet](t)(rt.Mutate(ctx, s["replicasets/status"], "web", func(o runtime.Object) {
		o.(*appsv1.ReplicaSet).Labels = map[string]string{"pod-template-hash": "abc"}
	}))
	if got.Labels["pod-template-hash"] != "abc" {
		t.Errorf("labels after /status = %v; upstream's ReplicaSet status strategy keeps only the spec", got.Labels)
	}
}

// TestDelete: apps/v1 deletes dependents in the background by default: the ReplicaSet goes at
// once.
func TestDelete(t *testing.T) {
	_, s := rt.Storages(t, Definition())
	ctx := rt.RequestContext(ns, appsv1.SchemeGroupVersion.WithResource("replicasets"), "delete", "", "web")
	if _, err := rt.Create(ctx, s["replicasets"], newReplicaSet()); err != nil {
		t.Fatal(err)
	}
	if _, deleted, err := rt.Delete(ctx, s["replicasets"], "web", &metav1.DeleteOptions{}); err != nil || !deleted {
		t.Fatalf("delete: deleted=%v err=%v", deleted, err)
	}
	if _, err := rt.Get(ctx, s["replicasets"], "web"); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want 404", err)
	}
}
