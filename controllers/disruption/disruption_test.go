package disruption

import (
	"context"
	"strings"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

const ns = "default"

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	c        *Controller
}

// newFixture builds a controller whose informer caches hold objs (filled by hand, never
// started); the fake clientset holds them too.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, recorder: record.NewFakeRecorder(100), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(f.client, f.factory, f.recorder)
	if err != nil {
		t.Fatal(err)
	}
	c.clock = f.clock
	c.queue.ShutDown()
	c.queue = newQueue(f.clock)
	t.Cleanup(c.queue.ShutDown)
	f.c = c
	for _, o := range objs {
		var inf cache.SharedIndexInformer
		switch o.(type) {
		case *v1.Pod:
			inf = f.factory.Core().V1().Pods().Informer()
		case *policy.PodDisruptionBudget:
			inf = f.factory.Policy().V1().PodDisruptionBudgets().Informer()
		case *apps.Deployment:
			inf = f.factory.Apps().V1().Deployments().Informer()
		case *apps.ReplicaSet:
			inf = f.factory.Apps().V1().ReplicaSets().Informer()
		case *v1.ReplicationController:
			inf = f.factory.Core().V1().ReplicationControllers().Informer()
		}
		if err := inf.GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// syncPdb syncs the budget "web" and returns its status as written (nil: no write).
func (f *fixture) syncPdb() (*policy.PodDisruptionBudget, error) {
	f.client.ClearActions()
	err := f.c.sync(f.ctx, ns+"/web")
	var written *policy.PodDisruptionBudget
	for _, a := range f.client.Actions() {
		if u, ok := a.(core.UpdateAction); ok && a.GetResource().Resource == "poddisruptionbudgets" && a.GetSubresource() == "status" {
			written = u.GetObject().(*policy.PodDisruptionBudget)
		}
	}
	return written, err
}

func pdb(minAvailable, maxUnavailable *intstr.IntOrString) *policy.PodDisruptionBudget {
	return &policy.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Generation: 1, UID: "pdb-uid"},
		Spec: policy.PodDisruptionBudgetSpec{
			MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func intOr(i int32) *intstr.IntOrString { return ptr.To(intstr.FromInt32(i)) }
func pct(s string) *intstr.IntOrString  { return ptr.To(intstr.FromString(s)) }
func readyPod(name string) *v1.Pod      { return pod(name, true) }
func unreadyPod(name string) *v1.Pod    { return pod(name, false) }
func ownedBy(p *v1.Pod, o metav1.Object, kind, apiVersion string) *v1.Pod {
	p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(o, apps.SchemeGroupVersion.WithKind(kind))}
	p.OwnerReferences[0].APIVersion = apiVersion
	return p
}

func pod(name string, ready bool) *v1.Pod {
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name), Labels: map[string]string{"app": "web"}},
		Status:     v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: status}}},
	}
}

func deployment(replicas int32) *apps.Deployment {
	return &apps.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: "deploy-uid"},
		Spec: apps.DeploymentSpec{Replicas: ptr.To(replicas)}}
}

func replicaSet(name string, owner *apps.Deployment, replicas int32) *apps.ReplicaSet {
	rs := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name + "-uid")},
		Spec: apps.ReplicaSetSpec{Replicas: ptr.To(replicas)}}
	if owner != nil {
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, apps.SchemeGroupVersion.WithKind("Deployment"))}
	}
	return rs
}

func inRS(p *v1.Pod, rs *apps.ReplicaSet) *v1.Pod { return ownedBy(p, rs, "ReplicaSet", "apps/v1") }

type wantStatus struct {
	expected, desired, healthy, allowed int32
	reason                              string // of the DisruptionAllowed condition
}

