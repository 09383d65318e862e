package printers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"
)

// The column descriptions are the swagger docs of the same (sometimes older)
// API versions kube-apiserver takes them from, so that they read the same.

func deploymentPrinter(now func() time.Time) rest.TableConvertor {
	status := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	return newPrinter(now, columns([]metav1.TableColumnDefinition{
		nameColumn(),
		col("Ready", typeString, "Number of the pod with ready state"),
		col("Up-to-date", typeString, status["updatedReplicas"]),
		col("Available", typeString, status["availableReplicas"]),
		ageColumn(),
	}, templateColumns(extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"])),
		func(d *appsv1.Deployment, now time.Time) []interface{} {
			selector := "<invalid>"
			if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
				selector = s.String()
			}
			names, images := containerCells(d.Spec.Template.Spec.Containers)
			return []interface{}{
				d.Name,
				fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), int64(int32Value(d.Spec.Replicas))),
				int64(d.Status.UpdatedReplicas),
				int64(d.Status.AvailableReplicas),
				age(d.CreationTimestamp, now),
				names, images, selector,
			}
		})
}

func replicaSetPrinter(now func() time.Time) rest.TableConvertor {
	spec, status := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc(), extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	return newPrinter(now, replicaColumns(spec, status),
		func(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
			names, images := containerCells(rs.Spec.Template.Spec.Containers)
			return []interface{}{
				rs.Name,
				int64(int32Value(rs.Spec.Replicas)),
				int64(rs.Status.Replicas),
				int64(rs.Status.ReadyReplicas),
				age(rs.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
			}
		})
}

func replicationControllerPrinter(now func() time.Time) rest.TableConvertor {
	spec, status := corev1.ReplicationControllerSpec{}.SwaggerDoc(), corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return newPrinter(now, replicaColumns(spec, status),
		func(rc *corev1.ReplicationController, now time.Time) []interface{} {
			var containers []corev1.Container
			if rc.Spec.Template != nil {
				containers = rc.Spec.Template.Spec.Containers
			}
			names, images := containerCells(containers)
			return []interface{}{
				rc.Name,
				int64(int32Value(rc.Spec.Replicas)),
				int64(rc.Status.Replicas),
				int64(rc.Status.ReadyReplicas),
				age(rc.CreationTimestamp, now),
				names, images, labels.FormatLabels(rc.Spec.Selector),
			}
		})
}

// replicaColumns are the columns of ReplicaSets and ReplicationControllers.
func replicaColumns(spec, status map[string]string) []metav1.TableColumnDefinition {
	return columns([]metav1.TableColumnDefinition{
		nameColumn(),
		col("Desired", typeInteger, spec["replicas"]),
		col("Current", typeInteger, status["replicas"]),
		col("Ready", typeInteger, status["readyReplicas"]),
		ageColumn(),
	}, templateColumns(spec["selector"]))
}

func daemonSetPrinter(now func() time.Time) rest.TableConvertor {
	status := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	return newPrinter(now, columns([]metav1.TableColumnDefinition{
		nameColumn(),
		col("Desired", typeInteger, status["desiredNumberScheduled"]),
		col("Current", typeInteger, status["currentNumberScheduled"]),
		col("Ready", typeInteger, status["numberReady"]),
		col("Up-to-date", typeInteger, status["updatedNumberScheduled"]),
		col("Available", typeInteger, status["numberAvailable"]),
		col("Node Selector", typeString, corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
	}, templateColumns(extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"])),
		func(ds *appsv1.DaemonSet, now time.Time) []interface{} {
			names, images := containerCells(ds.Spec.Template.Spec.Containers)
			return []interface{}{
				ds.Name,
				int64(ds.Status.DesiredNumberScheduled),
				int64(ds.Status.CurrentNumberScheduled),
				int64(ds.Status.NumberReady),
				int64(ds.Status.UpdatedNumberScheduled),
				int64(ds.Status.NumberAvailable),
				labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
				age(ds.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
			}
		})
}

func jobPrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, columns([]metav1.TableColumnDefinition{
		nameColumn(),
		col("Status", typeString, "Status of the job."),
		col("Completions", typeString, batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		col("Duration", typeString, "Time required to complete the job."),
		ageColumn(),
	}, templateColumns(batchv1.JobSpec{}.SwaggerDoc()["selector"])),
		func(j *batchv1.Job, now time.Time) []interface{} {
			names, images := containerCells(j.Spec.Template.Spec.Containers)
			return []interface{}{
				j.Name,
				jobStatus(j),
				jobCompletions(j),
				jobDuration(j, now),
				age(j.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(j.Spec.Selector),
			}
		})
}

// jobStatus is the STATUS of a job: its terminal condition, Terminating while it
// is deleted, else Suspended or an interim condition, else Running.
func jobStatus(j *batchv1.Job) string {
	switch {
	case jobConditionTrue(j, batchv1.JobComplete):
		return "Complete"
	case jobConditionTrue(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case jobConditionTrue(j, batchv1.JobSuspended):
		return "Suspended"
	case jobConditionTrue(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case jobConditionTrue(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	default:
		return "Running"
	}
}

// jobConditionTrue reports whether the first condition of type t is True.
func jobConditionTrue(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// jobCompletions is "succeeded/completions", or for a job without completions
// "succeeded/1", with " of <parallelism>" when more than one pod runs at once.
func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := int32Value(j.Spec.Parallelism); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration is how long the job ran (until now while it runs), empty before it started.
func jobDuration(j *batchv1.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
}

func cronJobPrinter(now func() time.Time) rest.TableConvertor {
	spec, status := batchv1beta1.CronJobSpec{}.SwaggerDoc(), batchv1beta1.CronJobStatus{}.SwaggerDoc()
	return newPrinter(now, columns([]metav1.TableColumnDefinition{
		nameColumn(),
		col("Schedule", typeString, spec["schedule"]),
		col("Timezone", typeString, spec["timeZone"]),
		col("Suspend", typeBoolean, spec["suspend"]),
		col("Active", typeInteger, status["active"]),
		col("Last Schedule", typeString, status["lastScheduleTime"]),
		ageColumn(),
	}, templateColumns(batchv1.JobSpec{}.SwaggerDoc()["selector"])),
		func(cj *batchv1.CronJob, now time.Time) []interface{} {
			lastSchedule := none
			if cj.Status.LastScheduleTime != nil {
				lastSchedule = age(*cj.Status.LastScheduleTime, now)
			}
			timeZone := none
			if cj.Spec.TimeZone != nil {
				timeZone = *cj.Spec.TimeZone
			}
			names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
			return []interface{}{
				cj.Name,
				cj.Spec.Schedule,
				timeZone,
				boolCell(cj.Spec.Suspend),
				int64(len(cj.Status.Active)),
				lastSchedule,
				age(cj.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
			}
		})
}
