package deployment

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/utils/ptr"
)

// rolloutStatus is what `kubectl rollout status` prints for the deployment.
func rolloutStatus(t *testing.T, d *appsv1.Deployment) (string, bool) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		t.Fatal(err)
	}
	msg, done, err := (&polymorphichelpers.DeploymentStatusViewer{}).Status(&unstructured.Unstructured{Object: m}, 0)
	if err != nil {
		return err.Error(), false
	}
	return msg, done
}

func TestNewDeploymentCreatesReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, "nginx:1")
	f := newFixture(t, d)
	actions := f.sync("web")
	if n := countVerb(actions, "create", "replicasets"); n != 1 {
		t.Fatalf("created %d replica sets, want 1: %v", n, actions)
	}
	hash := ComputeHash(&d.Spec.Template, nil)
	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("got %d replica sets", len(rss))
	}
	rs := rss[0]
	if rs.Name != "web-"+hash {
		t.Errorf("name %q, want web-%s", rs.Name, hash)
	}
	for what, m := range map[string]map[string]string{"labels": rs.Labels, "selector": rs.Spec.Selector.MatchLabels, "template": rs.Spec.Template.Labels} {
		if m[appsv1.DefaultDeploymentUniqueLabelKey] != hash || m["app"] != "web" {
			t.Errorf("%s = %v, want app=web and pod-template-hash=%s", what, m, hash)
		}
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller ref %+v", ref)
	}
	if got := rsReplicas(rs); got != 3 {
		t.Errorf("replicas %d, want 3", got)
	}
	wantAnn := map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}
	for k, v := range wantAnn {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	wantEvent := fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set web-%s from 0 to 3", hash)
	if len(f.events) != 1 || f.events[0] != wantEvent {
		t.Errorf("events %q, want [%q]", f.events, wantEvent)
	}
	got := f.deployment("web")
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q", got.Annotations[RevisionAnnotation])
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSCreated ||
		c.Message != fmt.Sprintf("Created new replica set %q", rs.Name) {
		t.Errorf("progressing %+v", c)
	}
	if got.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration %d", got.Status.ObservedGeneration)
	}
	if msg, done := rolloutStatus(t, got); done || !strings.Contains(msg, "0 out of 3 new replicas have been updated") {
		t.Errorf("rollout status %q %v", msg, done)
	}

	// The ReplicaSet controller brings the pods up: status follows, the rollout completes.
	f.setRSStatus(allAvailable)
	f.sync("web")
	got = f.deployment("web")
	want := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	if got.Status.Replicas != want.Replicas || got.Status.UpdatedReplicas != 3 || got.Status.ReadyReplicas != 3 ||
		got.Status.AvailableReplicas != 3 || got.Status.UnavailableReplicas != 0 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v", got.Status)
	}
	if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue ||
		c.Reason != ReasonMinimumAvailable || c.Message != "Deployment has minimum availability." {
		t.Errorf("available %+v", c)
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionTrue ||
		c.Reason != ReasonNewRSAvailable || c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name) {
		t.Errorf("progressing %+v", c)
	}
	if msg, done := rolloutStatus(t, got); !done || msg != "deployment \"web\" successfully rolled out\n" {
		t.Errorf("rollout status %q %v", msg, done)
	}
	// A resync with nothing to do writes nothing.
	if actions := f.sync("web"); len(actions) != 0 {
		t.Errorf("idle sync took actions %v", actions)
	}
}

func TestComputeHash(t *testing.T) {
	a := newDeployment("web", 1, "nginx:1").Spec.Template
	b := newDeployment("web", 1, "nginx:1").Spec.Template
	c := newDeployment("web", 1, "nginx:2").Spec.Template
	h := ComputeHash(&a, nil)
	if h != ComputeHash(&b, nil) {
		t.Error("equal templates hash differently")
	}
	if h == ComputeHash(&c, nil) {
		t.Error("different images hash the same")
	}
	if h == ComputeHash(&a, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
	for _, r := range h {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", r) {
			t.Errorf("hash %q has unsafe rune %q", h, r)
		}
	}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromInt32(0), intstr.FromString("10%"), 5, 0, 1}, // both zero: unavailable 1
		{intstr.FromInt32(2), intstr.FromInt32(1), 10, 2, 1},
		{intstr.FromString("50%"), intstr.FromString("50%"), 3, 2, 1},
	}
	for _, tt := range tests {
		s, u, err := resolveFenceposts(&tt.surge, &tt.unavailable, tt.desired)
		if err != nil || s != tt.wantS || u != tt.wantU {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tt.surge.String(), tt.unavailable.String(), tt.desired, s, u, err, tt.wantS, tt.wantU)
		}
	}
}

