package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Requests the scheduler assumes, for scoring only, for a container that asks for no cpu or memory
// (upstream's DefaultMilliCPURequest and DefaultMemoryRequest): otherwise pods without requests
// would all land on one node.
const (
	defaultMilliCPURequest int64 = 100
	defaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// resources is the part of a ResourceList the scheduler accounts for.
type resources struct {
	milliCPU         int64
	memory           int64
	ephemeralStorage int64
	// scalar holds every other requested resource (extended resources, hugepages-*).
	scalar map[corev1.ResourceName]int64
}

func (r *resources) add(o resources) {
	r.milliCPU += o.milliCPU
	r.memory += o.memory
	r.ephemeralStorage += o.ephemeralStorage
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[name] += v
	}
}

func resourcesFromList(list corev1.ResourceList) resources {
	var r resources
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeralStorage += q.Value()
		case corev1.ResourcePods:
			// Counted by the number of pods, not as a request.
		default:
			if r.scalar == nil {
				r.scalar = map[corev1.ResourceName]int64{}
			}
			r.scalar[name] += q.Value()
		}
	}
	return r
}

// podRequests is what a pod takes from its node, as upstream computes it: the sum of the app
// containers (and sidecars), or the largest init container if more, plus the pod overhead, or
// the pod-level requests when set.
func podRequests(pod *corev1.Pod) resources {
	return resourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
}

// podNonZeroRequests is podRequests with upstream's defaults for containers that request no cpu
// or memory; it is used only to score nodes.
func podNonZeroRequests(pod *corev1.Pod) resources {
	return resourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.BinarySI),
		},
	}))
}

// hostPort is one host port a pod holds on its node, normalised as upstream's NodePorts does.
type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

const anyIP = "0.0.0.0"

// podHostPorts lists the host ports of a pod's containers and sidecar init containers.
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	collect := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
			if hp.ip == "" {
				hp.ip = anyIP
			}
			if hp.protocol == "" {
				hp.protocol = corev1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.Containers {
		collect(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			collect(c)
		}
	}
	return out
}

// conflicts reports whether two host ports cannot both be bound: same protocol and port, and
// addresses that overlap (equal, or either is the wildcard).
func (p hostPort) conflicts(o hostPort) bool {
	if p.port != o.port || p.protocol != o.protocol {
		return false
	}
	return p.ip == anyIP || o.ip == anyIP || p.ip == o.ip
}

// nodeInfo is one node and what the pods bound (or assumed bound) to it take.
type nodeInfo struct {
	node             *corev1.Node
	pods             []*corev1.Pod
	requested        resources
	nonZeroRequested resources
	usedPorts        []hostPort
}

func newNodeInfo(node *corev1.Node) *nodeInfo {
	return &nodeInfo{node: node}
}

func (n *nodeInfo) addPod(pod *corev1.Pod) {
	n.pods = append(n.pods, pod)
	n.requested.add(podRequests(pod))
	n.nonZeroRequested.add(podNonZeroRequests(pod))
	n.usedPorts = append(n.usedPorts, podHostPorts(pod)...)
}

func (n *nodeInfo) allocatable() resources {
	return resourcesFromList(n.node.Status.Allocatable)
}

func (n *nodeInfo) allowedPods() int64 {
	q, ok := n.node.Status.Allocatable[corev1.ResourcePods]
	if !ok {
		return 0
	}
	return q.Value()
}
