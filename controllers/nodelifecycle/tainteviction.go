package nodelifecycle

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// TaintEvictionComponentName is the event source of the taint eviction controller, as upstream.
const TaintEvictionComponentName = "taint-eviction-controller"

// eviction is a pod's scheduled deletion: when it was decided and when it is due.
type eviction struct {
	createdAt time.Time
	fireAt    time.Time
}

// TaintEvictionController deletes pods from nodes with NoExecute taints they do not tolerate
// (at once), or tolerate only for a while (when the shortest tolerationSeconds runs out).
type TaintEvictionController struct {
	client     kubernetes.Interface
	recorder   record.EventRecorder
	clock      clock.WithTicker
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[types.NamespacedName]

	mu        sync.Mutex
	scheduled map[types.NamespacedName]eviction
}

// NewTaintEviction builds the taint eviction controller on factory's Pod and Node informers. It
// does not start factory. clk nil is the real clock.
func NewTaintEviction(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.WithTicker) (*TaintEvictionController, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	c := &TaintEvictionController{
		client:   client,
		recorder: recorder,
		clock:    clk,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "taint_eviction", Clock: clk}),
		scheduled: map[types.NamespacedName]eviction{},
	}
	pods := factory.Core().V1().Pods()
	if err := addPodNodeNameIndexer(pods.Informer()); err != nil {
		return nil, err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podUpdated(nil, obj) },
		UpdateFunc: c.podUpdated,
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				c.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("registering pod event handler: %w", err)
	}
	nodes := factory.Core().V1().Nodes()
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeUpdated(nil, obj) },
		UpdateFunc: c.nodeUpdated,
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			c.nodeUpdated(nil, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("registering node event handler: %w", err)
	}
	c.podLister = pods.Lister()
	c.podIndexer = pods.Informer().GetIndexer()
	c.nodeLister = nodes.Lister()
	c.synced = []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced}
	return c, nil
}

// Run waits for the informers' caches, then runs workers until ctx ends. It returns once every
// goroutine it started has stopped.
func (c *TaintEvictionController) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", TaintEvictionComponentName)
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting controller")
	defer logger.Info("Shut down controller")
	if workers <= 0 {
		workers = 1
	}
	worker.Run(ctx, workers, c.queue, c.processNext, c.synced...)
}

