// Package resourcetest builds kubeshim's REST storages over a fresh in-memory backend, the way
// the API server builds them (apiserver/groups.go), so that tests drive the real generic
// registry.Store, strategies and subresources in-process, and see what a client would see.
package resourcetest

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/apis"
	"github.com/kubeshim/kubeshim/registry/resource"
	"github.com/kubeshim/kubeshim/registry/storage"
)

// OptionsGetter is a generic.RESTOptionsGetter over one in-memory backend, configured as the
// API server configures its resources: the codec of the group's preferred version, the
// "/registry" key prefix and a "/<resource>" resource prefix.
type OptionsGetter struct {
	Backend *storage.Backend
}

var _ generic.RESTOptionsGetter = OptionsGetter{}

// NewOptionsGetter returns an OptionsGetter over a new backend, closed when the test ends.
func NewOptionsGetter(t testing.TB) OptionsGetter {
	t.Helper()
	b := storage.NewBackend(storage.Options{})
	t.Cleanup(b.Close)
	return OptionsGetter{Backend: b}
}

// GetRESTOptions implements generic.RESTOptionsGetter, as the API server configures storage.
func (g OptionsGetter) GetRESTOptions(gr schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	return resource.OptionsGetter{Decorator: g.Backend.Decorator()}.GetRESTOptions(gr, example)
}

// Storages builds the storages of d over a new backend; the store is destroyed when the test
// ends.
func Storages(t testing.TB, d *resource.Definition) (*genericregistry.Store, map[string]rest.Storage) {
	t.Helper()
	return StoragesWith(t, NewOptionsGetter(t), d)
}

// StoragesWith builds the storages of d with the given options getter (several kinds sharing
// one backend).
func StoragesWith(t testing.TB, g generic.RESTOptionsGetter, d *resource.Definition) (*genericregistry.Store, map[string]rest.Storage) {
	t.Helper()
	store, storages, err := d.Storages(g)
	if err != nil {
		t.Fatalf("storages of %s: %v", d.GroupResource(), err)
	}
	t.Cleanup(store.Destroy)
	return store, storages
}

// Admin is the user requests are made as.
var Admin = &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}

// Context returns a request context for namespace ns ("" for cluster-scoped kinds), made by
// Admin.
func Context(ns string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), ns)
	return genericapirequest.WithUser(ctx, Admin)
}

// RequestContext returns Context(ns) with the request info the API server's filters would
// attach to a request for verb on gvr (subresource and name optional). Strategies that differ
// by API version (default garbage collection policies) read it.
func RequestContext(ns string, gvr schema.GroupVersionResource, verb, subresource, name string) context.Context {
	return genericapirequest.WithRequestInfo(Context(ns), &genericapirequest.RequestInfo{
		IsResourceRequest: true,
		Verb:              verb,
		APIGroup:          gvr.Group,
		APIVersion:        gvr.Version,
		Namespace:         ns,
		Resource:          gvr.Resource,
		Subresource:       subresource,
		Name:              name,
	})
}

// Default applies the scheme's defaulting, as the API server's decoder does to every body.
func Default(obj runtime.Object) runtime.Object {
	apis.Scheme.Default(obj)
	return obj
}

// Create defaults obj (as the decoder would) and creates it through s, which must be a
// rest.Creater.
func Create(ctx context.Context, s rest.Storage, obj runtime.Object) (runtime.Object, error) {
	c, ok := s.(rest.Creater)
	if !ok {
		return nil, fmt.Errorf("%T is not a rest.Creater", s)
	}
	return c.Create(ctx, Default(obj.DeepCopyObject()), rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
}

// Get reads name through s, which must be a rest.Getter.
func Get(ctx context.Context, s rest.Storage, name string) (runtime.Object, error) {
	g, ok := s.(rest.Getter)
	if !ok {
		return nil, fmt.Errorf("%T is not a rest.Getter", s)
	}
	return g.Get(ctx, name, &metav1.GetOptions{})
}

// Update replaces name with obj through s, which must be a rest.Updater: a PUT of obj, defaulted
// as the decoder would default it.
func Update(ctx context.Context, s rest.Storage, name string, obj runtime.Object) (runtime.Object, error) {
	u, ok := s.(rest.Updater)
	if !ok {
		return nil, fmt.Errorf("%T is not a rest.Updater", s)
	}
	out, _, err := u.Update(ctx, name, rest.DefaultUpdatedObjectInfo(Default(obj.DeepCopyObject())),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return out, err
}

// Mutate updates name through s by applying mutate to a copy of the stored object, as a
// patch does (no resourceVersion precondition unless mutate sets one).
func Mutate(ctx context.Context, s rest.Storage, name string, mutate func(obj runtime.Object)) (runtime.Object, error) {
	u, ok := s.(rest.Updater)
	if !ok {
		return nil, fmt.Errorf("%T is not a rest.Updater", s)
	}
	info := rest.DefaultUpdatedObjectInfo(nil, func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		obj := old.DeepCopyObject()
		mutate(obj)
		return obj, nil
	})
	out, _, err := u.Update(ctx, name, info, rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return out, err
}

// Delete deletes name through s, which must be a rest.GracefulDeleter. It returns the object
// the store returns and whether the deletion completed (false: graceful or finalizing).
func Delete(ctx context.Context, s rest.Storage, name string, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	d, ok := s.(rest.GracefulDeleter)
	if !ok {
		return nil, false, fmt.Errorf("%T is not a rest.GracefulDeleter", s)
	}
	return d.Delete(ctx, name, rest.ValidateAllObjectFunc, options)
}

// Must returns a function that returns its object as a T, failing the test on an error or on
// another type: resourcetest.Must[*corev1.Pod](t)(resourcetest.Get(ctx, s, "p")).
func Must[T runtime.Object](t testing.TB) func(runtime.Object, error) T {
	return func(obj runtime.Object, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		out, ok := obj.(T)
		if !ok {
			var zero T
			t.Fatalf("got %T, want %T", obj, zero)
		}
		return out
	}
}
