// Package scheduler is kubeshim's default scheduler: it binds each pending pod whose
// schedulerName is "default-scheduler" to a node, filtering and scoring nodes as kube-scheduler's
// default profile does for the plugins it implements, and reports unschedulable pods with
// upstream's PodScheduled condition and FailedScheduling event.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

const (
	// SchedulerName is the spec.schedulerName of the pods this scheduler takes.
	SchedulerName = corev1.DefaultSchedulerName

	// DefaultInitialBackoff and DefaultMaxBackoff bound the per-pod exponential back-off between
	// attempts for a pod that could not be scheduled (and for API errors). A node added or
	// changed, or a pod deleted or finished, retries every pending pod at once regardless.
	DefaultInitialBackoff = 1 * time.Second
	DefaultMaxBackoff     = 60 * time.Second
)

// Option changes a Controller built by New.
type Option func(*options)

type options struct {
	initialBackoff, maxBackoff time.Duration
}

// WithBackoff sets the per-pod retry back-off (initial delay, doubling up to max).
func WithBackoff(initial, maxDelay time.Duration) Option {
	return func(o *options) { o.initialBackoff, o.maxBackoff = initial, maxDelay }
}

// Controller is the scheduler.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder

	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	podsSynced  cache.InformerSynced
	nodesSynced cache.InformerSynced

	// queue holds "namespace/name" keys of pending pods.
	queue workqueue.TypedRateLimitingInterface[string]

	// scheduleMu makes choosing a node and assuming the pod there one step, so concurrent
	// workers see each other's choices.
	scheduleMu sync.Mutex
	assumed    *assumedPods
}

// New builds the scheduler from shared informers (pods and nodes); it does not start the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) (*Controller, error) {
	o := options{initialBackoff: DefaultInitialBackoff, maxBackoff: DefaultMaxBackoff}
	for _, opt := range opts {
		opt(&o)
	}
	podInformer := factory.Core().V1().Pods()
	nodeInformer := factory.Core().V1().Nodes()
	c := &Controller{
		client:      client,
		recorder:    recorder,
		podLister:   podInformer.Lister(),
		nodeLister:  nodeInformer.Lister(),
		podsSynced:  podInformer.Informer().HasSynced,
		nodesSynced: nodeInformer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](o.initialBackoff, o.maxBackoff),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"},
		),
		assumed: newAssumedPods(),
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("adding pod event handler: %w", err)
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.retryPending() },
		UpdateFunc: c.updateNode,
		// A node going away makes no pending pod schedulable.
	}); err != nil {
		return nil, fmt.Errorf("adding node event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends; it waits for the informers' caches first and returns when
// every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting scheduler", "schedulerName", SchedulerName)
	defer logger.Info("Shutting down scheduler")
	worker.Run(ctx, workers, c.queue, c.processNextItem, c.podsSynced, c.nodesSynced)
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)

	err := c.schedule(ctx, key)
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.Is(err, errUnschedulable):
		c.queue.AddRateLimited(key)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Scheduling pod failed, will retry", "pod", key)
		c.queue.AddRateLimited(key)
	}
	return true
}

// errUnschedulable marks a pod that no node can take now: retried with back-off, not logged as
// an error.
var errUnschedulable = errors.New("pod is unschedulable")

// schedule makes one attempt to place the pod with the given key.
func (c *Controller) schedule(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made; nothing to retry
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting pod %s from cache: %w", key, err)
	}
	if !isPending(pod) || c.assumed.has(pod.UID) {
		return nil
	}

	node, nodes, results, err := c.findNode(pod)
	if err != nil {
		return err
	}
	if node == "" {
		msg := unschedulableMessage(pod, nodes, results)
		logger.V(2).Info("Unable to schedule pod", "pod", klog.KObj(pod), "reason", msg)
		if err := c.recordUnschedulable(ctx, pod, msg); err != nil {
			return err
		}
		return errUnschedulable
	}
	return c.bind(ctx, pod, node)
}

// findNode picks a node for the pod and assumes the pod there. With no feasible node it returns
// "" and, for the message, every node with its filter result.
func (c *Controller) findNode(pod *corev1.Pod) (string, []*nodeInfo, []filterResult, error) {
	c.scheduleMu.Lock()
	defer c.scheduleMu.Unlock()

	nodes, err := c.snapshot()
	if err != nil {
		return "", nil, nil, err
	}
	var feasible []*nodeInfo
	results := make([]filterResult, len(nodes))
	for i, n := range nodes {
		results[i] = runFilters(pod, n)
		if results[i].fits() {
			feasible = append(feasible, n)
		}
	}
	if len(feasible) == 0 {
		return "", nodes, results, nil
	}
	node := pickNode(pod, feasible)
	c.assumed.assume(pod, node)
	return node, nodes, results, nil
}

// snapshot builds the node infos from the listers plus the assumed pods.
func (c *Controller) snapshot() ([]*nodeInfo, error) {
	nodeList, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing nodes from cache: %w", err)
	}
	infos := make(map[string]*nodeInfo, len(nodeList))
	nodes := make([]*nodeInfo, 0, len(nodeList))
	for _, n := range nodeList {
		ni := newNodeInfo(n)
		infos[n.Name] = ni
		nodes = append(nodes, ni)
	}
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods from cache: %w", err)
	}
	bound := make(map[string]bool, len(pods))
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			continue
		}
		bound[string(p.UID)] = true
		if isTerminal(p) {
			continue
		}
		if ni := infos[p.Spec.NodeName]; ni != nil {
			ni.addPod(p)
		}
	}
	for _, p := range c.assumed.list() {
		if bound[string(p.UID)] {
			// The informer caught up between the event handler and now.
			continue
		}
		if ni := infos[p.Spec.NodeName]; ni != nil {
			ni.addPod(p)
		}
	}
	return nodes, nil
}

