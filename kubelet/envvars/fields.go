package envvars

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodFieldValue returns the value of a downward API field of pod, as the kubelet gives it to
// env (fieldRef) and to downwardAPI volume files: metadata.name, metadata.namespace,
// metadata.uid, metadata.labels and metadata.annotations (the whole map as key="value" lines,
// or one value with ['key']), spec.nodeName, spec.serviceAccountName, status.hostIP,
// status.hostIPs, status.podIP, status.podIPs (comma-separated). podIPs and hostIP are the
// kubelet's current view; when empty, the pod's status is used.
func PodFieldValue(pod *corev1.Pod, fs *corev1.ObjectFieldSelector, podIPs []string, hostIP string) (string, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", fs.APIVersion)
	}
	path := fs.FieldPath
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	if len(podIPs) == 0 {
		for _, ip := range pod.Status.PodIPs {
			podIPs = append(podIPs, ip.IP)
		}
		if len(podIPs) == 0 && pod.Status.PodIP != "" {
			podIPs = []string{pod.Status.PodIP}
		}
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return hostIPsOf(pod, hostIP)[0], nil
	case "status.hostIPs":
		return strings.Join(hostIPsOf(pod, hostIP), ","), nil
	case "status.podIP":
		if len(podIPs) == 0 {
			return "", nil
		}
		return podIPs[0], nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return "", fmt.Errorf("field label not supported: %s", path)
}

// hostIPsOf is hostIP followed by the other host IPs of the pod's status (hostIP, when empty,
// falls back to the status). It always has at least one element.
func hostIPsOf(pod *corev1.Pod, hostIP string) []string {
	ips := []string{}
	if hostIP != "" {
		ips = append(ips, hostIP)
	}
	for _, ip := range pod.Status.HostIPs {
		if ip.IP != "" && ip.IP != hostIP {
			ips = append(ips, ip.IP)
		}
	}
	if len(ips) == 0 && pod.Status.HostIP != "" {
		ips = append(ips, pod.Status.HostIP)
	}
	if len(ips) == 0 {
		ips = append(ips, "")
	}
	return ips
}

// subscript splits "prefix['key']" into key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// FormatMap formats m as the downward API does: one key="value" line per key (the value
// Go-quoted), keys sorted, no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// ResourceFieldValue returns the value of a resourceFieldRef (limits.cpu, limits.memory,
// limits.ephemeral-storage, limits.hugepages-*, and the same for requests.*) for container c of
// pod, or for the container fs.ContainerName names. A limit the container does not set is the
// node's allocatable amount, as upstream's kubelet does. The value is divided by fs.Divisor
// (1 when zero) and rounded up: cpu in cores (divisor 1m gives millicores), memory in bytes.
func ResourceFieldValue(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	if fs.ContainerName != "" && (c == nil || c.Name != fs.ContainerName) {
		c = findContainer(pod, fs.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %s not found", fs.ContainerName)
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s: no container", fs.Resource)
	}
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var list corev1.ResourceList
	var name corev1.ResourceName
	switch {
	case strings.HasPrefix(fs.Resource, "limits."):
		name = corev1.ResourceName(strings.TrimPrefix(fs.Resource, "limits."))
		list = c.Resources.Limits
		if _, set := list[name]; !set {
			list = allocatable
		}
	case strings.HasPrefix(fs.Resource, "requests."):
		name = corev1.ResourceName(strings.TrimPrefix(fs.Resource, "requests."))
		list = c.Resources.Requests
	default:
		return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
	}
	q := list[name]
	switch {
	case name == corev1.ResourceCPU:
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case name == corev1.ResourceMemory, name == corev1.ResourceEphemeralStorage,
		strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