func TestStatus(t *testing.T) {
	d := deployment(4)
	rsNew, rsOld := replicaSet("web-new", d, 3), replicaSet("web-old", d, 1)
	plainRS := replicaSet("plain", nil, 5)
	rc := &v1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: ns, UID: "rc-uid"},
		Spec: v1.ReplicationControllerSpec{Replicas: ptr.To[int32](10)}}
	terminating := readyPod("gone")
	terminating.DeletionTimestamp = &metav1.Time{Time: t0}
	other := readyPod("other")
	other.Labels = map[string]string{"app": "db"}

	cases := []struct {
		name  string
		objs  []runtime.Object
		want  wantStatus
		event string // an event that must have been recorded
	}{
		{name: "minAvailable 2 of 3 ready", objs: []runtime.Object{pdb(intOr(2), nil), readyPod("a"), readyPod("b"), readyPod("c"), other},
			want: wantStatus{expected: 3, desired: 2, healthy: 3, allowed: 1, reason: policy.SufficientPodsReason}},
		{name: "minAvailable 3, one unready, one terminating", objs: []runtime.Object{pdb(intOr(3), nil), readyPod("a"), readyPod("b"), unreadyPod("c"), terminating},
			want: wantStatus{expected: 4, desired: 3, healthy: 2, allowed: 0, reason: policy.InsufficientPodsReason}},
		{name: "no pods", objs: []runtime.Object{pdb(intOr(0), nil)},
			want: wantStatus{reason: policy.InsufficientPodsReason}, event: "Normal NoPods No matching pods found"},
		{name: "maxUnavailable 1 against a Deployment of 4 with 3 pods", objs: []runtime.Object{pdb(nil, intOr(1)), d, rsNew,
			inRS(readyPod("a"), rsNew), inRS(readyPod("b"), rsNew), inRS(readyPod("c"), rsNew)},
			want: wantStatus{expected: 4, desired: 3, healthy: 3, allowed: 0, reason: policy.InsufficientPodsReason}},
		{name: "minAvailable 50% of a Deployment of 4", objs: []runtime.Object{pdb(pct("50%"), nil), d, rsNew,
			inRS(readyPod("a"), rsNew), inRS(readyPod("b"), rsNew), inRS(readyPod("c"), rsNew), inRS(unreadyPod("d"), rsNew)},
			want: wantStatus{expected: 4, desired: 2, healthy: 3, allowed: 1, reason: policy.SufficientPodsReason}},
		{name: "maxUnavailable 25% of a Deployment mid-rollout counts it once", objs: []runtime.Object{pdb(nil, pct("25%")), d, rsNew, rsOld,
			inRS(readyPod("a"), rsNew), inRS(readyPod("b"), rsNew), inRS(readyPod("c"), rsNew), inRS(readyPod("d"), rsOld)},
			want: wantStatus{expected: 4, desired: 3, healthy: 4, allowed: 1, reason: policy.SufficientPodsReason}},
		{name: "minAvailable 30% rounds up, ReplicaSet without Deployment", objs: []runtime.Object{pdb(pct("30%"), nil), plainRS,
			inRS(readyPod("a"), plainRS), inRS(readyPod("b"), plainRS), inRS(readyPod("c"), plainRS)},
			want: wantStatus{expected: 5, desired: 2, healthy: 3, allowed: 1, reason: policy.SufficientPodsReason}},
		{name: "maxUnavailable 10% of a ReplicationController", objs: []runtime.Object{pdb(nil, pct("10%")), rc,
			ownedBy(readyPod("a"), rc, "ReplicationController", "v1"), ownedBy(readyPod("b"), rc, "ReplicationController", "v1")},
			want: wantStatus{expected: 10, desired: 9, healthy: 2, allowed: 0, reason: policy.InsufficientPodsReason}},
		{name: "unmanaged pods with a percentage", objs: []runtime.Object{pdb(nil, intOr(1)), readyPod("a"), readyPod("b")},
			want:  wantStatus{expected: 0, desired: 0, healthy: 2, allowed: 0, reason: policy.InsufficientPodsReason},
			event: "Warning UnmanagedPods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			got, err := f.syncPdb()
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got == nil {
				t.Fatal("no status written")
			}
			s := got.Status
			if s.ExpectedPods != tc.want.expected || s.DesiredHealthy != tc.want.desired || s.CurrentHealthy != tc.want.healthy ||
				s.DisruptionsAllowed != tc.want.allowed || s.ObservedGeneration != 1 {
				t.Errorf("status %+v, want %+v and observedGeneration 1", s, tc.want)
			}
			c := apimeta.FindStatusCondition(s.Conditions, policy.DisruptionAllowedCondition)
			if c == nil || c.Reason != tc.want.reason {
				t.Errorf("DisruptionAllowed condition %+v, want reason %s", c, tc.want.reason)
			}
			if tc.event != "" {
				expectEvent(t, f.recorder, tc.event)
			}

			// A second sync over the written status changes nothing.
			f2 := newFixture(t, replace(tc.objs, got)...)
			again, err := f2.syncPdb()
			if err != nil || again != nil {
				t.Errorf("resync wrote %+v (err %v), want no write", again, err)
			}
		})
	}
}

func replace(objs []runtime.Object, pdb *policy.PodDisruptionBudget) []runtime.Object {
	out := []runtime.Object{pdb}
	for _, o := range objs {
		if _, ok := o.(*policy.PodDisruptionBudget); !ok {
			out = append(out, o)
		}
	}
	return out
}

func expectEvent(t *testing.T, r *record.FakeRecorder, prefix string) {
	t.Helper()
	for {
		select {
		case e := <-r.Events:
			if strings.HasPrefix(e, prefix) {
				return
			}
		default:
			t.Errorf("no event %q", prefix)
			return
		}
	}
}

