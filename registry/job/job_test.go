package job

import (
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func newJob(name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox:1.36"}},
			},
		}},
	}
}

func jobStorages(t *testing.T) map[string]rest.Storage {
	t.Helper()
	_, s := rt.Storages(t, Definition())
	return s
}

func TestGeneratedSelector(t *testing.T) {
	cases := []struct {
		name           string
		job            func() *batchv1.Job
		wantSelector   func(uid string) map[string]string
		wantLabels     func(uid string) map[string]string
		wantInvalidMsg string
	}{
		{
			name: "generated",
			job:  func() *batchv1.Job { return newJob("pi") },
			wantSelector: func(uid string) map[string]string {
				return map[string]string{batchv1.ControllerUidLabel: uid}
			},
			wantLabels: func(uid string) map[string]string {
				return map[string]string{
					"controller-uid": uid, batchv1.ControllerUidLabel: uid,
					"job-name": "pi", batchv1.JobNameLabel: "pi",
				}
			},
		},
		{
			name: "generated, user labels kept",
			job: func() *batchv1.Job {
				j := newJob("pi")
				j.Spec.Template.Labels = map[string]string{"app": "pi", "job-name": "pi"}
				return j
			},
			wantSelector: func(uid string) map[string]string {
				return map[string]string{batchv1.ControllerUidLabel: uid}
			},
			wantLabels: func(uid string) map[string]string {
				return map[string]string{
					"app": "pi", "controller-uid": uid, batchv1.ControllerUidLabel: uid,
					"job-name": "pi", batchv1.JobNameLabel: "pi",
				}
			},
		},
		{
			name: "manual selector kept",
			job: func() *batchv1.Job {
				j := newJob("pi")
				j.Spec.ManualSelector = ptr.To(true)
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
				j.Spec.Template.Labels = map[string]string{"app": "pi"}
				return j
			},
			wantSelector: func(string) map[string]string { return map[string]string{"app": "pi"} },
			wantLabels:   func(string) map[string]string { return map[string]string{"app": "pi"} },
		},
		{
			name: "user selector without manualSelector",
			job: func() *batchv1.Job {
				j := newJob("pi")
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
				j.Spec.Template.Labels = map[string]string{"app": "pi"}
				return j
			},
			wantInvalidMsg: "spec.selector",
		},
		{
			name: "wrong controller-uid label",
			job: func() *batchv1.Job {
				j := newJob("pi")
				j.Spec.Template.Labels = map[string]string{batchv1.ControllerUidLabel: "not-the-uid"}
				return j
			},
			wantInvalidMsg: "spec.template.metadata.labels",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := jobStorages(t)
			obj, err := rt.Create(rt.Context(ns), s["jobs"], tc.job())
			if tc.wantInvalidMsg != "" {
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantInvalidMsg) {
					t.Fatalf("create: %v, want 422 about %s", err, tc.wantInvalidMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			j := obj.(*batchv1.Job)
			uid := string(j.UID)
			if uid == "" {
				t.Fatal("no UID")
			}
			if j.Spec.Selector == nil || !reflect.DeepEqual(j.Spec.Selector.MatchLabels, tc.wantSelector(uid)) || len(j.Spec.Selector.MatchExpressions) != 0 {
				t.Errorf("selector = %+v, want matchLabels %v", j.Spec.Selector, tc.wantSelector(uid))
			}
			if !reflect.DeepEqual(j.Spec.Template.Labels, tc.wantLabels(uid)) {
				t.Errorf("template labels = %v, want %v", j.Spec.Template.Labels, tc.wantLabels(uid))
			}
			stored := rt.Must[*batchv1.Job](t)(rt.Get(rt.Context(ns), s["jobs"], j.Name))
			if !reflect.DeepEqual(stored.Spec.Selector, j.Spec.Selector) || !reflect.DeepEqual(stored.Spec.Template.Labels, j.Spec.Template.Labels) {
				t.Errorf("stored job differs from the create response")
			}

			// The selector and template are immutable; an update keeps them.
			_, err = rt.Mutate(rt.Context(ns), s["jobs"], j.Name, func(o runtime.Object) {
				o.(*batchv1.Job).Spec.Selector.MatchLabels = map[string]string{"other": "x"}
			})
			if !apierrors.IsInvalid(err) {
				t.Errorf("changing the selector: %v, want 422", err)
			}
		})
	}
}

// TestDefaultGarbageCollection: batch/v1 orphans a job's pods when the delete names no policy,
// as upstream keeps for compatibility; the orphan finalizer holds the job for the collector.
func TestDefaultGarbageCollection(t *testing.T) {
	cases := []struct {
		name          string
		opts          *metav1.DeleteOptions
		wantFinalizer string // "" = deleted at once
	}{
		{name: "no policy", opts: &metav1.DeleteOptions{}, wantFinalizer: metav1.FinalizerOrphanDependents},
		{name: "background", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}},
		{name: "foreground", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}, wantFinalizer: metav1.FinalizerDeleteDependents},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := jobStorages(t)
			ctx := rt.RequestContext(ns, batchv1.SchemeGroupVersion.WithResource("jobs"), "delete", "", "pi")
			if _, err := rt.Create(ctx, s["jobs"], newJob("pi")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := rt.Delete(ctx, s["jobs"], "pi", tc.opts); err != nil {
				t.Fatal(err)
			}
			obj, err := rt.Get(ctx, s["jobs"], "pi")
			if tc.wantFinalizer == "" {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("get after delete: %v, want 404", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			j := obj.(*batchv1.Job)
			if j.DeletionTimestamp == nil || !reflect.DeepEqual(j.Finalizers, []string{tc.wantFinalizer}) {
				t.Errorf("after delete: deletionTimestamp %v finalizers %v, want %s", j.DeletionTimestamp, j.Finalizers, tc.wantFinalizer)
			}
		})
	}
}
