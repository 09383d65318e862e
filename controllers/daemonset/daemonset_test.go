package daemonset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

func TestNodeShouldRunDaemonPod(t *testing.T) {
	affinity := func(op v1.NodeSelectorOperator, vals ...string) dsOpt {
		return func(ds *apps.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: op, Values: vals}},
				}}},
			}}
		}
	}
	tolerate := func(key string, effect v1.TaintEffect) dsOpt {
		return func(ds *apps.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = append(ds.Spec.Template.Spec.Tolerations, v1.Toleration{Key: key, Operator: v1.TolerationOpExists, Effect: effect})
		}
	}
	hostNetwork := func(ds *apps.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }
	cases := []struct {
		name                  string
		node                  *v1.Node
		ds                    *apps.DaemonSet
		wantRun, wantContinue bool
	}{
		{"plain node", newNode("n"), newDS("d"), true, true},
		{"nodeSelector matches", newNode("n", nodeLabel("disk", "ssd")), newDS("d", nodeSelector(map[string]string{"disk": "ssd"})), true, true},
		{"nodeSelector does not match", newNode("n", nodeLabel("disk", "hdd")), newDS("d", nodeSelector(map[string]string{"disk": "ssd"})), false, false},
		{"nodeSelector label missing", newNode("n"), newDS("d", nodeSelector(map[string]string{"disk": "ssd"})), false, false},
		{"affinity In matches", newNode("n", nodeLabel("zone", "a")), newDS("d", affinity(v1.NodeSelectorOpIn, "a", "b")), true, true},
		{"affinity In does not match", newNode("n", nodeLabel("zone", "c")), newDS("d", affinity(v1.NodeSelectorOpIn, "a", "b")), false, false},
		{"affinity NotIn excludes", newNode("n", nodeLabel("zone", "a")), newDS("d", affinity(v1.NodeSelectorOpNotIn, "a")), false, false},
		{"affinity Exists", newNode("n", nodeLabel("zone", "x")), newDS("d", affinity(v1.NodeSelectorOpExists)), true, true},
		{"template nodeName other node", newNode("n"), newDS("d", func(ds *apps.DaemonSet) { ds.Spec.Template.Spec.NodeName = "m" }), false, false},
		{"template nodeName this node", newNode("n"), newDS("d", func(ds *apps.DaemonSet) { ds.Spec.Template.Spec.NodeName = "n" }), true, true},
		{"untolerated NoSchedule keeps running pods", newNode("n", taint("dedicated", v1.TaintEffectNoSchedule)), newDS("d"), false, true},
		{"untolerated NoExecute evicts", newNode("n", taint("dedicated", v1.TaintEffectNoExecute)), newDS("d"), false, false},
		{"PreferNoSchedule ignored", newNode("n", taint("dedicated", v1.TaintEffectPreferNoSchedule)), newDS("d"), true, true},
		{"tolerated NoSchedule", newNode("n", taint("dedicated", v1.TaintEffectNoSchedule)), newDS("d", tolerate("dedicated", v1.TaintEffectNoSchedule)), true, true},
		{"tolerated NoExecute", newNode("n", taint("dedicated", v1.TaintEffectNoExecute)), newDS("d", tolerate("dedicated", v1.TaintEffectNoExecute)), true, true},
		{"cordoned node tolerated by default", newNode("n", taint(v1.TaintNodeUnschedulable, v1.TaintEffectNoSchedule)), newDS("d"), true, true},
		{"not-ready NoExecute tolerated by default", newNode("n", taint(v1.TaintNodeNotReady, v1.TaintEffectNoExecute)), newDS("d"), true, true},
		{"unreachable NoExecute tolerated by default", newNode("n", taint(v1.TaintNodeUnreachable, v1.TaintEffectNoExecute)), newDS("d"), true, true},
		{"not-ready NoSchedule not tolerated", newNode("n", taint(v1.TaintNodeNotReady, v1.TaintEffectNoSchedule)), newDS("d"), false, true},
		{"memory pressure tolerated by default", newNode("n", taint(v1.TaintNodeMemoryPressure, v1.TaintEffectNoSchedule)), newDS("d"), true, true},
		{"disk pressure tolerated by default", newNode("n", taint(v1.TaintNodeDiskPressure, v1.TaintEffectNoSchedule)), newDS("d"), true, true},
		{"pid pressure tolerated by default", newNode("n", taint(v1.TaintNodePIDPressure, v1.TaintEffectNoSchedule)), newDS("d"), true, true},
		{"network unavailable, pod network", newNode("n", taint(v1.TaintNodeNetworkUnavailable, v1.TaintEffectNoSchedule)), newDS("d"), false, true},
		{"network unavailable, host network", newNode("n", taint(v1.TaintNodeNetworkUnavailable, v1.TaintEffectNoSchedule)), newDS("d", hostNetwork), true, true},
		{"selector matches but taint NoExecute", newNode("n", nodeLabel("disk", "ssd"), taint("x", v1.TaintEffectNoExecute)), newDS("d", nodeSelector(map[string]string{"disk": "ssd"})), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := NodeShouldRunDaemonPod(tc.node, tc.ds)
			if run != tc.wantRun || cont != tc.wantContinue {
				t.Errorf("NodeShouldRunDaemonPod = (%v, %v), want (%v, %v)", run, cont, tc.wantRun, tc.wantContinue)
			}
		})
	}
}

