package replicaset

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

func TestCreateUpToReplicas(t *testing.T) {
	tests := []struct {
		name        string
		replicas    int32
		existing    int
		burst       int
		wantCreates int
	}{
		{"from zero", 3, 0, 0, 3},
		{"top up", 5, 2, 0, 3},
		{"already there", 2, 2, 0, 0},
		{"capped by burst", 10, 0, 4, 4},
		{"scale to zero from zero", 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRS("web", tc.replicas)
			objs := []runtime.Object{rs}
			for i := range tc.existing {
				objs = append(objs, newPod("p"+string(rune('a'+i)), rs, "ReplicaSet"))
			}
			f := newFixture(t, false, objs...)
			if tc.burst > 0 {
				f.c.burst = tc.burst
			}
			if err := f.sync("ns/web"); err != nil {
				t.Fatal(err)
			}
			pods := f.createdPods()
			if len(pods) != tc.wantCreates {
				t.Fatalf("created %d pods, want %d", len(pods), tc.wantCreates)
			}
			for _, p := range pods {
				if p.GenerateName != "web-" || p.Labels["tier"] != "front" || p.Annotations["a"] != "b" || p.Spec.Containers[0].Image != "nginx" {
					t.Errorf("pod not from template: %+v", p.ObjectMeta)
				}
				want := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: rs.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
				if !slices.EqualFunc(p.OwnerReferences, want, func(a, b metav1.OwnerReference) bool {
					return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID && *a.Controller && *a.BlockOwnerDeletion
				}) {
					t.Errorf("ownerReferences = %+v", p.OwnerReferences)
				}
			}
			evs := f.events()
			if len(evs) != tc.wantCreates {
				t.Errorf("events = %q", evs)
			}
			for _, e := range evs {
				if !strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: web-") {
					t.Errorf("event %q", e)
				}
			}
			adds, _, _ := f.c.expectations.Pending("ns/web")
			if int(adds) != tc.wantCreates {
				t.Errorf("pending creations = %d, want %d", adds, tc.wantCreates)
			}
			st := f.lastRSStatus()
			if st == nil || st.Replicas != int32(tc.existing) || st.ObservedGeneration != 1 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

func TestSlowStartAndReplicaFailure(t *testing.T) {
	rs := newRS("web", 10)
	f := newFixture(t, false, rs)
	var calls atomic.Int32
	f.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 3 {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("exceeded quota"))
		}
		return false, nil, nil
	})
	err := f.sync("ns/web")
	if err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("sync error = %v, want forbidden", err)
	}
	// Batches 1, 2 succeed; the batch of 4 fails; the last 3 are never tried.
	if got := calls.Load(); got != 7 {
		t.Errorf("create attempts = %d, want 7", got)
	}
	if adds, _, _ := f.c.expectations.Pending("ns/web"); adds != 3 {
		t.Errorf("pending creations = %d, want 3 (only the successful ones)", adds)
	}
	var failed int
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning FailedCreate Error creating:") {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("FailedCreate events = %d, want 4", failed)
	}
	st := f.lastRSStatus()
	if st == nil || len(st.Conditions) != 1 || st.Conditions[0].Type != apps.ReplicaSetReplicaFailure ||
		st.Conditions[0].Reason != "FailedCreate" || !strings.Contains(st.Conditions[0].Message, "exceeded quota") {
		t.Fatalf("status = %+v, want ReplicaFailure condition", st)
	}

	// Once creates work again the condition goes away.
	rs2 := rs.DeepCopy()
	rs2.Status = *st
	rs2.Spec.Replicas = ptr.To[int32](0)
	f.addToCache(rs2)
	if err := f.client.Tracker().Update(apps.SchemeGroupVersion.WithResource("replicasets"), rs2, "ns"); err != nil {
		t.Fatal(err)
	}
	f.c.expectations.Delete(klog.Background(), "ns/web")
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if st := f.lastRSStatus(); st == nil || len(st.Conditions) != 0 {
		t.Fatalf("status = %+v, want no condition", st)
	}
}

