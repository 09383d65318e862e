package storage

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	apistorage "k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"
)

const walSuitePrefix = "TestWALSuite/"

// TestWALSuite runs upstream's storage suite (every test of suite_test.go)
// over a backend with a write-ahead log: testSetup opens one for the tests
// below this one.
func TestWALSuite(t *testing.T) {
	for name, run := range map[string]func(*testing.T){
		"Create": TestCreate, "CreateWithTTL": TestCreateWithTTL, "CreateWithKeyExist": TestCreateWithKeyExist,
		"Get": TestGet, "UnconditionalDelete": TestUnconditionalDelete, "ConditionalDelete": TestConditionalDelete,
		"DeleteSuggestions": TestDeleteSuggestions, "DeleteExpectingTransformOrDecodeError": TestDeleteExpectingTransformOrDecodeError,
		"GetListWithErrorAggregation": TestGetListWithErrorAggregation, "WatchWithUnsafeDelete": TestWatchWithUnsafeDelete,
		"GetListWithoutErrorAggregation": TestGetListWithoutErrorAggregation, "List": TestList,
		"ConsistentList": TestConsistentList, "GetListNonRecursive": TestGetListNonRecursive,
		"GetListRecursivePrefix": TestGetListRecursivePrefix, "ListContinuation": TestListContinuation,
		"ListPaginationRareObject": TestListPaginationRareObject, "ListContinuationWithFilter": TestListContinuationWithFilter,
		"ListInconsistentContinuation": TestListInconsistentContinuation, "ListResourceVersionMatch": TestListResourceVersionMatch,
		"GuaranteedUpdate": TestGuaranteedUpdate, "GuaranteedUpdateWithTTL": TestGuaranteedUpdateWithTTL,
		"GuaranteedUpdateChecksStoredData":          TestGuaranteedUpdateChecksStoredData,
		"GuaranteedUpdateWithConflict":              TestGuaranteedUpdateWithConflict,
		"GuaranteedUpdateWithSuggestionAndConflict": TestGuaranteedUpdateWithSuggestionAndConflict,
		"TransformationFailure":                     TestTransformationFailure, "Stats": TestStats, "ListPaging": TestListPaging,
		"NamespaceScopedList": TestNamespaceScopedList, "CompactRevision": TestCompactRevision, "KeySchema": TestKeySchema,
		"WatchSuite": TestWatchSuite, "WatchSemantics": TestWatchSemantics,
		"WatchSemanticInitialEventsExtended": TestWatchSemanticInitialEventsExtended,
		"WatchListMatchSingle":               TestWatchListMatchSingle,
	} {
		t.Run(name, run)
	}
}

// walStore opens a durable backend in dir and a pods view on it (JSON codec,
// no transformer). Cleanup closes both unless the test did.
func walStore(t testing.TB, dir string, wopts WALOptions) (*Backend, *Store, replayStats) {
	t.Helper()
	b, stats, err := openWAL(dir, Options{}, wopts)
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	t.Cleanup(b.Close)
	return b, podStore(t, b), stats
}

func podStore(t testing.TB, b *Backend) *Store {
	t.Helper()
	s, err := b.NewStore(StoreConfig{
		Codec:          apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion),
		ResourcePrefix: "/pods/",
		GroupResource:  schema.GroupResource{Resource: "pods"},
		NewFunc:        newPod,
		NewListFunc:    newPodList,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Destroy)
	return s
}

// crash stops b as a crash after the last fsync would: no final snapshot.
func crash(b *Backend) { b.close(false) }

// keyState is what a key holds, for comparing backends.
type keyState struct {
	modRev, createRev, expires int64
	value                      string
}

// dumpState returns the live keys of b with their versions, and its revision.
func dumpState(t *testing.T, b *Backend) (map[string]keyState, int64) {
	t.Helper()
	snap, err := b.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]keyState{}
	snap.ascend("", "", func(r *record) bool {
		if v := r.at(snap.rev); v != nil {
			out[r.key] = keyState{v.modRev, v.createRev, v.expires, string(v.value)}
		}
		return true
	})
	return out, snap.rev
}

