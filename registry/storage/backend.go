package storage

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"k8s.io/klog/v2"
	"k8s.io/utils/third_party/forked/golang/btree"
)

const (
	// DefaultHistorySize is the default number of events kept for watches
	// resuming from a past resourceVersion and for reads at past revisions.
	DefaultHistorySize = 10000
	// DefaultHistoryBytes is the default bound on the bytes of superseded and
	// deleted values the history keeps alive.
	DefaultHistoryBytes = 64 << 20
	// DefaultWatchQueueSize is the default number of events a watcher may fall
	// behind its consumer before it is terminated.
	DefaultWatchQueueSize = 1000
	// DefaultBookmarkFrequency is how often watchers that allow bookmarks get
	// one when idle (the watch cache uses the same period).
	DefaultBookmarkFrequency = time.Minute
	// DefaultProgressNotifyInterval is how often watchers that asked for
	// storage progress notifications (ListOptions.ProgressNotify) get one.
	DefaultProgressNotifyInterval = time.Minute

	// resultBufferSize is the capacity of a watcher's result channel, like the
	// etcd3 watcher's outgoing buffer.
	resultBufferSize = 100
	// btreeDegree is the degree of the keyspace B-tree.
	btreeDegree = 32
	// initialRevision is the revision of an empty keyspace, as in etcd.
	initialRevision = 1
)

// Options configures a Backend. Zero values select the defaults.
type Options struct {
	// HistorySize is the minimum number of most recent events (writes) kept.
	// A watch from an older resourceVersion, a list at an older exact
	// revision or a continue token of an older list gets 410 Gone. The log is
	// compacted in batches, so it may hold up to 1/8 more events.
	HistorySize int
	// HistoryBytes bounds the size of the old values (superseded or deleted)
	// the history keeps; older events are compacted beyond it, even if fewer
	// than HistorySize events are kept.
	HistoryBytes int64
	// WatchQueueSize is how many events a watcher may have queued for a slow
	// consumer before it is terminated (its result channel closed).
	WatchQueueSize int
	// BookmarkFrequency is the period of bookmark events for watchers with
	// AllowWatchBookmarks; a watch with a deadline also gets one 2s before it.
	BookmarkFrequency time.Duration
	// ProgressNotifyInterval is the period of progress notifications for
	// watchers that set ListOptions.ProgressNotify.
	ProgressNotifyInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.HistorySize <= 0 {
		o.HistorySize = DefaultHistorySize
	}
	if o.HistoryBytes <= 0 {
		o.HistoryBytes = DefaultHistoryBytes
	}
	if o.WatchQueueSize <= 0 {
		o.WatchQueueSize = DefaultWatchQueueSize
	}
	if o.BookmarkFrequency <= 0 {
		o.BookmarkFrequency = DefaultBookmarkFrequency
	}
	if o.ProgressNotifyInterval <= 0 {
		o.ProgressNotifyInterval = DefaultProgressNotifyInterval
	}
	return o
}

// version is one value of a key. Versions are immutable once published.
type version struct {
	modRev    int64
	createRev int64
	value     []byte
	deleted   bool
	// expires is when the key expires (Unix nanoseconds; 0: no TTL), kept so
	// that snapshots of the write-ahead log carry TTLs across restarts.
	expires int64
}

// record holds the versions of one key still needed: every version newer than
// the compaction revision plus the one visible at it. Records are immutable;
// a write replaces the record in the tree, so tree clones are true snapshots.
type record struct {
	key      string
	versions []version
}

func recordLess(a, b *record) bool { return a.key < b.key }

// latest returns the newest live version of the key, or nil.
func (r *record) latest() *version {
	v := &r.versions[len(r.versions)-1]
	if v.deleted {
		return nil
	}
	return v
}

// at returns the live version of the key visible at revision rev, or nil.
func (r *record) at(rev int64) *version {
	for i := len(r.versions) - 1; i >= 0; i-- {
		v := &r.versions[i]
		if v.modRev <= rev {
			if v.deleted {
				return nil
			}
			return v
		}
	}
	return nil
}

