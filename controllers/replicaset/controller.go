// Package replicaset keeps spec.replicas pods of a ReplicaSet (and, through a
// thin adapter, of a core/v1 ReplicationController) running, as upstream's
// replicaset controller and replication manager do: it creates pods from the
// template in slow-start batches, adopts and releases pods by selector,
// deletes surplus pods in upstream's order, and reports status.
package replicaset

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/expectations"
	"github.com/kubeshim/kubeshim/controllers/podcontrol"
	"github.com/kubeshim/kubeshim/controllers/worker"
)

const (
	// BurstReplicas caps the pods created or deleted in one sync.
	BurstReplicas = 500
	// slowStartInitialBatch is the size of the first batch of creates.
	slowStartInitialBatch = 1
	// statusUpdateRetries is how often a conflicting status update is retried.
	statusUpdateRetries = 1
)

// Controller reconciles ReplicaSets or ReplicationControllers (one kind per
// Controller) with their pods.
type Controller struct {
	kind         owner
	kindName     string
	client       kubernetes.Interface
	podControl   podcontrol.Interface
	podLister    corelisters.PodLister
	podsSynced   cache.InformerSynced
	ownersSynced cache.InformerSynced
	expectations *expectations.Expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	clock        clock.PassiveClock
	burst        int

	// syncHandler is the reconcile function; tests replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New builds the ReplicaSet controller on factory's ReplicaSet and Pod
// informers. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	return newController(newReplicaSets(client, factory), client, factory, recorder)
}

// NewReplicationManager builds the same controller for core/v1
// ReplicationControllers. It does not start factory.
func NewReplicationManager(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	return newController(newReplicationControllers(client, factory), client, factory, recorder)
}

func newController(kind owner, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	name := kind.gvk().Kind
	c := &Controller{
		kind:       kind,
		kindName:   name,
		client:     client,
		podControl: podcontrol.Real{Client: client, Recorder: recorder},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		clock:        clock.RealClock{},
		expectations: expectations.New(nil),
		burst:        BurstReplicas,
	}
	c.syncHandler = c.sync

	if _, err := kind.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addOwner,
		UpdateFunc: c.updateOwner,
		DeleteFunc: c.deleteOwner,
	}); err != nil {
		return nil, fmt.Errorf("registering %s event handler: %w", name, err)
	}
	c.ownersSynced = kind.informer().HasSynced

	pods := factory.Core().V1().Pods()
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("registering pod event handler for %s: %w", name, err)
	}
	c.podLister = pods.Lister()
	c.podsSynced = pods.Informer().HasSynced
	return c, nil
}

// Run waits for the informers' caches, then runs workers until ctx ends. It
// returns once every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", c.kindName)
	ctx = klog.NewContext(ctx, logger)
	defer logger.Info("Shut down controller")
	logger.Info("Starting controller")
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.podsSynced, c.ownersSynced)
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncHandler(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "kind", c.kindName, "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// --- event handlers ---

func (c *Controller) enqueue(rs *apps.ReplicaSet) { c.queue.Add(keyOf(rs)) }

func (c *Controller) addOwner(obj any) {
	if rs, ok := c.kind.fromInformer(obj); ok {
		klog.V(4).InfoS("Adding", "kind", c.kindName, "object", klog.KObj(rs))
		c.enqueue(rs)
	}
}

func (c *Controller) updateOwner(oldObj, newObj any) {
	oldRS, ok1 := c.kind.fromInformer(oldObj)
	curRS, ok2 := c.kind.fromInformer(newObj)
	if !ok1 || !ok2 {
		return
	}
	if oldRS.UID != curRS.UID {
		// Deleted and recreated under the same name while the watch lagged.
		c.deleteOwner(cache.DeletedFinalStateUnknown{Key: keyOf(oldRS), Obj: oldObj})
	}
	c.enqueue(curRS)
}

func (c *Controller) deleteOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := c.kind.fromInformer(obj)
	if !ok {
		return
	}
	key := keyOf(rs)
	c.expectations.Delete(klog.Background(), key)
	c.queue.Add(key)
}

// resolveControllerRef returns the owner ref names, if it is of our kind and
// still the same object (UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *apps.ReplicaSet {
	rs, _ := podcontrol.ResolveControllerRef(ref, c.kind.gvk(), func(name string) (*apps.ReplicaSet, error) {
		return c.kind.get(namespace, name)
	})
	return rs
}

