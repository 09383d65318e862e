// Package serviceaccount is the service accounts controller: it makes sure the ServiceAccount
// "default" exists in every active namespace, creating it when a namespace appears and again
// whenever it is deleted, as upstream's serviceaccount-controller does.
package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// DefaultServiceAccountName is the service account every namespace gets.
const DefaultServiceAccountName = "default"

// namespaceResync re-examines every namespace this often, so a missed event heals.
const namespaceResync = 5 * time.Minute

// Controller creates the default ServiceAccount in every active namespace.
type Controller struct {
	client kubernetes.Interface

	nsInformer cache.SharedIndexInformer
	saInformer cache.SharedIndexInformer
	nsLister   corelisters.NamespaceLister
	saLister   corelisters.ServiceAccountLister
	handlers   []handlerRegistration

	queue workqueue.TypedRateLimitingInterface[string]

	// ensure lists the service accounts every namespace must have.
	ensure []corev1.ServiceAccount
}

type handlerRegistration struct {
	informer     cache.SharedIndexInformer
	registration cache.ResourceEventHandlerRegistration
}

// New builds the controller on the factory's namespace and service account informers; it
// does not start the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	if client == nil || factory == nil {
		return nil, errors.New("serviceaccount controller: client and informer factory are required")
	}
	ns := factory.Core().V1().Namespaces()
	sa := factory.Core().V1().ServiceAccounts()
	c := &Controller{
		client:     client,
		nsInformer: ns.Informer(),
		saInformer: sa.Informer(),
		nsLister:   ns.Lister(),
		saLister:   sa.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"},
		),
		ensure: []corev1.ServiceAccount{{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName}}},
	}

	saReg, err := c.saInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.serviceAccountDeleted})
	if err != nil {
		c.queue.ShutDown()
		return nil, fmt.Errorf("serviceaccount controller: adding service account event handler: %w", err)
	}
	c.handlers = append(c.handlers, handlerRegistration{c.saInformer, saReg})
	nsReg, err := c.nsInformer.AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, obj interface{}) { c.namespaceChanged(obj) },
	}, namespaceResync)
	if err != nil {
		c.removeHandlers(klog.Background())
		c.queue.ShutDown()
		return nil, fmt.Errorf("serviceaccount controller: adding namespace event handler: %w", err)
	}
	c.handlers = append(c.handlers, handlerRegistration{c.nsInformer, nsReg})
	return c, nil
}

// serviceAccountDeleted queues the namespace of a deleted service account we maintain.
func (c *Controller) serviceAccountDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("serviceaccount controller: unexpected object %T deleted", obj))
		return
	}
	for _, want := range c.ensure {
		if want.Name == sa.Name {
			c.queue.Add(sa.Namespace)
			return
		}
	}
}

func (c *Controller) namespaceChanged(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) removeHandlers(logger klog.Logger) {
	for _, h := range c.handlers {
		if err := h.informer.RemoveEventHandler(h.registration); err != nil {
			logger.Error(err, "Removing event handler")
		}
	}
}

// Run waits for the caches to sync and runs workers until ctx ends. It returns when all its
// goroutines have stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "serviceaccount")
	ctx = klog.NewContext(ctx, logger)
	defer func() {
		c.removeHandlers(logger)
		logger.Info("Shutting down service account controller")
	}()
	logger.Info("Starting service account controller", "workers", workers)
	worker.Run(ctx, workers, c.queue, c.processNextItem, c.nsInformer.HasSynced, c.saInformer.HasSynced)
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncNamespace(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Ensuring service accounts failed, will retry", "namespace", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// syncNamespace creates the missing service accounts of the namespace called key, if it is active.
func (c *Controller) syncNamespace(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	start := time.Now()
	defer func() {
		logger.V(4).Info("Finished syncing namespace", "namespace", key, "duration", time.Since(start))
	}()

	ns, err := c.nsLister.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %q from cache: %w", key, err)
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		// A terminating namespace gets nothing new.
		return nil
	}

	var errs []error
	for _, want := range c.ensure {
		_, err := c.saLister.ServiceAccounts(ns.Name).Get(want.Name)
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting service account %s/%s from cache: %w", ns.Name, want.Name, err)
		}
		sa := want.DeepCopy()
		sa.Namespace = ns.Name
		_, err = c.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{})
		switch {
		case err == nil:
			logger.V(2).Info("Created service account", "serviceAccount", klog.KObj(sa))
		case apierrors.IsAlreadyExists(err):
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace started terminating after our cache saw it: nothing to do.
		default:
			errs = append(errs, fmt.Errorf("creating service account %s/%s: %w", ns.Name, sa.Name, err))
		}
	}
	return utilerrors.NewAggregate(errs)
}
