package namespace

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

func nsStorages(t *testing.T) map[string]rest.Storage {
	t.Helper()
	main, storages, err := Storages(rt.NewOptionsGetter(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(main.Destroy)
	return storages
}

var ctx = rt.Context("")

func createNS(t *testing.T, s map[string]rest.Storage, ns *corev1.Namespace) *corev1.Namespace {
	t.Helper()
	return rt.Must[*corev1.Namespace](t)(rt.Create(ctx, s["namespaces"], ns))
}

func getNS(s map[string]rest.Storage, name string) (*corev1.Namespace, error) {
	obj, err := rt.Get(ctx, s["namespaces"], name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

func TestCreate(t *testing.T) {
	cases := []struct {
		name           string
		ns             *corev1.Namespace
		wantName       string // "" = generated
		wantFinalizers []corev1.FinalizerName
	}{
		{
			name:           "plain",
			ns:             &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
			wantName:       "a",
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
		},
		{
			name: "client status and finalizers",
			ns: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "b"},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/x"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			wantName:       "b",
			wantFinalizers: []corev1.FinalizerName{"example.com/x", corev1.FinalizerKubernetes},
		},
		{
			name: "kubernetes finalizer not repeated",
			ns: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "c"},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			},
			wantName:       "c",
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
		},
		{
			name:           "generated name",
			ns:             &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}},
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := nsStorages(t)
			got := createNS(t, s, tc.ns)
			if tc.wantName != "" && got.Name != tc.wantName {
				t.Errorf("name = %q, want %q", got.Name, tc.wantName)
			}
			if got.Status.Phase != corev1.NamespaceActive {
				t.Errorf("phase = %q, want Active", got.Status.Phase)
			}
			if !reflect.DeepEqual(got.Spec.Finalizers, tc.wantFinalizers) {
				t.Errorf("spec.finalizers = %v, want %v", got.Spec.Finalizers, tc.wantFinalizers)
			}
			if got.Labels[corev1.LabelMetadataName] != got.Name {
				t.Errorf("labels = %v, want %s=%s", got.Labels, corev1.LabelMetadataName, got.Name)
			}
			stored, err := getNS(s, got.Name)
			if err != nil || !reflect.DeepEqual(stored, got) {
				t.Errorf("stored namespace differs from the create response: %v", err)
			}
		})
	}
}

// TestCanonicalize: the name label is set after validation, so that a generated name is
// labelled in storage too (reads default it again; what is stored must have it).
func TestCanonicalize(t *testing.T) {
	main, _, err := Storages(rt.NewOptionsGetter(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(main.Destroy)
	for _, labels := range []map[string]string{nil, {corev1.LabelMetadataName: "other", "team": "x"}} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gen-abcde", Labels: labels}}
		main.store.CreateStrategy.Canonicalize(ns)
		if ns.Labels[corev1.LabelMetadataName] != "gen-abcde" {
			t.Errorf("labels after Canonicalize = %v, want %s=gen-abcde", ns.Labels, corev1.LabelMetadataName)
		}
	}
}

func TestUpdate(t *testing.T) {
	s := nsStorages(t)
	createNS(t, s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})

	got := rt.Must[*corev1.Namespace](t)(rt.Mutate(ctx, s["namespaces"], "a", func(o runtime.Object) {
		ns := o.(*corev1.Namespace)
		ns.Spec.Finalizers = nil
		ns.Status.Phase = corev1.NamespaceTerminating
		ns.Labels["team"] = "x"
		delete(ns.Labels, corev1.LabelMetadataName)
	}))
	if !reflect.DeepEqual(got.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
		t.Errorf("an update changed spec.finalizers to %v", got.Spec.Finalizers)
	}
	if got.Status.Phase != corev1.NamespaceActive {
		t.Errorf("an update changed the phase to %q", got.Status.Phase)
	}
	if got.Labels["team"] != "x" || got.Labels[corev1.LabelMetadataName] != "a" {
		t.Errorf("labels after update = %v, want team=x and the name label kept", got.Labels)
	}

	// /status changes the status, not the spec.
	got = rt.Must[*corev1.Namespace](t)(rt.Mutate(ctx, s["namespaces/status"], "a", func(o runtime.Object) {
		ns := o.(*corev1.Namespace)
		ns.Spec.Finalizers = nil
		ns.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse}}
	}))
	if len(got.Spec.Finalizers) != 1 || len(got.Status.Conditions) != 1 {
		t.Errorf("after /status: spec.finalizers %v, conditions %v", got.Spec.Finalizers, got.Status.Conditions)
	}

	// /finalize changes spec.finalizers and nothing else.
	got = rt.Must[*corev1.Namespace](t)(rt.Mutate(ctx, s["namespaces/finalize"], "a", func(o runtime.Object) {
		ns := o.(*corev1.Namespace)
		ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/x"}
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}
	}))
	if !reflect.DeepEqual(got.Spec.Finalizers, []corev1.FinalizerName{"example.com/x"}) || got.Status.Phase != corev1.NamespaceActive || len(got.Status.Conditions) != 1 {
		t.Errorf("after /finalize: spec.finalizers %v, status %+v", got.Spec.Finalizers, got.Status)
	}
	if _, err := rt.Mutate(ctx, s["namespaces/finalize"], "a", func(o runtime.Object) {
		o.(*corev1.Namespace).Spec.Finalizers = []corev1.FinalizerName{"not a finalizer"}
	}); !apierrors.IsInvalid(err) {
		t.Errorf("/finalize with an invalid finalizer: %v, want 422", err)
	}
	if _, err := rt.Update(ctx, s["namespaces/finalize"], "missing", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "missing"}}); !apierrors.IsNotFound(err) {
		t.Errorf("/finalize of a missing namespace: %v, want 404", err)
	}
}

