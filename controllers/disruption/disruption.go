// Package disruption is the disruption controller: it keeps the status of every policy/v1
// PodDisruptionBudget (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed, the
// DisruptionAllowed condition, the disruptedPods the eviction API recorded) as upstream's
// pkg/controller/disruption computes it, so that pods/eviction can tell whether one more pod
// may go. It also resets, after a timeout, a DisruptionTarget condition left on a pod whose
// eviction never led to its deletion.
package disruption

import (
	"context"
	"fmt"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

const (
	// DeletionTimeout is how long a pod the eviction API recorded in disruptedPods is not
	// counted as healthy while it is expected to be deleted.
	DeletionTimeout = 2 * time.Minute
	// StalePodDisruptionTimeout is how long a DisruptionTarget condition may stay on a pod that
	// is not terminating before the controller resets it to False.
	StalePodDisruptionTimeout = 2 * time.Minute
)

// item is a work item: a budget's key, or a pod's key to check for a stale DisruptionTarget.
type item struct {
	pod bool
	key string
}

// Controller keeps PodDisruptionBudget statuses.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.PassiveClock

	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rcLister  corelisters.ReplicationControllerLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	synced    []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[item]
}

// New builds the controller on factory's PodDisruptionBudget, Pod, ReplicationController,
// ReplicaSet and Deployment informers. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	c := &Controller{
		client:   client,
		recorder: recorder,
		clock:    clock.RealClock{},
		queue:    newQueue(clock.RealClock{}),
	}
	pdbs := factory.Policy().V1().PodDisruptionBudgets()
	if _, err := pdbs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePdb,
		UpdateFunc: func(_, cur any) { c.enqueuePdb(cur) },
		DeleteFunc: c.enqueuePdb,
	}); err != nil {
		return nil, fmt.Errorf("registering PodDisruptionBudget event handler: %w", err)
	}
	pods := factory.Core().V1().Pods()
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, cur any) { c.podChanged(cur) },
		DeleteFunc: c.podDeleted,
	}); err != nil {
		return nil, fmt.Errorf("registering pod event handler: %w", err)
	}
	rcs := factory.Core().V1().ReplicationControllers()
	rss := factory.Apps().V1().ReplicaSets()
	ds := factory.Apps().V1().Deployments()
	c.pdbLister, c.podLister = pdbs.Lister(), pods.Lister()
	c.rcLister, c.rsLister, c.dLister = rcs.Lister(), rss.Lister(), ds.Lister()
	c.synced = []cache.InformerSynced{pdbs.Informer().HasSynced, pods.Informer().HasSynced,
		rcs.Informer().HasSynced, rss.Informer().HasSynced, ds.Informer().HasSynced}
	return c, nil
}

// newQueue is the controller's queue, its delays measured by clk.
func newQueue(clk clock.WithTicker) workqueue.TypedRateLimitingInterface[item] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[item](),
		workqueue.TypedRateLimitingQueueConfig[item]{Name: "disruption", Clock: clk})
}

// Run waits for the informers' caches, then runs workers until ctx ends. It returns once
// every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "disruption")
	ctx = klog.NewContext(ctx, logger)
	defer logger.Info("Shut down controller")
	logger.Info("Starting controller")
	worker.Run(ctx, workers, c.queue, c.processNextWorkItem, c.synced...)
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	it, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(it)
	var err error
	if it.pod {
		err = c.syncStalePodDisruption(ctx, it.key)
	} else {
		err = c.sync(ctx, it.key)
	}
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "pod", it.pod, "key", it.key)
		c.queue.AddRateLimited(it)
		return true
	}
	c.queue.Forget(it)
	return true
}

// --- event handlers ---

func (c *Controller) enqueuePdb(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(item{key: key})
}

func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != nil {
		c.enqueuePdb(pdb)
	}
	if has, after := c.staleDisruptionCondition(pod); has {
		c.queue.AddAfter(item{pod: true, key: cache.MetaObjectToName(pod).String()}, after)
	}
}

func (c *Controller) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != nil {
		c.enqueuePdb(pdb)
	}
}

