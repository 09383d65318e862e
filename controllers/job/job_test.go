package job

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func wantConditions(t *testing.T, j *batchv1.Job, want ...string) {
	t.Helper()
	if got := conditionTypes(j.Status.Conditions); !slices.Equal(got, want) {
		t.Fatalf("conditions = %v, want %v", got, want)
	}
}

func TestCompletionsAndParallelism(t *testing.T) {
	f := newFixture(t, newJob("pi", ptr.To[int32](3), ptr.To[int32](2)))

	// First sync: parallelism pods, each with the finalizer, labels and owner.
	f.mustSync("pi")
	pods := f.pods()
	if len(pods) != 2 {
		t.Fatalf("created %d pods, want 2", len(pods))
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "pi-") {
			t.Errorf("pod name %q, want prefix pi-", p.Name)
		}
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s lacks the tracking finalizer: %v", p.Name, p.Finalizers)
		}
		if p.Labels[batchv1.JobNameLabel] != "pi" || p.Labels[batchv1.ControllerUidLabel] != "job-uid-pi" {
			t.Errorf("pod %s labels = %v", p.Name, p.Labels)
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "Job" || ref.UID != "job-uid-pi" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("pod %s controller ref = %+v", p.Name, ref)
		}
	}
	j := f.job("pi")
	if j.Status.Active != 2 || j.Status.StartTime == nil || !j.Status.StartTime.Time.Equal(t0) ||
		ptr.Deref(j.Status.Ready, -1) != 0 || ptr.Deref(j.Status.Terminating, -1) != 0 || j.Status.UncountedTerminatedPods == nil {
		t.Fatalf("status after first sync = %+v", j.Status)
	}

	// Expectations: a second sync before the informer saw the pods creates nothing.
	f.c.expectations.ExpectCreations(klog.FromContext(f.ctx), ns+"/pi", 1)
	f.mustSync("pi")
	if n := f.count("create pods"); n != 0 {
		t.Fatalf("created %d pods while expecting creations", n)
	}
	f.c.expectations.Delete(klog.FromContext(f.ctx), ns+"/pi")

	// One pod ready, one succeeds: counted through uncountedTerminatedPods, its finalizer
	// removed, and one more pod created (3 completions - 1 succeeded, parallelism 2).
	f.setReady(pods[0].Name)
	f.finish(pods[1].Name, v1.PodSucceeded, 0)
	f.mustSync("pi")
	updates := f.statusUpdates()
	if len(updates) != 2 {
		t.Fatalf("status updates = %d, want 2 (uncounted, then counted)", len(updates))
	}
	if u := updates[0]; !slices.Equal(u.UncountedTerminatedPods.Succeeded, []types.UID{pods[1].UID}) || u.Succeeded != 0 {
		t.Errorf("first update: uncounted %v succeeded %d", u.UncountedTerminatedPods.Succeeded, u.Succeeded)
	}
	if u := updates[1]; len(u.UncountedTerminatedPods.Succeeded) != 0 || u.Succeeded != 1 || u.Active != 2 || ptr.Deref(u.Ready, -1) != 1 {
		t.Errorf("second update: %+v", u)
	}
	if slices.Contains(f.getPod(pods[1].Name).Finalizers, batchv1.JobTrackingFinalizer) {
		t.Error("the succeeded pod kept its finalizer")
	}
	if n := f.count("create pods"); n != 1 {
		t.Fatalf("created %d pods, want 1", n)
	}

	// A resync counts nothing twice.
	f.mustSync("pi")
	if j := f.job("pi"); j.Status.Succeeded != 1 {
		t.Fatalf("succeeded = %d after a resync, want 1", j.Status.Succeeded)
	}

	// The rest succeed: SuccessCriteriaMet then Complete, with completionTime.
	f.clock.Step(time.Minute)
	for _, p := range f.activePods() {
		f.finish(p.Name, v1.PodSucceeded, 0)
	}
	f.mustSync("pi")
	j = f.job("pi")
	wantConditions(t, j, "SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached")
	if j.Status.Succeeded != 3 || j.Status.Active != 0 || j.Status.CompletionTime == nil || !j.Status.CompletionTime.Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("final status = %+v", j.Status)
	}
	if c := j.Status.Conditions[1]; c.Message != "Reached expected number of succeeded pods" {
		t.Errorf("Complete message = %q", c.Message)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal Completed Job completed") {
		t.Errorf("events = %v, want Completed", ev)
	}
	for _, p := range f.pods() {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s kept finalizers %v", p.Name, p.Finalizers)
		}
	}
	// A finished Job is left alone.
	f.mustSync("pi")
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("sync of a finished job wrote %v", w)
	}
}

