package defaults

import (
	"math"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestWorkloadDefaults(t *testing.T) {
	labels := map[string]string{"app": "web"}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	tests := []struct {
		name      string
		in, want  any
		defaultFn func(any)
	}{
		{
			name: "deployment: everything",
			in:   &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Selector: sel, Template: minimalTemplate(labels)}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: sel,
				Template: defaultedTemplate(labels),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%")),
				}},
				RevisionHistoryLimit:    ptr.To[int32](10),
				ProgressDeadlineSeconds: ptr.To[int32](600),
			}},
			defaultFn: func(o any) { SetObjectDefaultsDeployment(o.(*appsv1.Deployment)) },
		},
		{
			name: "deployment: user values kept, partial rollingUpdate filled",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Template: defaultedTemplate(labels),
				Strategy:             appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0))}},
				RevisionHistoryLimit: ptr.To[int32](0), ProgressDeadlineSeconds: ptr.To[int32](30),
			}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Template: defaultedTemplate(labels),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromInt32(0)),
				}},
				RevisionHistoryLimit: ptr.To[int32](0), ProgressDeadlineSeconds: ptr.To[int32](30),
			}},
			defaultFn: func(o any) { SetObjectDefaultsDeployment(o.(*appsv1.Deployment)) },
		},
		{
			name: "deployment: Recreate gets no rollingUpdate",
			in:   &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, Template: defaultedTemplate(nil)}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, Template: defaultedTemplate(nil),
				RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600),
			}},
			defaultFn: func(o any) { SetObjectDefaultsDeployment(o.(*appsv1.Deployment)) },
		},
		{
			name:      "replicaset: replicas 1, labels not copied",
			in:        &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: minimalTemplate(labels)}},
			want:      &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: sel, Template: defaultedTemplate(labels)}},
			defaultFn: func(o any) { SetObjectDefaultsReplicaSet(o.(*appsv1.ReplicaSet)) },
		},
		{
			name:      "replicaset: zero replicas kept",
			in:        &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Template: defaultedTemplate(nil)}},
			want:      &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Template: defaultedTemplate(nil)}},
			defaultFn: func(o any) { SetObjectDefaultsReplicaSet(o.(*appsv1.ReplicaSet)) },
		},
		{
			name: "daemonset: everything",
			in:   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: sel, Template: minimalTemplate(labels)}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				Selector: sel, Template: defaultedTemplate(labels),
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				}},
				RevisionHistoryLimit: ptr.To[int32](10),
			}},
			defaultFn: func(o any) { SetObjectDefaultsDaemonSet(o.(*appsv1.DaemonSet)) },
		},
		{
			name: "daemonset: OnDelete and user values kept",
			in: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: defaultedTemplate(nil), RevisionHistoryLimit: ptr.To[int32](2),
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: defaultedTemplate(nil), RevisionHistoryLimit: ptr.To[int32](2),
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}},
			defaultFn: func(o any) { SetObjectDefaultsDaemonSet(o.(*appsv1.DaemonSet)) },
		},
		{
			name: "job: everything",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Template: minimalTemplate(labels)}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					Template:             defaultedTemplate(labels),
					Completions:          ptr.To[int32](1),
					Parallelism:          ptr.To[int32](1),
					BackoffLimit:         ptr.To[int32](6),
					CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
					Suspend:              ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
					ManualSelector:       ptr.To(false),
				},
			},
			defaultFn: func(o any) { SetObjectDefaultsJob(o.(*batchv1.Job)) },
		},
		{
			name: "job: parallelism only, per-index backoff, pod failure policy",
			in: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}},
				Spec: batchv1.JobSpec{
					Template: defaultedTemplate(labels), Parallelism: ptr.To[int32](3), BackoffLimitPerIndex: ptr.To[int32](2),
					CompletionMode: ptr.To(batchv1.IndexedCompletion),
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionIgnore,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}, {Type: "Other", Status: corev1.ConditionFalse}},
					}}},
				},
			},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}},
				Spec: batchv1.JobSpec{
					Template: defaultedTemplate(labels), Parallelism: ptr.To[int32](3), BackoffLimitPerIndex: ptr.To[int32](2),
					BackoffLimit:   ptr.To[int32](math.MaxInt32),
					CompletionMode: ptr.To(batchv1.IndexedCompletion),
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionIgnore,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}, {Type: "Other", Status: corev1.ConditionFalse}},
					}}},
					Suspend:              ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.Failed),
					ManualSelector:       ptr.To(false),
				},
			},
			defaultFn: func(o any) { SetObjectDefaultsJob(o.(*batchv1.Job)) },
		},
		{
			name: "job: user values kept",
			in: &batchv1.Job{Spec: batchv1.JobSpec{
				Template: defaultedTemplate(nil), Completions: ptr.To[int32](5), Parallelism: ptr.To[int32](2), BackoffLimit: ptr.To[int32](0),
				CompletionMode: ptr.To(batchv1.IndexedCompletion), Suspend: ptr.To(true), PodReplacementPolicy: ptr.To(batchv1.Failed), ManualSelector: ptr.To(true),
			}},
			want: &batchv1.Job{Spec: batchv1.JobSpec{
				Template: defaultedTemplate(nil), Completions: ptr.To[int32](5), Parallelism: ptr.To[int32](2), BackoffLimit: ptr.To[int32](0),
				CompletionMode: ptr.To(batchv1.IndexedCompletion), Suspend: ptr.To(true), PodReplacementPolicy: ptr.To(batchv1.Failed), ManualSelector: ptr.To(true),
			}},
			defaultFn: func(o any) { SetObjectDefaultsJob(o.(*batchv1.Job)) },
		},
		{
			name: "job: completions only leaves parallelism 1",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Template: defaultedTemplate(nil), Completions: ptr.To[int32](4)}},
			want: &batchv1.Job{Spec: batchv1.JobSpec{
				Template: defaultedTemplate(nil), Completions: ptr.To[int32](4), Parallelism: ptr.To[int32](1), BackoffLimit: ptr.To[int32](6),
				CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false), PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed), ManualSelector: ptr.To(false),
			}},
			defaultFn: func(o any) { SetObjectDefaultsJob(o.(*batchv1.Job)) },
		},
		{
			name: "cronjob: own defaults, job template gets only pod and failure-policy defaults",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: minimalTemplate(labels),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action: batchv1.PodFailurePolicyActionFailJob, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
				}}},
			}}}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:                   "* * * * *",
				ConcurrencyPolicy:          batchv1.AllowConcurrent,
				Suspend:                    ptr.To(false),
				SuccessfulJobsHistoryLimit: ptr.To[int32](3),
				FailedJobsHistoryLimit:     ptr.To[int32](1),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					Template: defaultedTemplate(labels),
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action: batchv1.PodFailurePolicyActionFailJob, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
					}}},
				}},
			}},
			defaultFn: func(o any) { SetObjectDefaultsCronJob(o.(*batchv1.CronJob)) },
		},
		{
			name: "cronjob: user values kept",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: ptr.To(true),
				SuccessfulJobsHistoryLimit: ptr.To[int32](0), FailedJobsHistoryLimit: ptr.To[int32](0), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedTemplate(nil)}}}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: ptr.To(true),
				SuccessfulJobsHistoryLimit: ptr.To[int32](0), FailedJobsHistoryLimit: ptr.To[int32](0), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedTemplate(nil)}}}},
			defaultFn: func(o any) { SetObjectDefaultsCronJob(o.(*batchv1.CronJob)) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.defaultFn(tc.in)
			assertSemanticEqual(t, tc.in, tc.want)
			tc.defaultFn(tc.in)
			assertSemanticEqual(t, tc.in, tc.want)
		})
	}
}

