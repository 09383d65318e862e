package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"weak"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/features"
	apistorage "k8s.io/apiserver/pkg/storage"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	utilflowcontrol "k8s.io/apiserver/pkg/util/flowcontrol"
	"k8s.io/klog/v2"
)

// watcher is one watch on a key (or a key prefix). Writers queue matching
// events to it under the backend lock; its goroutine decodes, filters and
// delivers them in revision order.
type watcher struct {
	s                *Store
	key              string
	recursive        bool
	pred             apistorage.SelectionPredicate
	acceptAll        bool
	progressNotify   bool
	recordTimestamps bool
	allowBookmarks   bool
	deadline         time.Time

	// startRev: only events with a higher revision are delivered.
	startRev int64

	ctx    context.Context
	cancel context.CancelFunc
	result chan watch.Event

	qmu        sync.Mutex
	queue      []*event
	spare      []*event
	limit      int
	overflowed bool
	// kick wakes the goroutine when events are queued; terminate is closed
	// when the queue overflows.
	kick        chan struct{}
	terminate   chan struct{}
	progressReq chan struct{}
}

var _ watch.Interface = (*watcher)(nil)

// Stop implements watch.Interface. Events already in the result channel stay
// readable; the channel is closed once the watcher's goroutine exits.
func (w *watcher) Stop() { w.cancel() }

// ResultChan implements watch.Interface.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

// RequestWatchProgress asks for a progress bookmark as soon as the watcher is
// caught up, like the etcd3 watcher's method of the same name.
func (w *watcher) RequestWatchProgress() error {
	w.requestProgress()
	return nil
}

func (w *watcher) requestProgress() {
	select {
	case w.progressReq <- struct{}{}:
	default:
	}
}

func (w *watcher) matchesKey(key string) bool {
	if w.recursive {
		return strings.HasPrefix(key, w.key)
	}
	return key == w.key
}

// push queues an event; called with the backend lock held, never blocks.
func (w *watcher) push(e *event) {
	w.qmu.Lock()
	if w.overflowed {
		w.qmu.Unlock()
		return
	}
	if len(w.queue) >= w.limit {
		w.overflowed = true
		close(w.terminate)
		w.qmu.Unlock()
		return
	}
	w.queue = append(w.queue, e)
	w.qmu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// take returns the queued events, or overflowed=true if the watcher fell too
// far behind.
func (w *watcher) take() (batch []*event, overflowed bool) {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.overflowed {
		return nil, true
	}
	batch = w.queue
	w.queue, w.spare = w.spare[:0], nil
	return batch, false
}

// recycle hands a processed batch back as the next queue buffer.
func (w *watcher) recycle(batch []*event) {
	clear(batch)
	w.qmu.Lock()
	if w.spare == nil && cap(batch) <= 2*w.limit {
		w.spare = batch[:0]
	}
	w.qmu.Unlock()
}

// caughtUp returns the current revision if every event up to it that the
// watcher must see has been delivered.
func (w *watcher) caughtUp() (int64, bool) {
	b := w.s.backend
	b.mu.RLock()
	defer b.mu.RUnlock()
	w.qmu.Lock()
	empty := len(w.queue) == 0
	w.qmu.Unlock()
	if !empty {
		return 0, false
	}
	return max(b.rev, w.startRev), true
}

func (w *watcher) unregister() {
	b := w.s.backend
	b.mu.Lock()
	delete(b.watchers, w)
	b.mu.Unlock()
	w.qmu.Lock()
	w.queue, w.spare = nil, nil
	w.qmu.Unlock()
	w.s.mu.Lock()
	delete(w.s.watchers, w)
	w.s.mu.Unlock()
}

// startWatchRevision mirrors the etcd3 watcher: a watch without a
// resourceVersion that asks for no initial events starts at the current revision.
func startWatchRevision(rev, current int64, opts apistorage.ListOptions) int64 {
	if rev > 0 || !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return rev
	}
	if opts.SendInitialEvents == nil || *opts.SendInitialEvents {
		return 0
	}
	return current
}

// initialEventsEndBookmarkRequired: watch-list requests get a bookmark
// annotated as the end of the initial events.
func initialEventsEndBookmarkRequired(opts apistorage.ListOptions) bool {
	if !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return false
	}
	return opts.SendInitialEvents != nil && *opts.SendInitialEvents && opts.Predicate.AllowWatchBookmarks
}