// pdbForPod returns the budget covering pod (the first, with an event, if several do).
func (c *Controller) pdbForPod(pod *v1.Pod) *policy.PodDisruptionBudget {
	pdbs := budgetsFor(c.pdbLister, pod)
	if len(pdbs) == 0 {
		return nil
	}
	if len(pdbs) > 1 {
		msg := fmt.Sprintf("Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, pdbs[0].Name)
		c.recorder.Event(pod, v1.EventTypeWarning, "MultiplePodDisruptionBudgets", msg)
	}
	return pdbs[0]
}

// budgetsFor lists the budgets in the pod's namespace whose selector matches it: in policy/v1
// an empty selector matches every pod, a missing one none.
func budgetsFor(lister policylisters.PodDisruptionBudgetLister, pod *v1.Pod) []*policy.PodDisruptionBudget {
	all, err := lister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*policy.PodDisruptionBudget
	for _, pdb := range all {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out
}

// --- budget status ---

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return err
	}
	klog.FromContext(ctx).Error(err, "Failed to sync PodDisruptionBudget", "podDisruptionBudget", klog.KObj(pdb))
	// Fail closed: no eviction passes while the status cannot be computed.
	if ferr := c.failSafe(ctx, pdb, err); ferr != nil {
		return fmt.Errorf("%w (and zeroing disruptionsAllowed: %w)", err, ferr)
	}
	return err
}

