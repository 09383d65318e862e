package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The objects of the acceptance scenario (seeds/000_*), as they reach validation after
// defaulting, must all be accepted.
func TestScenarioObjectsAreValid(t *testing.T) {
	// kubectl create deployment example --image=busybox --port=10000 --replicas=5
	deploy := validDeployment()
	c := validContainer("busybox", "busybox")
	c.ImagePullPolicy = corev1.PullAlways
	c.Ports = []corev1.ContainerPort{{ContainerPort: 10000, Protocol: corev1.ProtocolTCP}}
	deploy.Spec.Template.Spec.Containers = []corev1.Container{c}
	deploy.ResourceVersion = ""
	expectErrs(t, ValidateDeployment(deploy))

	// The ReplicaSet the controller makes from it, and one of its pods.
	rs := validReplicaSet()
	rs.Spec.Selector.MatchLabels = map[string]string{"app": "example", "pod-template-hash": "5d8f"}
	rs.Spec.Template = *deploy.Spec.Template.DeepCopy()
	rs.Spec.Template.Labels = map[string]string{"app": "example", "pod-template-hash": "5d8f"}
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "example", UID: "u1", Controller: ptr.To(true)}}
	expectErrs(t, ValidateReplicaSet(rs))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "example-5d8f-", Name: "example-5d8f-x7k2p", Namespace: "default", Labels: rs.Spec.Template.Labels},
		Spec:       *rs.Spec.Template.Spec.DeepCopy(),
	}
	expectErrs(t, ValidatePod(pod))

	// busybox.yml
	busybox := validPod()
	busybox.Name = "busybox"
	bc := validContainer("busybox", "busybox")
	bc.Command = []string{"sleep", "3600"}
	bc.LivenessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "find /alerts -mmin -5 | grep -q ."}}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
	}
	busybox.Spec.Containers = []corev1.Container{bc}
	expectErrs(t, ValidatePod(busybox))

	// The cadvisor manifest rewritten with hostPath.
	cadvisor := validPod()
	cadvisor.Name = "cadvisor-agent"
	cc := validContainer("cadvisor-agent", "google/cadvisor:0.19.3")
	cc.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, HostPort: 4194, Protocol: corev1.ProtocolTCP}}
	cc.VolumeMounts = []corev1.VolumeMount{
		{Name: "varrun", MountPath: "/var/run"},
		{Name: "varlibdocker", MountPath: "/var/lib/docker", ReadOnly: true},
		{Name: "sysfs", MountPath: "/sys", ReadOnly: true},
	}
	cadvisor.Spec.Containers = []corev1.Container{cc}
	for _, v := range []struct{ name, path string }{{"varrun", "/var/run"}, {"varlibdocker", "/var/lib/docker"}, {"sysfs", "/sys"}} {
		cadvisor.Spec.Volumes = append(cadvisor.Spec.Volumes, corev1.Volume{Name: v.name,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: v.path, Type: ptr.To(corev1.HostPathUnset)}}})
	}
	expectErrs(t, ValidatePod(cadvisor))

	// The same manifest with its volume source lost (what a lenient decoder would keep of
	// "source: hostDir") is refused, so nothing is stored.
	lost := cadvisor.DeepCopy()
	for i := range lost.Spec.Volumes {
		lost.Spec.Volumes[i].VolumeSource = corev1.VolumeSource{}
	}
	expectErrs(t, ValidatePod(lost), req("spec.volumes[0]"), notFound("spec.containers[0].volumeMounts[0].name"))

	// Producer/consumer sharing an emptyDir.
	pc := validPod()
	pc.Name = "producer-consumer"
	pc.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	producer := validContainer("producer", "busybox")
	producer.VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/data"}}
	consumer := validContainer("consumer", "nginx")
	consumer.VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/usr/share/nginx/html", ReadOnly: true}}
	pc.Spec.Containers = []corev1.Container{producer, consumer}
	expectErrs(t, ValidatePod(pc))

	// A mirror pod of a static manifest.
	mirror := validPod()
	mirror.Name = "static-web-node-1"
	mirror.Spec.NodeName = "node-1"
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "d41d8cd98f00b204e9800998ecf8427e", "kubernetes.io/config.source": "file"}
	expectErrs(t, ValidatePod(mirror))

	// A Job and a DaemonSet.
	expectErrs(t, ValidateJob(validJob()))
	ds := validDaemonSet()
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	expectErrs(t, ValidateDaemonSet(ds))

	// Scaling through the scale subresource and binding by the scheduler.
	scaled := deploy.DeepCopy()
	scaled.ResourceVersion = "2"
	scaled.Spec.Replicas = ptr.To[int32](0)
	deploy.ResourceVersion = "1"
	expectErrs(t, ValidateDeploymentUpdate(scaled, deploy))
	expectErrs(t, ValidatePodBinding(&corev1.Binding{ObjectMeta: pod.ObjectMeta, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}))
}