// initialEventsRequired: the current state is sent first for a legacy watch
// from resourceVersion 0/unset and for watch-list requests.
func initialEventsRequired(rev int64, opts apistorage.ListOptions) bool {
	if opts.SendInitialEvents == nil && rev == 0 {
		return true
	}
	if !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return false
	}
	return opts.SendInitialEvents != nil && *opts.SendInitialEvents
}

// Watch implements storage.Interface.
func (s *Store) Watch(ctx context.Context, key string, opts apistorage.ListOptions) (watch.Interface, error) {
	preparedKey, err := s.prepareKey(key, opts.Recursive)
	if err != nil {
		return nil, err
	}
	parsed, err := s.versioner.ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if opts.ProgressNotify && s.newFunc == nil {
		return nil, apierrors.NewInternalError(errors.New("progressNotify for watch is unsupported by the in-memory storage because no newFunc was provided"))
	}
	rev := int64(parsed)
	if parsed > math.MaxInt64 {
		rev = math.MaxInt64
	}

	w := &watcher{
		s:                s,
		key:              preparedKey,
		recursive:        opts.Recursive,
		pred:             opts.Predicate,
		acceptAll:        opts.Predicate.Empty(),
		progressNotify:   opts.ProgressNotify,
		recordTimestamps: opts.RecordTimestamps,
		allowBookmarks:   opts.Predicate.AllowWatchBookmarks && s.newFunc != nil,
		result:           make(chan watch.Event, resultBufferSize),
		limit:            s.backend.opts.WatchQueueSize,
		kick:             make(chan struct{}, 1),
		terminate:        make(chan struct{}),
		progressReq:      make(chan struct{}, 1),
	}
	w.deadline, _ = ctx.Deadline()
	w.ctx, w.cancel = context.WithCancel(ctx)
	forceInitial := initialEventsRequired(rev, opts)

	b := s.backend
	var snap *snapshot
	var startErr error
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		w.cancel()
		return nil, fmt.Errorf("storage of %v has been destroyed", s.groupResource)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.mu.Unlock()
		w.cancel()
		return nil, errBackendClosed
	}
	startRev := startWatchRevision(rev, b.rev, opts)
	switch {
	case forceInitial && startRev > b.rev:
		startErr = apistorage.NewTooLargeResourceVersionError(uint64(startRev), uint64(b.rev), int(wait.Jitter(time.Second, 3).Seconds()))
	case forceInitial:
		snap = b.snapshotLocked()
		w.startRev = snap.rev
	default:
		backlog, ok := b.eventsSinceLocked(startRev, w.matchesKey)
		if !ok {
			startErr = apierrors.NewResourceExpired(expiredWatchMessage)
			break
		}
		w.queue = backlog
		w.limit += len(backlog)
		w.startRev = startRev
	}
	if startErr == nil {
		b.watchers[w] = struct{}{}
	}
	b.mu.Unlock()
	s.watchers[w] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()

	go w.run(snap, initialEventsEndBookmarkRequired(opts), startErr)
	// Events are served from memory, so the watch is initialized right away.
	utilflowcontrol.WatchInitialized(ctx)
	return w, nil
}

func (w *watcher) run(snap *snapshot, initialEventsEndBookmark bool, startErr error) {
	defer func() {
		w.cancel()
		w.unregister()
		close(w.result)
		w.s.wg.Done()
	}()
	if startErr != nil {
		w.sendError(startErr)
		return
	}
	if snap != nil {
		if !w.sendInitialEvents(snap) {
			return
		}
		if initialEventsEndBookmark && !w.sendBookmark(snap.rev, true) {
			return
		}
	}

	opts := w.s.backend.opts
	var bookmarkC <-chan time.Time
	var bookmarkTimer *time.Timer
	scheduleBookmark := func() {
		bookmarkC = nil
		next, ok := nextBookmarkTime(time.Now(), w.deadline, opts.BookmarkFrequency)
		if !ok {
			return
		}
		if bookmarkTimer == nil {
			bookmarkTimer = time.NewTimer(time.Until(next))
		} else {
			bookmarkTimer.Reset(time.Until(next))
		}
		bookmarkC = bookmarkTimer.C
	}
	if w.allowBookmarks {
		scheduleBookmark()
		defer func() {
			if bookmarkTimer != nil {
				bookmarkTimer.Stop()
			}
		}()
	}
	var progressC <-chan time.Time
	if w.progressNotify {
		ticker := time.NewTicker(opts.ProgressNotifyInterval)
		defer ticker.Stop()
		progressC = ticker.C
	}

	wantBookmark := false
	for {
		batch, overflowed := w.take()
		if overflowed {
			w.logTermination()
			return
		}
		if len(batch) > 0 {
			for _, e := range batch {
				if e.rev <= w.startRev {
					continue
				}
				ev, err := w.transform(e)
				if err != nil {
					w.sendError(err)
					return
				}
				if ev != nil && !w.send(*ev) {
					return
				}
			}
			w.recycle(batch)
			continue
		}
		if wantBookmark {
			rev, ok := w.caughtUp()
			if !ok {
				continue
			}
			if !w.sendBookmark(rev, false) {
				return
			}
			wantBookmark = false
		}
		select {
		case <-w.ctx.Done():
			return
		case <-w.terminate:
			w.logTermination()
			return
		case <-w.kick:
		case <-bookmarkC:
			wantBookmark = true
			scheduleBookmark()
		case <-progressC:
			wantBookmark = true
		case <-w.progressReq:
			wantBookmark = true
		}
	}
}

