package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	core "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func tolerate(key string, seconds *int64) v1.Toleration {
	return v1.Toleration{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

// defaultTolerations are what the DefaultTolerationSeconds admission gives every pod.
func defaultTolerations() []v1.Toleration {
	return []v1.Toleration{tolerate(v1.TaintNodeNotReady, ptr.To[int64](300)), tolerate(v1.TaintNodeUnreachable, ptr.To[int64](300))}
}

func taintedNode(name string, taints ...v1.Taint) *v1.Node {
	n := newNode(name, v1.ConditionUnknown, nil)
	n.Spec.Taints = taints
	return n
}

func TestTaintEviction(t *testing.T) {
	dedicated := v1.Taint{Key: "dedicated", Value: "x", Effect: v1.TaintEffectNoExecute}
	tests := []struct {
		name   string
		taints []v1.Taint
		tols   []v1.Toleration
		// deletedAt is the offset from t0 at which the pod is gone; -1 never (within 1 h).
		deletedAt time.Duration
	}{
		{name: "no toleration: at once", taints: []v1.Taint{UnreachableTaint()}, deletedAt: 0},
		{name: "default 300 s tolerations", taints: []v1.Taint{UnreachableTaint()}, tols: defaultTolerations(), deletedAt: 300 * time.Second},
		{name: "shortest of the matching tolerations", taints: []v1.Taint{UnreachableTaint(), dedicated},
			tols: append(defaultTolerations(), tolerate("dedicated", ptr.To[int64](30))), deletedAt: 30 * time.Second},
		{name: "one taint untolerated: at once", taints: []v1.Taint{UnreachableTaint(), dedicated}, tols: defaultTolerations(), deletedAt: 0},
		{name: "tolerated forever", taints: []v1.Taint{UnreachableTaint()}, tols: []v1.Toleration{tolerate(v1.TaintNodeUnreachable, nil)}, deletedAt: -1},
		{name: "zero seconds: at once", taints: []v1.Taint{UnreachableTaint()}, tols: []v1.Toleration{tolerate(v1.TaintNodeUnreachable, ptr.To[int64](0))}, deletedAt: 0},
		{name: "NoSchedule taints do not evict", taints: []v1.Taint{{Key: v1.TaintNodeUnreachable, Effect: v1.TaintEffectNoSchedule}}, deletedAt: -1},
	}
	key := types.NamespacedName{Namespace: "default", Name: "p"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, taintedNode("a", tc.taints...), newPod("p", "a", tc.tols...))
			c := f.eviction()
			sync := func() {
				t.Helper()
				if err := c.sync(f.ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			sync()
			if tc.deletedAt == 0 {
				if _, ok := f.pod("p"); ok {
					t.Fatal("pod not deleted at once")
				}
				checkEvictionActions(t, f)
				return
			}
			if _, ok := f.pod("p"); !ok {
				t.Fatal("pod deleted at once, want it kept while tolerated")
			}
			horizon := time.Hour
			if tc.deletedAt > 0 {
				horizon = tc.deletedAt
			}
			f.clock.Step(horizon - time.Second)
			sync()
			if _, ok := f.pod("p"); !ok {
				t.Fatalf("pod deleted before %v", horizon)
			}
			f.clock.Step(time.Second)
			sync()
			_, ok := f.pod("p")
			if tc.deletedAt < 0 && !ok {
				t.Fatal("pod tolerating forever was deleted")
			}
			if tc.deletedAt > 0 {
				if ok {
					t.Fatalf("pod not deleted after %v", tc.deletedAt)
				}
				checkEvictionActions(t, f)
			}
		})
	}
}

// checkEvictionActions: the pod got the DisruptionTarget condition, then was deleted.
func checkEvictionActions(t *testing.T, f *fixture) {
	t.Helper()
	var got []string
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "update", "delete":
			got = append(got, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
		}
		if a.GetSubresource() == "status" {
			pod, ok := a.(core.UpdateAction).GetObject().(*v1.Pod)
			if !ok {
				continue
			}
			found := false
			for _, c := range pod.Status.Conditions {
				if c.Type == v1.DisruptionTarget && c.Status == v1.ConditionTrue && c.Reason == "DeletionByTaintManager" &&
					c.Message == "Taint manager: deleting due to NoExecute taint" {
					found = true
				}
			}
			if !found {
				t.Errorf("status update without the DisruptionTarget condition: %+v", pod.Status.Conditions)
			}
		}
	}
	if !slices.Equal(got, []string{"update pods/status", "delete pods/"}) {
		t.Errorf("actions = %v, want the status update then the delete", got)
	}
	if !hasEvent(f.events(), "TaintManagerEviction Marking for deletion Pod default/p") {
		t.Error("no TaintManagerEviction event")
	}
}

// TestEvictionCancelled: the taint goes before the toleration runs out; the pod stays and the
// cancellation is reported.
func TestEvictionCancelled(t *testing.T) {
	f := newFixture(t, taintedNode("a", UnreachableTaint()), newPod("p", "a", defaultTolerations()...))
	c := f.eviction()
	key := types.NamespacedName{Namespace: "default", Name: "p"}
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(200 * time.Second)
	n := f.node("a")
	n.Spec.Taints = nil
	if _, err := f.client.CoreV1().Nodes().Update(f.ctx, n, metaUpdate); err != nil {
		t.Fatal(err)
	}
	f.syncCaches()
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(200 * time.Second)
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.pod("p"); !ok {
		t.Fatal("pod deleted after its node's taint was removed")
	}
	if !hasEvent(f.events(), "TaintManagerEviction Cancelling deletion of Pod default/p") {
		t.Error("no cancellation event")
	}
	// Tainted again: a fresh 300 s.
	n = f.node("a")
	n.Spec.Taints = []v1.Taint{UnreachableTaint()}
	if _, err := f.client.CoreV1().Nodes().Update(f.ctx, n, metaUpdate); err != nil {
		t.Fatal(err)
	}
	f.syncCaches()
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(299 * time.Second)
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.pod("p"); !ok {
		t.Fatal("pod deleted before a fresh toleration period ran out")
	}
}

// TestEvictionRequeuedAtDeadline: the pod's key comes back on the queue when the fake clock
// reaches its tolerationSeconds, and the worker then deletes it.
func TestEvictionRequeuedAtDeadline(t *testing.T) {
	f := newFixture(t, taintedNode("a", UnreachableTaint()),
		newPod("p", "a", tolerate(v1.TaintNodeUnreachable, ptr.To[int64](60))))
	c := f.eviction()
	key := types.NamespacedName{Namespace: "default", Name: "p"}
	if err := c.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	if c.queue.Len() != 0 {
		t.Fatalf("queue length %d before the deadline", c.queue.Len())
	}
	f.clock.Step(60 * time.Second)
	if err := wait.PollUntilContextTimeout(f.ctx, time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return c.queue.Len() == 1, nil
	}); err != nil {
		t.Fatal("pod not requeued when its toleration ran out")
	}
	if !c.processNext(f.ctx) {
		t.Fatal("queue shut down")
	}
	if _, ok := f.pod("p"); ok {
		t.Fatal("pod not deleted by the worker at its deadline")
	}
}

var metaUpdate = metav1.UpdateOptions{}
