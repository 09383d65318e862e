// Package worker runs a controller's workers on its workqueue, the k8s.io/sample-controller way.
package worker

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
)

// Queue is the part of a workqueue Run needs.
type Queue interface {
	ShutDown()
}

// Run waits for the informers' caches, then runs n workers, each calling process until it
// returns false (the queue is shut down) or ctx ends: a cancelled controller stops at once
// rather than working through what is still queued. When ctx ends, Run shuts the queue down
// and returns once every worker has stopped.
func Run(ctx context.Context, n int, queue Queue, process func(context.Context) bool, synced ...cache.InformerSynced) {
	if !cache.WaitForNamedCacheSyncWithContext(ctx, synced...) {
		queue.ShutDown()
		return
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for ctx.Err() == nil && process(ctx) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}
