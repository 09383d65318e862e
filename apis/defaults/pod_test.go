package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestPodDefaultsEverything defaults a sparse pod touching every defaulted field and compares
// the result with the object kube-apiserver would store.
func TestPodDefaultsEverything(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "init", Image: "busybox:1.36",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}},
			}},
			Containers: []corev1.Container{{
				Name:  "main",
				Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				Env: []corev1.EnvVar{
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "FILE", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "empty", Path: "env", Key: "K"}}},
					{Name: "PLAIN", Value: "x"},
				},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("100u"), corev1.ResourceMemory: q("128Mi")},
					Requests: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")},
				},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}},
				StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}},
					PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "1"}}},
				},
			}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:latest"}}},
			Volumes: []corev1.Volume{
				{Name: "empty"},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
				{Name: "downward", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu"}},
				}}}},
				{Name: "projected", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
				}}}},
				{Name: "image", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry:5000/data"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
					Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("1.0001Ki")}}},
				}}}},
			},
		},
	}

	initC := defaultedContainer("init", "busybox:1.36", corev1.PullIfNotPresent)
	initC.Resources = corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: q("64Mi")},
		Requests: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")},
	}
	mainC := defaultedContainer("main", "nginx", corev1.PullAlways)
	mainC.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
	mainC.Env = []corev1.EnvVar{
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		{Name: "FILE", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "empty", Path: "env", Key: "K", Optional: ptr.To(false)}}},
		{Name: "PLAIN", Value: "x"},
	}
	mainC.Resources = corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1m"), corev1.ResourceMemory: q("128Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("1m"), corev1.ResourceMemory: q("64Mi")},
	}
	probeDefaults := func(h corev1.ProbeHandler) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	}
	mainC.LivenessProbe = probeDefaults(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}})
	mainC.ReadinessProbe = probeDefaults(corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000, Service: ptr.To("")}})
	mainC.StartupProbe = probeDefaults(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}})
	mainC.Lifecycle = &corev1.Lifecycle{
		PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
		PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "1"}}},
	}
	debugC := defaultedContainer("debug", "busybox:latest", corev1.PullAlways)

	want := &corev1.Pod{ObjectMeta: in.ObjectMeta, Spec: defaultedPodSpec(mainC)}
	want.Spec.InitContainers = []corev1.Container{initC}
	want.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(debugC)}}
	want.Spec.EnableServiceLinks = ptr.To(true)
	want.Spec.Volumes = []corev1.Volume{
		{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: ptr.To(corev1.HostPathUnset)}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To[int32](0o644)}}},
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: ptr.To[int32](420)}}},
		{Name: "downward", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: ptr.To[int32](420), Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu"}},
		}}}},
		{Name: "projected", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](420), Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
		}}}},
		{Name: "image", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry:5000/data", PullPolicy: corev1.PullAlways}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			Spec: corev1.PersistentVolumeClaimSpec{
				VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem),
				Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("1024103m")}},
			},
		}}}},
	}

	got := in.DeepCopy()
	SetObjectDefaultsPod(got)
	assertSemanticEqual(t, got, want)

	// Defaulting is idempotent.
	again := got.DeepCopy()
	SetObjectDefaultsPod(again)
	assertSemanticEqual(t, again, got)
}

// TestPodDefaultsKeepUserValues gives every defaulted field a non-default value and checks that
// defaulting leaves the pod exactly as it was.
func TestPodDefaultsKeepUserValues(t *testing.T) {
	probe := func(h corev1.ProbeHandler) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, TimeoutSeconds: 5, PeriodSeconds: 7, SuccessThreshold: 2, FailureThreshold: 9}
	}
	container := corev1.Container{
		Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullNever,
		TerminationMessagePath: "/tmp/msg", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolSCTP}},
		Env: []corev1.EnvVar{
			{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}},
			{Name: "B", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "v", Path: "p", Key: "k", Optional: ptr.To(true)}}},
		},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("2")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1")},
		},
		LivenessProbe:  probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(1), Scheme: corev1.URISchemeHTTPS}}),
		ReadinessProbe: probe(corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 2, Service: ptr.To("svc")}}),
		StartupProbe:   probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(3)}}),
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{container},
			InitContainers:                []corev1.Container{container},
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			DNSPolicy:                     corev1.DNSDefault,
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
			SchedulerName:                 "other-scheduler",
			EnableServiceLinks:            ptr.To(false),
			HostNetwork:                   true,
			ServiceAccountName:            "builder",
			DeprecatedServiceAccount:      "builder",
			Resources: &corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("3"), corev1.ResourceMemory: q("1Gi")},
			},
			Volumes: []corev1.Volume{
				{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: ptr.To(corev1.HostPathDirectory)}}},
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To[int32](0o400)}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptr.To[int32](0)}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: ptr.To[int32](0o600)}}},
				{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o440), Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t", ExpirationSeconds: ptr.To[int64](600)}},
				}}}},
				{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
				{Name: "i", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "busybox", PullPolicy: corev1.PullNever}}},
			},
		},
	}
	got := pod.DeepCopy()
	SetObjectDefaultsPod(got)
	assertSemanticEqual(t, got, pod)
}