func TestFraming(t *testing.T) {
	records := []walRecord{
		{typ: recPut, rev: 2, key: "/registry/pods/ns/a", value: []byte("value")},
		{typ: recPut, rev: 3, key: "/k", expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), value: nil},
		{typ: recDelete, rev: 4, key: "/registry/pods/ns/a"},
		{typ: recSnapHeader, rev: 4},
		{typ: recSnapEntry, rev: 3, createRev: 2, key: "/k", value: bytes.Repeat([]byte{0, 0xff}, 5000)},
		{typ: recSnapEnd, count: 1},
	}
	var file []byte
	var ends []int64
	for i := range records {
		file = appendFrame(file, &records[i])
		ends = append(ends, int64(len(file)))
	}
	read := func(data []byte) ([]*walRecord, int64, error) {
		fr := newFrameReader(bytes.NewReader(data), int64(len(data)))
		var got []*walRecord
		for {
			r, err := fr.next()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				return got, fr.off, err
			}
			got = append(got, r)
		}
	}
	got, off, err := read(file)
	if err != nil || off != int64(len(file)) || len(got) != len(records) {
		t.Fatalf("clean file: %d records to %d, %v", len(got), off, err)
	}
	for i, r := range got {
		want := records[i]
		if r.typ != want.typ || r.rev != want.rev || r.createRev != want.createRev || r.key != want.key ||
			r.expires != want.expires || !bytes.Equal(r.value, want.value) || r.count != want.count {
			t.Errorf("record %d: got %+v, want %+v", i, *r, want)
		}
	}

	last := len(records) - 1
	flip := func(at int64) []byte {
		c := bytes.Clone(file)
		c[at] ^= 0x40
		return c
	}
	for _, tc := range []struct {
		name string
		data []byte
		// valid is how many records read before the bad one (-1: none is bad).
		valid int
		// reason is part of the frameError.
		reason string
	}{
		{"empty file", nil, -1, ""},
		{"torn header", append(bytes.Clone(file), 5, 0, 0), len(records), "short frame header"},
		{"torn payload", file[:ends[last]-1], last, "left in the file"},
		{"payload cut mid-file", file[:ends[3]+frameHeaderSize+3], 4, "left in the file"},
		{"crc mismatch in payload", flip(ends[1] + frameHeaderSize + 4), 2, "CRC mismatch"},
		{"crc field corrupted", flip(ends[0] + 5), 1, "CRC mismatch"},
		{"zero-filled tail", append(bytes.Clone(file), make([]byte, 64)...), len(records), "bad record length 0"},
		{"huge length", append(bytes.Clone(file), 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1), len(records), "bad record length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, off, err := read(tc.data)
			if tc.valid < 0 {
				if err != nil || len(got) != 0 || off != 0 {
					t.Fatalf("got %d records to offset %d, %v", len(got), off, err)
				}
				return
			}
			var fe *frameError
			if !errors.As(err, &fe) || !strings.Contains(fe.reason, tc.reason) {
				t.Fatalf("error %v, want a frame error with %q", err, tc.reason)
			}
			wantOff := int64(0)
			if tc.valid > 0 {
				wantOff = ends[tc.valid-1]
			}
			if len(got) != tc.valid || off != wantOff || fe.offset != wantOff {
				t.Fatalf("got %d records, offset %d (error at %d); want %d records, offset %d", len(got), off, fe.offset, tc.valid, wantOff)
			}
		})
	}
}

// writePods creates, updates and deletes pods through s; it returns the
// revision of each acknowledged write.
func writePods(t *testing.T, s *Store, rng *rand.Rand, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var revs []int64
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pod-%d", rng.IntN(20))
		key := podKey("ns", name)
		out := &example.Pod{}
		err := s.Create(ctx, key, labeledPod("ns", name, map[string]string{"i": strconv.Itoa(i)}), out, 0)
		switch {
		case apistorage.IsExist(err) && rng.IntN(3) == 0:
			err = s.Delete(ctx, key, out, nil, apistorage.ValidateAllObjectFunc, nil, apistorage.DeleteOptions{})
		case apistorage.IsExist(err):
			err = s.GuaranteedUpdate(ctx, key, out, false, nil, func(obj k8sruntime.Object, _ apistorage.ResponseMeta) (k8sruntime.Object, *uint64, error) {
				pod := obj.(*example.Pod)
				pod.Labels["i"] = strconv.Itoa(i)
				pod.Spec.NodeName = strings.Repeat("n", rng.IntN(300))
				return pod, nil, nil
			}, nil)
		}
		if err != nil {
			t.Fatalf("write %d on %s: %v", i, key, err)
		}
		revs = append(revs, rvOf(t, out))
	}
	return revs
}

