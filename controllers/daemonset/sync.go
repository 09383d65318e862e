package daemonset

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
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	start := c.clock.Now()
	defer func() {
		logger.V(4).Info("Finished syncing daemon set", "daemonset", key, "duration", c.clock.Since(start))
	}()

	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("invalid key %q: %w", key, err)
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(3).Info("Daemon set has been deleted", "daemonset", key)
		c.forgetExpectations(logger, key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting daemon set %s: %w", key, err)
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes for daemon set %s: %w", key, err)
	}
	if ds.Spec.Selector == nil || (len(ds.Spec.Selector.MatchLabels) == 0 && len(ds.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Event(ds, v1.EventTypeWarning, SelectingAllReason, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// A DaemonSet being deleted: its pods are the garbage collector's.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	hash, err := TemplateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	if err != nil {
		return err
	}

	if !c.satisfied(logger, key) {
		// Only the status: observedGeneration stays, this generation was not acted on.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}

	err = c.manage(ctx, ds, nodes, hash)
	if err == nil && c.satisfied(logger, key) && ds.Spec.UpdateStrategy.Type == apps.RollingUpdateDaemonSetStrategyType {
		err = c.rollingUpdate(ctx, ds, nodes, hash)
	}
	statusErr := c.updateStatus(ctx, ds, nodes, hash, true)
	switch {
	case err != nil && statusErr != nil:
		logger.Error(statusErr, "Failed to update status", "daemonset", klog.KObj(ds))
		return err
	case err != nil:
		return err
	}
	return statusErr
}

// daemonPods returns the pods ds controls, after adoption and release, by target node.
func (c *Controller) nodeToDaemonPods(ctx context.Context, ds *apps.DaemonSet) (map[string][]*v1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("parsing selector of daemon set %s: %w", keyOf(ds), err)
	}
	pods, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods of daemon set %s: %w", keyOf(ds), err)
	}
	claimer := &podcontrol.Claimer{
		Control:  c.podControl,
		Owner:    ds,
		OwnerGVK: controllerKind,
		Selector: selector,
		CanAdopt: func(ctx context.Context) error {
			fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.UID != ds.UID {
				return fmt.Errorf("original DaemonSet %s is gone: got uid %v, wanted %v", keyOf(ds), fresh.UID, ds.UID)
			}
			if fresh.DeletionTimestamp != nil {
				return fmt.Errorf("DaemonSet %s has just been deleted at %v", keyOf(ds), fresh.DeletionTimestamp)
			}
			return nil
		},
	}
	claimed, err := claimer.ClaimPods(ctx, pods)
	if err != nil {
		return nil, fmt.Errorf("claiming pods of daemon set %s: %w", keyOf(ds), err)
	}
	out := map[string][]*v1.Pod{}
	logger := klog.FromContext(ctx)
	for _, pod := range claimed {
		node, err := TargetNodeName(pod)
		if err != nil {
			logger.V(4).Info("Failed to get target node name of pod in DaemonSet", "pod", klog.KObj(pod), "daemonset", klog.KObj(ds))
			continue
		}
		out[node] = append(out[node], pod)
	}
	return out, nil
}

// manage creates the daemon pods that are missing and deletes those that must go.
func (c *Controller) manage(ctx context.Context, ds *apps.DaemonSet, nodes []*v1.Node, hash string) error {
	byNode, err := c.nodeToDaemonPods(ctx, ds)
	if err != nil {
		return err
	}
	var needPods, toDelete []string
	known := make(map[string]bool, len(nodes))
	for _, node := range nodes {
		known[node.Name] = true
		create, del := c.podsShouldBeOnNode(ctx, node, byNode[node.Name], ds, hash)
		if create {
			needPods = append(needPods, node.Name)
		}
		toDelete = append(toDelete, del...)
	}
	gone, force, err := c.podsOfMissingNodes(ctx, byNode, known)
	toDelete = append(toDelete, gone...)
	if syncErr := c.syncNodes(ctx, ds, toDelete, needPods, hash, force); syncErr != nil {
		return syncErr
	}
	return err
}