func (w *watcher) logTermination() {
	klog.V(1).InfoS("Forcing watcher close due to unresponsiveness", "resource", w.s.groupResource, "key", w.key, "queueLimit", w.limit)
}

// nextBookmarkTime schedules bookmarks every frequency and 2s before the
// watch's deadline, as the watch cache does.
func nextBookmarkTime(now, deadline time.Time, frequency time.Duration) (time.Time, bool) {
	next := now.Add(frequency)
	if deadline.IsZero() {
		return next, true
	}
	if preTimeout := deadline.Add(-2 * time.Second); preTimeout.Before(next) {
		next = preTimeout
	}
	if next.Before(now) {
		return time.Time{}, false
	}
	return next, true
}

// send delivers an event unless the watch was stopped or terminated.
func (w *watcher) send(ev watch.Event) bool {
	if w.ctx.Err() != nil {
		return false
	}
	select {
	case w.result <- ev:
		return true
	case <-w.ctx.Done():
		return false
	case <-w.terminate:
		return false
	}
}

// sendError delivers an error event; it is guaranteed to be received before
// the result channel closes unless the watch is stopped.
func (w *watcher) sendError(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	status := watchError(err)
	select {
	case w.result <- watch.Event{Type: watch.Error, Object: &status}:
	case <-w.ctx.Done():
	}
}

func (w *watcher) sendBookmark(rev int64, initialEventsEnd bool) bool {
	if w.s.newFunc == nil {
		return true
	}
	obj := w.s.newFunc()
	if err := w.s.versioner.UpdateObject(obj, uint64(rev)); err != nil {
		w.sendError(fmt.Errorf("failed to propagate object resource version: %w", err))
		return false
	}
	if initialEventsEnd {
		if err := apistorage.AnnotateInitialEventsEndBookmark(obj); err != nil {
			w.sendError(fmt.Errorf("error while accessing object's metadata gr: %v: %w", w.s.groupResource, err))
			return false
		}
	}
	return w.send(watch.Event{Type: watch.Bookmark, Object: obj})
}

// sendInitialEvents sends an ADDED event for every matching object of the
// snapshot. It returns false if the watch ended.
func (w *watcher) sendInitialEvents(snap *snapshot) bool {
	cs := w.s.codecs.Load()
	ok := true
	emit := func(rec *record) bool {
		ver := rec.at(snap.rev)
		if ver == nil {
			return true
		}
		obj, err := w.s.decodeWatchObject(w.ctx, cs, rec.key, ver.value, ver.modRev)
		if err != nil {
			w.sendError(err)
			ok = false
			return false
		}
		if !w.filter(obj) {
			return true
		}
		if !w.send(watch.Event{Type: watch.Added, Object: obj}) {
			ok = false
			return false
		}
		return true
	}
	if w.recursive {
		snap.ascend(w.key, w.key, emit)
	} else if rec := snap.get(w.key); rec != nil {
		emit(rec)
	}
	return ok
}

func (w *watcher) filter(obj runtime.Object) bool {
	if w.acceptAll {
		return true
	}
	matched, err := w.pred.Matches(obj)
	return err == nil && matched
}

// decodedEvent holds an event's objects decoded once for all the watchers of
// one view it fans out to; they must copy before handing the objects out.
type decodedEvent struct {
	state           *codecState
	curOnce         sync.Once
	prevOnce        sync.Once
	cur, prev       runtime.Object
	curErr, prevErr error
}

