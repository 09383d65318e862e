// Package ttlafterfinished deletes finished Jobs once their spec.ttlSecondsAfterFinished has
// passed, as upstream's TTL-after-finished controller does: the time counts from the
// Complete or Failed condition's lastTransitionTime, the TTL is re-checked against a fresh
// read before deleting, and the delete cascades in the foreground with a UID precondition.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the name upstream's controller runs under.
const ComponentName = "ttl-after-finished-controller"

// Controller deletes expired finished Jobs.
type Controller struct {
	client     kubernetes.Interface
	jobLister  batchlisters.JobLister
	jobsSynced cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.WithTicker
}

// New builds the controller on factory's Job informer. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	return newWithClock(client, factory, clock.RealClock{})
}

func newWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.WithTicker) (*Controller, error) {
	c := &Controller{
		client: client,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete", Clock: clk}),
		clock: clk,
	}
	jobs := factory.Batch().V1().Jobs()
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onJob,
		UpdateFunc: func(_, cur any) { c.onJob(cur) },
	}); err != nil {
		return nil, fmt.Errorf("adding Job event handler: %w", err)
	}
	c.jobLister = jobs.Lister()
	c.jobsSynced = jobs.Informer().HasSynced
	return c, nil
}

// Run waits for the Job cache, then runs workers until ctx ends. It returns once every
// goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "ttlafterfinished")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting TTL after finished controller")
	defer logger.Info("Shutting down TTL after finished controller")
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.jobsSynced)
}

func (c *Controller) onJob(obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok || job.DeletionTimestamp != nil || !needsCleanup(job) {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(job); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.processJob(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Cleaning up Job failed, will retry", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// processJob deletes the Job if its TTL expired, or requeues it for when it will.
func (c *Controller) processJob(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("invalid job key %q: %w", key, err)
	}
	job, err := c.jobLister.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting job %s: %w", key, err)
	}
	if expired, err := c.processTTL(logger, key, job); err != nil || !expired {
		return err
	}
	// The cached TTL may be stale: decide on a fresh read.
	fresh, err := c.client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting job %s: %w", key, err)
	}
	if expired, err := c.processTTL(logger, key, fresh); err != nil || !expired {
		return err
	}
	policy := metav1.DeletePropagationForeground
	logger.V(4).Info("Cleaning up Job", "job", klog.KObj(fresh))
	err = c.client.BatchV1().Jobs(namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s: %w", key, err)
	}
	return nil
}

// processTTL reports whether job's TTL expired; if it expires later, it requeues key then.
func (c *Controller) processTTL(logger klog.Logger, key string, job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil || !needsCleanup(job) {
		return false, nil
	}
	finishedAt, err := finishTime(job)
	if err != nil {
		return false, err
	}
	now := c.clock.Now()
	if finishedAt.After(now) {
		logger.Info("Job finished in the future, likely clock skew; cleanup deferred", "job", klog.KObj(job))
	}
	left := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now)
	if left <= 0 {
		return true, nil
	}
	c.queue.AddAfter(key, left)
	return false, nil
}

// needsCleanup: the Job has a TTL and is finished.
func needsCleanup(job *batchv1.Job) bool {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return false
	}
	_, err := finishTime(job)
	return err == nil
}

// finishTime is the lastTransitionTime of the Job's Complete or Failed condition.
func finishTime(job *batchv1.Job) (time.Time, error) {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == v1.ConditionTrue {
			if cond.LastTransitionTime.IsZero() {
				return time.Time{}, fmt.Errorf("unable to find the time when the Job %s/%s finished", job.Namespace, job.Name)
			}
			return cond.LastTransitionTime.Time, nil
		}
	}
	return time.Time{}, fmt.Errorf("job %s/%s has not finished", job.Namespace, job.Name)
}
