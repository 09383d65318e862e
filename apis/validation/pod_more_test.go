package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Less common pod rules: scheduling, annotations, hugepages, devices, claims.
func TestValidatePodMoreRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		wants  []want
	}{
		{name: "valid node affinity", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}},
					MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 10, Preference: corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpExists}}}}},
			}}
		}},
		{name: "node affinity In without values", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, wants: []want{req("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")}},
		{name: "node affinity Gt with two values and bad operator", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "k", Operator: corev1.NodeSelectorOpGt, Values: []string{"1", "2"}},
					{Key: "k", Operator: "Near"},
				}}}}}}
		}, wants: []want{
			req("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"),
			inv("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator"),
		}},
		{name: "node field selector on unknown field", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "spec.unschedulable", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}}}}}}
		}, wants: []want{inv("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key")}},
		{name: "preferred weight out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 101}}}}
		}, wants: []want{inv("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight").withMsg("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100")}},
		{name: "pod affinity matchLabelKeys without selector", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone", MatchLabelKeys: []string{"app"}}}}}}
		}, wants: []want{forb("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys")}},
		{name: "topology spread duplicate and matchLabelKeys overlap", mutate: func(p *corev1.Pod) {
			sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel, MatchLabelKeys: []string{"app"}}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{c, c}
		}, wants: []want{
			dup("spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}"),
			inv("spec.topologySpreadConstraints[0].matchLabelKeys[0]"),
		}},
		{name: "topology spread minDomains needs DoNotSchedule", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway, MinDomains: ptr.To[int32](2)}}
		}, wants: []want{inv("spec.topologySpreadConstraints[0].minDomains")}},
		{name: "topology spread whenUnsatisfiable unsupported", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}}
		}, wants: []want{unsup("spec.topologySpreadConstraints[0].whenUnsatisfiable")}},
		{name: "seccomp annotation invalid", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.SeccompPodAnnotationKey: "strict"}
		}, wants: []want{inv("metadata.annotations.seccomp.security.alpha.kubernetes.io/pod")}},
		{name: "seccomp annotation localhost profile", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.SeccompContainerAnnotationKeyPrefix + "web": "localhost/profiles/web.json"}
		}},
		{name: "apparmor annotation for unknown container", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "db": "runtime/default"}
		}, wants: []want{inv("metadata.annotations[container.apparmor.security.beta.kubernetes.io/db]").withMsg(`metadata.annotations[container.apparmor.security.beta.kubernetes.io/db]: Invalid value: "db": container not found`)}},
		{name: "apparmor annotation bad profile", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "web": "strict"}
		}, wants: []want{inv("metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]")}},
		{name: "apparmor profile field Localhost without profile", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost}}
		}, wants: []want{req("spec.containers[0].securityContext.appArmorProfile.localhostProfile")}},
		{name: "tolerations annotation malformed", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"scheduler.alpha.kubernetes.io/tolerations": "[{"}
		}, wants: []want{inv("metadata.annotations")}},
		{name: "hugepages need cpu or memory", mutate: func(p *corev1.Pod) {
			q := resource.MustParse("4Mi")
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"hugepages-2Mi": q}, Requests: corev1.ResourceList{"hugepages-2Mi": q}}
		}, wants: []want{forb("spec.containers[0].resources").withMsg("spec.containers[0].resources: Forbidden: HugePages require cpu or memory")}},
		{name: "hugepages not a multiple of the page size", mutate: func(p *corev1.Pod) {
			q := resource.MustParse("3Mi")
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"hugepages-2Mi": q, corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{"hugepages-2Mi": q}}
		}, wants: []want{inv("spec.containers[0].resources.limits[hugepages-2Mi]")}},
		{name: "hugepages request must equal limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("2Mi")}}
		}, wants: []want{inv("spec.containers[0].resources.requests").withMsg(`spec.containers[0].resources.requests: Invalid value: "2Mi": must be equal to hugepages-2Mi limit of 4Mi`)}},
		{name: "container claim not in pod claims", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
		}, wants: []want{notFound("spec.containers[0].resources.claims[0]").withMsg(`spec.containers[0].resources.claims[0]: Not found: "gpu": must be one of the names in pod.spec.resourceClaims which is empty`)}},
		{name: "pod resource claim with both sources", mutate: func(p *corev1.Pod) {
			p.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimName: ptr.To("a"), ResourceClaimTemplateName: ptr.To("b")}}
			p.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
		}, wants: []want{inv("spec.resourceClaims[0]")}},
		{name: "envFrom configMap name invalid", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "Bad Name"}}}}
		}, wants: []want{inv("spec.containers[0].envFrom[0].configMapRef.name")}},
		{name: "envFrom secret name missing", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{}}}
		}, wants: []want{req("spec.containers[0].envFrom[0].secretRef.name")}},
		{name: "resourceFieldRef unsupported resource and divisor", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("10m")}}},
			}
		}, wants: []want{
			unsup("spec.containers[0].env[0].valueFrom.resourceFieldRef.resource"),
			inv("spec.containers[0].env[1].valueFrom.resourceFieldRef.divisor").withMsg(`spec.containers[0].env[1].valueFrom.resourceFieldRef.divisor: Invalid value: "limits.cpu": only divisor's values 1m and 1 are supported with the cpu resource`),
		}},
		{name: "downward API label subscript", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: downwardAPIItems(
				corev1.DownwardAPIVolumeFile{Path: "app", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}},
				corev1.DownwardAPIVolumeFile{Path: "bad", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}},
				corev1.DownwardAPIVolumeFile{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}},
			)}}}
		}, wants: []want{
			inv("spec.volumes[0].downwardAPI.fieldRef.fieldPath").withMsg(`spec.volumes[0].downwardAPI.fieldRef.fieldPath: Invalid value: "metadata.name": error converting fieldPath: unsupported pod version: v2`),
			req("spec.volumes[0].downwardAPI.resourceFieldRef.containerName"),
		}},
		{name: "block device from an emptyDir", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "v", DevicePath: "/dev/xvda"}, {Name: "none", DevicePath: "/dev/xvda"}}
		}, wants: []want{inv("spec.containers[0].volumeDevices[0].name"), notFound("spec.containers[0].volumeDevices[1].name"), inv("spec.containers[0].volumeDevices[1].devicePath")}},
		{name: "resize policy for unsupported resource", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: "storage", RestartPolicy: corev1.NotRequired}}
		}, wants: []want{unsup("spec.containers[0].resizePolicy")}},
		{name: "user namespace with hostNetwork", mutate: func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr.To(false)
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 80
		}, wants: []want{forb("spec.hostNetwork")}},
		{name: "windows options on a linux pod", mutate: func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}
		}, wants: []want{forb("spec.containers[0].securityContext.windowsOptions")}},
		{name: "dns search not a domain", mutate: func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: []string{"svc.cluster.local.", "Bad Domain"}, Options: []corev1.PodDNSConfigOption{{}}}
		}, wants: []want{inv("spec.dnsConfig.searches[1]"), req("spec.dnsConfig.options[0]")}},
		{name: "too many nameservers", mutate: func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1"}}
		}, wants: []want{inv("spec.dnsConfig.nameservers")}},
		{name: "host alias bad IP", mutate: func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "1.2.3", Hostnames: []string{"db.local"}}}
		}, wants: []want{inv("spec.hostAliases[0].ip")}},
		{name: "readiness gate not a qualified name", mutate: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "bad gate"}}
		}, wants: []want{inv("spec.readinessGates[0].conditionType")}},
		{name: "priorityClassName invalid", mutate: func(p *corev1.Pod) { p.Spec.PriorityClassName = "High Priority" },
			wants: []want{inv("spec.priorityClassName")}},
		{name: "preemptionPolicy unsupported", mutate: func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr.To(corev1.PreemptionPolicy("Always")) },
			wants: []want{unsup("spec.preemptionPolicy")}},
		{name: "overhead negative", mutate: func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}, wants: []want{inv("spec.overhead.limits[cpu]")}},
		{name: "duplicate scheduling gates", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/a"}}
		}, wants: []want{dup("spec.schedulingGates[1]")}},
		{name: "ephemeral volume PVC name too long", mutate: func(p *corev1.Pod) {
			p.Name = strings.Repeat("p", 250)
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}}}
		}, wants: []want{inv("spec.volumes[0].name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			expectErrs(t, ValidatePod(p), tc.wants...)
		})
	}
}

func downwardAPIItems(items ...corev1.DownwardAPIVolumeFile) *corev1.DownwardAPIVolumeSource {
	return &corev1.DownwardAPIVolumeSource{Items: items}
}