// podsOfMissingNodes returns the daemon pods for nodes that do not exist: unscheduled ones
// (the scheduler can never place them) and, because kubeshim has no pod garbage collector,
// ones bound to a node the API server confirms is gone. The latter are to be deleted at once
// (force): no kubelet will ever finish their graceful deletion, which is what upstream's pod
// garbage collector does for them.
func (c *Controller) podsOfMissingNodes(ctx context.Context, byNode map[string][]*v1.Pod, known map[string]bool) (names []string, force map[string]bool, _ error) {
	var errs []error
	for nodeName, pods := range byNode {
		if known[nodeName] {
			continue
		}
		checked, gone := false, false
		for _, pod := range pods {
			if pod.Spec.NodeName == "" {
				if pod.DeletionTimestamp == nil {
					names = append(names, pod.Name)
				}
				continue
			}
			if !checked {
				// The node cache may lag behind the pod cache: ask before deleting.
				checked = true
				_, err := c.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
				switch {
				case apierrors.IsNotFound(err):
					gone = true
				case err != nil:
					errs = append(errs, fmt.Errorf("checking node %s: %w", nodeName, err))
				}
			}
			if gone {
				names = append(names, pod.Name)
				if force == nil {
					force = map[string]bool{}
				}
				force[pod.Name] = true
			}
		}
	}
	return names, force, utilerrors.NewAggregate(errs)
}

// podsShouldBeOnNode decides for one node whether a daemon pod must be created there and
// which of its daemon pods must go.
func (c *Controller) podsShouldBeOnNode(ctx context.Context, node *v1.Node, pods []*v1.Pod, ds *apps.DaemonSet, hash string) (create bool, toDelete []string) {
	logger := klog.FromContext(ctx)
	shouldRun, shouldContinueRunning := NodeShouldRunDaemonPod(node, ds)
	exists := len(pods) > 0
	switch {
	case shouldRun && !exists:
		return true, nil
	case shouldContinueRunning:
		var running []*v1.Pod
		for _, pod := range pods {
			if pod.DeletionTimestamp != nil {
				continue
			}
			switch pod.Status.Phase {
			case v1.PodFailed:
				// Often a kubelet rejecting the pod: back off rather than hot-loop.
				bk := failedPodsBackoffKey(ds, node.Name)
				now := c.failedPodsBackoff.Clock.Now()
				if c.failedPodsBackoff.IsInBackOffSinceUpdate(bk, now) {
					delay := c.failedPodsBackoff.Get(bk)
					logger.V(4).Info("Deleting failed pod on node has been limited by backoff", "pod", klog.KObj(pod), "node", klog.KObj(node), "currentDelay", delay)
					c.enqueueAfter(ds, delay)
					continue
				}
				c.failedPodsBackoff.Next(bk, now)
				logger.V(2).Info("Found failed daemon pod on node, will try to kill it", "pod", klog.KObj(pod), "node", klog.KObj(node))
				c.recorder.Eventf(ds, v1.EventTypeWarning, FailedDaemonPodReason, "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
				toDelete = append(toDelete, pod.Name)
			case v1.PodSucceeded:
				logger.V(2).Info("Found succeeded daemon pod on node, will try to delete it", "pod", klog.KObj(pod), "node", klog.KObj(node))
				c.recorder.Eventf(ds, v1.EventTypeNormal, SucceededDaemonPodReason, "Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
				toDelete = append(toDelete, pod.Name)
			default:
				running = append(running, pod)
			}
		}
		sort.Sort(byCreationTimestampAndPhase(running))
		if !allowsSurge(ds) {
			// One pod per node: keep the oldest. A node whose only pod is terminating gets
			// its new one once the old one is gone.
			for _, p := range running[min(1, len(running)):] {
				toDelete = append(toDelete, p.Name)
			}
			return false, toDelete
		}
		if len(running) == 0 {
			return shouldRun, toDelete
		}
		// With surge, an old and a new pod may run together while the new one becomes
		// available (or the old one is not ready); every other pod goes.
		var oldestNew, oldestOld *v1.Pod
		generation := templateGeneration(ds)
		for _, pod := range running {
			if isPodUpdated(pod, hash, generation) {
				if oldestNew == nil {
					oldestNew = pod
					continue
				}
			} else if oldestOld == nil {
				oldestOld = pod
				continue
			}
			toDelete = append(toDelete, pod.Name)
		}
		if oldestNew != nil && oldestOld != nil {
			switch {
			case !podcontrol.IsPodReady(oldestOld):
				logger.V(5).Info("Pod from daemonset is no longer ready and will be replaced with newer pod", "oldPod", klog.KObj(oldestOld), "daemonset", klog.KObj(ds), "newPod", klog.KObj(oldestNew))
				toDelete = append(toDelete, oldestOld.Name)
			case podcontrol.IsPodAvailable(oldestNew, ds.Spec.MinReadySeconds, c.clock.Now()):
				logger.V(5).Info("Pod from daemonset is now ready and will replace older pod", "newPod", klog.KObj(oldestNew), "daemonset", klog.KObj(ds), "oldPod", klog.KObj(oldestOld))
				toDelete = append(toDelete, oldestOld.Name)
			}
		}
		return false, toDelete
	case exists:
		// The node no longer fits: every daemon pod on it goes.
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				toDelete = append(toDelete, pod.Name)
			}
		}
	}
	return false, toDelete
}