// A pod whose controller kubeshim cannot scale fails the sync; the budget fails closed.
func TestFailSafe(t *testing.T) {
	p := readyPod("a")
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "ss", Controller: ptr.To(true)}}
	b := pdb(nil, intOr(1))
	b.Status = policy.PodDisruptionBudgetStatus{DisruptionsAllowed: 3, ObservedGeneration: 1}
	f := newFixture(t, b, p)
	got, err := f.syncPdb()
	if err == nil || !strings.Contains(err.Error(), `found no controllers for pod "a"`) {
		t.Fatalf("sync: %v, want the missing controller", err)
	}
	if got == nil || got.Status.DisruptionsAllowed != 0 {
		t.Fatalf("fail-safe status %+v, want disruptionsAllowed 0", got)
	}
	c := apimeta.FindStatusCondition(got.Status.Conditions, policy.DisruptionAllowedCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policy.SyncFailedReason {
		t.Errorf("condition %+v, want SyncFailed", c)
	}
	expectEvent(t, f.recorder, "Warning CalculateExpectedPodCountFailed")
}

// Pods the eviction API recorded are not healthy until DeletionTimeout; then they count again.
func TestDisruptedPods(t *testing.T) {
	b := pdb(intOr(1), nil)
	b.Status.DisruptedPods = map[string]metav1.Time{
		"a":       {Time: t0.Add(-30 * time.Second)},    // recent: not healthy, kept
		"b":       {Time: t0.Add(-DeletionTimeout - 1)}, // expired: healthy again, dropped
		"deleted": {Time: t0},                           // no such pod: dropped
	}
	f := newFixture(t, b, readyPod("a"), readyPod("b"), readyPod("c"))
	got, err := f.syncPdb()
	if err != nil || got == nil {
		t.Fatalf("sync: %v %v", got, err)
	}
	if got.Status.CurrentHealthy != 2 || got.Status.DisruptionsAllowed != 1 {
		t.Errorf("status %+v, want 2 healthy, 1 allowed", got.Status)
	}
	if _, ok := got.Status.DisruptedPods["a"]; !ok || len(got.Status.DisruptedPods) != 1 {
		t.Errorf("disruptedPods %v, want only a", got.Status.DisruptedPods)
	}
	expectEvent(t, f.recorder, "Warning NotDeleted")
	// The budget is queued again for when a's entry expires.
	if n := f.c.queue.Len(); n != 0 {
		t.Errorf("queue has %d items at once, want the recheck delayed", n)
	}
	f.clock.Step(DeletionTimeout)
	waitForQueue(t, f.c, item{key: ns + "/web"})
}

func waitForQueue(t *testing.T, c *Controller, want item) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.queue.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v never queued", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, _ := c.queue.Get()
	c.queue.Done(got)
	if got != want {
		t.Errorf("queued %v, want %v", got, want)
	}
}

func TestStaleDisruptionTarget(t *testing.T) {
	stale := readyPod("a")
	stale.Status.Conditions = append(stale.Status.Conditions, v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(t0.Add(-StalePodDisruptionTimeout - time.Second))})
	fresh := readyPod("b")
	fresh.Status.Conditions = append(fresh.Status.Conditions, v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))})
	byKubelet := readyPod("c")
	byKubelet.Status.Conditions = append(byKubelet.Status.Conditions, v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
		Reason: v1.PodReasonTerminationByKubelet, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))})
	f := newFixture(t, stale, fresh, byKubelet)

	for _, name := range []string{"a", "b", "c"} {
		if err := f.c.syncStalePodDisruption(f.ctx, ns+"/"+name); err != nil {
			t.Fatal(err)
		}
	}
	var updated []string
	for _, a := range f.client.Actions() {
		if u, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			p := u.GetObject().(*v1.Pod)
			updated = append(updated, p.Name)
			for _, c := range p.Status.Conditions {
				if c.Type == v1.DisruptionTarget && c.Status != v1.ConditionFalse {
					t.Errorf("pod %s DisruptionTarget %+v, want False", p.Name, c)
				}
			}
		}
	}
	if len(updated) != 1 || updated[0] != "a" {
		t.Errorf("updated %v, want only the stale pod a", updated)
	}
	// The fresh one is checked again when it turns stale.
	f.clock.Step(time.Minute)
	waitForQueue(t, f.c, item{pod: true, key: ns + "/b"})
}

func TestPodEventsEnqueueTheirBudget(t *testing.T) {
	f := newFixture(t, pdb(intOr(1), nil))
	f.c.podChanged(readyPod("a"))
	waitForQueue(t, f.c, item{key: ns + "/web"})
	other := readyPod("x")
	other.Labels = nil
	f.c.podChanged(other)
	f.c.podDeleted(cache.DeletedFinalStateUnknown{Key: ns + "/a", Obj: readyPod("a")})
	waitForQueue(t, f.c, item{key: ns + "/web"})
	if n := f.c.queue.Len(); n != 0 {
		t.Errorf("queue holds %d more items; an unselected pod queued something", n)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	client := fake.NewClientset(pdb(intOr(1), nil), readyPod("a"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, record.NewFakeRecorder(100))
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 2) }()
	// The controller writes the budget's status once its caches sync.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err == nil && got.Status.ObservedGeneration == 1 && got.Status.CurrentHealthy == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never written: %+v %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	factory.Shutdown()
}
