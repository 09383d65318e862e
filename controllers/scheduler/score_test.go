package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestUnschedulableMessage(t *testing.T) {
	never := corev1.PreemptNever
	cases := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		want  string
	}{
		{
			name: "no nodes",
			pod:  makePod("p"),
			want: "no nodes available to schedule pods",
		},
		{
			name:  "one node, selector",
			pod:   makePod("p", nodeSelector("disktype", "nvme")),
			nodes: []*corev1.Node{makeNode("n1")},
			want: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "one node, taint",
			pod:   makePod("p"),
			nodes: []*corev1.Node{makeNode("n1", withTaint("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoSchedule))},
			want: "0/1 nodes are available: 1 node(s) had untolerated taint(s). " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "insufficient cpu everywhere",
			pod:   makePod("p", requests("cpu", "6")),
			nodes: []*corev1.Node{makeNode("n1"), makeNode("n2"), makeNode("n3")},
			want: "0/3 nodes are available: 3 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
		},
		{
			name: "mixed reasons, sorted as upstream sorts them",
			pod:  makePod("p", requests("cpu", "6", "memory", "8Gi")),
			nodes: []*corev1.Node{
				makeNode("n1", cordoned),
				makeNode("n2", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
				makeNode("n3"),
				makeNode("n4"),
			},
			want: "0/4 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable, " +
				"2 Insufficient cpu, 2 Insufficient memory. " +
				"preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, " +
				"2 Preemption is not helpful for scheduling.",
		},
		{
			name: "preemptionPolicy Never",
			pod: makePod("p", requests("cpu", "6"), func(p *corev1.Pod) {
				p.Spec.PreemptionPolicy = &never
			}),
			nodes: []*corev1.Node{makeNode("n1")},
			want:  "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var infos []*nodeInfo
			var results []filterResult
			for _, n := range tc.nodes {
				ni := infoFor(n)
				infos = append(infos, ni)
				results = append(results, runFilters(tc.pod, ni))
			}
			if got := unschedulableMessage(tc.pod, infos, results); got != tc.want {
				t.Errorf("message\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestPickNode(t *testing.T) {
	rs := ownedBy("ReplicaSet", "web-abc")
	other := ownedBy("ReplicaSet", "other")
	cases := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*nodeInfo
		want  string
	}{
		{
			name:  "tie between empty nodes goes to the first name",
			pod:   makePod("p"),
			nodes: []*nodeInfo{infoFor(makeNode("c")), infoFor(makeNode("a")), infoFor(makeNode("b"))},
			want:  "a",
		},
		{
			name: "least requested wins",
			pod:  makePod("p", requests("cpu", "100m")),
			nodes: []*nodeInfo{
				infoFor(makeNode("a"), makePod("x", onNode("a"), requests("cpu", "1500m", "memory", "1Gi"))),
				infoFor(makeNode("b"), makePod("y", onNode("b"), requests("cpu", "500m", "memory", "1Gi"))),
			},
			want: "b",
		},
		{
			name: "replicas of one owner spread even onto a busier node",
			pod:  makePod("p", rs),
			nodes: []*nodeInfo{
				infoFor(makeNode("a"), makePod("r1", rs, onNode("a"))),
				infoFor(makeNode("b"), makePod("x", other, onNode("b"), requests("cpu", "500m"))),
			},
			want: "b",
		},
		{
			name: "preferred node affinity",
			pod: makePod("p", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
						{Weight: 10, Preference: expr("disk", corev1.NodeSelectorOpIn, "ssd")},
					},
				}}
			}),
			nodes: []*nodeInfo{infoFor(makeNode("a")), infoFor(makeNode("b", withLabels("disk", "ssd")))},
			want:  "b",
		},
		{
			name: "PreferNoSchedule taint is avoided",
			pod:  makePod("p"),
			nodes: []*nodeInfo{
				infoFor(makeNode("a", withTaint("soft", "x", corev1.TaintEffectPreferNoSchedule))),
				infoFor(makeNode("b")),
			},
			want: "b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickNode(tc.pod, tc.nodes); got != tc.want {
				t.Errorf("pickNode = %q, want %q (scores %v)", got, tc.want, scoreNodes(tc.pod, tc.nodes))
			}
		})
	}
}

// TestSpreadAcrossThreeNodes places six replicas of one ReplicaSet one after another, each seeing
// the earlier ones, and expects two per node.
func TestSpreadAcrossThreeNodes(t *testing.T) {
	nodes := []*nodeInfo{infoFor(makeNode("n1")), infoFor(makeNode("n2")), infoFor(makeNode("n3"))}
	byName := map[string]*nodeInfo{}
	for _, n := range nodes {
		byName[n.node.Name] = n
	}
	counts := map[string]int{}
	var order []string
	for i := range 6 {
		pod := makePod("web-"+string(rune('a'+i)), ownedBy("ReplicaSet", "web"), requests("cpu", "100m", "memory", "64Mi"))
		name := pickNode(pod, nodes)
		pod.Spec.NodeName = name
		byName[name].addPod(pod)
		counts[name]++
		order = append(order, name)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if counts[n] != 2 {
			t.Fatalf("replicas per node = %v (order %v), want 2 on each", counts, order)
		}
	}
	// The first three go to three distinct nodes.
	if order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
		t.Errorf("first three replicas not on three nodes: %v", order)
	}
}
