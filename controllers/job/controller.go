// Package job runs batch/v1 Jobs to completion as upstream's job controller does: it creates
// pods from the template up to parallelism (with a completion index for Indexed Jobs), tracks
// finished pods with the batch.kubernetes.io/job-tracking finalizer and
// status.uncountedTerminatedPods so each is counted exactly once, delays replacements of failed
// pods with an exponential back-off, and ends the Job with the interim SuccessCriteriaMet or
// FailureTarget condition followed by Complete or Failed (BackoffLimitExceeded,
// DeadlineExceeded, PodFailurePolicy). Suspended Jobs have their active pods deleted.
package job

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/expectations"
	"github.com/kubeshim/kubeshim/controllers/podcontrol"
	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the event source upstream's Job controller records as.
const ComponentName = "job-controller"

// Tunables, upstream's values.
var (
	// SyncBatchPeriod delays syncs caused by pod events, so a burst of them makes one sync.
	SyncBatchPeriod = time.Second
	// DefaultPodFailureBackOff is the delay before the first replacement of a failed pod; it
	// doubles with every further consecutive failure.
	DefaultPodFailureBackOff = 10 * time.Second
	// MaxPodFailureBackOff caps that delay (upstream's MaxJobPodFailureBackOff).
	MaxPodFailureBackOff = 10 * time.Minute
	// MaxUncountedPods bounds status.uncountedTerminatedPods.
	MaxUncountedPods = 500
	// MaxPodCreateDeletePerSync bounds the pods created or deleted in one sync.
	MaxPodCreateDeletePerSync = 500
)

const (
	apiBackOff    = time.Second
	maxAPIBackOff = time.Minute
	// jobControllerName is the spec.managedBy value of Jobs this controller manages.
	jobControllerName = "kubernetes.io/job-controller"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller reconciles Jobs with their pods.
type Controller struct {
	client     kubernetes.Interface
	recorder   record.EventRecorder
	podControl podControl

	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	jobsSynced cache.InformerSynced
	podsSynced cache.InformerSynced

	expectations          *expectations.Expectations
	finalizerExpectations *uidExpectations
	backoff               *backoffStore

	// queue holds Job keys; orphanQueue holds keys of pods whose tracking finalizer no
	// Job will remove (their Job is gone or finished, or they were released).
	queue       workqueue.TypedRateLimitingInterface[string]
	orphanQueue workqueue.TypedRateLimitingInterface[string]

	clock       clock.WithTicker
	batchPeriod time.Duration

	// Replaceable in tests.
	syncHandler         func(ctx context.Context, key string) error
	updateStatusHandler func(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error)
}

// New builds the Job controller on factory's Job and Pod informers. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	return newWithClock(client, factory, recorder, clock.RealClock{})
}

func newWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.WithTicker) (*Controller, error) {
	limiter := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[string](apiBackOff, maxAPIBackOff)
	}
	c := &Controller{
		client:                client,
		recorder:              recorder,
		podControl:            realPodControl{client: client, recorder: recorder},
		expectations:          expectations.New(clk),
		finalizerExpectations: newUIDExpectations(),
		backoff:               newBackoffStore(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: clk}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job_orphan_pod", Clock: clk}),
		clock:       clk,
		batchPeriod: SyncBatchPeriod,
	}
	c.syncHandler = c.syncJob
	c.updateStatusHandler = c.updateJobStatus

	jobs := factory.Batch().V1().Jobs()
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("adding Job event handler: %w", err)
	}
	c.jobLister = jobs.Lister()
	c.jobsSynced = jobs.Informer().HasSynced

	pods := factory.Core().V1().Pods()
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) { c.deletePod(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("adding Pod event handler for jobs: %w", err)
	}
	c.podLister = pods.Lister()
	c.podsSynced = pods.Informer().HasSynced
	return c, nil
}

// Run waits for the informers' caches, then runs workers on the Job queue and one worker on
// the orphan-pod queue until ctx ends. It returns once every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "job")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting job controller")
	defer logger.Info("Shutting down job controller")
	var wg sync.WaitGroup
	wg.Go(func() {
		worker.Run(ctx, 1, c.orphanQueue, c.processNextOrphanPod, c.podsSynced, c.jobsSynced)
	})
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.podsSynced, c.jobsSynced)
	wg.Wait()
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncHandler(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing job failed", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Controller) processNextOrphanPod(ctx context.Context) bool {
	key, quit := c.orphanQueue.Get()
	if quit {
		return false
	}
	defer c.orphanQueue.Done(key)
	if err := c.syncOrphanPod(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Removing the tracking finalizer of an orphan pod failed", "pod", key)
		c.orphanQueue.AddRateLimited(key)
		return true
	}
	c.orphanQueue.Forget(key)
	return true
}

// --- enqueueing ---

func keyOf(obj any) (string, bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("couldn't get key for %T: %w", obj, err))
		return "", false
	}
	return key, true
}

func (c *Controller) enqueueAfter(obj any, delay time.Duration) {
	if key, ok := keyOf(obj); ok {
		c.queue.AddAfter(key, delay)
	}
}

// enqueueBatched is for pod events and Job status updates.
func (c *Controller) enqueueBatched(obj any) { c.enqueueAfter(obj, c.batchPeriod) }

// enqueueWithDelay is for back-off: never sooner than the batch period.
func (c *Controller) enqueueWithDelay(obj any, delay time.Duration) {
	c.enqueueAfter(obj, max(delay, c.batchPeriod))
}

func (c *Controller) enqueueOrphanPod(pod *v1.Pod) {
	if key, ok := keyOf(pod); ok {
		c.orphanQueue.Add(key)
	}
}

// --- Job events ---