// event is one write in the event log. Events are immutable except for the
// weak decode cache shared by the watchers it fans out to.
type event struct {
	rev       int64
	key       string
	value     []byte // nil for a deletion
	prevValue []byte // nil for a creation
	created   bool
	deleted   bool
	// expires is the TTL deadline of the written version (see version.expires).
	expires int64
	// batch is the write-ahead log batch the event was appended to; the write
	// is acknowledged once it is durable. Nil without a log.
	batch *walBatch
	// fanout is the number of live watchers the event was queued to; set
	// before it is queued, read by watchers to decide whether to share decodes.
	fanout int
	// decoded caches decoded objects for watchers of the same view; it is weak
	// so the log never keeps decoded objects alive.
	decoded atomic.Pointer[weak.Pointer[decodedEvent]]
}

// snapshot is an immutable view of the keyspace at revision rev.
type snapshot struct {
	tree       *btree.BTree[*record]
	rev        int64
	compactRev int64
}

// get returns the record of key in the snapshot, or nil.
func (s *snapshot) get(key string) *record {
	r, ok := s.tree.Get(&record{key: key})
	if !ok {
		return nil
	}
	return r
}

// ascend calls fn for the records whose key has the given prefix, starting at
// key start (inclusive), in key order, until fn returns false.
func (s *snapshot) ascend(prefix, start string, fn func(*record) bool) {
	if start < prefix {
		start = prefix
	}
	s.tree.AscendGreaterOrEqual(&record{key: start}, func(r *record) bool {
		if !strings.HasPrefix(r.key, prefix) {
			return false
		}
		return fn(r)
	})
}

// txnResult is the outcome of a conditional write.
type txnResult struct {
	succeeded bool
	// rev is the revision of the write on success, the current revision otherwise.
	rev int64
	// current is the live version of the key when the condition failed (nil if
	// the key does not exist).
	current *version
}

// Backend is an in-memory MVCC keyspace shared by all resources, with one
// global monotonic revision. It is safe for concurrent use.
type Backend struct {
	opts Options

	mu   sync.RWMutex
	tree *btree.BTree[*record]
	// rev is the revision of the last published write: what reads, lists and
	// watches see. Without a write-ahead log every write is published as it
	// is committed; with one, only once it is durable.
	rev int64
	// lastRev is the revision of the last committed write (== rev without a
	// log). The tree holds the versions of (rev, lastRev] too, but they are
	// visible only to conditional writes, which must see them to stay ordered.
	lastRev    int64
	compactRev int64
	// log holds the published events with revisions (compactRev, rev], in
	// order and without gaps (one event per revision).
	log []*event
	// pending holds the committed events (rev, lastRev] waiting for the
	// write-ahead log to make them durable.
	pending []*event
	// wal is the write-ahead log, nil for a purely in-memory backend.
	wal *wal
	// historyBytes is the size of the old values referenced by the log.
	historyBytes int64
	// snap caches a snapshot of the current revision; reset by every write.
	snap     *snapshot
	watchers map[*watcher]struct{}
	closed   bool

	ttls     ttlHeap
	ttlByKey map[string]*ttlItem
	ttlTimer *time.Timer
}

// NewBackend returns an empty keyspace at revision 1. It starts no goroutines;
// Close releases its timers and terminates its watchers.
func NewBackend(opts Options) *Backend {
	return &Backend{
		opts:     opts.withDefaults(),
		tree:     btree.New[*record](btreeDegree, recordLess),
		rev:      initialRevision,
		lastRev:  initialRevision,
		watchers: map[*watcher]struct{}{},
		ttlByKey: map[string]*ttlItem{},
	}
}

// Close terminates all watchers and stops TTL expiry. Reads and writes after
// Close fail. With a write-ahead log, the writes in flight are made durable
// (and acknowledged), a final snapshot is written and the log is closed.
func (b *Backend) Close() { b.close(true) }