func TestAddDaemonTolerations(t *testing.T) {
	spec := &v1.PodSpec{Tolerations: []v1.Toleration{
		{Key: "custom", Operator: v1.TolerationOpExists},
		// Same key/operator/effect as a default one, with tolerationSeconds: replaced.
		{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)},
	}}
	AddDaemonTolerations(spec)
	AddDaemonTolerations(spec) // idempotent
	if len(spec.Tolerations) != 1+len(DefaultTolerations) {
		t.Fatalf("tolerations = %+v", spec.Tolerations)
	}
	if spec.Tolerations[0].Key != "custom" {
		t.Errorf("custom toleration lost: %+v", spec.Tolerations)
	}
	for _, want := range DefaultTolerations {
		if !slices.ContainsFunc(spec.Tolerations, func(got v1.Toleration) bool { return apiequality.Semantic.DeepEqual(got, want) }) {
			t.Errorf("missing default toleration %+v", want)
		}
	}
	if slices.ContainsFunc(spec.Tolerations, func(got v1.Toleration) bool { return got.Key == v1.TaintNodeNetworkUnavailable }) {
		t.Error("network-unavailable toleration added to a pod-network pod")
	}
	hn := &v1.PodSpec{HostNetwork: true}
	AddDaemonTolerations(hn)
	if !slices.ContainsFunc(hn.Tolerations, func(got v1.Toleration) bool { return got == NetworkUnavailableToleration }) {
		t.Errorf("hostNetwork pod lacks network-unavailable toleration: %+v", hn.Tolerations)
	}
}

func TestSetNodeAffinityAndTargetNodeName(t *testing.T) {
	existing := &v1.Affinity{
		NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}}},
			}}},
			PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{Weight: 1}},
		},
		PodAntiAffinity: &v1.PodAntiAffinity{},
	}
	for name, in := range map[string]*v1.Affinity{"nil": nil, "empty": {}, "existing": existing} {
		t.Run(name, func(t *testing.T) {
			a := SetNodeAffinity(in.DeepCopy(), "node-7")
			terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			want := []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"node-7"}}}}}
			if !apiequality.Semantic.DeepEqual(terms, want) {
				t.Errorf("terms = %+v", terms)
			}
			if in == existing && (a.PodAntiAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1) {
				t.Errorf("other affinity lost: %+v", a)
			}
			got, err := TargetNodeName(&v1.Pod{Spec: v1.PodSpec{Affinity: a}})
			if err != nil || got != "node-7" {
				t.Errorf("TargetNodeName = %q, %v", got, err)
			}
		})
	}
	if got, _ := TargetNodeName(&v1.Pod{Spec: v1.PodSpec{NodeName: "bound", Affinity: SetNodeAffinity(nil, "other")}}); got != "bound" {
		t.Errorf("bound pod target = %q", got)
	}
	if _, err := TargetNodeName(&v1.Pod{}); err == nil {
		t.Error("pod without affinity has a target node")
	}
}

func TestTemplateHash(t *testing.T) {
	a, b := newDS("d"), newDS("d", image("agent:v2"))
	ha, hb := hashOf(t, a), hashOf(t, b)
	if ha == hb || ha == "" {
		t.Fatalf("hashes %q %q", ha, hb)
	}
	if ha != hashOf(t, newDS("other")) {
		t.Error("hash depends on more than the template")
	}
	b.Status.CollisionCount = ptr.To[int32](1)
	if hashOf(t, b) == hb {
		t.Error("collision count ignored")
	}
}

func TestCreatesOnePodPerEligibleNode(t *testing.T) {
	ds := newDS("agent", nodeSelector(map[string]string{"role": "worker"}))
	f := newFixture(t, ds,
		newNode("n1", nodeLabel("role", "worker")),
		newNode("n2", nodeLabel("role", "worker")),
		newNode("n3", nodeLabel("role", "worker"), taint("gpu", v1.TaintEffectNoSchedule)),
		newNode("n4", nodeLabel("role", "master")),
		newNode("n5", nodeLabel("role", "worker"), taint(v1.TaintNodeUnschedulable, v1.TaintEffectNoSchedule)),
	)
	f.mustSync(ds)
	if got := f.createdOnNodes(); !slices.Equal(got, []string{"n1", "n2", "n5"}) {
		t.Fatalf("created on %v, want n1 n2 n5", got)
	}
	hash := hashOf(t, ds)
	for _, p := range f.createdPods() {
		if !strings.HasPrefix(p.Name, "agent-") || p.Spec.NodeName != "" {
			t.Errorf("pod %s nodeName %q: want generated name, left to the scheduler", p.Name, p.Spec.NodeName)
		}
		if p.Labels["app"] != "agent" || p.Labels[HashLabel] != hash {
			t.Errorf("labels %v, want app=agent and hash %s", p.Labels, hash)
		}
		if _, ok := p.Labels[PodTemplateGenerationLabel]; ok {
			t.Errorf("template generation label without the annotation: %v", p.Labels)
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" || ref.APIVersion != "apps/v1" {
			t.Errorf("controller ref %+v", ref)
		}
		if p.Spec.NodeSelector["role"] != "worker" {
			t.Errorf("nodeSelector dropped: %v", p.Spec.NodeSelector)
		}
		for _, want := range DefaultTolerations {
			if !slices.Contains(p.Spec.Tolerations, want) {
				t.Errorf("pod %s lacks toleration %+v", p.Name, want)
			}
		}
	}
	var created int
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: agent-") {
			created++
		}
	}
	if created != 3 {
		t.Errorf("%d SuccessfulCreate events, want 3", created)
	}
	st := f.lastStatus()
	if st == nil || st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 0 || st.ObservedGeneration != 1 || st.NumberUnavailable != 3 {
		t.Errorf("status %+v", st)
	}

	// The informer has not seen the pods yet: no second round of creates.
	f.mustSync(ds)
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d more pods before observing the first ones", n)
	}
}