func managedByExternalController(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != jobControllerName
}

func (c *Controller) addJob(obj any) { c.enqueueAfter(obj, 0) }

func (c *Controller) updateJob(oldObj, curObj any) {
	oldJob, ok1 := oldObj.(*batchv1.Job)
	curJob, ok2 := curObj.(*batchv1.Job)
	if !ok1 || !ok2 {
		return
	}
	if curJob.Generation == oldJob.Generation {
		c.enqueueBatched(curJob)
	} else {
		c.enqueueAfter(curJob, 0) // spec changed: sync at once
	}
	if isJobFinished(curJob) {
		// A finished Job's pods must lose their finalizer; this is the backstop.
		c.cleanupPodFinalizers(curJob)
	}
	// A new or changed activeDeadlineSeconds needs its own wake-up.
	if curJob.Status.StartTime != nil && curJob.Spec.ActiveDeadlineSeconds != nil {
		oldADS := oldJob.Spec.ActiveDeadlineSeconds
		if oldADS == nil || *oldADS != *curJob.Spec.ActiveDeadlineSeconds {
			total := time.Duration(*curJob.Spec.ActiveDeadlineSeconds) * time.Second
			c.enqueueAfter(curJob, total-c.clock.Since(curJob.Status.StartTime.Time))
		}
	}
}

func (c *Controller) deleteJob(obj any) {
	c.enqueueAfter(obj, 0)
	job, ok := obj.(*batchv1.Job)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if job, ok = t.Obj.(*batchv1.Job); !ok {
			return
		}
	}
	c.cleanupPodFinalizers(job)
}

// cleanupPodFinalizers queues every pod of job that still has the tracking finalizer.
func (c *Controller) cleanupPodFinalizers(job *batchv1.Job) {
	pods, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pod := range pods {
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(pod) {
			c.enqueueOrphanPod(pod)
		}
	}
}

// --- Pod events ---

// resolveControllerRef returns the Job ref names, if it still is the same object.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	job, _ := podcontrol.ResolveControllerRef(ref, controllerKind, c.jobLister.Jobs(namespace).Get)
	return job
}

// jobsSelecting returns the Jobs whose selector matches an orphan pod.
func (c *Controller) jobsSelecting(pod *v1.Pod) []*batchv1.Job {
	jobs, err := c.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return podcontrol.Selecting(jobs, func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector }, pod.Labels)
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// Seen for the first time while already terminating (e.g. after a restart).
		c.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job == nil {
			return
		}
		if key, ok := keyOf(job); ok {
			c.expectations.CreationObserved(klog.Background(), key)
		}
		c.enqueueBatched(job)
		return
	}
	if hasTrackingFinalizer(pod) {
		c.enqueueOrphanPod(pod)
	}
	for _, job := range c.jobsSelecting(pod) {
		c.enqueueBatched(job)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	oldPod, ok1 := oldObj.(*v1.Pod)
	curPod, ok2 := curObj.(*v1.Pod)
	if !ok1 || !ok2 || oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion started: replacements need not wait for the kubelet.
		c.deletePod(curPod, false)
		return
	}
	finalizerRemoved := !hasTrackingFinalizer(curPod)
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !sameRef(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := c.resolveControllerRef(oldPod.Namespace, oldRef); job != nil {
			if finalizerRemoved {
				if key, ok := keyOf(job); ok {
					c.finalizerExpectations.observed(key, string(curPod.UID))
				}
			}
			c.enqueueBatched(job)
		}
	}
	if curRef != nil {
		job := c.resolveControllerRef(curPod.Namespace, curRef)
		if job == nil {
			return
		}
		if finalizerRemoved {
			if key, ok := keyOf(job); ok {
				c.finalizerExpectations.observed(key, string(curPod.UID))
			}
		}
		c.enqueueBatched(job)
		return
	}
	if hasTrackingFinalizer(curPod) {
		c.enqueueOrphanPod(curPod)
	}
	if refChanged || !labels.Equals(curPod.Labels, oldPod.Labels) {
		for _, job := range c.jobsSelecting(curPod) {
			c.enqueueBatched(job)
		}
	}
}

func sameRef(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID && a.Kind == b.Kind && a.Name == b.Name && a.APIVersion == b.APIVersion
}

// deletePod handles a pod that is gone (final) or that started terminating.
func (c *Controller) deletePod(obj any, final bool) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = t.Obj.(*v1.Pod); !ok {
			return
		}
	}
	hasFinalizer := hasTrackingFinalizer(pod)
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		// Its Job may have been deleted with orphaning: nobody else removes the finalizer.
		if hasFinalizer {
			c.enqueueOrphanPod(pod)
		}
		return
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isJobFinished(job) {
		if hasFinalizer {
			c.enqueueOrphanPod(pod)
		}
		return
	}
	key, ok := keyOf(job)
	if !ok {
		return
	}
	c.expectations.DeletionObserved(klog.Background(), key, podKey(pod))
	if final || !hasFinalizer {
		c.finalizerExpectations.observed(key, string(pod.UID))
	}
	c.enqueueBatched(job)
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// syncOrphanPod removes the tracking finalizer from a pod no running Job of ours controls.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("invalid pod key %q: %w", key, err)
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting pod %s: %w", key, err)
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
			return nil // not a Job's: not ours to touch
		}
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job != nil && managedByExternalController(job) {
			return nil
		}
		if job != nil && !isJobFinished(job) {
			return nil // its Job counts it
		}
	}
	patch := removeTrackingFinalizerPatch(pod)
	if patch == nil {
		return nil
	}
	if err := c.podControl.PatchPod(ctx, namespace, name, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the tracking finalizer of orphan pod %s: %w", key, err)
	}
	return nil
}
