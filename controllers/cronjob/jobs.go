package cronjob

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// controllerKind is the kind of the Jobs' owner.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// jobName is the name of the Job for a schedule time: the CronJob's name and the time in
// minutes since the epoch, so that one schedule time never makes two Jobs.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFor builds the Job of cj for a schedule time from its jobTemplate: the template's labels
// and annotations, the batch.kubernetes.io/cronjob-scheduled-timestamp annotation (RFC 3339
// in the CronJob's time zone, UTC without one) and cj as controller.
func jobFor(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, fmt.Errorf("load time zone of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	annotations := make(map[string]string, len(cj.Spec.JobTemplate.Annotations)+1)
	maps.Copy(annotations, cj.Spec.JobTemplate.Annotations)
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	labels := make(map[string]string, len(cj.Spec.JobTemplate.Labels))
	maps.Copy(labels, cj.Spec.JobTemplate.Labels)

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

// finishedCondition returns Complete or Failed when the Job has finished, "" otherwise.
func finishedCondition(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

func isActive(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

func isActiveByName(cj *batchv1.CronJob, name string) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool {
		return r.Name == name && r.Namespace == cj.Namespace
	})
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}

// sortOldestFirst orders Jobs by start time, Jobs not started last, names breaking ties.
func sortOldestFirst(jobs []*batchv1.Job) {
	slices.SortStableFunc(jobs, func(a, b *batchv1.Job) int {
		sa, sb := a.Status.StartTime, b.Status.StartTime
		switch {
		case sa == nil && sb != nil:
			return 1
		case sa != nil && sb == nil:
			return -1
		case sa != nil && sb != nil && !sa.Equal(sb):
			return sa.Time.Compare(sb.Time)
		}
		return cmp.Compare(a.Name, b.Name)
	})
}