func TestTemplateGenerationLabel(t *testing.T) {
	ds := newDS("agent", func(ds *apps.DaemonSet) { ds.Annotations = map[string]string{TemplateGenerationAnnotation: "4"} })
	f := newFixture(t, ds, newNode("n1"))
	f.mustSync(ds)
	p := f.createdPods()
	if len(p) != 1 || p[0].Labels[PodTemplateGenerationLabel] != "4" {
		t.Fatalf("created %+v", p)
	}
	// A pod of generation 4 with a stale hash still counts as updated.
	gen4 := newDaemonPod(t, "p", ds, "n1", readyLong(), hashFrom(t, newDS("agent", image("old"))),
		func(p *v1.Pod) { p.Labels[PodTemplateGenerationLabel] = "4" })
	f = newFixture(t, ds, newNode("n1"), gen4)
	f.mustSync(ds)
	if st := f.lastStatus(); st == nil || st.UpdatedNumberScheduled != 1 {
		t.Errorf("status %+v", st)
	}
	if d := f.deletedPods(); len(d) != 0 {
		t.Errorf("deleted %v", d)
	}
}

func TestNodeAddedCreatesPod(t *testing.T) {
	ds := newDS("agent")
	n1 := newNode("n1")
	f := newFixture(t, ds, n1, newDaemonPod(t, "p1", ds, "n1", readyLong()))
	f.mustSync(ds)
	if len(f.createdPods()) != 0 || len(f.deletedPods()) != 0 {
		t.Fatalf("steady state acted: created %d deleted %v", len(f.createdPods()), f.deletedPods())
	}
	n2 := newNode("n2")
	f.addToCache(n2)
	f.c.addNode(n2)
	if f.c.queue.Len() != 1 {
		t.Fatalf("queue length %d after node add, want 1", f.c.queue.Len())
	}
	// A node the DaemonSet does not fit does not wake it.
	other := newNode("n3", taint("x", v1.TaintEffectNoSchedule))
	f.c.addNode(other)
	f.mustSync(ds)
	if got := f.createdOnNodes(); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("created on %v, want n2", got)
	}
}

func TestNodeUpdateEnqueuesOnlyWhenPlacementChanges(t *testing.T) {
	ds := newDS("agent", nodeSelector(map[string]string{"role": "worker"}))
	f := newFixture(t, ds)
	old := newNode("n1")
	heartbeat := old.DeepCopy()
	heartbeat.ResourceVersion = "2"
	heartbeat.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	f.c.updateNode(old, heartbeat)
	if f.c.queue.Len() != 0 {
		t.Fatal("heartbeat enqueued the DaemonSet")
	}
	labelled := heartbeat.DeepCopy()
	labelled.ResourceVersion = "3"
	labelled.Labels["role"] = "worker"
	f.c.updateNode(heartbeat, labelled)
	if f.c.queue.Len() != 1 {
		t.Fatal("node gaining the selected label did not enqueue the DaemonSet")
	}
}

