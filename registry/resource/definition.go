// Package resource turns a small declarative Definition of a kind into the REST storages the
// generic API server installs: the main resource on k8s.io/apiserver's generic registry.Store,
// and its status and scale subresources. The strategy behaviours every upstream workload kind
// shares (status reset on create, status ignored by the main resource and spec by /status,
// generation bumped on spec change, managed-fields reset) are implemented once here.
package resource

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis"
)

// Definition describes one served kind.
type Definition struct {
	GroupVersion schema.GroupVersion
	Kind         string
	Resource     string // plural, lower case
	Singular     string
	Namespaced   bool
	ShortNames   []string
	Categories   []string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Validation; nil means always valid.
	Validate             func(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate       func(ctx context.Context, obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList

	// Extra preparation beyond what Status and Generation imply.
	PrepareForCreate       func(ctx context.Context, obj runtime.Object)
	PrepareForUpdate       func(ctx context.Context, obj, old runtime.Object)
	PrepareForStatusUpdate func(ctx context.Context, obj, old runtime.Object)
	// Canonicalize, if set, normalizes an object after validation, on create and update.
	Canonicalize func(obj runtime.Object)

	// Status: the kind has a spec/status split and a status subresource. The main resource
	// resets status on create and keeps the stored status on update; /status keeps the spec.
	Status bool
	// StatusResetFields are the paths beyond spec that the status subresource keeps as stored
	// (server-side apply's reset fields of /status); PrepareForStatusUpdate must keep them.
	StatusResetFields []fieldpath.Path
	// KeepStatusOnCreate: the creator may set the status (nodes: the kubelet registers its
	// node with its status).
	KeepStatusOnCreate bool
	// Generation: metadata.generation starts at 1 and grows with every spec change.
	Generation bool
	// AllowCreateOnUpdate: PUT of a missing object creates it (upstream: nodes, events, leases…).
	AllowCreateOnUpdate bool
	// GCPolicy is the default propagation policy of a delete without one ("" = upstream default).
	GCPolicy rest.GarbageCollectionPolicy
	// CheckGracefulDelete, if set, makes deletions graceful (pods).
	CheckGracefulDelete func(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool
	// Scale, if set, adds the scale subresource.
	Scale *ScaleDefinition
	// TableConvertor prints the kind's table; nil means name and age.
	TableConvertor rest.TableConvertor
	// Decorate lets a kind adjust its Store before completion (hooks like AfterCreate, or
	// ShouldDeleteDuringUpdate).
	Decorate func(*genericregistry.Store)
}

// GroupResource returns the kind's group and plural resource.
func (d *Definition) GroupResource() schema.GroupResource {
	return d.GroupVersion.WithResource(d.Resource).GroupResource()
}

// GroupVersionKind returns the kind's external group, version and kind.
func (d *Definition) GroupVersionKind() schema.GroupVersionKind {
	return d.GroupVersion.WithKind(d.Kind)
}

// Store builds and completes the generic registry store of the main resource.
func (d *Definition) Store(optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	s := newStrategy(d)
	table := d.TableConvertor
	if table == nil {
		table = rest.NewDefaultTableConvertor(d.GroupResource())
	}
	store := &genericregistry.Store{
		NewFunc:                   d.New,
		NewListFunc:               d.NewList,
		DefaultQualifiedResource:  d.GroupResource(),
		SingularQualifiedResource: d.GroupVersion.WithResource(d.Singular).GroupResource(),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ResetFieldsStrategy:       s,
		TableConvertor:            table,
	}
	if d.Decorate != nil {
		d.Decorate(store)
	}
	options := &generic.StoreOptions{
		RESTOptions: optsGetter,
		AttrFunc:    apis.GetAttrs(d.GroupVersionKind(), d.Namespaced),
	}
	if err := store.CompleteWithOptions(options); err != nil {
		return nil, fmt.Errorf("complete %s store: %w", d.GroupResource(), err)
	}
	return store, nil
}

// Storages returns the REST storages of the kind keyed by their path below the group version
// ("pods", "pods/status", …), ready for an APIGroupInfo.
func (d *Definition) Storages(optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, map[string]rest.Storage, error) {
	store, err := d.Store(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]rest.Storage{d.Resource: &REST{Store: store, shortNames: d.ShortNames, categories: d.Categories}}
	if d.Status {
		out[d.Resource+"/status"] = NewStatusREST(store, d)
	}
	if d.Scale != nil {
		out[d.Resource+"/scale"] = &ScaleREST{store: store, def: d}
	}
	return store, out, nil
}

// REST is the main resource: the generic store plus discovery's short names and categories.
type REST struct {
	*genericregistry.Store
	shortNames []string
	categories []string
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (r *REST) ShortNames() []string { return r.shortNames }

// Categories implements rest.CategoriesProvider.
func (r *REST) Categories() []string { return r.categories }