func (c *TaintEvictionController) podUpdated(oldObj, newObj any) {
	pod, ok := newObj.(*v1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if old, ok := oldObj.(*v1.Pod); ok && old.Spec.NodeName == pod.Spec.NodeName &&
		apiequality.Semantic.DeepEqual(old.Spec.Tolerations, pod.Spec.Tolerations) {
		return
	}
	c.queue.Add(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
}

// nodeUpdated queues the pods of a node whose NoExecute taints changed (or that came or went).
func (c *TaintEvictionController) nodeUpdated(oldObj, newObj any) {
	node, ok := newObj.(*v1.Node)
	if !ok {
		return
	}
	if old, ok := oldObj.(*v1.Node); ok &&
		apiequality.Semantic.DeepEqual(noExecuteTaints(old.Spec.Taints), noExecuteTaints(node.Spec.Taints)) {
		return
	}
	pods, err := podsOnNode(c.podIndexer, node.Name)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, p := range pods {
		c.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
}

func (c *TaintEvictionController) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Taint eviction failed", "pod", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync decides a pod's fate from its node's NoExecute taints: nothing, deletion now, or
// deletion when its shortest matching tolerationSeconds has run out.
func (c *TaintEvictionController) sync(ctx context.Context, key types.NamespacedName) error {
	pod, err := c.podLister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		// Not on a node, or already being deleted.
		c.forget(key)
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		c.cancel(key)
		return nil
	}
	now := c.clock.Now()
	tolerated, used := matchingTolerations(klog.FromContext(ctx), taints, pod.Spec.Tolerations)
	if !tolerated {
		klog.FromContext(ctx).V(2).Info("Not all NoExecute taints are tolerated: deleting pod", "pod", klog.KObj(pod), "node", node.Name)
		c.mu.Lock()
		c.scheduled[key] = eviction{createdAt: now, fireAt: now}
		c.mu.Unlock()
		return c.evict(ctx, pod)
	}
	minToleration := minTolerationTime(used)
	if minToleration < 0 {
		// Tolerated forever.
		c.cancel(key)
		return nil
	}
	c.mu.Lock()
	e, ok := c.scheduled[key]
	if !ok {
		// An eviction already scheduled is kept, as upstream: its clock started when the
		// taint was first seen.
		e = eviction{createdAt: now, fireAt: now.Add(minToleration)}
		c.scheduled[key] = e
	}
	c.mu.Unlock()
	if now.Before(e.fireAt) {
		c.queue.AddAfter(key, e.fireAt.Sub(now))
		return nil
	}
	return c.evict(ctx, pod)
}

// cancel drops a scheduled eviction, with upstream's event when there was one.
func (c *TaintEvictionController) cancel(key types.NamespacedName) {
	if c.forget(key) {
		c.recorder.Eventf(podRef(key), v1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
	}
}

func (c *TaintEvictionController) forget(key types.NamespacedName) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.scheduled[key]
	delete(c.scheduled, key)
	return ok
}

// evict marks the pod with the DisruptionTarget condition and deletes it. The scheduled entry
// stays until it succeeds, so a retry deletes at once.
func (c *TaintEvictionController) evict(ctx context.Context, pod *v1.Pod) error {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	klog.FromContext(ctx).Info("Deleting pod", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
	c.recorder.Eventf(podRef(key), v1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	pods := c.client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID {
			return apierrors.NewNotFound(v1.Resource("pods"), pod.Name)
		}
		if !setDisruptionTarget(&cur.Status, metav1.NewTime(c.clock.Now())) {
			return nil
		}
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err == nil {
		err = pods.Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or replaced by a new pod of the same name.
		err = nil
	}
	if err != nil {
		return fmt.Errorf("evicting pod %s: %w", key, err)
	}
	c.forget(key)
	return nil
}

// setDisruptionTarget sets the DisruptionTarget condition the taint manager puts on the pods it
// deletes; false when it is already there.
func setDisruptionTarget(status *v1.PodStatus, now metav1.Time) bool {
	want := v1.PodCondition{
		Type:    v1.DisruptionTarget,
		Status:  v1.ConditionTrue,
		Reason:  "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint",
	}
	for i := range status.Conditions {
		cond := &status.Conditions[i]
		if cond.Type != want.Type {
			continue
		}
		if cond.Status == want.Status && cond.Reason == want.Reason && cond.Message == want.Message {
			return false
		}
		if cond.Status != want.Status {
			cond.LastTransitionTime = now
		}
		cond.Status, cond.Reason, cond.Message = want.Status, want.Reason, want.Message
		return true
	}
	want.LastTransitionTime = now
	status.Conditions = append(status.Conditions, want)
	return true
}

func noExecuteTaints(taints []v1.Taint) []v1.Taint {
	out := []v1.Taint{}
	for _, t := range taints {
		if t.Effect == v1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// matchingTolerations reports whether every taint is tolerated, and the tolerations used.
func matchingTolerations(logger klog.Logger, taints []v1.Taint, tolerations []v1.Toleration) (bool, []v1.Toleration) {
	if len(taints) == 0 {
		return true, nil
	}
	var used []v1.Toleration
	for i := range taints {
		found := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(logger, &taints[i], false) {
				used = append(used, tolerations[j])
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, used
}

// minTolerationTime is the shortest tolerationSeconds of tolerations (0 if any is not
// positive), or -1 when none sets one (tolerated forever).
func minTolerationTime(tolerations []v1.Toleration) time.Duration {
	if len(tolerations) == 0 {
		return 0
	}
	minSeconds := int64(math.MaxInt64)
	for _, t := range tolerations {
		if t.TolerationSeconds == nil {
			continue
		}
		if *t.TolerationSeconds <= 0 {
			return 0
		}
		minSeconds = min(minSeconds, *t.TolerationSeconds)
	}
	if minSeconds == math.MaxInt64 {
		return -1
	}
	return time.Duration(minSeconds) * time.Second
}

func podRef(key types.NamespacedName) *v1.ObjectReference {
	return &v1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: key.Namespace, Name: key.Name}
}