func TestPodsOnRemovedOrUnfitNodesDeleted(t *testing.T) {
	ds := newDS("agent", nodeSelector(map[string]string{"role": "worker"}))
	worker := func(name string, opts ...nodeOpt) *v1.Node {
		return newNode(name, append([]nodeOpt{nodeLabel("role", "worker")}, opts...)...)
	}
	cases := []struct {
		name        string
		cache       []runtime.Object // nodes the informer knows
		api         []runtime.Object // nodes only the API server still has
		pods        func() []*v1.Pod
		wantDeleted []string
		wantForced  []string
		wantCreated []string
	}{
		{
			name:  "node deleted: bound pod goes",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong()), newDaemonPod(t, "p2", ds, "n2", readyLong())}
			},
			wantDeleted: []string{"p2"},
			wantForced:  []string{"p2"},
		},
		{
			name:  "node deleted: terminating pod force-deleted",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong()), newDaemonPod(t, "p2", ds, "n2", terminating())}
			},
			wantDeleted: []string{"p2"},
			wantForced:  []string{"p2"},
		},
		{
			name:  "node deleted: unscheduled pod goes",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong()), newDaemonPod(t, "p2", ds, "n2", unbound(), phase(v1.PodPending))}
			},
			wantDeleted: []string{"p2"},
		},
		{
			name:  "node not yet in cache but in the API: pod kept",
			cache: []runtime.Object{worker("n1")},
			api:   []runtime.Object{worker("n2")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong()), newDaemonPod(t, "p2", ds, "n2", readyLong())}
			},
		},
		{
			name:  "node lost the label: pod goes",
			cache: []runtime.Object{worker("n1"), newNode("n2")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong()), newDaemonPod(t, "p2", ds, "n2", readyLong())}
			},
			wantDeleted: []string{"p2"},
		},
		{
			name:  "NoSchedule taint: running pod stays",
			cache: []runtime.Object{worker("n1", taint("x", v1.TaintEffectNoSchedule))},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong())}
			},
		},
		{
			name:  "NoExecute taint: pod goes",
			cache: []runtime.Object{worker("n1", taint("x", v1.TaintEffectNoExecute))},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", readyLong())}
			},
			wantDeleted: []string{"p1"},
		},
		{
			name:  "two pods on a node: the newer goes",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "old", ds, "n1", readyLong()), newDaemonPod(t, "young", ds, "n1", createdAt(t0.Add(-time.Minute)))}
			},
			wantDeleted: []string{"young"},
		},
		{
			name:  "terminating pod: no replacement yet",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", terminating())}
			},
		},
		{
			name:  "succeeded pod replaced",
			cache: []runtime.Object{worker("n1")},
			pods: func() []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "p1", ds, "n1", phase(v1.PodSucceeded))}
			},
			wantDeleted: []string{"p1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{ds}, tc.cache...)
			for _, p := range tc.pods() {
				objs = append(objs, p)
			}
			f := newFixture(t, append(objs, tc.api...)...)
			for _, o := range tc.api {
				f.removeFromCache(o)
			}
			f.mustSync(ds)
			if got := f.deletedPods(); !slices.Equal(got, tc.wantDeleted) {
				t.Errorf("deleted %v, want %v", got, tc.wantDeleted)
			}
			if got := f.forcedPods(); !slices.Equal(got, tc.wantForced) {
				t.Errorf("force-deleted %v, want %v", got, tc.wantForced)
			}
			if got := f.createdOnNodes(); !slices.Equal(got, tc.wantCreated) {
				t.Errorf("created on %v, want %v", got, tc.wantCreated)
			}
		})
	}
}

