package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"k8s.io/klog/v2"
	"k8s.io/utils/third_party/forked/golang/btree"
)

const (
	// DefaultSnapshotEvery is the default number of logged writes after which
	// a snapshot is taken and the log truncated.
	DefaultSnapshotEvery = 10000
	// DefaultSnapshotBytes is the default size of the log after which a
	// snapshot is taken and the log truncated.
	DefaultSnapshotBytes = 64 << 20

	snapshotFile    = "snapshot"
	snapshotTmpFile = "snapshot.tmp"
	lockFile        = "LOCK"
	segmentPrefix   = "wal-"
	segmentSuffix   = ".log"
)

// WALOptions configures the write-ahead log of a durable Backend. Zero values
// select the defaults.
type WALOptions struct {
	// SnapshotEvery is the number of writes logged since the last snapshot
	// after which a new snapshot is taken and the log truncated.
	SnapshotEvery int
	// SnapshotBytes is the size of the current log segment after which a new
	// snapshot is taken and the log truncated.
	SnapshotBytes int64
}

func (o WALOptions) withDefaults() WALOptions {
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.SnapshotBytes <= 0 {
		o.SnapshotBytes = DefaultSnapshotBytes
	}
	return o
}

// walBatch is the group of writes that share one write and one fsync.
type walBatch struct {
	buf []byte
	// last is the revision of the batch's last write.
	last int64
	n    int
	// done is closed once the batch is durable (err nil) or failed.
	done chan struct{}
	err  error
}

// waitDurable waits until the event's write is durable in the write-ahead log.
func (e *event) waitDurable() error {
	if e.batch == nil {
		return nil
	}
	<-e.batch.done
	if err := e.batch.err; err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	return nil
}

// wal is the write-ahead log of a Backend: a directory with a snapshot of all
// live keys at some revision and log segments holding every write after it.
//
// Group commit: writers append their records to the current batch under the
// backend lock (so the log is in revision order) and wait; one flusher
// goroutine writes and fsyncs a batch at a time. Writes that arrive while an
// fsync runs go into the next batch and share the next fsync. After the fsync
// the batch's events are published (made visible to reads and watches), then
// its writers are released.
type wal struct {
	b    *Backend
	dir  string
	opts WALOptions
	lock *os.File

	mu  sync.Mutex
	cur *walBatch
	// spare is a buffer for the next batch.
	spare []byte
	// err is set once a write or fsync failed: no further write is taken.
	err          error
	snapshotting bool
	// oldSegments are the closed segments, to be removed once a snapshot
	// covering them is durable.
	oldSegments []string

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	snapWG    sync.WaitGroup

	// Owned by the flusher goroutine (and by close, after it exited).
	seg       *os.File
	segPath   string
	segBytes  int64
	sinceSnap int

	syncs   atomic.Int64
	records atomic.Int64
}

func segmentName(startRev int64) string {
	return fmt.Sprintf("%s%016x%s", segmentPrefix, startRev, segmentSuffix)
}

// append adds the event's record to the current batch; called with the
// backend lock held, so records are appended in revision order.
func (w *wal) append(e *event) *walBatch {
	rec := walRecord{typ: recPut, rev: e.rev, key: e.key, expires: e.expires, value: e.value}
	if e.deleted {
		rec = walRecord{typ: recDelete, rev: e.rev, key: e.key}
	}
	w.mu.Lock()
	if w.cur == nil {
		w.cur = &walBatch{buf: w.spare, done: make(chan struct{})}
		w.spare = nil
	}
	batch := w.cur
	batch.buf = appendFrame(batch.buf, &rec)
	batch.last = e.rev
	batch.n++
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return batch
}

// failure returns the error that stopped the log, if any.
func (w *wal) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *wal) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		klog.ErrorS(err, "Storage write-ahead log failed: no further writes are accepted", "dir", w.dir)
	}
}

// run is the flusher goroutine.
func (w *wal) run() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
			w.flush()
			w.maybeSnapshot()
		case <-w.stop:
			w.flush()
			return
		}
	}
}

// flush writes and fsyncs the current batch, if any.
func (w *wal) flush() {
	w.mu.Lock()
	batch := w.cur
	w.cur = nil
	err := w.err
	w.mu.Unlock()
	if batch != nil {
		w.commit(batch, err)
	}
}