// TestRollingUpdateBounds changes the template and follows the rollout step by step, with new
// pods becoming available one step after they are created: at no point do the replica sets ask
// for more than replicas+maxSurge pods, nor do fewer than replicas-maxUnavailable stay available.
func TestRollingUpdateBounds(t *testing.T) {
	tests := []struct {
		replicas           int32
		surge, unavailable intstr.IntOrString
	}{
		{10, intstr.FromString("25%"), intstr.FromString("25%")},
		{10, intstr.FromInt32(3), intstr.FromInt32(2)},
		{3, intstr.FromInt32(1), intstr.FromInt32(0)},
		{3, intstr.FromInt32(0), intstr.FromInt32(1)},
		{5, intstr.FromString("30%"), intstr.FromInt32(0)},
		{1, intstr.FromString("25%"), intstr.FromString("25%")},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s-%s", tt.replicas, tt.surge.String(), tt.unavailable.String()), func(t *testing.T) {
			d := newDeployment("web", tt.replicas, "nginx:1")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tt.surge, MaxUnavailable: &tt.unavailable}
			f := newFixture(t, d)
			f.rollOut("web")
			maxS, maxU, _ := resolveFenceposts(&tt.surge, &tt.unavailable, tt.replicas)
			maxU = min(maxU, tt.replicas)

			f.updateDeployment("web", setImage("nginx:2"))
			// available tracks what each set had available; new pods become available one step later.
			prevSpec := map[string]int32{}
			for _, rs := range f.replicaSets() {
				prevSpec[rs.Name] = rsReplicas(rs)
			}
			for step := 0; ; step++ {
				if step > 60 {
					t.Fatal("rollout did not finish")
				}
				f.sync("web")
				rss := f.replicaSets()
				if total := sumSpecReplicas(rss); total > tt.replicas+maxS {
					t.Fatalf("step %d: %d pods requested, more than %d+%d", step, total, tt.replicas, maxS)
				}
				// Scale-downs remove available pods at once.
				avail := int32(0)
				for _, rs := range rss {
					avail += min(rs.Status.AvailableReplicas, rsReplicas(rs))
				}
				if avail < tt.replicas-maxU {
					t.Fatalf("step %d: %d available, fewer than %d-%d", step, avail, tt.replicas, maxU)
				}
				f.setRSStatus(func(rs *appsv1.ReplicaSet) int32 { return min(prevSpec[rs.Name], rsReplicas(rs)) })
				for _, rs := range rss {
					prevSpec[rs.Name] = rsReplicas(rs)
				}
				got := f.deployment("web")
				if msg, done := rolloutStatus(t, got); done {
					if msg != "deployment \"web\" successfully rolled out\n" {
						t.Fatalf("rollout status %q", msg)
					}
					break
				}
			}
			f.sync("web")
			newRS, oldRS := f.rsFor("nginx:2"), f.rsFor("nginx:1")
			if rsReplicas(newRS) != tt.replicas || rsReplicas(oldRS) != 0 {
				t.Errorf("new %d old %d replicas", rsReplicas(newRS), rsReplicas(oldRS))
			}
			got := f.deployment("web")
			if got.Annotations[RevisionAnnotation] != "2" || newRS.Annotations[RevisionAnnotation] != "2" {
				t.Errorf("revisions: deployment %q, new rs %q", got.Annotations[RevisionAnnotation], newRS.Annotations[RevisionAnnotation])
			}
			if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSAvailable {
				t.Errorf("progressing %+v", c)
			}
		})
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment("web", 3, "nginx:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	f := newFixture(t, d)
	f.rollOut("web")
	oldRS := f.rsFor("nginx:1")
	// Pods of the old set, running.
	for i := 0; i < 3; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-old-%d", i), Namespace: "default", Labels: oldRS.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(oldRS, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		if _, err := f.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.events = nil
	f.updateDeployment("web", setImage("nginx:2"))

	// 1: the old set goes to 0, no new set yet.
	actions := f.sync("web")
	if countVerb(actions, "create", "replicasets") != 0 || rsReplicas(f.rsFor("nginx:1")) != 0 {
		t.Fatalf("first step: %v", actions)
	}
	// 2: its pods are still terminating (status.replicas 3): wait.
	f.sync("web")
	if f.rsFor("nginx:2") != nil {
		t.Fatal("new replica set created while old pods remain")
	}
	// 3: the set reports 0 but a pod is still running: wait.
	f.setRSStatus(allAvailable)
	f.sync("web")
	if f.rsFor("nginx:2") != nil {
		t.Fatal("new replica set created while an old pod runs")
	}
	// 4: the pods are gone (one Succeeded pod does not count): the new set comes at full size.
	for i := 0; i < 3; i++ {
		if err := f.client.CoreV1().Pods("default").Delete(context.Background(), fmt.Sprintf("web-old-%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.sync("web")
	newRS := f.rsFor("nginx:2")
	if newRS == nil || rsReplicas(newRS) != 3 {
		t.Fatalf("new replica set %+v", newRS)
	}
	want := []string{
		fmt.Sprintf("Normal ScalingReplicaSet Scaled down replica set %s from 3 to 0", oldRS.Name),
		fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set %s from 0 to 3", newRS.Name),
	}
	if fmt.Sprint(f.events) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", f.events, want)
	}
	f.rollOut("web")
	if msg, done := rolloutStatus(t, f.deployment("web")); !done {
		t.Errorf("rollout status %q", msg)
	}
}

// twoSetDeployment is a rollout caught in the middle: old set 8, new set 5, sized for a
// deployment of 10 with maxSurge 3.
func twoSetDeployment() (*appsv1.Deployment, *appsv1.ReplicaSet, *appsv1.ReplicaSet) {
	d := newDeployment("web", 10, "nginx:2")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(3)), MaxUnavailable: ptr.To(intstr.FromInt32(2))}
	d.Annotations = map[string]string{RevisionAnnotation: "2"}
	mk := func(image, rev string, n int32, created time.Time) *appsv1.ReplicaSet {
		tmpl := *d.Spec.Template.DeepCopy()
		tmpl.Spec.Containers[0].Image = image
		hash := ComputeHash(&tmpl, nil)
		tmpl.Labels = cloneWith(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-" + hash, Namespace: "default", UID: types.UID("rs-" + rev), Labels: tmpl.Labels,
				CreationTimestamp: metav1.NewTime(created),
				Annotations:       map[string]string{RevisionAnnotation: rev, DesiredReplicasAnnotation: "10", MaxReplicasAnnotation: "13"},
				OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			},
			Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl},
			Status: appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n},
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return d, mk("nginx:1", "1", 8, base), mk("nginx:2", "2", 5, base.Add(time.Minute))
}