func TestNodeRemovedThenPodDeleteObserved(t *testing.T) {
	ds := newDS("agent")
	n2 := newNode("n2")
	p2 := newDaemonPod(t, "p2", ds, "n2", readyLong())
	f := newFixture(t, ds, newNode("n1"), n2, newDaemonPod(t, "p1", ds, "n1", readyLong()), p2)
	// The node goes, from the API server and the cache.
	if err := f.client.Tracker().Delete(v1.SchemeGroupVersion.WithResource("nodes"), "", "n2"); err != nil {
		t.Fatal(err)
	}
	f.removeFromCache(n2)
	f.c.deleteNode(n2)
	if f.c.queue.Len() != 1 {
		t.Fatalf("queue length %d after node delete", f.c.queue.Len())
	}
	f.mustSync(ds)
	if got := f.deletedPods(); !slices.Equal(got, []string{"p2"}) {
		t.Fatalf("deleted %v", got)
	}
	if !slices.Contains(f.events(), "Normal SuccessfulDelete Deleted pod: p2") {
		t.Error("no SuccessfulDelete event")
	}
	// Until the deletion is observed, nothing more happens.
	f.mustSync(ds)
	if len(f.deletedPods()) != 0 {
		t.Fatal("deleted again before observing")
	}
	f.removeFromCache(p2)
	f.c.deletePod(p2)
	f.mustSync(ds)
	if st := f.lastStatus(); st == nil || st.DesiredNumberScheduled != 1 || st.CurrentNumberScheduled != 1 || st.NumberAvailable != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestFailedPodDeletedWithBackoff(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, newNode("n1"), newDaemonPod(t, "p1", ds, "n1", phase(v1.PodFailed)))
	f.mustSync(ds)
	if got := f.deletedPods(); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("deleted %v", got)
	}
	if ev := f.events(); !slices.ContainsFunc(ev, func(e string) bool {
		return strings.HasPrefix(e, "Warning FailedDaemonPod Found failed daemon pod ns/p1 on node n1")
	}) {
		t.Errorf("events %v", ev)
	}
	// The next failed pod on the node within the back-off waits.
	f.removeFromCache(newDaemonPod(t, "p1", ds, "n1"))
	f.c.deletePod(newDaemonPod(t, "p1", ds, "n1"))
	p2 := newDaemonPod(t, "p2", ds, "n1", phase(v1.PodFailed))
	f.addToCache(p2)
	f.mustSync(ds)
	if got := f.deletedPods(); len(got) != 0 {
		t.Fatalf("deleted %v inside the back-off", got)
	}
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	oldDS := newDS("agent")
	old := func(name, node string, opts ...podOpt) *v1.Pod {
		return newDaemonPod(t, name, oldDS, node, append([]podOpt{readyLong()}, opts...)...)
	}
	cases := []struct {
		name           string
		maxUnavailable intstr.IntOrString
		pods           func(cur *apps.DaemonSet) []*v1.Pod
		// wantDeleted lists pods that must be deleted; wantMore more are picked among oldOK.
		wantDeleted []string
		wantMore    int
		oldOK       []string
	}{
		{
			name: "one at a time", maxUnavailable: intstr.FromInt32(1),
			pods:     func(*apps.DaemonSet) []*v1.Pod { return []*v1.Pod{old("a", "n1"), old("b", "n2"), old("c", "n3")} },
			wantMore: 1, oldOK: []string{"a", "b", "c"},
		},
		{
			name: "two at a time", maxUnavailable: intstr.FromInt32(2),
			pods:     func(*apps.DaemonSet) []*v1.Pod { return []*v1.Pod{old("a", "n1"), old("b", "n2"), old("c", "n3")} },
			wantMore: 2, oldOK: []string{"a", "b", "c"},
		},
		{
			name: "percent rounds up", maxUnavailable: intstr.FromString("10%"),
			pods:     func(*apps.DaemonSet) []*v1.Pod { return []*v1.Pod{old("a", "n1"), old("b", "n2"), old("c", "n3")} },
			wantMore: 1, oldOK: []string{"a", "b", "c"},
		},
		{
			name: "new pod not yet ready uses the budget", maxUnavailable: intstr.FromInt32(1),
			pods: func(cur *apps.DaemonSet) []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "new", cur, "n1"), old("b", "n2"), old("c", "n3")}
			},
		},
		{
			name: "old pod terminating uses the budget", maxUnavailable: intstr.FromInt32(1),
			pods: func(*apps.DaemonSet) []*v1.Pod {
				return []*v1.Pod{old("a", "n1", terminating()), old("b", "n2"), old("c", "n3")}
			},
		},
		{
			name: "updated and available pods free the budget", maxUnavailable: intstr.FromInt32(1),
			pods: func(cur *apps.DaemonSet) []*v1.Pod {
				return []*v1.Pod{newDaemonPod(t, "new", cur, "n1", readyLong()), old("b", "n2"), old("c", "n3")}
			},
			wantMore: 1, oldOK: []string{"b", "c"},
		},
		{
			name: "unavailable old pods are replaced outside the budget", maxUnavailable: intstr.FromInt32(1),
			pods: func(*apps.DaemonSet) []*v1.Pod {
				return []*v1.Pod{
					newDaemonPod(t, "a", oldDS, "n1"), newDaemonPod(t, "b", oldDS, "n2"),
					old("c", "n3"),
				}
			},
			wantDeleted: []string{"a", "b"},
		},
		{
			name: "node without pod counts as unavailable", maxUnavailable: intstr.FromInt32(1),
			pods: func(*apps.DaemonSet) []*v1.Pod { return []*v1.Pod{old("b", "n2"), old("c", "n3")} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := newDS("agent", image("agent:v2"), rolling(tc.maxUnavailable, intstr.FromInt32(0)), func(ds *apps.DaemonSet) { ds.Generation = 2 })
			objs := []runtime.Object{cur, newNode("n1"), newNode("n2"), newNode("n3")}
			for _, p := range tc.pods(cur) {
				objs = append(objs, p)
			}
			f := newFixture(t, objs...)
			f.mustSync(cur)
			got := f.deletedPods()
			var more []string
			for _, name := range got {
				if !slices.Contains(tc.wantDeleted, name) {
					more = append(more, name)
				}
			}
			for _, name := range tc.wantDeleted {
				if !slices.Contains(got, name) {
					t.Errorf("deleted %v, want %v among them", got, tc.wantDeleted)
				}
			}
			if len(more) != tc.wantMore {
				t.Errorf("deleted %v: %d beyond %v, want %d", got, len(more), tc.wantDeleted, tc.wantMore)
			}
			for _, name := range more {
				if !slices.Contains(tc.oldOK, name) {
					t.Errorf("deleted %s, not an old available pod", name)
				}
			}
		})
	}
}

// TestRollingUpdateWalkthrough rolls a template over three nodes with maxUnavailable 1,
// feeding the controller's own actions back into its caches, and checks that never more than
// one node lacks an available pod and that status follows.
func TestRollingUpdateWalkthrough(t *testing.T) {
	for _, tc := range []struct{ maxUnavailable, maxSurge int }{{1, 0}, {2, 0}, {0, 1}, {1, 1}} {
		t.Run(fmt.Sprintf("maxUnavailable=%d,maxSurge=%d", tc.maxUnavailable, tc.maxSurge), func(t *testing.T) {
			rollingWalkthrough(t, tc.maxUnavailable, tc.maxSurge)
		})
	}
}

