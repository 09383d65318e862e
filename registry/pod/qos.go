package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass computes a pod's quality-of-service class by upstream's rules (ComputePodQOS):
// only positive cpu and memory quantities count; BestEffort when there are none; Guaranteed
// when every container (init containers included) limits both cpu and memory and the summed
// requests equal the summed limits; Burstable otherwise. When the pod sets pod-level
// resources, they alone decide, by the same rules.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	if p.Spec.Resources != nil {
		sum(requests, p.Spec.Resources.Requests)
		if len(p.Spec.Resources.Limits) > 0 && !sum(limits, p.Spec.Resources.Limits) {
			guaranteed = false
		}
	} else {
		// Ephemeral containers set no resources and do not count.
		for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
			for i := range list {
				sum(requests, list[i].Resources.Requests)
				if !sum(limits, list[i].Resources.Limits) {
					guaranteed = false
				}
			}
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

// sum adds the positive cpu and memory quantities of in to total, and reports whether in has
// both a positive cpu and a positive memory quantity.
func sum(total, in corev1.ResourceList) (cpuAndMemory bool) {
	var cpu, memory bool
	for name, q := range in {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			continue
		}
		if q.Cmp(resource.Quantity{}) <= 0 {
			continue
		}
		cpu = cpu || name == corev1.ResourceCPU
		memory = memory || name == corev1.ResourceMemory
		if cur, ok := total[name]; ok {
			cur.Add(q)
			total[name] = cur
		} else {
			total[name] = q.DeepCopy()
		}
	}
	return cpu && memory
}
