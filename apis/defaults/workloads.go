package defaults

import (
	"math"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// SetObjectDefaultsDeployment sets replicas 1, strategy RollingUpdate with maxUnavailable and
// maxSurge 25%, revisionHistoryLimit 10, progressDeadlineSeconds 600, and the template's PodSpec
// defaults. A Recreate strategy gets no rollingUpdate block.
func SetObjectDefaultsDeployment(d *appsv1.Deployment) {
	spec := &d.Spec
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		ru := spec.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if spec.ProgressDeadlineSeconds == nil {
		spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	SetDefaultsPodSpec(&spec.Template.Spec)
}

// SetObjectDefaultsDeploymentList defaults every item.
func SetObjectDefaultsDeploymentList(list *appsv1.DeploymentList) {
	for i := range list.Items {
		SetObjectDefaultsDeployment(&list.Items[i])
	}
}

// SetObjectDefaultsReplicaSet sets replicas 1 and the template's PodSpec defaults. (apps/v1 does
// not copy template labels onto the ReplicaSet; only the long-gone extensions group did.)
func SetObjectDefaultsReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	SetDefaultsPodSpec(&rs.Spec.Template.Spec)
}

// SetObjectDefaultsReplicaSetList defaults every item.
func SetObjectDefaultsReplicaSetList(list *appsv1.ReplicaSetList) {
	for i := range list.Items {
		SetObjectDefaultsReplicaSet(&list.Items[i])
	}
}

// SetObjectDefaultsDaemonSet sets updateStrategy RollingUpdate with maxUnavailable 1 and
// maxSurge 0, revisionHistoryLimit 10, and the template's PodSpec defaults.
func SetObjectDefaultsDaemonSet(ds *appsv1.DaemonSet) {
	us := &ds.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			us.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}
		if us.RollingUpdate.MaxSurge == nil {
			us.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	SetDefaultsPodSpec(&ds.Spec.Template.Spec)
}

// SetObjectDefaultsDaemonSetList defaults every item.
func SetObjectDefaultsDaemonSetList(list *appsv1.DaemonSetList) {
	for i := range list.Items {
		SetObjectDefaultsDaemonSet(&list.Items[i])
	}
}

// SetObjectDefaultsJob applies upstream's Job defaults: completions and parallelism 1 when both
// are unset (parallelism 1 when only it is), backoffLimit 6 (MaxInt32 with backoffLimitPerIndex),
// the Job's labels from the template's when it has none, completionMode NonIndexed, suspend
// false, podReplacementPolicy TerminatingOrFailed (Failed with a podFailurePolicy),
// manualSelector false, status True in podFailurePolicy onPodConditions patterns, and the
// template's PodSpec defaults.
func SetObjectDefaultsJob(job *batchv1.Job) {
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To[int32](1)
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptr.To[int32](6)
		}
	}
	if labels := spec.Template.Labels; labels != nil && len(job.Labels) == 0 {
		job.Labels = labels
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	setJobSpecNestedDefaults(spec)
}

// setJobSpecNestedDefaults defaults what a JobSpec contains, wherever it sits (a Job or a
// CronJob's jobTemplate): podFailurePolicy patterns and the pod template.
func setJobSpecNestedDefaults(spec *batchv1.JobSpec) {
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			patterns := spec.PodFailurePolicy.Rules[i].OnPodConditions
			for j := range patterns {
				if patterns[j].Status == "" {
					patterns[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	SetDefaultsPodSpec(&spec.Template.Spec)
}

// SetObjectDefaultsJobList defaults every item.
func SetObjectDefaultsJobList(list *batchv1.JobList) {
	for i := range list.Items {
		SetObjectDefaultsJob(&list.Items[i])
	}
}

// SetObjectDefaultsCronJob sets concurrencyPolicy Allow, suspend false, successfulJobsHistoryLimit
// 3 and failedJobsHistoryLimit 1. Like upstream, the jobTemplate's JobSpec does not get the Job
// defaults (those come when the Job is created); only its podFailurePolicy patterns and pod
// template are defaulted.
func SetObjectDefaultsCronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	setJobSpecNestedDefaults(&spec.JobTemplate.Spec)
}

// SetObjectDefaultsCronJobList defaults every item.
func SetObjectDefaultsCronJobList(list *batchv1.CronJobList) {
	for i := range list.Items {
		SetObjectDefaultsCronJob(&list.Items[i])
	}
}
