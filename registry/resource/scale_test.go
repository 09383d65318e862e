package resource_test

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/registry/deployment"
	"github.com/kubeshim/kubeshim/registry/replicaset"
	"github.com/kubeshim/kubeshim/registry/replicationcontroller"
	"github.com/kubeshim/kubeshim/registry/resource"
	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

type scaleCase struct {
	name         string
	def          *resource.Definition
	newObj       func() runtime.Object
	setStatus    func(obj runtime.Object, replicas int32)
	replicas     func(obj runtime.Object) int32
	wantSelector string
}

func scaleCases() []scaleCase {
	return []scaleCase{
		{
			name: "deployments",
			def:  deployment.Definition(),
			newObj: func() runtime.Object {
				d := newDeployment("x")
				d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}
				return d
			},
			setStatus:    func(o runtime.Object, n int32) { o.(*appsv1.Deployment).Status.Replicas = n },
			replicas:     func(o runtime.Object) int32 { return *o.(*appsv1.Deployment).Spec.Replicas },
			wantSelector: "app=x,tier notin (db)",
		},
		{
			name:         "replicasets",
			def:          replicaset.Definition(),
			newObj:       func() runtime.Object { return newReplicaSet("x") },
			setStatus:    func(o runtime.Object, n int32) { o.(*appsv1.ReplicaSet).Status.Replicas = n },
			replicas:     func(o runtime.Object) int32 { return *o.(*appsv1.ReplicaSet).Spec.Replicas },
			wantSelector: "app=x",
		},
		{
			name: "replicationcontrollers",
			def:  replicationcontroller.Definition(),
			newObj: func() runtime.Object {
				rc := newRC("x")
				rc.Spec.Selector["tier"] = "web"
				rc.Spec.Template.Labels["tier"] = "web"
				return rc
			},
			setStatus:    func(o runtime.Object, n int32) { o.(*corev1.ReplicationController).Status.Replicas = n },
			replicas:     func(o runtime.Object) int32 { return *o.(*corev1.ReplicationController).Spec.Replicas },
			wantSelector: "app=x,tier=web",
		},
	}
}

func scaleOf(t *testing.T, s rest.Storage, name string) *autoscalingv1.Scale {
	t.Helper()
	return rt.Must[*autoscalingv1.Scale](t)(rt.Get(rt.Context(ns), s, name))
}