func TestWALReplay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		wopts WALOptions
		// closeFn ends the first run.
		closeFn func(*Backend)
		// wantSnapshot: the reopened backend loads a snapshot.
		wantSnapshot, wantLog bool
	}{
		{"log only, crash", WALOptions{}, crash, false, true},
		{"snapshots and log, crash", WALOptions{SnapshotEvery: 37}, crash, true, true},
		{"snapshot by size, crash", WALOptions{SnapshotBytes: 4096}, crash, true, true},
		{"clean close writes a final snapshot", WALOptions{SnapshotEvery: 37}, (*Backend).Close, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			b, s, _ := walStore(t, dir, tc.wopts)
			rng := rand.New(rand.NewPCG(1, 2))
			revs := writePods(t, s, rng, 300)
			// A key with a TTL survives with its deadline.
			if err := s.Create(context.Background(), podKey("ns", "ttl"), labeledPod("ns", "ttl", nil), nil, 3600); err != nil {
				t.Fatal(err)
			}
			before, rev := dumpState(t, b)
			if want := revs[len(revs)-1] + 1; rev != want {
				t.Fatalf("revision %d, want %d", rev, want)
			}
			tc.closeFn(b)

			b2, s2, stats := walStore(t, dir, tc.wopts)
			after, rev2 := dumpState(t, b2)
			if rev2 != rev {
				t.Errorf("reopened at revision %d, want %d", rev2, rev)
			}
			if len(before) != len(after) {
				t.Errorf("reopened with %d keys, want %d", len(after), len(before))
			}
			for k, v := range before {
				if after[k] != v {
					t.Errorf("key %s: reopened %+v, want %+v", k, after[k], v)
				}
			}
			if after["/pods/ns/ttl"].expires == 0 {
				t.Errorf("TTL lost: %+v", after["/pods/ns/ttl"])
			}
			if (stats.snapshotRev > 0) != tc.wantSnapshot || (stats.records > 0) != tc.wantLog {
				t.Errorf("replayed %+v; want snapshot %v, log %v", stats, tc.wantSnapshot, tc.wantLog)
			}
			if max(stats.snapshotRev, initialRevision)+int64(stats.records) != rev {
				t.Errorf("replay %+v does not reach revision %d", stats, rev)
			}
			if tc.wantSnapshot {
				// Segments covered by a snapshot are removed: at most the
				// current segment and one being snapshotted remain.
				segs, _ := listSegments(dir)
				if len(segs) > 2 {
					t.Errorf("%d log segments left: %v", len(segs), segs)
				}
			}
			// resourceVersions continue where they were.
			out := &example.Pod{}
			if err := s2.Create(context.Background(), podKey("ns", "after"), labeledPod("ns", "after", nil), out, 0); err != nil {
				t.Fatal(err)
			}
			if got := rvOf(t, out); got != rev+1 {
				t.Errorf("first write after reopen at revision %d, want %d", got, rev+1)
			}
			got := &example.Pod{}
			if err := s2.Get(context.Background(), podKey("ns", "ttl"), apistorage.GetOptions{}, got); err != nil {
				t.Fatal(err)
			}
			if want := after["/pods/ns/ttl"].modRev; rvOf(t, got) != want {
				t.Errorf("Get after reopen: resourceVersion %d, want %d", rvOf(t, got), want)
			}
		})
	}
}

func TestWALOldWatchesGet410AfterReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, s, _ := walStore(t, dir, WALOptions{})
	revs := writePods(t, s, rand.New(rand.NewPCG(3, 4)), 20)
	crash(b)
	_, s2, _ := walStore(t, dir, WALOptions{})
	ctx := context.Background()
	last := revs[len(revs)-1]

	// A watch from an older resourceVersion gets 410 Gone.
	w, err := s2.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(revs[5], 10), Recursive: true, Predicate: apistorage.Everything})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		status, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || status.Code != 410 {
			t.Fatalf("watch from an old resourceVersion: %v %#v, want a 410 error", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on a watch from an old resourceVersion")
	}
	w.Stop()
	// So does a list at an older exact revision.
	err = s2.GetList(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(revs[5], 10),
		ResourceVersionMatch: metav1.ResourceVersionMatchExact, Recursive: true, Predicate: apistorage.Everything}, &example.PodList{})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("list at an old revision: %v, want 410", err)
	}

	// A watch from the current resourceVersion (a client that had seen
	// everything) goes on, and sees new writes.
	w, err = s2.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(last, 10), Recursive: true, Predicate: apistorage.Everything})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := s2.Create(ctx, podKey("ns", "new"), labeledPod("ns", "new", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || rvOf(t, ev.Object) != last+1 {
			t.Fatalf("got %v at %d, want ADDED at %d", ev.Type, rvOf(t, ev.Object), last+1)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on a watch from the current resourceVersion")
	}
	// A relist works and returns the current revision.
	list := &example.PodList{}
	if err := s2.GetList(ctx, "/pods/", apistorage.ListOptions{Recursive: true, Predicate: apistorage.Everything}, list); err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion != strconv.FormatInt(last+1, 10) {
		t.Errorf("relist at %s, want %d", list.ResourceVersion, last+1)
	}
}

// captureKlog collects klog's output while the test runs.
func captureKlog(t *testing.T) *syncBuffer {
	buf := &syncBuffer{}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("logtostderr", "false"); err != nil {
		t.Fatal(err)
	}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		if err := fs.Set("logtostderr", "true"); err != nil {
			t.Error(err)
		}
		klog.SetOutput(os.Stderr)
	})
	return buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWALTornTail damages the end of the log as a crash (or bit rot) would:
