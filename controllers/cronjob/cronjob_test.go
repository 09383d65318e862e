package cronjob

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestJobFromTemplate(t *testing.T) {
	cj := newCronJob("0 * * * *")
	scheduled := time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)
	j, err := jobFor(cj, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-01T11:00:00Z is 1767265200 s = 29454420 min after the epoch.
	if j.Name != "cj-29454420" || j.Namespace != "ns" {
		t.Errorf("job %s/%s, want ns/cj-29454420", j.Namespace, j.Name)
	}
	if j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-01-01T11:00:00Z" || j.Annotations["team"] != "ops" || j.Labels["app"] != "report" {
		t.Errorf("metadata not from template: labels %v annotations %v", j.Labels, j.Annotations)
	}
	want := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: "cj", UID: "cj-uid", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	if len(j.OwnerReferences) != 1 || !apiequality.Semantic.DeepEqual(j.OwnerReferences[0], want) {
		t.Errorf("ownerReferences = %+v", j.OwnerReferences)
	}
	if !apiequality.Semantic.DeepEqual(j.Spec, cj.Spec.JobTemplate.Spec) {
		t.Errorf("spec = %+v, want the template's", j.Spec)
	}
	// The template is not shared with the Job.
	j.Labels["x"] = "y"
	j.Annotations["x"] = "y"
	if cj.Spec.JobTemplate.Labels["x"] != "" || cj.Spec.JobTemplate.Annotations["x"] != "" {
		t.Error("job metadata aliases the template's")
	}

	cj.Spec.TimeZone = ptr.To("America/New_York")
	j, err = jobFor(cj, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-01T06:00:00-05:00" {
		t.Errorf("scheduled timestamp in zone = %q", got)
	}
}

func TestUnmetSchedules(t *testing.T) {
	at := func(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	tests := []struct {
		name       string
		schedule   string
		created    *time.Time
		last       *time.Time
		deadline   *int64
		now        time.Time
		want       *time.Time
		wantCount  int64
		wantErr    bool
		wantRequeu time.Duration
	}{
		{name: "before the first time", schedule: "0 * * * *", now: at(0, 30), wantRequeu: 30 * time.Minute},
		{name: "exactly at the first time", schedule: "0 * * * *", now: at(1, 0), want: ptr.To(at(1, 0)), wantCount: 1, wantRequeu: time.Hour},
		{name: "several missed: the latest", schedule: "0 * * * *", now: at(5, 30), want: ptr.To(at(5, 0)), wantCount: 5, wantRequeu: 30 * time.Minute},
		{name: "since lastScheduleTime", schedule: "0 * * * *", last: ptr.To(at(4, 0)), now: at(5, 10), want: ptr.To(at(5, 0)), wantCount: 1, wantRequeu: 50 * time.Minute},
		{name: "deadline hides old times", schedule: "0 * * * *", deadline: ptr.To[int64](600), now: at(5, 30), wantRequeu: 30 * time.Minute},
		{name: "deadline keeps a recent time", schedule: "0 * * * *", deadline: ptr.To[int64](3600), now: at(5, 30), want: ptr.To(at(5, 0)), wantCount: 1, wantRequeu: 30 * time.Minute},
		{name: "every minute for a week", schedule: "* * * * *", now: at(7*24, 0).Add(30 * time.Second), want: ptr.To(at(7*24, 0)), wantCount: 7 * 24 * 60, wantRequeu: 30 * time.Second},
		// Weekdays at 9:00, created on Monday 5 January: the first two times are a day apart,
		// but on Sunday the latest is Friday's, behind a two-day gap.
		{name: "irregular schedule over a weekend", schedule: "0 9 * * 1-5", created: ptr.To(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)),
			now: time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC), want: ptr.To(time.Date(2026, 1, 9, 9, 0, 0, 0, time.UTC)), wantCount: 6, wantRequeu: 21 * time.Hour},
		{name: "irregular schedule, Thursday to Sunday", schedule: "0 9 * * 1-5",
			now: time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC), want: ptr.To(time.Date(2026, 1, 9, 9, 0, 0, 0, time.UTC)), wantCount: 4, wantRequeu: 21 * time.Hour},
		{name: "@every 1m for a day", schedule: "@every 1m", now: at(24, 0).Add(59 * time.Second), want: ptr.To(at(24, 0)), wantCount: 24 * 60, wantRequeu: time.Second},
		{name: "@every from creation", schedule: "@every 90m", now: at(3, 10), want: ptr.To(at(3, 0)), wantCount: 2, wantRequeu: 80 * time.Minute},
		{name: "@hourly", schedule: "@hourly", now: at(2, 1), want: ptr.To(at(2, 0)), wantCount: 2, wantRequeu: 59 * time.Minute},
		{name: "never fires", schedule: "0 0 31 2 *", now: at(1, 0), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob(tc.schedule)
			cj.Spec.StartingDeadlineSeconds = tc.deadline
			if tc.created != nil {
				cj.CreationTimestamp = metav1.NewTime(*tc.created)
			}
			if tc.last != nil {
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*tc.last))
			}
			sched, err := parseSchedule(cj, nil)
			if err != nil {
				t.Fatal(err)
			}
			u, err := unmetSchedules(cj, tc.now, sched, true)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if d := requeueAfter(cj, tc.now, sched); d != nil {
					t.Errorf("requeue of a schedule that never fires = %v, want none", *d)
				}
				return
			}
			if !ptr.Equal(u.latest, tc.want) {
				t.Errorf("latest = %v, want %v", u.latest, tc.want)
			}
			if u.count != tc.wantCount {
				t.Errorf("count = %d, want %d", u.count, tc.wantCount)
			}
			if d := requeueAfter(cj, tc.now, sched); d == nil || *d != tc.wantRequeu+nextScheduleDelta {
				t.Errorf("requeue after %v, want %v", d, tc.wantRequeu+nextScheduleDelta)
			}
		})
	}
}