func rollingWalkthrough(t *testing.T, maxUnavailable, maxSurge int) {
	v1ds := newDS("agent")
	cur := newDS("agent", image("agent:v2"), rolling(intstr.FromInt(maxUnavailable), intstr.FromInt(maxSurge)), func(ds *apps.DaemonSet) { ds.Generation = 2 })
	nodes := []string{"n1", "n2", "n3"}
	objs := []runtime.Object{cur}
	for i, n := range nodes {
		objs = append(objs, newNode(n), newDaemonPod(t, "old-"+n, v1ds, n, readyLong(), createdAt(t0.Add(-time.Duration(i+2)*time.Hour))))
	}
	f := newFixture(t, objs...)
	hash := hashOf(t, cur)
	pods := map[string]*v1.Pod{} // by name, what the cache holds
	for _, o := range objs {
		if p, ok := o.(*v1.Pod); ok {
			pods[p.Name] = p
		}
	}
	for round := 0; round < 12; round++ {
		f.mustSync(cur)
		for _, name := range f.deletedPods() {
			p := pods[name]
			delete(pods, name)
			f.removeFromCache(p)
			f.c.deletePod(p)
		}
		for _, p := range f.createdPods() {
			if p.Labels[HashLabel] != hash {
				t.Fatalf("round %d: created pod with hash %q, want %q", round, p.Labels[HashLabel], hash)
			}
			n, _ := TargetNodeName(p)
			p.Spec.NodeName = n // the scheduler binds it
			p.CreationTimestamp = metav1.NewTime(f.clock.Now())
			p.Status.Phase = v1.PodRunning
			p.ResourceVersion = "1"
			pods[p.Name] = p
			f.addToCache(p)
			f.c.addPod(p)
		}
		// Count nodes without an available pod.
		avail := map[string]bool{}
		for _, p := range pods {
			if p.Status.Phase == v1.PodRunning && len(p.Status.Conditions) > 0 {
				avail[p.Spec.NodeName] = true
			}
		}
		if len(nodes)-len(avail) > maxUnavailable {
			t.Fatalf("round %d: %d nodes without an available pod, maxUnavailable is %d", round, len(nodes)-len(avail), maxUnavailable)
		}
		if len(pods) > len(nodes)+maxSurge {
			t.Fatalf("round %d: %d pods on %d nodes, maxSurge is %d", round, len(pods), len(nodes), maxSurge)
		}
		// New pods become ready before the next round.
		for _, p := range pods {
			if len(p.Status.Conditions) == 0 {
				ready(f.clock.Now())(p)
				if err := f.indexerFor(p).Update(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.clock.Step(time.Second)
	}
	if len(pods) != 3 {
		t.Fatalf("pods at the end: %v", pods)
	}
	for _, p := range pods {
		if p.Labels[HashLabel] != hash {
			t.Fatalf("pod %s not updated", p.Name)
		}
	}
	// Status from the last sync with an up-to-date cache.
	if err := f.client.Tracker().Update(apps.SchemeGroupVersion.WithResource("daemonsets"), cur, "ns"); err != nil {
		t.Fatal(err)
	}
	f.mustSync(cur)
	st := f.lastStatus()
	if st == nil || st.DesiredNumberScheduled != 3 || st.UpdatedNumberScheduled != 3 || st.NumberAvailable != 3 || st.NumberReady != 3 || st.ObservedGeneration != 2 {
		t.Errorf("final status %+v", st)
	}
}

func TestRollingUpdateMaxSurge(t *testing.T) {
	oldDS := newDS("agent")
	cur := newDS("agent", image("agent:v2"), rolling(intstr.FromInt32(0), intstr.FromInt32(1)))
	old := func(name, node string) *v1.Pod { return newDaemonPod(t, name, oldDS, node, readyLong()) }

	t.Run("surges onto one node", func(t *testing.T) {
		f := newFixture(t, cur, newNode("n1"), newNode("n2"), newNode("n3"), old("a", "n1"), old("b", "n2"), old("c", "n3"))
		f.mustSync(cur)
		if len(f.deletedPods()) != 0 {
			t.Errorf("deleted %v before any new pod is available", f.deletedPods())
		}
		if got := f.createdOnNodes(); len(got) != 1 {
			t.Errorf("created on %v, want one node", got)
		}
	})
	t.Run("waits while the surged pod is not available", func(t *testing.T) {
		f := newFixture(t, cur, newNode("n1"), newNode("n2"), newNode("n3"), old("a", "n1"), old("b", "n2"), old("c", "n3"),
			newDaemonPod(t, "new1", cur, "n1"))
		f.mustSync(cur)
		if len(f.deletedPods()) != 0 || len(f.createdPods()) != 0 {
			t.Errorf("deleted %v created %v", f.deletedPods(), f.createdOnNodes())
		}
	})
	t.Run("available surged pod replaces the old one", func(t *testing.T) {
		f := newFixture(t, cur, newNode("n1"), newNode("n2"), newNode("n3"), old("a", "n1"), old("b", "n2"), old("c", "n3"),
			newDaemonPod(t, "new1", cur, "n1", readyLong(), createdAt(t0.Add(-time.Minute))))
		f.mustSync(cur)
		if got := f.deletedPods(); !slices.Equal(got, []string{"a"}) {
			t.Errorf("deleted %v, want a", got)
		}
	})
	t.Run("old pod not ready is replaced at once", func(t *testing.T) {
		f := newFixture(t, cur, newNode("n1"), newNode("n2"), old("a", "n1"), newDaemonPod(t, "b", oldDS, "n2"))
		f.mustSync(cur)
		got := f.createdOnNodes()
		if !slices.Contains(got, "n2") || len(got) != 2 {
			t.Errorf("created on %v, want n2 and one surge node", got)
		}
	})
	t.Run("percent surge", func(t *testing.T) {
		ds := newDS("agent", image("agent:v2"), rolling(intstr.FromInt32(0), intstr.FromString("50%")))
		objs := []runtime.Object{ds}
		for _, n := range []string{"n1", "n2", "n3", "n4"} {
			objs = append(objs, newNode(n), old("old-"+n, n))
		}
		f := newFixture(t, objs...)
		f.mustSync(ds)
		if got := f.createdOnNodes(); len(got) != 2 {
			t.Errorf("created on %v, want 2 nodes", got)
		}
	})
}

func TestOnDelete(t *testing.T) {
	oldDS := newDS("agent")
	cur := newDS("agent", image("agent:v2"), onDelete())
	f := newFixture(t, cur, newNode("n1"), newNode("n2"),
		newDaemonPod(t, "a", oldDS, "n1", readyLong()), newDaemonPod(t, "b", oldDS, "n2", readyLong()))
	f.mustSync(cur)
	if len(f.deletedPods()) != 0 || len(f.createdPods()) != 0 {
		t.Fatalf("OnDelete acted on its own: deleted %v created %v", f.deletedPods(), f.createdOnNodes())
	}
	if st := f.lastStatus(); st == nil || st.UpdatedNumberScheduled != 0 || st.NumberAvailable != 2 {
		t.Errorf("status %+v", st)
	}
	// The user deletes pod a: its replacement has the new template.
	f.removeFromCache(newDaemonPod(t, "a", oldDS, "n1"))
	f.mustSync(cur)
	created := f.createdPods()
	if len(created) != 1 || created[0].Spec.Containers[0].Image != "agent:v2" || created[0].Labels[HashLabel] != hashOf(t, cur) {
		t.Fatalf("created %+v", created)
	}
	if n, _ := TargetNodeName(created[0]); n != "n1" {
		t.Errorf("replacement for node %s", n)
	}
}

func TestStatus(t *testing.T) {
	oldDS := newDS("agent")
	ds := newDS("agent", image("agent:v2"), minReady(30), nodeSelector(map[string]string{"role": "worker"}), onDelete(),
		func(ds *apps.DaemonSet) { ds.Generation = 3 })
	w := func(name string) *v1.Node { return newNode(name, nodeLabel("role", "worker")) }
	f := newFixture(t, ds,
		w("n1"), w("n2"), w("n3"), w("n4"), w("n5"), newNode("other"),
		newDaemonPod(t, "available-new", ds, "n1", readyLong()),
		newDaemonPod(t, "available-old", oldDS, "n2", readyLong()),
		newDaemonPod(t, "ready-not-available", ds, "n3", ready(t0.Add(-10*time.Second))),
		newDaemonPod(t, "not-ready", ds, "n4", phase(v1.PodPending)),
		// n5 has none (a create is pending); "other" runs one it should not.
		newDaemonPod(t, "misscheduled", ds, "other", readyLong()),
	)
	f.mustSync(ds)
	want := apps.DaemonSetStatus{
		ObservedGeneration:     3,
		DesiredNumberScheduled: 5,
		CurrentNumberScheduled: 4,
		NumberMisscheduled:     1,
		NumberReady:            3,
		NumberAvailable:        2,
		UpdatedNumberScheduled: 3,
		NumberUnavailable:      3,
	}
	if st := f.lastStatus(); st == nil || !apiequality.Semantic.DeepEqual(*st, want) {
		t.Errorf("status\n got %+v\nwant %+v", st, want)
	}
	if got := f.deletedPods(); !slices.Equal(got, []string{"misscheduled"}) {
		t.Errorf("deleted %v", got)
	}
	// Ready but not yet available: the DaemonSet is looked at again after minReadySeconds.
	if f.c.queue.Len() != 0 {
		t.Fatal("delayed requeue happened at once")
	}

}

func TestStatusUnchangedNotWritten(t *testing.T) {
	ds := newDS("agent", func(ds *apps.DaemonSet) {
		ds.Generation = 2
		ds.Status = apps.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1}
	})
	f := newFixture(t, ds, newNode("n1"), newDaemonPod(t, "p", ds, "n1", readyLong()))
	f.mustSync(ds)
	if w := f.writes(); len(w) != 0 {
		t.Errorf("steady state wrote %v", w)
	}
}

func TestStatusWhileExpectationsPending(t *testing.T) {
	ds := newDS("agent", func(ds *apps.DaemonSet) { ds.Generation = 2 })
	ds.Status.ObservedGeneration = 1
	f := newFixture(t, ds, newNode("n1"))
	f.c.creations.ExpectCreations(klog.Background(), keyOf(ds), 1)
	f.mustSync(ds)
	if len(f.createdPods()) != 0 {
		t.Fatal("created with unmet expectations")
	}
	if st := f.lastStatus(); st == nil || st.ObservedGeneration != 1 || st.DesiredNumberScheduled != 1 {
		t.Errorf("status %+v: want desired 1, observedGeneration still 1", st)
	}
}

func TestSelectingAllAndDeleted(t *testing.T) {
	ds := newDS("agent", func(ds *apps.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} })
	f := newFixture(t, ds, newNode("n1"))
	f.mustSync(ds)
	if len(f.writes()) != 0 {
		t.Errorf("acted on a select-all DaemonSet: %v", f.writes())
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning SelectingAll") {
		t.Errorf("events %v", ev)
	}

	gone := newDS("gone")
	f = newFixture(t, newNode("n1"))
	if err := f.sync(gone); err != nil || len(f.writes()) != 0 {
		t.Errorf("sync of a deleted DaemonSet: %v, %v", err, f.writes())
	}
	deleting := newDS("deleting", func(ds *apps.DaemonSet) { ds.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) })
	f = newFixture(t, deleting, newNode("n1"))
	f.mustSync(deleting)
	if len(f.writes()) != 0 {
		t.Errorf("acted on a DaemonSet being deleted: %v", f.writes())
	}
}

