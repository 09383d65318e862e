package cronjob

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the time zone cases must not depend on the machine's zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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

// TestMain pins the controller's local time zone (used for schedules without spec.timeZone,
// as in kube-controller-manager) to UTC, so expectations do not depend on the machine.
func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// t0 is a Thursday, on the hour.
var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	c        *Controller
}

// newFixture builds a controller at now whose informer caches hold objs, filled by hand
// (the factory is never started). The client holds objs too, and gives created Jobs a UID.
func newFixture(t *testing.T, now time.Time, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, recorder: record.NewFakeRecorder(1000), clock: clocktesting.NewFakeClock(now)}
	f.client = fake.NewClientset(objs...)
	f.client.PrependReactor("create", "jobs", func(a core.Action) (bool, runtime.Object, error) {
		j := a.(core.CreateAction).GetObject().(*batchv1.Job)
		if j.UID == "" {
			j.UID = types.UID("uid-" + j.Name)
		}
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := NewWithClock(f.client, f.factory, f.recorder, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(c.queue.ShutDown)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *batchv1.CronJob:
			err = f.factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(o)
		case *batchv1.Job:
			err = f.factory.Batch().V1().Jobs().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// events drains the recorded events ("Type Reason Message").
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

// reasons are the reasons of events.
func reasons(events []string) []string {
	var out []string
	for _, e := range events {
		if parts := strings.SplitN(e, " ", 3); len(parts) > 1 {
			out = append(out, parts[1])
		}
	}
	return out
}

// writes lists the fake client's write actions as "verb resource[/subresource] name".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		verb := a.GetVerb()
		if verb == "get" || verb == "list" || verb == "watch" {
			continue
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		var name string
		switch a := a.(type) {
		case core.CreateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case core.UpdateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case core.DeleteAction:
			name = a.GetName()
		}
		out = append(out, verb+" "+res+" "+name)
	}
	return out
}

func (f *fixture) createdJobs() []*batchv1.Job {
	var out []*batchv1.Job
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "jobs" {
			out = append(out, c.GetObject().(*batchv1.Job))
		}
	}
	return out
}

// statusUpdate returns the last status written, or nil.
func (f *fixture) statusUpdate() *batchv1.CronJob {
	var last *batchv1.CronJob
	for _, a := range f.client.Actions() {
		if u, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			last = u.GetObject().(*batchv1.CronJob)
		}
	}
	return last
}

func newCronJob(schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "cj", Namespace: "ns", UID: "cj-uid", ResourceVersion: "5",
			CreationTimestamp: metav1.NewTime(t0),
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedule,
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "report"}, Annotations: map[string]string{"team": "ops"}},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr.To[int32](2),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyOnFailure,
						Containers:    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"date"}}},
					}},
				},
			},
		},
	}
}

// jobState is the state of a Job of the test CronJob.
type jobState int

const (
	running jobState = iota
	succeeded
	failed
)

// newJob is a Job of cj for a schedule time, started then and, unless running, finished a
// minute later.
func newJob(cj *batchv1.CronJob, scheduled time.Time, state jobState) *batchv1.Job {
	j, err := jobFor(cj, scheduled)
	if err != nil {
		panic(err)
	}
	j.UID = types.UID("uid-" + j.Name)
	j.ResourceVersion = "3"
	j.CreationTimestamp = metav1.NewTime(scheduled)
	j.Status.StartTime = ptr.To(metav1.NewTime(scheduled))
	done := metav1.NewTime(scheduled.Add(time.Minute))
	switch state {
	case succeeded:
		j.Status.CompletionTime = &done
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: done}}
	case failed:
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: done}}
	}
	return j
}

func refTo(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "batch/v1", Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
}

func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}
