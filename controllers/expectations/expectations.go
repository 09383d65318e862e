// Package expectations records, per controller key, how many object creations
// and which deletions a controller is still waiting to observe through its
// informers, so a controller does not act twice on a stale cache (upstream's
// ControllerExpectations / UIDTrackingControllerExpectations idea).
//
// A key's expectations are satisfied once every expected add and delete has
// been observed, or once they are older than Timeout (a lost watch event must
// not wedge the controller forever).
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Timeout is how long expectations are honoured before a controller acts anyway.
const Timeout = 5 * time.Minute

type record struct {
	add, del  int64
	deleteKey sets.Set[string] // keys of the objects whose deletion is expected
	timestamp time.Time
}

func (r *record) fulfilled() bool { return r.add <= 0 && r.del <= 0 }

// Expectations tracks the expected creations (counted) and deletions (by object
// key, so each deletion is observed exactly once, whether it is seen as a
// deletionTimestamp update or as the delete event) for each controller key.
// It is safe for concurrent use.
type Expectations struct {
	mu      sync.Mutex
	clock   clock.PassiveClock
	records map[string]*record
}

// New returns empty expectations timed by clk (clock.RealClock{} when nil).
func New(clk clock.PassiveClock) *Expectations {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Expectations{clock: clk, records: map[string]*record{}}
}

// Satisfied reports whether the controller may sync key: it has no
// expectations, they are all observed, or they expired.
func (e *Expectations) Satisfied(logger klog.Logger, key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[key]
	if !ok {
		return true
	}
	if r.fulfilled() {
		logger.V(4).Info("Controller expectations fulfilled", "key", key)
		return true
	}
	if e.clock.Since(r.timestamp) > Timeout {
		logger.V(4).Info("Controller expectations expired", "key", key, "add", r.add, "del", r.del)
		return true
	}
	logger.V(4).Info("Controller still waiting on expectations", "key", key, "add", r.add, "del", r.del)
	return false
}

// ExpectCreations replaces key's expectations with adds creations.
func (e *Expectations) ExpectCreations(logger klog.Logger, key string, adds int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[key] = &record{add: int64(adds), timestamp: e.clock.Now()}
	logger.V(4).Info("Setting expectations", "key", key, "add", adds)
}

// ExpectDeletions replaces key's expectations with the deletion of the objects
// named by deletedKeys (namespace/name).
func (e *Expectations) ExpectDeletions(logger klog.Logger, key string, deletedKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[key] = &record{
		del:       int64(len(deletedKeys)),
		deleteKey: sets.New(deletedKeys...),
		timestamp: e.clock.Now(),
	}
	logger.V(4).Info("Setting expectations", "key", key, "del", len(deletedKeys))
}

// CreationObserved lowers key's expected creations by one (a pod was seen, or
// a create that will never be seen was skipped or failed).
func (e *Expectations) CreationObserved(logger klog.Logger, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.records[key]; ok {
		r.add--
		logger.V(4).Info("Lowered expectations", "key", key, "add", r.add, "del", r.del)
	}
}

// DeletionObserved records that the object objKey is gone (or going): it lowers
// key's expected deletions once per expected object.
func (e *Expectations) DeletionObserved(logger klog.Logger, key, objKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[key]
	if !ok || !r.deleteKey.Has(objKey) {
		return
	}
	r.deleteKey.Delete(objKey)
	r.del--
	logger.V(4).Info("Lowered expectations", "key", key, "object", objKey, "add", r.add, "del", r.del)
}

// Delete forgets key's expectations (its owner is gone).
func (e *Expectations) Delete(logger klog.Logger, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.records, key)
	logger.V(4).Info("Deleted expectations", "key", key)
}

// Pending returns key's outstanding creations and deletions and whether key has
// expectations at all.
func (e *Expectations) Pending(key string) (adds, dels int64, exists bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[key]
	if !ok {
		return 0, 0, false
	}
	return r.add, r.del, true
}
