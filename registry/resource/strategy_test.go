package resource_test

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/registry/deployment"
	"github.com/kubeshim/kubeshim/registry/job"
	"github.com/kubeshim/kubeshim/registry/pod"
	"github.com/kubeshim/kubeshim/registry/replicaset"
	"github.com/kubeshim/kubeshim/registry/replicationcontroller"
	"github.com/kubeshim/kubeshim/registry/resource"
	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

func newDeployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func newReplicaSet(name string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func newRC(name string) *corev1.ReplicationController {
	tmpl := podTemplate(name)
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": name},
			Template: &tmpl,
		},
	}
}

func newJob(name string) *batchv1.Job {
	tmpl := podTemplate(name)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       batchv1.JobSpec{Parallelism: ptr.To[int32](1), Template: tmpl},
	}
}

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

// kindCase describes, for one kind with a status subresource and generations, a status only
// the server may write, a valid spec change, and how to read both back.
type kindCase struct {
	name       string
	def        *resource.Definition
	newObj     func() runtime.Object
	setStatus  func(runtime.Object)
	hasStatus  func(runtime.Object) bool
	changeSpec func(runtime.Object)
	spec       func(runtime.Object) any
	// statusResetExtra are the reset fields of /status beyond spec, as upstream declares them.
	statusResetExtra []fieldpath.Path
}

func kindCases() []kindCase {
	return []kindCase{
		{
			name:       "deployments",
			def:        deployment.Definition(),
			newObj:     func() runtime.Object { return newDeployment("x") },
			setStatus:  func(o runtime.Object) { o.(*appsv1.Deployment).Status.Replicas = 7 },
			hasStatus:  func(o runtime.Object) bool { return o.(*appsv1.Deployment).Status.Replicas == 7 },
			changeSpec: func(o runtime.Object) { *o.(*appsv1.Deployment).Spec.Replicas++ },
			spec:       func(o runtime.Object) any { return o.(*appsv1.Deployment).Spec },
			statusResetExtra: []fieldpath.Path{
				fieldpath.MakePathOrDie("metadata", "labels"),
			},
		},
		{
			name:       "replicasets",
			def:        replicaset.Definition(),
			newObj:     func() runtime.Object { return newReplicaSet("x") },
			setStatus:  func(o runtime.Object) { o.(*appsv1.ReplicaSet).Status.Replicas = 7 },
			hasStatus:  func(o runtime.Object) bool { return o.(*appsv1.ReplicaSet).Status.Replicas == 7 },
			changeSpec: func(o runtime.Object) { *o.(*appsv1.ReplicaSet).Spec.Replicas++ },
			spec:       func(o runtime.Object) any { return o.(*appsv1.ReplicaSet).Spec },
		},
		{
			name:       "replicationcontrollers",
			def:        replicationcontroller.Definition(),
			newObj:     func() runtime.Object { return newRC("x") },
			setStatus:  func(o runtime.Object) { o.(*corev1.ReplicationController).Status.Replicas = 7 },
			hasStatus:  func(o runtime.Object) bool { return o.(*corev1.ReplicationController).Status.Replicas == 7 },
			changeSpec: func(o runtime.Object) { *o.(*corev1.ReplicationController).Spec.Replicas++ },
			spec:       func(o runtime.Object) any { return o.(*corev1.ReplicationController).Spec },
		},
		{
			name:       "jobs",
			def:        job.Definition(),
			newObj:     func() runtime.Object { return newJob("x") },
			setStatus:  func(o runtime.Object) { o.(*batchv1.Job).Status.Active = 7 },
			hasStatus:  func(o runtime.Object) bool { return o.(*batchv1.Job).Status.Active == 7 },
			changeSpec: func(o runtime.Object) { *o.(*batchv1.Job).Spec.Parallelism++ },
			spec:       func(o runtime.Object) any { return o.(*batchv1.Job).Spec },
		},
		{
			name:   "pods",
			def:    pod.Definition(),
			newObj: func() runtime.Object { return newPod("x") },
			setStatus: func(o runtime.Object) {
				o.(*corev1.Pod).Status.Phase = corev1.PodRunning
				o.(*corev1.Pod).Status.Message = "marker"
			},
			hasStatus:  func(o runtime.Object) bool { return o.(*corev1.Pod).Status.Message == "marker" },
			changeSpec: func(o runtime.Object) { o.(*corev1.Pod).Spec.Containers[0].Image += "0" },
			spec:       func(o runtime.Object) any { return o.(*corev1.Pod).Spec },
			statusResetExtra: []fieldpath.Path{
				fieldpath.MakePathOrDie("metadata", "deletionTimestamp"),
				fieldpath.MakePathOrDie("metadata", "ownerReferences"),
			},
		},
	}
}

func generation(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m.GetGeneration()
}

