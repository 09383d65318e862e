package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func template(containers ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
}

var (
	nginx   = corev1.Container{Name: "nginx", Image: "nginx:1.27"}
	sidecar = corev1.Container{Name: "log", Image: "busybox"}
	appSel  = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
)

func objMeta(name string, created time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)}
}

// TestWorkloadRows checks the cells of representative workload objects.
func TestWorkloadRows(t *testing.T) {
	tests := []struct {
		name     string
		resource schema.GroupResource
		obj      runtime.Object
		want     []interface{}
	}{
		{"deployment", gr("apps", "deployments"), &appsv1.Deployment{
			ObjectMeta: objMeta("web", 3*time.Hour),
			Spec:       appsv1.DeploymentSpec{Replicas: ptrTo(int32(3)), Selector: appSel, Template: template(nginx, sidecar)},
			Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
		}, []interface{}{"web", "2/3", int64(3), int64(2), "3h", "nginx,log", "nginx:1.27,busybox", "app=web"}},
		{"deployment without replicas or selector", gr("apps", "deployments"), &appsv1.Deployment{ObjectMeta: objMeta("bare", time.Minute)},
			[]interface{}{"bare", "0/0", int64(0), int64(0), "60s", "", "", ""}},
		{"deployment with an invalid selector", gr("apps", "deployments"), &appsv1.Deployment{ObjectMeta: objMeta("bad", time.Minute),
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}},
			[]interface{}{"bad", "0/0", int64(0), int64(0), "60s", "", "", "<invalid>"}},
		{"replicaset", gr("apps", "replicasets"), &appsv1.ReplicaSet{
			ObjectMeta: objMeta("web-5d4f8", 25*time.Hour),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptrTo(int32(5)), Selector: appSel, Template: template(nginx)},
			Status:     appsv1.ReplicaSetStatus{Replicas: 5, ReadyReplicas: 4},
		}, []interface{}{"web-5d4f8", int64(5), int64(5), int64(4), "25h", "nginx", "nginx:1.27", "app=web"}},
		{"replicaset without selector", gr("apps", "replicasets"), &appsv1.ReplicaSet{ObjectMeta: objMeta("rs", 0)},
			[]interface{}{"rs", int64(0), int64(0), int64(0), "0s", "", "", "<none>"}},
		{"replicationcontroller", gr("", "replicationcontrollers"), &corev1.ReplicationController{
			ObjectMeta: objMeta("rc", 5*time.Minute),
			Spec: corev1.ReplicationControllerSpec{Replicas: ptrTo(int32(2)), Selector: map[string]string{"app": "web", "tier": "fe"},
				Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{nginx}}}},
			Status: corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1},
		}, []interface{}{"rc", int64(2), int64(2), int64(1), "5m", "nginx", "nginx:1.27", "app=web,tier=fe"}},
		{"replicationcontroller without template", gr("", "replicationcontrollers"), &corev1.ReplicationController{ObjectMeta: objMeta("rc", time.Second)},
			[]interface{}{"rc", int64(0), int64(0), int64(0), "1s", "", "", "<none>"}},
		{"daemonset", gr("apps", "daemonsets"), &appsv1.DaemonSet{
			ObjectMeta: objMeta("agent", 9*24*time.Hour),
			Spec: appsv1.DaemonSetSpec{Selector: appSel, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Containers: []corev1.Container{nginx}}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2},
		}, []interface{}{"agent", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "9d", "nginx", "nginx:1.27", "app=web"}},
		{"daemonset without node selector", gr("apps", "daemonsets"), &appsv1.DaemonSet{ObjectMeta: objMeta("ds", time.Hour)},
			[]interface{}{"ds", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "60m", "", "", "<none>"}},
		{"cronjob", gr("batch", "cronjobs"), &batchv1.CronJob{
			ObjectMeta: objMeta("nightly", 48*time.Hour),
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", TimeZone: ptrTo("Europe/Paris"), Suspend: ptrTo(false),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Selector: appSel, Template: template(nginx)}}},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "a"}, {Name: "b"}}, LastScheduleTime: agoPtr(9 * time.Hour)},
		}, []interface{}{"nightly", "0 3 * * *", "Europe/Paris", "False", int64(2), "9h", "2d", "nginx", "nginx:1.27", "app=web"}},
		{"cronjob never scheduled", gr("batch", "cronjobs"), &batchv1.CronJob{
			ObjectMeta: objMeta("new", time.Minute), Spec: batchv1.CronJobSpec{Schedule: "@hourly", Suspend: ptrTo(true)},
		}, []interface{}{"new", "@hourly", "<none>", "True", int64(0), "<none>", "60s", "", "", "<none>"}},
		{"cronjob with suspend unset", gr("batch", "cronjobs"), &batchv1.CronJob{ObjectMeta: objMeta("c", time.Minute), Spec: batchv1.CronJobSpec{Schedule: "* * * * *"}},
			[]interface{}{"c", "* * * * *", "<none>", "<unset>", int64(0), "<none>", "60s", "", "", "<none>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cellsOf(t, tc.resource, tc.obj); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func jobWith(mutate func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: objMeta("pi", 20*time.Minute),
		Spec:       batchv1.JobSpec{Completions: ptrTo(int32(1)), Parallelism: ptrTo(int32(1)), Selector: appSel, Template: template(nginx)},
	}
	mutate(j)
	return j
}