func failedPodsBackoffKey(ds *apps.DaemonSet, nodeName string) string {
	return fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, nodeName)
}

// syncNodes deletes the named pods and creates a daemon pod on each named node, at most
// burst of each, creating in slow-start batches.
// Pods named in force are deleted with a zero grace period.
func (c *Controller) syncNodes(ctx context.Context, ds *apps.DaemonSet, toDelete, nodesNeedingPods []string, hash string, force map[string]bool) error {
	logger := klog.FromContext(ctx)
	key := keyOf(ds)
	createN := min(len(nodesNeedingPods), c.burst)
	deleteN := min(len(toDelete), c.burst)
	toDelete = toDelete[:deleteN]

	// Expect before acting: the informer may see a pod before the call returns.
	c.creations.ExpectCreations(logger, key, createN)
	delKeys := make([]string, len(toDelete))
	for i, name := range toDelete {
		delKeys[i] = ds.Namespace + "/" + name
	}
	c.deletions.ExpectDeletions(logger, key, delKeys)

	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}

	if createN > 0 {
		logger.V(4).Info("Nodes needing daemon pods for daemon set, creating", "daemonset", klog.KObj(ds), "needCount", len(nodesNeedingPods), "createCount", createN)
		template := podTemplate(ds, hash)
		ref := metav1.NewControllerRef(ds, controllerKind)
		created := slowStartBatch(createN, 1, func(i int) error {
			t := template.DeepCopy()
			t.Spec.Affinity = SetNodeAffinity(t.Spec.Affinity, nodesNeedingPods[i])
			err := c.podControl.CreatePods(ctx, ds.Namespace, t, ds, ref)
			if err != nil && apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
				return nil // every create fails while the namespace goes; not ours to retry
			}
			return err
		}, fail)
		// Creates that failed or were never attempted will never be observed.
		for range createN - created {
			c.creations.CreationObserved(logger, key)
		}
	}

	if deleteN > 0 {
		logger.V(4).Info("Pods to delete for daemon set, deleting", "daemonset", klog.KObj(ds), "toDelete", toDelete)
		var wg sync.WaitGroup
		for _, name := range toDelete {
			wg.Go(func() {
				del := c.podControl.DeletePod
				if force[name] {
					del = c.forceDeletePod
				}
				if err := del(ctx, ds.Namespace, name, ds); err != nil {
					c.deletions.DeletionObserved(logger, key, ds.Namespace+"/"+name)
					if !apierrors.IsNotFound(err) {
						fail(err)
					}
				}
			})
		}
		wg.Wait()
	}
	return utilerrors.NewAggregate(errs)
}

