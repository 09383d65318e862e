package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass computes a pod's quality-of-service class as the kubelet and kube-apiserver do:
// Guaranteed when every container sets equal cpu and memory requests and limits, BestEffort
// when none sets any, Burstable otherwise.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	if p.Spec.Resources != nil && (len(p.Spec.Resources.Requests) > 0 || len(p.Spec.Resources.Limits) > 0) {
		return podLevelQOS(p.Spec.Resources)
	}
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	containers := append(append([]corev1.Container{}, p.Spec.Containers...), p.Spec.InitContainers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if isQOSResource(name) && !q.IsZero() {
				add(requests, name, q)
			}
		}
		found := 0
		for name, q := range c.Resources.Limits {
			if isQOSResource(name) && !q.IsZero() {
				add(limits, name, q)
				found++
			}
		}
		if found != 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func podLevelQOS(r *corev1.ResourceRequirements) corev1.PodQOSClass {
	cpuReq, memReq := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory]
	cpuLim, okC := r.Limits[corev1.ResourceCPU]
	memLim, okM := r.Limits[corev1.ResourceMemory]
	if okC && okM && (cpuReq.IsZero() || cpuReq.Cmp(cpuLim) == 0) && (memReq.IsZero() || memReq.Cmp(memLim) == 0) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func isQOSResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

func add(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	if cur, ok := list[name]; ok {
		cur.Add(q)
		list[name] = cur
		return
	}
	list[name] = q.DeepCopy()
}
