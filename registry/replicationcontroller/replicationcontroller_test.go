package replicationcontroller

import (
	"reflect"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

// newRC has no selector: defaulting takes the template's labels, as upstream does.
func newRC() *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
			},
		},
	}
}

func TestCreateAndScale(t *testing.T) {
	_, s := rt.Storages(t, Definition())
	ctx := rt.Context(ns)
	rc := rt.Must[*corev1.ReplicationController](t)(rt.Create(ctx, s["replicationcontrollers"], newRC()))
	if !reflect.DeepEqual(rc.Spec.Selector, map[string]string{"app": "web", "tier": "front"}) || rc.Spec.Replicas == nil || *rc.Spec.Replicas != 1 {
		t.Errorf("selector %v replicas %v, want the template's labels and 1", rc.Spec.Selector, rc.Spec.Replicas)
	}
	scale := rt.Must[*autoscalingv1.Scale](t)(rt.Get(ctx, s["replicationcontrollers/scale"], "web"))
	if scale.Status.Selector != "app=web,tier=front" || scale.Spec.Replicas != 1 {
		t.Errorf("scale = %+v", scale)
	}
}

// TestDelete: core/v1 orphans a replication controller's pods when the delete names no
// policy, as upstream keeps for compatibility.
func TestDelete(t *testing.T) {
	cases := []struct {
		name          string
		opts          *metav1.DeleteOptions
		wantFinalizer string
	}{
		{name: "no policy", opts: &metav1.DeleteOptions{}, wantFinalizer: metav1.FinalizerOrphanDependents},
		{name: "background", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, s := rt.Storages(t, Definition())
			ctx := rt.RequestContext(ns, corev1.SchemeGroupVersion.WithResource("replicationcontrollers"), "delete", "", "web")
			if _, err := rt.Create(ctx, s["replicationcontrollers"], newRC()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := rt.Delete(ctx, s["replicationcontrollers"], "web", tc.opts); err != nil {
				t.Fatal(err)
			}
			obj, err := rt.Get(ctx, s["replicationcontrollers"], "web")
			if tc.wantFinalizer == "" {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("get after delete: %v, want 404", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f := obj.(*corev1.ReplicationController).Finalizers; !reflect.DeepEqual(f, []string{tc.wantFinalizer}) {
				t.Errorf("finalizers %v, want %s", f, tc.wantFinalizer)
			}
		})
	}
}
