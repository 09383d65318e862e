package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

var (
	// errVirtualDelete: the item was found absent and a virtual delete event
	// was queued for the graph; nothing more to do for it.
	errVirtualDelete = errors.New("virtual delete event queued")
	// errNamespacedOwnerOfClusterScoped: a cluster-scoped object names a
	// namespaced owner, which can never be resolved; do not retry.
	errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped object has a namespaced owner")
)

func (c *Controller) processAttemptToDelete(ctx context.Context) bool {
	n, quit := c.attemptToDelete.Get()
	if quit {
		return false
	}
	defer c.attemptToDelete.Done(n)
	logger := klog.FromContext(ctx)

	err := c.attemptToDeleteItem(ctx, n)
	c.mu.Lock()
	identity, observed := n.identity, n.observed
	c.mu.Unlock()
	switch {
	case errors.Is(err, errVirtualDelete), errors.Is(err, errNamespacedOwnerOfClusterScoped):
		c.attemptToDelete.Forget(n)
	case err != nil:
		if apierrors.IsConflict(err) {
			logger.V(5).Info("Conflict while processing item, will retry", "item", identity, "err", err)
		} else {
			logger.Error(err, "Error syncing item", "item", identity)
		}
		c.attemptToDelete.AddRateLimited(n)
	case !observed:
		// A virtual node stays queued until an informer reports it (or a GET
		// finds it gone): its existence was verified only for this instant.
		logger.V(5).Info("Item not observed by an informer yet, requeueing", "item", identity)
		c.attemptToDelete.AddRateLimited(n)
	default:
		c.attemptToDelete.Forget(n)
	}
	return true
}

// attemptToDeleteItem decides the fate of one node: delete it if all its owners
// are gone, drop references to dead owners if it has a live one, or, for an
// owner in foreground deletion, delete its dependents then its finalizer.
func (c *Controller) attemptToDeleteItem(ctx context.Context, n *node) error {
	logger := klog.FromContext(ctx)
	c.mu.Lock()
	identity, beingDel, deletingDeps, observed := n.identity, n.beingDeleted, n.deletingDependents, n.observed
	dependents := n.dependentList()
	hasDependents := len(dependents) > 0
	depDeletingDependents := false
	for dep := range n.dependents {
		if dep.deletingDependents {
			depDeletingDependents = true
		}
	}
	c.mu.Unlock()

	if beingDel && !deletingDeps {
		logger.V(5).Info("Processing item returned early: being deleted and not waiting for dependents", "item", identity)
		return nil
	}
	if !observed {
		if _, namespaced, err := c.resourceFor(identity.APIVersion, identity.Kind); err == nil && namespaced && identity.Namespace == "" {
			// Only cluster-scoped objects reference this namespaced owner: it can
			// never be resolved. Its dependents report it (and are kept).
			for _, dep := range dependents {
				c.attemptToDelete.Add(dep)
			}
			return errNamespacedOwnerOfClusterScoped
		}
	}

	latest, err := c.getObject(ctx, identity)
	switch {
	case isNotFoundOrGone(err):
		logger.V(5).Info("Item not found, generating a virtual delete event", "item", identity)
		c.enqueueVirtualDelete(identity)
		return errVirtualDelete
	case err != nil:
		return err
	}
	if latest.GetUID() != identity.UID {
		logger.V(5).Info("UID does not match, generating a virtual delete event", "item", identity, "uid", latest.GetUID())
		c.enqueueVirtualDelete(identity)
		return errVirtualDelete
	}

	if deletingDeps || deletingDependents(latest) {
		return c.processDeletingDependentsItem(ctx, n)
	}
	if beingDeleted(latest) {
		return nil
	}

	refs := latest.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	solid, dangling, waiting, err := c.classifyReferences(ctx, identity, refs)
	if err != nil {
		return err
	}
	logger.V(5).Info("Classified references", "item", identity, "solid", solid, "dangling", dangling, "waitingForDependentsDeletion", waiting)

	switch {
	case len(solid) != 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// A live owner keeps the item; drop the references to the others.
		uids := append(refUIDs(dangling), refUIDs(waiting)...)
		if err := c.patchOwnerReferences(ctx, identity, removeRefs(uids)); err != nil {
			c.recorder.Eventf(eventObject(identity), "Warning", ReasonFailedDelete, "Failed to remove references to owners gone: %v", err)
			return fmt.Errorf("removing dangling ownerReferences from %s: %w", identity, err)
		}
		logger.V(2).Info("Removed dangling ownerReferences", "item", identity, "owners", uids)
		return nil

	case len(waiting) != 0 && hasDependents:
		if depDeletingDependents {
			// One of our dependents waits for us while our owner waits for
			// us too: stop blocking the owner so a cycle cannot deadlock.
			if err := c.patchOwnerReferences(ctx, identity, unblockRefs(refUIDs(waiting))); err != nil {
				return fmt.Errorf("unblocking ownerReferences of %s: %w", identity, err)
			}
		}
		// Delete in foreground: our dependents go before us, as for our owner.
		return c.deleteObject(ctx, identity, metav1.DeletePropagationForeground)

	default:
		// No live owner: collect it, keeping the policy its finalizers ask for.
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.deleteObject(ctx, identity, policy)
	}
}

