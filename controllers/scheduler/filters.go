package scheduler

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// The reasons a node is filtered out, worded as kube-scheduler's plugins word them (v1.33+).
const (
	reasonUnschedulable    = "node(s) were unschedulable"
	reasonUntoleratedTaint = "node(s) had untolerated taint(s)"
	reasonNodeAffinity     = "node(s) didn't match Pod's node affinity/selector"
	reasonNodePorts        = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods      = "Too many pods"
)

// filterResult says why a node cannot take a pod. An empty result means it can.
type filterResult struct {
	reasons []string
	// unresolvable is upstream's UnschedulableAndUnresolvable: evicting pods from the node would
	// not help (taints, affinity, cordon), so preemption is "not helpful" there.
	unresolvable bool
}

func (r filterResult) fits() bool { return len(r.reasons) == 0 }

// filter is one of upstream's Filter plugins.
type filter func(pod *corev1.Pod, n *nodeInfo) filterResult

// filters run in kube-scheduler's default plugin order; the first that rejects a node decides
// the node's reasons, as in upstream.
var filters = []filter{
	filterNodeUnschedulable,
	filterTaintToleration,
	filterNodeAffinity,
	filterNodePorts,
	filterNodeResourcesFit,
}

// runFilters runs every filter against the node until one rejects it.
func runFilters(pod *corev1.Pod, n *nodeInfo) filterResult {
	for _, f := range filters {
		if r := f(pod, n); !r.fits() {
			return r
		}
	}
	return filterResult{}
}

// filterNodeUnschedulable rejects a cordoned node unless the pod tolerates the
// node.kubernetes.io/unschedulable:NoSchedule taint (upstream's NodeUnschedulable).
func filterNodeUnschedulable(pod *corev1.Pod, n *nodeInfo) filterResult {
	if !n.node.Spec.Unschedulable {
		return filterResult{}
	}
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, &taint, false) {
		return filterResult{}
	}
	return filterResult{reasons: []string{reasonUnschedulable}, unresolvable: true}
}

// readinessTaint is the taint upstream's node lifecycle controller puts on a node whose Ready
// condition is not True (and the kubelet registers a node with); kubeshim has no such controller
// yet, so the scheduler applies it itself. A node that already carries the taint gets no second.
func readinessTaint(node *corev1.Node) *corev1.Taint {
	key := corev1.TaintNodeNotReady
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return nil
		case corev1.ConditionUnknown:
			key = corev1.TaintNodeUnreachable
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Key == key && t.Effect == corev1.TaintEffectNoSchedule {
			return nil
		}
	}
	return &corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule}
}

// filterTaintToleration rejects a node with a NoSchedule or NoExecute taint the pod does not
// tolerate (upstream's TaintToleration), a node not Ready included.
func filterTaintToleration(pod *corev1.Pod, n *nodeInfo) filterResult {
	taints := n.node.Spec.Taints
	if t := readinessTaint(n.node); t != nil {
		taints = append(append([]corev1.Taint(nil), taints...), *t)
	}
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), taints, pod.Spec.Tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false)
	if !untolerated {
		return filterResult{}
	}
	return filterResult{reasons: []string{reasonUntoleratedTaint}, unresolvable: true}
}

// filterNodeAffinity rejects a node that does not match the pod's nodeSelector and required node
// affinity (matchExpressions In/NotIn/Exists/DoesNotExist/Gt/Lt, matchFields metadata.name).
func filterNodeAffinity(pod *corev1.Pod, n *nodeInfo) filterResult {
	// As upstream, a term that does not parse matches nothing; the others still count.
	ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(n.node)
	if ok {
		return filterResult{}
	}
	return filterResult{reasons: []string{reasonNodeAffinity}, unresolvable: true}
}

// filterNodePorts rejects a node where a host port the pod wants is taken (upstream's NodePorts).
func filterNodePorts(pod *corev1.Pod, n *nodeInfo) filterResult {
	for _, want := range podHostPorts(pod) {
		for _, used := range n.usedPorts {
			if want.conflicts(used) {
				return filterResult{reasons: []string{reasonNodePorts}}
			}
		}
	}
	return filterResult{}
}

// filterNodeResourcesFit rejects a node whose allocatable resources, less the requests of the
// pods on it, cannot hold the pod's requests (upstream's NodeResourcesFit). Every insufficient
// resource is a reason of its own.
func filterNodeResourcesFit(pod *corev1.Pod, n *nodeInfo) filterResult {
	var reasons []string
	if int64(len(n.pods))+1 > n.allowedPods() {
		reasons = append(reasons, reasonTooManyPods)
	}
	req := podRequests(pod)
	alloc := n.allocatable()
	used := n.requested
	if req.milliCPU > 0 && req.milliCPU > alloc.milliCPU-used.milliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if req.memory > 0 && req.memory > alloc.memory-used.memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage-used.ephemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	names := make([]string, 0, len(req.scalar))
	for name := range req.scalar {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		rn := corev1.ResourceName(name)
		if v := req.scalar[rn]; v > 0 && v > alloc.scalar[rn]-used.scalar[rn] {
			reasons = append(reasons, fmt.Sprintf("Insufficient %s", name))
		}
	}
	return filterResult{reasons: reasons}
}
