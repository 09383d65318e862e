package podcontrol

import (
	"math"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodDeletionCostAnnotation ranks pods of a ReplicaSet for scale-down: lower
// cost goes first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// IsPodActive reports whether the pod counts as a replica: not finished and
// not being deleted.
func IsPodActive(p *v1.Pod) bool {
	return p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed && p.DeletionTimestamp == nil
}

// IsPodTerminating reports whether the pod is being deleted but has not finished.
func IsPodTerminating(p *v1.Pod) bool {
	return p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed && p.DeletionTimestamp != nil
}

// FilterPods returns the pods for which keep is true.
func FilterPods(pods []*v1.Pod, keep func(*v1.Pod) bool) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range pods {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// ReadyCondition returns the pod's Ready condition, or nil.
func ReadyCondition(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *v1.Pod) bool {
	c := ReadyCondition(p)
	return c != nil && c.Status == v1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for more than
// minReadySeconds at now.
func IsPodAvailable(p *v1.Pod, minReadySeconds int32, now time.Time) bool {
	return availableIn(p, minReadySeconds, now) == 0
}

// availableIn is 0 for an available pod, the time until it becomes available
// for a ready one, and -1 for a pod that is not ready.
func availableIn(p *v1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := ReadyCondition(p)
	if c == nil || c.Status != v1.ConditionTrue {
		return -1
	}
	if minReadySeconds == 0 {
		return 0
	}
	if c.LastTransitionTime.IsZero() {
		return -1
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if at.Before(now) {
		return 0
	}
	return at.Sub(now) + time.Millisecond
}

// NextAvailabilityCheck returns how long until the first of the ready but not
// yet available pods becomes available, and false when there is none.
func NextAvailabilityCheck(pods []*v1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	var next time.Duration
	found := false
	for _, p := range pods {
		d := availableIn(p, minReadySeconds, now)
		if d > 0 && (!found || d < next) {
			next, found = d, true
		}
	}
	return next, found
}

// ActivePodsWithRanks sorts pods so that the ones to delete first come first
// (upstream's controller.ActivePodsWithRanks). Rank[i] is a co-location count
// of Pods[i]: with every other criterion equal, the pod with the higher rank
// (more related pods on its node) goes first.
type ActivePodsWithRanks struct {
	Pods []*v1.Pod
	Rank []int
	// Now buckets ready and creation times logarithmically (upstream's
	// LogarithmicScaleDown); zero compares them exactly.
	Now metav1.Time
}

func (s ActivePodsWithRanks) Len() int { return len(s.Pods) }

func (s ActivePodsWithRanks) Swap(i, j int) {
	s.Pods[i], s.Pods[j] = s.Pods[j], s.Pods[i]
	s.Rank[i], s.Rank[j] = s.Rank[j], s.Rank[i]
}

var phaseOrder = map[v1.PodPhase]int{v1.PodPending: 0, v1.PodUnknown: 1, v1.PodRunning: 2}

// Less orders: unassigned < assigned; Pending < Unknown < Running; not ready <
// ready; lower deletion cost < higher; higher rank < lower; ready for less
// time < more; more restarts < fewer; newer < older.
func (s ActivePodsWithRanks) Less(i, j int) bool {
	pi, pj := s.Pods[i], s.Pods[j]
	if (pi.Spec.NodeName == "") != (pj.Spec.NodeName == "") {
		return pi.Spec.NodeName == ""
	}
	if phaseOrder[pi.Status.Phase] != phaseOrder[pj.Status.Phase] {
		return phaseOrder[pi.Status.Phase] < phaseOrder[pj.Status.Phase]
	}
	ri, rj := IsPodReady(pi), IsPodReady(pj)
	if ri != rj {
		return !ri
	}
	if ci, cj := deletionCost(pi), deletionCost(pj); ci != cj {
		return ci < cj
	}
	if s.Rank[i] != s.Rank[j] {
		return s.Rank[i] > s.Rank[j]
	}
	if ri && rj {
		ti, tj := readyTime(pi), readyTime(pj)
		if !ti.Equal(tj) {
			return s.newerFirst(pi, pj, ti, tj)
		}
	}
	if res, ok := compareRestarts(pi, pj); ok {
		return res
	}
	if ci, cj := &pi.CreationTimestamp, &pj.CreationTimestamp; !ci.Equal(cj) {
		return s.newerFirst(pi, pj, ci, cj)
	}
	return false
}

// newerFirst orders two different times: zero first, then the later one,
// within the same power-of-two age bucket by UID.
func (s ActivePodsWithRanks) newerFirst(pi, pj *v1.Pod, ti, tj *metav1.Time) bool {
	if s.Now.IsZero() || ti.IsZero() || tj.IsZero() {
		return afterOrZero(ti, tj)
	}
	if d := logRank(ti.Time, s.Now.Time) - logRank(tj.Time, s.Now.Time); d != 0 {
		return d < 0
	}
	return pi.UID < pj.UID
}

func logRank(t, now time.Time) int {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	return int(math.Log2(float64(d)))
}

func afterOrZero(t1, t2 *metav1.Time) bool {
	if t1.IsZero() || t2.IsZero() {
		return t1.IsZero()
	}
	return t1.After(t2.Time)
}

func readyTime(p *v1.Pod) *metav1.Time {
	if c := ReadyCondition(p); c != nil && c.Status == v1.ConditionTrue {
		return &c.LastTransitionTime
	}
	return &metav1.Time{}
}

func deletionCost(p *v1.Pod) int32 {
	v, ok := p.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// compareRestarts puts the pod with the higher container restart count first,
// then the one with more sidecar (restartable init container) restarts.
func compareRestarts(pi, pj *v1.Pod) (bool, bool) {
	regI, sideI := maxRestarts(pi)
	regJ, sideJ := maxRestarts(pj)
	if regI != regJ {
		return regI > regJ, true
	}
	if sideI != sideJ {
		return sideI > sideJ, true
	}
	return false, false
}

func maxRestarts(p *v1.Pod) (regular, sidecar int32) {
	for _, c := range p.Status.ContainerStatuses {
		regular = max(regular, c.RestartCount)
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	for _, c := range p.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			sidecar = max(sidecar, c.RestartCount)
		}
	}
	return regular, sidecar
}