func TestPodOnlyDefaults(t *testing.T) {
	withLimits := corev1.Container{Name: "c", Image: "busybox:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090, HostPort: 1}},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("500m")}}}
	spec := corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{withLimits}, InitContainers: []corev1.Container{withLimits}}

	// In a Pod: hostPort follows containerPort under hostNetwork, requests follow limits,
	// enableServiceLinks is set.
	pod := &corev1.Pod{Spec: *spec.DeepCopy()}
	SetObjectDefaultsPod(pod)
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		c := cs[0]
		if c.Ports[0].HostPort != 8080 || c.Ports[1].HostPort != 1 {
			t.Errorf("pod %s: hostPorts = %d, %d; want 8080 (defaulted), 1 (kept)", c.Name, c.Ports[0].HostPort, c.Ports[1].HostPort)
		}
		if got := c.Resources.Requests.Cpu().String(); got != "500m" {
			t.Errorf("pod %s: cpu request = %s, want 500m from the limit", c.Name, got)
		}
	}
	if pod.Spec.EnableServiceLinks == nil || !*pod.Spec.EnableServiceLinks {
		t.Errorf("pod: enableServiceLinks = %v, want true", pod.Spec.EnableServiceLinks)
	}

	// In a template none of those apply (upstream since 1.28 for hostPort).
	tmpl := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: *spec.DeepCopy()}}
	SetObjectDefaultsPodTemplate(tmpl)
	ts := tmpl.Template.Spec
	for _, cs := range [][]corev1.Container{ts.Containers, ts.InitContainers} {
		c := cs[0]
		if c.Ports[0].HostPort != 0 {
			t.Errorf("template %s: hostPort = %d, want 0", c.Name, c.Ports[0].HostPort)
		}
		if c.Resources.Requests != nil {
			t.Errorf("template %s: requests = %v, want none", c.Name, c.Resources.Requests)
		}
		if c.ImagePullPolicy != corev1.PullIfNotPresent || c.Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("template %s: container defaults missing: %+v", c.Name, c)
		}
	}
	if ts.EnableServiceLinks != nil {
		t.Errorf("template: enableServiceLinks = %v, want unset", *ts.EnableServiceLinks)
	}
	if ts.RestartPolicy != corev1.RestartPolicyAlways || ts.SchedulerName != corev1.DefaultSchedulerName {
		t.Errorf("template: PodSpec defaults missing: restartPolicy %q schedulerName %q", ts.RestartPolicy, ts.SchedulerName)
	}

	// Ephemeral containers never get requests from limits.
	eph := &corev1.Pod{Spec: corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "e", Image: "busybox", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}}}}}}}
	SetObjectDefaultsPod(eph)
	if r := eph.Spec.EphemeralContainers[0].Resources.Requests; r != nil {
		t.Errorf("ephemeral container requests = %v, want none", r)
	}
}

func TestServiceAccountAlias(t *testing.T) {
	tests := []struct {
		name, saName, deprecated string
		want                     string
	}{
		{"neither", "", "", ""},
		{"only deprecated", "", "legacy", "legacy"},
		{"only name", "builder", "", "builder"},
		{"both, name wins", "builder", "legacy", "builder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := corev1.PodSpec{ServiceAccountName: tc.saName, DeprecatedServiceAccount: tc.deprecated}
			SetDefaultsPodSpec(&spec)
			if spec.ServiceAccountName != tc.want || spec.DeprecatedServiceAccount != tc.want {
				t.Errorf("serviceAccountName=%q serviceAccount=%q, want both %q", spec.ServiceAccountName, spec.DeprecatedServiceAccount, tc.want)
			}
		})
	}
}