func TestParallelismScaling(t *testing.T) {
	tests := []struct {
		name                     string
		completions              *int32
		parallelism, newParallel int32
		wantActive               int
	}{
		{name: "scale down", completions: ptr.To[int32](5), parallelism: 3, newParallel: 1, wantActive: 1},
		{name: "scale up capped by remaining completions", completions: ptr.To[int32](4), parallelism: 1, newParallel: 10, wantActive: 4},
		{name: "work queue job scales to parallelism", completions: nil, parallelism: 2, newParallel: 4, wantActive: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newJob("w", tc.completions, ptr.To(tc.parallelism)))
			f.mustSync("w")
			if got := len(f.activePods()); got != int(tc.parallelism) {
				t.Fatalf("active = %d, want %d", got, tc.parallelism)
			}
			j := f.job("w")
			j.Spec.Parallelism = ptr.To(tc.newParallel)
			f.updateJob(j)
			f.mustSync("w")
			if got := len(f.activePods()); got != tc.wantActive {
				t.Fatalf("active = %d, want %d", got, tc.wantActive)
			}
			if tc.newParallel < tc.parallelism {
				// Removed pods lose the finalizer first: they are not failures.
				if n := f.count("patch pods"); n != int(tc.parallelism-tc.newParallel) {
					t.Errorf("finalizer patches = %d", n)
				}
				f.goneAll()
				f.mustSync("w")
				if j := f.job("w"); j.Status.Failed != 0 || j.Status.Active != tc.newParallel {
					t.Errorf("status after scale-down = failed %d active %d", j.Status.Failed, j.Status.Active)
				}
			}
		})
	}
}

func TestFailedPodBackOff(t *testing.T) {
	f := newFixture(t, newJob("b", ptr.To[int32](1), ptr.To[int32](1)))
	f.mustSync("b")
	steps := []struct {
		wait       time.Duration // after the failure, when the sync must not create
		retryAfter time.Duration // after the failure, when it must
	}{
		{wait: 9 * time.Second, retryAfter: 11 * time.Second},
		{wait: 19 * time.Second, retryAfter: 21 * time.Second},
		{wait: 39 * time.Second, retryAfter: 41 * time.Second},
	}
	for i, s := range steps {
		failedAt := f.clock.Now()
		active := f.activePods()
		if len(active) != 1 {
			t.Fatalf("step %d: %d active pods", i, len(active))
		}
		f.finish(active[0].Name, v1.PodFailed, 1)
		f.mustSync("b")
		if n := f.count("create pods"); n != 0 {
			t.Fatalf("step %d: replaced a failed pod at once", i)
		}
		if j := f.job("b"); j.Status.Failed != int32(i+1) {
			t.Fatalf("step %d: failed = %d", i, j.Status.Failed)
		}
		f.clock.SetTime(failedAt.Add(s.wait))
		f.mustSync("b")
		if n := f.count("create pods"); n != 0 {
			t.Fatalf("step %d: replaced after %v, before the back-off", i, s.wait)
		}
		f.clock.SetTime(failedAt.Add(s.retryAfter))
		f.mustSync("b")
		if n := f.count("create pods"); n != 1 {
			t.Fatalf("step %d: created %d pods after %v, want 1", i, n, s.retryAfter)
		}
	}
	// A success resets the back-off.
	f.finish(f.activePods()[0].Name, v1.PodSucceeded, 0)
	f.mustSync("b")
	wantConditions(t, f.job("b"), "SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached")
}

