// Package admission holds kubeshim's admission plugins.
package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	return &NamespaceLifecycle{Handler: admission.NewHandler(admission.Create, admission.Delete), get: get}
}

var namespacesResource = corev1.SchemeGroupVersion.WithResource("namespaces").GroupResource()

// accessReviews are answered in any namespace: refusing them would tell whether it exists.
var accessReviews = schema.GroupResource{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}

// Validate implements admission.ValidationInterface.
func (l *NamespaceLifecycle) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetKind().GroupKind() == corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind() ||
		a.GetResource().GroupResource() == namespacesResource {
		if a.GetOperation() == admission.Delete && a.GetSubresource() == "" && ImmortalNamespaces.Has(a.GetName()) {
			return apierrors.NewForbidden(a.GetResource().GroupResource(), a.GetName(), fmt.Errorf("this namespace may not be deleted"))
		}
		return nil
	}
	// Only creations are checked: updates and deletes of objects in terminating namespaces go
	// through (the namespace controller and finalizers need them), and in a missing one the
	// storage answers 404 itself.
	ns := a.GetNamespace()
	if ns == "" || a.GetOperation() != admission.Create || a.GetResource().GroupResource() == accessReviews {
		return nil
	}
	namespace, err := l.get(ctx, ns)
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(namespacesResource, ns)
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("namespace %s: %w", ns, err))
	}
	if namespace.Status.Phase != corev1.NamespaceTerminating {
		return nil
	}
	err = admission.NewForbidden(a, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	var status *apierrors.StatusError
	if errors.As(err, &status) && status.ErrStatus.Details != nil {
		status.ErrStatus.Details.Causes = append(status.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field:   "metadata.namespace",
		})
	}
	return err
}

// Name is the plugin's name, as upstream names it.
const Name = "NamespaceLifecycle"
