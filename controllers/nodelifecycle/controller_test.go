package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func (f *fixture) monitor(c *Controller) {
	f.t.Helper()
	if err := c.monitorNodeHealth(f.ctx); err != nil {
		f.t.Fatalf("monitorNodeHealth: %v", err)
	}
}

func noExecuteKeys(n *v1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		if t.Effect == v1.TaintEffectNoExecute {
			out = append(out, t.Key)
			if t.TimeAdded == nil {
				out = append(out, "(no timeAdded)")
			}
		}
	}
	return out
}

// TestLeaseExpiry walks a node through losing its kubelet and getting it back: Unknown
// conditions after the grace period, pods not ready, the unreachable taints (NoExecute and
// NoSchedule), and everything undone when the Lease and the heartbeat return.
func TestLeaseExpiry(t *testing.T) {
	f := newFixture(t,
		newNode("a", v1.ConditionTrue, nil), newNode("b", v1.ConditionTrue, nil),
		newLease("a", t0), newLease("b", t0),
		newPod("pa", "a"), newPod("pb", "b"))
	c := f.lifecycle()

	f.monitor(c)
	if got := f.actions(); len(got) != 0 {
		t.Fatalf("first pass over healthy nodes wrote %v, want nothing", got)
	}
	f.events()

	// 30 s: a's Lease is late but within the grace period.
	f.clock.Step(30 * time.Second)
	f.renewLease("b")
	f.syncCaches()
	f.client.ClearActions()
	f.monitor(c)
	if got := f.actions(); len(got) != 0 {
		t.Fatalf("within the grace period the controller wrote %v, want nothing", got)
	}

	// 45 s: past the 40 s grace period.
	f.clock.Step(15 * time.Second)
	f.renewLease("b")
	f.syncCaches()
	f.client.ClearActions()
	f.monitor(c)
	a := f.node("a")
	for _, cond := range a.Status.Conditions {
		switch cond.Type {
		case v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure:
			if cond.Status != v1.ConditionUnknown || cond.Reason != "NodeStatusUnknown" ||
				cond.Message != "Kubelet stopped posting node status." || !cond.LastTransitionTime.Time.Equal(f.clock.Now()) {
				t.Errorf("node a condition %s = %s/%s/%q at %v; want Unknown/NodeStatusUnknown now", cond.Type, cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime)
			}
		}
	}
	if b := f.node("b"); nodeCondition(&b.Status, v1.NodeReady).Status != v1.ConditionTrue {
		t.Errorf("node b Ready = %s, want True (its Lease is renewed)", nodeCondition(&b.Status, v1.NodeReady).Status)
	}
	if p, _ := f.pod("pa"); podReady(p) != v1.ConditionFalse {
		t.Errorf("pod on the lost node: Ready %s, want False", podReady(p))
	}
	if p, _ := f.pod("pb"); podReady(p) != v1.ConditionTrue {
		t.Errorf("pod on the healthy node: Ready %s, want True", podReady(p))
	}
	if got := noExecuteKeys(a); len(got) != 0 {
		t.Errorf("NoExecute taints right after the status change = %v; upstream taints on the next pass", got)
	}
	ev := f.events()
	if !hasEvent(ev, "Normal NodeNotReady Node a status is now: NodeNotReady") || !hasEvent(ev, "Warning NodeNotReady Node is not ready") {
		t.Errorf("events = %v, want the node's and the pod's NodeNotReady", ev)
	}

	// Next pass sees the Unknown status and taints.
	f.syncCaches()
	f.monitor(c)
	if got := noExecuteKeys(f.node("a")); !slices.Equal(got, []string{v1.TaintNodeUnreachable}) {
		t.Errorf("NoExecute taints of the lost node = %v, want [%s] with timeAdded", got, v1.TaintNodeUnreachable)
	}
	if got := noExecuteKeys(f.node("b")); len(got) != 0 {
		t.Errorf("healthy node tainted %v", got)
	}
	f.syncCaches()
	if err := c.syncNoScheduleTaints(f.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := taintKeys(f.node("a")); !slices.Equal(got, []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}) {
		t.Errorf("taints of the lost node = %v", got)
	}

	// The kubelet comes back.
	f.clock.Step(10 * time.Second)
	f.renewLease("a")
	f.renewLease("b")
	f.postReady("a", v1.ConditionTrue)
	f.syncCaches()
	f.monitor(c)
	f.syncCaches()
	if err := c.syncNoScheduleTaints(f.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := taintKeys(f.node("a")); len(got) != 0 {
		t.Errorf("taints after the node came back = %v, want none", got)
	}
}

// TestReadyFalse: a kubelet that posts Ready=False gets the not-ready NoExecute taint, swapped
// for unreachable at once when it then goes silent.
func TestReadyFalse(t *testing.T) {
	f := newFixture(t,
		newNode("a", v1.ConditionFalse, nil), newNode("b", v1.ConditionTrue, nil),
		newLease("a", t0), newLease("b", t0))
	c := f.lifecycle()
	f.monitor(c)
	if got := noExecuteKeys(f.node("a")); !slices.Equal(got, []string{v1.TaintNodeNotReady}) {
		t.Fatalf("NoExecute taints of a NotReady node = %v, want [%s]", got, v1.TaintNodeNotReady)
	}
	if s := nodeCondition(&f.node("a").Status, v1.NodeReady).Status; s != v1.ConditionFalse {
		t.Fatalf("Ready = %s, want the kubelet's False kept", s)
	}

	f.clock.Step(41 * time.Second)
	f.renewLease("b")
	f.syncCaches()
	f.monitor(c) // Ready False -> Unknown
	f.syncCaches()
	f.monitor(c) // swap
	if got := noExecuteKeys(f.node("a")); !slices.Equal(got, []string{v1.TaintNodeUnreachable}) {
		t.Errorf("NoExecute taints after the node went silent = %v, want [%s]", got, v1.TaintNodeUnreachable)
	}
}

// TestMasterDisruption: when every node is lost (here the only one), upstream assumes the
// control plane lost its network and taints nothing; pods are still marked not ready.
func TestMasterDisruption(t *testing.T) {
	f := newFixture(t, newNode("a", v1.ConditionTrue, nil), newLease("a", t0), newPod("pa", "a"))
	c := f.lifecycle()
	f.monitor(c)
	f.clock.Step(time.Minute)
	for range 3 {
		f.syncCaches()
		f.monitor(c)
	}
	a := f.node("a")
	if s := nodeCondition(&a.Status, v1.NodeReady).Status; s != v1.ConditionUnknown {
		t.Errorf("Ready = %s, want Unknown", s)
	}
	if got := noExecuteKeys(a); len(got) != 0 {
		t.Errorf("NoExecute taints with every node lost = %v, want none", got)
	}
	if p, _ := f.pod("pa"); podReady(p) != v1.ConditionFalse {
		t.Errorf("pod Ready = %s, want False", podReady(p))
	}
}

// TestNeverPosted: a node that never posted a Ready condition gets the startup grace period,
// then conditions "NodeStatusNeverUpdated".
func TestNeverPosted(t *testing.T) {
	n := newNode("a", "", nil)
	n.CreationTimestamp = metav1.NewTime(t0)
	f := newFixture(t, n, newNode("b", v1.ConditionTrue, nil), newLease("b", t0))
	c := f.lifecycle()
	f.monitor(c)
	f.clock.Step(50 * time.Second)
	f.renewLease("b")
	f.syncCaches()
	f.monitor(c)
	if len(f.node("a").Status.Conditions) != 0 {
		t.Fatalf("conditions written within the 60 s startup grace period: %v", f.node("a").Status.Conditions)
	}
	f.clock.Step(11 * time.Second)
	f.renewLease("b")
	f.syncCaches()
	f.monitor(c)
	cond := nodeCondition(&f.node("a").Status, v1.NodeReady)
	if cond == nil || cond.Status != v1.ConditionUnknown || cond.Reason != "NodeStatusNeverUpdated" || cond.Message != "Kubelet never posted node status." {
		t.Errorf("Ready = %+v, want Unknown/NodeStatusNeverUpdated", cond)
	}
}

func TestNoScheduleTaints(t *testing.T) {
	user := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	tests := []struct {
		name   string
		mutate func(n *v1.Node)
		want   []string
	}{
		{name: "healthy", mutate: func(*v1.Node) {}, want: nil},
		{name: "cordoned", mutate: func(n *v1.Node) { n.Spec.Unschedulable = true },
			want: []string{"node.kubernetes.io/unschedulable:NoSchedule"}},
		{name: "uncordoned", mutate: func(n *v1.Node) {
			n.Spec.Taints = []v1.Taint{{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}}
		}, want: nil},
		{name: "not ready", mutate: func(n *v1.Node) { setReady(n, v1.ConditionFalse, metav1.NewTime(t0)) },
			want: []string{"node.kubernetes.io/not-ready:NoSchedule"}},
		{name: "unknown replaces not-ready", mutate: func(n *v1.Node) {
			setReady(n, v1.ConditionUnknown, metav1.NewTime(t0))
			n.Spec.Taints = []v1.Taint{{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule}}
		}, want: []string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "pressure and cordon, user taint kept", mutate: func(n *v1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = []v1.Taint{user}
			nodeCondition(&n.Status, v1.NodeMemoryPressure).Status = v1.ConditionTrue
			n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: v1.NodeNetworkUnavailable, Status: v1.ConditionTrue})
		}, want: []string{"dedicated:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
			"node.kubernetes.io/network-unavailable:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}},
		{name: "NoExecute taints untouched", mutate: func(n *v1.Node) {
			n.Spec.Taints = []v1.Taint{UnreachableTaint()}
		}, want: []string{"node.kubernetes.io/unreachable:NoExecute"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode("a", v1.ConditionTrue, nil)
			tc.mutate(n)
			f := newFixture(t, n)
			c := f.lifecycle()
			if err := c.syncNoScheduleTaints(f.ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if got := taintKeys(f.node("a")); !slices.Equal(got, tc.want) {
				t.Errorf("taints = %v, want %v", got, tc.want)
			}
			// A second pass over the result changes nothing.
			f.syncCaches()
			f.client.ClearActions()
			if err := c.syncNoScheduleTaints(f.ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if got := f.actions(); len(got) != 0 {
				t.Errorf("second pass wrote %v", got)
			}
		})
	}
}

// TestPodBoundToNotReadyNode: a pod bound to a node that is not Ready is marked not ready.
func TestPodBoundToNotReadyNode(t *testing.T) {
	f := newFixture(t, newNode("a", v1.ConditionFalse, nil), newNode("b", v1.ConditionTrue, nil),
		newLease("a", t0), newLease("b", t0), newPod("pa", "a"), newPod("pb", "b"))
	c := f.lifecycle()
	f.monitor(c)
	f.client.ClearActions()
	for _, name := range []string{"pa", "pb"} {
		if err := c.syncPod(f.ctx, types.NamespacedName{Namespace: "default", Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := f.pod("pa"); podReady(p) != v1.ConditionFalse {
		t.Errorf("pod on the NotReady node: Ready %s, want False", podReady(p))
	}
	if p, _ := f.pod("pb"); podReady(p) != v1.ConditionTrue {
		t.Errorf("pod on the Ready node: Ready %s, want True", podReady(p))
	}
	if got := f.actions(); !slices.Equal(got, []string{"update pods/status"}) {
		t.Errorf("actions = %v, want one pod status update", got)
	}
}

func TestZoneState(t *testing.T) {
	ready := &v1.NodeCondition{Status: v1.ConditionTrue}
	unknown := &v1.NodeCondition{Status: v1.ConditionUnknown}
	tests := []struct {
		conds []*v1.NodeCondition
		want  zoneState
	}{
		{[]*v1.NodeCondition{ready, unknown}, stateNormal},
		{[]*v1.NodeCondition{unknown, nil}, stateFullDisruption},
		{[]*v1.NodeCondition{ready, unknown, unknown}, stateNormal},
		{[]*v1.NodeCondition{ready, unknown, unknown, unknown}, statePartialDisruption},
	}
	c := &Controller{opts: Options{}}
	c.opts.complete()
	for i, tc := range tests {
		if got := c.computeZoneState(tc.conds); got != tc.want {
			t.Errorf("%d: state = %s, want %s", i, got, tc.want)
		}
	}
}

func TestRunReturnsOnCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *fixture) func(ctx context.Context, workers int)
	}{
		{"lifecycle", func(f *fixture) func(context.Context, int) { return f.lifecycle().Run }},
		{"eviction", func(f *fixture) func(context.Context, int) { return f.eviction().Run }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []runtime.Object{newNode("a", v1.ConditionTrue, nil)}...)
			run := tc.run(f)
			ctx, cancel := context.WithCancel(f.ctx)
			f.factory.Start(ctx.Done())
			done := make(chan struct{})
			go func() { run(ctx, 2); close(done) }()
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			f.factory.Shutdown()
		})
	}
}
