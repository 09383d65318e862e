package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const podUpdateForbidden = "spec: Forbidden: pod updates may not change fields other than " +
	"`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`," +
	"`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
		wants  []want
	}{
		{name: "no change", mutate: func(*corev1.Pod) {}},
		{name: "labels and annotations may change", mutate: func(p *corev1.Pod) {
			p.Labels["tier"] = "front"
			p.Annotations = map[string]string{"note": "x"}
		}},
		{name: "image may change", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.27" }},
		{name: "activeDeadlineSeconds may be set", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) }},
		{name: "activeDeadlineSeconds may be lowered",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) }},
		{name: "activeDeadlineSeconds may not be raised",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) },
			wants:  []want{inv("spec.activeDeadlineSeconds").withMsg("spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value")}},
		{name: "activeDeadlineSeconds may not be removed",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			wants:  []want{inv("spec.activeDeadlineSeconds")}},
		{name: "tolerations may be added", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}},
		{name: "tolerationSeconds may change",
			old: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
			},
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](10) }},
		{name: "tolerations may not be removed",
			old: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
			},
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			wants:  []want{forb("spec.tolerations").withMsg("spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds")}},
		{name: "scheduling gates may be removed",
			old:    func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}} },
			mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }},
		{name: "scheduling gates may not be added", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, wants: []want{forb("spec.schedulingGates[0].name")}},
		{name: "gated pod nodeSelector additions allowed",
			old: func(p *corev1.Pod) {
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
				p.Spec.NodeSelector = map[string]string{"a": "1"}
			},
			mutate: func(p *corev1.Pod) { p.Spec.NodeSelector["b"] = "2" }},
		{name: "gated pod nodeSelector mutation refused",
			old: func(p *corev1.Pod) {
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
				p.Spec.NodeSelector = map[string]string{"a": "1"}
			},
			mutate: func(p *corev1.Pod) { p.Spec.NodeSelector["a"] = "2" },
			wants:  []want{inv("spec.nodeSelector")}},
		{name: "negative grace period may become 1",
			old:    func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) },
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1) }},
		{name: "grace period may not otherwise change", mutate: func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5)
		}, wants: []want{forb("spec").withPrefix(podUpdateForbidden)}},
		{name: "containers may not be added", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, validContainer("side", "busybox"))
		}, wants: []want{forb("spec.containers").withMsg("spec.containers: Forbidden: pod updates may not add or remove containers")}},
		{name: "image may not be emptied", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			wants: []want{req("spec.containers[0].image")}},
		{name: "container port may not change", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].ContainerPort = 8080
		}, wants: []want{forb("spec").withPrefix(podUpdateForbidden)}},
		{name: "resources may not change", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
		}, wants: []want{forb("spec").withPrefix(podUpdateForbidden)}},
		{name: "nodeName may not change once set",
			old:    func(p *corev1.Pod) { p.Spec.NodeName = "node-a" },
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-b" },
			wants:  []want{forb("spec").withPrefix(podUpdateForbidden)}},
		{name: "resourceVersion required", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" },
			wants: []want{inv("metadata.resourceVersion").withMsg(`metadata.resourceVersion: Invalid value: "": must be specified for an update`)}},
		{name: "name immutable", mutate: func(p *corev1.Pod) { p.Name = "other" },
			wants: []want{inv("metadata.name").withMsg(`metadata.name: Invalid value: "other": field is immutable`)}},
		{name: "mirror annotation may not be added", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}, wants: []want{forb("metadata.annotations[kubernetes.io/config.mirror]")}},
		{name: "new spec is still validated", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			wants: []want{inv("spec.containers[0].image")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldP := storedPod()
			if tc.old != nil {
				tc.old(oldP)
			}
			newP := oldP.DeepCopy()
			tc.mutate(newP)
			expectErrs(t, ValidatePodUpdate(newP, oldP), tc.wants...)
		})
	}
}

func TestValidatePodUpdateDiff(t *testing.T) {
	oldP := storedPod()
	newP := oldP.DeepCopy()
	newP.Spec.Containers[0].Ports[0].ContainerPort = 8080
	errs := ValidatePodUpdate(newP, oldP)
	if len(errs) != 1 {
		t.Fatalf("want one error, got:\n%s", dump(errs))
	}
	// The message carries a diff naming the changed field, as kube-apiserver's does.
	if msg := errs[0].Error(); !strings.Contains(msg, "\n-     \"containerPort\": 80,\n") || !strings.Contains(msg, "\n+     \"containerPort\": 8080,\n") {
		t.Errorf("diff missing from message: %s", msg)
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	terminated := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	running := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
	}
	tests := []struct {
		name   string
		old    func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
		wants  []want
	}{
		{name: "kubelet status write", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.HostIP = "10.0.0.1"
			p.Status.HostIPs = []corev1.HostIP{{IP: "10.0.0.1"}}
			p.Status.PodIP = "10.88.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.5"}, {IP: "fd00::5"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web")}
		}},
		{name: "nodeName may not change here", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-x" },
			wants: []want{forb("status.nodeName").withMsg("status.nodeName: Forbidden: may not be changed directly")}},
		{name: "qosClass immutable",
			old:    func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSBestEffort },
			mutate: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			wants:  []want{inv("status.qosClass")}},
		{name: "bad pod IP", mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0"}} },
			wants: []want{inv("status.podIPs[0]")}},
		{name: "two IPs of one family", mutate: func(p *corev1.Pod) {
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}
		}, wants: []want{inv("status.podIPs")}},
		{name: "hostIPs must start with hostIP", mutate: func(p *corev1.Pod) {
			p.Status.HostIP = "10.0.0.1"
			p.Status.HostIPs = []corev1.HostIP{{IP: "10.0.0.2"}}
		}, wants: []want{inv("status.hostIPs[0].ip")}},
		{name: "custom condition type must be a qualified name", mutate: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "not valid!", Status: corev1.ConditionTrue}}
		}, wants: []want{inv("metadata.conditions[0].Type")}},
		{name: "Never pod: terminated container may not run again",
			old: func(p *corev1.Pod) {
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
				p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("web", 1)}
			},
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web")} },
			wants:  []want{forb("status.containerStatuses[0].state")}},
		{name: "OnFailure pod: failed container may restart",
			old: func(p *corev1.Pod) {
				p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("web", 1)}
			},
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web")} }},
		{name: "OnFailure pod: succeeded container may not restart",
			old: func(p *corev1.Pod) {
				p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("web", 0)}
			},
			mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web")} },
			wants:  []want{forb("status.containerStatuses[0].state")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldP := storedPod()
			if tc.old != nil {
				tc.old(oldP)
			}
			newP := oldP.DeepCopy()
			tc.mutate(newP)
			expectErrs(t, ValidatePodStatusUpdate(newP, oldP), tc.wants...)
		})
	}
}