func TestBackOffDuration(t *testing.T) {
	tests := []struct {
		failures int32
		elapsed  time.Duration
		want     time.Duration
	}{
		{failures: 0, want: 0},
		{failures: 1, want: 10 * time.Second},
		{failures: 2, elapsed: 5 * time.Second, want: 15 * time.Second},
		{failures: 4, want: 80 * time.Second},
		{failures: 7, want: 10 * time.Minute},
		{failures: 30, want: 10 * time.Minute},
		{failures: 1, elapsed: time.Minute, want: 0},
	}
	for _, tc := range tests {
		clk := newFixture(t).clock
		last := clk.Now().Add(-tc.elapsed)
		r := backoffRecord{failuresAfterLastSuccess: tc.failures, lastFailureTime: &last}
		if got := r.remaining(clk, DefaultPodFailureBackOff, MaxPodFailureBackOff); got != tc.want {
			t.Errorf("failures %d elapsed %v: remaining %v, want %v", tc.failures, tc.elapsed, got, tc.want)
		}
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	f := newFixture(t, newJob("f", nil, ptr.To[int32](2), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }))
	f.mustSync("f")
	pods := f.pods()
	f.setReady(pods[0].Name)
	f.finish(pods[1].Name, v1.PodFailed, 1)
	f.mustSync("f")

	// FailureTarget first; the running pod is deleted (keeping its finalizer until counted).
	j := f.job("f")
	wantConditions(t, j, "FailureTarget=True/BackoffLimitExceeded")
	if w := f.writes(); !slices.Contains(w, "delete pods "+pods[0].Name) {
		t.Fatalf("writes = %v, want the active pod deleted", w)
	}
	if j.Status.Failed != 2 || j.Status.Active != 0 || ptr.Deref(j.Status.Terminating, 0) != 1 || j.Status.CompletionTime != nil {
		t.Fatalf("status = %+v", j.Status)
	}
	if p := f.getPod(pods[0].Name); len(p.Finalizers) != 0 || p.DeletionTimestamp == nil {
		t.Fatalf("deleted pod: finalizers %v deletionTimestamp %v", p.Finalizers, p.DeletionTimestamp)
	}

	// Failed once nothing terminates any more.
	f.gone(pods[0].Name)
	f.mustSync("f")
	j = f.job("f")
	wantConditions(t, j, "FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded")
	if j.Status.Conditions[1].Message != "Job has reached the specified backoff limit" || ptr.Deref(j.Status.Terminating, -1) != 0 {
		t.Fatalf("status = %+v", j.Status)
	}
	if ev := f.events(); !slices.Contains(ev, "Warning BackoffLimitExceeded Job has reached the specified backoff limit") {
		t.Errorf("events = %v", ev)
	}
}

func TestBackoffLimitOnFailureRestarts(t *testing.T) {
	f := newFixture(t, newJob("r", ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
		j.Spec.BackoffLimit = ptr.To[int32](2)
		j.Spec.Template.Spec.RestartPolicy = v1.RestartPolicyOnFailure
	}))
	f.mustSync("r")
	p := f.pods()[0]
	p.Status.Phase = v1.PodRunning
	p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", RestartCount: 1}}
	f.updatePod(p)
	f.mustSync("r")
	wantConditions(t, f.job("r"))

	p = f.getPod(p.Name)
	p.Status.ContainerStatuses[0].RestartCount = 2
	f.updatePod(p)
	f.mustSync("r")
	wantConditions(t, f.job("r"), "FailureTarget=True/BackoffLimitExceeded")
	f.goneAll()
	f.mustSync("r")
	wantConditions(t, f.job("r"), "FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded")
}