func TestAdoptsOrphans(t *testing.T) {
	ds := newDS("agent")
	orphan := newDaemonPod(t, "orphan", ds, "n1", readyLong(), func(p *v1.Pod) { p.OwnerReferences = nil })
	f := newFixture(t, ds, newNode("n1"), orphan)
	f.c.addPod(orphan)
	if f.c.queue.Len() != 1 {
		t.Fatal("orphan did not wake the DaemonSet selecting it")
	}
	f.mustSync(ds)
	var patched bool
	for _, a := range f.writes() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			patched = true
		}
	}
	if !patched || len(f.createdPods()) != 0 {
		t.Errorf("patched %v, created %d: want the orphan adopted, nothing created", patched, len(f.createdPods()))
	}
}

func TestPodEventsLowerExpectations(t *testing.T) {
	ds := newDS("agent")
	f := newFixture(t, ds, newNode("n1"), newNode("n2"))
	f.mustSync(ds)
	created := f.createdPods()
	if len(created) != 2 {
		t.Fatalf("created %d", len(created))
	}
	logger := klog.Background()
	if f.c.satisfied(logger, keyOf(ds)) {
		t.Fatal("expectations satisfied before the pods were seen")
	}
	for _, p := range created {
		f.c.addPod(p)
	}
	if !f.c.satisfied(logger, keyOf(ds)) {
		t.Fatal("expectations unmet after both pods were seen")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ds := newDS("agent")
	client := fake.NewClientset(ds, newNode("n1"))
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*v1.Pod)
		pod.Name = pod.GenerateName + "x"
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, record.NewFakeRecorder(100))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	// It works: the pod for n1 is created.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pods, err := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
		if err == nil && len(pods.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no daemon pod created by Run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	factory.Shutdown()
}

