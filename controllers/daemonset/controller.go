// Package daemonset runs one pod of every apps/v1 DaemonSet on each node it fits, as
// upstream's daemon controller does: the node must match the template's nodeSelector and
// required node affinity, and the pod (with upstream's default daemon tolerations) must
// tolerate the node's NoSchedule and NoExecute taints. Pods are bound to their node through
// node affinity (matchFields metadata.name In [node]) and placed by the scheduler. Template
// changes roll out with RollingUpdate (maxUnavailable, maxSurge) or OnDelete; status carries
// the numbers `kubectl rollout status ds/NAME` follows.
//
// kubeshim serves no ControllerRevisions: the current template is identified by the
// controller-revision-hash label, a hash of the template, instead of a revision object.
package daemonset

import (
	"context"
	"fmt"
	"sync"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/expectations"
	"github.com/kubeshim/kubeshim/controllers/podcontrol"
	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the event source upstream's daemon controller uses.
const ComponentName = "daemonset-controller"

const (
	// BurstReplicas caps the pods created or deleted in one sync.
	BurstReplicas = 250
	// statusUpdateRetries is how often a conflicting status update is retried.
	statusUpdateRetries = 1
	// failed pods on a node are deleted with this back-off.
	failedPodBackoffInitial = time.Second
	failedPodBackoffMax     = 15 * time.Minute
	backoffGCInterval       = time.Minute
)

// Event reasons, as upstream.
const (
	SelectingAllReason       = "SelectingAll"
	FailedDaemonPodReason    = "FailedDaemonPod"
	SucceededDaemonPodReason = "SucceededDaemonPod"
)

var controllerKind = apps.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets with their pods and the nodes.
type Controller struct {
	client     kubernetes.Interface
	recorder   record.EventRecorder
	podControl podcontrol.Interface

	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced

	// Expected pod creations and deletions per DaemonSet key: two records, because one sync
	// may both create and delete (a surge, or pods on a node that no longer fits).
	creations *expectations.Expectations
	deletions *expectations.Expectations

	queue             workqueue.TypedRateLimitingInterface[string]
	clock             clock.Clock
	failedPodsBackoff *flowcontrol.Backoff
	burst             int

	// syncHandler is the reconcile function; tests replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New builds the DaemonSet controller on factory's DaemonSet, Pod and Node informers. It does
// not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	c := &Controller{
		client:     client,
		recorder:   recorder,
		podControl: podcontrol.Real{Client: client, Recorder: recorder},
		creations:  expectations.New(nil),
		deletions:  expectations.New(nil),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		clock:             clock.RealClock{},
		failedPodsBackoff: flowcontrol.NewBackOff(failedPodBackoffInitial, failedPodBackoffMax),
		burst:             BurstReplicas,
	}
	c.syncHandler = c.sync

	dsInformer := factory.Apps().V1().DaemonSets()
	if _, err := dsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addDaemonSet,
		UpdateFunc: c.updateDaemonSet,
		DeleteFunc: c.deleteDaemonSet,
	}); err != nil {
		return nil, fmt.Errorf("registering DaemonSet event handler: %w", err)
	}
	podInformer := factory.Core().V1().Pods()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("registering pod event handler for DaemonSets: %w", err)
	}
	nodeInformer := factory.Core().V1().Nodes()
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	}); err != nil {
		return nil, fmt.Errorf("registering node event handler for DaemonSets: %w", err)
	}
	c.dsLister = dsInformer.Lister()
	c.podLister = podInformer.Lister()
	c.nodeLister = nodeInformer.Lister()
	c.synced = []cache.InformerSynced{dsInformer.Informer().HasSynced, podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced}
	return c, nil
}

