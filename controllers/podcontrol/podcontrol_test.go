package podcontrol

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func pod(name string, mut ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:       v1.PodSpec{NodeName: "n1"},
		Status:     v1.PodStatus{Phase: v1.PodRunning},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func readySince(t time.Time) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}

func TestActivePodsWithRanksOrder(t *testing.T) {
	sidecar := func(n int32) func(*v1.Pod) {
		return func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "s", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []v1.ContainerStatus{{Name: "s", RestartCount: n}}
		}
	}
	tests := []struct {
		name        string
		first, last *v1.Pod
		rankFirst   int
		rankLast    int
	}{
		{"unassigned first", pod("a", func(p *v1.Pod) { p.Spec.NodeName = "" }), pod("b"), 0, 0},
		{"pending before unknown", pod("a", func(p *v1.Pod) { p.Status.Phase = v1.PodPending }), pod("b", func(p *v1.Pod) { p.Status.Phase = v1.PodUnknown }), 0, 0},
		{"unknown before running", pod("a", func(p *v1.Pod) { p.Status.Phase = v1.PodUnknown }), pod("b"), 0, 0},
		{"not ready before ready", pod("a"), pod("b", readySince(now.Add(-time.Minute))), 0, 0},
		{"lower deletion cost first", pod("a", readySince(now.Add(-time.Hour)), func(p *v1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: "1"} }),
			pod("b", readySince(now.Add(-time.Minute)), func(p *v1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: "5"} }), 0, 0},
		{"doubled up first", pod("a"), pod("b"), 3, 1},
		{"ready shorter first", pod("a", readySince(now.Add(-time.Minute))), pod("b", readySince(now.Add(-time.Hour))), 0, 0},
		{"more restarts first", pod("a", func(p *v1.Pod) { p.Status.ContainerStatuses = []v1.ContainerStatus{{RestartCount: 4}} }), pod("b"), 0, 0},
		{"more sidecar restarts first", pod("a", sidecar(3)), pod("b", sidecar(1)), 0, 0},
		{"newer first", pod("a", func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute)) }), pod("b"), 0, 0},
		{"same log bucket: by UID", pod("a", func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-61 * time.Minute)) }), pod("b"), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Either input order sorts to first, last.
			for _, s := range []ActivePodsWithRanks{
				{Pods: []*v1.Pod{tc.first, tc.last}, Rank: []int{tc.rankFirst, tc.rankLast}, Now: metav1.NewTime(now)},
				{Pods: []*v1.Pod{tc.last, tc.first}, Rank: []int{tc.rankLast, tc.rankFirst}, Now: metav1.NewTime(now)},
			} {
				sort.Sort(s)
				if s.Pods[0] != tc.first {
					t.Fatalf("order = %s, %s; want %s first", s.Pods[0].Name, s.Pods[1].Name, tc.first.Name)
				}
			}
		})
	}
}

func TestAvailability(t *testing.T) {
	pods := []*v1.Pod{
		pod("old", readySince(now.Add(-time.Minute))),
		pod("young", readySince(now.Add(-20*time.Second))),
		pod("younger", readySince(now.Add(-5*time.Second))),
		pod("notready"),
	}
	tests := []struct {
		minReady  int32
		available []bool
		next      time.Duration
		hasNext   bool
	}{
		{0, []bool{true, true, true, false}, 0, false},
		{30, []bool{true, false, false, false}, 10 * time.Second, true},
		{120, []bool{false, false, false, false}, 60 * time.Second, true},
	}
	for _, tc := range tests {
		for i, p := range pods {
			if got := IsPodAvailable(p, tc.minReady, now); got != tc.available[i] {
				t.Errorf("minReady %d: %s available = %v", tc.minReady, p.Name, got)
			}
		}
		d, ok := NextAvailabilityCheck(pods, tc.minReady, now)
		if ok != tc.hasNext || (ok && (d < tc.next || d > tc.next+time.Second)) {
			t.Errorf("minReady %d: next check %v %v, want ~%v %v", tc.minReady, d, ok, tc.next, tc.hasNext)
		}
	}
}