// processDeletingDependentsItem handles an owner in foreground deletion: once no
// dependent blocks it, its foregroundDeletion finalizer is removed; otherwise the
// blocking dependents are queued for deletion.
func (c *Controller) processDeletingDependentsItem(ctx context.Context, n *node) error {
	c.mu.Lock()
	identity := n.identity
	var pending []*node
	blocking := n.blockingDependents()
	for _, dep := range blocking {
		if !dep.deletingDependents {
			pending = append(pending, dep)
		}
	}
	c.mu.Unlock()

	if len(blocking) == 0 {
		klog.FromContext(ctx).V(2).Info("Removing foregroundDeletion finalizer: no blocking dependents left", "item", identity)
		return c.removeFinalizer(ctx, identity, metav1.FinalizerDeleteDependents)
	}
	for _, dep := range pending {
		c.attemptToDelete.Add(dep)
	}
	return nil
}

// classifyReferences sorts an item's owners: solid (exists, not deleting its
// dependents), dangling (absent or another UID), waiting (in foreground deletion).
func (c *Controller) classifyReferences(ctx context.Context, item objectReference, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	var errs []error
	for _, ref := range refs {
		isDangling, owner, err := c.isDangling(ctx, ref, item)
		if err != nil {
			if errors.Is(err, errNamespacedOwnerOfClusterScoped) {
				return nil, nil, nil, err
			}
			errs = append(errs, err)
			continue
		}
		switch {
		case isDangling:
			dangling = append(dangling, ref)
		case deletingDependents(owner):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	if len(errs) > 0 {
		// Never decide on a partial view: an owner we could not check may be live.
		return nil, nil, nil, utilerrors.NewAggregate(errs)
	}
	return solid, dangling, waiting, nil
}

// isDangling checks an owner with a GET against the API server (never the
// informer cache, which may lag).
func (c *Controller) isDangling(ctx context.Context, ref metav1.OwnerReference, item objectReference) (bool, *metav1.PartialObjectMetadata, error) {
	gvr, namespaced, err := c.resourceFor(ref.APIVersion, ref.Kind)
	if err != nil {
		return false, nil, err
	}
	if namespaced && item.Namespace == "" {
		c.recorder.Eventf(eventObject(item), "Warning", ReasonOwnerRefInvalidNamespace,
			"ownerRef %s does not exist in namespace %q", ref.String(), item.Namespace)
		return false, nil, errNamespacedOwnerOfClusterScoped
	}
	key := objectReference{OwnerReference: coordinates(ref), Namespace: namespaceFor(namespaced, item.Namespace)}
	if _, ok := c.absentOwners.Get(key); ok {
		return true, nil, nil
	}
	owner, err := c.metadataClient.Resource(gvr).Namespace(key.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case isNotFoundOrGone(err):
		c.absentOwners.Add(key, struct{}{})
		return true, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("getting owner %s of %s: %w", ref.String(), item, err)
	}
	if owner.GetUID() != ref.UID {
		c.absentOwners.Add(key, struct{}{})
		return true, nil, nil
	}
	return false, owner, nil
}

// processAttemptToOrphan handles an owner with the orphan finalizer: its
// dependents lose their references to it, then the finalizer goes.
func (c *Controller) processAttemptToOrphan(ctx context.Context) bool {
	n, quit := c.attemptToOrphan.Get()
	if quit {
		return false
	}
	defer c.attemptToOrphan.Done(n)
	logger := klog.FromContext(ctx)

	c.mu.Lock()
	identity := n.identity
	dependents := make([]objectReference, 0, len(n.dependents))
	for dep := range n.dependents {
		dependents = append(dependents, dep.identity)
	}
	c.mu.Unlock()

	if err := c.orphanDependents(ctx, identity, dependents); err != nil {
		logger.Error(err, "Orphaning dependents failed", "owner", identity)
		c.attemptToOrphan.AddRateLimited(n)
		return true
	}
	if err := c.removeFinalizer(ctx, identity, metav1.FinalizerOrphanDependents); err != nil {
		logger.Error(err, "Removing the orphan finalizer failed", "owner", identity)
		c.attemptToOrphan.AddRateLimited(n)
		return true
	}
	c.attemptToOrphan.Forget(n)
	return true
}

func (c *Controller) orphanDependents(ctx context.Context, owner objectReference, dependents []objectReference) error {
	var errs []error
	for _, dep := range dependents {
		if err := c.patchOwnerReferences(ctx, dep, removeRefs([]types.UID{owner.UID})); err != nil {
			errs = append(errs, fmt.Errorf("orphaning %s: %w", dep, err))
		}
	}
	if len(errs) > 0 {
		return utilerrors.NewAggregate(errs)
	}
	klog.FromContext(ctx).V(2).Info("Orphaned dependents", "owner", owner, "count", len(dependents))
	return nil
}

// refsEdit rewrites an ownerReference list; it reports false when nothing changed.
type refsEdit func([]metav1.OwnerReference) ([]metav1.OwnerReference, bool)

func removeRefs(uids []types.UID) refsEdit {
	return func(refs []metav1.OwnerReference) ([]metav1.OwnerReference, bool) {
		out := []metav1.OwnerReference{}
		for _, ref := range refs {
			if !containsUID(uids, ref.UID) {
				out = append(out, ref)
			}
		}
		return out, len(out) != len(refs)
	}
}

func unblockRefs(uids []types.UID) refsEdit {
	return func(refs []metav1.OwnerReference) ([]metav1.OwnerReference, bool) {
		changed := false
		out := make([]metav1.OwnerReference, len(refs))
		for i, ref := range refs {
			if containsUID(uids, ref.UID) && blocks(ref) {
				f := false
				ref.BlockOwnerDeletion = &f
				changed = true
			}
			out[i] = ref
		}
		return out, changed
	}
}

// metadataPatch builds a JSON merge patch of one metadata field. The
// resourceVersion makes the server answer a conflict if the object changed
// since it was read, and the uid that it is still the same object.
func metadataPatch(resourceVersion string, uid types.UID, field string, value interface{}) map[string]interface{} {
	return map[string]interface{}{"metadata": map[string]interface{}{
		"resourceVersion": resourceVersion,
		"uid":             uid,
		field:             value,
	}}
}

// patchOwnerReferences applies edit to the object's current ownerReferences
// (re-read on conflict). A missing object is not an error.
func (c *Controller) patchOwnerReferences(ctx context.Context, id objectReference, edit refsEdit) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj, err := c.getObject(ctx, id)
		if isNotFoundOrGone(err) {
			return nil
		} else if err != nil {
			return err
		}
		if obj.GetUID() != id.UID {
			return nil
		}
		refs, changed := edit(obj.GetOwnerReferences())
		if !changed {
			return nil
		}
		return c.patch(ctx, id, metadataPatch(obj.GetResourceVersion(), id.UID, "ownerReferences", refs))
	})
}

