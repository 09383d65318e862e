package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// milliScale is the precision every quantity in a ResourceList is rounded up to on the way in,
// as kube-apiserver does (kubernetes#18538): "0.0001" CPU is stored as "1m".
const milliScale = resource.Scale(-3)

// roundResourceList rounds every quantity of rl up to milli precision, in place.
func roundResourceList(rl corev1.ResourceList) {
	for name, q := range rl {
		q.RoundUp(milliScale)
		rl[name] = q
	}
}

// roundRequirements rounds the limits and requests of r.
func roundRequirements(r *corev1.ResourceRequirements) {
	if r == nil {
		return
	}
	roundResourceList(r.Limits)
	roundResourceList(r.Requests)
}

// defaultRequestsFromLimits gives every resource with a limit and no request a request equal to
// the limit. Upstream does this for a Pod's containers and init containers only (not in pod
// templates, not for ephemeral containers).
func defaultRequestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(corev1.ResourceList, len(res.Limits))
		}
		for name, limit := range res.Limits {
			if _, set := res.Requests[name]; !set {
				res.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

// Pod-level resources (spec.resources, KEP-2837) cover CPU, memory and huge pages.
func podLevelResourceSupported(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || isHugePages(name)
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// overcommitAllowed: native resources other than huge pages may be requested below their limit.
func overcommitAllowed(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !isHugePages(name)
}

func anySupported(rl corev1.ResourceList) bool {
	for name := range rl {
		if podLevelResourceSupported(name) {
			return true
		}
	}
	return false
}

// aggregateContainers computes what the containers of a pod need together, for requests or for
// limits (pick selects which), under the sidecar formula: regular containers and restartable
// (sidecar) init containers run together and add up; each ordinary init container runs alone
// next to the sidecars started before it; the pod needs the larger of the two, per resource.
func aggregateContainers(spec *corev1.PodSpec, pick func(*corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range spec.Containers {
		addResources(total, pick(&spec.Containers[i].Resources))
	}
	sidecars := corev1.ResourceList{}
	initPeak := corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		own := pick(&c.Resources)
		var use corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResources(total, own)
			addResources(sidecars, own)
			use = sidecars
		} else {
			use = corev1.ResourceList{}
			addResources(use, own)
			addResources(use, sidecars)
		}
		maxResources(initPeak, use)
	}
	maxResources(total, initPeak)
	return total
}

func pickRequests(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Requests }
func pickLimits(r *corev1.ResourceRequirements) corev1.ResourceList   { return r.Limits }

func addResources(into, add corev1.ResourceList) {
	for name, q := range add {
		if cur, ok := into[name]; ok {
			cur.Add(q)
			into[name] = cur
		} else {
			into[name] = q.DeepCopy()
		}
	}
}

func maxResources(into, other corev1.ResourceList) {
	for name, q := range other {
		if cur, ok := into[name]; !ok || q.Cmp(cur) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}

// defaultPodLevelResources fills in pod-level requests and limits from what is already set, as
// upstream SetDefaults_Pod does with the PodLevelResources feature (on by default since 1.34).
// It runs after container requests were defaulted from container limits, and does nothing for a
// pod without spec.resources.
func defaultPodLevelResources(pod *corev1.Pod) {
	defaultPodHugePageLimits(pod)
	defaultPodRequests(pod)
	defaultPodLimits(pod)
}

// defaultPodHugePageLimits: when pod-level resources are partly set, a huge-page size the
// containers limit, with no pod-level request or limit of its own, gets a pod-level limit equal
// to the containers' aggregate.
func defaultPodHugePageLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || len(res.Limits)+len(res.Requests) == 0 {
		return
	}
	limits := res.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range aggregateContainers(&pod.Spec, pickLimits) {
		if !isHugePages(name) {
			continue
		}
		if _, requested := res.Requests[name]; requested {
			continue
		}
		if _, set := limits[name]; !set {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		res.Limits = limits
	}
}

// defaultPodRequests: when pod-level limits are set, each supported resource without a pod-level
// request gets the containers' aggregate request if it can be overcommitted and some container
// requests it, else the pod-level limit.
func defaultPodRequests(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || len(res.Limits) == 0 {
		return
	}
	requests := res.Requests
	if requests == nil {
		requests = corev1.ResourceList{}
	}
	for name, q := range aggregateContainers(&pod.Spec, pickRequests) {
		if _, set := requests[name]; !set && podLevelResourceSupported(name) && overcommitAllowed(name) {
			requests[name] = q.DeepCopy()
		}
	}
	for name, limit := range res.Limits {
		if _, set := requests[name]; !set && podLevelResourceSupported(name) {
			requests[name] = limit.DeepCopy()
		}
	}
	if len(requests) > 0 {
		res.Requests = requests
	}
}

// defaultPodLimits: when pod-level requests are set but no pod-level limit is, CPU and memory get
// a pod-level limit equal to the containers' aggregate limit, provided every container (init
// containers included) limits that resource — otherwise the pod as a whole is unbounded.
func defaultPodLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || anySupported(res.Limits) || !anySupported(res.Requests) {
		return
	}
	limits := res.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range aggregateContainers(&pod.Spec, pickLimits) {
		if _, set := limits[name]; set {
			continue
		}
		if !podLevelResourceSupported(name) || !overcommitAllowed(name) || !everyContainerLimits(&pod.Spec, name) {
			continue
		}
		limits[name] = q.DeepCopy()
	}
	if len(limits) > 0 {
		res.Limits = limits
	}
}

func everyContainerLimits(spec *corev1.PodSpec, name corev1.ResourceName) bool {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if _, ok := list[i].Resources.Limits[name]; !ok {
				return false
			}
		}
	}
	return true
}
