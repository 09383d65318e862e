package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

type filterCase struct {
	name             string
	pod              *corev1.Pod
	node             *corev1.Node
	existing         []*corev1.Pod
	wantReasons      []string
	wantUnresolvable bool
}

func runFilterCases(t *testing.T, f filter, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := f(tc.pod, infoFor(tc.node, tc.existing...))
			if diff := cmp.Diff(tc.wantReasons, got.reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if got.unresolvable != tc.wantUnresolvable {
				t.Errorf("unresolvable = %v, want %v", got.unresolvable, tc.wantUnresolvable)
			}
		})
	}
}

func TestFilterNodeUnschedulable(t *testing.T) {
	runFilterCases(t, filterNodeUnschedulable, []filterCase{
		{name: "schedulable node", pod: makePod("p"), node: makeNode("n")},
		{name: "cordoned node", pod: makePod("p"), node: makeNode("n", cordoned),
			wantReasons: []string{reasonUnschedulable}, wantUnresolvable: true},
		{name: "cordoned node, pod tolerates the unschedulable taint",
			pod:  makePod("p", toleration(corev1.TaintNodeUnschedulable, corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule)),
			node: makeNode("n", cordoned)},
		{name: "cordoned node, pod tolerates everything",
			pod:  makePod("p", toleration("", corev1.TolerationOpExists, "", "")),
			node: makeNode("n", cordoned)},
		{name: "cordoned node, toleration for another effect",
			pod:         makePod("p", toleration(corev1.TaintNodeUnschedulable, corev1.TolerationOpExists, "", corev1.TaintEffectNoExecute)),
			node:        makeNode("n", cordoned),
			wantReasons: []string{reasonUnschedulable}, wantUnresolvable: true},
	})
}