func TestExpectationsPreventOvershoot(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, false, rs)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	first := f.createdPods()
	if len(first) != 2 {
		t.Fatalf("first sync created %d pods, want 2", len(first))
	}
	// The informer has not seen the pods yet: a second sync must not create more.
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("second sync before the informer caught up created %d pods", n)
	}
	// The informer delivers the pods: expectations are met, nothing to do.
	for _, p := range first {
		p = p.DeepCopy()
		p.Namespace = "ns"
		f.addToCache(p)
		f.c.addPod(p)
	}
	if !f.c.expectations.Satisfied(klog.Background(), "ns/web") {
		t.Fatal("expectations not satisfied after the informer saw the pods")
	}
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d pods with all replicas present", n)
	}
	if st := f.lastRSStatus(); st == nil || st.Replicas != 2 {
		t.Fatalf("status = %+v, want 2 replicas", st)
	}

	// Expectations that are never met expire after 5 minutes.
	rs3 := newRS("other", 1)
	f.addToCache(rs3)
	if err := f.client.Tracker().Add(rs3); err != nil {
		t.Fatal(err)
	}
	if err := f.sync("ns/other"); err != nil {
		t.Fatal(err)
	}
	if err := f.sync("ns/other"); err != nil || len(f.createdPods()) != 0 {
		t.Fatalf("unexpected create before expiry (err %v)", err)
	}
	f.clock.Step(5*time.Minute + time.Second)
	if err := f.sync("ns/other"); err != nil || len(f.createdPods()) != 1 {
		t.Fatalf("want 1 create after expiry, got %d (err %v)", len(f.createdPods()), err)
	}
}

func TestScaleDownOrder(t *testing.T) {
	rs := newRS("web", 0)
	old, young := t0.Add(-48*time.Hour), t0.Add(-time.Minute)
	tests := []struct {
		name     string
		replicas int32
		pods     []*v1.Pod
		want     []string // deleted, in any order
	}{
		{"unscheduled before scheduled", 1, []*v1.Pod{
			newPod("sched", rs, "ReplicaSet", ready(old)),
			newPod("unsched", rs, "ReplicaSet", node(""), phase(v1.PodPending)),
		}, []string{"unsched"}},
		{"pending before unknown before running", 1, []*v1.Pod{
			newPod("running", rs, "ReplicaSet"),
			newPod("unknown", rs, "ReplicaSet", phase(v1.PodUnknown)),
			newPod("pending", rs, "ReplicaSet", phase(v1.PodPending)),
		}, []string{"pending", "unknown"}},
		{"not ready before ready", 1, []*v1.Pod{
			newPod("ready", rs, "ReplicaSet", ready(old)),
			newPod("notready", rs, "ReplicaSet", created(old.Add(-time.Hour))),
		}, []string{"notready"}},
		{"ready for shorter before longer", 1, []*v1.Pod{
			newPod("long", rs, "ReplicaSet", ready(old)),
			newPod("short", rs, "ReplicaSet", ready(young)),
		}, []string{"short"}},
		{"higher restart count first", 1, []*v1.Pod{
			newPod("calm", rs, "ReplicaSet"),
			newPod("crashy", rs, "ReplicaSet", restarts(7)),
		}, []string{"crashy"}},
		{"newer before older", 2, []*v1.Pod{
			newPod("oldest", rs, "ReplicaSet", created(old)),
			newPod("newest", rs, "ReplicaSet", created(young)),
			newPod("middle", rs, "ReplicaSet", created(t0.Add(-5*time.Hour))),
		}, []string{"newest"}},
		{"deletion cost", 1, []*v1.Pod{
			newPod("cheap", rs, "ReplicaSet", created(old), func(p *v1.Pod) {
				p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "-10"}
			}),
			newPod("dear", rs, "ReplicaSet", created(young)),
		}, []string{"cheap"}},
		{"delete all", 0, []*v1.Pod{
			newPod("a", rs, "ReplicaSet"), newPod("b", rs, "ReplicaSet"),
		}, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rs.DeepCopy()
			r.Spec.Replicas = ptr.To(tc.replicas)
			objs := []runtime.Object{r}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			f := newFixture(t, false, objs...)
			if err := f.sync("ns/web"); err != nil {
				t.Fatal(err)
			}
			got := f.deletedPods()
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("deleted %v, want %v", got, want)
			}
			for _, e := range f.events() {
				if !strings.HasPrefix(e, "Normal SuccessfulDelete Deleted pod: ") {
					t.Errorf("event %q", e)
				}
			}
			if _, dels, _ := f.c.expectations.Pending("ns/web"); int(dels) != len(want) {
				t.Errorf("pending deletions = %d, want %d", dels, len(want))
			}
			// A deletion seen as a deletionTimestamp update satisfies the expectation.
			for _, name := range got {
				for _, p := range tc.pods {
					if p.Name == name {
						cur := p.DeepCopy()
						cur.ResourceVersion = "2"
						cur.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
						f.c.updatePod(p, cur)
					}
				}
			}
			if !f.c.expectations.Satisfied(klog.Background(), "ns/web") {
				t.Error("expectations not satisfied after observing the deletions")
			}
		})
	}
}