func TestIndexedJob(t *testing.T) {
	f := newFixture(t, newJob("idx", ptr.To[int32](3), ptr.To[int32](3), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	}))
	f.mustSync("idx")
	pods := f.pods()
	if len(pods) != 3 {
		t.Fatalf("created %d pods", len(pods))
	}
	for i, p := range pods {
		ix := string(rune('0' + i))
		if !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Errorf("pod name %q, want prefix idx-%s-", p.Name, ix)
		}
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] != ix || p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod %s index annotation/label = %q/%q", p.Name, p.Annotations[batchv1.JobCompletionIndexAnnotation], p.Labels[batchv1.JobCompletionIndexAnnotation])
		}
		if p.Spec.Hostname != "idx-"+ix {
			t.Errorf("pod %s hostname = %q", p.Name, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env = %+v", p.Name, env)
		}
	}

	// Index 1 succeeds, index 2 fails: completedIndexes "1", index 2 is recreated after
	// the back-off, index 1 is not.
	f.finish(pods[1].Name, v1.PodSucceeded, 0)
	f.finish(pods[2].Name, v1.PodFailed, 1)
	f.mustSync("idx")
	j := f.job("idx")
	if j.Status.CompletedIndexes != "1" || j.Status.Succeeded != 1 || j.Status.Failed != 1 {
		t.Fatalf("status = completedIndexes %q succeeded %d failed %d", j.Status.CompletedIndexes, j.Status.Succeeded, j.Status.Failed)
	}
	f.clock.Step(11 * time.Second)
	f.mustSync("idx")
	var created []*v1.Pod
	for _, p := range f.activePods() {
		if p.Name != pods[0].Name {
			created = append(created, p)
		}
	}
	if len(created) != 1 || created[0].Annotations[batchv1.JobCompletionIndexAnnotation] != "2" {
		t.Fatalf("recreated pods = %v, want one for index 2", names(created))
	}

	// A duplicate of index 0 (e.g. a stale create) is removed.
	dup := pods[0].DeepCopy()
	dup.Name, dup.UID, dup.ResourceVersion = "idx-0-dup", "uid-idx-0-dup", ""
	dup.CreationTimestamp = metav1.NewTime(f.clock.Now())
	if _, err := f.client.CoreV1().Pods(ns).Create(f.ctx, dup, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mustSync("idx")
	if d := f.count("delete pods"); d != 1 {
		t.Fatalf("deleted %d pods, want the duplicate: %v", d, f.writes())
	}
	f.goneAll()

	for _, p := range f.activePods() {
		f.finish(p.Name, v1.PodSucceeded, 0)
	}
	f.mustSync("idx")
	j = f.job("idx")
	if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
		t.Fatalf("completedIndexes %q succeeded %d", j.Status.CompletedIndexes, j.Status.Succeeded)
	}
	wantConditions(t, j, "SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached")
}

func TestIntervals(t *testing.T) {
	tests := []struct {
		in, want    string
		add         []int
		completions int
	}{
		{in: "", add: []int{0, 1, 2}, completions: 5, want: "0-2"},
		{in: "1", add: []int{2}, completions: 5, want: "1,2"},
		{in: "0,2", add: []int{1}, completions: 5, want: "0-2"},
		{in: "0-3,7", add: []int{5}, completions: 10, want: "0-3,5,7"},
		{in: "0-9", completions: 5, want: "0-4"},
		{in: "x,3", completions: 5, want: "3"},
	}
	for _, tc := range tests {
		got := parseIntervals(ktesting.NewLogger(t, ktesting.NewConfig()), tc.in, tc.completions).with(tc.add)
		if got.String() != tc.want {
			t.Errorf("%q + %v = %q, want %q", tc.in, tc.add, got.String(), tc.want)
		}
	}
}