func TestDelete(t *testing.T) {
	s := nsStorages(t)
	created := createNS(t, s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})

	// The first delete marks the namespace Terminating.
	obj, deleted, err := rt.Delete(ctx, s["namespaces"], "a", &metav1.DeleteOptions{})
	if err != nil || deleted {
		t.Fatalf("delete: deleted=%v err=%v, want the namespace kept", deleted, err)
	}
	for _, ns := range []*corev1.Namespace{obj.(*corev1.Namespace), mustGet(t, s, "a")} {
		if ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
			t.Errorf("after delete: phase %q deletionTimestamp %v, want Terminating and set", ns.Status.Phase, ns.DeletionTimestamp)
		}
		if len(ns.Finalizers) != 0 {
			t.Errorf("after delete: metadata.finalizers %v, want none", ns.Finalizers)
		}
	}
	first := mustGet(t, s, "a").DeletionTimestamp

	// Deleting again changes nothing while spec.finalizers hold it.
	if _, deleted, err := rt.Delete(ctx, s["namespaces"], "a", &metav1.DeleteOptions{}); err != nil || deleted {
		t.Fatalf("second delete: deleted=%v err=%v", deleted, err)
	}
	if again := mustGet(t, s, "a"); !again.DeletionTimestamp.Equal(first) || again.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("second delete changed the namespace: %v %q", again.DeletionTimestamp, again.Status.Phase)
	}
	// An update cannot bring it back.
	got := rt.Must[*corev1.Namespace](t)(rt.Mutate(ctx, s["namespaces"], "a", func(o runtime.Object) {
		o.(*corev1.Namespace).Status.Phase = corev1.NamespaceActive
		o.(*corev1.Namespace).DeletionTimestamp = nil
	}))
	if got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
		t.Errorf("an update revived the namespace: %q %v", got.Status.Phase, got.DeletionTimestamp)
	}

	// /finalize clearing spec.finalizers removes it.
	out := rt.Must[*corev1.Namespace](t)(rt.Mutate(ctx, s["namespaces/finalize"], "a", func(o runtime.Object) {
		o.(*corev1.Namespace).Spec.Finalizers = nil
	}))
	if out.UID != created.UID {
		t.Errorf("finalize returned %s, want the namespace", out.UID)
	}
	if _, err := getNS(s, "a"); !apierrors.IsNotFound(err) {
		t.Fatalf("get after finalize: %v, want 404", err)
	}
}

func TestDeleteFinalizedNamespace(t *testing.T) {
	s := nsStorages(t)
	createNS(t, s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	if _, err := rt.Mutate(ctx, s["namespaces/finalize"], "a", func(o runtime.Object) {
		o.(*corev1.Namespace).Spec.Finalizers = nil
	}); err != nil {
		t.Fatal(err)
	}
	// Nothing finalizes it: the delete removes it at once (upstream marks it, then the
	// namespace controller's status update removes it; the client sees it gone either way).
	if _, deleted, err := rt.Delete(ctx, s["namespaces"], "a", &metav1.DeleteOptions{}); err != nil || !deleted {
		t.Fatalf("delete: deleted=%v err=%v, want it gone", deleted, err)
	}
	if _, err := getNS(s, "a"); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want 404", err)
	}
}