// commit writes batch to the current segment and fsyncs it (unless the log
// already failed with err), publishes its events and releases its writers.
func (w *wal) commit(batch *walBatch, err error) {
	if err == nil {
		if _, werr := w.seg.Write(batch.buf); werr != nil {
			err = fmt.Errorf("writing %s: %w", w.segPath, werr)
		} else if serr := w.seg.Sync(); serr != nil {
			err = fmt.Errorf("syncing %s: %w", w.segPath, serr)
		}
		if err != nil {
			w.fail(err)
		}
	}
	if err == nil {
		w.syncs.Add(1)
		w.records.Add(int64(batch.n))
		w.segBytes += int64(len(batch.buf))
		w.sinceSnap += batch.n
		w.b.publish(batch.last)
	}
	w.mu.Lock()
	if cap(batch.buf) <= 4<<20 {
		w.spare = batch.buf[:0]
	}
	w.mu.Unlock()
	batch.buf = nil
	batch.err = err
	close(batch.done)
}

// maybeSnapshot starts a snapshot when the log has grown past the limits and
// none is being written.
func (w *wal) maybeSnapshot() {
	if w.sinceSnap < w.opts.SnapshotEvery && w.segBytes < w.opts.SnapshotBytes {
		return
	}
	w.mu.Lock()
	busy := w.snapshotting || w.err != nil
	w.mu.Unlock()
	if busy {
		return
	}
	// Cut the log at the last committed revision: every write up to it is
	// either already in the segment or in the batch taken here.
	b := w.b
	b.mu.Lock()
	w.mu.Lock()
	batch := w.cur
	w.cur = nil
	err := w.err
	rev := b.lastRev
	tree := b.tree.Clone()
	w.mu.Unlock()
	b.mu.Unlock()
	if batch != nil {
		w.commit(batch, err)
	}
	if w.failure() != nil {
		return
	}
	if err := w.startSegment(rev + 1); err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	covered := w.oldSegments
	w.oldSegments = nil
	w.snapshotting = true
	w.mu.Unlock()
	w.snapWG.Add(1)
	go func() {
		defer w.snapWG.Done()
		err := w.writeSnapshot(tree, rev, covered)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.snapshotting = false
		if err != nil {
			klog.ErrorS(err, "Writing a storage snapshot failed; the log is kept", "dir", w.dir, "revision", rev)
			w.oldSegments = append(covered, w.oldSegments...)
		}
	}()
}

// startSegment closes the current segment (keeping it until a snapshot covers
// it) and starts a new one for the writes from revision startRev on.
func (w *wal) startSegment(startRev int64) error {
	path := filepath.Join(w.dir, segmentName(startRev))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating log segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if w.seg != nil {
		if err := w.seg.Close(); err != nil {
			klog.ErrorS(err, "Closing a storage log segment", "file", w.segPath)
		}
		w.mu.Lock()
		w.oldSegments = append(w.oldSegments, w.segPath)
		w.mu.Unlock()
	}
	w.seg, w.segPath, w.segBytes, w.sinceSnap = f, path, 0, 0
	return nil
}

// writeSnapshot writes every live key of tree (a clone taken at revision rev)
// to the snapshot file, atomically, then removes the covered log segments.
func (w *wal) writeSnapshot(tree *btree.BTree[*record], rev int64, covered []string) error {
	tmp := filepath.Join(w.dir, snapshotTmpFile)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating snapshot: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	buf := appendFrame(nil, &walRecord{typ: recSnapHeader, rev: rev})
	var count int64
	var werr error
	tree.Ascend(func(r *record) bool {
		v := r.latest()
		if v == nil {
			return true
		}
		buf = appendFrame(buf, &walRecord{typ: recSnapEntry, rev: v.modRev, createRev: v.createRev, key: r.key, expires: v.expires, value: v.value})
		count++
		if len(buf) >= 256<<10 {
			_, werr = bw.Write(buf)
			buf = buf[:0]
		}
		return werr == nil
	})
	if werr != nil {
		return fmt.Errorf("writing snapshot: %w", werr)
	}
	buf = appendFrame(buf, &walRecord{typ: recSnapEnd, count: count})
	if _, err := bw.Write(buf); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing snapshot: %w", err)
	}
	f = nil
	if err := os.Rename(tmp, filepath.Join(w.dir, snapshotFile)); err != nil {
		return fmt.Errorf("installing snapshot: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	for _, path := range covered {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing a log segment covered by a snapshot", "file", path)
		}
	}
	klog.V(2).InfoS("Wrote storage snapshot", "dir", w.dir, "revision", rev, "objects", count, "removedSegments", len(covered))
	return nil
}

