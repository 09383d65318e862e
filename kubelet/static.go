package kubelet

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/podworker"
	"github.com/kubeshim/kubeshim/kubelet/staticpod"
)

// staticPods feeds the pods of the manifest folder to the pod workers and keeps their mirror
// pods in the API.
type staticPods struct {
	workers *podworker.Workers
	mirrors *staticpod.Mirrors
	// resync asks for a mirror sync (a mirror pod changed or went in the API).
	resync chan struct{}

	mu   sync.Mutex
	pods map[types.UID]*corev1.Pod
}

func newStaticPods(workers *podworker.Workers, mirrors *staticpod.Mirrors) *staticPods {
	return &staticPods{workers: workers, mirrors: mirrors, resync: make(chan struct{}, 1), pods: map[types.UID]*corev1.Pod{}}
}

// update takes the whole set of static pods as the folder has it now.
func (s *staticPods) update(pods []*corev1.Pod) {
	s.mu.Lock()
	next := make(map[types.UID]*corev1.Pod, len(pods))
	for _, p := range pods {
		next[p.UID] = p
	}
	var gone []*corev1.Pod
	for uid, p := range s.pods {
		if _, ok := next[uid]; !ok {
			gone = append(gone, p)
		}
	}
	s.pods = next
	s.mu.Unlock()
	for _, p := range gone {
		s.workers.RemoveStatic(p)
	}
	for _, p := range pods {
		s.workers.Update(p)
	}
	s.mirrorsChanged()
}

// known reports whether uid is a static pod's.
func (s *staticPods) known(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pods[uid]
	return ok
}

// byName returns the static pod namespace/name, if any.
func (s *staticPods) byName(namespace, name string) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pods {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// list returns the static pods.
func (s *staticPods) list() []*corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		out = append(out, p)
	}
	return out
}

// mirrorsChanged asks for a mirror sync.
func (s *staticPods) mirrorsChanged() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// run keeps the mirror pods in step: on every change, and every 10 s (a create that failed
// is retried).
func (s *staticPods) run(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resync:
		case <-tick.C:
		}
		s.mu.Lock()
		pods := make([]*corev1.Pod, 0, len(s.pods))
		for _, p := range s.pods {
			pods = append(pods, p)
		}
		s.mu.Unlock()
		if err := s.mirrors.Sync(ctx, pods); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Sync mirror pods")
		}
	}
}
