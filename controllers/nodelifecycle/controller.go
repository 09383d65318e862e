// Package nodelifecycle watches node health as upstream's node lifecycle controller does, and
// evicts pods from NoExecute-tainted nodes as upstream's taint eviction controller does.
//
// Controller (component "node-lifecycle-controller"): a node whose Lease in kube-node-lease and
// whose Ready heartbeat have not been renewed for NodeMonitorGracePeriod gets its Ready,
// MemoryPressure, DiskPressure and PIDPressure conditions set to Unknown; its pods get Ready=False;
// a node that is not Ready gets the NoExecute taint node.kubernetes.io/unreachable (Ready Unknown)
// or node.kubernetes.io/not-ready (Ready False), removed when it is Ready again, unless every
// node of the cluster is unhealthy (upstream's "master disruption mode", where nothing is
// tainted); every node carries the NoSchedule taints that mirror its conditions and
// spec.unschedulable (cordon).
//
// TaintEvictionController (component "taint-eviction-controller"): a pod on a node with NoExecute
// taints it does not tolerate is deleted at once; one that tolerates them for tolerationSeconds
// is deleted when the shortest of those runs out; a DisruptionTarget condition (reason
// DeletionByTaintManager) is put on the pod before it is deleted.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the event source of the node lifecycle controller, as upstream.
const ComponentName = "node-lifecycle-controller"

// Defaults of Options, as kube-controller-manager's flags.
const (
	DefaultNodeMonitorPeriod         = 5 * time.Second
	DefaultNodeMonitorGracePeriod    = 40 * time.Second
	DefaultNodeStartupGracePeriod    = 60 * time.Second
	DefaultLargeClusterSizeThreshold = 50
	DefaultUnhealthyZoneThreshold    = 0.55
)

// nodeHealthRetries is how often a conflicting node status update is retried in one pass.
const nodeHealthRetries = 5

// Options configures the node lifecycle controller. Zero values take the defaults.
type Options struct {
	// NodeMonitorPeriod is how often node health is checked (--node-monitor-period).
	NodeMonitorPeriod time.Duration
	// NodeMonitorGracePeriod is how long a node may go without renewing its Lease or posting
	// its Ready heartbeat before it is marked Unknown (--node-monitor-grace-period).
	NodeMonitorGracePeriod time.Duration
	// NodeStartupGracePeriod replaces NodeMonitorGracePeriod for a node that never posted a
	// Ready condition (--node-startup-grace-period).
	NodeStartupGracePeriod time.Duration
	// LargeClusterSizeThreshold: in a zone of at most this many nodes, a partial disruption
	// stops NoExecute tainting (--large-cluster-size-threshold).
	LargeClusterSizeThreshold int
	// UnhealthyZoneThreshold is the share of not-Ready nodes (at least 3) that makes a zone
	// partially disrupted (--unhealthy-zone-threshold).
	UnhealthyZoneThreshold float32
	// Clock is the controller's clock; nil is the real one.
	Clock clock.Clock
}

