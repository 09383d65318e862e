package cronjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// sync reconciles one CronJob. It returns when to sync it again (at its next schedule time),
// nil when only a change of the CronJob can give it something to do (suspended, deleted,
// unparseable schedule), or an error to retry with back-off.
func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, fmt.Errorf("split key %q: %w", key, err)
	}
	logger := klog.FromContext(ctx)
	cached, err := c.cronJobLister.CronJobs(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		logger.V(4).Info("CronJob gone", "cronjob", klog.KRef(namespace, name))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get cronjob %s from cache: %w", key, err)
	}
	jobs, err := c.jobsOf(cached)
	if err != nil {
		return nil, err
	}

	cj := cached.DeepCopy()
	changed, err := c.trackJobs(ctx, cj, jobs)
	if errors.Is(err, errStaleCronJob) {
		// Our cached CronJob missed its own status update (a Job we created is not in its
		// active list yet): work from the API server's copy.
		fresh, getErr := c.client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if getErr != nil {
			return nil, fmt.Errorf("get cronjob %s: %w", key, getErr)
		}
		cj = fresh
		changed, err = c.trackJobs(ctx, cj, jobs)
		if errors.Is(err, errStaleCronJob) {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	if c.cleanupFinishedJobs(ctx, cj, jobs) {
		changed = true
	}
	after, scheduled, syncErr := c.schedule(ctx, cj)
	if scheduled {
		changed = true
	}
	if changed {
		if _, err := c.client.BatchV1().CronJobs(namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("update status of cronjob %s: %w", key, err)
		}
	}
	if syncErr != nil {
		return nil, syncErr
	}
	if after != nil {
		logger.V(4).Info("Requeueing cronjob", "cronjob", klog.KObj(cj), "after", *after)
	}
	return after, nil
}

// jobsOf lists the Jobs cj controls (also those whose labels no longer match its template).
func (c *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list jobs of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	var out []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == controllerKind.Kind && ref.Name == cj.Name && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	return out, nil
}

var errStaleCronJob = errors.New("cached cronjob is stale")

// trackJobs brings status.active and lastSuccessfulTime up to date with the Jobs: finished
// Jobs leave the active list (SawCompletedJob), the latest completion is recorded, and
// active Jobs that no longer exist are dropped (MissingJob). A running Job we control that is
// not in the active list means our cached CronJob may be stale (errStaleCronJob), or someone
// else made it (UnexpectedJob).
func (c *Controller) trackJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (bool, error) {
	changed := false
	var unexpected []*batchv1.Job
	present := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		present[string(j.UID)] = true
		active := isActive(cj, j.UID)
		cond := finishedCondition(j)
		switch {
		case cond == "" && !active:
			unexpected = append(unexpected, j)
		case cond != "" && active:
			removeActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
			changed = true
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if last := cj.Status.LastSuccessfulTime; last == nil || j.Status.CompletionTime.After(last.Time) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
				changed = true
			}
		}
	}
	if len(unexpected) > 0 {
		fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
		if err != nil {
			return changed, fmt.Errorf("get cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
		}
		if fresh.ResourceVersion != cj.ResourceVersion {
			return changed, errStaleCronJob
		}
		for _, j := range unexpected {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		}
	}

	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if present[string(ref.UID)] {
			continue
		}
		// Ask the API server: the Job cache may lag behind a Job we just created.
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
			changed = true
		case err != nil:
			return changed, fmt.Errorf("get active job %s/%s of cronjob %s: %w", ref.Namespace, ref.Name, cj.Name, err)
		}
	}
	return changed, nil
}

// cleanupFinishedJobs deletes the oldest finished Jobs past successfulJobsHistoryLimit and
// failedJobsHistoryLimit. Jobs already being deleted are not counted.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch finishedCondition(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	for _, group := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if group.limit == nil || len(group.jobs) <= int(*group.limit) {
			continue
		}
		sortOldestFirst(group.jobs)
		for _, j := range group.jobs[:len(group.jobs)-int(*group.limit)] {
			klog.FromContext(ctx).V(4).Info("Removing old finished job", "job", klog.KObj(j), "cronjob", klog.KObj(cj))
			if c.deleteJob(ctx, cj, j.Namespace, j.Name, j.UID) == nil {
				changed = true
			}
		}
	}
	return changed
}

