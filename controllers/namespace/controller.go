// Package namespace is the namespace controller: it empties namespaces being deleted.
//
// Deleting a namespace is two-phase. The API server answers DELETE by setting the namespace's
// deletionTimestamp and phase Terminating while spec.finalizers holds "kubernetes". This
// controller then deletes every namespaced resource in it (discovered from the server, pods
// first), reports progress in the namespace's conditions (NamespaceDeletionDiscoveryFailure,
// NamespaceDeletionGVParsingFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining), waits until the content is gone,
// and finally removes "kubernetes" through namespaces/NAME/finalize, after which the API
// server removes the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

const (
	// deletionGracePeriod delays the processing of a namespace event, as upstream does, so that
	// objects created at the last moment are visible before the namespace is emptied.
	deletionGracePeriod = 5 * time.Second
	// resyncPeriod re-examines every namespace this often (upstream's --namespace-sync-period).
	resyncPeriod = 5 * time.Minute
)

// Controller deletes the content of terminating namespaces and then finalizes them.
type Controller struct {
	informer     cache.SharedIndexInformer
	registration cache.ResourceEventHandlerRegistration
	lister       corelisters.NamespaceLister
	queue        workqueue.TypedRateLimitingInterface[string]
	deleter      *deleter
	// gracePeriod is deletionGracePeriod; tests shorten it.
	gracePeriod time.Duration
}

// New builds the namespace controller. It registers its namespace informer with factory but
// does not start the factory. metadataClient deletes and lists the content of namespaces;
// discoveryClient tells which namespaced resources exist and which verbs they support.
func New(client kubernetes.Interface, metadataClient metadata.Interface, discoveryClient discovery.DiscoveryInterface, factory informers.SharedInformerFactory) (*Controller, error) {
	if client == nil || metadataClient == nil || discoveryClient == nil || factory == nil {
		return nil, errors.New("namespace controller: client, metadata client, discovery client and informer factory are required")
	}
	nsInformer := factory.Core().V1().Namespaces()
	c := &Controller{
		informer: nsInformer.Informer(),
		lister:   nsInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			rateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"},
		),
		deleter: &deleter{
			client:    client,
			metadata:  metadataClient,
			discovery: discoveryClient,
			finalizer: corev1.FinalizerKubernetes,
		},
		gracePeriod: deletionGracePeriod,
	}
	reg, err := c.informer.AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	}, resyncPeriod)
	if err != nil {
		c.queue.ShutDown()
		return nil, fmt.Errorf("namespace controller: adding namespace event handler: %w", err)
	}
	c.registration = reg
	return c, nil
}

// rateLimiter retries a failing namespace at least once a minute, and limits retries overall.
func rateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// enqueue queues a namespace that is being deleted; others are none of this controller's business.
func (c *Controller) enqueue(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.AddAfter(ns.Name, c.gracePeriod)
}

// Run waits for the namespace cache to sync and runs workers until ctx ends. It returns when
// all its goroutines have stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "namespace")
	ctx = klog.NewContext(ctx, logger)
	defer func() {
		if err := c.informer.RemoveEventHandler(c.registration); err != nil {
			logger.Error(err, "Removing namespace event handler")
		}
		logger.Info("Shutting down namespace controller")
	}()
	logger.Info("Starting namespace controller", "workers", workers)
	worker.Run(ctx, workers, c.queue, c.processNextItem, c.informer.HasSynced)
}

// processNextItem handles one key; it returns false once the queue is shut down.
func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	c.handleResult(ctx, key, c.sync(ctx, key))
	return true
}

// handleResult requeues key: after about half the estimate while content is going away, with
// back-off after an error.
func (c *Controller) handleResult(ctx context.Context, key string, err error) {
	if err == nil {
		c.queue.Forget(key)
		return
	}
	var remaining *resourcesRemainingError
	if errors.As(err, &remaining) {
		wait := time.Duration(remaining.Estimate/2+1) * time.Second
		klog.FromContext(ctx).V(4).Info("Content remaining in namespace", "namespace", key, "waitSeconds", wait.Seconds())
		c.queue.AddAfter(key, wait)
		return
	}
	utilruntime.HandleErrorWithContext(ctx, err, "Deleting namespace content failed, will retry", "namespace", key)
	c.queue.AddRateLimited(key)
}

// sync runs one deletion pass over the namespace called key.
func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	start := time.Now()
	defer func() {
		logger.V(4).Info("Finished syncing namespace", "namespace", key, "duration", time.Since(start))
	}()
	ns, err := c.lister.Get(key)
	if apierrors.IsNotFound(err) {
		logger.V(2).Info("Namespace has been deleted", "namespace", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %q from cache: %w", key, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	return c.deleter.delete(ctx, key)
}