// bind writes the binding through pods/binding and records the Scheduled event.
func (c *Controller) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	logger := klog.FromContext(ctx)
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	switch {
	case err == nil:
		logger.V(2).Info("Successfully bound pod to node", "pod", klog.KObj(pod), "node", node)
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
		return nil
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err):
		// Already bound (by someone else, or by an earlier attempt whose answer was lost), or
		// gone: nothing left to do for this pod. The informer will show its real state.
		c.assumed.forget(pod.UID)
		c.retryPendingExcept(pod.UID)
		logger.V(2).Info("Binding was refused, not retrying", "pod", klog.KObj(pod), "node", node, "err", err)
		return nil
	default:
		c.assumed.forget(pod.UID)
		c.retryPendingExcept(pod.UID)
		return fmt.Errorf("binding pod %s/%s to node %s: %w", pod.Namespace, pod.Name, node, err)
	}
}

// recordUnschedulable sets the PodScheduled=False/Unschedulable condition (pods/status) and emits
// the FailedScheduling event.
func (c *Controller) recordUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	c.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)

	cond := corev1.PodCondition{
		Type:    corev1.PodScheduled,
		Status:  corev1.ConditionFalse,
		Reason:  corev1.PodReasonUnschedulable,
		Message: msg,
	}
	updated := pod.DeepCopy()
	if !setCondition(&updated.Status, cond, metav1.Now()) {
		return nil
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating PodScheduled condition of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// setCondition puts the condition into the status and reports whether anything changed; the
// transition time moves only when the condition's status does.
func setCondition(status *corev1.PodStatus, cond corev1.PodCondition, now metav1.Time) bool {
	for i := range status.Conditions {
		existing := &status.Conditions[i]
		if existing.Type != cond.Type {
			continue
		}
		if existing.Status == cond.Status && existing.Reason == cond.Reason && existing.Message == cond.Message {
			return false
		}
		if existing.Status != cond.Status {
			existing.LastTransitionTime = now
		}
		existing.Status, existing.Reason, existing.Message = cond.Status, cond.Reason, cond.Message
		existing.LastProbeTime = metav1.Time{}
		return true
	}
	cond.LastTransitionTime = now
	status.Conditions = append(status.Conditions, cond)
	return true
}

// isPending reports whether the pod is this scheduler's to place now.
func isPending(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		pod.DeletionTimestamp == nil &&
		(pod.Spec.SchedulerName == SchedulerName || pod.Spec.SchedulerName == "") &&
		!isTerminal(pod) &&
		len(pod.Spec.SchedulingGates) == 0
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (c *Controller) enqueue(pod *corev1.Pod) {
	key, err := cache.MetaNamespaceKeyFunc(pod)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// retryPending queues every pending pod at once, past its back-off: something happened that may
// make it schedulable.
func (c *Controller) retryPending() { c.retryPendingExcept("") }

// retryPendingExcept is retryPending but for one pod, which keeps its back-off: after a failed
// binding the slot it held is free for the others, while it must not loop on its own failure.
func (c *Controller) retryPendingExcept(skip types.UID) {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("listing pods from cache: %w", err))
		return
	}
	for _, p := range pods {
		if isPending(p) && p.UID != skip {
			c.enqueue(p)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Spec.NodeName != "" {
		c.assumed.forget(pod.UID)
		return
	}
	if isPending(pod) {
		c.enqueue(pod)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	if pod.Spec.NodeName != "" {
		c.assumed.forget(pod.UID)
		if !isTerminal(oldPod) && isTerminal(pod) {
			// A finished pod frees what it requested.
			c.retryPending()
		}
		return
	}
	if !isPending(pod) {
		return
	}
	// A status-only change (our own PodScheduled condition among them) must not bypass the
	// back-off; a change of what the pod asks for, or becoming pending, is worth a prompt retry.
	if !isPending(oldPod) || !apiequality.Semantic.DeepEqual(oldPod.Spec, pod.Spec) ||
		!apiequality.Semantic.DeepEqual(oldPod.Labels, pod.Labels) {
		c.enqueue(pod)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tombstone.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	wasAssumed := c.assumed.has(pod.UID)
	c.assumed.forget(pod.UID)
	if pod.Spec.NodeName != "" || wasAssumed {
		// The pod's node has room again.
		c.retryPending()
	}
}

// updateNode retries pending pods when something the filters look at changed; the kubelet's
// periodic status heartbeats alone do not.
func (c *Controller) updateNode(oldObj, newObj any) {
	oldNode, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	if nodeSchedulingChanged(oldNode, node) {
		c.retryPending()
	}
}

func nodeSchedulingChanged(oldNode, node *corev1.Node) bool {
	return oldNode.Spec.Unschedulable != node.Spec.Unschedulable ||
		!apiequality.Semantic.DeepEqual(oldNode.Labels, node.Labels) ||
		!apiequality.Semantic.DeepEqual(oldNode.Spec.Taints, node.Spec.Taints) ||
		!apiequality.Semantic.DeepEqual(oldNode.Status.Allocatable, node.Status.Allocatable) ||
		readyStatus(oldNode) != readyStatus(node)
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}
