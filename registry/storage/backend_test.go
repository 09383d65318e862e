package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	apistorage "k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// eventRecorder drains a watch in the background.
type eventRecorder struct {
	mu     sync.Mutex
	events []watch.Event
	closed bool
	done   chan struct{}
}

func recordEvents(w watch.Interface) *eventRecorder {
	r := &eventRecorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range w.ResultChan() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
	}()
	return r
}

// waitFor waits until n non-bookmark events were received.
func (r *eventRecorder) waitFor(t *testing.T, n int, timeout time.Duration) []watch.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		got := withoutBookmarks(r.events)
		closed := r.closed
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if closed {
			t.Fatalf("watch closed after %d of %d events", len(got), n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d events, got %d", n, len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func withoutBookmarks(events []watch.Event) []watch.Event {
	out := make([]watch.Event, 0, len(events))
	for _, ev := range events {
		if ev.Type != watch.Bookmark {
			out = append(out, ev)
		}
	}
	return out
}

func rvOf(t *testing.T, obj k8sruntime.Object) int64 {
	t.Helper()
	rv, err := apistorage.APIObjectVersioner{}.ObjectResourceVersion(obj)
	if err != nil {
		t.Fatalf("resourceVersion of %#v: %v", obj, err)
	}
	return int64(rv)
}

func podKey(ns, name string) string { return "/pods/" + ns + "/" + name }

func labeledPod(ns, name string, lbls map[string]string) *example.Pod {
	return &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
}

// logSnapshot returns a copy of the backend's event log.
func logSnapshot(b *Backend) []*event {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]*event(nil), b.log...)
}

func expectedType(e *event) watch.EventType {
	switch {
	case e.deleted:
		return watch.Deleted
	case e.created:
		return watch.Added
	default:
		return watch.Modified
	}
}

// checkEvents verifies that got is exactly the log events matching key
// prefix after revision from, in order and with the right types.
func checkEvents(t *testing.T, log []*event, prefix string, from int64, got []watch.Event) {
	t.Helper()
	checkEventSequence(t, log, prefix, from, got, true)
}

// checkEventPrefix is checkEvents for a watch stopped early: got must be the
// first events of the expected sequence.
func checkEventPrefix(t *testing.T, log []*event, prefix string, from int64, got []watch.Event) {
	t.Helper()
	checkEventSequence(t, log, prefix, from, got, false)
}

func checkEventSequence(t *testing.T, log []*event, prefix string, from int64, got []watch.Event, complete bool) {
	t.Helper()
	var want []*event
	for _, e := range log {
		if e.rev > from && strings.HasPrefix(e.key, prefix) {
			want = append(want, e)
		}
	}
	if len(got) > len(want) || complete && len(got) != len(want) {
		t.Fatalf("watch of %s from %d: got %d events, want %d", prefix, from, len(got), len(want))
	}
	for i, ev := range got {
		if ev.Type != expectedType(want[i]) || rvOf(t, ev.Object) != want[i].rev {
			t.Fatalf("watch of %s from %d: event %d is %s@%d, want %s@%d (%s)", prefix, from, i,
				ev.Type, rvOf(t, ev.Object), expectedType(want[i]), want[i].rev, want[i].key)
		}
		pod := ev.Object.(*example.Pod)
		if got := podKey(pod.Namespace, pod.Name); "/"+strings.TrimPrefix(want[i].key, "/") != got {
			t.Fatalf("event %d is for %s, want %s", i, got, want[i].key)
		}
	}
}

