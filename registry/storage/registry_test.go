package storage

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// podStrategy is a minimal create/update/delete strategy for example pods.
type podStrategy struct {
	k8sruntime.ObjectTyper
	names.NameGenerator
}

func (podStrategy) NamespaceScoped() bool                                                  { return true }
func (podStrategy) PrepareForCreate(context.Context, k8sruntime.Object)                    {}
func (podStrategy) PrepareForUpdate(context.Context, k8sruntime.Object, k8sruntime.Object) {}
func (podStrategy) Validate(context.Context, k8sruntime.Object) field.ErrorList            { return nil }
func (podStrategy) WarningsOnCreate(context.Context, k8sruntime.Object) []string {
	return nil
}
func (podStrategy) Canonicalize(k8sruntime.Object)                {}
func (podStrategy) AllowCreateOnUpdate(context.Context) bool      { return false }
func (podStrategy) AllowUnconditionalUpdate(context.Context) bool { return true }
func (podStrategy) ValidateUpdate(context.Context, k8sruntime.Object, k8sruntime.Object) field.ErrorList {
	return nil
}
func (podStrategy) WarningsOnUpdate(context.Context, k8sruntime.Object, k8sruntime.Object) []string {
	return nil
}

// TestGenericRegistry drives the store the way kubeshim's API server does:
// a generic registry Store completed with RESTOptions{Decorator: Decorator()}.
func TestGenericRegistry(t *testing.T) {
	t.Parallel()
	b := NewBackend(Options{})
	t.Cleanup(b.Close)
	strategy := podStrategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator}
	registry := &genericregistry.Store{
		NewFunc:                   newPod,
		NewListFunc:               newPodList,
		DefaultQualifiedResource:  example.Resource("pods"),
		SingularQualifiedResource: example.Resource("pod"),
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		TableConvertor:            rest.NewDefaultTableConvertor(example.Resource("pods")),
	}
	cfg := storagebackend.NewDefaultConfig("/registry", apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)).ForResource(example.Resource("pods"))
	if err := registry.CompleteWithOptions(&generic.StoreOptions{RESTOptions: generic.RESTOptions{
		StorageConfig: cfg, Decorator: b.Decorator(), ResourcePrefix: "/pods",
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(registry.DestroyFunc)

	ctx := genericapirequest.WithNamespace(genericapirequest.NewContext(), "default")
	w, err := registry.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := registry.Create(ctx, &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}}, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := b.get("/registry/pods/default/nginx"); v == nil {
		t.Fatal("the pod is not stored at /registry/pods/default/nginx")
	}
	pod := created.(*example.Pod).DeepCopy()
	pod.Labels = map[string]string{"app": "web"}
	updated, _, err := registry.Update(ctx, "nginx", rest.DefaultUpdatedObjectInfo(pod), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A stale update is a conflict.
	if _, _, err := registry.Update(ctx, "nginx", rest.DefaultUpdatedObjectInfo(created), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{}); err == nil {
		t.Fatal("an update with a stale resourceVersion must conflict")
	}
	listed, err := registry.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if items := listed.(*example.PodList).Items; len(items) != 1 || items[0].Labels["app"] != "web" {
		t.Fatalf("unexpected list %#v", items)
	}
	if _, _, err := registry.Delete(ctx, "nginx", rest.ValidateAllObjectFunc, &metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Get(ctx, "nginx", &metav1.GetOptions{}); err == nil {
		t.Fatal("deleted pod still readable")
	}

	want := []struct {
		typ watch.EventType
		rv  string
	}{
		{watch.Added, created.(*example.Pod).ResourceVersion},
		{watch.Modified, updated.(*example.Pod).ResourceVersion},
		{watch.Deleted, ""},
	}
	for i, ww := range want {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != ww.typ || (ww.rv != "" && ev.Object.(*example.Pod).ResourceVersion != ww.rv) {
				t.Fatalf("event %d: got %s %s, want %s %s", i, ev.Type, ev.Object.(*example.Pod).ResourceVersion, ww.typ, ww.rv)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for event %d", i)
		}
	}
}