// ownersSelecting returns the owners whose selector matches an orphan pod.
func (c *Controller) ownersSelecting(pod *v1.Pod) []*apps.ReplicaSet {
	all, err := c.kind.list(pod.Namespace)
	if err != nil {
		return nil
	}
	return podcontrol.Selecting(all, func(rs *apps.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, pod.Labels)
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

func (c *Controller) addPod(obj any) {
	pod := obj.(*v1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time while already terminating (e.g. on restart).
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := c.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		c.expectations.CreationObserved(klog.Background(), keyOf(rs))
		c.enqueue(rs)
		return
	}
	// An orphan: whoever selects it may adopt it.
	for _, rs := range c.ownersSelecting(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	oldPod, curPod := oldObj.(*v1.Pod), curObj.(*v1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return // periodic resync
	}
	labelChanged := !labels.Equals(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion started: count it as the deletion we expect now,
		// not when the kubelet is done.
		c.deletePod(curPod)
		if labelChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !equalRefs(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// A pod that just became ready becomes available minReadySeconds later.
		if !podcontrol.IsPodReady(oldPod) && podcontrol.IsPodReady(curPod) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelChanged || refChanged {
		for _, rs := range c.ownersSelecting(curPod) {
			c.enqueue(rs)
		}
	}
}

func equalRefs(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
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
		return // orphans have no expectations to lower
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := keyOf(rs)
	c.expectations.DeletionObserved(klog.Background(), key, podKey(pod))
	c.queue.Add(key)
}

// --- reconcile ---

func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	start := c.clock.Now()
	defer func() {
		logger.V(4).Info("Finished syncing", "kind", c.kindName, "key", key, "duration", c.clock.Since(start))
	}()

	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("invalid key %q: %w", key, err)
	}
	cached, err := c.kind.get(namespace, name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Deleted", "kind", c.kindName, "key", key)
		c.expectations.Delete(logger, key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting %s %s: %w", c.kindName, key, err)
	}
	rs := cached.DeepCopy()

	needsSync := c.expectations.Satisfied(logger, key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Invalid selectors are refused by validation; nothing to retry.
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid selector", "kind", c.kindName, "key", key)
		return nil
	}

	// All pods of the namespace: owned pods that stopped matching must be released.
	allPods, err := c.podLister.Pods(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing pods of %s %s: %w", c.kindName, key, err)
	}
	claimer := &podcontrol.Claimer{
		Control:  c.podControl,
		Owner:    rs,
		OwnerGVK: c.kind.gvk(),
		Selector: selector,
		CanAdopt: func(ctx context.Context) error {
			fresh, err := c.kind.fresh(ctx, namespace, name)
			if err != nil {
				return err
			}
			if fresh.UID != rs.UID {
				return fmt.Errorf("original %s %s is gone: got uid %v, wanted %v", c.kindName, key, fresh.UID, rs.UID)
			}
			if fresh.DeletionTimestamp != nil {
				return fmt.Errorf("%s %s has just been deleted at %v", c.kindName, key, fresh.DeletionTimestamp)
			}
			return nil
		},
	}
	activePods, err := claimer.ClaimPods(ctx, podcontrol.FilterPods(allPods, podcontrol.IsPodActive))
	if err != nil {
		return fmt.Errorf("claiming pods of %s %s: %w", c.kindName, key, err)
	}
	var terminatingPods []*v1.Pod
	if c.kind.hasTerminatingReplicas() {
		terminatingPods = podcontrol.FilterPods(allPods, func(p *v1.Pod) bool {
			ref := metav1.GetControllerOfNoCopy(p)
			return podcontrol.IsPodTerminating(p) && ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(p.Labels))
		})
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		var deleted map[string]bool
		deleted, manageErr = c.manageReplicas(ctx, activePods, rs)
		// The status counts the pods this sync just deleted out at once, rather than a sync
		// later as upstream does: a Deployment rolling out reads this status to decide how
		// many old pods may still go, and a stale count lets it go below maxUnavailable.
		if len(deleted) > 0 {
			activePods = podcontrol.FilterPods(activePods, func(p *v1.Pod) bool { return !deleted[p.Name] })
		}
	}

	now := c.clock.Now()
	newStatus := calculateStatus(rs, activePods, terminatingPods, c.kind.hasTerminatingReplicas(), manageErr, now)
	updated, err := c.updateStatus(ctx, rs, newStatus)
	if err != nil {
		return fmt.Errorf("updating status of %s %s: %w", c.kindName, key, err)
	}
	// Come back when the next ready pod becomes available.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 {
		if d, ok := podcontrol.NextAvailabilityCheck(activePods, updated.Spec.MinReadySeconds, now); ok {
			c.queue.AddAfter(key, d)
		}
	}
	return manageErr
}

// manageReplicas creates or deletes pods so that activePods reaches
// spec.replicas, at most burst at a time.
func (c *Controller) manageReplicas(ctx context.Context, activePods []*v1.Pod, rs *apps.ReplicaSet) (map[string]bool, error) {
	logger := klog.FromContext(ctx)
	key := keyOf(rs)
	want := int(ptr.Deref(rs.Spec.Replicas, 1))
	diff := len(activePods) - want
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		// Expect them before creating: the informer may see a pod before
		// Create returns.
		c.expectations.ExpectCreations(logger, key, n)
		logger.V(2).Info("Too few replicas", "kind", c.kindName, "object", klog.KObj(rs), "need", want, "creating", n)
		ref := metav1.NewControllerRef(rs, c.kind.gvk())
		eventObj := c.kind.eventObject(rs)
		created, err := slowStartBatch(n, slowStartInitialBatch, func() error {
			err := c.podControl.CreatePods(ctx, rs.Namespace, &rs.Spec.Template, eventObj, ref)
			if err != nil && apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
				return nil // every create will fail; not an error of ours
			}
			return err
		})
		// Creates never attempted (or failed) will never be observed.
		for range n - created {
			c.expectations.CreationObserved(logger, key)
		}
		if skipped := n - created; skipped > 0 {
			logger.V(2).Info("Slow-start failure, skipping creation of pods", "kind", c.kindName, "object", klog.KObj(rs), "skipped", skipped)
		}
		return nil, err
	case diff > 0:
		n := min(diff, c.burst)
		logger.V(2).Info("Too many replicas", "kind", c.kindName, "object", klog.KObj(rs), "need", want, "deleting", n)
		related, err := c.relatedPods(rs)
		if err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Listing related pods", "kind", c.kindName, "object", klog.KObj(rs))
		}
		victims := podsToDelete(activePods, related, n, metav1.NewTime(c.clock.Now()))
		keys := make([]string, 0, len(victims))
		for _, p := range victims {
			keys = append(keys, podKey(p))
		}
		c.expectations.ExpectDeletions(logger, key, keys)

		eventObj := c.kind.eventObject(rs)
		errCh := make(chan error, len(victims))
		var wg sync.WaitGroup
		var mu sync.Mutex
		deleted := map[string]bool{}
		for _, p := range victims {
			wg.Go(func() {
				err := c.podControl.DeletePod(ctx, rs.Namespace, p.Name, eventObj)
				if err == nil || apierrors.IsNotFound(err) {
					mu.Lock()
					deleted[p.Name] = true
					mu.Unlock()
				}
				if err != nil {
					// The informer will never see this deletion.
					c.expectations.DeletionObserved(logger, key, podKey(p))
					if !apierrors.IsNotFound(err) {
						errCh <- err
					}
				}
			})
		}
		wg.Wait()
		select {
		case err := <-errCh:
			return deleted, err
		default:
		}
		return deleted, nil
	}
	return nil, nil
}