func TestActiveDeadline(t *testing.T) {
	f := newFixture(t, newJob("d", ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	}))
	f.mustSync("d")
	f.clock.Step(9 * time.Second)
	f.mustSync("d")
	wantConditions(t, f.job("d"))

	f.clock.Step(time.Second)
	f.mustSync("d")
	j := f.job("d")
	wantConditions(t, j, "FailureTarget=True/DeadlineExceeded")
	if f.count("delete pods") != 1 || j.Status.Failed != 1 {
		t.Fatalf("writes %v, failed %d", f.writes(), j.Status.Failed)
	}
	f.goneAll()
	f.mustSync("d")
	j = f.job("d")
	wantConditions(t, j, "FailureTarget=True/DeadlineExceeded", "Failed=True/DeadlineExceeded")
	if j.Status.Conditions[1].Message != "Job was active longer than specified deadline" {
		t.Errorf("message = %q", j.Status.Conditions[1].Message)
	}
}

func TestSuspendResume(t *testing.T) {
	f := newFixture(t, newJob("s", ptr.To[int32](4), ptr.To[int32](2), func(j *batchv1.Job) {
		j.Spec.Suspend = ptr.To(true)
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
	}))
	// Created suspended: no pods, no startTime, Suspended=True.
	f.mustSync("s")
	j := f.job("s")
	if len(f.pods()) != 0 || j.Status.StartTime != nil {
		t.Fatalf("suspended job: %d pods, startTime %v", len(f.pods()), j.Status.StartTime)
	}
	wantConditions(t, j, "Suspended=True/JobSuspended")

	// Resumed: pods, startTime now, Suspended=False.
	f.clock.Step(time.Hour) // the deadline counts from resumption
	j.Spec.Suspend = ptr.To(false)
	f.updateJob(j)
	f.mustSync("s")
	j = f.job("s")
	wantConditions(t, j, "Suspended=False/JobResumed")
	if len(f.activePods()) != 2 || j.Status.StartTime == nil || !j.Status.StartTime.Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("resumed: %d active, startTime %v", len(f.activePods()), j.Status.StartTime)
	}

	// Suspended again: active pods deleted (finalizer first, not counted as failed).
	j.Spec.Suspend = ptr.To(true)
	f.updateJob(j)
	f.mustSync("s")
	w := f.writes()
	if f.count("patch pods") != 2 || f.count("delete pods") != 2 {
		t.Fatalf("writes = %v, want 2 finalizer patches and 2 deletes", w)
	}
	j = f.job("s")
	wantConditions(t, j, "Suspended=True/JobSuspended")
	if j.Status.Active != 0 || j.Status.Failed != 0 || ptr.Deref(j.Status.Terminating, 0) != 2 {
		t.Fatalf("status = %+v", j.Status)
	}
	f.goneAll()
	f.clock.Step(time.Hour) // past the deadline, but suspended time does not count
	f.mustSync("s")
	if j := f.job("s"); j.Status.Failed != 0 || len(j.Status.Conditions) != 1 {
		t.Fatalf("status after suspension = %+v", j.Status)
	}
	ev := f.events()
	for _, want := range []string{"Normal Suspended Job suspended", "Normal Resumed Job resumed"} {
		if !slices.Contains(ev, want) {
			t.Errorf("events %v lack %q", ev, want)
		}
	}
}

func TestPodFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: v1.DisruptionTarget, Status: v1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	f := newFixture(t, newJob("p", ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = policy
		j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	}))
	f.mustSync("p")

	// A disrupted pod is ignored: not counted against backoffLimit (as upstream, it still
	// delays the replacement).
	p := f.pods()[0]
	p.Status.Phase = v1.PodFailed
	p.Status.Conditions = []v1.PodCondition{{Type: v1.DisruptionTarget, Status: v1.ConditionTrue}}
	f.updatePod(p)
	f.mustSync("p")
	if j := f.job("p"); j.Status.Failed != 0 {
		t.Fatalf("ignored failure counted: failed = %d", j.Status.Failed)
	}
	f.clock.Step(11 * time.Second)
	f.mustSync("p")

	// Exit code 42 fails the Job.
	active := f.activePods()
	if len(active) != 1 {
		t.Fatalf("%d active pods", len(active))
	}
	f.finish(active[0].Name, v1.PodFailed, 42)
	f.mustSync("p")
	j := f.job("p")
	wantConditions(t, j, "FailureTarget=True/PodFailurePolicy", "Failed=True/PodFailurePolicy")
	if msg := j.Status.Conditions[0].Message; !strings.Contains(msg, "failed with exit code 42 matching FailJob rule at index 1") {
		t.Errorf("message = %q", msg)
	}
}

