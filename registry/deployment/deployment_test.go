package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func newDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
			},
		},
	}
}

// TestGeneration: as upstream, an annotation change is a new generation (annotations are
// copied to the ReplicaSets), a label change is not, and one update bumps once.
func TestGeneration(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   int64
	}{
		{name: "label", mutate: func(d *appsv1.Deployment) { d.Labels["tier"] = "front" }, want: 1},
		{name: "annotation", mutate: func(d *appsv1.Deployment) { d.Annotations = map[string]string{"note": "x"} }, want: 2},
		{name: "spec", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) }, want: 2},
		{name: "spec and annotation", mutate: func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](3)
			d.Annotations = map[string]string{"note": "x"}
		}, want: 2},
		{name: "nothing", mutate: func(*appsv1.Deployment) {}, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, s := rt.Storages(t, Definition())
			ctx := rt.Context(ns)
			if _, err := rt.Create(ctx, s["deployments"], newDeployment()); err != nil {
				t.Fatal(err)
			}
			got := rt.Must[*appsv1.Deployment](t)(rt.Mutate(ctx, s["deployments"], "web", func(o runtime.Object) {
				tc.mutate(o.(*appsv1.Deployment))
			}))
			if got.Generation != tc.want {
				t.Errorf("generation = %d, want %d", got.Generation, tc.want)
			}
		})
	}
}

// TestStatusUpdate: /status keeps the spec and the labels, and may change annotations (the
// deployment controller records the revision so) without a new generation.
func TestStatusUpdate(t *testing.T) {
	_, s := rt.Storages(t, Definition())
	ctx := rt.Context(ns)
	if _, err := rt.Create(ctx, s["deployments"], newDeployment()); err != nil {
		t.Fatal(err)
	}
	got := rt.Must[*appsv1.Deployment](t)(rt.Mutate(ctx, s["deployments/status"], "web", func(o runtime.Object) {
		d := o.(*appsv1.Deployment)
		d.Labels = map[string]string{"app": "other"}
		d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
		d.Spec.Paused = true
		d.Status.ObservedGeneration = 1
		d.Status.Replicas = 1
	}))
	if got.Labels["app"] != "web" || len(got.Labels) != 1 {
		t.Errorf("labels after /status = %v, want them kept", got.Labels)
	}
	if got.Spec.Paused {
		t.Error("/status changed the spec")
	}
	if got.Annotations["deployment.kubernetes.io/revision"] != "1" || got.Generation != 1 {
		t.Errorf("annotations %v generation %d, want the revision annotation and generation 1", got.Annotations, got.Generation)
	}
	if got.Status.Replicas != 1 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v", got.Status)
	}
}