// forceDeletePod deletes a pod with a zero grace period, with podcontrol's events.
func (c *Controller) forceDeletePod(ctx context.Context, namespace, name string, object runtime.Object) error {
	err := c.client.CoreV1().Pods(namespace).Delete(ctx, name, *metav1.NewDeleteOptions(0))
	if err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(object, v1.EventTypeWarning, podcontrol.FailedDeleteReason, "Error deleting: %v", err)
		return fmt.Errorf("force deleting pod %s/%s: %w", namespace, name, err)
	}
	c.recorder.Eventf(object, v1.EventTypeNormal, podcontrol.SuccessfulDeleteReason, "Deleted pod: %v", name)
	return nil
}

// slowStartBatch calls fn(0..count-1) in concurrent batches of initial, 2*initial, …, stopping
// after the first batch with a failure (reported through fail). It returns how many calls
// succeeded.
func slowStartBatch(count, initial int, fn func(int) error, fail func(error)) int {
	successes, pos := 0, 0
	for batch := min(count, initial); batch > 0; batch = min(2*batch, count-pos) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := false
		for i := pos; i < pos+batch; i++ {
			wg.Go(func() {
				if err := fn(i); err != nil {
					fail(err)
					mu.Lock()
					failed = true
					mu.Unlock()
					return
				}
				mu.Lock()
				successes++
				mu.Unlock()
			})
		}
		wg.Wait()
		pos += batch
		if failed {
			break
		}
	}
	return successes
}

// updateStatus writes the status numbers of ds when they changed.
func (c *Controller) updateStatus(ctx context.Context, ds *apps.DaemonSet, nodes []*v1.Node, hash string, updateObservedGen bool) error {
	byNode, err := c.nodeToDaemonPods(ctx, ds)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	generation := templateGeneration(ds)
	var st apps.DaemonSetStatus
	for _, node := range nodes {
		shouldRun, _ := NodeShouldRunDaemonPod(node, ds)
		pods := byNode[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		pods = append([]*v1.Pod(nil), pods...)
		sort.Sort(byCreationTimestampAndPhase(pods))
		pod := pods[0]
		if podcontrol.IsPodReady(pod) {
			st.NumberReady++
			if podcontrol.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isPodUpdated(pod, hash, generation) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable

	if err := c.storeStatus(ctx, ds, st, updateObservedGen); err != nil {
		return fmt.Errorf("storing status of daemon set %s: %w", keyOf(ds), err)
	}
	// Come back when ready pods become available.
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

func (c *Controller) storeStatus(ctx context.Context, ds *apps.DaemonSet, st apps.DaemonSetStatus, updateObservedGen bool) error {
	cur := ds.Status
	if cur.DesiredNumberScheduled == st.DesiredNumberScheduled &&
		cur.CurrentNumberScheduled == st.CurrentNumberScheduled &&
		cur.NumberMisscheduled == st.NumberMisscheduled &&
		cur.NumberReady == st.NumberReady &&
		cur.UpdatedNumberScheduled == st.UpdatedNumberScheduled &&
		cur.NumberAvailable == st.NumberAvailable &&
		cur.NumberUnavailable == st.NumberUnavailable &&
		cur.ObservedGeneration >= ds.Generation {
		return nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	for i := 0; ; i++ {
		if updateObservedGen {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = st.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = st.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = st.NumberMisscheduled
		toUpdate.Status.NumberReady = st.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = st.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = st.NumberAvailable
		toUpdate.Status.NumberUnavailable = st.NumberUnavailable
		_, err := client.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if i >= statusUpdateRetries {
			return err
		}
		fresh, getErr := client.Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		toUpdate = fresh
	}
}

// byCreationTimestampAndPhase orders bound pods first, then oldest first, then by name.
type byCreationTimestampAndPhase []*v1.Pod

func (o byCreationTimestampAndPhase) Len() int      { return len(o) }
func (o byCreationTimestampAndPhase) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byCreationTimestampAndPhase) Less(i, j int) bool {
	bi, bj := o[i].Spec.NodeName != "", o[j].Spec.NodeName != ""
	if bi != bj {
		return bi
	}
	if o[i].CreationTimestamp.Equal(&o[j].CreationTimestamp) {
		return o[i].Name < o[j].Name
	}
	return o[i].CreationTimestamp.Before(&o[j].CreationTimestamp)
}