func TestScale(t *testing.T) {
	for _, tc := range scaleCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, storages := rt.Storages(t, tc.def)
			main, status, scale := storages[tc.def.Resource], storages[tc.def.Resource+"/status"], storages[tc.def.Resource+"/scale"]
			ctx := rt.Context(ns)
			if _, err := rt.Create(ctx, main, tc.newObj()); err != nil {
				t.Fatalf("create: %v", err)
			}
			obj, err := rt.Mutate(ctx, status, "x", func(o runtime.Object) { tc.setStatus(o, 3) })
			if err != nil {
				t.Fatalf("status update: %v", err)
			}
			objMeta, _ := meta.Accessor(obj)
			created := objMeta.GetCreationTimestamp()

			// GET /scale.
			if gvk := scale.(rest.GroupVersionKindProvider).GroupVersionKind(tc.def.GroupVersion); gvk != autoscalingv1.SchemeGroupVersion.WithKind("Scale") {
				t.Errorf("scale kind = %v, want autoscaling/v1 Scale", gvk)
			}
			got := scaleOf(t, scale, "x")
			if got.Spec.Replicas != 2 || got.Status.Replicas != 3 || got.Status.Selector != tc.wantSelector {
				t.Errorf("scale = spec %d status %d selector %q, want 2, 3, %q", got.Spec.Replicas, got.Status.Replicas, got.Status.Selector, tc.wantSelector)
			}
			if got.Name != "x" || got.Namespace != ns || got.UID != objMeta.GetUID() || got.ResourceVersion != objMeta.GetResourceVersion() ||
				!got.CreationTimestamp.Equal(&created) {
				t.Errorf("scale metadata = %+v, want the object's name, namespace, uid, resourceVersion, creationTimestamp", got.ObjectMeta)
			}

			// PUT /scale changes spec.replicas, with the current resourceVersion.
			want := got.DeepCopy()
			want.Spec.Replicas = 5
			updated := rt.Must[*autoscalingv1.Scale](t)(rt.Update(ctx, scale, "x", want))
			if updated.Spec.Replicas != 5 || updated.ResourceVersion == got.ResourceVersion {
				t.Errorf("scale update returned replicas %d resourceVersion %s", updated.Spec.Replicas, updated.ResourceVersion)
			}
			stored, err := rt.Get(ctx, main, "x")
			if err != nil {
				t.Fatal(err)
			}
			if n := tc.replicas(stored); n != 5 {
				t.Errorf("spec.replicas after scale = %d, want 5", n)
			}
			if g := generation(t, stored); g != 2 {
				t.Errorf("generation after scale = %d, want 2", g)
			}

			// Without a resourceVersion the update is unconditional.
			unconditional := got.DeepCopy()
			unconditional.ResourceVersion = ""
			unconditional.Spec.Replicas = 0
			if s, err := rt.Update(ctx, scale, "x", unconditional); err != nil || s.(*autoscalingv1.Scale).Spec.Replicas != 0 {
				t.Errorf("unconditional scale to 0: %v %v", s, err)
			}

			errCases := []struct {
				name  string
				scale func() *autoscalingv1.Scale
				patch func(*autoscalingv1.Scale) // instead of scale: a patch-like update
				check func(error) bool
				want  string
				cause string // the field of the Status's first cause, if any
			}{
				{
					name:  "stale resourceVersion",
					scale: func() *autoscalingv1.Scale { s := got.DeepCopy(); s.Spec.Replicas = 4; return s },
					check: apierrors.IsConflict,
					want:  "the object has been modified",
				},
				{
					name: "negative replicas",
					scale: func() *autoscalingv1.Scale {
						s := scaleOf(t, scale, "x")
						s.Spec.Replicas = -1
						return s
					},
					check: apierrors.IsInvalid,
					want:  "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
					cause: "spec.replicas",
				},
				{
					// A PUT: the handler's UpdatedObjectInfo makes the UID a precondition.
					name: "other UID",
					scale: func() *autoscalingv1.Scale {
						s := scaleOf(t, scale, "x")
						s.UID = "other"
						s.Spec.Replicas = 4
						return s
					},
					check: apierrors.IsConflict,
					want:  "Precondition failed: UID",
				},
				{
					// A patch setting the UID: no precondition from the handler, the scale
					// subresource checks it.
					name:  "patched UID",
					patch: func(s *autoscalingv1.Scale) { s.UID = "other"; s.Spec.Replicas = 4 },
					check: apierrors.IsConflict,
					want:  "Precondition failed: UID",
				},
			}
			for _, ec := range errCases {
				var err error
				if ec.patch != nil {
					_, err = rt.Mutate(ctx, scale, "x", func(o runtime.Object) { ec.patch(o.(*autoscalingv1.Scale)) })
				} else {
					_, err = rt.Update(ctx, scale, "x", ec.scale())
				}
				if !ec.check(err) || !strings.Contains(err.Error(), ec.want) {
					t.Errorf("%s: got %v, want an error mentioning %q", ec.name, err, ec.want)
				}
				if ec.cause != "" {
					var status apierrors.APIStatus
					if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 ||
						status.Status().Details.Causes[0].Field != ec.cause {
						t.Errorf("%s: the Status should name %s as its cause: %#v", ec.name, ec.cause, err)
					}
				}
				if n := tc.replicas(rt.Must[runtime.Object](t)(rt.Get(ctx, main, "x"))); n != 0 {
					t.Errorf("%s: spec.replicas became %d", ec.name, n)
				}
			}
			// A missing object.
			if _, err := rt.Get(ctx, scale, "missing"); !apierrors.IsNotFound(err) {
				t.Errorf("get scale of a missing object: %v, want 404", err)
			}
			if _, err := rt.Update(ctx, scale, "missing", want); !apierrors.IsNotFound(err) {
				t.Errorf("update scale of a missing object: %v, want 404", err)
			}
		})
	}
}
