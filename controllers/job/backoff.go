package job

import (
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

// backoffRecord is what the pod-failure back-off of one Job depends on: how many pods failed
// since the last success, and when the last of them finished.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailureTime          *time.Time
}

// backoffStore keeps the back-off record of each Job key (in memory, as upstream).
type backoffStore struct {
	mu      sync.Mutex
	records map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{records: map[string]backoffRecord{}} }

func (s *backoffStore) update(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = r
}

func (s *backoffStore) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}

// next returns key's record after the newly finished pods: a success after the failures
// resets the count to the failures that came after it.
func (s *backoffStore) next(key string, succeeded, failed []*v1.Pod) backoffRecord {
	s.mu.Lock()
	r := s.records[key]
	s.mu.Unlock()
	if len(failed) == 0 && len(succeeded) == 0 {
		return r
	}
	byFinish := func(a, b *v1.Pod) int { return finishedTime(a).Compare(finishedTime(b)) }
	succeeded, failed = slices.Clone(succeeded), slices.Clone(failed)
	slices.SortStableFunc(succeeded, byFinish)
	slices.SortStableFunc(failed, byFinish)
	if len(succeeded) == 0 {
		last := finishedTime(failed[len(failed)-1])
		return backoffRecord{failuresAfterLastSuccess: r.failuresAfterLastSuccess + int32(len(failed)), lastFailureTime: &last}
	}
	out := backoffRecord{}
	lastSuccess := finishedTime(succeeded[len(succeeded)-1])
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishedTime(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if out.lastFailureTime == nil {
			out.lastFailureTime = &t
		}
		out.failuresAfterLastSuccess++
	}
	return out
}

// remaining is how long replacements must still wait: DefaultPodFailureBackOff doubled per
// further failure, capped at MaxPodFailureBackOff, counted from the last failure.
func (r backoffRecord) remaining(clk clock.PassiveClock, base, maxDelay time.Duration) time.Duration {
	if r.failuresAfterLastSuccess == 0 || r.lastFailureTime == nil {
		return 0
	}
	d := base
	for i := int32(1); i < r.failuresAfterLastSuccess; i++ {
		d *= 2
		if d >= maxDelay {
			d = maxDelay
			break
		}
	}
	elapsed := clk.Since(*r.lastFailureTime)
	if d < elapsed {
		return 0
	}
	return d - elapsed
}

// finishedTime estimates when a pod finished: the last container termination, else the
// time it went unready, else its deletion time less the grace period, else its creation.
func finishedTime(p *v1.Pod) time.Time {
	var latest *time.Time
	allDone := len(p.Status.ContainerStatuses) > 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.FinishedAt.IsZero() {
			allDone = false
			break
		}
		if t := cs.State.Terminated.FinishedAt.Time; latest == nil || latest.Before(t) {
			latest = &t
		}
	}
	if allDone && latest != nil {
		return *latest
	}
	if c := podcontrol.ReadyCondition(p); c != nil && c.Status == v1.ConditionFalse && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return p.CreationTimestamp.Time
}

// uidExpectations tracks, per Job key, the pods whose finalizer removal the controller
// waits to observe: until then those pods are treated as already counted.
type uidExpectations struct {
	mu   sync.Mutex
	uids map[string]sets.Set[string]
}

func newUIDExpectations() *uidExpectations {
	return &uidExpectations{uids: map[string]sets.Set[string]{}}
}

func (u *uidExpectations) expect(key string, uids []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.uids[key]
	if !ok {
		s = sets.New[string]()
		u.uids[key] = s
	}
	s.Insert(uids...)
}

func (u *uidExpectations) observed(key, uid string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s, ok := u.uids[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(u.uids, key)
		}
	}
}

// expected returns a copy of key's expected UIDs.
func (u *uidExpectations) expected(key string) sets.Set[string] {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.uids[key].Clone()
}

func (u *uidExpectations) delete(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.uids, key)
}