// TestConcurrentWritersAndWatchers runs concurrent writers (creates, conflicting
// updates, deletes) against several watchers, then checks that each watcher
// saw every matching event exactly once, in revision order, and that watches
// resumed from random revisions replay exactly the events after them.
func TestConcurrentWritersAndWatchers(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t, withOptions(Options{HistorySize: 100000, WatchQueueSize: 100000}))
	startRV := b.CurrentRevision()
	from := strconv.FormatInt(startRV, 10)

	prefixes := []string{"/pods/", "/pods/", "/pods/ns-0/", "/pods/ns-1/", "/pods/shared/"}
	recorders := make([]*eventRecorder, len(prefixes))
	for i, p := range prefixes {
		w, err := s.Watch(ctx, p, apistorage.ListOptions{ResourceVersion: from, Predicate: apistorage.Everything, Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		recorders[i] = recordEvents(w)
	}
	// A filtered watcher: only pods labelled odd=true.
	oddPred := apistorage.SelectionPredicate{
		Label: labels.SelectorFromSet(labels.Set{"odd": "true"}),
		Field: fields.Everything(),
		GetAttrs: func(obj k8sruntime.Object) (labels.Set, fields.Set, error) {
			return labels.Set(obj.(*example.Pod).Labels), nil, nil
		},
	}
	oddWatch, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: from, Predicate: oddPred, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oddWatch.Stop)
	oddRecorder := recordEvents(oddWatch)

	// Watches opened and stopped while the writers run.
	type churned struct {
		from   int64
		events []watch.Event
	}
	var churn []churned
	churnDone, stopChurn := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(churnDone)
		for {
			select {
			case <-stopChurn:
				return
			default:
			}
			from := b.CurrentRevision()
			w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(from, 10), Predicate: apistorage.Everything, Recursive: true})
			if err != nil {
				t.Error(err)
				return
			}
			c := churned{from: from}
			timeout := time.After(20 * time.Millisecond)
		read:
			for len(c.events) < 20 {
				select {
				case ev := <-w.ResultChan():
					c.events = append(c.events, ev)
				case <-timeout:
					break read
				}
			}
			w.Stop()
			churn = append(churn, c)
		}
	}()

	const writers, ops = 6, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(i)))
			for j := range ops {
				ns := fmt.Sprintf("ns-%d", i%3)
				name := fmt.Sprintf("p-%d-%d", i, rnd.Intn(5))
				if j%3 == 0 {
					// Contended keys: every writer updates the same ones.
					ns, name = "shared", fmt.Sprintf("s-%d", rnd.Intn(3))
				}
				key := podKey(ns, name)
				if rnd.Intn(6) == 0 {
					err := s.Delete(ctx, key, &example.Pod{}, nil, apistorage.ValidateAllObjectFunc, nil, apistorage.DeleteOptions{})
					if err != nil && !apistorage.IsNotFound(err) {
						errs <- err
						return
					}
					continue
				}
				odd := strconv.FormatBool(rnd.Intn(2) == 0)
				err := s.GuaranteedUpdate(ctx, key, &example.Pod{}, true, nil, func(in k8sruntime.Object, _ apistorage.ResponseMeta) (k8sruntime.Object, *uint64, error) {
					pod := in.(*example.Pod).DeepCopy()
					pod.Namespace, pod.Name = ns, name
					n, _ := strconv.Atoi(pod.Annotations["n"])
					pod.Annotations = map[string]string{"n": strconv.Itoa(n + 1), "writer": strconv.Itoa(i)}
					pod.Labels = map[string]string{"odd": odd}
					return pod, nil, nil
				}, nil)
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stopChurn)
	<-churnDone
	close(errs)
	for err := range errs {
		t.Fatalf("writer failed: %v", err)
	}
	log := logSnapshot(b)
	if got, want := int64(len(log)), b.CurrentRevision()-startRV; got != want {
		t.Fatalf("log has %d events for %d revisions", got, want)
	}
	for i := 1; i < len(log); i++ {
		if log[i].rev != log[i-1].rev+1 {
			t.Fatalf("revision gap in log: %d then %d", log[i-1].rev, log[i].rev)
		}
	}

	t.Run("every watcher saw every event once in order", func(t *testing.T) {
		for i, p := range prefixes {
			want := 0
			for _, e := range log {
				if strings.HasPrefix(e.key, p) {
					want++
				}
			}
			got := recorders[i].waitFor(t, want, 30*time.Second)
			time.Sleep(20 * time.Millisecond)
			checkEvents(t, log, p, startRV, withoutBookmarks(got))
			recorders[i].mu.Lock()
			extra := len(withoutBookmarks(recorders[i].events)) - want
			recorders[i].mu.Unlock()
			if extra != 0 {
				t.Fatalf("watcher %d got %d unexpected extra events", i, extra)
			}
		}
	})

	t.Run("filtered watcher sees transitions into and out of the selector", func(t *testing.T) {
		odd := func(value []byte) bool {
			if value == nil {
				return false
			}
			obj, err := k8sruntime.Decode(s.codecs.Load().codec, value[len(testTransformerPrefix):])
			if err != nil {
				t.Fatal(err)
			}
			return obj.(*example.Pod).Labels["odd"] == "true"
		}
		type want struct {
			typ watch.EventType
			rev int64
		}
		var wants []want
		for _, e := range log {
			cur, prev := !e.deleted && odd(e.value), odd(e.prevValue)
			switch {
			case cur && prev:
				wants = append(wants, want{watch.Modified, e.rev})
			case cur:
				wants = append(wants, want{watch.Added, e.rev})
			case prev:
				wants = append(wants, want{watch.Deleted, e.rev})
			}
		}
		got := oddRecorder.waitFor(t, len(wants), 30*time.Second)
		if len(got) != len(wants) {
			t.Fatalf("got %d events, want %d", len(got), len(wants))
		}
		for i, ev := range got {
			if ev.Type != wants[i].typ || rvOf(t, ev.Object) != wants[i].rev {
				t.Fatalf("event %d: got %s@%d, want %s@%d", i, ev.Type, rvOf(t, ev.Object), wants[i].typ, wants[i].rev)
			}
		}
	})

	t.Run("watches opened during the writes see a gap-free prefix", func(t *testing.T) {
		if len(churn) == 0 {
			t.Fatal("no watch was opened during the writes")
		}
		for _, c := range churn {
			checkEventPrefix(t, log, "/pods/", c.from, c.events)
		}
	})

	t.Run("resume from random resourceVersions", func(t *testing.T) {
		rnd := rand.New(rand.NewSource(42))
		for range 15 {
			from := startRV + rnd.Int63n(int64(len(log))+1)
			prefix := prefixes[rnd.Intn(len(prefixes))]
			w, err := s.Watch(ctx, prefix, apistorage.ListOptions{ResourceVersion: strconv.FormatInt(from, 10), Predicate: apistorage.Everything, Recursive: true})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, e := range log {
				if e.rev > from && strings.HasPrefix(e.key, prefix) {
					want++
				}
			}
			r := recordEvents(w)
			got := r.waitFor(t, want, 30*time.Second)
			checkEvents(t, log, prefix, from, got)
			w.Stop()
			<-r.done
			if n := len(withoutBookmarks(r.events)); n != want {
				t.Fatalf("resumed watch from %d got %d events, want %d", from, n, want)
			}
		}
	})
}

