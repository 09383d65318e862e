package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// want describes one expected error: its path and type, and optionally text the full
// message (field.Error.Error()) must equal (msg) or start with (prefix).
type want struct {
	field  string
	typ    field.ErrorType
	msg    string
	prefix string
}

func req(f string) want                 { return want{field: f, typ: field.ErrorTypeRequired} }
func inv(f string) want                 { return want{field: f, typ: field.ErrorTypeInvalid} }
func forb(f string) want                { return want{field: f, typ: field.ErrorTypeForbidden} }
func dup(f string) want                 { return want{field: f, typ: field.ErrorTypeDuplicate} }
func unsup(f string) want               { return want{field: f, typ: field.ErrorTypeNotSupported} }
func notFound(f string) want            { return want{field: f, typ: field.ErrorTypeNotFound} }
func tooLong(f string) want             { return want{field: f, typ: field.ErrorTypeTooLong} }
func (w want) withMsg(m string) want    { w.msg = m; return w }
func (w want) withPrefix(p string) want { w.prefix = p; return w }
func (w want) String() string           { return w.field + " " + string(w.typ) }
func (w want) matches(e *field.Error) bool {
	if e.Field != w.field || e.Type != w.typ {
		return false
	}
	if w.msg != "" && e.Error() != w.msg {
		return false
	}
	if w.prefix != "" && !strings.HasPrefix(e.Error(), w.prefix) {
		return false
	}
	return true
}

// expectErrs checks that every wanted error is in errs; with none wanted, errs must be
// empty.
func expectErrs(t *testing.T, errs field.ErrorList, wants ...want) {
	t.Helper()
	if len(wants) == 0 {
		if len(errs) != 0 {
			t.Fatalf("expected no errors, got:\n%s", dump(errs))
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("expected errors %v, got none", wants)
	}
	for _, w := range wants {
		found := false
		for _, e := range errs {
			if w.matches(e) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing error %v (msg %q prefix %q); got:\n%s", w, w.msg, w.prefix, dump(errs))
		}
	}
}

func dump(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  [" + string(e.Type) + "] " + e.Error() + "\n")
	}
	return b.String()
}

// Defaulted fixtures, as the decoder hands them to the strategies.

func validContainer(name, image string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

func validPodSpec() corev1.PodSpec {
	c := validContainer("web", "nginx")
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
	return corev1.PodSpec{
		Containers:                    []corev1.Container{c},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		SchedulerName:                 corev1.DefaultSchedulerName,
		SecurityContext:               &corev1.PodSecurityContext{},
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

// stored returns a copy as the store would hold it (resourceVersion, uid set).
func storedPod() *corev1.Pod {
	p := validPod()
	p.ResourceVersion = "1"
	p.UID = "0b6f4f1a-0000-0000-0000-000000000001"
	return p
}

func validTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: validPodSpec()}
}

var appLabels = map[string]string{"app": "example"}

func validDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: validTemplate(appLabels),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "example-5d8f", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: validTemplate(appLabels),
		},
	}
}

func validDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: validTemplate(appLabels),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)),
					MaxSurge:       ptr.To(intstr.FromInt32(0)),
				},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func validRC() *corev1.ReplicationController {
	tmpl := validTemplate(appLabels)
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: appLabels,
			Template: &tmpl,
		},
	}
}

const jobUID = "3b1e2d4c-0000-0000-0000-00000000beef"

// validJob is a job after the strategy generated its selector.
func validJob() *batchv1.Job {
	lbls := map[string]string{
		LegacyJobControllerUIDLabel: jobUID, LegacyJobNameLabel: "pi",
		batchv1.ControllerUidLabel: jobUID, batchv1.JobNameLabel: "pi",
	}
	tmpl := validTemplate(lbls)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: jobUID, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Parallelism:    ptr.To[int32](1),
			Completions:    ptr.To[int32](1),
			BackoffLimit:   ptr.To[int32](6),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: jobUID}},
			Template:       tmpl,
			CompletionMode: ptr.To(batchv1.NonIndexedCompletion),
			Suspend:        ptr.To(false),
		},
	}
}

func validCronJob() *batchv1.CronJob {
	tmpl := validTemplate(nil)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default", ResourceVersion: "1"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/1 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](6),
				Template:     tmpl,
			}},
		},
	}
}

func fieldPath(elems ...string) *field.Path {
	return field.NewPath(elems[0], elems[1:]...)
}