func TestPodFromTemplateAndEvents(t *testing.T) {
	owner := &v1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "u"}}
	ref := metav1.NewControllerRef(owner, v1.SchemeGroupVersion.WithKind("ReplicationController"))
	tmpl := &v1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"x": "y"}, Finalizers: []string{"f"}},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "i"}}},
	}
	client := fake.NewClientset()
	rec := record.NewFakeRecorder(10)
	pc := Real{Client: client, Recorder: rec}
	if err := pc.CreatePods(context.Background(), "ns", tmpl, owner, ref); err != nil {
		t.Fatal(err)
	}
	list, err := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("pods = %v, %v", list, err)
	}
	p := list.Items[0]
	if p.GenerateName != "rc-" || p.Labels["a"] != "b" || p.Annotations["x"] != "y" || p.Finalizers[0] != "f" ||
		p.OwnerReferences[0].Kind != "ReplicationController" || !*p.OwnerReferences[0].BlockOwnerDeletion {
		t.Errorf("pod = %+v", p.ObjectMeta)
	}
	if e := <-rec.Events; !strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: ") {
		t.Errorf("event %q", e)
	}
	// Templates without labels are refused, as upstream.
	if err := pc.CreatePods(context.Background(), "ns", &v1.PodTemplateSpec{}, owner, ref); err == nil {
		t.Error("created a pod without labels")
	}
	// A bad controllerRef is refused.
	if err := pc.CreatePods(context.Background(), "ns", tmpl, owner, &metav1.OwnerReference{Kind: "X"}); err == nil {
		t.Error("accepted an invalid controllerRef")
	}
	if err := pc.DeletePod(context.Background(), "ns", p.Name, owner); err != nil {
		t.Fatal(err)
	}
	if e := <-rec.Events; e != "Normal SuccessfulDelete Deleted pod: "+p.Name {
		t.Errorf("event %q", e)
	}
	if err := pc.DeletePod(context.Background(), "ns", p.Name, owner); err == nil {
		t.Error("deleting a missing pod succeeded")
	}
	select {
	case e := <-rec.Events:
		t.Errorf("event for an already deleted pod: %q", e)
	default:
	}
}

func TestPatches(t *testing.T) {
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "o", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	b, err := AdoptPatch(ref, "p")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["metadata"]["uid"] != "p" {
		t.Fatalf("adopt patch %s", b)
	}
	b, err = ReleasePatch("o", "p")
	if err != nil || string(b) != `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"o"}],"uid":"p"}}` {
		t.Fatalf("release patch %s %v", b, err)
	}
}

func TestClaimerCanAdoptOnce(t *testing.T) {
	owner := &v1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "u"}}
	orphans := []*v1.Pod{pod("a", withLabels), pod("b", withLabels)}
	objs := []runtime.Object{orphans[0], orphans[1]}
	client := fake.NewClientset(objs...)
	calls := 0
	c := &Claimer{
		Control: Real{Client: client, Recorder: record.NewFakeRecorder(10)}, Owner: owner,
		OwnerGVK: v1.SchemeGroupVersion.WithKind("ReplicationController"),
		Selector: labels.SelectorFromSet(labels.Set{"app": "x"}),
		CanAdopt: func(context.Context) error { calls++; return nil },
	}
	got, err := c.ClaimPods(context.Background(), orphans)
	if err != nil || len(got) != 2 || calls != 1 {
		t.Fatalf("claimed %d, err %v, canAdopt calls %d", len(got), err, calls)
	}
	// A failing recheck blocks adoption.
	c2 := &Claimer{Control: c.Control, Owner: owner, OwnerGVK: c.OwnerGVK, Selector: c.Selector,
		CanAdopt: func(context.Context) error { return context.Canceled }}
	if got, err := c2.ClaimPods(context.Background(), []*v1.Pod{pod("c", withLabels)}); err == nil || len(got) != 0 {
		t.Fatalf("adopted despite failing recheck: %d %v", len(got), err)
	}
}

func withLabels(p *v1.Pod) { p.Labels = map[string]string{"app": "x"} }
