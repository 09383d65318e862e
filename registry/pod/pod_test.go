package pod

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func newPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}},
		},
	}
}

// podStorages returns pods, pods/status, pods/binding and pods/eviction over a new backend.
func podStorages(t *testing.T) map[string]rest.Storage {
	t.Helper()
	storages, err := Storages(rt.NewOptionsGetter(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(storages["pods"].(rest.Storage).Destroy)
	return storages
}

func create(t *testing.T, s map[string]rest.Storage, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	return rt.Must[*corev1.Pod](t)(rt.Create(rt.Context(ns), s["pods"], p))
}

func get(t *testing.T, s map[string]rest.Storage, name string) (*corev1.Pod, error) {
	t.Helper()
	obj, err := rt.Get(rt.Context(ns), s["pods"], name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

func setPhase(t *testing.T, s map[string]rest.Storage, name string, phase corev1.PodPhase) {
	t.Helper()
	if _, err := rt.Mutate(rt.Context(ns), s["pods/status"], name, func(o runtime.Object) {
		o.(*corev1.Pod).Status.Phase = phase
	}); err != nil {
		t.Fatalf("set phase %s: %v", phase, err)
	}
}

func TestCheckGracefulDelete(t *testing.T) {
	cases := []struct {
		name      string
		node      string
		phase     corev1.PodPhase
		specGrace *int64
		reqGrace  *int64
		want      int64
	}{
		{name: "request wins", node: "n", phase: corev1.PodRunning, specGrace: ptr.To[int64](30), reqGrace: ptr.To[int64](10), want: 10},
		{name: "spec when no request", node: "n", phase: corev1.PodRunning, specGrace: ptr.To[int64](45), want: 45},
		{name: "neither: immediate", node: "n", phase: corev1.PodRunning, want: 0},
		{name: "request zero", node: "n", phase: corev1.PodRunning, specGrace: ptr.To[int64](30), reqGrace: ptr.To[int64](0), want: 0},
		{name: "unscheduled", phase: corev1.PodPending, specGrace: ptr.To[int64](30), reqGrace: ptr.To[int64](10), want: 0},
		{name: "succeeded", node: "n", phase: corev1.PodSucceeded, specGrace: ptr.To[int64](30), want: 0},
		{name: "failed", node: "n", phase: corev1.PodFailed, specGrace: ptr.To[int64](30), reqGrace: ptr.To[int64](10), want: 0},
		{name: "negative request", node: "n", phase: corev1.PodRunning, reqGrace: ptr.To[int64](-5), want: 1},
		{name: "negative spec", node: "n", phase: corev1.PodPending, specGrace: ptr.To[int64](-2), want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod("p", tc.node)
			p.Status.Phase = tc.phase
			p.Spec.TerminationGracePeriodSeconds = tc.specGrace
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tc.reqGrace}
			if !checkGracefulDelete(context.Background(), p, opts) {
				t.Fatal("checkGracefulDelete = false, want true")
			}
			if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != tc.want {
				t.Errorf("grace period = %v, want %d", opts.GracePeriodSeconds, tc.want)
			}
		})
	}
	if checkGracefulDelete(context.Background(), newPod("p", "n"), nil) {
		t.Error("checkGracefulDelete without options = true, want false")
	}
}

// TestDelete deletes pods through the store: a pod no kubelet runs goes at once, a bound one
// is marked for graceful deletion and stays.
func TestDelete(t *testing.T) {
	cases := []struct {
		name      string
		node      string
		phase     corev1.PodPhase // set through pods/status before the delete
		opts      *metav1.DeleteOptions
		wantGone  bool
		wantGrace int64
	}{
		{name: "unscheduled", opts: &metav1.DeleteOptions{}, wantGone: true},
		{name: "unscheduled with a grace period", opts: metav1.NewDeleteOptions(60), wantGone: true},
		{name: "bound, spec grace period", node: "n1", opts: &metav1.DeleteOptions{}, wantGrace: 30},
		{name: "bound, requested grace period", node: "n1", opts: metav1.NewDeleteOptions(5), wantGrace: 5},
		{name: "bound, negative grace period", node: "n1", opts: metav1.NewDeleteOptions(-5), wantGrace: 1},
		{name: "bound, grace period 0", node: "n1", opts: metav1.NewDeleteOptions(0), wantGone: true},
		{name: "bound, succeeded", node: "n1", phase: corev1.PodSucceeded, opts: &metav1.DeleteOptions{}, wantGone: true},
		{name: "bound, failed", node: "n1", phase: corev1.PodFailed, opts: &metav1.DeleteOptions{}, wantGone: true},
		// The HTTP handler always passes options; the store reads none as grace period 0.
		{name: "bound, no options", node: "n1", wantGone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := podStorages(t)
			created := create(t, s, newPod("p", tc.node))
			if tc.phase != "" {
				setPhase(t, s, "p", tc.phase)
			}
			before := time.Now()
			obj, deleted, err := rt.Delete(rt.Context(ns), s["pods"], "p", tc.opts)
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			stored, getErr := get(t, s, "p")
			if tc.wantGone {
				if !deleted || !apierrors.IsNotFound(getErr) {
					t.Fatalf("deleted=%v, get after delete: %v; want the pod gone", deleted, getErr)
				}
				return
			}
			if deleted || getErr != nil {
				t.Fatalf("deleted=%v, get after delete: %v; want the pod kept", deleted, getErr)
			}
			returned := obj.(*corev1.Pod)
			for _, p := range []*corev1.Pod{returned, stored} {
				if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != tc.wantGrace {
					t.Fatalf("deletionTimestamp %v, deletionGracePeriodSeconds %v; want set, %d", p.DeletionTimestamp, p.DeletionGracePeriodSeconds, tc.wantGrace)
				}
				deadline := before.Add(time.Duration(tc.wantGrace) * time.Second).Truncate(time.Second)
				if p.DeletionTimestamp.Time.Before(deadline) || p.DeletionTimestamp.Time.After(deadline.Add(3*time.Second)) {
					t.Errorf("deletionTimestamp %v, want about %v", p.DeletionTimestamp, deadline)
				}
				if p.Generation != created.Generation+1 {
					t.Errorf("generation %d, want %d (bumped by the graceful deletion)", p.Generation, created.Generation+1)
				}
			}

			// The kubelet's final delete (grace period 0) removes it.
			if _, deleted, err := rt.Delete(rt.Context(ns), s["pods"], "p", metav1.NewDeleteOptions(0)); err != nil || !deleted {
				t.Fatalf("final delete: deleted=%v err=%v", deleted, err)
			}
			if _, err := get(t, s, "p"); !apierrors.IsNotFound(err) {
				t.Fatalf("get after final delete: %v, want 404", err)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	s := podStorages(t)
	p := newPod("p", "")
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("1"), corev1.ResourceMemory: apiresource.MustParse("1Gi")}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", QOSClass: corev1.PodQOSBestEffort}
	got := create(t, s, p)
	want := corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSGuaranteed}
	if got.Status.Phase != want.Phase || got.Status.QOSClass != want.QOSClass || got.Status.PodIP != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("status after create = %+v, want %+v", got.Status, want)
	}

	// A gated pod says so in its PodScheduled condition.
	gated := newPod("gated", "")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	got = create(t, s, gated)
	if len(got.Status.Conditions) != 1 {
		t.Fatalf("conditions of a gated pod = %+v, want one", got.Status.Conditions)
	}
	c := got.Status.Conditions[0]
	if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonSchedulingGated ||
		c.Message != "Scheduling is blocked due to non-empty scheduling gates" || c.LastTransitionTime.IsZero() {
		t.Errorf("condition of a gated pod = %+v", c)
	}
}

func TestStatusUpdate(t *testing.T) {
	s := podStorages(t)
	p := newPod("p", "n1")
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}
	p.OwnerReferences = []metav1.OwnerReference{owner}
	create(t, s, p)
	if _, err := rt.Mutate(rt.Context(ns), s["pods/status"], "p", func(o runtime.Object) {
		o.(*corev1.Pod).Status.ObservedGeneration = 1
		o.(*corev1.Pod).Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, ObservedGeneration: 1}}
	}); err != nil {
		t.Fatal(err)
	}

	now := metav1.Now()
	got := rt.Must[*corev1.Pod](t)(rt.Mutate(rt.Context(ns), s["pods/status"], "p", func(o runtime.Object) {
		p := o.(*corev1.Pod)
		p.OwnerReferences = nil
		p.DeletionTimestamp = &now
		p.Status.QOSClass = ""
		p.Status.ObservedGeneration = 0
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}))
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != owner.UID {
		t.Errorf("owner references after a status update = %v, want them kept", got.OwnerReferences)
	}
	if got.DeletionTimestamp != nil {
		t.Errorf("a status update set deletionTimestamp %v", got.DeletionTimestamp)
	}
	if got.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass after a status update dropping it = %q, want it kept", got.Status.QOSClass)
	}
	if got.Status.ObservedGeneration != 1 || got.Status.Conditions[0].ObservedGeneration != 1 {
		t.Errorf("observed generations after a status update leaving them out = %d / %d, want 1 / 1",
			got.Status.ObservedGeneration, got.Status.Conditions[0].ObservedGeneration)
	}
	if got.Status.Phase != corev1.PodRunning || got.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("status = %+v, want the update's phase and condition", got.Status)
	}

	// The QOS class cannot be changed.
	_, err := rt.Mutate(rt.Context(ns), s["pods/status"], "p", func(o runtime.Object) {
		o.(*corev1.Pod).Status.QOSClass = corev1.PodQOSGuaranteed
	})
	if !apierrors.IsInvalid(err) {
		t.Errorf("changing qosClass: %v, want 422", err)
	}
}
