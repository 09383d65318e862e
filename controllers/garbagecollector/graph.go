package garbagecollector

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objectReference identifies an object of the graph: the coordinates an
// ownerReference carries, plus the namespace (empty for cluster-scoped objects).
type objectReference struct {
	metav1.OwnerReference
	Namespace string
}

func (r objectReference) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// coordinates strips an ownerReference to what identifies the owner (no
// controller / blockOwnerDeletion flags), so that references compare by value.
func coordinates(ref metav1.OwnerReference) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID}
}

func refMatchesCoordinates(a, b metav1.OwnerReference) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Kind == b.Kind && a.APIVersion == b.APIVersion
}

// node is one object in the dependency graph. Every field is guarded by the
// Controller's graph lock.
type node struct {
	identity objectReference
	// dependents are the nodes whose ownerReferences name this node's UID.
	dependents map[*node]struct{}
	// owners is the node's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// observed is false for a virtual node: an owner only known from the
	// ownerReferences of its dependents, not (yet) seen by an informer.
	observed bool
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: the object has a deletionTimestamp and the
	// foregroundDeletion finalizer; the GC must delete its dependents first.
	deletingDependents bool
}

func newNode(identity objectReference) *node {
	return &node{identity: identity, dependents: map[*node]struct{}{}}
}

// blockingDependents returns the dependents whose ownerReference to n has
// blockOwnerDeletion=true.
func (n *node) blockingDependents() []*node {
	var out []*node
	for dep := range n.dependents {
		for _, ref := range dep.owners {
			if ref.UID == n.identity.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				out = append(out, dep)
				break
			}
		}
	}
	return out
}

func (n *node) dependentList() []*node {
	out := make([]*node, 0, len(n.dependents))
	for dep := range n.dependents {
		out = append(out, dep)
	}
	return out
}

// eventType is the kind of change an informer (or the GC itself) reported.
type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is a change to the graph. virtual events come from the GC's own
// lookups: a GET that found the object absent (or with another UID).
type event struct {
	virtual   bool
	eventType eventType
	obj       metav1.Object
	oldObj    metav1.Object
	gvk       schema.GroupVersionKind
}

func identityFromEvent(ev *event) objectReference {
	return objectReference{
		OwnerReference: metav1.OwnerReference{
			APIVersion: ev.gvk.GroupVersion().String(),
			Kind:       ev.gvk.Kind,
			Name:       ev.obj.GetName(),
			UID:        ev.obj.GetUID(),
		},
		Namespace: ev.obj.GetNamespace(),
	}
}

func hasFinalizer(obj metav1.Object, finalizer string) bool {
	for _, f := range obj.GetFinalizers() {
		if f == finalizer {
			return true
		}
	}
	return false
}

func beingDeleted(obj metav1.Object) bool {
	return obj.GetDeletionTimestamp() != nil
}

func deletingDependents(obj metav1.Object) bool {
	return beingDeleted(obj) && hasFinalizer(obj, metav1.FinalizerDeleteDependents)
}

func orphaningDependents(obj metav1.Object) bool {
	return beingDeleted(obj) && hasFinalizer(obj, metav1.FinalizerOrphanDependents)
}

// startsWaitingForDependentsDeleted: obj just entered foreground deletion.
func startsWaitingForDependentsDeleted(oldObj, newObj metav1.Object) bool {
	return deletingDependents(newObj) && (oldObj == nil || !deletingDependents(oldObj))
}

// startsWaitingForDependentsOrphaned: obj just entered orphan deletion.
func startsWaitingForDependentsOrphaned(oldObj, newObj metav1.Object) bool {
	return orphaningDependents(newObj) && (oldObj == nil || !orphaningDependents(oldObj))
}

// referencesDiffs compares two ownerReference lists by UID.
func referencesDiffs(old, cur []metav1.OwnerReference) (added, removed, changed []metav1.OwnerReference) {
	oldByUID := make(map[string]metav1.OwnerReference, len(old))
	for _, ref := range old {
		oldByUID[string(ref.UID)] = ref
	}
	for _, ref := range cur {
		o, ok := oldByUID[string(ref.UID)]
		if !ok {
			added = append(added, ref)
			continue
		}
		if !ownerRefEqual(o, ref) {
			changed = append(changed, o)
		}
		delete(oldByUID, string(ref.UID))
	}
	for _, ref := range old {
		if _, ok := oldByUID[string(ref.UID)]; ok {
			removed = append(removed, ref)
		}
	}
	return added, removed, changed
}

func ownerRefEqual(a, b metav1.OwnerReference) bool {
	return refMatchesCoordinates(a, b) && boolPtrEqual(a.Controller, b.Controller) && boolPtrEqual(a.BlockOwnerDeletion, b.BlockOwnerDeletion)
}

func boolPtrEqual(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}