func isExpired(obj k8sruntime.Object) bool {
	status, ok := obj.(*metav1.Status)
	return ok && status.Code == 410 && status.Reason == metav1.StatusReasonExpired
}

// TestHistoryWindow checks the 410 Gone behaviour past the bounded history.
func TestHistoryWindow(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t, withOptions(Options{HistorySize: 20}))
	firstRV := b.CurrentRevision()
	var page example.PodList
	for i := range 10 {
		pod := labeledPod("ns", fmt.Sprintf("pod-%03d", i), nil)
		if err := s.Create(ctx, podKey(pod.Namespace, pod.Name), pod, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	// A paginated list whose continue token will outlive the window.
	if err := s.GetList(ctx, "/pods/", apistorage.ListOptions{Recursive: true, Predicate: apistorage.SelectionPredicate{Label: labels.Everything(), Field: fields.Everything(), Limit: 3}}, &page); err != nil {
		t.Fatal(err)
	}
	if page.Continue == "" || len(page.Items) != 3 {
		t.Fatalf("expected a first page of 3 with a continue token, got %d items, %q", len(page.Items), page.Continue)
	}
	for i := 10; i < 100; i++ {
		pod := labeledPod("ns", fmt.Sprintf("pod-%03d", i), nil)
		if err := s.Create(ctx, podKey(pod.Namespace, pod.Name), pod, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	compactRV := b.CompactRevision()
	current := b.CurrentRevision()
	if compactRV <= firstRV || current-compactRV < 20 || current-compactRV > 20+20/8 {
		t.Fatalf("history not bounded: compacted at %d, current %d", compactRV, current)
	}
	if n := len(logSnapshot(b)); int64(n) != current-compactRV {
		t.Fatalf("log holds %d events, want %d", n, current-compactRV)
	}

	watchFrom := func(rv int64) watch.Interface {
		w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(rv, 10), Predicate: apistorage.Everything, Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	for _, rv := range []int64{firstRV, compactRV - 1} {
		ev, ok := <-watchFrom(rv).ResultChan()
		if !ok || ev.Type != watch.Error || !isExpired(ev.Object) {
			t.Fatalf("watch from %d (compacted at %d): got %v %#v, want 410 Expired", rv, compactRV, ok, ev)
		}
		if msg := ev.Object.(*metav1.Status).Message; !strings.Contains(msg, "too old") {
			t.Errorf("unexpected message %q", msg)
		}
	}
	r := recordEvents(watchFrom(compactRV))
	got := r.waitFor(t, int(current-compactRV), 10*time.Second)
	checkEvents(t, logSnapshot(b), "/pods/", compactRV, got)

	var list example.PodList
	err := s.GetList(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(compactRV-1, 10), ResourceVersionMatch: metav1.ResourceVersionMatchExact, Recursive: true, Predicate: apistorage.Everything}, &list)
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("exact list before the window: got %v, want 410", err)
	}
	if err := s.GetList(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(compactRV, 10), ResourceVersionMatch: metav1.ResourceVersionMatchExact, Recursive: true, Predicate: apistorage.Everything}, &list); err != nil {
		t.Fatalf("exact list at the compaction revision: %v", err)
	}
	if int64(len(list.Items)) != compactRV-firstRV {
		t.Fatalf("exact list at %d returned %d pods, want %d", compactRV, len(list.Items), compactRV-firstRV)
	}
	err = s.GetList(ctx, "/pods/", apistorage.ListOptions{Recursive: true, Predicate: apistorage.SelectionPredicate{Label: labels.Everything(), Field: fields.Everything(), Limit: 3, Continue: page.Continue}}, &list)
	var status apierrors.APIStatus
	if !apierrors.IsResourceExpired(err) || !errors.As(err, &status) || status.Status().ListMeta.Continue == "" {
		t.Fatalf("continue with a compacted token: got %v, want 410 with an inconsistent continue token", err)
	}
	// Get has "not older than" semantics: an old resourceVersion is fine.
	if err := s.Get(ctx, podKey("ns", "pod-000"), apistorage.GetOptions{ResourceVersion: strconv.FormatInt(firstRV, 10)}, &example.Pod{}); err != nil {
		t.Fatalf("get with an old resourceVersion: %v", err)
	}
}

// TestSlowWatcherIsTerminated checks that a watcher whose consumer does not
// read neither blocks writers nor loses events: it is closed, and a watch
// resumed from the last delivered resourceVersion continues without gap.
func TestSlowWatcherIsTerminated(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t, withOptions(Options{WatchQueueSize: 10}))
	startRV := b.CurrentRevision()
	w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(startRV, 10), Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const total = 400
	// The first event is consumed: the watch is established and delivering.
	if err := s.Create(ctx, podKey("ns", "pod-000"), labeledPod("ns", "pod-000", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	got := []watch.Event{<-w.ResultChan()}
	start := time.Now()
	for i := 1; i < total; i++ {
		pod := labeledPod("ns", fmt.Sprintf("pod-%03d", i), nil)
		if err := s.Create(ctx, podKey(pod.Namespace, pod.Name), pod, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("writes were blocked by a slow watcher: %v", d)
	}
	timeout := time.After(10 * time.Second)
loop:
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				break loop
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("slow watcher was not terminated (got %d events)", len(got))
		}
	}
	if len(got) >= total {
		t.Fatalf("terminated watcher delivered %d of %d events", len(got), total)
	}
	log := logSnapshot(b)
	checkEvents(t, log[:len(got)], "/pods/", startRV, got)

	last := rvOf(t, got[len(got)-1].Object)
	resumed, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: strconv.FormatInt(last, 10), Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Stop()
	rest := recordEvents(resumed).waitFor(t, total-len(got), 10*time.Second)
	checkEvents(t, log, "/pods/", last, rest)
}

// TestSharedKeyspace checks that views of different resources share one
// global revision but only see their own keys.
func TestSharedKeyspace(t *testing.T) {
	t.Parallel()
	b := NewBackend(Options{})
	t.Cleanup(b.Close)
	codec := apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	decorate := b.Decorator()
	newView := func(resource string) apistorage.Interface {
		cfg := storagebackend.NewDefaultConfig("/registry", codec).ForResource(schema.GroupResource{Resource: resource})
		s, destroy, err := decorate(cfg, "/"+resource, nil, newPod, newPodList, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(destroy)
		return s
	}
	pods, others := newView("pods"), newView("otherpods")
	ctx := context.Background()
	w, err := pods.Watch(ctx, "/pods", apistorage.ListOptions{ResourceVersion: "1", Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var podRVs []int64
	for i := range 4 {
		out := &example.Pod{}
		if err := pods.Create(ctx, "/pods/ns/p"+strconv.Itoa(i), labeledPod("ns", "p"+strconv.Itoa(i), nil), out, 0); err != nil {
			t.Fatal(err)
		}
		podRVs = append(podRVs, rvOf(t, out))
		other := &example.Pod{}
		if err := others.Create(ctx, "/otherpods/ns/o"+strconv.Itoa(i), labeledPod("ns", "o"+strconv.Itoa(i), nil), other, 0); err != nil {
			t.Fatal(err)
		}
		if rvOf(t, other) != rvOf(t, out)+1 {
			t.Fatalf("revisions are not global: pod at %d, other at %d", rvOf(t, out), rvOf(t, other))
		}
	}
	if _, err := b.snapshot(); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := b.get("/registry/pods/ns/p0"); v == nil {
		t.Fatalf("pods are not stored under /registry/pods/")
	}
	got := recordEvents(w).waitFor(t, 4, 10*time.Second)
	for i, ev := range got {
		if pod := ev.Object.(*example.Pod); ev.Type != watch.Added || rvOf(t, pod) != podRVs[i] || !strings.HasPrefix(pod.Name, "p") {
			t.Fatalf("pods watch got %s %s@%d", ev.Type, pod.Name, rvOf(t, pod))
		}
	}
	var list example.PodList
	if err := others.GetList(ctx, "/otherpods", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 4 || list.ResourceVersion != strconv.FormatInt(b.CurrentRevision(), 10) {
		t.Fatalf("otherpods list: %d items at %s, want 4 at the global revision %d", len(list.Items), list.ResourceVersion, b.CurrentRevision())
	}
	current, err := pods.GetCurrentResourceVersion(ctx)
	if err != nil || int64(current) != b.CurrentRevision() {
		t.Fatalf("GetCurrentResourceVersion = %d, %v; want %d", current, err, b.CurrentRevision())
	}
}

// TestDecoratorDestroy checks the decorator's signature and that its
// DestroyFunc ends the view's watches and goroutines.
func TestDecoratorDestroy(t *testing.T) {
	t.Parallel()
	b := NewBackend(Options{})
	t.Cleanup(b.Close)
	var decorate generic.StorageDecorator = b.Decorator()
	cfg := storagebackend.NewDefaultConfig("/registry", apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)).ForResource(schema.GroupResource{Resource: "pods"})
	s, destroy, err := decorate(cfg, "/pods", nil, newPod, newPodList, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decorate(cfg, "pods", nil, newPod, newPodList, nil, nil, nil); err == nil {
		t.Fatal("a resource prefix without a leading / must be rejected")
	}
	store := s.(*Store)
	ctx := context.Background()
	var watchers []watch.Interface
	for i := range 10 {
		w, err := s.Watch(ctx, "/pods", apistorage.ListOptions{ResourceVersion: strconv.Itoa(i % 2), Predicate: apistorage.Everything, Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
	}
	destroy()
	destroy() // the generic registry may call it more than once
	for i, w := range watchers {
		select {
		case _, ok := <-w.ResultChan():
			if ok {
				t.Fatalf("watcher %d delivered an event after destroy", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("watcher %d not closed by destroy", i)
		}
	}
	store.mu.Lock()
	left := len(store.watchers)
	store.mu.Unlock()
	b.mu.RLock()
	registered := len(b.watchers)
	b.mu.RUnlock()
	if left != 0 || registered != 0 {
		t.Fatalf("destroy left %d view watchers, %d backend watchers", left, registered)
	}
	if _, err := s.Watch(ctx, "/pods", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}); err == nil {
		t.Fatal("watch after destroy must fail")
	}
}

// TestNoAliasing checks that returned objects never share memory with stored
// state or with each other.
func TestNoAliasing(t *testing.T) {
	t.Parallel()
	ctx, s, _ := testSetup(t)
	key := podKey("ns", "a")
	var watchers []watch.Interface
	for range 3 {
		w, err := s.Watch(ctx, key, apistorage.ListOptions{ResourceVersion: "1", Predicate: apistorage.Everything})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		watchers = append(watchers, w)
	}
	in := labeledPod("ns", "a", map[string]string{"k": "v"})
	out := &example.Pod{}
	if err := s.Create(ctx, key, in, out, 0); err != nil {
		t.Fatal(err)
	}
	in.Labels["k"] = "changed-input"
	out.Labels["k"] = "changed-output"

	got := &example.Pod{}
	if err := s.Get(ctx, key, apistorage.GetOptions{}, got); err != nil {
		t.Fatal(err)
	}
	if got.Labels["k"] != "v" {
		t.Fatalf("stored object aliased by Create's input or output: %v", got.Labels)
	}
	got.Labels["k"] = "changed-get"
	var list example.PodList
	if err := s.GetList(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}, &list); err != nil {
		t.Fatal(err)
	}
	if list.Items[0].Labels["k"] != "v" {
		t.Fatalf("stored object aliased by Get: %v", list.Items[0].Labels)
	}
	// The event fans out to three watchers, which share one decode.
	var objs []*example.Pod
	for _, w := range watchers {
		ev := <-w.ResultChan()
		objs = append(objs, ev.Object.(*example.Pod))
	}
	objs[0].Labels["k"] = "changed-watch"
	for i, o := range objs[1:] {
		if o.Labels["k"] != "v" {
			t.Fatalf("watcher %d's event object is aliased: %v", i+1, o.Labels)
		}
	}
}

// TestTTL checks expiry of keys created with a TTL, and that an update
// without TTL removes it.
func TestTTL(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t)
	startRV := strconv.FormatInt(b.CurrentRevision(), 10)
	w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: startRV, Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := s.Create(ctx, podKey("ns", "expires"), labeledPod("ns", "expires", nil), nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, podKey("ns", "kept"), labeledPod("ns", "kept", nil), nil, 1); err != nil {
		t.Fatal(err)
	}
	err = s.GuaranteedUpdate(ctx, podKey("ns", "kept"), &example.Pod{}, false, nil, apistorage.SimpleUpdate(func(obj k8sruntime.Object) (k8sruntime.Object, error) {
		pod := obj.(*example.Pod)
		pod.Labels = map[string]string{"updated": "true"}
		return pod, nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := recordEvents(w).waitFor(t, 4, 10*time.Second)
	if last := got[3]; last.Type != watch.Deleted || last.Object.(*example.Pod).Name != "expires" {
		t.Fatalf("expected the expiry of 'expires', got %s %s", last.Type, last.Object.(*example.Pod).Name)
	}
	time.Sleep(500 * time.Millisecond)
	if err := s.Get(ctx, podKey("ns", "expires"), apistorage.GetOptions{}, &example.Pod{}); !apistorage.IsNotFound(err) {
		t.Fatalf("expired key still readable: %v", err)
	}
	if err := s.Get(ctx, podKey("ns", "kept"), apistorage.GetOptions{}, &example.Pod{}); err != nil {
		t.Fatalf("key whose TTL was cleared by an update expired: %v", err)
	}
}

// TestCompactionPrunesKeyspace checks that deleted keys and superseded
// versions do not outlive the history window.
func TestCompactionPrunesKeyspace(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t, withOptions(Options{HistorySize: 50}))
	for i := range 500 {
		key := podKey("ns", fmt.Sprintf("p-%d", i))
		if err := s.Create(ctx, key, labeledPod("ns", fmt.Sprintf("p-%d", i), nil), nil, 0); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Delete(ctx, key, &example.Pod{}, nil, apistorage.ValidateAllObjectFunc, nil, apistorage.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.mu.RLock()
	keys, versions := b.tree.Len(), 0
	b.tree.Ascend(func(r *record) bool {
		versions += len(r.versions)
		return true
	})
	logLen := len(b.log)
	b.mu.RUnlock()
	// 250 live pods; at most the deletions still inside the window keep a tombstone.
	if keys < 250 || keys > 250+logLen || versions > keys+logLen {
		t.Fatalf("keyspace not pruned: %d keys, %d versions, %d events in the log", keys, versions, logLen)
	}
	stats, err := s.Stats(ctx)
	if err != nil || stats.ObjectCount != 250 {
		t.Fatalf("Stats = %+v, %v; want 250 objects", stats, err)
	}
}

// TestGoroutinesReleased checks that stopped watches leave no goroutine behind.
func TestGoroutinesReleased(t *testing.T) {
	ctx, s, _ := testSetup(t)
	before := runtime.NumGoroutine()
	var watchers []watch.Interface
	for i := range 50 {
		opts := apistorage.ListOptions{ResourceVersion: strconv.Itoa(i % 2), Predicate: apistorage.Everything, Recursive: true}
		opts.Predicate.AllowWatchBookmarks = true
		w, err := s.Watch(ctx, "/pods/", opts)
		if err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
	}
	if err := s.Create(ctx, podKey("ns", "a"), labeledPod("ns", "a", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	for _, w := range watchers {
		w.Stop()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before the watches, %d after stopping them", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadOnlyErrors covers argument errors of the view's methods.
func TestReadOnlyErrors(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t)
	tests := []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"future exact list", func() error {
			return s.GetList(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: "100", ResourceVersionMatch: metav1.ResourceVersionMatchExact, Recursive: true, Predicate: apistorage.Everything}, &example.PodList{})
		}, apistorage.IsTooLargeResourceVersion},
		{"future get", func() error {
			return s.Get(ctx, "/pods/ns/a", apistorage.GetOptions{ResourceVersion: "100", IgnoreNotFound: true}, &example.Pod{})
		}, apistorage.IsTooLargeResourceVersion},
		{"invalid resource version", func() error {
			return s.GetList(ctx, "/pods/", apistorage.ListOptions{ResourceVersion: "x", Recursive: true, Predicate: apistorage.Everything}, &example.PodList{})
		}, apierrors.IsBadRequest},
		{"compact in the future", func() error { return b.Compact(b.CurrentRevision() + 1) }, func(err error) bool { return err != nil }},
		{"size estimation without keys func", func() error { return s.EnableResourceSizeEstimation(nil) }, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !tt.want(err) {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}

// TestBackendClose checks that a closed backend fails reads, writes and
// readiness, and closes its watches.
func TestBackendClose(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t)
	w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReadinessCheck(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, ok := <-w.ResultChan(); ok {
		t.Fatal("watch not closed by Close")
	}
	if err := s.ReadinessCheck(); err == nil {
		t.Fatal("closed backend reported ready")
	}
	if err := s.Create(ctx, "/pods/ns/a", labeledPod("ns", "a", nil), nil, 0); err == nil {
		t.Fatal("write to a closed backend succeeded")
	}
	if err := s.GetList(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}, &example.PodList{}); err == nil {
		t.Fatal("list of a closed backend succeeded")
	}
}

// TestReadsAtPastRevisions checks MVCC reads: while a hot key and others are
// rewritten concurrently, a list at an exact past revision keeps returning
// exactly what a consistent list returned at that revision.
func TestReadsAtPastRevisions(t *testing.T) {
	t.Parallel()
	ctx, s, b := testSetup(t, withOptions(Options{HistorySize: 1 << 20}))
	hot := podKey("ns", "hot")
	if err := s.Create(ctx, hot, labeledPod("ns", "hot", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.GuaranteedUpdate(ctx, hot, &example.Pod{}, false, nil, apistorage.SimpleUpdate(func(obj k8sruntime.Object) (k8sruntime.Object, error) {
					pod := obj.(*example.Pod)
					n, _ := strconv.Atoi(pod.Annotations["n"])
					pod.Annotations = map[string]string{"n": strconv.Itoa(n + 1)}
					return pod, nil
				}), nil)
				if err != nil {
					t.Error(err)
					return
				}
				other := labeledPod("ns", fmt.Sprintf("w%d-%d", w, i%7), nil)
				key := podKey(other.Namespace, other.Name)
				if i%2 == 0 {
					_ = s.Create(ctx, key, other, nil, 0)
				} else {
					_ = s.Delete(ctx, key, &example.Pod{}, nil, apistorage.ValidateAllObjectFunc, nil, apistorage.DeleteOptions{})
				}
			}
		}()
	}
	type seen struct {
		rv    string
		items []example.Pod
	}
	var history []seen
	for range 30 {
		var list example.PodList
		if err := s.GetList(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}, &list); err != nil {
			t.Fatal(err)
		}
		history = append(history, seen{list.ResourceVersion, list.Items})
		for _, h := range history {
			var again example.PodList
			opts := apistorage.ListOptions{ResourceVersion: h.rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact, Predicate: apistorage.Everything, Recursive: true}
			if err := s.GetList(ctx, "/pods/", opts, &again); err != nil {
				t.Fatal(err)
			}
			if again.ResourceVersion != h.rv || len(again.Items) != len(h.items) {
				t.Fatalf("list at %s: %d items at %s, first saw %d", h.rv, len(again.Items), again.ResourceVersion, len(h.items))
			}
			for i := range again.Items {
				if again.Items[i].Name != h.items[i].Name || again.Items[i].ResourceVersion != h.items[i].ResourceVersion ||
					again.Items[i].Annotations["n"] != h.items[i].Annotations["n"] {
					t.Fatalf("list at %s changed: item %d is %s@%s, was %s@%s", h.rv, i,
						again.Items[i].Name, again.Items[i].ResourceVersion, h.items[i].Name, h.items[i].ResourceVersion)
				}
			}
			var single example.PodList
			opts.Recursive = false
			if err := s.GetList(ctx, hot, opts, &single); err != nil {
				t.Fatal(err)
			}
			if len(single.Items) != 1 || single.Items[0].Annotations["n"] != h.items[0].Annotations["n"] {
				t.Fatalf("exact get of the hot key at %s differs from the list", h.rv)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if b.CompactRevision() != 0 {
		t.Fatalf("unexpected compaction at %d", b.CompactRevision())
	}
}

// TestHistoryBytesBound checks that old values kept for history are bounded
// in bytes, and that the accounting matches the log.
func TestHistoryBytesBound(t *testing.T) {
	t.Parallel()
	const budget = 16 << 10
	ctx, s, b := testSetup(t, withOptions(Options{HistoryBytes: budget}))
	key := podKey("ns", "big")
	payload := strings.Repeat("x", 1000)
	if err := s.Create(ctx, key, labeledPod("ns", "big", nil), nil, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		err := s.GuaranteedUpdate(ctx, key, &example.Pod{}, false, nil, apistorage.SimpleUpdate(func(obj k8sruntime.Object) (k8sruntime.Object, error) {
			pod := obj.(*example.Pod)
			pod.Annotations = map[string]string{"payload": payload, "i": strconv.Itoa(i)}
			return pod, nil
		}), nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	b.mu.RLock()
	var sum int64
	for _, e := range b.log {
		sum += int64(len(e.prevValue))
	}
	accounted, logLen, compacted := b.historyBytes, len(b.log), b.compactRev
	rec, _ := b.tree.Get(&record{key: key})
	versions := len(rec.versions)
	b.mu.RUnlock()
	if sum != accounted {
		t.Fatalf("history bytes accounted %d, log holds %d", accounted, sum)
	}
	if accounted > budget || compacted == 0 {
		t.Fatalf("history holds %d bytes (budget %d), compacted at %d", accounted, budget, compacted)
	}
	if versions > logLen+1 {
		t.Fatalf("key keeps %d versions for %d events in the log", versions, logLen)
	}
	// The retained window still serves watches.
	w, err := s.Watch(ctx, key, apistorage.ListOptions{ResourceVersion: strconv.FormatInt(compacted, 10), Predicate: apistorage.Everything})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := recordEvents(w).waitFor(t, logLen, 10*time.Second)
	checkEvents(t, logSnapshot(b), key, compacted, got)
}
