package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// nextScheduleDelta is added to every requeue so that the sync runs just after, never just
// before, the schedule time it was queued for.
const nextScheduleDelta = 100 * time.Millisecond

// tooManyMissed is the number of missed schedule times past which the controller warns
// (TooManyMissedTimes): a clock skew, a controller that was down for long, or a deadline-less
// CronJob on a tight schedule.
const tooManyMissed = 100

// scheduleSpec is the schedule string handed to cron.ParseStandard: spec.schedule, prefixed
// with spec.timeZone when one is set (without it the controller's local zone applies, as in
// kube-controller-manager). A TZ=/CRON_TZ= prefix in spec.schedule itself is refused by the
// API for new objects; older objects may still carry one, so it is honoured with a warning
// (recorder may be nil to skip the event).
func scheduleSpec(cj *batchv1.CronJob, recorder record.EventRecorder) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		if recorder != nil {
			recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule",
				"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
				cj.Spec.Schedule)
		}
		return cj.Spec.Schedule
	}
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			return "TZ=" + *cj.Spec.TimeZone + " " + cj.Spec.Schedule
		}
	}
	return cj.Spec.Schedule
}

// parseSchedule parses cj's schedule in its time zone.
func parseSchedule(cj *batchv1.CronJob, recorder record.EventRecorder) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(scheduleSpec(cj, recorder))
	if err != nil {
		return nil, fmt.Errorf("parse schedule %q: %w", cj.Spec.Schedule, err)
	}
	return sched, nil
}

// unmet describes the schedule times that passed since the last one the CronJob acted on.
type unmet struct {
	// since is the last schedule time acted on, or the creation time, possibly moved
	// forward to now-startingDeadlineSeconds.
	since time.Time
	// latest is the most recent schedule time in (since, now], or nil.
	latest *time.Time
	// count approximates how many schedule times fell in (since, now].
	count int64
}

// unmetSchedules finds the schedule times in (since, now] where since is the CronJob's
// lastScheduleTime (its creation time before the first run), moved forward to
// now-startingDeadlineSeconds when withDeadline is set and the CronJob has one. It does not
// walk every missed time: from the gap between the first two times it estimates how many
// passed and looks for the latest one shortly before now, going further back only when the
// schedule is irregular (weekdays only, say) and nothing is found there.
// A schedule that never fires (the 31st of February) is an error.
func unmetSchedules(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, withDeadline bool) (unmet, error) {
	u := unmet{since: cj.CreationTimestamp.Time}
	if cj.Status.LastScheduleTime != nil {
		u.since = cj.Status.LastScheduleTime.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if deadline := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); deadline.After(u.since) {
			u.since = deadline
		}
	}
	first := sched.Next(u.since)
	if first.IsZero() {
		return u, fmt.Errorf("schedule %q never fires after %s", cj.Spec.Schedule, u.since.UTC().Format(time.RFC3339))
	}
	if now.Before(first) {
		return u, nil
	}
	second := sched.Next(first)
	if second.IsZero() || now.Before(second) {
		u.latest, u.count = &first, 1
		return u, nil
	}
	interval := second.Sub(first).Round(time.Second)
	if interval < time.Second {
		return u, fmt.Errorf("schedule %q fires less than a second apart", cj.Spec.Schedule)
	}
	u.count = int64(now.Sub(first)/interval) + 1

	// Look for the latest time after first+n*interval for n = count-2, count-3, count-5, …
	// (aligned on first, so that @every schedules land on their own times), until a time is
	// found; from first itself, which is in (since, now], the search cannot fail.
	for back := int64(1); ; back *= 2 {
		var from, latest time.Time
		if n := u.count - 1 - back; n > 0 {
			from = first.Add(time.Duration(n) * interval)
		} else {
			from, latest = first, first
		}
		for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			latest = t
		}
		if !latest.IsZero() {
			u.latest = &latest
			return u, nil
		}
	}
}

// requeueAfter is how long to wait before the next schedule time after now, plus
// nextScheduleDelta; nil when the schedule never fires again.
func requeueAfter(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) *time.Duration {
	base := now
	if u, err := unmetSchedules(cj, now, sched, false); err == nil {
		switch {
		case u.latest != nil:
			base = *u.latest
		case u.count == 0:
			base = u.since
		}
	}
	next := sched.Next(base)
	if next.IsZero() {
		return nil
	}
	d := next.Add(nextScheduleDelta).Sub(now)
	return &d
}