func (o *Options) complete() {
	if o.NodeMonitorPeriod <= 0 {
		o.NodeMonitorPeriod = DefaultNodeMonitorPeriod
	}
	if o.NodeMonitorGracePeriod <= 0 {
		o.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if o.NodeStartupGracePeriod <= 0 {
		o.NodeStartupGracePeriod = DefaultNodeStartupGracePeriod
	}
	if o.LargeClusterSizeThreshold <= 0 {
		o.LargeClusterSizeThreshold = DefaultLargeClusterSizeThreshold
	}
	if o.UnhealthyZoneThreshold <= 0 {
		o.UnhealthyZoneThreshold = DefaultUnhealthyZoneThreshold
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// zoneState is a zone's health as upstream computes it.
type zoneState string

const (
	stateInitial           zoneState = "Initial"
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// nodeHealth is what the controller last saw of a node: when it last heard from it (probe)
// and the status and lease it heard.
type nodeHealth struct {
	probeTimestamp           metav1.Time
	readyTransitionTimestamp metav1.Time
	status                   *v1.NodeStatus
	lease                    *coordv1.Lease
}

// Controller is the node lifecycle controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	opts     Options
	clock    clock.Clock

	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	synced      []cache.InformerSynced

	// nodeQueue holds nodes whose NoSchedule taints are to be reconciled.
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	// podQueue holds pods newly bound to a node, to be marked not ready if the node is not.
	podQueue workqueue.TypedRateLimitingInterface[types.NamespacedName]

	mu sync.Mutex
	// health is the per-node health, written by the monitor pass, read by pod workers.
	health map[string]*nodeHealth

	// The fields below belong to the monitor pass (one goroutine).
	knownNodes map[string]*v1.Node
	zoneStates map[string]zoneState
	// masterDisruption is set while every zone is fully disrupted: nothing is tainted then.
	masterDisruption bool
	// nodesToRetry are nodes whose pods could not all be marked not ready.
	nodesToRetry map[string]bool
}

// New builds the node lifecycle controller on factory's Node, Lease and Pod informers. It does
// not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts Options) (*Controller, error) {
	opts.complete()
	c := &Controller{
		client:   client,
		recorder: recorder,
		opts:     opts,
		clock:    opts.Clock,
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_controller"}),
		podQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "node_lifecycle_controller_pods"}),
		health:       map[string]*nodeHealth{},
		knownNodes:   map[string]*v1.Node{},
		zoneStates:   map[string]zoneState{},
		nodesToRetry: map[string]bool{},
	}

	nodes := factory.Core().V1().Nodes()
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNode(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueNode(obj) },
	}); err != nil {
		return nil, fmt.Errorf("registering node event handler: %w", err)
	}
	c.nodeLister = nodes.Lister()

	leases := factory.Coordination().V1().Leases()
	c.leaseLister = leases.Lister()

	pods := factory.Core().V1().Pods()
	if err := addPodNodeNameIndexer(pods.Informer()); err != nil {
		return nil, err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podUpdated(nil, obj) },
		UpdateFunc: func(old, obj any) {
			c.podUpdated(old, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("registering pod event handler: %w", err)
	}
	c.podLister = pods.Lister()
	c.podIndexer = pods.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced}
	return c, nil
}

// Run waits for the informers' caches, then monitors node health every NodeMonitorPeriod and
// runs workers for the NoSchedule taints and for newly bound pods until ctx ends. It returns
// once every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", ComponentName)
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting controller")
	defer logger.Info("Shut down controller")
	if workers <= 0 {
		workers = 1
	}
	var wg sync.WaitGroup
	wg.Go(func() { worker.Run(ctx, workers, c.nodeQueue, c.processNextNode, c.synced...) })
	wg.Go(func() { worker.Run(ctx, workers, c.podQueue, c.processNextPod, c.synced...) })
	wg.Go(func() {
		if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
			return
		}
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if err := c.monitorNodeHealth(ctx); err != nil {
				logger.Error(err, "Error monitoring node health")
			}
		}, c.opts.NodeMonitorPeriod)
	})
	wg.Wait()
}

func (c *Controller) enqueueNode(obj any) {
	if n, ok := obj.(*v1.Node); ok {
		c.nodeQueue.Add(n.Name)
	}
}

