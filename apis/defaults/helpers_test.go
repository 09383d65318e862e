package defaults

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	corev1 "k8s.io/api/core/v1"
)

// assertSemanticEqual fails the test when got and want differ (quantities compared by value),
// showing the difference as JSON, which is what a client would see.
func assertSemanticEqual(t *testing.T, got, want any) {
	t.Helper()
	if apiequality.Semantic.DeepEqual(got, want) {
		return
	}
	t.Errorf("object differs from expectation (-want +got):\n%s", cmp.Diff(toJSON(t, want), toJSON(t, got)))
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshalling %T: %v", v, err)
	}
	return string(b)
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

// defaultedContainer is what a container with only a name and an image looks like once
// defaulted, given the pull policy its image implies.
func defaultedContainer(name, image string, pull corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          pull,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedPodSpec is the PodSpec every template gets for the given containers.
func defaultedPodSpec(containers ...corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    containers,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
	}
}

// minimalTemplate is a pod template with one busybox container and the given labels.
func minimalTemplate(labels map[string]string) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	t.Labels = labels
	return t
}

func defaultedTemplate(labels map[string]string) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: defaultedPodSpec(defaultedContainer("c", "busybox", corev1.PullAlways))}
	t.Labels = labels
	return t
}
