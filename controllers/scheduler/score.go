package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

const maxNodeScore int64 = 100

// Weights of the score terms, as kube-scheduler's default profile weighs the plugins they stand
// for (NodeResourcesFit 1, PodTopologySpread 2, NodeAffinity 2, TaintToleration 3).
const (
	weightLeastAllocated    = 1
	weightSpread            = 2
	weightPreferredAffinity = 2
	weightPreferNoSchedule  = 3
)

// pickNode scores the feasible nodes and returns the best. Ties are broken deterministically:
// the node whose name sorts first wins (upstream picks among ties at random).
func pickNode(pod *corev1.Pod, feasible []*nodeInfo) string {
	scores := scoreNodes(pod, feasible)
	best := -1
	for i, n := range feasible {
		if best < 0 || scores[i] > scores[best] ||
			(scores[i] == scores[best] && n.node.Name < feasible[best].node.Name) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return feasible[best].node.Name
}

// scoreNodes returns the weighted score of each node, in the order given.
func scoreNodes(pod *corev1.Pod, nodes []*nodeInfo) []int64 {
	least := make([]int64, len(nodes))
	siblings := make([]int64, len(nodes))
	preferred := make([]int64, len(nodes))
	intolerable := make([]int64, len(nodes))

	owner := metav1.GetControllerOf(pod)
	terms := preferredTerms(pod)
	tolerations := preferNoScheduleTolerations(pod)
	for i, n := range nodes {
		least[i] = leastAllocatedScore(pod, n)
		if owner != nil {
			siblings[i] = countSiblings(pod.Namespace, owner, n)
		}
		if terms != nil {
			preferred[i] = terms.Score(n.node)
		}
		for j := range n.node.Spec.Taints {
			t := &n.node.Spec.Taints[j]
			if t.Effect == corev1.TaintEffectPreferNoSchedule &&
				!corev1helpers.TolerationsTolerateTaint(klog.Background(), tolerations, t, false) {
				intolerable[i]++
			}
		}
	}
	// More siblings, more intolerable taints: worse. More matching preferences: better.
	spread := normalize(siblings, true)
	affinity := normalize(preferred, false)
	taints := normalize(intolerable, true)

	total := make([]int64, len(nodes))
	for i := range nodes {
		total[i] = weightLeastAllocated*least[i] + weightSpread*spread[i] +
			weightPreferredAffinity*affinity[i] + weightPreferNoSchedule*taints[i]
	}
	return total
}

// leastAllocatedScore is upstream's LeastAllocated strategy over cpu and memory: the mean of the
// fractions left free once the pod is placed, 0..100. Pods without requests count with the
// default non-zero requests.
func leastAllocatedScore(pod *corev1.Pod, n *nodeInfo) int64 {
	alloc := n.allocatable()
	req := n.nonZeroRequested
	req.add(podNonZeroRequests(pod))
	free := func(requested, capacity int64) int64 {
		if capacity <= 0 || requested > capacity {
			return 0
		}
		return (capacity - requested) * maxNodeScore / capacity
	}
	return (free(req.milliCPU, alloc.milliCPU) + free(req.memory, alloc.memory)) / 2
}

// countSiblings counts the pods on the node that have the same controller (a ReplicaSet, a Job…)
// as the pod being scheduled: the spread term keeps replicas of one owner apart.
func countSiblings(namespace string, owner *metav1.OwnerReference, n *nodeInfo) int64 {
	var count int64
	for _, p := range n.pods {
		if p.Namespace != namespace {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == owner.UID {
			count++
		}
	}
	return count
}

// normalize maps raw scores onto 0..maxNodeScore relative to the highest one; reverse makes the
// lowest raw score the best. All-zero raw scores give every node the same score.
func normalize(raw []int64, reverse bool) []int64 {
	var highest int64
	for _, v := range raw {
		highest = max(highest, v)
	}
	out := make([]int64, len(raw))
	for i, v := range raw {
		switch {
		case highest == 0 && reverse:
			out[i] = maxNodeScore
		case highest == 0:
			out[i] = 0
		case reverse:
			out[i] = maxNodeScore - v*maxNodeScore/highest
		default:
			out[i] = v * maxNodeScore / highest
		}
	}
	return out
}

func preferredTerms(pod *corev1.Pod) *nodeaffinity.PreferredSchedulingTerms {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return nil
	}
	return terms
}

// preferNoScheduleTolerations are the tolerations that can tolerate a PreferNoSchedule taint.
func preferNoScheduleTolerations(pod *corev1.Pod) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			out = append(out, t)
		}
	}
	return out
}