func jobCondition(t batchv1.JobConditionType, s corev1.ConditionStatus) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: s}
}

// TestJobRows covers the job STATUS, COMPLETIONS and DURATION columns.
func TestJobRows(t *testing.T) {
	tests := []struct {
		name                          string
		job                           *batchv1.Job
		status, completions, duration string
	}{
		{"not started", jobWith(func(j *batchv1.Job) {}), "Running", "0/1", ""},
		{"running", jobWith(func(j *batchv1.Job) { j.Status.StartTime = agoPtr(90 * time.Second) }), "Running", "0/1", "90s"},
		{"complete", jobWith(func(j *batchv1.Job) {
			j.Status.StartTime, j.Status.CompletionTime = agoPtr(10*time.Minute), agoPtr(7*time.Minute)
			j.Status.Succeeded = 1
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue), jobCondition(batchv1.JobComplete, corev1.ConditionTrue)}
		}), "Complete", "1/1", "3m"},
		{"failed", jobWith(func(j *batchv1.Job) {
			j.Status.StartTime = agoPtr(5 * time.Minute)
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget, corev1.ConditionTrue), jobCondition(batchv1.JobFailed, corev1.ConditionTrue)}
		}), "Failed", "0/1", "5m"},
		{"terminating", jobWith(func(j *batchv1.Job) {
			j.DeletionTimestamp = agoPtr(time.Second)
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionTrue)}
		}), "Terminating", "0/1", ""},
		{"suspended", jobWith(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionTrue)}
		}), "Suspended", "0/1", ""},
		{"resumed (Suspended=False)", jobWith(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended, corev1.ConditionFalse)}
		}), "Running", "0/1", ""},
		{"failure target", jobWith(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget, corev1.ConditionTrue)}
		}), "FailureTarget", "0/1", ""},
		{"success criteria met", jobWith(func(j *batchv1.Job) {
			j.Status.Succeeded = 1
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue)}
		}), "SuccessCriteriaMet", "1/1", ""},
		{"no completions, parallelism 3", jobWith(func(j *batchv1.Job) {
			j.Spec.Completions, j.Spec.Parallelism, j.Status.Succeeded = nil, ptrTo(int32(3)), 2
		}), "Running", "2/1 of 3", ""},
		{"no completions, no parallelism", jobWith(func(j *batchv1.Job) {
			j.Spec.Completions, j.Spec.Parallelism = nil, nil
		}), "Running", "0/1", ""},
		{"indexed completions", jobWith(func(j *batchv1.Job) {
			j.Spec.Completions, j.Status.Succeeded = ptrTo(int32(10)), 4
		}), "Running", "4/10", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cellsOf(t, gr("batch", "jobs"), tc.job)
			want := []interface{}{"pi", tc.status, tc.completions, tc.duration, "20m", "nginx", "nginx:1.27", "app=web"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, want)
			}
		})
	}
}
