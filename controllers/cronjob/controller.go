// Package cronjob creates the Jobs of batch/v1 CronJobs on their schedules, as upstream's
// CronJob controller (v2) does: one Job per schedule time, named NAME-<minutes since epoch>,
// in the CronJob's time zone, honouring startingDeadlineSeconds, concurrencyPolicy, suspend
// and the history limits, keeping status.active, lastScheduleTime and lastSuccessfulTime, and
// waking up at the next schedule time through its workqueue.
package cronjob

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the event source of the controller, as upstream names it.
const ComponentName = "cronjob-controller"

// Controller reconciles CronJobs with the Jobs they own.
type Controller struct {
	client         kubernetes.Interface
	recorder       record.EventRecorder
	clock          clock.WithTicker
	cronJobLister  batchlisters.CronJobLister
	jobLister      batchlisters.JobLister
	cronJobsSynced cache.InformerSynced
	jobsSynced     cache.InformerSynced
	queue          workqueue.TypedRateLimitingInterface[string]
}

// New builds the CronJob controller on factory's CronJob and Job informers, on the real
// clock. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New on the given clock: schedule times are computed from clk.Now() and the
// workqueue waits for the next schedule time on clk (a fake clock in tests).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.WithTicker) (*Controller, error) {
	c := &Controller{
		client:   client,
		recorder: recorder,
		clock:    clk,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: clk}),
	}
	cronJobs := factory.Batch().V1().CronJobs()
	if _, err := cronJobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateCronJob,
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("registering cronjob event handler: %w", err)
	}
	jobs := factory.Batch().V1().Jobs()
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(oldObj, newObj any) {
			oldJob, ok1 := oldObj.(*batchv1.Job)
			newJob, ok2 := newObj.(*batchv1.Job)
			if !ok1 || !ok2 || oldJob.ResourceVersion == newJob.ResourceVersion {
				return
			}
			if o, n := metav1.GetControllerOf(oldJob), metav1.GetControllerOf(newJob); o != nil && (n == nil || o.UID != n.UID) {
				c.jobChanged(oldJob)
			}
			c.jobChanged(newJob)
		},
		DeleteFunc: c.jobChanged,
	}); err != nil {
		return nil, fmt.Errorf("registering job event handler for cronjobs: %w", err)
	}
	c.cronJobLister = cronJobs.Lister()
	c.jobLister = jobs.Lister()
	c.cronJobsSynced = cronJobs.Informer().HasSynced
	c.jobsSynced = jobs.Informer().HasSynced
	return c, nil
}

// Run waits for the informers' caches, then runs workers until ctx ends. It returns once
// every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "cronjob")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting controller")
	defer logger.Info("Shut down controller")
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.cronJobsSynced, c.jobsSynced)
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	after, err := c.sync(ctx, key)
	switch {
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "cronjob", key)
		c.queue.AddRateLimited(key)
	case after != nil:
		c.queue.Forget(key)
		c.queue.AddAfter(key, *after)
	default:
		c.queue.Forget(key)
	}
	return true
}

// --- event handlers ---

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("key of cronjob %#v: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

// updateCronJob syncs at once, unless the schedule or time zone changed: then the CronJob is
// queued for its new next schedule time (a sooner time wins in the queue; a later one finds
// nothing to do at the old time).
func (c *Controller) updateCronJob(oldObj, newObj any) {
	oldCJ, ok1 := oldObj.(*batchv1.CronJob)
	newCJ, ok2 := newObj.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return
	}
	if oldCJ.Spec.Schedule == newCJ.Spec.Schedule && ptr.Equal(oldCJ.Spec.TimeZone, newCJ.Spec.TimeZone) {
		c.enqueue(newCJ)
		return
	}
	sched, err := parseSchedule(newCJ, nil)
	if err != nil {
		klog.V(2).InfoS("Unparseable schedule", "cronjob", klog.KObj(newCJ), "schedule", newCJ.Spec.Schedule, "err", err)
		c.recorder.Eventf(newCJ, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "unparseable schedule for cronjob: %s", newCJ.Spec.Schedule)
		return
	}
	if d := requeueAfter(newCJ, c.clock.Now(), sched); d != nil {
		c.queue.AddAfter(keyOf(newCJ), *d)
	}
}

// jobChanged queues the CronJob controlling a Job.
func (c *Controller) jobChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return
	}
	if cj := c.resolve(job.Namespace, ref.Name, ref.UID); cj != nil {
		c.queue.Add(keyOf(cj))
	}
}

// resolve returns the CronJob name, if it is still the object with uid.
func (c *Controller) resolve(namespace, name string, uid types.UID) *batchv1.CronJob {
	cj, err := c.cronJobLister.CronJobs(namespace).Get(name)
	if err != nil || cj.UID != uid {
		return nil
	}
	return cj
}

func keyOf(cj *batchv1.CronJob) string { return cj.Namespace + "/" + cj.Name }

// now is the controller's clock, for schedule computations.
func (c *Controller) now() time.Time { return c.clock.Now() }