func TestPodAndDaemonSetHandlers(t *testing.T) {
	ds := newDS("agent", minReady(5))
	p := newDaemonPod(t, "p", ds, "n1")
	f := newFixture(t, ds, newNode("n1"), p)
	key := keyOf(ds)
	logger := klog.Background()

	// A pod starting graceful deletion counts as the expected deletion at once.
	f.c.deletions.ExpectDeletions(logger, key, []string{"ns/p"})
	gone := p.DeepCopy()
	gone.ResourceVersion = "2"
	terminating()(gone)
	f.c.updatePod(p, gone)
	if _, dels, _ := f.c.deletions.Pending(key); dels != 0 {
		t.Errorf("pending deletions %d after the pod started terminating", dels)
	}
	// Resyncs (same resourceVersion) are ignored.
	for f.c.queue.Len() > 0 {
		k, _ := f.c.queue.Get()
		f.c.queue.Done(k)
	}
	f.c.updatePod(p, p)
	if f.c.queue.Len() != 0 {
		t.Error("resync enqueued")
	}
	// A pod of someone else does nothing.
	foreign := p.DeepCopy()
	foreign.OwnerReferences[0].UID = "other"
	f.c.deletePod(foreign)
	if f.c.queue.Len() != 0 {
		t.Error("foreign pod enqueued the DaemonSet")
	}
	// A pod that gets ready is looked at again after minReadySeconds.
	readyPod := p.DeepCopy()
	readyPod.ResourceVersion = "3"
	ready(t0)(readyPod)
	f.c.updatePod(p, readyPod)
	if f.c.queue.Len() != 1 {
		t.Errorf("queue length %d after a pod update", f.c.queue.Len())
	}
	// A deleted DaemonSet's expectations are forgotten.
	f.c.creations.ExpectCreations(logger, key, 3)
	f.c.deleteDaemonSet(cache.DeletedFinalStateUnknown{Key: key, Obj: ds})
	if _, _, exists := f.c.creations.Pending(key); exists {
		t.Error("expectations kept for a deleted DaemonSet")
	}
	// Recreated under the same name: both generations handled.
	renewed := ds.DeepCopy()
	renewed.UID = "new"
	f.c.creations.ExpectCreations(logger, key, 3)
	f.c.updateDaemonSet(ds, renewed)
	if _, _, exists := f.c.creations.Pending(key); exists {
		t.Error("expectations of the old DaemonSet kept after recreation")
	}
}
