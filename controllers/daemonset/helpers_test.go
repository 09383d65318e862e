package daemonset

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/expectations"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	c        *Controller

	mu      sync.Mutex
	created []*v1.Pod
}

// newFixture builds a controller whose informer caches are filled by hand (never started):
// objs go both to the fake API server and to the caches.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, recorder: record.NewFakeRecorder(1000), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*v1.Pod)
		pod.Namespace = a.GetNamespace()
		if pod.Name == "" && pod.GenerateName != "" {
			pod.Name = fmt.Sprintf("%s%05d", pod.GenerateName, n.Add(1))
			pod.UID = types.UID(pod.Name)
		}
		f.mu.Lock()
		f.created = append(f.created, pod.DeepCopy())
		f.mu.Unlock()
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(f.client, f.factory, f.recorder)
	if err != nil {
		t.Fatal(err)
	}
	c.clock = f.clock
	c.creations = expectations.New(f.clock)
	c.deletions = expectations.New(f.clock)
	c.failedPodsBackoff = flowcontrol.NewFakeBackOff(failedPodBackoffInitial, failedPodBackoffMax, clocktesting.NewFakeClock(t0))
	f.c = c
	for _, o := range objs {
		f.addToCache(o)
	}
	return f
}

func (f *fixture) indexerFor(o runtime.Object) interface {
	Add(any) error
	Update(any) error
	Delete(any) error
} {
	switch o.(type) {
	case *v1.Pod:
		return f.factory.Core().V1().Pods().Informer().GetIndexer()
	case *v1.Node:
		return f.factory.Core().V1().Nodes().Informer().GetIndexer()
	case *apps.DaemonSet:
		return f.factory.Apps().V1().DaemonSets().Informer().GetIndexer()
	}
	f.t.Fatalf("no cache for %T", o)
	return nil
}

func (f *fixture) addToCache(o runtime.Object) {
	f.t.Helper()
	if err := f.indexerFor(o).Add(o); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) removeFromCache(o runtime.Object) {
	f.t.Helper()
	if err := f.indexerFor(o).Delete(o); err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one reconcile of ds, recording only its actions and created pods.
func (f *fixture) sync(ds *apps.DaemonSet) error {
	f.t.Helper()
	f.client.ClearActions()
	f.mu.Lock()
	f.created = nil
	f.mu.Unlock()
	return f.c.sync(f.ctx, keyOf(ds))
}

func (f *fixture) mustSync(ds *apps.DaemonSet) {
	f.t.Helper()
	if err := f.sync(ds); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) writes() []core.Action {
	var out []core.Action
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, a)
	}
	return out
}

func (f *fixture) createdPods() []*v1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created)
}

// createdOnNodes returns the target nodes of the pods created, sorted.
func (f *fixture) createdOnNodes() []string {
	var out []string
	for _, p := range f.createdPods() {
		n, err := TargetNodeName(p)
		if err != nil {
			f.t.Fatalf("created pod %s: %v", p.Name, err)
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) deletedPods() []string {
	var out []string
	for _, a := range f.writes() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(core.DeleteAction).GetName())
		}
	}
	sort.Strings(out)
	return out
}

// forcedPods are the pods deleted with a zero grace period.
func (f *fixture) forcedPods() []string {
	var out []string
	for _, a := range f.writes() {
		if d, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "pods" {
			if g := d.GetDeleteOptions().GracePeriodSeconds; g != nil && *g == 0 {
				out = append(out, d.GetName())
			}
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) lastStatus() *apps.DaemonSetStatus {
	var st *apps.DaemonSetStatus
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			st = &a.(core.UpdateAction).GetObject().(*apps.DaemonSet).Status
		}
	}
	return st
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// --- objects ---

var dsLabels = map[string]string{"app": "agent"}

type dsOpt func(*apps.DaemonSet)

func newDS(name string, opts ...dsOpt) *apps.DaemonSet {
	ds := &apps.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: apps.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: dsLabels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "agent:v1"}}},
			},
			UpdateStrategy: apps.DaemonSetUpdateStrategy{
				Type: apps.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &apps.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)),
					MaxSurge:       ptr.To(intstr.FromInt32(0)),
				},
			},
		},
	}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func image(img string) dsOpt {
	return func(ds *apps.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = img }
}

func rolling(maxUnavailable, maxSurge intstr.IntOrString) dsOpt {
	return func(ds *apps.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &apps.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge}
	}
}

func onDelete() dsOpt {
	return func(ds *apps.DaemonSet) {
		ds.Spec.UpdateStrategy = apps.DaemonSetUpdateStrategy{Type: apps.OnDeleteDaemonSetStrategyType}
	}
}

func minReady(s int32) dsOpt { return func(ds *apps.DaemonSet) { ds.Spec.MinReadySeconds = s } }

func nodeSelector(sel map[string]string) dsOpt {
	return func(ds *apps.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = sel }
}

func hashOf(t *testing.T, ds *apps.DaemonSet) string {
	t.Helper()
	h, err := TemplateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type nodeOpt func(*v1.Node)

func newNode(name string, opts ...nodeOpt) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1", Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeLabel(k, v string) nodeOpt { return func(n *v1.Node) { n.Labels[k] = v } }
func taint(key string, effect v1.TaintEffect) nodeOpt {
	return func(n *v1.Node) { n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Effect: effect}) }
}

type podOpt func(*v1.Pod)

// newDaemonPod is a running pod of ds bound to nodeName with ds's current template hash,
// created an hour before t0.
func newDaemonPod(t *testing.T, name string, ds *apps.DaemonSet, nodeName string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            map[string]string{"app": "agent", HashLabel: hashOf(t, ds)},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec:   v1.PodSpec{NodeName: nodeName, Affinity: SetNodeAffinity(nil, nodeName)},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(since time.Time) podOpt {
	return func(p *v1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)})
	}
}

// readyLong is ready for an hour before t0: available under any minReadySeconds used here.
func readyLong() podOpt { return ready(t0.Add(-time.Hour)) }

// hashFrom labels the pod with the hash of another DaemonSet version (an old template).
func hashFrom(t *testing.T, ds *apps.DaemonSet) podOpt {
	return func(p *v1.Pod) { p.Labels[HashLabel] = hashOf(t, ds) }
}
func phase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }
func unbound() podOpt             { return func(p *v1.Pod) { p.Spec.NodeName = "" } }
func createdAt(t time.Time) podOpt {
	return func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func terminating() podOpt {
	return func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }
}
