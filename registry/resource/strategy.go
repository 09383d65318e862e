package resource

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis"
)

// strategy is the create/update/delete strategy of a main resource.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	def *Definition
}

func newStrategy(d *Definition) *strategy {
	return &strategy{ObjectTyper: apis.Scheme, NameGenerator: names.SimpleNameGenerator, def: d}
}

var (
	_ rest.RESTCreateStrategy              = &strategy{}
	_ rest.RESTUpdateStrategy              = &strategy{}
	_ rest.GarbageCollectionDeleteStrategy = &strategy{}
	_ rest.RESTGracefulDeleteStrategy      = &strategy{}
	_ rest.ResetFieldsStrategy             = &strategy{}
)

func (s *strategy) NamespaceScoped() bool { return s.def.Namespaced }

func (s *strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.def.Status && !s.def.KeepStatusOnCreate {
		resetField(obj, "Status")
	}
	if s.def.Generation {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetGeneration(1)
		}
	}
	if s.def.PrepareForCreate != nil {
		s.def.PrepareForCreate(ctx, obj)
	}
}

func (s *strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	if s.def.Validate == nil {
		return nil
	}
	return s.def.Validate(ctx, obj)
}

func (s *strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (s *strategy) Canonicalize(obj runtime.Object) {
	if s.def.Canonicalize != nil {
		s.def.Canonicalize(obj)
	}
}

func (s *strategy) AllowCreateOnUpdate(context.Context) bool { return s.def.AllowCreateOnUpdate }

func (s *strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

func (s *strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.def.Status {
		copyField(obj, old, "Status")
	}
	if s.def.Generation {
		bumpGenerationOnSpecChange(obj, old)
	}
	if s.def.PrepareForUpdate != nil {
		s.def.PrepareForUpdate(ctx, obj, old)
	}
}

func (s *strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.def.ValidateUpdate == nil {
		return nil
	}
	return s.def.ValidateUpdate(ctx, obj, old)
}

func (s *strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (s *strategy) DefaultGarbageCollectionPolicy(context.Context) rest.GarbageCollectionPolicy {
	if s.def.GCPolicy == "" {
		return rest.DeleteDependents
	}
	return s.def.GCPolicy
}

func (s *strategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if s.def.CheckGracefulDelete == nil {
		return false
	}
	return s.def.CheckGracefulDelete(ctx, obj, options)
}

// GetResetFields tells server-side apply which fields this endpoint does not own: the main
// resource never sets status.
func (s *strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.def.Status {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.def.GroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// statusStrategy is the update strategy of the /status subresource: it keeps the stored spec.
type statusStrategy struct {
	*strategy
}

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	copyField(obj, old, "Spec")
	if s.def.PrepareForStatusUpdate != nil {
		s.def.PrepareForStatusUpdate(ctx, obj, old)
	}
}

func (s statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.def.ValidateStatusUpdate == nil {
		return nil
	}
	return s.def.ValidateStatusUpdate(ctx, obj, old)
}

func (s statusStrategy) AllowCreateOnUpdate(context.Context) bool { return false }

// GetResetFields tells server-side apply which fields /status does not own: the spec, and
// what else the kind keeps (deployments: metadata.labels; pods: owner references and
// deletionTimestamp), as upstream's status strategies declare.
func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	paths := append([]fieldpath.Path{fieldpath.MakePathOrDie("spec")}, s.def.StatusResetFields...)
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.def.GroupVersion.String()): fieldpath.NewSet(paths...),
	}
}

// bumpGenerationOnSpecChange increments metadata.generation when the spec changed. (The bump
// when a graceful deletion first sets deletionTimestamp is rest.BeforeDelete's.)
func bumpGenerationOnSpecChange(obj, old runtime.Object) {
	newMeta, err1 := meta.Accessor(obj)
	oldMeta, err2 := meta.Accessor(old)
	if err1 != nil || err2 != nil {
		return
	}
	newSpec, ok1 := fieldValue(obj, "Spec")
	oldSpec, ok2 := fieldValue(old, "Spec")
	if ok1 && ok2 && !equality.Semantic.DeepEqual(newSpec.Interface(), oldSpec.Interface()) {
		newMeta.SetGeneration(oldMeta.GetGeneration() + 1)
		return
	}
	newMeta.SetGeneration(oldMeta.GetGeneration())
}

// fieldValue returns the named field of the struct obj points to.
func fieldValue(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// resetField sets the named field of obj to its zero value.
func resetField(obj runtime.Object, name string) {
	if f, ok := fieldValue(obj, name); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}

// copyField sets the named field of dst to a deep copy of src's.
func copyField(dst, src runtime.Object, name string) {
	d, ok1 := fieldValue(dst, name)
	s, ok2 := fieldValue(src, name)
	if !ok1 || !ok2 || d.Type() != s.Type() {
		return
	}
	// src is the stored object and must not be aliased by the new one.
	copied := reflect.ValueOf(src.DeepCopyObject()).Elem().FieldByName(name)
	d.Set(copied)
}