// close is Close; without finalSnapshot the log is left as a crash would
// leave it after its last fsync (for tests and benchmarks of replay).
func (b *Backend) close(finalSnapshot bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	if b.ttlTimer != nil {
		b.ttlTimer.Stop()
	}
	watchers := make([]*watcher, 0, len(b.watchers))
	for w := range b.watchers {
		watchers = append(watchers, w)
	}
	wal := b.wal
	b.mu.Unlock()
	for _, w := range watchers {
		w.Stop()
	}
	if wal != nil {
		if err := wal.close(finalSnapshot); err != nil {
			klog.ErrorS(err, "Closing the storage write-ahead log", "dir", wal.dir)
		}
	}
}

// CurrentRevision returns the revision of the last write (1 for an empty
// keyspace), i.e. the current resourceVersion.
func (b *Backend) CurrentRevision() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.rev
}

// CompactRevision returns the revision of the last compaction (0 if none):
// reads at older revisions and watches from older resourceVersions get 410.
func (b *Backend) CompactRevision() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.compactRev
}

// Compact discards history older than rev: afterwards reads are possible at
// revisions >= rev and watches from resourceVersions >= rev. Compacting at or
// below the current compaction revision is a no-op.
func (b *Backend) Compact(rev int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBackendClosed
	}
	if rev > b.rev {
		return fmt.Errorf("cannot compact at revision %d: current revision is %d", rev, b.rev)
	}
	b.compactLocked(rev)
	return nil
}

var errBackendClosed = errors.New("in-memory storage backend is closed")

// snapshot returns an immutable view of the current revision.
func (b *Backend) snapshot() (*snapshot, error) {
	b.mu.RLock()
	s, closed := b.snap, b.closed
	b.mu.RUnlock()
	if closed {
		return nil, errBackendClosed
	}
	if s != nil {
		return s, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshotLocked(), nil
}

func (b *Backend) snapshotLocked() *snapshot {
	if b.snap == nil {
		b.snap = &snapshot{tree: b.tree.Clone(), rev: b.rev, compactRev: b.compactRev}
	}
	return b.snap
}

// get returns the live version of key (nil if absent) and the current revision.
func (b *Backend) get(key string) (*version, int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, 0, errBackendClosed
	}
	r, ok := b.tree.Get(&record{key: key})
	if !ok {
		return nil, b.rev, nil
	}
	return r.at(b.rev), b.rev, nil
}

// put writes value at key if the key's current modification revision is
// expectModRev (0: the key must not exist). ttl > 0 makes the key expire
// after ttl seconds unless written again; ttl == 0 clears a previous TTL.
//
// With a write-ahead log it returns once the write is durable (and visible),
// or fails if the log could not make it durable.
func (b *Backend) put(key string, value []byte, expectModRev int64, ttl uint64) (txnResult, error) {
	var expires int64
	if ttl > 0 {
		expires = time.Now().Add(time.Duration(ttl) * time.Second).UnixNano()
	}
	b.mu.Lock()
	if err := b.writableLocked(); err != nil {
		b.mu.Unlock()
		return txnResult{}, err
	}
	rec, cur := b.currentLocked(key)
	if modRev(cur) != expectModRev {
		res := txnResult{rev: b.rev, current: cur}
		b.mu.Unlock()
		return res, nil
	}
	e := b.commitLocked(key, rec, cur, value, false, expires)
	b.setTTLLocked(key, e.rev, expires)
	b.mu.Unlock()
	if err := e.waitDurable(); err != nil {
		return txnResult{}, err
	}
	return txnResult{succeeded: true, rev: e.rev}, nil
}

// del deletes key if its current modification revision is expectModRev.
// Like put, it returns once the deletion is durable.
func (b *Backend) del(key string, expectModRev int64) (txnResult, error) {
	b.mu.Lock()
	if err := b.writableLocked(); err != nil {
		b.mu.Unlock()
		return txnResult{}, err
	}
	rec, cur := b.currentLocked(key)
	if cur == nil || cur.modRev != expectModRev {
		res := txnResult{rev: b.rev, current: cur}
		b.mu.Unlock()
		return res, nil
	}
	e := b.commitLocked(key, rec, cur, nil, true, 0)
	b.setTTLLocked(key, e.rev, 0)
	b.mu.Unlock()
	if err := e.waitDurable(); err != nil {
		return txnResult{}, err
	}
	return txnResult{succeeded: true, rev: e.rev}, nil
}

