// Package namespace serves core/v1 namespaces with upstream's two-phase deletion: DELETE
// marks the namespace Terminating, the namespace controller empties it and clears
// spec.finalizers through /finalize, and the namespace goes once nothing finalizes it.
package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes namespaces.
func Definition() *resource.Definition {
	d := &resource.Definition{
		GroupVersion:         corev1.SchemeGroupVersion,
		Kind:                 "Namespace",
		Resource:             "namespaces",
		Singular:             "namespace",
		ShortNames:           []string{"ns"},
		New:                  func() runtime.Object { return &corev1.Namespace{} },
		NewList:              func() runtime.Object { return &corev1.NamespaceList{} },
		Status:               true,
		Validate:             resource.Validator(validation.ValidateNamespace),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateNamespaceUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateNamespaceStatusUpdate),
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			for _, f := range ns.Spec.Finalizers {
				if f == corev1.FinalizerKubernetes {
					return
				}
			}
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			// spec.finalizers change only through /finalize.
			obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
		},
		TableConvertor: printers.TableConvertorFor(corev1.SchemeGroupVersion.WithResource("namespaces").GroupResource()),
		Decorate: func(s *genericregistry.Store) {
			s.ShouldDeleteDuringUpdate = shouldDeleteDuringUpdate
		},
	}
	return d
}

// shouldDeleteDuringUpdate removes a terminating namespace once neither its spec finalizers
// nor its metadata finalizers hold it.
func shouldDeleteDuringUpdate(ctx context.Context, key string, obj, existing runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return false
	}
	return len(ns.Spec.Finalizers) == 0 && genericregistry.ShouldDeleteDuringUpdate(ctx, key, obj, existing)
}

// Storages returns namespaces, namespaces/status and namespaces/finalize.
func Storages(optsGetter generic.RESTOptionsGetter) (*REST, map[string]rest.Storage, error) {
	d := Definition()
	store, storages, err := d.Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	main := &REST{REST: storages["namespaces"].(*resource.REST), store: store}
	storages["namespaces"] = main
	storages["namespaces/finalize"] = newFinalizeREST(store, d)
	return main, storages, nil
}

// REST is the namespaces resource with upstream's deletion.
type REST struct {
	*resource.REST
	store *genericregistry.Store
}

// Delete marks a namespace Terminating; it is removed once its finalizers are gone.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.store.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if p := options.Preconditions; p != nil {
		if p.UID != nil && *p.UID != ns.UID {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, ns.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != ns.ResourceVersion {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, ns.ResourceVersion))
		}
	}
	if ns.DeletionTimestamp.IsZero() {
		if deleteValidation != nil {
			if err := deleteValidation(ctx, ns); err != nil {
				return nil, false, err
			}
		}
		key, err := r.store.KeyFunc(ctx, name)
		if err != nil {
			return nil, false, err
		}
		out := r.store.NewFunc()
		now := metav1.NewTime(time.Now())
		err = r.store.Storage.GuaranteedUpdate(ctx, key, out, false, &storage.Preconditions{UID: &ns.UID},
			func(existing runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
				cur := existing.(*corev1.Namespace)
				if cur.DeletionTimestamp.IsZero() {
					cur.DeletionTimestamp = &now
				}
				cur.Status.Phase = corev1.NamespaceTerminating
				if options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationOrphan {
					cur.Finalizers = appendOnce(cur.Finalizers, metav1.FinalizerOrphanDependents)
				}
				return cur, nil, nil
			}, len(options.DryRun) > 0, nil)
		if err != nil {
			return nil, false, err
		}
		ns = out.(*corev1.Namespace)
	}
	if len(ns.Spec.Finalizers) != 0 {
		return ns, false, nil
	}
	return r.store.Delete(ctx, name, deleteValidation, options)
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
