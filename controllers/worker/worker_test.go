package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func runAsync(ctx context.Context, n int, q workqueue.TypedRateLimitingInterface[int], process func(context.Context) bool, synced ...cache.InformerSynced) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, n, q, process, synced...)
	}()
	return done
}

func waitClosed(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Run did not return", what)
	}
}

func TestRunProcessesThenStopsWithoutDraining(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[int]())
	ctx, cancel := context.WithCancel(context.Background())
	var processed atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	process := func(ctx context.Context) bool {
		key, quit := q.Get()
		if quit {
			return false
		}
		defer q.Done(key)
		if processed.Add(1) == 1 {
			close(started)
			<-release // hold the only worker while the test cancels
		}
		return true
	}
	for i := range 1000 {
		q.Add(i)
	}
	done := runAsync(ctx, 1, q, process, func() bool { return true })
	<-started
	cancel()
	close(release)
	waitClosed(t, done, "after cancel")
	if n := processed.Load(); n != 1 {
		t.Fatalf("processed %d items after cancel; a cancelled worker must not drain the queue", n)
	}
	if !q.ShuttingDown() {
		t.Fatal("queue not shut down")
	}
}

func TestRunReturnsWhenCachesNeverSync(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[int]())
	ctx, cancel := context.WithCancel(context.Background())
	var called atomic.Bool
	done := runAsync(ctx, 2, q, func(context.Context) bool { called.Store(true); return false }, func() bool { return false })
	cancel()
	waitClosed(t, done, "with unsynced caches")
	if called.Load() || !q.ShuttingDown() {
		t.Fatalf("process called %v, queue shut down %v", called.Load(), q.ShuttingDown())
	}
}