// writableLocked returns why the backend takes no writes, if it does not.
func (b *Backend) writableLocked() error {
	if b.closed {
		return errBackendClosed
	}
	if b.wal != nil {
		return b.wal.failure()
	}
	return nil
}

func modRev(v *version) int64 {
	if v == nil {
		return 0
	}
	return v.modRev
}

func (b *Backend) currentLocked(key string) (*record, *version) {
	rec, ok := b.tree.Get(&record{key: key})
	if !ok {
		return nil, nil
	}
	return rec, rec.latest()
}

// commitLocked applies one write at the next revision. Without a write-ahead
// log its event is published at once; with one, the write is appended to the
// log and its event published when the log has made it durable.
func (b *Backend) commitLocked(key string, rec *record, cur *version, value []byte, deleted bool, expires int64) *event {
	b.lastRev++
	nv := version{modRev: b.lastRev, value: value, deleted: deleted, expires: expires}
	if !deleted {
		nv.createRev = b.lastRev
		if cur != nil {
			nv.createRev = cur.createRev
		}
	}
	var versions []version
	if rec != nil {
		// Appending in place is safe: records in snapshots never read past
		// their own length, and only the live record of a key is appended to.
		versions = rec.versions
	}
	versions = append(versions, nv)
	b.tree.ReplaceOrInsert(&record{key: key, versions: versions})

	e := &event{rev: b.lastRev, key: key, value: value, created: cur == nil, deleted: deleted, expires: expires}
	if cur != nil {
		e.prevValue = cur.value
	}
	if b.wal != nil {
		e.batch = b.wal.append(e)
		b.pending = append(b.pending, e)
		return e
	}
	b.publishLocked(e)
	return e
}

// publish publishes the pending events up to revision upTo, which the
// write-ahead log has made durable.
func (b *Backend) publish(upTo int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for n < len(b.pending) && b.pending[n].rev <= upTo {
		b.publishLocked(b.pending[n])
		n++
	}
	clear(b.pending[:n])
	b.pending = b.pending[n:]
}

// publishLocked makes a committed write visible: it appends its event to the
// log, fans it out to watchers and bounds the history.
func (b *Backend) publishLocked(e *event) {
	b.rev = e.rev
	b.historyBytes += int64(len(e.prevValue))
	b.log = append(b.log, e)
	b.snap = nil
	if len(b.watchers) > 0 && !b.closed {
		var matched []*watcher
		for w := range b.watchers {
			if w.matchesKey(e.key) {
				matched = append(matched, w)
			}
		}
		e.fanout = len(matched)
		for _, w := range matched {
			w.push(e)
		}
	}
	slack := b.opts.HistorySize / 8
	if slack < 1 {
		slack = 1
	}
	if len(b.log) > b.opts.HistorySize+slack {
		b.compactLocked(b.log[len(b.log)-b.opts.HistorySize-1].rev)
	}
	if b.historyBytes > b.opts.HistoryBytes {
		// Keep the newest events holding at most 7/8 of the budget.
		budget, i := b.opts.HistoryBytes-b.opts.HistoryBytes/8, len(b.log)-1
		for ; i >= 0 && budget >= int64(len(b.log[i].prevValue)); i-- {
			budget -= int64(len(b.log[i].prevValue))
		}
		if i >= 0 {
			b.compactLocked(b.log[i].rev)
		}
	}
}