func TestDeleteOptions(t *testing.T) {
	other := types.UID("other")
	stale := "1"
	cases := []struct {
		name           string
		opts           *metav1.DeleteOptions
		wantErr        func(error) bool
		wantFinalizers []string
		wantDryRun     bool
	}{
		{name: "background", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}},
		{name: "orphan", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}, wantFinalizers: []string{metav1.FinalizerOrphanDependents}},
		{name: "foreground", opts: &metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}, wantFinalizers: []string{metav1.FinalizerDeleteDependents}},
		{name: "orphanDependents", opts: &metav1.DeleteOptions{OrphanDependents: ptr.To(true)}, wantFinalizers: []string{metav1.FinalizerOrphanDependents}},
		{name: "other UID", opts: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &other}}, wantErr: apierrors.IsConflict},
		{name: "stale resourceVersion", opts: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}, wantErr: apierrors.IsConflict},
		{name: "dry run", opts: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, wantDryRun: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := nsStorages(t)
			createNS(t, s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Finalizers: []string{"example.com/keep"}}})
			_, _, err := rt.Delete(ctx, s["namespaces"], "a", tc.opts)
			got := mustGet(t, s, "a")
			if tc.wantErr != nil || tc.wantDryRun {
				if tc.wantErr != nil && !tc.wantErr(err) {
					t.Errorf("delete: %v", err)
				}
				if got.DeletionTimestamp != nil || got.Status.Phase != corev1.NamespaceActive {
					t.Errorf("the namespace was marked: %v %q", got.DeletionTimestamp, got.Status.Phase)
				}
				return
			}
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			want := append([]string{"example.com/keep"}, tc.wantFinalizers...)
			if !reflect.DeepEqual(got.Finalizers, want) {
				t.Errorf("metadata.finalizers = %v, want %v", got.Finalizers, want)
			}
		})
	}
	s := nsStorages(t)
	if _, _, err := rt.Delete(ctx, s["namespaces"], "missing", &metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deleting a missing namespace: %v, want 404", err)
	}
}

func TestRESTInterfaces(t *testing.T) {
	s := nsStorages(t)
	main := s["namespaces"]
	if _, ok := main.(rest.CollectionDeleter); ok {
		t.Error("namespaces serve deletecollection, which would bypass their termination")
	}
	for name, ok := range map[string]bool{
		"Creater":          is[rest.Creater](main),
		"Getter":           is[rest.Getter](main),
		"Lister":           is[rest.Lister](main),
		"Updater":          is[rest.Updater](main),
		"Watcher":          is[rest.Watcher](main),
		"GracefulDeleter":  is[rest.GracefulDeleter](main),
		"TableConvertor":   is[rest.TableConvertor](main),
		"ShortNames":       is[rest.ShortNamesProvider](main),
		"SingularName":     is[rest.SingularNameProvider](main),
		"StorageVersion":   is[rest.StorageVersionProvider](main),
		"ResetFields":      is[rest.ResetFieldsStrategy](main),
		"finalize Updater": is[rest.Updater](s["namespaces/finalize"]),
		"status Patcher":   is[rest.Patcher](s["namespaces/status"]),
	} {
		if !ok {
			t.Errorf("namespaces do not implement %s", name)
		}
	}
	if got := main.(rest.ShortNamesProvider).ShortNames(); !reflect.DeepEqual(got, []string{"ns"}) {
		t.Errorf("short names %v", got)
	}
	if main.(rest.Scoper).NamespaceScoped() {
		t.Error("namespaces are namespace-scoped")
	}
	resets := map[string]string{"namespaces": "status", "namespaces/status": "spec", "namespaces/finalize": "status"}
	for path, field := range resets {
		got := s[path].(rest.ResetFieldsStrategy).GetResetFields()
		if set := got["v1"]; set == nil || !set.Equals(fieldpath.NewSet(fieldpath.MakePathOrDie(field))) {
			t.Errorf("reset fields of %s = %v, want v1: %s", path, got, field)
		}
	}
}

func is[T any](s rest.Storage) bool {
	_, ok := s.(T)
	return ok
}

func mustGet(t *testing.T, s map[string]rest.Storage, name string) *corev1.Namespace {
	t.Helper()
	ns, err := getNS(s, name)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