func TestSync(t *testing.T) {
	at := func(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	name := func(ts time.Time) string { return fmt.Sprintf("cj-%d", ts.Unix()/60) }
	hourly := newCronJob("0 * * * *")
	runningAt11 := newJob(hourly, at(1, 0), running)
	doneAt11 := newJob(hourly, at(1, 0), succeeded)
	failedAt11 := newJob(hourly, at(1, 0), failed)

	tests := []struct {
		name    string
		cj      func(cj *batchv1.CronJob)
		jobs    []*batchv1.Job // in the cache and the API
		apiOnly []runtime.Object
		now     time.Time

		wantWrites  []string // write actions, in order
		wantReasons []string // event reasons, in order
		wantActive  []string // status.active after the sync (when status is written)
		wantLast    *time.Time
		wantSuccess *time.Time
		wantRequeue *time.Duration // nil: no requeue
	}{
		{
			name:        "nothing due before the first schedule time",
			now:         at(0, 30),
			wantRequeue: ptr.To(30 * time.Minute),
		},
		{
			name:        "first run at its time",
			now:         at(1, 0).Add(5 * time.Second),
			wantWrites:  []string{"create jobs " + name(at(1, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(1, 0))},
			wantLast:    ptr.To(at(1, 0)),
			wantRequeue: ptr.To(time.Hour - 5*time.Second),
		},
		{
			name:        "missed schedules start only the most recent",
			now:         at(4, 30),
			wantWrites:  []string{"create jobs " + name(at(4, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(4, 0))},
			wantLast:    ptr.To(at(4, 0)),
			wantRequeue: ptr.To(30 * time.Minute),
		},
		{
			name:        "too many missed schedules warn and start the most recent",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * * *" },
			now:         at(3, 20).Add(30 * time.Second),
			wantWrites:  []string{"create jobs " + name(at(3, 20)), "update cronjobs/status cj"},
			wantReasons: []string{"TooManyMissedTimes", "SuccessfulCreate"},
			wantActive:  []string{name(at(3, 20))},
			wantLast:    ptr.To(at(3, 20)),
			wantRequeue: ptr.To(30 * time.Second),
		},
		{
			name:        "past startingDeadlineSeconds the run is missed",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) },
			now:         at(1, 5),
			wantReasons: []string{"MissSchedule"},
			wantRequeue: ptr.To(55 * time.Minute),
		},
		{
			name:        "within startingDeadlineSeconds the run starts late",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](600) },
			now:         at(1, 5),
			wantWrites:  []string{"create jobs " + name(at(1, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(1, 0))},
			wantLast:    ptr.To(at(1, 0)),
			wantRequeue: ptr.To(55 * time.Minute),
		},
		{
			name:        "a processed schedule time is not run again",
			cj:          func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0))) },
			now:         at(1, 30),
			wantRequeue: ptr.To(30 * time.Minute),
		},
		{
			name: "Allow starts beside a running job",
			cj: func(cj *batchv1.CronJob) {
				cj.Status.Active = []corev1.ObjectReference{refTo(runningAt11)}
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0)))
			},
			jobs:        []*batchv1.Job{runningAt11},
			now:         at(2, 0),
			wantWrites:  []string{"create jobs " + name(at(2, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(1, 0)), name(at(2, 0))},
			wantLast:    ptr.To(at(2, 0)),
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name: "Forbid skips while a job runs",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
				cj.Status.Active = []corev1.ObjectReference{refTo(runningAt11)}
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0)))
			},
			jobs:        []*batchv1.Job{runningAt11},
			now:         at(2, 0),
			wantReasons: []string{"JobAlreadyActive"},
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name: "Forbid starts once the job finished",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
				cj.Status.Active = []corev1.ObjectReference{refTo(doneAt11)}
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0)))
			},
			jobs:        []*batchv1.Job{doneAt11},
			now:         at(2, 0),
			wantWrites:  []string{"create jobs " + name(at(2, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SawCompletedJob", "SuccessfulCreate"},
			wantActive:  []string{name(at(2, 0))},
			wantLast:    ptr.To(at(2, 0)),
			wantSuccess: ptr.To(at(1, 1)),
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name: "Replace deletes the running job and starts a new one",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
				cj.Status.Active = []corev1.ObjectReference{refTo(runningAt11)}
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0)))
			},
			jobs:        []*batchv1.Job{runningAt11},
			now:         at(2, 0),
			wantWrites:  []string{"delete jobs " + name(at(1, 0)), "create jobs " + name(at(2, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulDelete", "SuccessfulCreate"},
			wantActive:  []string{name(at(2, 0))},
			wantLast:    ptr.To(at(2, 0)),
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name: "suspended: nothing starts, no requeue",
			cj:   func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) },
			now:  at(3, 0),
		},
		{
			name: "suspended still tracks a finished job",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.Suspend = ptr.To(true)
				cj.Status.Active = []corev1.ObjectReference{refTo(failedAt11)}
			},
			jobs:        []*batchv1.Job{failedAt11},
			now:         at(3, 0),
			wantWrites:  []string{"update cronjobs/status cj"},
			wantReasons: []string{"SawCompletedJob"},
		},
		{
			name: "an active job that went missing is dropped",
			cj: func(cj *batchv1.CronJob) {
				cj.Status.Active = []corev1.ObjectReference{refTo(runningAt11)}
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(1, 0)))
			},
			now:         at(1, 30),
			wantWrites:  []string{"update cronjobs/status cj"},
			wantReasons: []string{"MissingJob"},
			wantLast:    ptr.To(at(1, 0)),
			wantRequeue: ptr.To(30 * time.Minute),
		},
		{
			name:        "a job made before a lost status update is put back in the active list",
			apiOnly:     []runtime.Object{newJob(hourly, at(1, 0), running)},
			now:         at(1, 0).Add(10 * time.Second),
			wantWrites:  []string{"create jobs " + name(at(1, 0)), "update cronjobs/status cj"},
			wantActive:  []string{name(at(1, 0))},
			wantLast:    ptr.To(at(1, 0)),
			wantRequeue: ptr.To(time.Hour - 10*time.Second),
		},
		{
			name: "time zone: 9:00 in Tokyo is 0:00 UTC",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.Schedule = "0 9 * * *"
				cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
			},
			now:         time.Date(2026, 1, 2, 0, 0, 30, 0, time.UTC),
			wantWrites:  []string{"create jobs " + name(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
			wantLast:    ptr.To(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)),
			wantRequeue: ptr.To(24*time.Hour - 30*time.Second),
		},
		{
			name: "time zone: not yet 9:00 in New York",
			cj: func(cj *batchv1.CronJob) {
				cj.Spec.Schedule = "0 9 * * *"
				cj.Spec.TimeZone = ptr.To("America/New_York")
			},
			now:         time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC), // 8:00 EST
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name: "TZ in the schedule (left from before the timeZone field) is honoured with a warning",
			cj:   func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=Asia/Tokyo 0 9 * * *" },
			now:  time.Date(2026, 1, 2, 0, 1, 0, 0, time.UTC),
			wantWrites: []string{
				"create jobs " + name(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)), "update cronjobs/status cj",
			},
			wantReasons: []string{"UnsupportedSchedule", "SuccessfulCreate"},
			wantActive:  []string{name(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
			wantLast:    ptr.To(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)),
			wantRequeue: ptr.To(24*time.Hour - time.Minute),
		},
		{
			name:        "unknown time zone",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") },
			now:         at(2, 0),
			wantReasons: []string{"UnknownTimeZone"},
		},
		{
			name:        "@every runs from the creation time",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@every 90m" },
			now:         at(1, 30).Add(10 * time.Second),
			wantWrites:  []string{"create jobs " + name(at(1, 30)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(1, 30))},
			wantLast:    ptr.To(at(1, 30)),
			wantRequeue: ptr.To(90*time.Minute - 10*time.Second),
		},
		{
			name:        "@hourly",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" },
			now:         at(1, 0),
			wantWrites:  []string{"create jobs " + name(at(1, 0)), "update cronjobs/status cj"},
			wantReasons: []string{"SuccessfulCreate"},
			wantActive:  []string{name(at(1, 0))},
			wantLast:    ptr.To(at(1, 0)),
			wantRequeue: ptr.To(time.Hour),
		},
		{
			name:        "unparseable schedule",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every day" },
			now:         at(2, 0),
			wantReasons: []string{"UnparseableSchedule"},
		},
		{
			name:        "schedule that never fires",
			cj:          func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 31 2 *" },
			now:         at(2, 0),
			wantReasons: []string{"InvalidSchedule"},
		},
		{
			name: "a CronJob being deleted starts nothing",
			cj: func(cj *batchv1.CronJob) {
				cj.DeletionTimestamp = ptr.To(metav1.NewTime(at(0, 1)))
				cj.Finalizers = []string{"foregroundDeletion"}
			},
			now: at(2, 0),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob("0 * * * *")
			if tc.cj != nil {
				tc.cj(cj)
			}
			objs := []runtime.Object{cj}
			for _, j := range tc.jobs {
				objs = append(objs, j)
			}
			f := newFixture(t, tc.now, objs...)
			for _, o := range tc.apiOnly {
				if err := f.client.Tracker().Add(o); err != nil {
					t.Fatal(err)
				}
			}
			f.client.ClearActions()
			requeue, err := f.c.sync(f.ctx, "ns/cj")
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := f.writes(); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("writes = %q, want %q", got, tc.wantWrites)
			}
			events := f.events()
			if got := reasons(events); !slices.Equal(got, tc.wantReasons) {
				t.Errorf("events = %q, want reasons %q", events, tc.wantReasons)
			}
			switch {
			case tc.wantRequeue == nil && requeue != nil:
				t.Errorf("requeue after %v, want none", *requeue)
			case tc.wantRequeue != nil && (requeue == nil || *requeue != *tc.wantRequeue+nextScheduleDelta):
				t.Errorf("requeue after %v, want %v", ptr.Deref(requeue, -1), *tc.wantRequeue+nextScheduleDelta)
			}
			for _, j := range f.createdJobs() {
				if !metav1.IsControlledBy(j, cj) || j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] == "" || j.Labels["app"] != "report" {
					t.Errorf("created job %s not from the template: %+v", j.Name, j.ObjectMeta)
				}
			}
			st := f.statusUpdate()
			if st == nil {
				return
			}
			if got := activeNames(st); !slices.Equal(got, tc.wantActive) {
				t.Errorf("status.active = %q, want %q", got, tc.wantActive)
			}
			for _, r := range st.Status.Active {
				if r.Kind != "Job" || r.APIVersion != "batch/v1" || r.UID == "" || r.Namespace != "ns" {
					t.Errorf("active reference %+v", r)
				}
			}
			if got := timeOf(st.Status.LastScheduleTime); !ptr.Equal(got, tc.wantLast) {
				t.Errorf("lastScheduleTime = %v, want %v", got, tc.wantLast)
			}
			if got := timeOf(st.Status.LastSuccessfulTime); !ptr.Equal(got, tc.wantSuccess) {
				t.Errorf("lastSuccessfulTime = %v, want %v", got, tc.wantSuccess)
			}
		})
	}
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return ptr.To(t.Time)
}

