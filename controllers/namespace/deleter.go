package namespace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"
)

const (
	// finalizerEstimateSeconds is how long to wait for objects held only by finalizers
	// (the garbage collector and others must get a chance to remove theirs).
	finalizerEstimateSeconds int64 = 15
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// resourcesRemainingError says deletion is under way but content is still there; the
// namespace is looked at again after about Estimate/2+1 seconds.
type resourcesRemainingError struct {
	Estimate int64
}

func (e *resourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// deleter empties a terminating namespace and then releases the "kubernetes" finalizer.
type deleter struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	finalizer corev1.FinalizerName
}

// discover returns the namespaced resources the server serves, in their preferred version.
// A partial result comes with an error that names the failing groups.
func (d *deleter) discover(ctx context.Context) ([]*metav1.APIResourceList, error) {
	return discovery.ServerPreferredNamespacedResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(d.discovery))
}

// delete runs one pass over the namespace called name. It returns nil once the namespace is
// finalized (or gone, or not being deleted), *resourcesRemainingError while content is going
// away, and any other error when the pass failed and should be retried with back-off.
func (d *deleter) delete(ctx context.Context, name string) error {
	logger := klog.FromContext(ctx)
	ns, err := d.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %q: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	logger.V(5).Info("Syncing terminating namespace", "namespace", name, "finalizerToken", d.finalizer)

	ns, err = d.retryOnConflict(ctx, ns, d.markTerminating)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("marking namespace %q terminating: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, d.finalizer) {
		// Not deleting any more, or already released by us: nothing left to do.
		return nil
	}

	ns, estimate, err := d.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &resourcesRemainingError{Estimate: estimate}
	}

	if _, err := d.retryOnConflict(ctx, ns, d.finalize); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalizing namespace %q: %w", name, err)
	}
	logger.V(2).Info("Namespace content removed, finalizer released", "namespace", name)
	return nil
}

type namespaceUpdate func(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error)

// retryOnConflict applies fn, re-reading the namespace after each conflict; it fails if the
// namespace was replaced by another one of the same name meanwhile.
func (d *deleter) retryOnConflict(ctx context.Context, ns *corev1.Namespace, fn namespaceUpdate) (*corev1.Namespace, error) {
	latest := ns
	for {
		result, err := fn(ctx, latest)
		if err == nil {
			return result, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, err
		}
		prev := latest
		latest, err = d.client.CoreV1().Namespaces().Get(ctx, prev.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if latest.UID != prev.UID {
			return nil, fmt.Errorf("namespace %q: uid changed across retries", prev.Name)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// markTerminating makes sure status.phase is Terminating (the API server sets it on DELETE;
// this covers namespaces whose deletionTimestamp came another way).
func (d *deleter) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.DeletionTimestamp == nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	updated := ns.DeepCopy()
	updated.Status.Phase = corev1.NamespaceTerminating
	return d.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
}

// finalize removes this controller's token from spec.finalizers through namespaces/finalize.
func (d *deleter) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	updated := ns.DeepCopy()
	keep := sets.New[string]()
	for _, f := range ns.Spec.Finalizers {
		if f != d.finalizer {
			keep.Insert(string(f))
		}
	}
	updated.Spec.Finalizers = make([]corev1.FinalizerName, 0, keep.Len())
	for _, f := range sets.List(keep) {
		updated.Spec.Finalizers = append(updated.Spec.Finalizers, corev1.FinalizerName(f))
	}
	result, err := d.client.CoreV1().Namespaces().Finalize(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return ns, nil
	}
	return result, err
}

// deleteAllContent deletes every namespaced resource in ns, pods first, and records the outcome
// in the namespace's conditions. It returns the namespace as last written and the number of
// seconds to wait before looking again (0 once the namespace is empty).
func (d *deleter) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, int64, error) {
	logger := klog.FromContext(ctx)
	var errs []error
	var conds conditionBuilder

	resources, err := d.discover(ctx)
	if err != nil {
		// Not fatal: delete what was discovered, but do not finalize in this pass.
		errs = append(errs, fmt.Errorf("discovering namespaced resources: %w", err))
		conds.discoveryFailed(err)
	}
	deletable := discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete"}}, resources)
	gvrs, verbs, err := resourceVerbs(deletable)
	if err != nil {
		errs = append(errs, err)
		conds.groupVersionParsingFailed(err)
	}

	var estimate int64
	remaining := newRemainingContent()
	deletedAt := ns.DeletionTimestamp.Time

	// Pods go first (upstream's ordered namespace deletion): the rest of the content (secrets,
	// config maps, service accounts, policies) stays until no pod can use it any more.
	if i := slices.Index(gvrs, podsGVR); i >= 0 {
		gvrs = slices.Delete(gvrs, i, i+1)
		res, err := d.deleteResource(ctx, podsGVR, verbs[podsGVR], ns.Name, deletedAt)
		if err != nil {
			errs = append(errs, err)
			conds.contentDeletionFailed(err)
		}
		estimate = max(estimate, res.estimate)
		remaining.add(podsGVR, res)
		if res.remaining > 0 {
			gvrs = nil // wait for the pods before touching anything else
		}
	}
	for _, gvr := range gvrs {
		res, err := d.deleteResource(ctx, gvr, verbs[gvr], ns.Name, deletedAt)
		if err != nil {
			errs = append(errs, err)
			conds.contentDeletionFailed(err)
		}
		estimate = max(estimate, res.estimate)
		remaining.add(gvr, res)
	}
	conds.remaining(remaining)

	// Always write the conditions when they change: a condition that was failing and now is
	// fine must say so, even if another finalizer keeps the namespace around.
	updated := ns.DeepCopy()
	if conds.apply(&updated.Status) {
		written, err := d.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			logger.Error(err, "Could not update namespace conditions", "namespace", ns.Name)
		} else {
			ns = written
		}
	}

	err = utilerrors.NewAggregate(errs)
	logger.V(4).Info("Deleted namespace content", "namespace", ns.Name, "estimate", estimate, "err", err)
	return ns, estimate, err
}