func TestScaleDownPrefersDoubledUpNodes(t *testing.T) {
	// Two ReplicaSets of one Deployment; node1 hosts 3 of their pods, node2 one.
	depRef := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "dep", Controller: ptr.To(true)}
	rs := newRS("web", 1)
	rs.OwnerReferences = []metav1.OwnerReference{depRef}
	sib := newRS("web-old", 0)
	sib.OwnerReferences = []metav1.OwnerReference{depRef}
	sib.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "old"}}
	objs := []runtime.Object{rs, sib,
		newPod("lonely", rs, "ReplicaSet", node("node2"), created(t0.Add(-time.Hour))),
		newPod("crowded", rs, "ReplicaSet", node("node1"), created(t0.Add(-2*time.Hour))),
		newPod("sib1", sib, "ReplicaSet", node("node1"), podLabels(map[string]string{"app": "old"})),
		newPod("sib2", sib, "ReplicaSet", node("node1"), podLabels(map[string]string{"app": "old"})),
	}
	f := newFixture(t, false, objs...)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := f.deletedPods(); !slices.Equal(got, []string{"crowded"}) {
		t.Fatalf("deleted %v, want [crowded] (older, but on the crowded node)", got)
	}
}

func TestClaimPods(t *testing.T) {
	rs := newRS("web", 1)
	other := newRS("other", 1)
	tests := []struct {
		name        string
		rsDeleting  bool
		pods        []*v1.Pod
		wantAdopt   []string
		wantRelease []string
		wantCreates int
		wantDeletes int
	}{
		{"adopt matching orphan", false, []*v1.Pod{newPod("orphan", nil, "")}, []string{"orphan"}, nil, 0, 0},
		{"do not adopt non-matching orphan", false, []*v1.Pod{newPod("stranger", nil, "", podLabels(map[string]string{"app": "db"}))}, nil, nil, 1, 0},
		{"do not adopt terminating orphan", false, []*v1.Pod{newPod("dying", nil, "", terminating())}, nil, nil, 1, 0},
		{"release owned pod that stopped matching", false, []*v1.Pod{newPod("relabeled", rs, "ReplicaSet", podLabels(map[string]string{"app": "debug"}))}, nil, []string{"relabeled"}, 1, 0},
		{"ignore pods of another owner", false, []*v1.Pod{newPod("theirs", other, "ReplicaSet")}, nil, nil, 1, 0},
		{"no adoption while being deleted", true, []*v1.Pod{newPod("orphan", nil, "")}, nil, nil, 0, 0},
		{"owned and orphan: adopt, then one too many", false, []*v1.Pod{newPod("mine", rs, "ReplicaSet"), newPod("orphan", nil, "", ready(t0.Add(-time.Hour)))}, []string{"orphan"}, nil, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rs.DeepCopy()
			if tc.rsDeleting {
				r.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
				r.Finalizers = []string{"foregroundDeletion"}
			}
			objs := []runtime.Object{r, other}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			f := newFixture(t, false, objs...)
			if err := f.sync("ns/web"); err != nil {
				t.Fatal(err)
			}
			var adopted, released []string
			for _, a := range f.writes() {
				if a.GetVerb() != "patch" {
					continue
				}
				pa := a.(core.PatchAction)
				if pa.GetPatchType() != "application/strategic-merge-patch+json" {
					t.Errorf("patch type %s", pa.GetPatchType())
				}
				if strings.Contains(string(pa.GetPatch()), `"$patch":"delete"`) {
					released = append(released, pa.GetName())
				} else {
					adopted = append(adopted, pa.GetName())
				}
			}
			if !slices.Equal(adopted, tc.wantAdopt) || !slices.Equal(released, tc.wantRelease) {
				t.Fatalf("adopted %v released %v, want %v %v", adopted, released, tc.wantAdopt, tc.wantRelease)
			}
			// The patches really change the stored pods.
			for _, name := range tc.wantAdopt {
				p, err := f.client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
					t.Errorf("adopted pod ownerReferences = %+v", p.OwnerReferences)
				}
			}
			for _, name := range tc.wantRelease {
				p, err := f.client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.OwnerReferences) != 0 {
					t.Errorf("released pod ownerReferences = %+v", p.OwnerReferences)
				}
			}
			if n := len(f.createdPods()); n != tc.wantCreates {
				t.Errorf("created %d pods, want %d", n, tc.wantCreates)
			}
			if n := len(f.deletedPods()); n != tc.wantDeletes {
				t.Errorf("deleted %d pods, want %d", n, tc.wantDeletes)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	rs := newRS("web", 5)
	rs.Spec.MinReadySeconds = 30
	rs.Generation = 4
	objs := []runtime.Object{rs,
		newPod("avail", rs, "ReplicaSet", ready(t0.Add(-time.Minute))),
		newPod("fresh", rs, "ReplicaSet", ready(t0.Add(-10*time.Second))),
		newPod("notready", rs, "ReplicaSet"),
		newPod("partial-labels", rs, "ReplicaSet", podLabels(map[string]string{"app": "web"})),
		newPod("done", rs, "ReplicaSet", phase(v1.PodSucceeded)),
		newPod("failed", rs, "ReplicaSet", phase(v1.PodFailed)),
		newPod("leaving", rs, "ReplicaSet", terminating()),
		newPod("theirs-leaving", newRS("other", 1), "ReplicaSet", terminating()),
	}
	f := newFixture(t, false, objs...)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	// Four active pods of five: one create.
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d, want 1", n)
	}
	want := apps.ReplicaSetStatus{
		Replicas:             4,
		FullyLabeledReplicas: 3,
		ReadyReplicas:        2,
		AvailableReplicas:    1,
		TerminatingReplicas:  ptr.To[int32](1),
		ObservedGeneration:   4,
	}
	st := f.lastRSStatus()
	if st == nil || !statusEqual(*st, want) || st.ObservedGeneration != want.ObservedGeneration {
		t.Fatalf("status = %+v\nwant %+v", st, want)
	}

	// The stored status is what the controller computes: no second write.
	stored, err := f.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.addToCache(stored)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("update", "replicasets", "status"); n != 0 {
		t.Errorf("status written %d times though unchanged", n)
	}

	// 20s later the fresh pod has been ready for 30s: available.
	f.clock.Step(21 * time.Second)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if st := f.lastRSStatus(); st == nil || st.AvailableReplicas != 2 {
		t.Fatalf("status after minReadySeconds = %+v, want 2 available", st)
	}
}