func TestProportionalScaling(t *testing.T) {
	tests := []struct {
		name             string
		replicas         int32
		paused           bool
		wantOld, wantNew int32
		wantDesired, max string
	}{
		{"up mid-rollout", 15, false, 11, 7, "15", "18"},
		{"down mid-rollout", 5, false, 5, 3, "5", "8"},
		{"up while paused", 20, true, 14, 9, "20", "23"},
		{"to zero", 0, false, 0, 0, "0", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, oldRS, newRS := twoSetDeployment()
			d.Spec.Replicas = ptr.To(tt.replicas)
			d.Spec.Paused = tt.paused
			f := newFixture(t, d, oldRS, newRS)
			actions := f.sync("web")
			if countVerb(actions, "create", "replicasets") != 0 {
				t.Fatalf("a scaling event created a replica set: %v", actions)
			}
			o, n := f.rsFor("nginx:1"), f.rsFor("nginx:2")
			if rsReplicas(o) != tt.wantOld || rsReplicas(n) != tt.wantNew {
				t.Errorf("old %d new %d, want %d %d", rsReplicas(o), rsReplicas(n), tt.wantOld, tt.wantNew)
			}
			for _, rs := range []*appsv1.ReplicaSet{o, n} {
				if rs.Annotations[DesiredReplicasAnnotation] != tt.wantDesired || rs.Annotations[MaxReplicasAnnotation] != tt.max {
					t.Errorf("%s annotations %v", rs.Name, rs.Annotations)
				}
			}
		})
	}
}

