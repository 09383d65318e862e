package job

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
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
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const ns = "default"

// fixture is a Job controller on a fake clientset whose informer caches the test fills
// from the clientset with refresh (the informers are never started), calling the
// controller's event handlers as an informer would.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	c        *Controller
	rv       atomic.Int64
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, recorder: record.NewFakeRecorder(1000), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*v1.Pod)
		if pod.Name == "" && pod.GenerateName != "" {
			pod.Name = fmt.Sprintf("%s%05d", pod.GenerateName, n.Add(1))
		}
		pod.UID = types.UID("uid-" + pod.Name)
		pod.CreationTimestamp = metav1.NewTime(f.clock.Now())
		return false, nil, nil
	})
	// A pod delete is graceful, as the API server's: it sets deletionTimestamp and the
	// pod stays until the test makes the kubelet finish (gone).
	f.client.PrependReactor("delete", "pods", func(a core.Action) (bool, runtime.Object, error) {
		name := a.(core.DeleteAction).GetName()
		obj, err := f.client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), ns, name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if pod.DeletionTimestamp == nil {
			pod.DeletionTimestamp = ptr.To(metav1.NewTime(f.clock.Now()))
			pod.DeletionGracePeriodSeconds = ptr.To[int64](30)
		}
		return true, nil, f.client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), pod, ns)
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newWithClock(f.client, f.factory, f.recorder, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	c.batchPeriod = 0
	f.c = c
	t.Cleanup(func() { c.queue.ShutDown(); c.orphanQueue.ShutDown() })
	f.refresh()
	return f
}

// refresh copies the clientset's Jobs and Pods into the informer caches, calling the
// controller's handlers for what changed.
func (f *fixture) refresh() {
	f.t.Helper()
	jobs, err := f.client.BatchV1().Jobs(ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	jobIdx := f.factory.Batch().V1().Jobs().Informer().GetIndexer()
	for i := range jobs.Items {
		j := &jobs.Items[i]
		old, exists, _ := jobIdx.GetByKey(ns + "/" + j.Name)
		if exists {
			cmp := j.DeepCopy()
			cmp.ResourceVersion = old.(*batchv1.Job).ResourceVersion
			if apiequality.Semantic.DeepEqual(old, cmp) {
				continue
			}
		}
		j.ResourceVersion = strconv.FormatInt(f.rv.Add(1), 10)
		if err := jobIdx.Update(j); err != nil {
			f.t.Fatal(err)
		}
	}
	pods, err := f.client.CoreV1().Pods(ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	podIdx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	seen := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		seen[p.Name] = true
		old, exists, _ := podIdx.GetByKey(ns + "/" + p.Name)
		if exists {
			oldPod := old.(*v1.Pod)
			cmp := p.DeepCopy()
			cmp.ResourceVersion = oldPod.ResourceVersion
			if apiequality.Semantic.DeepEqual(oldPod, cmp) {
				continue
			}
		}
		p.ResourceVersion = strconv.FormatInt(f.rv.Add(1), 10)
		if err := podIdx.Update(p); err != nil {
			f.t.Fatal(err)
		}
		if exists {
			f.c.updatePod(old, p)
		} else {
			f.c.addPod(p)
		}
	}
	for _, o := range podIdx.List() {
		if p := o.(*v1.Pod); !seen[p.Name] {
			if err := podIdx.Delete(p); err != nil {
				f.t.Fatal(err)
			}
			f.c.deletePod(p, true)
		}
	}
}

// sync refreshes the caches, clears the recorded actions and syncs the Job.
func (f *fixture) sync(name string) error {
	f.t.Helper()
	f.refresh()
	f.client.ClearActions()
	return f.c.syncJob(f.ctx, ns+"/"+name)
}

func (f *fixture) mustSync(name string) {
	f.t.Helper()
	if err := f.sync(name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs(ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) updateJob(j *batchv1.Job) {
	f.t.Helper()
	j.Generation++
	if _, err := f.client.BatchV1().Jobs(ns).Update(f.ctx, j, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// pods returns the pods in the clientset, sorted by name.
func (f *fixture) pods() []*v1.Pod {
	f.t.Helper()
	list, err := f.client.CoreV1().Pods(ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*v1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	slices.SortFunc(out, func(a, b *v1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *fixture) activePods() []*v1.Pod {
	var out []*v1.Pod
	for _, p := range f.pods() {
		if p.DeletionTimestamp == nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// finish makes the kubelet end pod name in phase, its container exiting with code at now.
func (f *fixture) finish(name string, phase v1.PodPhase, code int32) {
	f.t.Helper()
	pod := f.getPod(name)
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []v1.ContainerStatus{{
		Name: "c",
		State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
			ExitCode: code, FinishedAt: metav1.NewTime(f.clock.Now()),
		}},
	}}
	f.updatePod(pod)
}

func (f *fixture) setReady(name string) {
	f.t.Helper()
	pod := f.getPod(name)
	pod.Status.Phase = v1.PodRunning
	pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	f.updatePod(pod)
}

// gone removes a pod as the API server does once the kubelet confirmed it stopped and
// no finalizer holds it.
func (f *fixture) gone(name string) {
	f.t.Helper()
	pod := f.getPod(name)
	if len(pod.Finalizers) > 0 {
		f.t.Fatalf("pod %s still has finalizers %v", name, pod.Finalizers)
	}
	if err := f.client.Tracker().Delete(v1.SchemeGroupVersion.WithResource("pods"), ns, name); err != nil {
		f.t.Fatal(err)
	}
}

// goneAll removes every terminating pod.
func (f *fixture) goneAll() {
	for _, p := range f.pods() {
		if p.DeletionTimestamp != nil {
			f.gone(p.Name)
		}
	}
}

func (f *fixture) getPod(name string) *v1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods(ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) updatePod(p *v1.Pod) {
	f.t.Helper()
	if err := f.client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), p, ns); err != nil {
		f.t.Fatal(err)
	}
}

// writes returns "verb resource[/subresource] name" of every write since the last sync.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		name := ""
		switch a := a.(type) {
		case core.DeleteAction:
			name = a.GetName()
		case core.PatchAction:
			name = a.GetName()
		}
		out = append(out, strings.TrimSpace(a.GetVerb()+" "+res+" "+name))
	}
	return out
}

func (f *fixture) count(prefix string) int {
	n := 0
	for _, w := range f.writes() {
		if strings.HasPrefix(w, prefix) {
			n++
		}
	}
	return n
}

// statusUpdates returns the Job statuses written since the last sync, in order.
func (f *fixture) statusUpdates() []batchv1.JobStatus {
	var out []batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			out = append(out, a.(core.UpdateAction).GetObject().(*batchv1.Job).Status)
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

// newJob returns a Job as the API server stores it: defaulted, with the generated selector.
func newJob(name string, completions, parallelism *int32, mods ...func(*batchv1.Job)) *batchv1.Job {
	uid := types.UID("job-uid-" + name)
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: uid, Generation: 1},
		Spec: batchv1.JobSpec{
			Completions:          completions,
			Parallelism:          parallelism,
			BackoffLimit:         ptr.To[int32](6),
			CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
			Suspend:              ptr.To(false),
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			ManualSelector:       ptr.To(false),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
					batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: name,
					"controller-uid": string(uid), "job-name": name,
				}},
				Spec: v1.PodSpec{
					RestartPolicy: v1.RestartPolicyNever,
					Containers:    []v1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func conditionTypes(conds []batchv1.JobCondition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return out
}