func TestFilterTaintToleration(t *testing.T) {
	taintedReasons := []string{reasonUntoleratedTaint}
	runFilterCases(t, filterTaintToleration, []filterCase{
		{name: "no taints", pod: makePod("p"), node: makeNode("n")},
		{name: "NoSchedule taint not tolerated", pod: makePod("p"),
			node:        makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "NoExecute taint not tolerated", pod: makePod("p"),
			node:        makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoExecute)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "PreferNoSchedule taint does not filter", pod: makePod("p"),
			node: makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectPreferNoSchedule))},
		{name: "Equal toleration with matching value and effect",
			pod:  makePod("p", toleration("dedicated", corev1.TolerationOpEqual, "gpu", corev1.TaintEffectNoSchedule)),
			node: makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
		{name: "Equal toleration with another value",
			pod:         makePod("p", toleration("dedicated", corev1.TolerationOpEqual, "cpu", corev1.TaintEffectNoSchedule)),
			node:        makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "empty operator means Equal",
			pod:  makePod("p", toleration("dedicated", "", "gpu", corev1.TaintEffectNoSchedule)),
			node: makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
		{name: "Exists toleration for the key, any value",
			pod:  makePod("p", toleration("dedicated", corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule)),
			node: makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
		{name: "toleration with empty effect matches every effect",
			pod:  makePod("p", toleration("dedicated", corev1.TolerationOpExists, "", "")),
			node: makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoExecute))},
		{name: "toleration for another effect",
			pod:         makePod("p", toleration("dedicated", corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule)),
			node:        makeNode("n", withTaint("dedicated", "gpu", corev1.TaintEffectNoExecute)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "empty key with Exists tolerates everything",
			pod: makePod("p", toleration("", corev1.TolerationOpExists, "", "")),
			node: makeNode("n", withTaint("a", "1", corev1.TaintEffectNoSchedule),
				withTaint("b", "2", corev1.TaintEffectNoExecute))},
		{name: "one of two taints tolerated",
			pod: makePod("p", toleration("a", corev1.TolerationOpExists, "", "")),
			node: makeNode("n", withTaint("a", "1", corev1.TaintEffectNoSchedule),
				withTaint("b", "2", corev1.TaintEffectNoSchedule)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "control-plane taint with empty value",
			pod:         makePod("p"),
			node:        makeNode("n", withTaint("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoSchedule)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "node Ready=False", pod: makePod("p"), node: makeNode("n", withReady(corev1.ConditionFalse)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "node Ready=Unknown", pod: makePod("p"), node: makeNode("n", withReady(corev1.ConditionUnknown)),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "node without Ready condition", pod: makePod("p"), node: makeNode("n", withReady("")),
			wantReasons: taintedReasons, wantUnresolvable: true},
		{name: "node not ready, pod tolerates not-ready",
			pod:  makePod("p", toleration(corev1.TaintNodeNotReady, corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule)),
			node: makeNode("n", withReady(corev1.ConditionFalse))},
		{name: "node unreachable, pod tolerates only not-ready",
			pod:         makePod("p", toleration(corev1.TaintNodeNotReady, corev1.TolerationOpExists, "", "")),
			node:        makeNode("n", withReady(corev1.ConditionUnknown)),
			wantReasons: taintedReasons, wantUnresolvable: true},
	})
}

func TestFilterNodeAffinity(t *testing.T) {
	noMatch := []string{reasonNodeAffinity}
	zoneA := makeNode("n1", withLabels("zone", "a", "disk", "ssd", "cores", "8"))
	runFilterCases(t, filterNodeAffinity, []filterCase{
		{name: "no selector", pod: makePod("p"), node: zoneA},
		{name: "nodeSelector matches", pod: makePod("p", nodeSelector("zone", "a")), node: zoneA},
		{name: "nodeSelector does not match", pod: makePod("p", nodeSelector("zone", "b")), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "nodeSelector needs every label", pod: makePod("p", nodeSelector("zone", "a", "gpu", "yes")), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "In matches", pod: makePod("p", requiredTerms(expr("zone", corev1.NodeSelectorOpIn, "b", "a"))), node: zoneA},
		{name: "In does not match", pod: makePod("p", requiredTerms(expr("zone", corev1.NodeSelectorOpIn, "b"))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "NotIn matches", pod: makePod("p", requiredTerms(expr("zone", corev1.NodeSelectorOpNotIn, "b"))), node: zoneA},
		{name: "NotIn excludes", pod: makePod("p", requiredTerms(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "Exists", pod: makePod("p", requiredTerms(expr("disk", corev1.NodeSelectorOpExists))), node: zoneA},
		{name: "Exists missing label", pod: makePod("p", requiredTerms(expr("gpu", corev1.NodeSelectorOpExists))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "DoesNotExist", pod: makePod("p", requiredTerms(expr("gpu", corev1.NodeSelectorOpDoesNotExist))), node: zoneA},
		{name: "DoesNotExist label present", pod: makePod("p", requiredTerms(expr("disk", corev1.NodeSelectorOpDoesNotExist))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "Gt", pod: makePod("p", requiredTerms(expr("cores", corev1.NodeSelectorOpGt, "4"))), node: zoneA},
		{name: "Gt not greater", pod: makePod("p", requiredTerms(expr("cores", corev1.NodeSelectorOpGt, "8"))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "Lt", pod: makePod("p", requiredTerms(expr("cores", corev1.NodeSelectorOpLt, "16"))), node: zoneA},
		{name: "Lt not less", pod: makePod("p", requiredTerms(expr("cores", corev1.NodeSelectorOpLt, "8"))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
		{name: "terms are ORed", pod: makePod("p", requiredTerms(
			expr("zone", corev1.NodeSelectorOpIn, "b"), expr("disk", corev1.NodeSelectorOpIn, "ssd"))), node: zoneA},
		{name: "expressions of a term are ANDed", pod: makePod("p", requiredTerms(corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}},
				{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"hdd"}},
			}})), node: zoneA, wantReasons: noMatch, wantUnresolvable: true},
		{name: "matchFields metadata.name matches", pod: makePod("p", requiredTerms(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}},
		})), node: zoneA},
		{name: "matchFields metadata.name other node", pod: makePod("p", requiredTerms(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}},
		})), node: zoneA, wantReasons: noMatch, wantUnresolvable: true},
		{name: "nodeSelector and affinity must both match", pod: makePod("p", nodeSelector("zone", "b"),
			requiredTerms(expr("disk", corev1.NodeSelectorOpIn, "ssd"))), node: zoneA,
			wantReasons: noMatch, wantUnresolvable: true},
	})
}