func (c *Controller) podUpdated(oldObj, newObj any) {
	pod, ok := newObj.(*v1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if old, ok := oldObj.(*v1.Pod); ok && old.Spec.NodeName == pod.Spec.NodeName {
		return
	}
	c.podQueue.Add(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
}

func (c *Controller) processNextNode(ctx context.Context) bool {
	name, quit := c.nodeQueue.Get()
	if quit {
		return false
	}
	defer c.nodeQueue.Done(name)
	if err := c.syncNoScheduleTaints(ctx, name); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Failed to reconcile NoSchedule taints", "node", name)
		c.nodeQueue.AddRateLimited(name)
		return true
	}
	c.nodeQueue.Forget(name)
	return true
}

func (c *Controller) processNextPod(ctx context.Context) bool {
	key, quit := c.podQueue.Get()
	if quit {
		return false
	}
	defer c.podQueue.Done(key)
	if err := c.syncPod(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Failed to mark pod not ready", "pod", key)
		c.podQueue.AddRateLimited(key)
		return true
	}
	c.podQueue.Forget(key)
	return true
}

// syncPod marks a pod newly bound to a node that is not Ready as not ready itself.
func (c *Controller) syncPod(ctx context.Context, key types.NamespacedName) error {
	pod, err := c.podLister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	_, seen := c.health[pod.Spec.NodeName]
	c.mu.Unlock()
	if !seen {
		// Not monitored yet, or gone: the next monitor pass handles its pods.
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ready := nodeCondition(&node.Status, v1.NodeReady)
	if ready == nil || ready.Status == v1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, []*v1.Pod{pod}, node.Name)
}

// monitorNodeHealth is one pass over every node: it marks nodes not heard from Unknown, marks
// their pods not ready, and taints and untaints them NoExecute as their zones allow.
func (c *Controller) monitorNodeHealth(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		if _, known := c.knownNodes[n.Name]; known {
			continue
		}
		logger.V(1).Info("Controller observed a new Node", "node", klog.KObj(n))
		c.recordNodeEvent(n.Name, n.UID, "RegisteredNode", fmt.Sprintf("Registered Node %v in Controller", n.Name))
		c.knownNodes[n.Name] = n
		if _, ok := c.zoneStates[zoneKey(n)]; !ok {
			c.zoneStates[zoneKey(n)] = stateInitial
		}
		if _, err := c.markNodeAsReachable(ctx, n); err != nil {
			logger.Error(err, "Failed to remove NoExecute taints from new node", "node", klog.KObj(n))
		}
	}
	for name, n := range c.knownNodes {
		if seen[name] {
			continue
		}
		logger.V(1).Info("Controller observed a Node deletion", "node", klog.KObj(n))
		c.recordNodeEvent(n.Name, n.UID, "RemovingNode", fmt.Sprintf("Removing Node %v from Controller", n.Name))
		delete(c.knownNodes, name)
		delete(c.nodesToRetry, name)
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
	}

	type candidate struct {
		node   *v1.Node
		status v1.ConditionStatus
	}
	var candidates []candidate
	zoneConditions := map[string][]*v1.NodeCondition{}
	for _, listed := range nodes {
		node := listed.DeepCopy()
		var observed v1.NodeCondition
		var current *v1.NodeCondition
		for attempt := 0; ; attempt++ {
			observed, current, err = c.tryUpdateNodeHealth(ctx, node)
			if err == nil || attempt+1 >= nodeHealthRetries {
				break
			}
			fresh, getErr := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if getErr != nil {
				err = fmt.Errorf("getting node to retry its health update: %w", getErr)
				break
			}
			node = fresh
		}
		if err != nil {
			logger.Error(err, "Updating node health failed; skipping it this pass", "node", klog.KObj(node))
			continue
		}
		if !excludedFromDisruption(node) {
			zoneConditions[zoneKey(node)] = append(zoneConditions[zoneKey(node)], current)
		}
		if current == nil {
			continue
		}

		// NoExecute taints follow the Ready condition the kubelet (or the last pass) posted.
		switch observed.Status {
		case v1.ConditionFalse, v1.ConditionUnknown:
			add, opposite := NotReadyTaint(), UnreachableTaint()
			if observed.Status == v1.ConditionUnknown {
				add, opposite = opposite, add
			}
			if hasTaint(node.Spec.Taints, opposite) {
				// Already tainted the other way: swap at once, as upstream.
				if updated, err := c.swapTaints(ctx, node, []v1.Taint{add}, []v1.Taint{opposite}); err != nil {
					logger.Error(err, "Failed to swap NoExecute taints; retrying next pass", "node", klog.KObj(node))
				} else {
					node = updated
				}
			} else {
				candidates = append(candidates, candidate{node: node, status: observed.Status})
			}
		case v1.ConditionTrue:
			if updated, err := c.markNodeAsReachable(ctx, node); err != nil {
				logger.Error(err, "Failed to remove NoExecute taints; retrying next pass", "node", klog.KObj(node))
			} else {
				node = updated
			}
		}

		retry := c.nodesToRetry[node.Name]
		if (current.Status != v1.ConditionTrue && observed.Status == v1.ConditionTrue) ||
			(retry && observed.Status != v1.ConditionTrue) {
			if !retry {
				c.recordNodeStatusChange(node, "NodeNotReady")
			}
			pods, err := c.podsOnNode(node.Name)
			if err == nil {
				err = c.markPodsNotReady(ctx, pods, node.Name)
			}
			if err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Unable to mark all pods NotReady; retrying next pass", "node", klog.KObj(node))
				c.nodesToRetry[node.Name] = true
				continue
			}
		}
		delete(c.nodesToRetry, node.Name)
	}

	c.handleDisruption(ctx, zoneConditions, nodes)

	for _, cand := range candidates {
		zone := zoneKey(cand.node)
		if !c.mayTaint(zone, len(zoneConditions[zone])) {
			logger.V(2).Info("Not tainting unhealthy node: its zone is disrupted", "node", klog.KObj(cand.node), "zone", zone, "state", c.zoneStates[zone])
			continue
		}
		add, opposite := NotReadyTaint(), UnreachableTaint()
		if cand.status == v1.ConditionUnknown {
			add, opposite = opposite, add
		}
		if _, err := c.swapTaints(ctx, cand.node, []v1.Taint{add}, []v1.Taint{opposite}); err != nil {
			logger.Error(err, "Failed to taint node NoExecute; retrying next pass", "node", klog.KObj(cand.node))
		}
	}
	return nil
}