// the bad record is dropped with a log line, the file is truncated there, and
// every record before it is replayed. Not parallel: it captures klog.
func TestWALTornTail(t *testing.T) {
	logs := captureKlog(t)
	for _, tc := range []struct {
		name string
		// damage changes the segment; it returns how many of the last writes
		// are lost.
		damage func(t *testing.T, data []byte, lastFrame int) ([]byte, int)
	}{
		{"half a record appended", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			extra := appendFrame(nil, &walRecord{typ: recPut, rev: 1000, key: "/pods/ns/x", value: []byte("never acknowledged")})
			return append(data, extra[:len(extra)/2]...), 0
		}},
		{"last record cut short", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			return data[:len(data)-3], 1
		}},
		{"last record's CRC mismatch", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			data[len(data)-1] ^= 1
			return data, 1
		}},
		{"zeros after the last record", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			return append(data, make([]byte, 4096)...), 0
		}},
		{"only a header byte of a new record", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			return append(data, 7), 0
		}},
		{"corrupt record mid-tail drops it and the rest", func(t *testing.T, data []byte, lastFrame int) ([]byte, int) {
			// Corrupt the frame before the last: both are dropped.
			fr := newFrameReader(bytes.NewReader(data), int64(len(data)))
			var offs []int64
			for {
				offs = append(offs, fr.off)
				if _, err := fr.next(); err != nil {
					break
				}
			}
			data[offs[len(offs)-3]+frameHeaderSize+2] ^= 0x10
			return data, 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, s, _ := walStore(t, dir, WALOptions{})
			writePods(t, s, rand.New(rand.NewPCG(5, 6)), 30)
			// The states after each of the last writes.
			var states []map[string]keyState
			var revs []int64
			for i := 0; i < 3; i++ {
				name := fmt.Sprintf("last-%d", i)
				if err := s.Create(context.Background(), podKey("ns", name), labeledPod("ns", name, nil), nil, 0); err != nil {
					t.Fatal(err)
				}
				st, rev := dumpState(t, b)
				states, revs = append(states, st), append(revs, rev)
			}
			crash(b)
			segs, err := listSegments(dir)
			if err != nil || len(segs) != 1 {
				t.Fatalf("segments %v, %v", segs, err)
			}
			data, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			damaged, lost := tc.damage(t, bytes.Clone(data), 0)
			if err := os.WriteFile(segs[0], damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			mark := len(logs.String())

			b2, _, stats := walStore(t, dir, WALOptions{})
			want, wantRev := states[len(states)-1-lost], revs[len(revs)-1-lost]
			got, rev := dumpState(t, b2)
			if rev != wantRev || len(got) != len(want) {
				t.Fatalf("reopened at %d with %d keys, want %d with %d", rev, len(got), wantRev, len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("key %s: %+v, want %+v", k, got[k], v)
				}
			}
			klog.Flush()
			if line := logs.String()[mark:]; !strings.Contains(line, "Dropping a torn or corrupt record at the tail") {
				t.Errorf("no log line for the dropped tail; klog said %q", line)
			}
			fi, err := os.Stat(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			if stats.truncated != int64(len(damaged))-fi.Size() || stats.truncated == 0 {
				t.Errorf("truncated %d bytes, file %d -> %d", stats.truncated, len(damaged), fi.Size())
			}
			// The log goes on after the truncation point.
			s2 := podStore(t, b2)
			if err := s2.Create(context.Background(), podKey("ns", "next"), labeledPod("ns", "next", nil), nil, 0); err != nil {
				t.Fatal(err)
			}
			crash(b2)
			b3, _, stats3 := walStore(t, dir, WALOptions{})
			if _, rev := dumpState(t, b3); rev != wantRev+1 || stats3.truncated != 0 {
				t.Errorf("third open at %d (truncated %d), want %d (0)", rev, stats3.truncated, wantRev+1)
			}
		})
	}
}

func TestWALDamageBeforeTheTailIsAnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// damage ends the backend b (last revision rev) and damages dir.
		damage func(t *testing.T, b *Backend, dir string)
		want   string
	}{
		{"older segment", func(t *testing.T, b *Backend, dir string) {
			rev := b.CurrentRevision()
			crash(b)
			segs, _ := listSegments(dir)
			if len(segs) != 1 {
				t.Fatalf("want one segment, got %v", segs)
			}
			// A later segment makes the damaged one an older one.
			if err := os.WriteFile(filepath.Join(dir, segmentName(rev+1)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			flipByte(t, segs[0], 20)
		}, "damaged before its end"},
		{"snapshot", func(t *testing.T, b *Backend, dir string) {
			b.Close()
			flipByte(t, filepath.Join(dir, snapshotFile), 30)
		}, "snapshot"},
		{"snapshot cut short", func(t *testing.T, b *Backend, dir string) {
			b.Close()
			path := filepath.Join(dir, snapshotFile)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()-10); err != nil {
				t.Fatal(err)
			}
		}, "snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			b, s, _ := walStore(t, dir, WALOptions{})
			writePods(t, s, rand.New(rand.NewPCG(7, 8)), 25)
			tc.damage(t, b, dir)
			_, _, err := openWAL(dir, Options{}, WALOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) <= at {
		t.Fatalf("%s has only %d bytes", path, len(data))
	}
	data[at] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWALEmptyAndReopenedEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _, stats := walStore(t, dir, WALOptions{})
	if rev := b.CurrentRevision(); rev != initialRevision || b.CompactRevision() != 0 || stats != (replayStats{}) {
		t.Fatalf("new log: revision %d, compacted %d, %+v", rev, b.CompactRevision(), stats)
	}
	b.Close()
	b2, _, stats := walStore(t, dir, WALOptions{})
	if rev := b2.CurrentRevision(); rev != initialRevision || b2.CompactRevision() != 0 || stats.records != 0 || stats.truncated != 0 {
		t.Fatalf("reopened empty log: revision %d, compacted %d, %+v", rev, b2.CompactRevision(), stats)
	}
}

func TestWALDirectoryIsLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _, _ := walStore(t, dir, WALOptions{})
	if _, err := OpenWAL(dir, Options{}, WALOptions{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want in use", err)
	}
	b.Close()
	b2, err := OpenWAL(dir, Options{}, WALOptions{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b2.Close()
}

// TestWALGroupCommit: concurrent writers share fsyncs, and a write is
// acknowledged (and visible) only once durable.
func TestWALGroupCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, s, _ := walStore(t, dir, WALOptions{})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Create(context.Background(), podKey("ns", name), labeledPod("ns", name, nil), nil, 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	syncs, records := b.wal.syncs.Load(), b.wal.records.Load()
	if records != writers*each || syncs >= records {
		t.Errorf("%d records in %d fsyncs: want %d records sharing fsyncs", records, syncs, writers*each)
	}
	t.Logf("%d writes in %d fsyncs (%.1f per fsync)", records, syncs, float64(records)/float64(syncs))
}

// TestWALFailureStopsWrites: when the log cannot be written the write is
// neither acknowledged nor visible, and later writes fail; reads go on.
func TestWALFailureStopsWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, s, _ := walStore(t, dir, WALOptions{})
	ctx := context.Background()
	if err := s.Create(ctx, podKey("ns", "ok"), labeledPod("ns", "ok", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	rev := b.CurrentRevision()
	// The flusher is idle: break its file under it.
	if err := b.wal.seg.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.Create(ctx, podKey("ns", "lost"), labeledPod("ns", "lost", nil), nil, 0)
	if err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("write on a broken log: %v", err)
	}
	if err := s.Get(ctx, podKey("ns", "lost"), apistorage.GetOptions{}, &example.Pod{}); !apistorage.IsNotFound(err) {
		t.Errorf("unacknowledged write is visible: %v", err)
	}
	if err := s.Get(ctx, podKey("ns", "ok"), apistorage.GetOptions{}, &example.Pod{}); err != nil {
		t.Errorf("read after the log failed: %v", err)
	}
	if got := b.CurrentRevision(); got != rev {
		t.Errorf("revision %d after a failed write, want %d", got, rev)
	}
	if err := s.Create(ctx, podKey("ns", "later"), labeledPod("ns", "later", nil), nil, 0); err == nil {
		t.Error("write accepted after the log failed")
	}
}

// BenchmarkWALWrites measures acknowledged (fsynced) creates per second with
// 1 and 64 concurrent writers; writes/fsync shows the group commit. Set
// KUBESHIM_BENCH_DIR to put the log on a given filesystem.
func BenchmarkWALWrites(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			if d := os.Getenv("KUBESHIM_BENCH_DIR"); d != "" {
				var err error
				if dir, err = os.MkdirTemp(d, "walbench"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(dir) })
			}
			backend, s, _ := walStore(b, dir, WALOptions{})
			var n atomic.Int64
			ctx := context.Background()
			create := func() bool {
				name := "pod-" + strconv.FormatInt(n.Add(1), 10)
				if err := s.Create(ctx, podKey("ns", name), labeledPod("ns", name, map[string]string{"app": "bench"}), nil, 0); err != nil {
					b.Error(err)
					return false
				}
				return true
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if writers == 1 {
				for i := 0; i < b.N && create(); i++ {
				}
			} else {
				// RunParallel runs parallelism*GOMAXPROCS goroutines.
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() && create() {
					}
				})
			}
			elapsed := time.Since(start)
			b.StopTimer()
			syncs := backend.wal.syncs.Load()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			if syncs > 0 {
				b.ReportMetric(float64(backend.wal.records.Load())/float64(syncs), "writes/fsync")
			}
		})
	}
}

