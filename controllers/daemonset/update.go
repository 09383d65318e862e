package daemonset

import (
	"context"
	"fmt"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

// rollingUpdate replaces old daemon pods. Without maxSurge it deletes old pods (the manage
// loop then creates the new ones) while at most maxUnavailable desired nodes lack an
// available pod; with maxSurge it first starts a new pod beside an old one on at most
// maxSurge nodes and deletes the old pod once the new one is available. Old pods that are
// not available are replaced at once, outside both budgets.
func (c *Controller) rollingUpdate(ctx context.Context, ds *apps.DaemonSet, nodes []*v1.Node, hash string) error {
	logger := klog.FromContext(ctx)
	byNode, err := c.nodeToDaemonPods(ctx, ds)
	if err != nil {
		return err
	}
	maxSurge, maxUnavailable, err := c.updatedDesiredNodeCounts(ds, nodes, byNode)
	if err != nil {
		return fmt.Errorf("rolling update of daemon set %s: %w", keyOf(ds), err)
	}
	now := c.clock.Now()
	available := func(p *v1.Pod) bool { return podcontrol.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	generation := templateGeneration(ds)

	if maxSurge == 0 {
		var numUnavailable int
		var replace, candidates []string
		for nodeName, pods := range byNode {
			newPod, oldPod, ok := findUpdatedPodsOnNode(pods, hash, generation)
			if !ok {
				// More than one pod of a kind: the manage loop cleans up first.
				numUnavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				// Being created or cleaned up by the manage loop: unavailable for now.
				numUnavailable++
			case newPod != nil:
				if !available(newPod) {
					numUnavailable++
				}
			default:
				switch {
				case !available(oldPod):
					logger.V(5).Info("Old pod is unavailable, replacing it", "daemonset", klog.KObj(ds), "node", nodeName, "pod", klog.KObj(oldPod))
					replace = append(replace, oldPod.Name)
					numUnavailable++
				case numUnavailable >= maxUnavailable:
				default:
					candidates = append(candidates, oldPod.Name)
				}
			}
		}
		budget := max(0, min(maxUnavailable-numUnavailable, len(candidates)))
		logger.V(5).Info("DaemonSet rolling update", "daemonset", klog.KObj(ds), "maxUnavailable", maxUnavailable, "numUnavailable", numUnavailable, "replace", len(replace), "deleting", budget)
		return c.syncNodes(ctx, ds, append(replace, candidates[:budget]...), nil, hash, nil)
	}

	var numSurge int
	var allowedNodes, candidateNodes, toDelete []string
	for nodeName, pods := range byNode {
		newPod, oldPod, ok := findUpdatedPodsOnNode(pods, hash, generation)
		if !ok {
			numSurge++
			continue
		}
		switch {
		case oldPod == nil:
			// Nothing to update here; the manage loop creates a missing pod.
		case newPod == nil:
			switch {
			case !available(oldPod):
				allowedNodes = append(allowedNodes, nodeName)
			case numSurge >= maxSurge:
			default:
				candidateNodes = append(candidateNodes, nodeName)
			}
		default:
			// Already surged here: the old pod goes once the new one is available.
			if !available(newPod) {
				numSurge++
				continue
			}
			toDelete = append(toDelete, oldPod.Name)
		}
	}
	budget := max(0, min(maxSurge-numSurge, len(candidateNodes)))
	logger.V(5).Info("DaemonSet rolling update with surge", "daemonset", klog.KObj(ds), "maxSurge", maxSurge, "numSurge", numSurge, "replaceUnavailable", len(allowedNodes), "surging", budget, "deleting", len(toDelete))
	return c.syncNodes(ctx, ds, toDelete, append(allowedNodes, candidateNodes[:budget]...), hash, nil)
}

// updatedDesiredNodeCounts adds an empty entry to byNode for every desired node without a
// pod and returns maxSurge and maxUnavailable scaled to the desired nodes. A configuration
// allowing neither falls back to maxUnavailable 1.
func (c *Controller) updatedDesiredNodeCounts(ds *apps.DaemonSet, nodes []*v1.Node, byNode map[string][]*v1.Pod) (int, int, error) {
	desired := 0
	for _, node := range nodes {
		if shouldRun, _ := NodeShouldRunDaemonPod(node, ds); !shouldRun {
			continue
		}
		desired++
		if _, ok := byNode[node.Name]; !ok {
			byNode[node.Name] = nil
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return 0, 0, err
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return 0, 0, err
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, nil
}

// findUpdatedPodsOnNode returns the node's one new and one old non-terminating pod; ok is
// false when it has more than one of either.
func findUpdatedPodsOnNode(pods []*v1.Pod, hash string, generation *int64) (newPod, oldPod *v1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(pod, hash, generation) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}