// mayTaint reports whether nodes of zone may be tainted NoExecute now: not in master
// disruption mode, and not in a partially disrupted small zone (upstream stops evictions there
// and slows them in large ones).
func (c *Controller) mayTaint(zone string, size int) bool {
	if c.masterDisruption {
		return false
	}
	if c.zoneStates[zone] == statePartialDisruption && size <= c.opts.LargeClusterSizeThreshold {
		return false
	}
	return true
}

// tryUpdateNodeHealth refreshes what the controller knows of node and, when the node has not
// been heard from for its grace period, posts its conditions as Unknown. It returns the Ready
// condition as the node carried it (observed) and as it is now (current).
func (c *Controller) tryUpdateNodeHealth(ctx context.Context, node *v1.Node) (v1.NodeCondition, *v1.NodeCondition, error) {
	logger := klog.FromContext(ctx)
	now := metav1.NewTime(c.clock.Now())
	c.mu.Lock()
	health := c.health[node.Name]
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.health[node.Name] = health
		c.mu.Unlock()
	}()

	var observed v1.NodeCondition
	var gracePeriod time.Duration
	current := nodeCondition(&node.Status, v1.NodeReady)
	if current == nil {
		// The kubelet never posted a status: pretend Unknown since creation.
		observed = v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionUnknown,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp}
		gracePeriod = c.opts.NodeStartupGracePeriod
		if health != nil {
			health.status = &node.Status
		} else {
			health = &nodeHealth{status: &node.Status, probeTimestamp: node.CreationTimestamp, readyTransitionTimestamp: node.CreationTimestamp}
		}
	} else {
		observed = *current
		gracePeriod = c.opts.NodeMonitorGracePeriod
	}

	var saved *v1.NodeCondition
	var savedLease *coordv1.Lease
	if health != nil {
		saved = nodeCondition(health.status, v1.NodeReady)
		savedLease = health.lease
	}
	switch {
	case health == nil, saved == nil && current != nil, saved != nil && current == nil:
		// First sight of the node (or of its Ready condition): start counting from now.
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: now}
	case saved != nil && current != nil && !saved.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		// The kubelet posted a new heartbeat.
		transition := health.readyTransitionTimestamp
		if !saved.LastTransitionTime.Equal(&current.LastTransitionTime) {
			transition = now
		}
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: transition, lease: health.lease}
	}
	// A renewed Lease counts as hearing from the node.
	lease, _ := c.leaseLister.Leases(v1.NamespaceNodeLease).Get(node.Name)
	if lease != nil && lease.Spec.RenewTime != nil &&
		(savedLease == nil || savedLease.Spec.RenewTime == nil || savedLease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		health.lease = lease
		health.probeTimestamp = now
	}

	if !now.After(health.probeTimestamp.Add(gracePeriod)) {
		return observed, current, nil
	}
	for _, t := range []v1.NodeConditionType{v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		cond := nodeCondition(&node.Status, t)
		if cond == nil {
			node.Status.Conditions = append(node.Status.Conditions, v1.NodeCondition{
				Type: t, Status: v1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			continue
		}
		if cond.Status != v1.ConditionUnknown {
			cond.Status = v1.ConditionUnknown
			cond.Reason = "NodeStatusUnknown"
			cond.Message = "Kubelet stopped posting node status."
			cond.LastTransitionTime = now
		}
	}
	current = nodeCondition(&node.Status, v1.NodeReady)
	if apiequality.Semantic.DeepEqual(current, &observed) {
		return observed, current, nil
	}
	logger.V(2).Info("Node not heard from within its grace period: marking it Unknown", "node", klog.KObj(node),
		"lastProbe", health.probeTimestamp, "gracePeriod", gracePeriod)
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return observed, current, fmt.Errorf("updating status of node %s: %w", node.Name, err)
	}
	*node = *updated
	current = nodeCondition(&node.Status, v1.NodeReady)
	health = &nodeHealth{status: &node.Status, probeTimestamp: health.probeTimestamp, readyTransitionTimestamp: now, lease: lease}
	return observed, current, nil
}