// Run waits for the informers' caches, then runs workers until ctx ends. It returns once
// every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "daemonset")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting controller")
	defer logger.Info("Shut down controller")

	var wg sync.WaitGroup
	wg.Go(func() {
		wait.UntilWithContext(ctx, func(context.Context) { c.failedPodsBackoff.GC() }, backoffGCInterval)
	})
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.synced...)
	wg.Wait()
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncHandler(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "daemonset", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// --- expectations ---

func (c *Controller) satisfied(logger klog.Logger, key string) bool {
	// Both are evaluated: each logs its state.
	a := c.creations.Satisfied(logger, key)
	b := c.deletions.Satisfied(logger, key)
	return a && b
}

func (c *Controller) forgetExpectations(logger klog.Logger, key string) {
	c.creations.Delete(logger, key)
	c.deletions.Delete(logger, key)
}

// --- event handlers ---

func keyOf(ds *apps.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueue(ds *apps.DaemonSet) { c.queue.Add(keyOf(ds)) }

func (c *Controller) enqueueAfter(ds *apps.DaemonSet, d time.Duration) {
	c.queue.AddAfter(keyOf(ds), d)
}

func (c *Controller) addDaemonSet(obj any) {
	ds := obj.(*apps.DaemonSet)
	klog.V(4).InfoS("Adding daemon set", "daemonset", klog.KObj(ds))
	c.enqueue(ds)
}

func (c *Controller) updateDaemonSet(oldObj, curObj any) {
	oldDS, curDS := oldObj.(*apps.DaemonSet), curObj.(*apps.DaemonSet)
	if oldDS.UID != curDS.UID {
		c.deleteDaemonSet(cache.DeletedFinalStateUnknown{Key: keyOf(oldDS), Obj: oldDS})
	}
	c.enqueue(curDS)
}

func (c *Controller) deleteDaemonSet(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ds, ok := obj.(*apps.DaemonSet)
	if !ok {
		return
	}
	key := keyOf(ds)
	c.forgetExpectations(klog.Background(), key)
	c.queue.Add(key)
}

// resolveControllerRef returns the DaemonSet ref names, if it still is the same object.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *apps.DaemonSet {
	ds, _ := podcontrol.ResolveControllerRef(ref, controllerKind, c.dsLister.DaemonSets(namespace).Get)
	return ds
}

// daemonSetsSelecting returns the DaemonSets whose selector matches an orphan pod.
func (c *Controller) daemonSetsSelecting(pod *v1.Pod) []*apps.DaemonSet {
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return podcontrol.Selecting(all, func(ds *apps.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector }, pod.Labels)
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

func (c *Controller) addPod(obj any) {
	pod := obj.(*v1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		ds := c.resolveControllerRef(pod.Namespace, ref)
		if ds == nil {
			return
		}
		c.creations.CreationObserved(klog.Background(), keyOf(ds))
		c.enqueue(ds)
		return
	}
	for _, ds := range c.daemonSetsSelecting(pod) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	oldPod, curPod := oldObj.(*v1.Pod), curObj.(*v1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion started: count it as the deletion we expect now.
		c.deletePod(curPod)
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(oldPod.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(curPod.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if !podcontrol.IsPodReady(oldPod) && podcontrol.IsPodReady(curPod) && ds.Spec.MinReadySeconds > 0 {
			c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !labels.Equals(oldPod.Labels, curPod.Labels) {
		for _, ds := range c.daemonSetsSelecting(curPod) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) deletePod(obj any) {
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
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	ds := c.resolveControllerRef(pod.Namespace, ref)
	if ds == nil {
		return
	}
	c.deletions.DeletionObserved(klog.Background(), keyOf(ds), podKey(pod))
	c.enqueue(ds)
}

func (c *Controller) allDaemonSets() []*apps.DaemonSet {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		klog.V(4).InfoS("Error listing daemon sets", "err", err)
		return nil
	}
	return all
}

func (c *Controller) addNode(obj any) {
	node := obj.(*v1.Node)
	for _, ds := range c.allDaemonSets() {
		if shouldRun, _ := NodeShouldRunDaemonPod(node, ds); shouldRun {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) updateNode(oldObj, curObj any) {
	oldNode, curNode := oldObj.(*v1.Node), curObj.(*v1.Node)
	if oldNode.ResourceVersion == curNode.ResourceVersion {
		return
	}
	for _, ds := range c.allDaemonSets() {
		oldRun, oldContinue := NodeShouldRunDaemonPod(oldNode, ds)
		curRun, curContinue := NodeShouldRunDaemonPod(curNode, ds)
		if oldRun != curRun || oldContinue != curContinue {
			c.enqueue(ds)
		}
	}
}

// deleteNode enqueues every DaemonSet: their pods for the node go.
func (c *Controller) deleteNode(any) {
	for _, ds := range c.allDaemonSets() {
		c.enqueue(ds)
	}
}