func (e *event) decodedFor(cs *codecState) *decodedEvent {
	if p := e.decoded.Load(); p != nil {
		if d := p.Value(); d != nil && d.state == cs {
			return d
		}
	}
	d := &decodedEvent{state: cs}
	wp := weak.Make(d)
	e.decoded.Store(&wp)
	return d
}

func (d *decodedEvent) current(ctx context.Context, s *Store, e *event) (runtime.Object, error) {
	d.curOnce.Do(func() {
		d.cur, d.curErr = s.decodeWatchObject(ctx, d.state, e.key, e.value, e.rev)
	})
	return d.cur, d.curErr
}

// previous decodes the value before the event, versioned at the event's
// revision (a deleted object carries the revision of its deletion).
func (d *decodedEvent) previous(ctx context.Context, s *Store, e *event) (runtime.Object, error) {
	d.prevOnce.Do(func() {
		d.prev, d.prevErr = s.decodeWatchObject(ctx, d.state, e.key, e.prevValue, e.rev)
	})
	return d.prev, d.prevErr
}

func (s *Store) decodeWatchObject(ctx context.Context, cs *codecState, key string, value []byte, rev int64) (runtime.Object, error) {
	data, _, err := cs.fromStorage(ctx, key, value)
	if err != nil {
		return nil, err
	}
	obj, err := runtime.Decode(cs.codec, data)
	if err != nil {
		return nil, err
	}
	if err := s.versioner.UpdateObject(obj, uint64(rev)); err != nil {
		return nil, fmt.Errorf("failure to version api object (%d) %#v: %w", rev, obj, err)
	}
	return obj, nil
}

// transform turns an event into what the watcher's client sees, applying the
// predicate like the etcd3 watcher: an update moving an object into the
// selection is ADDED, out of it DELETED. It returns nil if nothing is sent.
func (w *watcher) transform(e *event) (*watch.Event, error) {
	cs := w.s.codecs.Load()
	shared := e.fanout > 1
	var d *decodedEvent
	if shared {
		d = e.decodedFor(cs)
	} else {
		d = &decodedEvent{state: cs}
	}
	ctx := w.ctx
	if shared {
		// The decode may be reused by other watchers: don't tie it to this one.
		ctx = context.Background()
	}
	var cur, prev runtime.Object
	var err error
	if !e.deleted {
		if cur, err = d.current(ctx, w.s, e); err != nil {
			return nil, err
		}
	}
	if e.prevValue != nil && (e.deleted || !w.acceptAll) {
		if prev, err = d.previous(ctx, w.s, e); err != nil {
			var corrupt *corruptObjectError
			if e.deleted && errors.As(err, &corrupt) {
				return nil, &corruptObjectDeletedError{err: corrupt}
			}
			return nil, err
		}
	}

	var res watch.Event
	switch {
	case e.deleted:
		if !w.filter(prev) {
			return nil, nil
		}
		res = watch.Event{Type: watch.Deleted, Object: prev}
	case e.created:
		if !w.filter(cur) {
			return nil, nil
		}
		res = watch.Event{Type: watch.Added, Object: cur}
	case w.acceptAll:
		res = watch.Event{Type: watch.Modified, Object: cur}
	default:
		curPasses, prevPasses := w.filter(cur), w.filter(prev)
		switch {
		case curPasses && prevPasses:
			res = watch.Event{Type: watch.Modified, Object: cur}
		case curPasses:
			res = watch.Event{Type: watch.Added, Object: cur}
		case prevPasses:
			res = watch.Event{Type: watch.Deleted, Object: prev}
		default:
			return nil, nil
		}
	}
	if shared {
		res.Object = res.Object.DeepCopyObject()
	}
	if w.recordTimestamps {
		res.Object = &timedObject{Object: res.Object, recordTime: time.Now()}
	}
	return &res, nil
}

// timedObject wraps a watch object with the time the storage decoded it, for
// the watch cache's latency telemetry (ListOptions.RecordTimestamps).
type timedObject struct {
	runtime.Object
	recordTime time.Time
}

var _ apistorage.WatchEventWithRecordTime = &timedObject{}

func (t *timedObject) GetObjectMeta() metav1.Object {
	m, _ := meta.Accessor(t.Object)
	return m
}

func (t *timedObject) DeepCopyObject() runtime.Object {
	return &timedObject{Object: t.Object.DeepCopyObject(), recordTime: t.recordTime}
}

func (t *timedObject) RecordTime() time.Time { return t.recordTime }

func (t *timedObject) Unwrap() runtime.Object { return t.Object }
