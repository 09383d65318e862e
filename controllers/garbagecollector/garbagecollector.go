// Package garbagecollector deletes objects whose owners are gone, following
// metadata.ownerReferences across every resource, as kube-controller-manager's
// garbage collector does: background cascading deletion, foreground deletion
// (the foregroundDeletion finalizer) and orphaning (the orphan finalizer).
//
// It watches the metadata (PartialObjectMetadata) of every resource it is given,
// builds a graph of owners and dependents in memory, and verifies with a GET
// against the API server before it deletes anything, so a lagging informer never
// causes a deletion.
package garbagecollector

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/lru"
)

// ComponentName is the event source component upstream uses.
const ComponentName = "garbagecollector"

// Event reasons.
const (
	ReasonOwnerRefInvalidNamespace = "OwnerRefInvalidNamespace"
	ReasonFailedDelete             = "FailedGarbageCollection"
	ReasonFailedFinalizerRemoval   = "FailedFinalizerRemoval"
)

// Controller is the garbage collector.
type Controller struct {
	metadataClient metadata.Interface
	mapper         meta.RESTMapper
	recorder       record.EventRecorder
	factory        metadatainformer.SharedInformerFactory
	resources      []schema.GroupVersionResource
	synced         []cache.InformerSynced

	// graphChanges carries informer (and virtual) events to the single graph
	// builder goroutine.
	graphChanges workqueue.TypedInterface[*event]
	// attemptToDelete holds nodes to check: dependents whose owners may be
	// gone, virtual owners to verify, owners deleting their dependents.
	attemptToDelete workqueue.TypedRateLimitingInterface[*node]
	// attemptToOrphan holds owners with the orphan finalizer.
	attemptToOrphan workqueue.TypedRateLimitingInterface[*node]

	// absentOwners caches owner identities verified to be absent (UIDs never
	// come back, so a hit is always right).
	absentOwners *lru.Cache

	mu        sync.Mutex
	uidToNode map[types.UID]*node
}

// New builds a garbage collector over the given resources (every resource that
// supports list, watch and delete; see DeletableResources). mapper resolves the
// apiVersion/kind of ownerReferences to resources (a DeferredDiscoveryRESTMapper
// over the API server's discovery, in kubeshim). The controller owns its metadata
// informers: Run starts them.
func New(metadataClient metadata.Interface, mapper meta.RESTMapper, resources []schema.GroupVersionResource, recorder record.EventRecorder) (*Controller, error) {
	if metadataClient == nil || mapper == nil || recorder == nil {
		return nil, fmt.Errorf("garbagecollector: metadata client, RESTMapper and recorder are required")
	}
	c := &Controller{
		metadataClient: metadataClient,
		mapper:         mapper,
		recorder:       recorder,
		factory:        metadatainformer.NewSharedInformerFactory(metadataClient, 0),
		graphChanges:   workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*event]{Name: "garbage_collector_graph_changes"}),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[*node](),
			workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[*node](),
			workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_orphan"}),
		absentOwners: lru.New(500),
		uidToNode:    map[types.UID]*node{},
	}
	seen := map[schema.GroupVersionResource]bool{}
	for _, gvr := range resources {
		if seen[gvr] {
			continue
		}
		seen[gvr] = true
		gvk, err := mapper.KindFor(gvr)
		if err != nil {
			return nil, fmt.Errorf("garbagecollector: kind of resource %s: %w", gvr, err)
		}
		informer := c.factory.ForResource(gvr).Informer()
		if _, err := informer.AddEventHandler(c.handlerFor(gvk)); err != nil {
			return nil, fmt.Errorf("garbagecollector: event handler for %s: %w", gvr, err)
		}
		c.resources = append(c.resources, gvr)
		c.synced = append(c.synced, informer.HasSynced)
	}
	return c, nil
}

func (c *Controller) handlerFor(gvk schema.GroupVersionKind) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if o, ok := obj.(metav1.Object); ok {
				c.graphChanges.Add(&event{eventType: addEvent, obj: o, gvk: gvk})
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			o, ok1 := newObj.(metav1.Object)
			old, ok2 := oldObj.(metav1.Object)
			if ok1 && ok2 {
				c.graphChanges.Add(&event{eventType: updateEvent, obj: o, oldObj: old, gvk: gvk})
			}
		},
		DeleteFunc: func(obj interface{}) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if o, ok := obj.(metav1.Object); ok {
				c.graphChanges.Add(&event{eventType: deleteEvent, obj: o, gvk: gvk})
			}
		},
	}
}