// close stops the flusher after it made the writes in flight durable, waits
// for a snapshot being written and, with finalSnapshot, writes one of the
// final state so that the next start replays no log. It releases the lock.
func (w *wal) close(finalSnapshot bool) error {
	w.closeOnce.Do(func() {
		close(w.stop)
		<-w.done
		w.snapWG.Wait()
		var errs []error
		if finalSnapshot && w.failure() == nil && w.sinceSnap > 0 {
			b := w.b
			b.mu.Lock()
			rev, tree := b.lastRev, b.tree.Clone()
			b.mu.Unlock()
			if err := w.seg.Close(); err != nil {
				errs = append(errs, err)
			}
			w.mu.Lock()
			covered := append(w.oldSegments, w.segPath)
			w.mu.Unlock()
			w.seg = nil
			if err := w.writeSnapshot(tree, rev, covered); err != nil {
				errs = append(errs, err)
			}
		}
		if w.seg != nil {
			if err := w.seg.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := w.lock.Close(); err != nil {
			errs = append(errs, err)
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// replayStats describes what OpenWAL recovered.
type replayStats struct {
	snapshotRev  int64
	snapshotKeys int
	segments     int
	records      int
	// truncated is the number of bytes of a torn or corrupt tail dropped.
	truncated int64
}

// OpenWAL returns a Backend whose writes are durable in dir (created if
// needed): every committed write (create, update, delete, TTL expiry, with its
// revision) is appended to a write-ahead log and acknowledged only after an
// fsync (group commit: writes arriving while an fsync runs share the next
// one). Writes become visible to reads and watches once durable. Periodically
// (WALOptions) a snapshot of all live keys is written and the log truncated.
//
// On open the snapshot is loaded and the log replayed: resourceVersions
// continue from the last durable write. History starts empty, so a watch or
// list from an older resourceVersion gets 410 Gone and clients relist. A torn
// or corrupt record at the tail of the log (a crash in mid-write) is dropped
// with a log line and the file truncated there; corruption anywhere else is an
// error. The directory is locked against a second process.
//
// Close makes the writes in flight durable, writes a final snapshot and
// releases the directory. A failed write or fsync stops the log: that write
// and every later one fail, reads go on.
func OpenWAL(dir string, opts Options, walOpts WALOptions) (*Backend, error) {
	b, _, err := openWAL(dir, opts, walOpts)
	return b, err
}

func openWAL(dir string, opts Options, walOpts WALOptions) (*Backend, replayStats, error) {
	var stats replayStats
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, stats, fmt.Errorf("creating storage directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, stats, fmt.Errorf("opening storage lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, stats, fmt.Errorf("storage directory %s is in use by another process: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	if err := os.Remove(filepath.Join(dir, snapshotTmpFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, stats, fmt.Errorf("removing a partial snapshot: %w", err)
	}

	b := NewBackend(opts)
	w := &wal{
		b: b, dir: dir, opts: walOpts.withDefaults(), lock: lock,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		if !ok {
			// Replay may have armed the TTL timer; the backend is dropped.
			b.closed = true
			if b.ttlTimer != nil {
				b.ttlTimer.Stop()
			}
			if w.seg != nil {
				w.seg.Close()
			}
		}
	}()
	if err := b.loadSnapshotLocked(filepath.Join(dir, snapshotFile), &stats); err != nil {
		return nil, stats, err
	}
	segments, err := listSegments(dir)
	if err != nil {
		return nil, stats, err
	}
	for i, path := range segments {
		last := i == len(segments)-1
		n, size, err := b.replaySegmentLocked(path, last, &stats)
		if err != nil {
			return nil, stats, err
		}
		w.sinceSnap += n
		if !last {
			w.oldSegments = append(w.oldSegments, path)
			continue
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, stats, fmt.Errorf("opening log segment: %w", err)
		}
		w.seg, w.segPath, w.segBytes = f, path, size
	}
	stats.segments = len(segments)
	if w.seg == nil {
		if err := w.startSegment(b.lastRev + 1); err != nil {
			return nil, stats, err
		}
	}
	b.rev = b.lastRev
	if b.rev > initialRevision {
		// History does not survive a restart: older resourceVersions get 410.
		b.compactRev = b.rev
	}
	b.wal = w
	b.resetTTLTimerLocked()
	go w.run()
	ok = true
	klog.InfoS("Opened durable storage", "dir", dir, "revision", b.rev, "snapshotRevision", stats.snapshotRev,
		"snapshotObjects", stats.snapshotKeys, "logSegments", stats.segments, "logRecords", stats.records)
	return b, stats, nil
}

// listSegments returns the log segments of dir in revision order.
func listSegments(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading storage directory: %w", err)
	}
	type seg struct {
		start int64
		path  string
	}
	var segs []seg
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		start, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("log segment with a bad name %s: %w", name, err)
		}
		segs = append(segs, seg{start, filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	paths := make([]string, len(segs))
	for i, s := range segs {
		paths[i] = s.path
	}
	return paths, nil
}

// loadSnapshotLocked loads the snapshot at path, if there is one, into the
// empty backend. A snapshot is installed atomically, so any damage is an error.
func (b *Backend) loadSnapshotLocked(path string, stats *replayStats) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading snapshot: %w", err)
	}
	fr := newFrameReader(f, fi.Size())
	bad := func(err error) error { return fmt.Errorf("snapshot %s is damaged: %w", path, err) }
	hdr, err := fr.next()
	if err != nil {
		return bad(err)
	}
	if hdr.typ != recSnapHeader {
		return bad(fmt.Errorf("first record has type %d", hdr.typ))
	}
	var count int64
	for {
		r, err := fr.next()
		if err == io.EOF {
			return bad(errors.New("no end record"))
		}
		if err != nil {
			return bad(err)
		}
		if r.typ == recSnapEnd {
			if r.count != count {
				return bad(fmt.Errorf("%d entries, end record says %d", count, r.count))
			}
			if _, err := fr.next(); err != io.EOF {
				return bad(errors.New("data after the end record"))
			}
			break
		}
		if r.typ != recSnapEntry || r.rev > hdr.rev || r.createRev > r.rev {
			return bad(fmt.Errorf("bad entry (type %d, revision %d) in a snapshot at revision %d", r.typ, r.rev, hdr.rev))
		}
		b.tree.ReplaceOrInsert(&record{key: r.key, versions: []version{{
			modRev: r.rev, createRev: r.createRev, value: r.value, expires: r.expires,
		}}})
		b.setTTLLocked(r.key, r.rev, r.expires)
		count++
	}
	b.lastRev = hdr.rev
	stats.snapshotRev, stats.snapshotKeys = hdr.rev, int(count)
	return nil
}

// replaySegmentLocked applies the writes of a log segment newer than the
// backend's revision. A torn or corrupt record ends the last segment: it and
// everything after it are dropped and the file truncated; in an older segment
// (fsynced before the next was started) it is an error. It returns the number
// of records applied and the segment's (valid) size.
func (b *Backend) replaySegmentLocked(path string, last bool, stats *replayStats) (int, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("opening log segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("reading log segment: %w", err)
	}
	fr := newFrameReader(f, fi.Size())
	applied := 0
	var prev int64
	var bad error
	for {
		r, err := fr.next()
		if err == io.EOF {
			break
		}
		if err == nil && r.typ != recPut && r.typ != recDelete {
			err = &frameError{fr.off, fmt.Sprintf("record type %d in a log segment", r.typ)}
		}
		if err == nil && r.rev <= prev {
			err = &frameError{fr.off, fmt.Sprintf("revision %d after %d", r.rev, prev)}
		}
		if err != nil {
			bad = err
			break
		}
		prev = r.rev
		if r.rev <= b.lastRev {
			continue // covered by the snapshot
		}
		if r.rev != b.lastRev+1 {
			klog.InfoS("Gap in the storage write-ahead log", "file", path, "after", b.lastRev, "next", r.rev)
		}
		b.applyLocked(r)
		applied++
	}
	f.Close()
	stats.records += applied
	if bad == nil {
		return applied, fi.Size(), nil
	}
	var fe *frameError
	if !errors.As(bad, &fe) {
		return 0, 0, fmt.Errorf("reading log segment %s: %w", path, bad)
	}
	if !last {
		return 0, 0, fmt.Errorf("log segment %s is damaged before its end: %w", path, bad)
	}
	dropped := fi.Size() - fe.offset
	klog.InfoS("Dropping a torn or corrupt record at the tail of the storage write-ahead log",
		"file", path, "offset", fe.offset, "droppedBytes", dropped, "reason", fe.reason, "lastRevision", b.lastRev)
	if err := truncateFile(path, fe.offset); err != nil {
		return 0, 0, err
	}
	stats.truncated += dropped
	return applied, fe.offset, nil
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("truncating log segment: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating log segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing truncated log segment: %w", err)
	}
	return nil
}

// applyLocked replays one logged write: the tree keeps only the latest
// version of each key, since history does not survive a restart.
func (b *Backend) applyLocked(r *walRecord) {
	b.lastRev = r.rev
	cur, _ := b.tree.Get(&record{key: r.key})
	if r.typ == recDelete {
		if cur != nil {
			b.tree.Delete(cur)
		}
		b.setTTLLocked(r.key, r.rev, 0)
		return
	}
	createRev := r.rev
	if cur != nil {
		if v := cur.latest(); v != nil {
			createRev = v.createRev
		}
	}
	b.tree.ReplaceOrInsert(&record{key: r.key, versions: []version{{
		modRev: r.rev, createRev: createRev, value: r.value, expires: r.expires,
	}}})
	b.setTTLLocked(r.key, r.rev, r.expires)
}
