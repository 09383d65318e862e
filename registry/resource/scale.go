package resource

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// ScaleDefinition tells the scale subresource how to read and write a kind's replicas.
type ScaleDefinition struct {
	Replicas       func(obj runtime.Object) int32
	SetReplicas    func(obj runtime.Object, replicas int32)
	StatusReplicas func(obj runtime.Object) int32
	// Selector returns the label selector of the pods, in its string form.
	Selector func(obj runtime.Object) (string, error)
	// Validate checks a scale request; nil means replicas must not be negative.
	Validate func(scale *autoscalingv1.Scale) field.ErrorList
}

// ScaleREST is the /scale subresource, served as autoscaling/v1 Scale as kube-apiserver does.
type ScaleREST struct {
	store *genericregistry.Store
	def   *Definition
}

var (
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
)

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

// New returns an empty Scale.
func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy does nothing: the main resource owns the storage.
func (r *ScaleREST) Destroy() {}

// Get returns the object's Scale.
func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.toScale(obj)
}

// Update sets the object's replicas from a Scale.
func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	info := &scaleUpdatedObjectInfo{name: name, reqInfo: objInfo, rest: r}
	obj, _, err := r.store.Update(ctx, name, info,
		r.wrapCreateValidation(createValidation), r.wrapUpdateValidation(updateValidation), false, options)
	if err != nil {
		return nil, false, err
	}
	scale, err := r.toScale(obj)
	return scale, false, err
}

// ConvertToTable prints a Scale with name and age.
func (r *ScaleREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return rest.NewDefaultTableConvertor(r.def.GroupResource()).ConvertToTable(ctx, object, tableOptions)
}

func (r *ScaleREST) toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("scale of %s: %w", r.def.Kind, err)
	}
	selector, err := r.def.Scale.Selector(obj)
	if err != nil {
		return nil, fmt.Errorf("scale selector of %s %s: %w", r.def.Kind, m.GetName(), err)
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.GetName(),
			Namespace:         m.GetNamespace(),
			UID:               m.GetUID(),
			ResourceVersion:   m.GetResourceVersion(),
			CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: r.def.Scale.Replicas(obj)},
		Status: autoscalingv1.ScaleStatus{Replicas: r.def.Scale.StatusReplicas(obj), Selector: selector},
	}, nil
}

// The admission hooks of a scale request see Scale objects, as upstream's do.
func (r *ScaleREST) wrapCreateValidation(f rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		if f == nil {
			return nil
		}
		scale, err := r.toScale(obj)
		if err != nil {
			return err
		}
		return f(ctx, scale)
	}
}

func (r *ScaleREST) wrapUpdateValidation(f rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	return func(ctx context.Context, obj, old runtime.Object) error {
		if f == nil {
			return nil
		}
		newScale, err := r.toScale(obj)
		if err != nil {
			return err
		}
		oldScale, err := r.toScale(old)
		if err != nil {
			return err
		}
		return f(ctx, newScale, oldScale)
	}
}

// scaleUpdatedObjectInfo turns the client's Scale into the updated object.
type scaleUpdatedObjectInfo struct {
	name    string
	reqInfo rest.UpdatedObjectInfo
	rest    *ScaleREST
}

func (i *scaleUpdatedObjectInfo) Preconditions() *metav1.Preconditions {
	return i.reqInfo.Preconditions()
}

func (i *scaleUpdatedObjectInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	if oldObj == nil {
		return nil, apierrors.NewNotFound(i.rest.def.GroupResource(), i.name)
	}
	oldScale, err := i.rest.toScale(oldObj)
	if err != nil {
		return nil, err
	}
	newScaleObj, err := i.reqInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	scale, ok := newScaleObj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected input object type to be Scale, but %T", newScaleObj))
	}
	if errs := i.validate(scale); len(errs) > 0 {
		return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), scale.Name, errs)
	}
	obj := oldObj.DeepCopyObject()
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("scale of %s %s: %w", i.rest.def.Kind, i.name, err)
	}
	// A UID in the Scale is a precondition on the object, as upstream checks it.
	if scale.UID != "" && scale.UID != m.GetUID() {
		return nil, apierrors.NewConflict(i.rest.def.GroupResource(), i.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", scale.UID, m.GetUID()))
	}
	i.rest.def.Scale.SetReplicas(obj, scale.Spec.Replicas)
	// A resourceVersion in the Scale is a precondition too: the store refuses a stale one
	// with 409 Conflict. An empty one makes the update unconditional.
	m.SetResourceVersion(scale.ResourceVersion)
	return obj, nil
}

func (i *scaleUpdatedObjectInfo) validate(scale *autoscalingv1.Scale) field.ErrorList {
	if v := i.rest.def.Scale.Validate; v != nil {
		return v(scale)
	}
	if scale.Spec.Replicas < 0 {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")}
	}
	return nil
}