func TestPodStatusResourcesRounded(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:               "c",
			AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: q("1.0001m")},
			Resources:          &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("0.5m")}},
		}},
		InitContainerStatuses:      []corev1.ContainerStatus{{Name: "i", AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: q("10u")}}},
		EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "e", AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: q("10u")}}},
		AllocatedResources:         corev1.ResourceList{corev1.ResourceCPU: q("1n")},
		Resources:                  &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("1n")}},
		Phase:                      "",
	}}
	SetObjectDefaultsPod(pod)
	st := pod.Status
	checks := []struct {
		what string
		got  corev1.ResourceList
		want string
	}{
		{"container allocated", st.ContainerStatuses[0].AllocatedResources, "2m"},
		{"container resources", st.ContainerStatuses[0].Resources.Limits, "1m"},
		{"init allocated", st.InitContainerStatuses[0].AllocatedResources, "1m"},
		{"ephemeral allocated", st.EphemeralContainerStatuses[0].AllocatedResources, "1m"},
		{"pod allocated", st.AllocatedResources, "1m"},
		{"pod resources", st.Resources.Requests, "1m"},
	}
	for _, c := range checks {
		if got := c.got.Cpu().String(); got != c.want {
			t.Errorf("%s cpu = %s, want %s", c.what, got, c.want)
		}
	}
	if st.Phase != "" {
		t.Errorf("status.phase = %q, want it left empty (the strategy sets it, not defaulting)", st.Phase)
	}
}

func TestPodLevelResources(t *testing.T) {
	sidecar := corev1.ContainerRestartPolicyAlways
	list := func(kv ...string) corev1.ResourceList {
		rl := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			rl[corev1.ResourceName(kv[i])] = q(kv[i+1])
		}
		return rl
	}
	ctr := func(name string, requests, limits corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: name, Image: "busybox:1", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
	}
	tests := []struct {
		name       string
		spec       corev1.PodSpec
		wantPodRes *corev1.ResourceRequirements
	}{
		{
			name:       "no pod-level resources: nothing added",
			spec:       corev1.PodSpec{Containers: []corev1.Container{ctr("a", list("cpu", "1"), nil)}},
			wantPodRes: nil,
		},
		{
			name: "pod limits: requests from container requests, else from the pod limit",
			spec: corev1.PodSpec{
				Containers: []corev1.Container{ctr("a", list("cpu", "300m"), nil), ctr("b", list("cpu", "200m"), nil)},
				Resources:  &corev1.ResourceRequirements{Limits: list("cpu", "2", "memory", "1Gi")},
			},
			wantPodRes: &corev1.ResourceRequirements{Limits: list("cpu", "2", "memory", "1Gi"), Requests: list("cpu", "500m", "memory", "1Gi")},
		},
		{
			name: "pod limits: sidecar formula for init containers",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{
					func() corev1.Container {
						c := ctr("side", list("cpu", "100m"), nil)
						c.RestartPolicy = &sidecar
						return c
					}(),
					ctr("init", list("cpu", "1"), nil),
				},
				Containers: []corev1.Container{ctr("a", list("cpu", "200m"), nil)},
				Resources:  &corev1.ResourceRequirements{Limits: list("cpu", "2")},
			},
			// max(200m + 100m sidecar, 1 init + 100m sidecar started before it)
			wantPodRes: &corev1.ResourceRequirements{Limits: list("cpu", "2"), Requests: list("cpu", "1100m")},
		},
		{
			name: "pod requests: limits from container limits when every container has one",
			spec: corev1.PodSpec{
				Containers: []corev1.Container{ctr("a", nil, list("cpu", "300m", "memory", "100Mi")), ctr("b", nil, list("cpu", "200m"))},
				Resources:  &corev1.ResourceRequirements{Requests: list("cpu", "100m")},
			},
			// memory: container b has no limit, so the pod stays unbounded for memory.
			wantPodRes: &corev1.ResourceRequirements{Requests: list("cpu", "100m"), Limits: list("cpu", "500m")},
		},
		{
			name: "pod requests and limits set: untouched",
			spec: corev1.PodSpec{
				Containers: []corev1.Container{ctr("a", nil, list("cpu", "300m"))},
				Resources:  &corev1.ResourceRequirements{Requests: list("cpu", "100m"), Limits: list("cpu", "1")},
			},
			wantPodRes: &corev1.ResourceRequirements{Requests: list("cpu", "100m"), Limits: list("cpu", "1")},
		},
		{
			name: "huge pages: pod limit from containers, then pod request from it",
			spec: corev1.PodSpec{
				Containers: []corev1.Container{ctr("a", nil, list("hugepages-2Mi", "4Mi"))},
				Resources:  &corev1.ResourceRequirements{Requests: list("cpu", "1")},
			},
			wantPodRes: &corev1.ResourceRequirements{Requests: list("cpu", "1", "hugepages-2Mi", "4Mi"), Limits: list("hugepages-2Mi", "4Mi")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec}
			SetObjectDefaultsPod(pod)
			assertSemanticEqual(t, pod.Spec.Resources, tc.wantPodRes)
		})
	}
}