// slowStartBatch calls fn count times in batches of initial, 2*initial, …
// running each batch concurrently, and stops after the first batch with an
// error. It returns the number of successful calls.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}

// relatedPods returns the pods of every object of our kind controlled by the
// same controller as rs (the ReplicaSets of one Deployment).
func (c *Controller) relatedPods(rs *apps.ReplicaSet) ([]*v1.Pod, error) {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return nil, nil
	}
	siblings, err := c.kind.list(rs.Namespace)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*v1.Pod
	for _, s := range siblings {
		if r := metav1.GetControllerOfNoCopy(s); r == nil || r.UID != ref.UID {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := c.podLister.Pods(s.Namespace).List(sel)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if !seen[string(p.UID)] {
				seen[string(p.UID)] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// podsToDelete picks n pods of active to delete, in upstream's order, ranking
// pods by how many active related pods share their node.
func podsToDelete(active, related []*v1.Pod, n int, now metav1.Time) []*v1.Pod {
	if n >= len(active) {
		return active
	}
	onNode := map[string]int{}
	for _, p := range related {
		if podcontrol.IsPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := podcontrol.ActivePodsWithRanks{
		Pods: append([]*v1.Pod(nil), active...),
		Rank: make([]int, len(active)),
		Now:  now,
	}
	for i, p := range ranked.Pods {
		ranked.Rank[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(ranked)
	return ranked.Pods[:n]
}