// removeFinalizer removes finalizer from the object (re-read on conflict).
func (c *Controller) removeFinalizer(ctx context.Context, id objectReference, finalizer string) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj, err := c.getObject(ctx, id)
		if isNotFoundOrGone(err) {
			return nil
		} else if err != nil {
			return err
		}
		if obj.GetUID() != id.UID || !hasFinalizer(obj, finalizer) {
			return nil
		}
		finalizers := []string{}
		for _, f := range obj.GetFinalizers() {
			if f != finalizer {
				finalizers = append(finalizers, f)
			}
		}
		return c.patch(ctx, id, metadataPatch(obj.GetResourceVersion(), id.UID, "finalizers", finalizers))
	})
	if err != nil {
		c.recorder.Eventf(eventObject(id), "Warning", ReasonFailedFinalizerRemoval, "Failed to remove finalizer %s: %v", finalizer, err)
		return fmt.Errorf("removing finalizer %s from %s: %w", finalizer, id, err)
	}
	return nil
}

func (c *Controller) patch(ctx context.Context, id objectReference, patch interface{}) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encoding patch for %s: %w", id, err)
	}
	gvr, namespaced, err := c.resourceFor(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	_, err = c.metadataClient.Resource(gvr).Namespace(namespaceFor(namespaced, id.Namespace)).
		Patch(ctx, id.Name, types.MergePatchType, data, metav1.PatchOptions{})
	return err
}