func TestRequeueWhenPodBecomesAvailable(t *testing.T) {
	rs := newRS("web", 1)
	rs.Spec.MinReadySeconds = 30
	f := newFixture(t, false, rs, newPod("p", rs, "ReplicaSet", ready(t0.Add(-10*time.Second))))
	f.c.queue.ShutDown()
	f.c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Clock: f.clock})
	defer f.c.queue.ShutDown()
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if st := f.lastRSStatus(); st == nil || st.ReadyReplicas != 1 || st.AvailableReplicas != 0 {
		t.Fatalf("status = %+v", st)
	}
	waitForLen := func(n int, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if f.c.queue.Len() == n {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	f.clock.Step(19 * time.Second)
	if waitForLen(1, 300*time.Millisecond) {
		t.Fatal("requeued before the pod could be available")
	}
	f.clock.Step(time.Second + 10*time.Millisecond)
	if !waitForLen(1, 5*time.Second) {
		t.Fatal("not requeued after the remaining 20s")
	}
}

func TestReplicationController(t *testing.T) {
	rc := &v1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "frontend", Namespace: "ns", UID: "uid-rc", Generation: 2, ResourceVersion: "1"},
		Spec: v1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](3),
			Selector: map[string]string{"app": "web"},
			Template: &v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	objs := []runtime.Object{rc,
		newPod("owned", rc, "ReplicationController", ready(t0.Add(-time.Hour))),
		newPod("orphan", nil, ""),
		// Owned by a ReplicaSet of the same name and UID would not count: kind differs.
		newPod("rs-owned", &metav1.ObjectMeta{Name: "frontend", UID: "uid-other"}, "ReplicaSet"),
	}
	f := newFixture(t, true, objs...)
	if err := f.sync("ns/frontend"); err != nil {
		t.Fatal(err)
	}
	pods := f.createdPods()
	if len(pods) != 1 {
		t.Fatalf("created %d pods, want 1", len(pods))
	}
	ref := pods[0].OwnerReferences[0]
	if pods[0].GenerateName != "frontend-" || ref.APIVersion != "v1" || ref.Kind != "ReplicationController" || ref.UID != "uid-rc" {
		t.Errorf("pod = %+v", pods[0].ObjectMeta)
	}
	p, err := f.client.CoreV1().Pods("ns").Get(context.Background(), "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := metav1.GetControllerOf(p); r == nil || r.Kind != "ReplicationController" || r.APIVersion != "v1" {
		t.Errorf("orphan not adopted by the RC: %+v", p.OwnerReferences)
	}
	if n := f.count("update", "replicationcontrollers", "status"); n != 1 {
		t.Fatalf("RC status updates = %d, want 1", n)
	}
	got, err := f.client.CoreV1().ReplicationControllers("ns").Get(context.Background(), "frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 2 || got.Status.ReadyReplicas != 1 || got.Status.AvailableReplicas != 1 || got.Status.ObservedGeneration != 2 {
		t.Errorf("RC status = %+v", got.Status)
	}
	evs := f.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal SuccessfulCreate Created pod: frontend-") {
		t.Errorf("events = %q", evs)
	}

	// Scale down deletes, events on the RC.
	got.Spec.Replicas = ptr.To[int32](0)
	f.addToCache(got)
	f.addToCache(p)
	f.c.expectations.Delete(klog.Background(), "ns/frontend")
	if err := f.sync("ns/frontend"); err != nil {
		t.Fatal(err)
	}
	del := f.deletedPods()
	slices.Sort(del)
	if !slices.Equal(del, []string{"orphan", "owned"}) {
		t.Errorf("deleted %v", del)
	}
}