// Run starts the metadata informers, waits for them to sync (the graph is then
// built from the initial lists), and runs workers for the delete and orphan
// queues until ctx ends. It returns when every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", ComponentName)
	ctx = klog.NewContext(ctx, logger)

	var wg sync.WaitGroup
	defer func() {
		c.graphChanges.ShutDown()
		c.attemptToDelete.ShutDown()
		c.attemptToOrphan.ShutDown()
		c.factory.Shutdown() // waits for the informers' goroutines
		wg.Wait()
		logger.Info("Shut down garbage collector")
	}()

	logger.Info("Starting garbage collector", "resources", len(c.resources))
	c.factory.Start(ctx.Done())

	// The graph builder runs from the start so that the initial lists fill the graph.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil && c.processGraphChange(ctx) {
		}
	}()

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	if workers < 1 {
		workers = 1
	}
	for i := 0; i < workers; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for ctx.Err() == nil && c.processAttemptToDelete(ctx) {
				}
			}, time.Second)
		}()
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for ctx.Err() == nil && c.processAttemptToOrphan(ctx) {
				}
			}, time.Second)
		}()
	}
	<-ctx.Done()
}

// processGraphChange applies one event to the graph and queues the work it implies.
func (c *Controller) processGraphChange(ctx context.Context) bool {
	ev, quit := c.graphChanges.Get()
	if quit {
		return false
	}
	defer c.graphChanges.Done(ev)
	c.applyEvent(klog.FromContext(ctx), ev)
	return true
}

func (c *Controller) applyEvent(logger klog.Logger, ev *event) {
	obj := ev.obj
	logger.V(5).Info("GraphBuilder process object", "apiVersion", ev.gvk.GroupVersion().String(), "kind", ev.gvk.Kind,
		"object", klog.KRef(obj.GetNamespace(), obj.GetName()), "uid", obj.GetUID(), "event", ev.eventType, "virtual", ev.virtual)

	c.mu.Lock()
	defer c.mu.Unlock()

	existing, found := c.uidToNode[obj.GetUID()]
	if found && !ev.virtual && !existing.observed {
		// A virtual node is now seen by an informer. Dependents that named it by
		// other coordinates are re-checked (a GET by their own coordinates decides).
		observed := identityFromEvent(ev)
		if observed != existing.identity {
			for _, dep := range existing.dependentList() {
				if !c.refersWithCoordinates(dep, observed) {
					c.reportInvalidNamespace(dep, observed)
					c.attemptToDelete.Add(dep)
				}
			}
			existing.identity = observed
		}
		existing.observed = true
	}

	switch {
	case (ev.eventType == addEvent || ev.eventType == updateEvent) && !found:
		n := newNode(identityFromEvent(ev))
		n.observed = true
		n.owners = obj.GetOwnerReferences()
		n.beingDeleted = beingDeleted(obj)
		n.deletingDependents = deletingDependents(obj)
		c.uidToNode[n.identity.UID] = n
		c.addDependentToOwners(logger, n, n.owners)
		c.processTransitions(ev.oldObj, obj, n)

	case ev.eventType == addEvent || ev.eventType == updateEvent:
		if !ev.virtual {
			existing.identity = identityFromEvent(ev)
		}
		added, removed, changed := referencesDiffs(existing.owners, obj.GetOwnerReferences())
		if len(added)+len(removed)+len(changed) > 0 {
			c.addUnblockedOwnersToDeleteQueue(removed, changed)
			existing.owners = obj.GetOwnerReferences()
			c.addDependentToOwners(logger, existing, added)
			c.removeDependentFromOwners(existing, removed)
		}
		if beingDeleted(obj) {
			existing.beingDeleted = true
		}
		c.processTransitions(ev.oldObj, obj, existing)

	case ev.eventType == deleteEvent:
		if !found {
			return
		}
		if ev.virtual {
			deleted := identityFromEvent(ev)
			matching, nonmatching := c.partitionDependents(existing, deleted)
			if !existing.observed && len(nonmatching) > 0 {
				// Some dependents name this owner by other coordinates: keep the
				// virtual node, collect only the dependents whose reference was
				// verified absent, and verify the next identity.
				c.absentOwners.Add(deleted, struct{}{})
				for _, dep := range matching {
					c.attemptToDelete.Add(dep)
				}
				if existing.identity == deleted {
					existing.identity = alternateIdentity(nonmatching, deleted)
					c.attemptToDelete.AddRateLimited(existing)
				}
				return
			}
			if existing.observed && existing.identity != deleted {
				// The informer saw the object under other coordinates: it exists.
				c.absentOwners.Add(deleted, struct{}{})
				for _, dep := range matching {
					c.attemptToDelete.Add(dep)
				}
				return
			}
		}
		c.removeNode(existing)
		if len(existing.dependents) > 0 {
			c.absentOwners.Add(identityFromEvent(ev), struct{}{})
		}
		for dep := range existing.dependents {
			c.attemptToDelete.Add(dep)
		}
		for _, ref := range existing.owners {
			if owner, ok := c.uidToNode[ref.UID]; ok && owner.deletingDependents {
				// Let the owner check whether its last blocking dependent went.
				c.attemptToDelete.Add(owner)
			}
		}
	}
}