// TestStatusAndGeneration drives every workload kind through create, main-resource updates
// and /status updates, and checks what a client reads back.
func TestStatusAndGeneration(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, storages := rt.Storages(t, tc.def)
			main, status := storages[tc.def.Resource], storages[tc.def.Resource+"/status"]
			ctx := rt.Context(ns)

			// Create: the client's status is dropped, generation starts at 1.
			obj := tc.newObj()
			tc.setStatus(obj)
			created, err := rt.Create(ctx, main, obj)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if tc.hasStatus(created) {
				t.Errorf("create kept the client's status")
			}
			if g := generation(t, created); g != 1 {
				t.Errorf("generation after create = %d, want 1", g)
			}
			got, err := rt.Get(ctx, main, "x")
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if tc.hasStatus(got) || generation(t, got) != 1 {
				t.Errorf("stored object differs from the create response")
			}

			// Main resource, status and metadata only: status kept as stored, no new generation.
			updated, err := rt.Mutate(ctx, main, "x", func(o runtime.Object) {
				tc.setStatus(o)
				m, _ := meta.Accessor(o)
				m.SetLabels(map[string]string{"app": "x", "extra": "1"})
			})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if tc.hasStatus(updated) {
				t.Errorf("an update of the main resource changed the status")
			}
			if m, _ := meta.Accessor(updated); m.GetLabels()["extra"] != "1" {
				t.Errorf("the metadata change was lost: labels %v", m.GetLabels())
			}
			if g := generation(t, updated); g != 1 {
				t.Errorf("generation after a metadata change = %d, want 1", g)
			}

			// /status with a spec change: status written, spec kept, no new generation.
			specBefore := tc.spec(updated)
			viaStatus, err := rt.Mutate(ctx, status, "x", func(o runtime.Object) {
				tc.setStatus(o)
				tc.changeSpec(o)
			})
			if err != nil {
				t.Fatalf("status update: %v", err)
			}
			if !tc.hasStatus(viaStatus) {
				t.Errorf("/status did not write the status")
			}
			if !reflect.DeepEqual(tc.spec(viaStatus), specBefore) {
				t.Errorf("/status changed the spec:\n got %+v\nwant %+v", tc.spec(viaStatus), specBefore)
			}
			if g := generation(t, viaStatus); g != 1 {
				t.Errorf("generation after a status change = %d, want 1", g)
			}

			// Main resource, spec change: generation 2, status kept.
			for want := int64(2); want <= 3; want++ {
				changed, err := rt.Mutate(ctx, main, "x", tc.changeSpec)
				if err != nil {
					t.Fatalf("spec update: %v", err)
				}
				if g := generation(t, changed); g != want {
					t.Errorf("generation after spec change = %d, want %d", g, want)
				}
				if !tc.hasStatus(changed) {
					t.Errorf("a spec update lost the status")
				}
				if reflect.DeepEqual(tc.spec(changed), specBefore) {
					t.Errorf("the spec change was lost")
				}
			}

			// A client's generation is ignored.
			same, err := rt.Mutate(ctx, main, "x", func(o runtime.Object) {
				m, _ := meta.Accessor(o)
				m.SetGeneration(42)
			})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if g := generation(t, same); g != 3 {
				t.Errorf("generation after a client set it = %d, want 3", g)
			}

			// A PUT from a stale read conflicts.
			stale := got.DeepCopyObject()
			if _, err := rt.Update(ctx, main, "x", stale); !apierrors.IsConflict(err) {
				t.Errorf("update with a stale resourceVersion: got %v, want 409 Conflict", err)
			}
		})
	}
}

func TestGetResetFields(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, storages := rt.Storages(t, tc.def)
			version := fieldpath.APIVersion(tc.def.GroupVersion.String())

			mainFields := storages[tc.def.Resource].(rest.ResetFieldsStrategy).GetResetFields()
			want := fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
			if len(mainFields) != 1 || mainFields[version] == nil || !mainFields[version].Equals(want) {
				t.Errorf("main reset fields = %v, want %s: %v", mainFields, version, want)
			}

			statusFields := storages[tc.def.Resource+"/status"].(rest.ResetFieldsStrategy).GetResetFields()
			want = fieldpath.NewSet(append([]fieldpath.Path{fieldpath.MakePathOrDie("spec")}, tc.statusResetExtra...)...)
			if len(statusFields) != 1 || statusFields[version] == nil || !statusFields[version].Equals(want) {
				t.Errorf("status reset fields = %v, want %s: %v", statusFields, version, want)
			}
		})
	}
}

// TestStatusSubresourceNeverCreates: PUT /status of a missing object is 404, even for kinds
// whose main resource creates on update.
func TestStatusSubresourceNeverCreates(t *testing.T) {
	d := deployment.Definition()
	d.AllowCreateOnUpdate = true
	_, storages := rt.Storages(t, d)
	_, err := rt.Update(rt.Context(ns), storages["deployments/status"], "x", newDeployment("x"))
	if !apierrors.IsNotFound(err) {
		t.Fatalf("status update of a missing object: got %v, want 404 NotFound", err)
	}
	if _, err := rt.Update(rt.Context(ns), storages["deployments"], "x", newDeployment("x")); err != nil {
		t.Fatalf("main update creating the object: %v", err)
	}
}

func TestDiscoveryNames(t *testing.T) {
	_, storages := rt.Storages(t, deployment.Definition())
	main := storages["deployments"]
	if got := main.(rest.ShortNamesProvider).ShortNames(); !reflect.DeepEqual(got, []string{"deploy"}) {
		t.Errorf("short names = %v", got)
	}
	if got := main.(rest.CategoriesProvider).Categories(); !reflect.DeepEqual(got, []string{"all"}) {
		t.Errorf("categories = %v", got)
	}
	if got := main.(rest.SingularNameProvider).GetSingularName(); got != "deployment" {
		t.Errorf("singular name = %q", got)
	}
	for _, path := range []string{"deployments", "deployments/status", "deployments/scale"} {
		if _, ok := storages[path]; !ok {
			t.Errorf("no storage for %s", path)
		}
	}
}