// TestTemplatesGetPodSpecDefaults checks that every workload defaults the PodSpec inside its
// template, nested deeply (a container probe), not only the top-level fields.
func TestTemplatesGetPodSpecDefaults(t *testing.T) {
	tmpl := func() corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27", LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}}},
			Volumes:    []corev1.Volume{{Name: "v"}},
		}}
	}
	specs := map[string]func() *corev1.PodSpec{
		"Deployment": func() *corev1.PodSpec {
			d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl()}}
			SetObjectDefaultsDeployment(d)
			return &d.Spec.Template.Spec
		},
		"ReplicaSet": func() *corev1.PodSpec {
			r := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl()}}
			SetObjectDefaultsReplicaSet(r)
			return &r.Spec.Template.Spec
		},
		"DaemonSet": func() *corev1.PodSpec {
			d := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl()}}
			SetObjectDefaultsDaemonSet(d)
			return &d.Spec.Template.Spec
		},
		"Job": func() *corev1.PodSpec {
			j := &batchv1.Job{Spec: batchv1.JobSpec{Template: tmpl()}}
			SetObjectDefaultsJob(j)
			return &j.Spec.Template.Spec
		},
		"CronJob": func() *corev1.PodSpec {
			c := &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl()}}}}
			SetObjectDefaultsCronJob(c)
			return &c.Spec.JobTemplate.Spec.Template.Spec
		},
		"ReplicationController": func() *corev1.PodSpec {
			r := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: ptr.To(tmpl())}}
			SetObjectDefaultsReplicationController(r)
			return &r.Spec.Template.Spec
		},
		"PodTemplate": func() *corev1.PodSpec {
			p := &corev1.PodTemplate{Template: tmpl()}
			SetObjectDefaultsPodTemplate(p)
			return &p.Template.Spec
		},
	}
	for kind, defaulted := range specs {
		spec := defaulted()
		probe := spec.Containers[0].LivenessProbe
		if spec.DNSPolicy != corev1.DNSClusterFirst || spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent ||
			probe.PeriodSeconds != 10 || probe.HTTPGet.Path != "/" || spec.Volumes[0].EmptyDir == nil {
			t.Errorf("%s: pod template not fully defaulted: %s", kind, toJSON(t, spec))
		}
	}
}