// processTransitions queues owners that just entered orphan or foreground deletion.
func (c *Controller) processTransitions(oldObj, newObj metav1.Object, n *node) {
	if startsWaitingForDependentsOrphaned(oldObj, newObj) {
		c.attemptToOrphan.Add(n)
		return
	}
	if startsWaitingForDependentsDeleted(oldObj, newObj) {
		n.deletingDependents = true
		n.beingDeleted = true
		for dep := range n.dependents {
			c.attemptToDelete.Add(dep)
		}
		c.attemptToDelete.Add(n)
	}
}

// addDependentToOwners links n to the owners named in refs, creating virtual
// nodes (queued for verification) for owners not seen yet.
func (c *Controller) addDependentToOwners(logger klog.Logger, n *node, refs []metav1.OwnerReference) {
	for _, ref := range refs {
		owner, ok := c.uidToNode[ref.UID]
		if !ok {
			owner = newNode(objectReference{OwnerReference: coordinates(ref), Namespace: n.identity.Namespace})
			c.uidToNode[ref.UID] = owner
			logger.V(5).Info("add virtual item", "identity", owner.identity)
			c.attemptToDelete.Add(owner)
		}
		owner.dependents[n] = struct{}{}
		if owner.observed {
			// The owner is known: a reference with wrong coordinates (or a
			// namespaced owner in another namespace) means this one is dangling.
			if !refMatchesCoordinates(ref, owner.identity.OwnerReference) ||
				(owner.identity.Namespace != "" && owner.identity.Namespace != n.identity.Namespace) {
				c.reportInvalidNamespace(n, owner.identity)
				c.attemptToDelete.Add(n)
			} else if owner.deletingDependents {
				// A new dependent of an owner deleting its dependents goes too.
				c.attemptToDelete.Add(n)
			}
		}
	}
}

func (c *Controller) removeDependentFromOwners(n *node, refs []metav1.OwnerReference) {
	for _, ref := range refs {
		if owner, ok := c.uidToNode[ref.UID]; ok {
			delete(owner.dependents, n)
		}
	}
}

func (c *Controller) removeNode(n *node) {
	delete(c.uidToNode, n.identity.UID)
	c.removeDependentFromOwners(n, n.owners)
}

// addUnblockedOwnersToDeleteQueue queues owners in foreground deletion that a
// dependent stopped blocking (reference removed or blockOwnerDeletion changed).
func (c *Controller) addUnblockedOwnersToDeleteQueue(removed, changed []metav1.OwnerReference) {
	for _, refs := range [][]metav1.OwnerReference{removed, changed} {
		for _, ref := range refs {
			if !blocks(ref) {
				continue
			}
			if owner, ok := c.uidToNode[ref.UID]; ok && owner.deletingDependents {
				c.attemptToDelete.Add(owner)
			}
		}
	}
}

// refersWithCoordinates reports whether dep references owner by exactly these coordinates.
func (c *Controller) refersWithCoordinates(dep *node, owner objectReference) bool {
	if owner.Namespace != "" && owner.Namespace != dep.identity.Namespace {
		return false
	}
	for _, ref := range dep.owners {
		if ref.UID == owner.UID && !refMatchesCoordinates(ref, owner.OwnerReference) {
			return false
		}
	}
	return true
}

// partitionDependents splits n's dependents into those referencing n by the
// given identity and those that name its UID with other coordinates.
func (c *Controller) partitionDependents(n *node, identity objectReference) (matching, nonmatching []*node) {
	for dep := range n.dependents {
		match, mismatch := false, false
		if identity.Namespace != "" && identity.Namespace != dep.identity.Namespace {
			mismatch = true
		} else {
			for _, ref := range dep.owners {
				if ref.UID != identity.UID {
					continue
				}
				if refMatchesCoordinates(ref, identity.OwnerReference) {
					match = true
				} else {
					mismatch = true
				}
			}
		}
		if match {
			matching = append(matching, dep)
		}
		if mismatch {
			nonmatching = append(nonmatching, dep)
		}
	}
	return matching, nonmatching
}

// alternateIdentity returns another identity under which deps reference the
// absent UID (any one: each is verified in turn).
func alternateIdentity(deps []*node, absent objectReference) objectReference {
	for _, dep := range deps {
		for _, ref := range dep.owners {
			if ref.UID != absent.UID {
				continue
			}
			alt := objectReference{OwnerReference: coordinates(ref), Namespace: dep.identity.Namespace}
			if alt != absent {
				return alt
			}
		}
	}
	return absent
}

func (c *Controller) reportInvalidNamespace(dep *node, owner objectReference) {
	if owner.Namespace == "" || owner.Namespace == dep.identity.Namespace {
		return
	}
	c.recorder.Eventf(eventObject(dep.identity), "Warning", ReasonOwnerRefInvalidNamespace,
		"ownerRef %s does not exist in namespace %q", owner.OwnerReference.String(), dep.identity.Namespace)
}

func eventObject(id objectReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: id.APIVersion, Kind: id.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: id.Name, Namespace: id.Namespace, UID: id.UID},
	}
}

// isNotFoundOrGone reports errors meaning the object no longer exists.
func isNotFoundOrGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsGone(err)
}