// deleteJob deletes a Job of cj in the background (the garbage collector removes its pods)
// and drops it from the active list.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, namespace, name string, uid types.UID) error {
	opts := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	if uid != "" {
		opts.Preconditions = metav1.NewUIDPreconditions(string(uid))
	}
	err := c.client.BatchV1().Jobs(namespace).Delete(ctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		klog.FromContext(ctx).Error(err, "Deleting job of cronjob", "job", klog.KRef(namespace, name), "cronjob", klog.KObj(cj))
		return fmt.Errorf("delete job %s/%s: %w", namespace, name, err)
	}
	removeActive(cj, uid)
	if err == nil {
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	}
	return nil
}

// schedule starts the Job of the most recent unmet schedule time, if any is due and the
// concurrency policy lets it. It returns when to look again, whether cj's status changed,
// and an error to retry with back-off.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob) (*time.Duration, bool, error) {
	logger := klog.FromContext(ctx)
	if cj.DeletionTimestamp != nil {
		return nil, false, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			logger.V(4).Info("Not starting job: unknown time zone", "cronjob", klog.KObj(cj), "timeZone", *tz, "err", err)
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return nil, false, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		logger.V(4).Info("Not starting job: cronjob suspended", "cronjob", klog.KObj(cj))
		return nil, false, nil
	}
	sched, err := parseSchedule(cj, c.recorder)
	if err != nil {
		logger.V(2).Info("Unparseable schedule", "cronjob", klog.KObj(cj), "schedule", cj.Spec.Schedule, "err", err)
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, false, nil
	}
	now := c.now()
	u, err := unmetSchedules(cj, now, sched, true)
	if err != nil {
		logger.V(2).Info("Invalid schedule", "cronjob", klog.KObj(cj), "schedule", cj.Spec.Schedule, "err", err)
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, false, nil
	}
	next := requeueAfter(cj, now, sched)
	if u.latest == nil {
		// Nothing due within the starting deadline: a time missed past it is reported.
		if cj.Spec.StartingDeadlineSeconds != nil {
			if all, err := unmetSchedules(cj, now, sched, false); err == nil && all.latest != nil {
				logger.V(4).Info("Missed starting window", "cronjob", klog.KObj(cj), "scheduled", *all.latest)
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", all.latest.UTC().Format(time.RFC1123Z))
			}
		}
		return next, false, nil
	}
	scheduled := *u.latest
	if u.count > tooManyMissed {
		logger.Info("Too many missed start times", "cronjob", klog.KObj(cj), "missed", u.count)
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	name := jobName(cj, scheduled)
	if isActiveByName(cj, name) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(scheduled)) {
		logger.V(4).Info("Schedule time already processed", "cronjob", klog.KObj(cj), "scheduled", scheduled)
		return next, false, nil
	}

	changed := false
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			logger.V(4).Info("Not starting job: prior execution still running and concurrency policy is Forbid", "cronjob", klog.KObj(cj))
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, false, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			logger.V(4).Info("Replacing job still running at the next schedule time", "job", klog.KRef(ref.Namespace, ref.Name), "cronjob", klog.KObj(cj))
			if err := c.deleteJob(ctx, cj, ref.Namespace, ref.Name, ref.UID); err != nil {
				return nil, changed, fmt.Errorf("replace job %s/%s of cronjob %s: %w", ref.Namespace, ref.Name, cj.Name, err)
			}
			changed = true
		}
	}

	want, err := jobFor(cj, scheduled)
	if err != nil {
		return nil, changed, err
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, changed, fmt.Errorf("create job %s/%s: %w", cj.Namespace, want.Name, err)
	case apierrors.IsAlreadyExists(err):
		// Made by us before a status update was lost, or by someone else.
		existing, getErr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, changed, fmt.Errorf("get existing job %s/%s: %w", cj.Namespace, want.Name, getErr)
		}
		if !metav1.IsControlledBy(existing, cj) || isActive(cj, existing.UID) {
			return next, changed, nil
		}
		logger.Info("Job already exists", "cronjob", klog.KObj(cj), "job", klog.KObj(existing))
		job = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, changed, fmt.Errorf("create job %s/%s: %w", cj.Namespace, want.Name, err)
	default:
		logger.V(4).Info("Created job", "job", klog.KObj(job), "cronjob", klog.KObj(cj))
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", job.Name)
	}

	ref, err := reference.GetReference(scheme.Scheme, job)
	if err != nil {
		return nil, changed, fmt.Errorf("reference to job %s/%s: %w", job.Namespace, job.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return next, true, nil
}