// deleteObject deletes the object with the given propagation policy, on the
// condition that it still has the UID the graph knows.
func (c *Controller) deleteObject(ctx context.Context, id objectReference, policy metav1.DeletionPropagation) error {
	gvr, namespaced, err := c.resourceFor(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	uid := id.UID
	err = c.metadataClient.Resource(gvr).Namespace(namespaceFor(namespaced, id.Namespace)).Delete(ctx, id.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	switch {
	case err == nil:
		klog.FromContext(ctx).V(2).Info("Deleted object", "item", id, "propagationPolicy", policy)
		return nil
	case isNotFoundOrGone(err):
		return nil
	default:
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(eventObject(id), "Warning", ReasonFailedDelete, "Garbage collector failed to delete %s %s: %v", id.Kind, id.Name, err)
		}
		return fmt.Errorf("deleting %s: %w", id, err)
	}
}

func (c *Controller) getObject(ctx context.Context, id objectReference) (*metav1.PartialObjectMetadata, error) {
	gvr, namespaced, err := c.resourceFor(id.APIVersion, id.Kind)
	if err != nil {
		return nil, err
	}
	return c.metadataClient.Resource(gvr).Namespace(namespaceFor(namespaced, id.Namespace)).Get(ctx, id.Name, metav1.GetOptions{})
}

// resourceFor maps apiVersion/kind to a resource and whether it is namespaced.
func (c *Controller) resourceFor(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("parsing apiVersion %q: %w", apiVersion, err)
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			if r, ok := c.mapper.(meta.ResettableRESTMapper); ok {
				r.Reset() // a new kind (CRD) may have appeared: re-read discovery next time
			}
		}
		return schema.GroupVersionResource{}, false, fmt.Errorf("mapping %s %s to a resource: %w", apiVersion, kind, err)
	}
	return mapping.Resource, mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func (c *Controller) enqueueVirtualDelete(id objectReference) {
	c.graphChanges.Add(&event{
		virtual:   true,
		eventType: deleteEvent,
		obj:       &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: id.Name, Namespace: id.Namespace, UID: id.UID}},
		gvk:       schema.FromAPIVersionAndKind(id.APIVersion, id.Kind),
	})
}

func namespaceFor(namespaced bool, ns string) string {
	if namespaced {
		return ns
	}
	return ""
}

func refUIDs(refs []metav1.OwnerReference) []types.UID {
	out := make([]types.UID, 0, len(refs))
	for _, ref := range refs {
		out = append(out, ref.UID)
	}
	return out
}

func containsUID(uids []types.UID, uid types.UID) bool {
	for _, u := range uids {
		if u == uid {
			return true
		}
	}
	return false
}