func TestRCConversionRoundTrip(t *testing.T) {
	rc := &v1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns", UID: "u", ResourceVersion: "7", Generation: 3},
		Spec: v1.ReplicationControllerSpec{Replicas: ptr.To[int32](2), MinReadySeconds: 5, Selector: map[string]string{"a": "b"},
			Template: &v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}}},
		Status: v1.ReplicationControllerStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 3,
			Conditions: []v1.ReplicationControllerCondition{{Type: v1.ReplicationControllerReplicaFailure, Status: v1.ConditionTrue, Reason: "FailedCreate", Message: "m"}}},
	}
	back := rsToRC(rcToRS(rc))
	back.TypeMeta = rc.TypeMeta
	if !apiequalityDeepEqual(rc, back) {
		t.Fatalf("round trip changed the RC:\n%+v\n%+v", rc, back)
	}
	if rcToRS(&v1.ReplicationController{}).Spec.Selector != nil {
		t.Error("an RC without selector must select nothing")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	for _, rc := range []bool{false, true} {
		client := fake.NewClientset(newRS("web", 1), rsToRC(newRS("frontend", 1)))
		factory := informers.NewSharedInformerFactory(client, 0)
		var c *Controller
		var err error
		if rc {
			c, err = NewReplicationManager(client, factory, record.NewFakeRecorder(100))
		} else {
			c, err = New(client, factory, record.NewFakeRecorder(100))
		}
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		factory.Start(ctx.Done())
		done := make(chan struct{})
		go func() { c.Run(ctx, 3); close(done) }()
		// The running controller creates the pod of its own kind only.
		deadline := time.Now().Add(5 * time.Second)
		for {
			pods, _ := client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
			if len(pods.Items) == 1 {
				want := "ReplicaSet"
				if rc {
					want = "ReplicationController"
				}
				if k := pods.Items[0].OwnerReferences[0].Kind; k != want {
					t.Fatalf("pod owned by %s, want %s", k, want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("running controller did not create the pod")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		factory.Shutdown()
	}
}

func TestPodEventHandlers(t *testing.T) {
	rs := newRS("web", 1)
	db := newRS("db", 1)
	db.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	empty := newRS("empty", 1)
	empty.Spec.Selector = &metav1.LabelSelector{}
	owned := newPod("owned", rs, "ReplicaSet")
	orphan := newPod("orphan", nil, "")
	relabeled := orphan.DeepCopy()
	relabeled.ResourceVersion = "2"
	relabeled.Labels = map[string]string{"app": "db"}
	released := owned.DeepCopy()
	released.ResourceVersion = "2"
	released.OwnerReferences = nil
	resync := owned.DeepCopy()
	tests := []struct {
		name string
		do   func(c *Controller)
		want []string
	}{
		{"owned pod added", func(c *Controller) { c.addPod(owned) }, []string{"ns/web"}},
		{"orphan added: matching owners, never an empty selector", func(c *Controller) { c.addPod(orphan) }, []string{"ns/web"}},
		{"orphan relabeled", func(c *Controller) { c.updatePod(orphan, relabeled) }, []string{"ns/db"}},
		{"released pod: old owner and new matches", func(c *Controller) { c.updatePod(owned, released) }, []string{"ns/web"}},
		{"resync ignored", func(c *Controller) { c.updatePod(owned, resync) }, nil},
		{"owned pod deleted", func(c *Controller) { c.deletePod(owned) }, []string{"ns/web"}},
		{"tombstone", func(c *Controller) { c.deletePod(cache.DeletedFinalStateUnknown{Key: "ns/owned", Obj: owned}) }, []string{"ns/web"}},
		{"pod of an unknown owner", func(c *Controller) { c.addPod(newPod("x", newRS("gone", 1), "ReplicaSet")) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, false, rs, db, empty)
			tc.do(f.c)
			var got []string
			for f.c.queue.Len() > 0 {
				k, _ := f.c.queue.Get()
				got = append(got, k)
				f.c.queue.Done(k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
		})
	}

	// Deleting the owner drops its expectations.
	f := newFixture(t, false, rs)
	f.c.expectations.ExpectCreations(klog.Background(), "ns/web", 3)
	f.c.deleteOwner(rs)
	if _, _, ok := f.c.expectations.Pending("ns/web"); ok {
		t.Error("expectations survived the owner's deletion")
	}
}

// A scale-down's status no longer counts the pods it deleted, so a Deployment reading it
// does not scale old pods down past maxUnavailable on a stale count.
func TestScaleDownStatusExcludesDeletedPods(t *testing.T) {
	rs := newRS("web", 2)
	objs := []runtime.Object{rs}
	for _, name := range []string{"a", "b", "c", "d"} {
		objs = append(objs, newPod(name, rs, "ReplicaSet", ready(t0.Add(-time.Hour))))
	}
	f := newFixture(t, false, objs...)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := len(f.deletedPods()); got != 2 {
		t.Fatalf("deleted %d pods, want 2", got)
	}
	st := f.lastRSStatus()
	if st == nil {
		t.Fatal("no status written")
	}
	if st.Replicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 {
		t.Fatalf("status after deleting 2 of 4 pods: replicas %d ready %d available %d, want 2/2/2",
			st.Replicas, st.ReadyReplicas, st.AvailableReplicas)
	}
}