// handleDisruption computes every zone's state from its nodes' Ready conditions and enters or
// leaves master disruption mode (every zone fully disrupted: no node is tainted NoExecute, and
// the taints already there are removed, as upstream assumes the control plane lost its network).
func (c *Controller) handleDisruption(ctx context.Context, zoneConditions map[string][]*v1.NodeCondition, nodes []*v1.Node) {
	logger := klog.FromContext(ctx)
	newStates := map[string]zoneState{}
	allFully := true
	for zone, conds := range zoneConditions {
		state := c.computeZoneState(conds)
		if state != stateFullDisruption {
			allFully = false
		}
		newStates[zone] = state
		if _, ok := c.zoneStates[zone]; !ok {
			c.zoneStates[zone] = stateInitial
		}
	}
	allWereFully := true
	for zone, state := range c.zoneStates {
		if _, ok := zoneConditions[zone]; !ok {
			delete(c.zoneStates, zone)
			continue
		}
		if state != stateFullDisruption {
			allWereFully = false
		}
	}
	if len(zoneConditions) == 0 {
		c.masterDisruption = false
		return
	}
	switch {
	case allFully && allWereFully:
		// Still in master disruption mode.
	case allFully:
		logger.Info("Controller detected that all Nodes are not-Ready. Entering master disruption mode")
		for _, n := range nodes {
			if _, err := c.markNodeAsReachable(ctx, n); err != nil {
				logger.Error(err, "Failed to remove NoExecute taints", "node", klog.KObj(n))
			}
		}
		for zone := range c.zoneStates {
			c.zoneStates[zone] = stateFullDisruption
		}
		c.masterDisruption = true
	case allWereFully:
		logger.Info("Controller detected that some Nodes are Ready. Exiting master disruption mode")
		// Give every node a fresh grace period.
		now := metav1.NewTime(c.clock.Now())
		c.mu.Lock()
		for _, n := range nodes {
			if h := c.health[n.Name]; h != nil {
				h.probeTimestamp, h.readyTransitionTimestamp = now, now
			}
		}
		c.mu.Unlock()
		for zone := range c.zoneStates {
			c.zoneStates[zone] = newStates[zone]
		}
		c.masterDisruption = false
	default:
		for zone, state := range c.zoneStates {
			if state != newStates[zone] {
				logger.Info("Controller detected that zone is now in new state", "zone", zone, "newState", newStates[zone])
				c.zoneStates[zone] = newStates[zone]
			}
		}
		c.masterDisruption = false
	}
}

