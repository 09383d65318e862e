package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestValidatePod(t *testing.T) {
	execProbe := func() *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
			TimeoutSeconds:   1,
			PeriodSeconds:    10,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}
	}
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		wants  []want
	}{
		{name: "valid", mutate: func(p *corev1.Pod) {}},
		{name: "valid with every supported volume type, probes and env", mutate: func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "default"
			p.Spec.Volumes = []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "rootfs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/", Type: ptr.To(corev1.HostPathDirectory)}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0644)}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
				}}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				}}}},
			}
			c := &p.Spec.Containers[0]
			c.VolumeMounts = []corev1.VolumeMount{
				{Name: "scratch", MountPath: "/scratch"},
				{Name: "rootfs", MountPath: "/rootfs", ReadOnly: true},
				{Name: "token", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
			}
			c.Env = []corev1.EnvVar{
				{Name: "MY_NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
				{Name: "my.relaxed-name", Value: "x"},
				{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
			}
			c.LivenessProbe = execProbe()
			c.ReadinessProbe = execProbe()
			c.ReadinessProbe.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}}
			c.StartupProbe = execProbe()
			c.StartupProbe.ProbeHandler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			}
			c.Ports[0].HostPort = 4194
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			p.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
		}},

		// metadata
		{name: "name not a DNS subdomain", mutate: func(p *corev1.Pod) { p.Name = "Foo" },
			wants: []want{inv("metadata.name").withPrefix(`metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of`)}},
		{name: "name missing", mutate: func(p *corev1.Pod) { p.Name = "" },
			wants: []want{req("metadata.name").withMsg("metadata.name: Required value: name or generateName is required")}},
		{name: "namespace missing", mutate: func(p *corev1.Pod) { p.Namespace = "" },
			wants: []want{req("metadata.namespace")}},
		{name: "bad generateName", mutate: func(p *corev1.Pod) { p.GenerateName = "Web-" },
			wants: []want{inv("metadata.generateName")}},
		{name: "bad label value", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"app": "no spaces"} },
			wants: []want{inv("metadata.labels")}},
		{name: "annotations too large", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024)}
		}, wants: []want{tooLong("metadata.annotations").withMsg("metadata.annotations: Too long: may not be more than 262144 bytes")}},
		{name: "unqualified non-standard finalizer", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"mine"} },
			wants: []want{inv("metadata.finalizers[0]").withMsg(`metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified`)}},
		{name: "mirror annotation without nodeName", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}, wants: []want{inv("metadata.annotations[kubernetes.io/config.mirror]")}},
		{name: "bad pod deletion cost", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "+1"}
		}, wants: []want{inv("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]").withMsg(`metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "+1": must be a 32bit integer`)}},

		// containers
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			wants: []want{req("spec.containers").withMsg("spec.containers: Required value")}},
		{name: "image missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			wants: []want{req("spec.containers[0].image").withMsg("spec.containers[0].image: Required value")}},
		{name: "image with whitespace", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			wants: []want{inv("spec.containers[0].image")}},
		{name: "container name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			wants: []want{req("spec.containers[0].name")}},
		{name: "container name not a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "web_1" },
			wants: []want{inv("spec.containers[0].name").withPrefix(`spec.containers[0].name: Invalid value: "web_1": a lowercase RFC 1123 label must consist of`)}},
		{name: "duplicate container names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, validContainer("web", "busybox"))
		}, wants: []want{dup("spec.containers[1].name").withMsg(`spec.containers[1].name: Duplicate value: "web"`)}},
		{name: "init container name duplicates app container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{validContainer("web", "busybox")}
		}, wants: []want{dup("spec.initContainers[0].name").withMsg(`spec.initContainers[0].name: Duplicate value: "web"`)}},
		{name: "init container with probe", mutate: func(p *corev1.Pod) {
			c := validContainer("init", "busybox")
			c.ReadinessProbe = execProbe()
			p.Spec.InitContainers = []corev1.Container{c}
		}, wants: []want{forb("spec.initContainers[0].readinessProbe")}},
		{name: "init container restartPolicy Never", mutate: func(p *corev1.Pod) {
			c := validContainer("init", "busybox")
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicy("Never"))
			p.Spec.InitContainers = []corev1.Container{c}
		}, wants: []want{unsup("spec.initContainers[0].restartPolicy")}},
		{name: "restartPolicy on app container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}, wants: []want{forb("spec.containers[0].restartPolicy")}},
		{name: "imagePullPolicy unsupported", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			wants: []want{unsup("spec.containers[0].imagePullPolicy").withMsg(`spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`)}},
		{name: "imagePullPolicy not defaulted", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" },
			wants: []want{req("spec.containers[0].imagePullPolicy")}},
		{name: "terminationMessagePolicy unsupported", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "Log" },
			wants: []want{unsup("spec.containers[0].terminationMessagePolicy").withMsg(`spec.containers[0].terminationMessagePolicy: Unsupported value: "Log": supported values: "File", "FallbackToLogsOnError"`)}},

		// ports
		{name: "containerPort out of range", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			wants: []want{inv("spec.containers[0].ports[0].containerPort").withMsg("spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive")}},
		{name: "containerPort missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			wants: []want{req("spec.containers[0].ports[0].containerPort")}},
		{name: "hostPort out of range", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = -1 },
			wants: []want{inv("spec.containers[0].ports[0].hostPort")}},
		{name: "protocol unsupported", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" },
			wants: []want{unsup("spec.containers[0].ports[0].protocol").withMsg(`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`)}},
		{name: "protocol missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "" },
			wants: []want{req("spec.containers[0].ports[0].protocol")}},
		{name: "duplicate port names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP})
		}, wants: []want{dup("spec.containers[0].ports[1].name")}},
		{name: "bad port name", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "HTTP_1" },
			wants: []want{inv("spec.containers[0].ports[0].name")}},
		{name: "hostPort conflict across containers", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			c := validContainer("other", "busybox")
			c.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, wants: []want{dup("spec.containers[1].ports[0].hostPort").withMsg(`spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`)}},
		{name: "hostNetwork hostPort must equal containerPort", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, wants: []want{inv("spec.containers[0].ports[0].hostPort").withMsg("spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true")}},
		{name: "hostNetwork pod hostPort 0 is refused", mutate: func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			wants: []want{inv("spec.containers[0].ports[0].hostPort")}},

		// volumes and mounts
		{name: "volume with no source", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v"}}
		}, wants: []want{req("spec.volumes[0]").withMsg("spec.volumes[0]: Required value: must specify a volume type")}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}}}
		}, wants: []want{forb("spec.volumes[0].hostPath").withMsg("spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type")}},
		{name: "duplicate volume names", mutate: func(p *corev1.Pod) {
			v := corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.Volumes = []corev1.Volume{v, v}
		}, wants: []want{dup("spec.volumes[1].name")}},
		{name: "volume name not a DNS label", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "Data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, wants: []want{inv("spec.volumes[0].name")}},
		{name: "hostPath type unsupported", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: ptr.To(corev1.HostPathType("Dir"))}}}}
		}, wants: []want{unsup("spec.volumes[0].hostPath.type").withPrefix(`spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"`)}},
		{name: "hostPath path missing", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
		}, wants: []want{req("spec.volumes[0].hostPath.path")}},
		{name: "hostPath with backsteps", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/a/../etc"}}}}
		}, wants: []want{inv("spec.volumes[0].hostPath.path")}},
		{name: "secret volume without name", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
		}, wants: []want{req("spec.volumes[0].secret.secretName")}},
		{name: "configMap mode out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: ptr.To[int32](01000)}}}}
		}, wants: []want{inv("spec.volumes[0].configMap.defaultMode")}},
		{name: "configMap item absolute path", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "/etc/k"}}}}}}
		}, wants: []want{inv("spec.volumes[0].configMap.items[0].path")}},
		{name: "pvc without claimName", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}}}
		}, wants: []want{req("spec.volumes[0].persistentVolumeClaim.claimName")}},
		{name: "downwardAPI field not supported", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "node", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}}}}}
		}, wants: []want{unsup("spec.volumes[0].downwardAPI.fieldRef.fieldPath")}},
		{name: "projected token without serviceAccountName", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3600), Path: "token"}}}}}}}
		}, wants: []want{forb("spec.volumes[0].projected.sources[0].serviceAccountToken")}},
		{name: "projected token expiring too soon", mutate: func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "default"
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](60), Path: "token"}}}}}}}
		}, wants: []want{inv("spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds")}},
		{name: "mount of unknown volume", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, wants: []want{notFound("spec.containers[0].volumeMounts[0].name").withMsg(`spec.containers[0].volumeMounts[0].name: Not found: "nope"`)}},
		{name: "mount path missing", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v"}}
		}, wants: []want{req("spec.containers[0].volumeMounts[0].mountPath")}},
		{name: "mount path not unique", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/x"}, {Name: "b", MountPath: "/x"}}
		}, wants: []want{inv("spec.containers[0].volumeMounts[1].mountPath").withMsg(`spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/x": must be unique`)}},
		{name: "subPath escaping the volume", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x", SubPath: "../etc"}}
		}, wants: []want{inv("spec.containers[0].volumeMounts.subPath")}},
		{name: "bidirectional propagation needs privileged", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x", MountPropagation: ptr.To(corev1.MountPropagationBidirectional)}}
		}, wants: []want{forb("spec.containers[0].volumeMounts.mountPropagation")}},

		// probes and lifecycle
		{name: "probe without handler", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.ProbeHandler = corev1.ProbeHandler{}
			p.Spec.Containers[0].LivenessProbe = pr
		}, wants: []want{req("spec.containers[0].livenessProbe").withMsg("spec.containers[0].livenessProbe: Required value: must specify a handler type")}},
		{name: "probe with two handlers", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}
			p.Spec.Containers[0].ReadinessProbe = pr
		}, wants: []want{forb("spec.containers[0].readinessProbe.tcpSocket").withMsg("spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type")}},
		{name: "liveness successThreshold must be 1", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.SuccessThreshold = 2
			p.Spec.Containers[0].LivenessProbe = pr
		}, wants: []want{inv("spec.containers[0].livenessProbe.successThreshold").withMsg("spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1")}},
		{name: "startup successThreshold must be 1", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.SuccessThreshold = 3
			p.Spec.Containers[0].StartupProbe = pr
		}, wants: []want{inv("spec.containers[0].startupProbe.successThreshold")}},
		{name: "negative probe failureThreshold", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.FailureThreshold = -1
			p.Spec.Containers[0].ReadinessProbe = pr
		}, wants: []want{inv("spec.containers[0].readinessProbe.failureThreshold").withMsg("spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0")}},
		{name: "exec probe without command", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.Exec.Command = nil
			p.Spec.Containers[0].LivenessProbe = pr
		}, wants: []want{req("spec.containers[0].livenessProbe.exec.command")}},
		{name: "httpGet probe bad port and scheme", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(0), Scheme: "FTP"}}
			p.Spec.Containers[0].LivenessProbe = pr
		}, wants: []want{
			inv("spec.containers[0].livenessProbe.httpGet.port"),
			unsup("spec.containers[0].livenessProbe.httpGet.scheme").withMsg(`spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`),
		}},
		{name: "readiness probe grace period", mutate: func(p *corev1.Pod) {
			pr := execProbe()
			pr.TerminationGracePeriodSeconds = ptr.To[int64](5)
			p.Spec.Containers[0].ReadinessProbe = pr
		}, wants: []want{inv("spec.containers[0].readinessProbe.terminationGracePeriodSeconds")}},
		{name: "preStop sleep longer than grace period", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}}}
		}, wants: []want{inv("spec.containers[0].lifecycle.preStop.sleep").withMsg("spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)")}},

		// resources
		{name: "requests above limits", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, wants: []want{inv("spec.containers[0].resources.requests").withMsg(`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`)}},
		{name: "negative quantity", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}
		}, wants: []want{inv("spec.containers[0].resources.limits[memory]").withMsg(`spec.containers[0].resources.limits[memory]: Invalid value: "-1Mi": must be greater than or equal to 0`)}},
		{name: "unknown resource name", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
		}, wants: []want{inv("spec.containers[0].resources.limits[gpu]").withMsg(`spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers`)}},
		{name: "extended resource request without limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
		}, wants: []want{req("spec.containers[0].resources.limits").withMsg("spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources")}},
		{name: "fractional extended resource", mutate: func(p *corev1.Pod) {
			q := resource.MustParse("500m")
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/gpu": q}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": q}
		}, wants: []want{inv("spec.containers[0].resources.limits[example.com/gpu]")}},

		// env
		{name: "env name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} },
			wants: []want{req("spec.containers[0].env[0].name")}},
		{name: "env name with '='", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} },
			wants: []want{inv("spec.containers[0].env[0].name").withMsg(`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`)}},
		{name: "valueFrom with no source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, wants: []want{inv("spec.containers[0].env[0].valueFrom").withMsg("spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")}},
		{name: "valueFrom with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"},
				SecretKeyRef:    &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"},
			}}}
		}, wants: []want{inv("spec.containers[0].env[0].valueFrom").withMsg(`spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a time`)}},
		{name: "valueFrom together with value", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, wants: []want{inv("spec.containers[0].env[0].valueFrom")}},
		{name: "fieldRef path not supported", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.phase"}}}}
		}, wants: []want{unsup("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{name: "fieldRef path unknown", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.bogus"}}}}
		}, wants: []want{inv("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath").withMsg(`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.bogus": error converting fieldPath: field label not supported: spec.bogus`)}},
		{name: "secretKeyRef bad key", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "a/b"}}}}
		}, wants: []want{inv("spec.containers[0].env[0].valueFrom.secretKeyRef.key")}},
		{name: "envFrom with no source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}}
		}, wants: []want{inv("spec.containers[0].envFrom")}},

		// pod-level fields
		{name: "restartPolicy unsupported", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			wants: []want{unsup("spec.restartPolicy").withMsg(`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`)}},
		{name: "restartPolicy not defaulted", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "" },
			wants: []want{req("spec.restartPolicy")}},
		{name: "dnsPolicy unsupported", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			wants: []want{unsup("spec.dnsPolicy").withMsg(`spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`)}},
		{name: "dnsPolicy None needs dnsConfig", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			wants: []want{req("spec.dnsConfig")}},
		{name: "dnsConfig bad nameserver", mutate: func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.2.3"}}
		}, wants: []want{inv("spec.dnsConfig.nameservers[0]")}},
		{name: "terminationGracePeriodSeconds not defaulted", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			wants: []want{req("spec.terminationGracePeriodSeconds")}},
		{name: "activeDeadlineSeconds zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) },
			wants: []want{inv("spec.activeDeadlineSeconds").withMsg("spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive")}},
		{name: "nodeSelector bad label", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"-bad": "x"} },
			wants: []want{inv("spec.nodeSelector")}},
		{name: "nodeName not a subdomain", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			wants: []want{inv("spec.nodeName")}},
		{name: "serviceAccountName invalid", mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "My SA" },
			wants: []want{inv("spec.serviceAccountName")}},
		{name: "hostname not a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Hostname = "a.b" },
			wants: []want{inv("spec.hostname")}},
		{name: "toleration operator unsupported", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "In"}}
		}, wants: []want{unsup("spec.tolerations[0].operator").withMsg(`spec.tolerations[0].operator: Unsupported value: "In": supported values: "Equal", "Exists"`)}},
		{name: "toleration effect unsupported", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "NoRun"}}
		}, wants: []want{unsup("spec.tolerations[0].effect").withMsg(`spec.tolerations[0].effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`)}},
		{name: "toleration empty key needs Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "v"}}
		}, wants: []want{inv("spec.tolerations[0].operator")}},
		{name: "tolerationSeconds needs NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](1)}}
		}, wants: []want{inv("spec.tolerations[0].effect")}},
		{name: "Exists toleration with value", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, wants: []want{inv("spec.tolerations[0].operator")}},
		{name: "node affinity without terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, wants: []want{req("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
		{name: "pod anti-affinity without topologyKey", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, wants: []want{req("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{name: "topology spread maxSkew zero", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, wants: []want{inv("spec.topologySpreadConstraints[0].maxSkew")}},
		{name: "runAsUser out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](-1)}
		}, wants: []want{inv("spec.containers[0].securityContext.runAsUser")}},
		{name: "privileged without privilege escalation", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}
		}, wants: []want{inv("spec.containers[0].securityContext")}},
		{name: "seccomp type missing", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{}}
		}, wants: []want{req("spec.securityContext.seccompProfile.type")}},
		{name: "fsGroup out of range", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](-5)}
		}, wants: []want{inv("spec.securityContext.fsGroup")}},
		{name: "shareProcessNamespace with hostPID", mutate: func(p *corev1.Pod) {
			p.Spec.HostPID = true
			p.Spec.ShareProcessNamespace = ptr.To(true)
		}, wants: []want{inv("spec.securityContext.shareProcessNamespace")}},
		{name: "net sysctl with hostNetwork", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 80
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
		}, wants: []want{inv("spec.securityContext.sysctls[0].name")}},
		{name: "os name unsupported", mutate: func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} },
			wants: []want{unsup("spec.os")}},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, wants: []want{forb("spec.ephemeralContainers")}},
		{name: "nodeName with scheduling gates", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "node1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
		}, wants: []want{forb("spec.nodeName")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			expectErrs(t, ValidatePod(p), tc.wants...)
		})
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *corev1.PodTemplateSpec)
		wants  []want
	}{
		{name: "valid", mutate: func(*corev1.PodTemplateSpec) {}},
		{name: "template may leave hostPort 0 with hostNetwork", mutate: func(t *corev1.PodTemplateSpec) { t.Spec.HostNetwork = true }},
		{name: "template hostPort must still match", mutate: func(t *corev1.PodTemplateSpec) {
			t.Spec.HostNetwork = true
			t.Spec.Containers[0].Ports[0].HostPort = 9
		}, wants: []want{inv("spec.template.spec.containers[0].ports[0].hostPort")}},
		{name: "bad label", mutate: func(t *corev1.PodTemplateSpec) { t.Labels = map[string]string{"a b": "c"} },
			wants: []want{inv("spec.template.labels")}},
		{name: "image required", mutate: func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "" },
			wants: []want{req("spec.template.spec.containers[0].image").withMsg("spec.template.spec.containers[0].image: Required value")}},
		{name: "ephemeral containers", mutate: func(t *corev1.PodTemplateSpec) {
			t.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", Image: "busybox"}}}
		}, wants: []want{forb("spec.template.spec.ephemeralContainers")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := validTemplate(appLabels)
			tc.mutate(&tmpl)
			expectErrs(t, ValidatePodTemplateSpec(&tmpl, fieldPath("spec", "template")), tc.wants...)
		})
	}
}

func TestValidatePodBinding(t *testing.T) {
	tests := []struct {
		name    string
		binding corev1.Binding
		wants   []want
	}{
		{name: "valid", binding: corev1.Binding{Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}},
		{name: "kind may be empty", binding: corev1.Binding{Target: corev1.ObjectReference{Name: "node1"}}},
		{name: "target name required", binding: corev1.Binding{Target: corev1.ObjectReference{Kind: "Node"}},
			wants: []want{req("target.name")}},
		{name: "target kind must be Node", binding: corev1.Binding{Target: corev1.ObjectReference{Kind: "Pod", Name: "x"}},
			wants: []want{unsup("target.kind").withMsg(`target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, ValidatePodBinding(&tc.binding), tc.wants...)
		})
	}
}
