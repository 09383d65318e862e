package replicaset

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
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
	created []*v1.Pod // pods created since the last sync, with their generated names
}

// newFixture builds a controller whose informer caches are filled by hand
// (never started), so a test decides what the informer has seen.
func newFixture(t *testing.T, rc bool, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, recorder: record.NewFakeRecorder(1000), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*v1.Pod)
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
	var err error
	if rc {
		f.c, err = NewReplicationManager(f.client, f.factory, f.recorder)
	} else {
		f.c, err = New(f.client, f.factory, f.recorder)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.c.clock = f.clock
	f.c.expectations = expectations.New(f.clock)
	for _, o := range objs {
		f.addToCache(o)
	}
	return f
}

func (f *fixture) addToCache(o runtime.Object) {
	f.t.Helper()
	var err error
	switch o := o.(type) {
	case *v1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
	case *apps.ReplicaSet:
		err = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
	case *v1.ReplicationController:
		err = f.factory.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(key string) error {
	f.t.Helper()
	f.client.ClearActions()
	f.mu.Lock()
	f.created = nil
	f.mu.Unlock()
	return f.c.sync(f.ctx, key)
}

// actions returns "verb resource[/subresource]" of every write.
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

func (f *fixture) count(verb, resource, sub string) int {
	n := 0
	for _, a := range f.writes() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == sub {
			n++
		}
	}
	return n
}

func (f *fixture) createdPods() []*v1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created)
}

func (f *fixture) deletedPods() []string {
	var out []string
	for _, a := range f.writes() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(core.DeleteAction).GetName())
		}
	}
	return out
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

func (f *fixture) lastRSStatus() *apps.ReplicaSetStatus {
	var st *apps.ReplicaSetStatus
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			switch o := a.(core.UpdateAction).GetObject().(type) {
			case *apps.ReplicaSet:
				st = &o.Status
			case *v1.ReplicationController:
				st = &rcToRS(o).Status
			}
		}
	}
	return st
}

var labelsApp = map[string]string{"app": "web"}

func newRS(name string, replicas int32) *apps.ReplicaSet {
	return &apps.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: apps.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labelsApp},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"a": "b"}},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

type podOpt func(*v1.Pod)

func newPod(name string, owner metav1.Object, kind string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            map[string]string{"app": "web", "tier": "front"},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
		},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
	p.Spec.NodeName = "node1"
	if owner != nil {
		gv := "apps/v1"
		if kind == "ReplicationController" {
			gv = "v1"
		}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: gv, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
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
func phase(ph v1.PodPhase) podOpt          { return func(p *v1.Pod) { p.Status.Phase = ph } }
func node(n string) podOpt                 { return func(p *v1.Pod) { p.Spec.NodeName = n } }
func created(t time.Time) podOpt           { return func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(t) } }
func podLabels(l map[string]string) podOpt { return func(p *v1.Pod) { p.Labels = l } }
func restarts(n int32) podOpt {
	return func(p *v1.Pod) { p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", RestartCount: n}} }
}
func terminating() podOpt {
	return func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }
}

func apiequalityDeepEqual(a, b any) bool { return apiequality.Semantic.DeepEqual(a, b) }
