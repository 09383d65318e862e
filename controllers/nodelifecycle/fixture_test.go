package nodelifecycle

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture is a controller over a fake clientset whose informer caches are filled by hand from
// the clientset (syncCaches), so a test decides when the controller sees what it wrote.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{
		t: t, ctx: ctx,
		client:   fake.NewClientset(objs...),
		recorder: record.NewFakeRecorder(1000),
		clock:    clocktesting.NewFakeClock(t0),
	}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	return f
}

func (f *fixture) lifecycle() *Controller {
	f.t.Helper()
	c, err := New(f.client, f.factory, f.recorder, Options{Clock: f.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	f.syncCaches()
	return c
}

func (f *fixture) eviction() *TaintEvictionController {
	f.t.Helper()
	c, err := NewTaintEviction(f.client, f.factory, f.recorder, f.clock)
	if err != nil {
		f.t.Fatal(err)
	}
	f.syncCaches()
	return c
}

// syncCaches replaces the informers' stores with what the clientset holds.
func (f *fixture) syncCaches() {
	f.t.Helper()
	nodes, err := f.client.CoreV1().Nodes().List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	leases, err := f.client.CoordinationV1().Leases("").List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	replace := func(inf cache.SharedIndexInformer, objs []any) {
		if err := inf.GetIndexer().Replace(objs, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	var ns, ps, ls []any
	for i := range nodes.Items {
		ns = append(ns, &nodes.Items[i])
	}
	for i := range pods.Items {
		ps = append(ps, &pods.Items[i])
	}
	for i := range leases.Items {
		ls = append(ls, &leases.Items[i])
	}
	replace(f.factory.Core().V1().Nodes().Informer(), ns)
	replace(f.factory.Core().V1().Pods().Informer(), ps)
	replace(f.factory.Coordination().V1().Leases().Informer(), ls)
}

func (f *fixture) node(name string) *v1.Node {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) pod(name string) (*v1.Pod, bool) {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("default").Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, false
	}
	return p, true
}

// renewLease renews a node's Lease at the fixture's now.
func (f *fixture) renewLease(name string) {
	f.t.Helper()
	l, err := f.client.CoordinationV1().Leases(v1.NamespaceNodeLease).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: f.clock.Now()}
	if _, err := f.client.CoordinationV1().Leases(v1.NamespaceNodeLease).Update(f.ctx, l, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// postReady is the kubelet posting its Ready condition with a fresh heartbeat.
func (f *fixture) postReady(name string, status v1.ConditionStatus) {
	f.t.Helper()
	n := f.node(name)
	now := metav1.NewTime(f.clock.Now())
	setReady(n, status, now)
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(f.ctx, n, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// events drains the recorded events.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(events []string, substr string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, substr) })
}

// actions lists the fake clientset's actions as "verb resource[/subresource]" and resets them.
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetVerb() == "get" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	f.client.ClearActions()
	return out
}

func setReady(n *v1.Node, status v1.ConditionStatus, now metav1.Time) {
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type != v1.NodeReady {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.LastHeartbeatTime, c.Reason, c.Message = status, now, "KubeletReady", "kubelet is posting ready status"
		return
	}
	n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: v1.NodeReady, Status: status,
		LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"})
}

func newNode(name string, ready v1.ConditionStatus, labels map[string]string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)), Labels: labels}}
	if ready != "" {
		hb := metav1.NewTime(t0)
		setReady(n, ready, hb)
		for _, t := range []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
			n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: t, Status: v1.ConditionFalse,
				LastHeartbeatTime: hb, LastTransitionTime: hb})
		}
	}
	return n
}

func newLease(name string, renew time.Time) *coordv1.Lease {
	return &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1.NamespaceNodeLease},
		Spec: coordv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func newPod(name, node string, tolerations ...v1.Toleration) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       v1.PodSpec{NodeName: node, Tolerations: tolerations},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{
			{Type: v1.PodReady, Status: v1.ConditionTrue},
			{Type: v1.ContainersReady, Status: v1.ConditionTrue},
		}},
	}
}

func podReady(p *v1.Pod) v1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status
		}
	}
	return ""
}

func taintKeys(n *v1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	slices.Sort(out)
	return out
}
