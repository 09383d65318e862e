package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestSetServiceAccountDefaults(t *testing.T) {
	tests := []struct {
		name        string
		pod         corev1.Pod
		wantName    string
		wantDepName string
	}{
		{"none named", corev1.Pod{}, "default", "default"},
		{"named", corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "builder"}}, "builder", "builder"},
		{"only deprecated field", corev1.Pod{Spec: corev1.PodSpec{DeprecatedServiceAccount: "legacy"}}, "legacy", "legacy"},
		{"mirror pod untouched", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pod.DeepCopy()
			SetServiceAccountDefaults(p)
			if p.Spec.ServiceAccountName != tc.wantName || p.Spec.DeprecatedServiceAccount != tc.wantDepName {
				t.Errorf("serviceAccountName=%q serviceAccount=%q, want %q/%q", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, tc.wantName, tc.wantDepName)
			}
		})
	}
	// Not part of decoding defaults.
	p := &corev1.Pod{}
	SetObjectDefaultsPod(p)
	if p.Spec.ServiceAccountName != "" {
		t.Errorf("SetObjectDefaultsPod set serviceAccountName %q; that is admission's job", p.Spec.ServiceAccountName)
	}
}

func TestSetPriorityDefaults(t *testing.T) {
	lower := corev1.PreemptLowerPriority
	never := corev1.PreemptNever
	tests := []struct {
		name         string
		spec         corev1.PodSpec
		wantPriority int32
		wantErr      bool
	}{
		{name: "no class", spec: corev1.PodSpec{}, wantPriority: 0},
		{name: "no class, matching explicit values", spec: corev1.PodSpec{Priority: ptr.To[int32](0), PreemptionPolicy: &lower}, wantPriority: 0},
		{name: "system-node-critical", spec: corev1.PodSpec{PriorityClassName: "system-node-critical"}, wantPriority: 2000001000},
		{name: "system-cluster-critical", spec: corev1.PodSpec{PriorityClassName: "system-cluster-critical"}, wantPriority: 2000000000},
		{name: "unknown class", spec: corev1.PodSpec{PriorityClassName: "gold"}, wantErr: true},
		{name: "priority differs from class", spec: corev1.PodSpec{Priority: ptr.To[int32](7)}, wantErr: true},
		{name: "preemption policy differs", spec: corev1.PodSpec{PreemptionPolicy: &never}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tc.spec}
			err := SetPriorityDefaults(p)
			if tc.wantErr {
				if !apierrors.IsForbidden(err) {
					t.Fatalf("err = %v, want Forbidden", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if p.Spec.Priority == nil || *p.Spec.Priority != tc.wantPriority {
				t.Errorf("priority = %v, want %d", p.Spec.Priority, tc.wantPriority)
			}
			if p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Errorf("preemptionPolicy = %v, want PreemptLowerPriority", p.Spec.PreemptionPolicy)
			}
		})
	}
}

func TestSetDefaultTolerationSeconds(t *testing.T) {
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	own := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}
	noSchedule := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	everything := corev1.Toleration{Operator: corev1.TolerationOpExists}
	tests := []struct {
		name string
		in   []corev1.Toleration
		want []corev1.Toleration
	}{
		{"none", nil, []corev1.Toleration{notReady, unreachable}},
		{"own not-ready kept, unreachable added", []corev1.Toleration{own}, []corev1.Toleration{own, unreachable}},
		{"NoSchedule does not count", []corev1.Toleration{noSchedule}, []corev1.Toleration{noSchedule, notReady, unreachable}},
		{"tolerate-everything covers both", []corev1.Toleration{everything}, []corev1.Toleration{everything}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.in}}
			SetDefaultTolerationSeconds(p)
			assertSemanticEqual(t, p.Spec.Tolerations, tc.want)
			SetDefaultTolerationSeconds(p)
			assertSemanticEqual(t, p.Spec.Tolerations, tc.want)
		})
	}
}
