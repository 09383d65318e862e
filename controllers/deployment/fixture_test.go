package deployment

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// fixture drives the controller over a fake clientset; the informer caches are refilled from
// the clientset around every sync, so each test sees exactly what the controller wrote.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	recorder *record.FakeRecorder
	now      time.Time
	uids     int
	events   []string
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.client = fake.NewClientset(objs...)
	// The fake tracker sets neither UIDs nor creation timestamps: the API server would.
	f.client.PrependReactor("create", "*", func(a core.Action) (bool, runtime.Object, error) {
		obj := a.(core.CreateAction).GetObject().(metav1.Object)
		f.uids++
		if obj.GetUID() == "" {
			obj.SetUID(types.UID(fmt.Sprintf("uid-%d", f.uids)))
		}
		f.now = f.now.Add(time.Second)
		obj.SetCreationTimestamp(metav1.NewTime(f.now))
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.recorder = record.NewFakeRecorder(1000)
	c, err := New(f.client, f.factory, f.recorder)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.now = func() time.Time { return f.now }
	f.c = c
	return f
}

func (f *fixture) refreshCaches() {
	f.t.Helper()
	ctx := context.Background()
	ds, err := f.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var items []interface{}
	for i := range ds.Items {
		items = append(items, &ds.Items[i])
	}
	if err := f.factory.Apps().V1().Deployments().Informer().GetIndexer().Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
	rss, err := f.client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	items = nil
	for i := range rss.Items {
		items = append(items, &rss.Items[i])
	}
	if err := f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one reconcile of default/name and returns the actions it took.
func (f *fixture) sync(name string) []core.Action {
	f.t.Helper()
	f.refreshCaches()
	f.client.ClearActions()
	if err := f.c.syncDeployment(context.Background(), "default/"+name); err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
	actions := f.client.Actions()
	f.drainEvents()
	return actions
}

func (f *fixture) drainEvents() {
	for {
		select {
		case e := <-f.recorder.Events:
			f.events = append(f.events, e)
		default:
			return
		}
	}
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	f.t.Helper()
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) updateDeployment(name string, mutate func(*appsv1.Deployment)) {
	f.t.Helper()
	d := f.deployment(name)
	mutate(d)
	d.Generation++ // the API server's job
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// replicaSets returns the replica sets oldest first.
func (f *fixture) replicaSets() []*appsv1.ReplicaSet {
	f.t.Helper()
	list, err := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Sort(byCreation(out))
	return out
}

// setRSStatus plays the ReplicaSet controller: status.replicas follows spec at once and
// available is what avail returns for the set.
func (f *fixture) setRSStatus(avail func(rs *appsv1.ReplicaSet) int32) {
	f.t.Helper()
	for _, rs := range f.replicaSets() {
		a := avail(rs)
		rs.Status.Replicas = rsReplicas(rs)
		rs.Status.ReadyReplicas = a
		rs.Status.AvailableReplicas = a
		rs.Status.ObservedGeneration = rs.Generation
		if _, err := f.client.AppsV1().ReplicaSets("default").UpdateStatus(context.Background(), rs, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// allAvailable makes every replica of every set available.
func allAvailable(rs *appsv1.ReplicaSet) int32 { return rsReplicas(rs) }

// rollOut syncs and marks everything available until the deployment is complete.
func (f *fixture) rollOut(name string) {
	f.t.Helper()
	for i := 0; i < 30; i++ {
		f.sync(name)
		f.setRSStatus(allAvailable)
		d := f.deployment(name)
		if deploymentComplete(d, &d.Status) && len(filterActive(f.replicaSets())) == 1 {
			f.sync(name)
			return
		}
	}
	f.t.Fatalf("deployment %s did not complete", name)
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

// rsFor returns the replica set running image, or nil.
func (f *fixture) rsFor(image string) *appsv1.ReplicaSet {
	for _, rs := range f.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

func countVerb(actions []core.Action, verb, resource string) int {
	n := 0
	for _, a := range actions {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			n++
		}
	}
	return n
}

func eventsContaining(events []string, s string) []string {
	var out []string
	for _, e := range events {
		if strings.Contains(e, s) {
			out = append(out, e)
		}
	}
	return out
}
