package ttlafterfinished

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func job(name string, ttl *int32, cond batchv1.JobConditionType, finishedAt time.Time) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: ttl},
	}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(finishedAt)}}
	}
	return j
}

func TestProcessJob(t *testing.T) {
	tests := []struct {
		name       string
		job        *batchv1.Job
		fresh      func(*batchv1.Job) // changes the API's copy after the cache saw the Job
		wantDelete bool
		wantAfter  time.Duration // > 0: requeued for then
	}{
		{name: "complete, ttl expired", job: job("a", ptr.To[int32](100), batchv1.JobComplete, t0.Add(-100*time.Second)), wantDelete: true},
		{name: "failed, ttl 0", job: job("b", ptr.To[int32](0), batchv1.JobFailed, t0), wantDelete: true},
		{name: "complete, ttl not yet expired", job: job("c", ptr.To[int32](100), batchv1.JobComplete, t0.Add(-40*time.Second)), wantAfter: 60 * time.Second},
		{name: "no ttl", job: job("d", nil, batchv1.JobComplete, t0.Add(-time.Hour))},
		{name: "not finished", job: job("e", ptr.To[int32](0), "", t0)},
		{name: "only SuccessCriteriaMet", job: job("f", ptr.To[int32](0), batchv1.JobSuccessCriteriaMet, t0)},
		{
			name: "ttl raised since the cache saw it", job: job("g", ptr.To[int32](10), batchv1.JobComplete, t0.Add(-time.Minute)),
			fresh: func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](3600) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			apiCopy := tc.job.DeepCopy()
			if tc.fresh != nil {
				tc.fresh(apiCopy)
			}
			client := fake.NewClientset(apiCopy)
			factory := informers.NewSharedInformerFactory(client, 0)
			clk := clocktesting.NewFakeClock(t0)
			c, err := newWithClock(client, factory, clk)
			if err != nil {
				t.Fatal(err)
			}
			defer c.queue.ShutDown()
			if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(tc.job); err != nil {
				t.Fatal(err)
			}
			key := "default/" + tc.job.Name
			if err := c.processJob(ctx, key); err != nil {
				t.Fatal(err)
			}
			var deletes []core.DeleteAction
			for _, a := range client.Actions() {
				if d, ok := a.(core.DeleteAction); ok {
					deletes = append(deletes, d)
				}
			}
			if got := len(deletes) == 1; got != tc.wantDelete {
				t.Fatalf("deleted = %v, want %v (%d deletes)", got, tc.wantDelete, len(deletes))
			}
			if tc.wantDelete {
				opts := deletes[0].GetDeleteOptions()
				if p := opts.PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
					t.Errorf("propagation = %v, want Foreground", p)
				}
				if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != tc.job.UID {
					t.Errorf("preconditions = %+v, want the Job's UID", opts.Preconditions)
				}
			}
			if tc.wantAfter > 0 {
				if c.queue.Len() != 0 {
					t.Fatal("requeued at once")
				}
				clk.Step(tc.wantAfter - time.Second)
				time.Sleep(50 * time.Millisecond)
				if c.queue.Len() != 0 {
					t.Fatalf("requeued before %v", tc.wantAfter)
				}
				clk.Step(time.Second)
				deadline := time.Now().Add(5 * time.Second)
				for c.queue.Len() != 1 {
					if time.Now().After(deadline) {
						t.Fatalf("not requeued after %v", tc.wantAfter)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// TestHandlers: only finished Jobs with a TTL are queued.
func TestHandlers(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := newWithClock(client, factory, clocktesting.NewFakeClock(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.queue.ShutDown()
	deleting := job("x", ptr.To[int32](0), batchv1.JobComplete, t0)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	for _, o := range []runtime.Object{
		job("running", ptr.To[int32](0), "", t0),
		job("nottl", nil, batchv1.JobComplete, t0),
		deleting,
	} {
		c.onJob(o)
	}
	if c.queue.Len() != 0 {
		t.Fatalf("queued %d jobs that need no cleanup", c.queue.Len())
	}
	c.onJob(job("done", ptr.To[int32](5), batchv1.JobFailed, t0))
	if c.queue.Len() != 1 {
		t.Fatal("a finished Job with a TTL was not queued")
	}
}

func TestRunDeletesAndReturnsOnCancel(t *testing.T) {
	client := fake.NewClientset(job("old", ptr.To[int32](1), batchv1.JobComplete, time.Now().Add(-time.Hour)))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, 1)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, _ := client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
		if len(jobs.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired Job was not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	factory.Shutdown()
}