func TestSuccessPolicy(t *testing.T) {
	f := newFixture(t, newJob("sp", ptr.To[int32](3), ptr.To[int32](3), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	}))
	f.mustSync("sp")
	f.finish(f.pods()[0].Name, v1.PodSucceeded, 0)
	f.mustSync("sp")
	j := f.job("sp")
	wantConditions(t, j, "SuccessCriteriaMet=True/SuccessPolicy")
	if f.count("delete pods") != 2 {
		t.Fatalf("writes = %v, want the 2 other pods deleted", f.writes())
	}
	f.goneAll()
	f.mustSync("sp")
	wantConditions(t, f.job("sp"), "SuccessCriteriaMet=True/SuccessPolicy", "Complete=True/SuccessPolicy")
}

func TestOrphanPodFinalizers(t *testing.T) {
	finished := newJob("done", ptr.To[int32](1), ptr.To[int32](1))
	finished.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: v1.ConditionTrue}}
	running := newJob("run", ptr.To[int32](1), ptr.To[int32](1))
	pod := func(name string, owner *batchv1.Job) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name), Finalizers: []string{batchv1.JobTrackingFinalizer}}}
		if owner != nil {
			p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, controllerKind)}
		}
		return p
	}
	gone := newJob("gone", ptr.To[int32](1), ptr.To[int32](1))
	f := newFixture(t, finished, running,
		pod("orphan", nil), pod("of-finished", finished), pod("of-running", running), pod("of-gone", gone))
	tests := []struct {
		pod         string
		wantRemoved bool
	}{
		{"orphan", true}, {"of-finished", true}, {"of-gone", true}, {"of-running", false},
	}
	for _, tc := range tests {
		f.client.ClearActions()
		if err := f.c.syncOrphanPod(f.ctx, ns+"/"+tc.pod); err != nil {
			t.Fatal(err)
		}
		has := slices.Contains(f.getPod(tc.pod).Finalizers, batchv1.JobTrackingFinalizer)
		if has == tc.wantRemoved {
			t.Errorf("pod %s: finalizer kept = %v, want removed = %v", tc.pod, has, tc.wantRemoved)
		}
	}
	// The handlers queue orphans: a pod of a deleted Job is queued when it terminates.
	if f.c.orphanQueue.Len() == 0 {
		t.Error("no orphan pod was queued by the pod handlers")
	}
}

func TestAdoptionAddsFinalizer(t *testing.T) {
	j := newJob("a", ptr.To[int32](1), ptr.To[int32](1))
	orphan := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns, UID: "stray", Labels: j.Spec.Template.Labels}}
	f := newFixture(t, j, orphan)
	f.mustSync("a")
	p := f.getPod("stray")
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != j.UID {
		t.Fatalf("orphan not adopted: %+v", p.OwnerReferences)
	}
	if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Fatalf("adopted pod lacks the tracking finalizer: %v", p.Finalizers)
	}
	if n := f.count("create pods"); n != 0 {
		t.Fatalf("created %d pods although the adopted one is active", n)
	}
}

func TestRunReturnsOnCancel(t *testing.T) {
	client := fake.NewClientset(newJob("x", ptr.To[int32](1), ptr.To[int32](1)))
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
	// The running controller creates the Job's pod.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pods, _ := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if len(pods.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running controller created no pod")
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