func TestFilterNodePorts(t *testing.T) {
	noPorts := []string{reasonNodePorts}
	node := makeNode("n")
	runFilterCases(t, filterNodePorts, []filterCase{
		{name: "no host ports", pod: makePod("p"), node: node,
			existing: []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", ""))}},
		{name: "free port", pod: makePod("p", hostPortOpt(8080, "", "")), node: node,
			existing: []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", ""))}},
		{name: "same port and protocol (defaulted TCP, any IP)", pod: makePod("p", hostPortOpt(80, corev1.ProtocolTCP, "")), node: node,
			existing:    []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", ""))},
			wantReasons: noPorts},
		{name: "same port, other protocol", pod: makePod("p", hostPortOpt(53, corev1.ProtocolUDP, "")), node: node,
			existing: []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(53, corev1.ProtocolTCP, ""))}},
		{name: "same port, two distinct host IPs", pod: makePod("p", hostPortOpt(80, "", "10.0.0.1")), node: node,
			existing: []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", "10.0.0.2"))}},
		{name: "same port, same host IP", pod: makePod("p", hostPortOpt(80, "", "10.0.0.1")), node: node,
			existing:    []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", "10.0.0.1"))},
			wantReasons: noPorts},
		{name: "specific IP wanted, wildcard taken", pod: makePod("p", hostPortOpt(80, "", "10.0.0.1")), node: node,
			existing:    []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", "0.0.0.0"))},
			wantReasons: noPorts},
		{name: "wildcard wanted, specific IP taken", pod: makePod("p", hostPortOpt(80, "", "")), node: node,
			existing:    []*corev1.Pod{makePod("o", onNode("n"), hostPortOpt(80, "", "10.0.0.1"))},
			wantReasons: noPorts},
	})
}

func TestFilterNodeResourcesFit(t *testing.T) {
	node := makeNode("n") // 2 cpu, 4Gi, 10Gi ephemeral, 110 pods
	runFilterCases(t, filterNodeResourcesFit, []filterCase{
		{name: "no requests", pod: makePod("p"), node: node},
		{name: "fits", pod: makePod("p", requests("cpu", "1", "memory", "1Gi")), node: node,
			existing: []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1", "memory", "1Gi"))}},
		{name: "insufficient cpu", pod: makePod("p", requests("cpu", "1500m")), node: node,
			existing:    []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1"))},
			wantReasons: []string{"Insufficient cpu"}},
		{name: "insufficient cpu and memory are two reasons", pod: makePod("p", requests("cpu", "3", "memory", "5Gi")), node: node,
			wantReasons: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "insufficient ephemeral-storage", pod: makePod("p", requests("ephemeral-storage", "11Gi")), node: node,
			wantReasons: []string{"Insufficient ephemeral-storage"}},
		{name: "extended resource absent from node", pod: makePod("p", requests("example.com/gpu", "1")), node: node,
			wantReasons: []string{"Insufficient example.com/gpu"}},
		{name: "extended resource available", pod: makePod("p", requests("example.com/gpu", "1")),
			node: makeNode("n", withAllocatable("example.com/gpu", "1"))},
		{name: "too many pods", pod: makePod("p"), node: makeNode("n", withAllocatable("pods", "1")),
			existing:    []*corev1.Pod{makePod("o", onNode("n"))},
			wantReasons: []string{reasonTooManyPods}},
		{name: "too many pods and insufficient cpu", pod: makePod("p", requests("cpu", "3")),
			node:        makeNode("n", withAllocatable("pods", "0")),
			wantReasons: []string{reasonTooManyPods, "Insufficient cpu"}},
		{name: "init container larger than app containers counts", pod: makePod("p", requests("cpu", "500m"), initRequests("cpu", "1500m")),
			node: node, existing: []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1"))},
			wantReasons: []string{"Insufficient cpu"}},
		{name: "init container smaller than app containers", pod: makePod("p", requests("cpu", "1"), initRequests("cpu", "500m")),
			node: node, existing: []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1"))}},
		{name: "overhead is added", pod: makePod("p", requests("cpu", "1"), overhead("cpu", "100m")),
			node: node, existing: []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1"))},
			wantReasons: []string{"Insufficient cpu"}},
		{name: "overhead of a pod already on the node counts", pod: makePod("p", requests("cpu", "1")),
			node: node, existing: []*corev1.Pod{makePod("o", onNode("n"), requests("cpu", "1"), overhead("cpu", "1m"))},
			wantReasons: []string{"Insufficient cpu"}},
	})
}

func TestRunFiltersStopsAtFirstRejection(t *testing.T) {
	// Cordoned and tainted and too small: only the first filter's reason counts, as upstream.
	node := makeNode("n", cordoned, withTaint("a", "b", corev1.TaintEffectNoSchedule))
	got := runFilters(makePod("p", requests("cpu", "5")), infoFor(node))
	if diff := cmp.Diff([]string{reasonUnschedulable}, got.reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if got := runFilters(makePod("p"), infoFor(makeNode("ok"))); !got.fits() {
		t.Errorf("a plain pod does not fit a plain node: %v", got.reasons)
	}
}
