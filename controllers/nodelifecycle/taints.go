package nodelifecycle

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// UnreachableTaint is the NoExecute taint of a node whose Ready condition is Unknown.
func UnreachableTaint() v1.Taint {
	return v1.Taint{Key: v1.TaintNodeUnreachable, Effect: v1.TaintEffectNoExecute}
}

// NotReadyTaint is the NoExecute taint of a node whose Ready condition is False.
func NotReadyTaint() v1.Taint {
	return v1.Taint{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoExecute}
}

// conditionTaints maps a node condition and its status to the key of the NoSchedule taint that
// mirrors it (upstream's taint-nodes-by-condition).
var conditionTaints = map[v1.NodeConditionType]map[v1.ConditionStatus]string{
	v1.NodeReady: {
		v1.ConditionFalse:   v1.TaintNodeNotReady,
		v1.ConditionUnknown: v1.TaintNodeUnreachable,
	},
	v1.NodeMemoryPressure:     {v1.ConditionTrue: v1.TaintNodeMemoryPressure},
	v1.NodeDiskPressure:       {v1.ConditionTrue: v1.TaintNodeDiskPressure},
	v1.NodeNetworkUnavailable: {v1.ConditionTrue: v1.TaintNodeNetworkUnavailable},
	v1.NodePIDPressure:        {v1.ConditionTrue: v1.TaintNodePIDPressure},
}

// managedNoScheduleKeys are the NoSchedule taint keys the controller owns.
var managedNoScheduleKeys = map[string]bool{
	v1.TaintNodeNotReady:           true,
	v1.TaintNodeUnreachable:        true,
	v1.TaintNodeMemoryPressure:     true,
	v1.TaintNodeDiskPressure:       true,
	v1.TaintNodeNetworkUnavailable: true,
	v1.TaintNodePIDPressure:        true,
	v1.TaintNodeUnschedulable:      true,
}

// noScheduleTaints are the NoSchedule taints node should carry for its conditions and
// spec.unschedulable.
func noScheduleTaints(node *v1.Node) []v1.Taint {
	var out []v1.Taint
	for _, cond := range node.Status.Conditions {
		if key, ok := conditionTaints[cond.Type][cond.Status]; ok {
			out = append(out, v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule})
	}
	return out
}

// syncNoScheduleTaints makes the node's controller-owned NoSchedule taints match its
// conditions and spec.unschedulable.
func (c *Controller) syncNoScheduleTaints(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := noScheduleTaints(node)
	var add, remove []v1.Taint
	for _, t := range want {
		if !hasTaint(node.Spec.Taints, t) {
			add = append(add, t)
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == v1.TaintEffectNoSchedule && managedNoScheduleKeys[t.Key] && !hasTaint(want, t) {
			remove = append(remove, t)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	_, err = c.swapTaints(ctx, node, add, remove)
	return err
}

// hasTaint reports whether taints hold one with t's key and effect.
func hasTaint(taints []v1.Taint, t v1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&t) {
			return true
		}
	}
	return false
}

// swapTaints removes the taints matching remove (by key and effect) from node and adds add
// (NoExecute ones stamped with the time added), retrying on conflict with a fresh copy. It
// returns the node as written (or as read, when nothing changed); node itself (often a cache
// object) is never modified. Nothing is written when nothing changes.
func (c *Controller) swapTaints(ctx context.Context, node *v1.Node, add, remove []v1.Taint) (*v1.Node, error) {
	first := true
	result := node
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur := node
		if !first {
			fresh, err := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("getting node %s: %w", node.Name, err)
			}
			cur = fresh
		}
		first = false
		var taints []v1.Taint
		for _, t := range cur.Spec.Taints {
			if !hasTaint(remove, t) {
				taints = append(taints, t)
			}
		}
		for _, t := range add {
			if hasTaint(taints, t) {
				continue
			}
			if t.Effect == v1.TaintEffectNoExecute {
				now := metav1.NewTime(c.clock.Now())
				t.TimeAdded = &now
			}
			taints = append(taints, t)
		}
		if apiequality.Semantic.DeepEqual(taints, cur.Spec.Taints) || len(taints) == 0 && len(cur.Spec.Taints) == 0 {
			result = cur
			return nil
		}
		upd := cur.DeepCopy()
		upd.Spec.Taints = taints
		klog.FromContext(ctx).V(2).Info("Updating node taints", "node", klog.KObj(upd), "add", add, "remove", remove)
		res, err := c.client.CoreV1().Nodes().Update(ctx, upd, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("updating taints of node %s: %w", node.Name, err)
		}
		result = res
		return nil
	})
	return result, err
}

// podNodeNameIndex indexes pods by spec.nodeName (the name upstream's controllers share).
const podNodeNameIndex = "spec.nodeName"

func addPodNodeNameIndexer(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[podNodeNameIndex]; ok {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{podNodeNameIndex: func(obj any) ([]string, error) {
		pod, ok := obj.(*v1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{pod.Spec.NodeName}, nil
	}})
	if err != nil {
		return fmt.Errorf("adding pod index %s: %w", podNodeNameIndex, err)
	}
	return nil
}

func podsOnNode(indexer cache.Indexer, name string) ([]*v1.Pod, error) {
	objs, err := indexer.ByIndex(podNodeNameIndex, name)
	if err != nil {
		return nil, fmt.Errorf("listing pods of node %s: %w", name, err)
	}
	pods := make([]*v1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*v1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}