// BenchmarkReopen10k measures a restart with 10,000 realistic pods (protobuf,
// ~3 KiB each): from a snapshot (after a clean shutdown) and from the log
// alone (after a crash, no snapshot yet).
func BenchmarkReopen10k(b *testing.B) {
	const objects = 10000
	for _, tc := range []struct {
		name  string
		wopts WALOptions
		end   func(*Backend)
	}{
		{"snapshot", WALOptions{}, (*Backend).Close},
		{"log", WALOptions{SnapshotEvery: 1 << 30, SnapshotBytes: 1 << 40}, crash},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			backend, _, _ := walStore(b, dir, tc.wopts)
			s, err := backend.NewStore(StoreConfig{Codec: protobufPodCodec(), ResourcePrefix: "/pods/", NewFunc: newPod, NewListFunc: newPodList})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			for w := 0; w < 50; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < objects; i += 50 {
						pod := realisticPod("ns", fmt.Sprintf("web-%05d", i))
						if err := s.Create(ctx, "/pods/ns/"+pod.Name, pod, nil, 0); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			tc.end(backend)
			var size int64
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if fi, err := e.Info(); err == nil {
					size += fi.Size()
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				backend, stats, err := openWAL(dir, Options{}, tc.wopts)
				if err != nil {
					b.Fatal(err)
				}
				if got := stats.snapshotKeys + stats.records; got != objects {
					b.Fatalf("replayed %d objects, want %d", got, objects)
				}
				backend.close(false)
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB-on-disk")
		})
	}
}

// TestWALGoroutinesReleased: Close stops the flusher, any snapshot writer and
// the TTL timer. Not parallel: it counts goroutines.
func TestWALGoroutinesReleased(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	b, s, _ := walStore(t, dir, WALOptions{SnapshotEvery: 5})
	ctx := context.Background()
	w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		name := fmt.Sprintf("p%d", i)
		if err := s.Create(ctx, podKey("ns", name), labeledPod("ns", name, nil), nil, uint64(i%2*600)); err != nil {
			t.Fatal(err)
		}
	}
	w.Stop()
	s.Destroy()
	b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The final snapshot holds everything: no log is left to replay.
	b2, _, stats := walStore(t, dir, WALOptions{})
	if stats.records != 0 || stats.snapshotKeys != 30 || b2.CurrentRevision() != 31 {
		t.Errorf("reopened %+v at revision %d; want 30 keys from the snapshot alone, at 31", stats, b2.CurrentRevision())
	}
}