func TestReplaceDeletesInBackground(t *testing.T) {
	cj := newCronJob("0 * * * *")
	cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	old := newJob(cj, t0.Add(time.Hour), running)
	cj.Status.Active = []corev1.ObjectReference{refTo(old)}
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(t0.Add(time.Hour)))
	f := newFixture(t, t0.Add(2*time.Hour), cj, old)
	if _, err := f.c.sync(f.ctx, "ns/cj"); err != nil {
		t.Fatal(err)
	}
	var deletes int
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteActionImpl); ok {
			deletes++
			opts := d.GetDeleteOptions()
			if ptr.Deref(opts.PropagationPolicy, "") != metav1.DeletePropagationBackground {
				t.Errorf("delete propagation = %v, want Background", opts.PropagationPolicy)
			}
			if opts.Preconditions == nil || ptr.Deref(opts.Preconditions.UID, "") != old.UID {
				t.Errorf("delete preconditions = %+v, want the old job's UID", opts.Preconditions)
			}
		}
	}
	if deletes != 1 {
		t.Fatalf("%d deletes, want 1", deletes)
	}
	if _, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), old.Name, metav1.GetOptions{}); err == nil {
		t.Error("replaced job still exists")
	}
}

func TestHistoryLimits(t *testing.T) {
	base := newCronJob("0 * * * *")
	hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	var jobs []*batchv1.Job
	// Succeeded at 1..4, failed at 5..7, running at 8; listed out of order.
	for _, h := range []int{3, 1, 4, 2} {
		jobs = append(jobs, newJob(base, hour(h), succeeded))
	}
	for _, h := range []int{6, 5, 7} {
		jobs = append(jobs, newJob(base, hour(h), failed))
	}
	jobs = append(jobs, newJob(base, hour(8), running))
	name := func(h int) string { return jobName(base, hour(h)) }

	tests := []struct {
		name          string
		success, fail *int32
		wantDeleted   []string
	}{
		{name: "defaults 3 and 1", success: ptr.To[int32](3), fail: ptr.To[int32](1), wantDeleted: []string{name(1), name(5), name(6)}},
		{name: "keep none", success: ptr.To[int32](0), fail: ptr.To[int32](0), wantDeleted: []string{name(1), name(2), name(3), name(4), name(5), name(6), name(7)}},
		{name: "limits above the counts", success: ptr.To[int32](10), fail: ptr.To[int32](10)},
		{name: "no limits", success: nil, fail: nil},
		{name: "only a failed limit", fail: ptr.To[int32](2), wantDeleted: []string{name(5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := base.DeepCopy()
			cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = tc.success, tc.fail
			cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(hour(8)))
			cj.Status.Active = []corev1.ObjectReference{refTo(jobs[len(jobs)-1])}
			objs := []runtime.Object{cj}
			for _, j := range jobs {
				objs = append(objs, j)
			}
			f := newFixture(t, hour(8).Add(30*time.Minute), objs...)
			if _, err := f.c.sync(f.ctx, "ns/cj"); err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, w := range f.writes() {
				if n, ok := strings.CutPrefix(w, "delete jobs "); ok {
					deleted = append(deleted, n)
				}
			}
			slices.Sort(deleted)
			if !slices.Equal(deleted, tc.wantDeleted) {
				t.Errorf("deleted %q, want %q", deleted, tc.wantDeleted)
			}
			var deleteEvents int
			for _, r := range reasons(f.events()) {
				if r == "SuccessfulDelete" {
					deleteEvents++
				}
			}
			if deleteEvents != len(tc.wantDeleted) {
				t.Errorf("%d SuccessfulDelete events, want %d", deleteEvents, len(tc.wantDeleted))
			}
			// The latest completion is recorded whatever is deleted; the running job stays active.
			st := f.statusUpdate()
			if st == nil || timeOf(st.Status.LastSuccessfulTime) == nil || !st.Status.LastSuccessfulTime.Time.Equal(hour(4).Add(time.Minute)) {
				t.Fatalf("status = %+v, want lastSuccessfulTime %v", st, hour(4).Add(time.Minute))
			}
			if got := activeNames(st); !slices.Equal(got, []string{name(8)}) {
				t.Errorf("active = %q", got)
			}
		})
	}
}

func TestSortOldestFirst(t *testing.T) {
	mk := func(name string, start *time.Time) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if start != nil {
			j.Status.StartTime = ptr.To(metav1.NewTime(*start))
		}
		return j
	}
	jobs := []*batchv1.Job{mk("d", nil), mk("c", ptr.To(t0.Add(time.Hour))), mk("b", ptr.To(t0)), mk("a", ptr.To(t0)), mk("e", nil)}
	sortOldestFirst(jobs)
	var got []string
	for _, j := range jobs {
		got = append(got, j.Name)
	}
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}
