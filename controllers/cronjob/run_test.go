package cronjob

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// startRun starts the informers and the controller; the returned stop cancels both and fails
// the test unless Run returns.
func startRun(t *testing.T, f *fixture) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	f.factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.c.Run(ctx, 2)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		f.factory.Shutdown()
	}
}

func jobNames(t *testing.T, f *fixture) []string {
	t.Helper()
	list, err := f.client.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		out = append(out, j.Name)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond on the real clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestRunFiresOnSchedule runs the controller on a fake clock: nothing happens until the
// clock reaches the schedule time, where the workqueue wakes the CronJob and a Job starts;
// a minute later the next one.
func TestRunFiresOnSchedule(t *testing.T) {
	cj := newCronJob("*/1 * * * *")
	f := newFixture(t, t0.Add(30*time.Second))
	if _, err := f.client.BatchV1().CronJobs("ns").Create(context.Background(), cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, f)
	defer stop()

	// The first sync queues the CronJob for 10:01:00.1 on the fake clock: the delaying
	// queue's timer joins its heartbeat ticker.
	waitFor(t, "the CronJob to be queued for its schedule time", func() bool { return f.clock.Waiters() >= 2 })
	if got := jobNames(t, f); len(got) != 0 {
		t.Fatalf("jobs before the schedule time: %q", got)
	}
	f.clock.Step(31 * time.Second) // 10:01:01
	first := jobName(cj, t0.Add(time.Minute))
	waitFor(t, "the first job", func() bool { return slices.Equal(jobNames(t, f), []string{first}) })
	waitFor(t, "status.active to list the first job", func() bool {
		cur, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
		return err == nil && slices.Equal(activeNames(cur), []string{first}) && cur.Status.LastScheduleTime != nil
	})

	waitFor(t, "the CronJob to be queued again", func() bool { return f.clock.Waiters() >= 2 })
	f.clock.Step(time.Minute) // 10:02:01
	second := jobName(cj, t0.Add(2*time.Minute))
	waitFor(t, "the second job", func() bool { return slices.Equal(jobNames(t, f), []string{first, second}) })
	waitFor(t, "status.active to list both jobs", func() bool {
		cur, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
		return err == nil && slices.Equal(activeNames(cur), []string{first, second}) &&
			cur.Status.LastScheduleTime.Time.Equal(t0.Add(2*time.Minute))
	})

	// The first job completes: the CronJob is woken by the Job informer and drops it.
	done, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), first, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done.ResourceVersion = "100"
	now := metav1.NewTime(f.clock.Now())
	done.Status.CompletionTime = &now
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if _, err := f.client.BatchV1().Jobs("ns").UpdateStatus(context.Background(), done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the completed job to leave status.active", func() bool {
		cur, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
		return err == nil && slices.Equal(activeNames(cur), []string{second}) && cur.Status.LastSuccessfulTime != nil
	})
}

// TestRunReturnsOnCancel checks Run stops with its context, also before the caches synced.
func TestRunReturnsOnCancel(t *testing.T) {
	for _, startInformers := range []bool{true, false} {
		f := newFixture(t, t0)
		ctx, cancel := context.WithCancel(f.ctx)
		if startInformers {
			f.factory.Start(ctx.Done())
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.c.Run(ctx, 3)
		}()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Run did not return after cancel (informers started: %v)", startInformers)
		}
		f.factory.Shutdown()
	}
}

// TestUpdateCronJob checks a schedule change queues the CronJob for its new next time, and
// any other change at once.
func TestUpdateCronJob(t *testing.T) {
	old := newCronJob("0 * * * *")
	f := newFixture(t, t0.Add(30*time.Minute), old)

	other := old.DeepCopy()
	other.Spec.Suspend = ptr.To(true)
	f.c.updateCronJob(old, other)
	if f.c.queue.Len() != 1 {
		t.Fatalf("queue length %d after a suspend change, want 1", f.c.queue.Len())
	}
	key, _ := f.c.queue.Get()
	f.c.queue.Done(key)
	f.c.queue.Forget(key)

	moved := old.DeepCopy()
	moved.Spec.Schedule = "45 * * * *"
	f.c.updateCronJob(old, moved)
	waitFor(t, "the delaying queue to hold the CronJob", func() bool { return f.clock.Waiters() >= 2 })
	if f.c.queue.Len() != 0 {
		t.Fatal("a schedule change queued the CronJob at once")
	}
	f.clock.Step(14 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if f.c.queue.Len() != 0 {
		t.Fatal("queued before its new schedule time")
	}
	f.clock.Step(time.Minute + time.Second) // 10:45:01
	waitFor(t, "the CronJob at its new schedule time", func() bool { return f.c.queue.Len() == 1 })

	bad := old.DeepCopy()
	bad.Spec.Schedule = "not a schedule"
	f.c.updateCronJob(old, bad)
	if got := reasons(f.events()); !slices.Equal(got, []string{"UnParseableCronJobSchedule"}) {
		t.Errorf("events %q, want UnParseableCronJobSchedule", got)
	}
}

// TestStaleCache: the cache has not seen the status update naming a Job the controller
// made; the API server's copy is used and no duplicate or warning follows.
func TestStaleCache(t *testing.T) {
	cached := newCronJob("0 * * * *")
	job := newJob(cached, t0.Add(time.Hour), running)
	fresh := cached.DeepCopy()
	fresh.ResourceVersion = "6"
	fresh.Status.Active = []corev1.ObjectReference{refTo(job)}
	fresh.Status.LastScheduleTime = ptr.To(metav1.NewTime(t0.Add(time.Hour)))

	f := newFixture(t, t0.Add(time.Hour+time.Minute), job)
	if err := f.factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(cached); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Tracker().Add(fresh); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	after, err := f.c.sync(f.ctx, "ns/cj")
	if err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("writes %q, want none", w)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events %q, want none", ev)
	}
	if after == nil || *after != 59*time.Minute+nextScheduleDelta {
		t.Errorf("requeue after %v, want 59m0.1s", after)
	}

	// A running Job under the CronJob that nobody listed is reported.
	other := newJob(cached, t0.Add(2*time.Hour), running)
	other.Name = "cj-manual"
	if err := f.factory.Batch().V1().Jobs().Informer().GetIndexer().Add(other); err != nil {
		t.Fatal(err)
	}
	if err := f.factory.Batch().V1().CronJobs().Informer().GetIndexer().Update(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.sync(f.ctx, "ns/cj"); err != nil {
		t.Fatal(err)
	}
	if got := reasons(f.events()); !slices.Equal(got, []string{"UnexpectedJob"}) {
		t.Errorf("events %q, want UnexpectedJob", got)
	}
}