// compactLocked drops the events with revisions <= c and the versions of
// their keys no longer visible at any revision >= c.
func (b *Backend) compactLocked(c int64) {
	if c <= b.compactRev {
		return
	}
	n := 0
	for n < len(b.log) && b.log[n].rev <= c {
		n++
	}
	pruned := make(map[string]struct{}, n)
	for _, e := range b.log[:n] {
		b.historyBytes -= int64(len(e.prevValue))
		if _, done := pruned[e.key]; done {
			continue
		}
		pruned[e.key] = struct{}{}
		b.pruneLocked(e.key, c)
	}
	clear(b.log[:n])
	b.log = b.log[n:]
	b.compactRev = c
	b.snap = nil
	klog.V(4).InfoS("Compacted in-memory storage", "revision", c, "events", n)
}

func (b *Backend) pruneLocked(key string, c int64) {
	rec, ok := b.tree.Get(&record{key: key})
	if !ok {
		return
	}
	idx := -1
	for i := len(rec.versions) - 1; i >= 0; i-- {
		if rec.versions[i].modRev <= c {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	keep := rec.versions[idx:]
	if keep[0].deleted {
		keep = keep[1:]
	}
	switch {
	case len(keep) == 0:
		b.tree.Delete(rec)
	case len(keep) < len(rec.versions):
		b.tree.ReplaceOrInsert(&record{key: key, versions: append([]version(nil), keep...)})
	}
}

// eventsSinceLocked returns the events after revision rev whose key matches,
// or ok=false if rev is older than the compaction revision.
func (b *Backend) eventsSinceLocked(rev int64, match func(string) bool) (events []*event, ok bool) {
	if rev < b.compactRev {
		return nil, false
	}
	if len(b.log) == 0 {
		return nil, true
	}
	start := rev + 1 - b.log[0].rev
	if start < 0 {
		start = 0
	}
	for i := start; i < int64(len(b.log)); i++ {
		if e := b.log[i]; match(e.key) {
			events = append(events, e)
		}
	}
	return events, true
}

// ttlItem is a pending expiry of the version modRev of key.
type ttlItem struct {
	key      string
	modRev   int64
	deadline time.Time
	index    int
}

type ttlHeap []*ttlItem

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h ttlHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *ttlHeap) Push(x any) {
	item := x.(*ttlItem)
	item.index = len(*h)
	*h = append(*h, item)
}
func (h *ttlHeap) Pop() any {
	old := *h
	n := len(old)
	item := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return item
}

// setTTLLocked replaces the expiry of key by one for version modRev at
// expires (Unix nanoseconds; none if 0), as attaching a lease on put does in
// etcd.
func (b *Backend) setTTLLocked(key string, modRev int64, expires int64) {
	old, ok := b.ttlByKey[key]
	if !ok && expires == 0 {
		return
	}
	if ok {
		heap.Remove(&b.ttls, old.index)
		delete(b.ttlByKey, key)
	}
	if expires != 0 {
		item := &ttlItem{key: key, modRev: modRev, deadline: time.Unix(0, expires)}
		heap.Push(&b.ttls, item)
		b.ttlByKey[key] = item
	}
	b.resetTTLTimerLocked()
}

func (b *Backend) resetTTLTimerLocked() {
	if len(b.ttls) == 0 {
		if b.ttlTimer != nil {
			b.ttlTimer.Stop()
		}
		return
	}
	d := time.Until(b.ttls[0].deadline)
	if b.ttlTimer == nil {
		b.ttlTimer = time.AfterFunc(d, b.expireTTLs)
		return
	}
	b.ttlTimer.Reset(d)
}

// expireTTLs deletes the keys whose TTL passed.
func (b *Backend) expireTTLs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if b.wal != nil && b.wal.failure() != nil {
		return
	}
	now := time.Now()
	for len(b.ttls) > 0 && !b.ttls[0].deadline.After(now) {
		item := heap.Pop(&b.ttls).(*ttlItem)
		delete(b.ttlByKey, item.key)
		rec, cur := b.currentLocked(item.key)
		if cur == nil || cur.modRev != item.modRev {
			continue
		}
		e := b.commitLocked(item.key, rec, cur, nil, true, 0)
		klog.V(4).InfoS("Deleted expired key", "key", item.key, "revision", e.rev)
	}
	b.resetTTLTimerLocked()
}
