package scheduler

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// assumedPods holds the pods the scheduler has chosen a node for (and is binding, or has bound)
// that the pod informer does not yet show on that node. The node's accounting includes them, so
// two pods scheduled back to back do not both take the node's last slot.
type assumedPods struct {
	mu   sync.Mutex
	pods map[types.UID]*corev1.Pod
}

func newAssumedPods() *assumedPods {
	return &assumedPods{pods: map[types.UID]*corev1.Pod{}}
}

// assume records the pod as bound to the node.
func (a *assumedPods) assume(pod *corev1.Pod, node string) {
	p := pod.DeepCopy()
	p.Spec.NodeName = node
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[p.UID] = p
}

// forget drops the pod: its binding failed, the informer shows it bound, or it was deleted.
func (a *assumedPods) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, uid)
}

// has reports whether the pod is assumed.
func (a *assumedPods) has(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.pods[uid]
	return ok
}

// list returns the assumed pods, each with spec.nodeName set to its node.
func (a *assumedPods) list() []*corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(a.pods))
	for _, p := range a.pods {
		out = append(out, p)
	}
	return out
}