// resourceVerbs lists the group version resources in rls (sorted, for a stable order of work)
// with the verbs the server advertises for each.
func resourceVerbs(rls []*metav1.APIResourceList) ([]schema.GroupVersionResource, map[schema.GroupVersionResource]sets.Set[string], error) {
	var errs []error
	verbs := map[schema.GroupVersionResource]sets.Set[string]{}
	for _, rl := range rls {
		gv, err := schema.ParseGroupVersion(rl.GroupVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing group version %q: %w", rl.GroupVersion, err))
			continue
		}
		for _, r := range rl.APIResources {
			verbs[gv.WithResource(r.Name)] = sets.New([]string(r.Verbs)...)
		}
	}
	gvrs := make([]schema.GroupVersionResource, 0, len(verbs))
	for gvr := range verbs {
		gvrs = append(gvrs, gvr)
	}
	sort.Slice(gvrs, func(i, j int) bool { return gvrs[i].String() < gvrs[j].String() })
	return gvrs, verbs, utilerrors.NewAggregate(errs)
}

// gvrResult is what deleting one resource type left behind.
type gvrResult struct {
	// estimate is how many seconds to wait for the rest to go; 0 is no estimate, which does
	// not by itself mean that nothing remains.
	estimate   int64
	remaining  int
	finalizers map[string]int
}

// deleteResource deletes every object of gvr in namespace: one deletecollection when the
// server offers it, else a list and one delete per object. Then it lists what remains.
func (d *deleter) deleteResource(ctx context.Context, gvr schema.GroupVersionResource, verbs sets.Set[string], namespace string, deletedAt time.Time) (gvrResult, error) {
	logger := klog.FromContext(ctx).WithValues("namespace", namespace, "resource", gvr)

	estimate, err := d.estimateGracefulTermination(ctx, gvr, namespace, deletedAt)
	if err != nil {
		return gvrResult{}, fmt.Errorf("estimating graceful termination of %s: %w", gvr, err)
	}

	// The garbage collector must not orphan dependents here: everything in the namespace goes.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	client := d.metadata.Resource(gvr).Namespace(namespace)
	canList := verbs.Has("list")

	deletedCollection := false
	if verbs.Has("deletecollection") {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deletedCollection = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			logger.V(5).Info("deletecollection not supported, deleting one by one")
		default:
			return gvrResult{estimate: estimate}, fmt.Errorf("deleting all %s in namespace %q: %w", gvr, namespace, err)
		}
	}
	if !deletedCollection && canList {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err) {
			return gvrResult{estimate: estimate}, fmt.Errorf("listing %s in namespace %q: %w", gvr, namespace, err)
		}
		if err == nil {
			for _, item := range list.Items {
				err := client.Delete(ctx, item.Name, opts)
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
					return gvrResult{estimate: estimate}, fmt.Errorf("deleting %s %s/%s: %w", gvr, namespace, item.Name, err)
				}
			}
		}
	}

	if !canList {
		return gvrResult{estimate: estimate}, nil
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return gvrResult{estimate: estimate}, nil
	}
	if err != nil {
		return gvrResult{estimate: estimate}, fmt.Errorf("listing remaining %s in namespace %q: %w", gvr, namespace, err)
	}
	if len(list.Items) == 0 {
		return gvrResult{}, nil
	}
	finalizers := map[string]int{}
	for _, item := range list.Items {
		for _, f := range item.Finalizers {
			finalizers[f]++
		}
	}
	res := gvrResult{estimate: estimate, remaining: len(list.Items), finalizers: finalizers}
	logger.V(5).Info("Content remains", "items", res.remaining, "finalizers", finalizers, "estimate", estimate)
	switch {
	case estimate > 0:
		return res, nil
	case len(finalizers) > 0:
		// Objects held by finalizers are normal; give their owners time.
		res.estimate = finalizerEstimateSeconds
		return res, nil
	default:
		return res, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", namespace, gvr)
	}
}

// estimateGracefulTermination is how long objects of gvr may still take to go: for pods the
// longest termination grace period of a non-terminal pod, counted from the namespace's
// deletion; 0 for everything else.
func (d *deleter) estimateGracefulTermination(ctx context.Context, gvr schema.GroupVersionResource, namespace string, deletedAt time.Time) (int64, error) {
	if gvr.GroupResource() != podsGVR.GroupResource() {
		return 0, nil
	}
	pods, err := d.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	var estimate int64
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if time.Since(deletedAt) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}
