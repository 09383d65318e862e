// Package namespace serves core/v1 namespaces with upstream's two-phase deletion: DELETE
// marks the namespace Terminating, the namespace controller empties it and clears
// spec.finalizers through /finalize, and the namespace goes once nothing finalizes it.
package namespace

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

var namespacesResource = corev1.Resource("namespaces")

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
		// Defaulting labels a namespace with its name, but a generated name is only known
		// after defaulting: upstream sets the label again here, after validation.
		Canonicalize: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
		},
		TableConvertor: printers.TableConvertorFor(namespacesResource),
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
	main := &REST{store: store, shortNames: d.ShortNames}
	storages["namespaces"] = main
	storages["namespaces/finalize"] = newFinalizeREST(store)
	return main, storages, nil
}

// REST is the namespaces resource with upstream's deletion. Like upstream's it serves no
// deletecollection: a collection delete would remove namespaces without terminating them.
type REST struct {
	store      *genericregistry.Store
	shortNames []string
}

var (
	_ rest.ShortNamesProvider             = &REST{}
	_ rest.SingularNameProvider           = &REST{}
	_ rest.StorageVersionProvider         = &REST{}
	_ rest.ResetFieldsStrategy            = &REST{}
	_ rest.TableConvertor                 = &REST{}
	_ rest.GracefulDeleter                = &REST{}
	_ rest.Scoper                         = &REST{}
	_ rest.Watcher                        = &REST{}
	_ rest.CreaterUpdater                 = &REST{}
	_ rest.Lister                         = &REST{}
	_ rest.Patcher                        = &REST{}
	_ interface{ ReadinessCheck() error } = &REST{}
)

// New returns an empty Namespace.
func (r *REST) New() runtime.Object { return r.store.New() }

// NewList returns an empty NamespaceList.
func (r *REST) NewList() runtime.Object { return r.store.NewList() }

// Destroy releases the storage.
func (r *REST) Destroy() { r.store.Destroy() }

// NamespaceScoped is false: namespaces are cluster-scoped.
func (r *REST) NamespaceScoped() bool { return r.store.NamespaceScoped() }

// GetSingularName returns "namespace".
func (r *REST) GetSingularName() string { return r.store.GetSingularName() }

// ShortNames returns "ns".
func (r *REST) ShortNames() []string { return r.shortNames }

// StorageVersion returns the version namespaces are stored in.
func (r *REST) StorageVersion() runtime.GroupVersioner { return r.store.StorageVersion() }

// ReadinessCheck reports whether the storage is ready.
func (r *REST) ReadinessCheck() error { return r.store.ReadinessCheck() }

// GetResetFields returns the fields server-side apply leaves to the server: the status.
func (r *REST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// Get returns a namespace.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// List lists namespaces.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.store.List(ctx, options)
}

// Watch watches namespaces.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	return r.store.Watch(ctx, options)
}

// Create creates a namespace.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return r.store.Create(ctx, obj, createValidation, options)
}

// Update updates a namespace (not its spec.finalizers nor its status).
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
}

// ConvertToTable prints namespaces.
func (r *REST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

// Delete marks a namespace Terminating, and removes it once its spec finalizers are gone, as
// kube-apiserver does. Marking it also records the propagation policy as the orphan or
// foregroundDeletion finalizer.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.store.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	} else {
		options = options.DeepCopy()
	}
	// The deletion is always conditional on the namespace read here.
	if options.Preconditions == nil {
		options.Preconditions = &metav1.Preconditions{}
	}
	if options.Preconditions.UID == nil {
		options.Preconditions.UID = &ns.UID
	} else if *options.Preconditions.UID != ns.UID {
		return nil, false, apierrors.NewConflict(namespacesResource, name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *options.Preconditions.UID, ns.UID))
	}
	if rv := options.Preconditions.ResourceVersion; rv != nil && *rv != ns.ResourceVersion {
		return nil, false, apierrors.NewConflict(namespacesResource, name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, ns.ResourceVersion))
	}

	if ns.DeletionTimestamp.IsZero() {
		key, err := r.store.KeyFunc(ctx, name)
		if err != nil {
			return nil, false, err
		}
		precond := &storage.Preconditions{UID: options.Preconditions.UID, ResourceVersion: options.Preconditions.ResourceVersion}
		out := r.store.NewFunc()
		err = r.store.Storage.GuaranteedUpdate(ctx, key, out, false, precond,
			func(existing runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
				cur := existing.(*corev1.Namespace)
				if deleteValidation != nil {
					if err := deleteValidation(ctx, cur); err != nil {
						return nil, nil, err
					}
				}
				if cur.DeletionTimestamp.IsZero() {
					now := metav1.Now()
					cur.DeletionTimestamp = &now
				}
				cur.Status.Phase = corev1.NamespaceTerminating
				cur.Finalizers = propagationFinalizers(cur.Finalizers, options)
				return cur, nil, nil
			}, len(options.DryRun) > 0, nil)
		if err != nil {
			err = storeerr.InterpretGetError(err, namespacesResource, name)
			err = storeerr.InterpretUpdateError(err, namespacesResource, name)
			if _, ok := err.(apierrors.APIStatus); !ok {
				err = apierrors.NewInternalError(err)
			}
			return nil, false, err
		}
		ns = out.(*corev1.Namespace)
	}
	// A terminating namespace goes once nothing finalizes its content any more. Upstream
	// returns after marking it even then, and the namespace controller's next status update
	// removes it; kubeshim's controller ignores namespaces it does not finalize, so the
	// removal happens here.
	if len(ns.Spec.Finalizers) != 0 {
		return ns, false, nil
	}
	return r.store.Delete(ctx, name, deleteValidation, options)
}

// propagationFinalizers adds or removes the orphan and foregroundDeletion finalizers as the
// delete options ask (orphanDependents, else propagationPolicy; neither keeps what is there),
// keeping the order of the others.
func propagationFinalizers(finalizers []string, options *metav1.DeleteOptions) []string {
	want := map[string]bool{}
	for _, f := range finalizers {
		want[f] = true
	}
	//nolint:staticcheck // orphanDependents is deprecated but still honoured, as upstream does.
	orphan := options.OrphanDependents
	switch {
	case orphan != nil:
		want[metav1.FinalizerOrphanDependents] = *orphan
		want[metav1.FinalizerDeleteDependents] = !*orphan
	case options.PropagationPolicy != nil:
		want[metav1.FinalizerOrphanDependents] = *options.PropagationPolicy == metav1.DeletePropagationOrphan
		want[metav1.FinalizerDeleteDependents] = *options.PropagationPolicy == metav1.DeletePropagationForeground
	default:
		return finalizers
	}
	var out []string
	for _, f := range finalizers {
		if want[f] {
			out = append(out, f)
			delete(want, f)
		}
	}
	for _, f := range []string{metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents} {
		if want[f] {
			out = append(out, f)
		}
	}
	return out
}
