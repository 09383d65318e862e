// Package admission holds kubeshim's admission plugins.
package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
)

// NamespaceGetter reads a namespace from storage (not a cache: admission must see a namespace
// created a moment ago, and one that started terminating).
type NamespaceGetter func(ctx context.Context, name string) (*corev1.Namespace, error)

// ImmortalNamespaces may never be deleted, as in kube-apiserver.
var ImmortalNamespaces = sets.New(metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease)

// NamespaceLifecycle refuses objects in namespaces that do not exist or are terminating, and
// the deletion of the immortal namespaces: the upstream NamespaceLifecycle plugin's rules.
type NamespaceLifecycle struct {
	*admission.Handler
	get NamespaceGetter
}

var _ admission.ValidationInterface = &NamespaceLifecycle{}

// NewNamespaceLifecycle returns the plugin.
func NewNamespaceLifecycle(get NamespaceGetter) *NamespaceLifecycle {
	return &NamespaceLifecycle{Handler: admission.NewHandler(admission.Create, admission.Update, admission.Delete), get: get}
}

var namespacesResource = corev1.SchemeGroupVersion.WithResource("namespaces").GroupResource()

// Validate implements admission.ValidationInterface.
func (l *NamespaceLifecycle) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetKind().GroupKind() == corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind() ||
		a.GetResource().GroupResource() == namespacesResource {
		if a.GetOperation() == admission.Delete && a.GetSubresource() == "" && ImmortalNamespaces.Has(a.GetName()) {
			return apierrors.NewForbidden(a.GetResource().GroupResource(), a.GetName(), fmt.Errorf("this namespace may not be deleted"))
		}
		return nil
	}
	ns := a.GetNamespace()
	if ns == "" || a.GetOperation() == admission.Delete {
		return nil
	}
	// Updates and deletes of objects in terminating namespaces go through (the namespace
	// controller and finalizers need them); only creations are refused there.
	namespace, err := l.get(ctx, ns)
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(namespacesResource, ns)
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("namespace %s: %w", ns, err))
	}
	if a.GetOperation() == admission.Create && namespace.Status.Phase == corev1.NamespaceTerminating {
		err := fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns)
		return apierrors.NewForbidden(a.GetResource().GroupResource(), a.GetName(), err)
	}
	return nil
}

// Name is the plugin's name, as upstream names it.
const Name = "NamespaceLifecycle"
