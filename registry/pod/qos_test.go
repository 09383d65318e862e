package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
)

// resources builds a ResourceList from name, quantity pairs.
func resources(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = apiresource.MustParse(kv[i+1])
	}
	return out
}

func container(req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

// TestQOSClass follows the cases of upstream's ComputePodQOS tests.
func TestQOSClass(t *testing.T) {
	cases := []struct {
		name       string
		containers []corev1.Container
		init       []corev1.Container
		podLevel   *corev1.ResourceRequirements
		want       corev1.PodQOSClass
	}{
		{name: "no resources", containers: []corev1.Container{container(nil, nil), container(nil, nil)}, want: corev1.PodQOSBestEffort},
		{name: "only other resources", containers: []corev1.Container{container(resources("nvidia.com/gpu", "1"), resources("nvidia.com/gpu", "1"))}, want: corev1.PodQOSBestEffort},
		{name: "zero quantities", containers: []corev1.Container{container(resources("cpu", "0"), resources("memory", "0"))}, want: corev1.PodQOSBestEffort},
		{
			name:       "guaranteed",
			containers: []corev1.Container{container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi"))},
			want:       corev1.PodQOSGuaranteed,
		},
		{
			name: "guaranteed, two containers",
			containers: []corev1.Container{
				container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi")),
				container(resources("cpu", "200m", "memory", "1Gi"), resources("cpu", "200m", "memory", "1Gi")),
			},
			want: corev1.PodQOSGuaranteed,
		},
		{
			name:       "guaranteed, extended resource ignored",
			containers: []corev1.Container{container(resources("cpu", "1", "memory", "1Gi", "nvidia.com/gpu", "2"), resources("cpu", "1", "memory", "1Gi", "nvidia.com/gpu", "2"))},
			want:       corev1.PodQOSGuaranteed,
		},
		{
			name: "one best-effort container makes it burstable",
			containers: []corev1.Container{
				container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi")),
				container(nil, nil),
			},
			want: corev1.PodQOSBurstable,
		},
		{name: "requests below limits", containers: []corev1.Container{container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "200m", "memory", "100Mi"))}, want: corev1.PodQOSBurstable},
		{name: "only cpu limited", containers: []corev1.Container{container(resources("cpu", "100m"), resources("cpu", "100m"))}, want: corev1.PodQOSBurstable},
		{name: "only requests", containers: []corev1.Container{container(resources("memory", "100Mi"), nil)}, want: corev1.PodQOSBurstable},
		{
			name:       "guaranteed containers, burstable init container",
			containers: []corev1.Container{container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi"))},
			init:       []corev1.Container{container(resources("cpu", "50m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi"))},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "best-effort containers, guaranteed init container",
			containers: []corev1.Container{container(nil, nil)},
			init:       []corev1.Container{container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi"))},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "guaranteed containers and init containers",
			containers: []corev1.Container{container(resources("cpu", "100m", "memory", "100Mi"), resources("cpu", "100m", "memory", "100Mi"))},
			init:       []corev1.Container{container(resources("cpu", "1", "memory", "1Gi"), resources("cpu", "1", "memory", "1Gi"))},
			want:       corev1.PodQOSGuaranteed,
		},
		{
			name:       "burstable init container only requests",
			containers: []corev1.Container{container(nil, nil)},
			init:       []corev1.Container{container(resources("cpu", "100m"), nil)},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "pod level guaranteed overrides best-effort containers",
			containers: []corev1.Container{container(nil, nil)},
			podLevel:   &corev1.ResourceRequirements{Requests: resources("cpu", "1", "memory", "1Gi"), Limits: resources("cpu", "1", "memory", "1Gi")},
			want:       corev1.PodQOSGuaranteed,
		},
		{
			name:       "pod level burstable overrides guaranteed containers",
			containers: []corev1.Container{container(resources("cpu", "1", "memory", "1Gi"), resources("cpu", "1", "memory", "1Gi"))},
			podLevel:   &corev1.ResourceRequirements{Requests: resources("cpu", "500m", "memory", "1Gi"), Limits: resources("cpu", "1", "memory", "1Gi")},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "pod level only requests",
			containers: []corev1.Container{container(nil, nil)},
			podLevel:   &corev1.ResourceRequirements{Requests: resources("cpu", "1", "memory", "1Gi")},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "pod level only cpu limit",
			containers: []corev1.Container{container(nil, nil)},
			podLevel:   &corev1.ResourceRequirements{Requests: resources("cpu", "1"), Limits: resources("cpu", "1")},
			want:       corev1.PodQOSBurstable,
		},
		{
			name:       "empty pod level resources: best effort",
			containers: []corev1.Container{container(resources("cpu", "1", "memory", "1Gi"), resources("cpu", "1", "memory", "1Gi"))},
			podLevel:   &corev1.ResourceRequirements{},
			want:       corev1.PodQOSBestEffort,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init, Resources: tc.podLevel}}
			if got := QOSClass(p); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}