func TestPauseAndResume(t *testing.T) {
	d := newDeployment("web", 4, "nginx:1")
	f := newFixture(t, d)
	f.rollOut("web")
	f.updateDeployment("web", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	})
	actions := f.sync("web")
	if countVerb(actions, "create", "replicasets") != 0 || f.rsFor("nginx:2") != nil {
		t.Fatalf("paused deployment rolled out: %v", actions)
	}
	got := f.deployment("web")
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonPaused ||
		c.Status != corev1.ConditionUnknown || c.Message != "Deployment is paused" {
		t.Errorf("progressing %+v", c)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	// Scaling still applies while paused.
	f.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](6) })
	f.sync("web")
	if n := rsReplicas(f.rsFor("nginx:1")); n != 6 {
		t.Errorf("paused scale: %d replicas, want 6", n)
	}
	if f.rsFor("nginx:2") != nil {
		t.Error("paused deployment rolled out on scale")
	}
	// Resume: the Progressing condition says so and the rollout starts.
	f.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	actions = f.sync("web")
	resumed := false
	for _, a := range actions {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			d := a.(interface{ GetObject() runtime.Object }).GetObject().(*appsv1.Deployment)
			if c := getCondition(d.Status, appsv1.DeploymentProgressing); c != nil && c.Reason == ReasonResumed && c.Message == "Deployment is resumed" {
				resumed = true
			}
		}
	}
	if !resumed {
		t.Error("no DeploymentResumed condition written")
	}
	if f.rsFor("nginx:2") == nil {
		t.Error("resumed deployment did not start its rollout")
	}
	f.rollOut("web")
	if n := rsReplicas(f.rsFor("nginx:2")); n != 6 {
		t.Errorf("after rollout %d replicas, want 6", n)
	}
}

func TestRevisionsHistoryLimitAndRollback(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	f := newFixture(t, d)
	f.rollOut("web")
	for _, img := range []string{"nginx:2", "nginx:3"} {
		f.updateDeployment("web", setImage(img))
		f.rollOut("web")
	}
	// Revision 1 is beyond the limit of one old set: deleted. Revision 2 stays, at 0.
	if f.rsFor("nginx:1") != nil {
		t.Error("revision 1 was not cleaned up")
	}
	rs2, rs3 := f.rsFor("nginx:2"), f.rsFor("nginx:3")
	if rs2 == nil || rs2.Annotations[RevisionAnnotation] != "2" || rsReplicas(rs2) != 0 {
		t.Fatalf("revision 2 set: %+v", rs2)
	}
	if rs3.Annotations[RevisionAnnotation] != "3" || f.deployment("web").Annotations[RevisionAnnotation] != "3" {
		t.Errorf("revision 3: rs %q deployment %q", rs3.Annotations[RevisionAnnotation], f.deployment("web").Annotations[RevisionAnnotation])
	}

	// `kubectl rollout undo` puts revision 2's template back: that set is reused, renumbered 4.
	f.updateDeployment("web", func(d *appsv1.Deployment) {
		d.Spec.Template = *rs2.Spec.Template.DeepCopy()
		delete(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	})
	creates := 0
	for i := 0; i < 30; i++ {
		creates += countVerb(f.sync("web"), "create", "replicasets")
		f.setRSStatus(allAvailable)
		if got := f.deployment("web"); deploymentComplete(got, &got.Status) && rsReplicas(f.rsFor("nginx:3")) == 0 {
			break
		}
	}
	if creates != 0 {
		t.Errorf("rollback created %d replica sets", creates)
	}
	rs2 = f.rsFor("nginx:2")
	if rs2.Name != "web-"+rs2.Labels[appsv1.DefaultDeploymentUniqueLabelKey] || rsReplicas(rs2) != 2 {
		t.Errorf("reused set %s with %d replicas", rs2.Name, rsReplicas(rs2))
	}
	if rs2.Annotations[RevisionAnnotation] != "4" || rs2.Annotations[RevisionHistoryAnnotation] != "2" {
		t.Errorf("reused set annotations %v", rs2.Annotations)
	}
	if got := f.deployment("web").Annotations[RevisionAnnotation]; got != "4" {
		t.Errorf("deployment revision %q, want 4", got)
	}
}

func TestAdoptionAndRelease(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	hash := ComputeHash(&d.Spec.Template, nil)
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels = cloneWith(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", UID: "orphan", Labels: tmpl.Labels},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl},
	}
	strayed := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "strayed", Namespace: "default", UID: "strayed", Labels: map[string]string{"app": "other"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}},
	}
	other := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default", UID: "uid-other"}}
	foreign := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "default", UID: "foreign", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(other, controllerKind)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	f := newFixture(t, d, orphan, strayed, foreign)
	actions := f.sync("web")
	if countVerb(actions, "create", "replicasets") != 0 {
		t.Errorf("created a replica set although one matching was adopted: %v", actions)
	}
	if countVerb(actions, "patch", "replicasets") != 2 {
		t.Errorf("want 2 patches (adopt, release): %v", actions)
	}
	for _, rs := range f.replicaSets() {
		ref := metav1.GetControllerOf(rs)
		switch rs.Name {
		case orphan.Name:
			if ref == nil || ref.UID != d.UID || !ptr.Deref(ref.Controller, false) {
				t.Errorf("orphan not adopted: %+v", rs.OwnerReferences)
			}
			if rs.Annotations[RevisionAnnotation] != "1" {
				t.Errorf("adopted set revision %q", rs.Annotations[RevisionAnnotation])
			}
		case "strayed":
			if len(rs.OwnerReferences) != 0 {
				t.Errorf("strayed set not released: %+v", rs.OwnerReferences)
			}
		case "foreign":
			if ref == nil || ref.UID != other.UID {
				t.Errorf("foreign set touched: %+v", rs.OwnerReferences)
			}
		}
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](10)
	f := newFixture(t, d)
	f.sync("web")
	f.setRSStatus(func(*appsv1.ReplicaSet) int32 { return 0 }) // pods never become available
	f.sync("web")
	got := f.deployment("web")
	if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumUnavailable ||
		c.Message != "Deployment does not have minimum availability." {
		t.Errorf("available %+v", c)
	}
	if got.Status.UnavailableReplicas != 2 {
		t.Errorf("unavailableReplicas %d", got.Status.UnavailableReplicas)
	}
	f.sync("web")
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Reason == ReasonTimedOut {
		t.Fatalf("timed out early: %+v", c)
	}
	f.now = f.now.Add(11 * time.Second)
	f.sync("web")
	got = f.deployment("web")
	rs := f.replicaSets()[0]
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonTimedOut ||
		c.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", rs.Name) {
		t.Errorf("progressing %+v", c)
	}
	if msg, _ := rolloutStatus(t, got); msg != "deployment \"web\" exceeded its progress deadline" {
		t.Errorf("rollout status %q", msg)
	}
}

