package namespace

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis/validation"
)

// finalizeREST is namespaces/finalize: the only way to change spec.finalizers.
type finalizeREST struct {
	store *genericregistry.Store
}

func newFinalizeREST(main *genericregistry.Store) *finalizeREST {
	s := *main
	st := finalizeStrategy{RESTUpdateStrategy: main.UpdateStrategy}
	s.UpdateStrategy = st
	s.ResetFieldsStrategy = st
	return &finalizeREST{store: &s}
}

var (
	_ rest.Updater             = &finalizeREST{}
	_ rest.ResetFieldsStrategy = &finalizeREST{}
)

func (r *finalizeREST) New() runtime.Object { return &corev1.Namespace{} }

func (r *finalizeREST) Destroy() {}

// GetResetFields implements rest.ResetFieldsStrategy.
func (r *finalizeREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

func (r *finalizeREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

type finalizeStrategy struct {
	rest.RESTUpdateStrategy
}

// PrepareForUpdate keeps everything but spec.finalizers.
func (finalizeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	finalizers := ns.Spec.Finalizers
	ns.Spec = *oldNS.Spec.DeepCopy()
	ns.Spec.Finalizers = finalizers
	ns.Status = *oldNS.Status.DeepCopy()
}

func (finalizeStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateNamespaceFinalizeUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
}

func (finalizeStrategy) AllowCreateOnUpdate(context.Context) bool { return false }

// GetResetFields: /finalize never sets the status, as upstream's finalize strategy declares.
func (finalizeStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}