func (c *Controller) trySync(ctx context.Context, pdb *policy.PodDisruptionBudget) error {
	pods, err := c.podsForPdb(pdb)
	if err != nil {
		c.recorder.Eventf(pdb, v1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return err
	}
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, v1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desiredHealthy, unmanaged, err := c.expectedPodCount(pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, v1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return err
	}
	if len(unmanaged) > 0 {
		klog.FromContext(ctx).V(4).Info("Found unmanaged pods associated with this PDB", "pods", unmanaged)
		c.recorder.Eventf(pdb, v1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" "+
			"field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.clock.Now()
	disrupted, recheck := c.buildDisruptedPodMap(pods, pdb, now)
	healthy := countHealthyPods(pods, disrupted, now)
	if err := c.updateStatus(ctx, pdb, healthy, desiredHealthy, expected, disrupted); err != nil {
		return err
	}
	if recheck != nil {
		// A recorded disruption times out then: count the pod again.
		c.queue.AddAfter(item{key: cache.MetaObjectToName(pdb).String()}, recheck.Sub(now))
	}
	return nil
}

func (c *Controller) podsForPdb(pdb *policy.PodDisruptionBudget) ([]*v1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return c.podLister.Pods(pdb.Namespace).List(sel)
}

// expectedPodCount returns the number of pods expected (the pods' controllers' scale when a
// percentage or maxUnavailable needs it, else the pods found) and how many must be healthy.
func (c *Controller) expectedPodCount(pdb *policy.PodDisruptionBudget, pods []*v1.Pod) (expected, desiredHealthy int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(pdb, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desiredHealthy = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desiredHealthy = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = c.expectedScale(pdb, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desiredHealthy = int32(minAvailable)
	}
	return expected, desiredHealthy, unmanaged, nil
}

// expectedScale sums the scale of the controllers of the pods: each Deployment,
// ReplicaSet or ReplicationController counted once. Pods without a controller are returned
// as unmanaged; a pod whose controller is not one of these is an error.
func (c *Controller) expectedScale(pdb *policy.PodDisruptionBudget, pods []*v1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := scales[ref.UID]; ok {
			continue
		}
		uid, scale, found, err := c.controllerScale(ref, pod.Namespace)
		if err != nil {
			return 0, nil, err
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[uid] = scale
	}
	var total int32
	for _, s := range scales {
		total += s
	}
	return total, unmanaged, nil
}

// controllerScale resolves a pod's controller reference to the object whose replicas count:
// the Deployment above a ReplicaSet it owns, else the ReplicaSet or ReplicationController.
// It returns the UID of the object counted.
func (c *Controller) controllerScale(ref *metav1.OwnerReference, namespace string) (types.UID, int32, bool, error) {
	switch {
	case ref.Kind == "ReplicaSet" && groupOf(ref.APIVersion) == apps.GroupName:
		rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if rs.UID != ref.UID {
			return "", 0, false, nil
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" && groupOf(dref.APIVersion) == apps.GroupName {
			d, err := c.dLister.Deployments(namespace).Get(dref.Name)
			if apierrors.IsNotFound(err) {
				return "", 0, false, nil
			}
			if err != nil {
				return "", 0, false, err
			}
			if d.UID != dref.UID {
				return "", 0, false, nil
			}
			// Keyed by the Deployment: its old and new ReplicaSets count once.
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case ref.Kind == "ReplicationController" && groupOf(ref.APIVersion) == "":
		rc, err := c.rcLister.ReplicationControllers(namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if rc.UID != ref.UID {
			return "", 0, false, nil
		}
		return rc.UID, replicas(rc.Spec.Replicas), true, nil
	}
	return "", 0, false, nil
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return "invalid"
	}
	return gv.Group
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// countHealthyPods counts the ready pods that are neither terminating nor recorded as being
// disrupted.
func countHealthyPods(pods []*v1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if t, ok := disrupted[pod.Name]; ok && t.Add(DeletionTimeout).After(now) {
			continue
		}
		if isPodReady(pod) {
			n++
		}
	}
	return n
}

// buildDisruptedPodMap keeps the disruptedPods entries of pods that still exist, are not yet
// terminating and were recorded less than DeletionTimeout ago; it returns when the earliest of
// them expires.
func (c *Controller) buildDisruptedPodMap(pods []*v1.Pod, pdb *policy.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, *time.Time) {
	out := map[string]metav1.Time{}
	var recheck *time.Time
	if pdb.Status.DisruptedPods == nil {
		return out, nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		t, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := t.Add(DeletionTimeout)
		if expires.Before(now) {
			c.recorder.Eventf(pod, v1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't",
				pdb.Namespace, pdb.Name)
			continue
		}
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
		out[pod.Name] = t
	}
	return out, recheck
}

// updateStatus writes the computed status when it differs. disruptionsAllowed is zero while
// the budget expects no pods, so that its first pods are safe before the next sync.
func (c *Controller) updateStatus(ctx context.Context, pdb *policy.PodDisruptionBudget, healthy, desiredHealthy, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desiredHealthy
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	s := pdb.Status
	if s.CurrentHealthy == healthy && s.DesiredHealthy == desiredHealthy && s.ExpectedPods == expected &&
		s.DisruptionsAllowed == allowed && apiequality.Semantic.DeepEqual(s.DisruptedPods, disrupted) &&
		s.ObservedGeneration == pdb.Generation && pdbhelper.ConditionsAreUpToDate(pdb) {
		return nil
	}
	out := pdb.DeepCopy()
	out.Status = policy.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desiredHealthy,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         out.Status.Conditions,
	}
	pdbhelper.UpdateDisruptionAllowedCondition(out)
	_, err := c.client.PolicyV1().PodDisruptionBudgets(out.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	return err
}

// failSafe sets disruptionsAllowed to zero with a SyncFailed condition.
func (c *Controller) failSafe(ctx context.Context, pdb *policy.PodDisruptionBudget, cause error) error {
	out := pdb.DeepCopy()
	out.Status.DisruptionsAllowed = 0
	if out.Status.Conditions == nil {
		out.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&out.Status.Conditions, metav1.Condition{
		Type:               policy.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policy.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: out.Status.ObservedGeneration,
	})
	_, err := c.client.PolicyV1().PodDisruptionBudgets(out.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	return err
}

// --- stale DisruptionTarget conditions ---

// staleDisruptionCondition reports whether a pod that is not terminating carries a
// DisruptionTarget=True condition (not the kubelet's, not on a finished pod), and how long
// until it is stale.
func (c *Controller) staleDisruptionCondition(pod *v1.Pod) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return false, 0
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != v1.DisruptionTarget {
			continue
		}
		if cond.Status != v1.ConditionTrue || cond.Reason == v1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(StalePodDisruptionTimeout-c.clock.Since(cond.LastTransitionTime.Time), 0)
	}
	return false, 0
}

func (c *Controller) syncStalePodDisruption(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has, after := c.staleDisruptionCondition(pod)
	if !has {
		return nil
	}
	if after > 0 {
		c.queue.AddAfter(item{pod: true, key: key}, after)
		return nil
	}
	out := pod.DeepCopy()
	for i := range out.Status.Conditions {
		cond := &out.Status.Conditions[i]
		if cond.Type == v1.DisruptionTarget {
			cond.Status = v1.ConditionFalse
			cond.Reason, cond.Message = "", ""
			cond.LastTransitionTime = metav1.NewTime(c.clock.Now())
		}
	}
	if _, err := c.client.CoreV1().Pods(namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Reset stale DisruptionTarget condition to False", "pod", klog.KObj(pod))
	return nil
}

func isPodReady(pod *v1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