// computeZoneState: fully disrupted when no node is Ready, partially when more than two and at
// least UnhealthyZoneThreshold of them are not, normal otherwise.
func (c *Controller) computeZoneState(conds []*v1.NodeCondition) zoneState {
	ready, notReady := 0, 0
	for _, cond := range conds {
		if cond != nil && cond.Status == v1.ConditionTrue {
			ready++
		} else {
			notReady++
		}
	}
	switch {
	case ready == 0 && notReady > 0:
		return stateFullDisruption
	case notReady > 2 && float32(notReady)/float32(notReady+ready) >= c.opts.UnhealthyZoneThreshold:
		return statePartialDisruption
	default:
		return stateNormal
	}
}

// markNodeAsReachable removes the NoExecute taints the controller puts on unhealthy nodes.
func (c *Controller) markNodeAsReachable(ctx context.Context, node *v1.Node) (*v1.Node, error) {
	return c.swapTaints(ctx, node, nil, []v1.Taint{UnreachableTaint(), NotReadyTaint()})
}

// markPodsNotReady sets the Ready condition of the pods on nodeName to False.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*v1.Pod, nodeName string) error {
	var errs []error
	now := metav1.NewTime(c.clock.Now())
	for _, p := range pods {
		if p.Spec.NodeName != nodeName {
			continue
		}
		pod := p.DeepCopy()
		changed := false
		for i := range pod.Status.Conditions {
			cond := &pod.Status.Conditions[i]
			if cond.Type != v1.PodReady || cond.Status == v1.ConditionFalse {
				continue
			}
			cond.Status = v1.ConditionFalse
			cond.LastTransitionTime = now
			changed = true
		}
		if !changed {
			continue
		}
		klog.FromContext(ctx).V(2).Info("Updating ready status of pod to false", "pod", klog.KObj(pod), "node", nodeName)
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("marking pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			continue
		}
		c.recorder.Event(pod, v1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

func (c *Controller) podsOnNode(name string) ([]*v1.Pod, error) {
	return podsOnNode(c.podIndexer, name)
}

func (c *Controller) recordNodeEvent(name string, uid types.UID, reason, message string) {
	ref := &v1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}
	c.recorder.Event(ref, v1.EventTypeNormal, reason, message)
}

func (c *Controller) recordNodeStatusChange(node *v1.Node, status string) {
	ref := &v1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Eventf(ref, v1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}

// excludedFromDisruption reports nodes labelled node.kubernetes.io/exclude-disruption, which do
// not count toward their zone's health.
func excludedFromDisruption(node *v1.Node) bool {
	_, ok := node.Labels["node.kubernetes.io/exclude-disruption"]
	return ok
}

// zoneKey is upstream's zone key: region and zone from the topology labels (or their
// deprecated beta names), "" when the node has neither.
func zoneKey(node *v1.Node) string {
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v := node.Labels[k]; v != "" {
				return v
			}
		}
		return ""
	}
	region := pick(v1.LabelTopologyRegion, v1.LabelFailureDomainBetaRegion)
	zone := pick(v1.LabelTopologyZone, v1.LabelFailureDomainBetaZone)
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

func nodeCondition(status *v1.NodeStatus, t v1.NodeConditionType) *v1.NodeCondition {
	if status == nil {
		return nil
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}