func TestRequeueStuckDeployment(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	f := newFixture(t, d)
	now := f.now
	d.Status.Conditions = []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, "", now.Add(-time.Minute))}
	if got := f.c.requeueStuckDeployment(context.Background(), d, appsv1.DeploymentStatus{}); got != 9*time.Minute {
		t.Errorf("requeue after %v, want 9m", got)
	}
	d.Spec.ProgressDeadlineSeconds = nil
	if got := f.c.requeueStuckDeployment(context.Background(), d, appsv1.DeploymentStatus{}); got != -1 {
		t.Errorf("requeue without deadline: %v", got)
	}
}

func TestSelectingAll(t *testing.T) {
	d := newDeployment("web", 1, "nginx:1")
	d.Spec.Selector = &metav1.LabelSelector{}
	f := newFixture(t, d)
	actions := f.sync("web")
	if countVerb(actions, "create", "replicasets") != 0 {
		t.Errorf("created a replica set: %v", actions)
	}
	if len(eventsContaining(f.events, "SelectingAll")) != 1 {
		t.Errorf("events %q", f.events)
	}
	if got := f.deployment("web"); got.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration %d", got.Status.ObservedGeneration)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	client := fake.NewClientset(newDeployment("web", 1, "nginx:1"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, record.NewFakeRecorder(100))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, 2)
		close(done)
	}()
	// The running controller creates the replica set.
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica set created by the running controller")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	factory.Shutdown()
}

// An old set just scaled down (spec 3) whose controller has not synced yet still reports 4
// available. Counting those would let the next sync scale it to 1 and leave 2 available,
// under the 3 maxUnavailable allows.
func TestRollingUpdateStaleStatusKeepsMinAvailable(t *testing.T) {
	f := newFixture(t, newDeployment("web", 4, "nginx:1"))
	f.rollOut("web")
	f.updateDeployment("web", setImage("nginx:2"))
	f.sync("web") // creates the new set
	newRS, oldRS := f.rsFor("nginx:2"), f.rsFor("nginx:1")
	if newRS == nil || oldRS == nil {
		t.Fatal("no new replica set after the template change")
	}
	set := func(rs *appsv1.ReplicaSet, spec, available int32) {
		rs.Spec.Replicas = ptr.To(spec)
		updated, err := f.client.AppsV1().ReplicaSets("default").Update(context.Background(), rs, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		updated.Status.Replicas, updated.Status.ReadyReplicas, updated.Status.AvailableReplicas = available, available, available
		if _, err := f.client.AppsV1().ReplicaSets("default").UpdateStatus(context.Background(), updated, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set(oldRS, 3, 4) // scaled down, status not caught up
	set(newRS, 2, 1)
	f.sync("web")
	old := f.rsFor("nginx:1")
	if got := rsReplicas(old); got < 2 {
		t.Fatalf("old replica set scaled to %d: with the new set's 1 available that is %d available, below the minimum of 3", got, got+1)
	}
}
