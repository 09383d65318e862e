package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

const (
	// msgNoNodes is upstream's ErrNoNodesAvailable.
	msgNoNodes = "no nodes available to schedule pods"

	msgPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	msgNoVictims            = "No preemption victims found for incoming pod"
	msgPreemptionNever      = "not eligible due to preemptionPolicy=Never."
)

// histogram formats "0/N nodes are available: 2 reason a, 1 reason b." as upstream's FitError
// does: one "count reason" per distinct reason, sorted as strings.
func histogram(numNodes int, reasons map[string]int) string {
	parts := make([]string, 0, len(reasons))
	for reason, count := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", count, reason))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", numNodes, strings.Join(parts, ", "))
}

// unschedulableMessage is the PodScheduled condition message and FailedScheduling event text for
// a pod no node can take, in upstream's words: the filter reasons per node, then what preemption
// (PostFilter) found. kubeshim does not preempt; a node where evicting pods might help is
// reported as upstream reports a node with no lower-priority pod on it.
func unschedulableMessage(pod *corev1.Pod, nodes []*nodeInfo, results []filterResult) string {
	if len(nodes) == 0 {
		return msgNoNodes
	}
	reasons := map[string]int{}
	for _, r := range results {
		for _, reason := range r.reasons {
			reasons[reason]++
		}
	}
	msg := histogram(len(nodes), reasons)

	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return msg + " preemption: " + msgPreemptionNever
	}
	preemption := map[string]int{}
	for _, r := range results {
		if r.unresolvable {
			preemption[msgPreemptionNotHelpful]++
		} else {
			preemption[msgNoVictims]++
		}
	}
	return msg + " preemption: " + histogram(len(nodes), preemption)
}
