package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

const testNS = "doomed"

// gracefulLabel marks test objects the fake server keeps after a delete, as a real server
// keeps a pod with a grace period until its kubelet confirms it stopped.
const gracefulLabel = "test.kubeshim.io/graceful"

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func standardResources() []*metav1.APIResourceList {
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: allVerbs},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: allVerbs},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: allVerbs},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: allVerbs},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: metav1.Verbs{"delete", "get", "list"}},
		}},
	}
}

// brokenDiscovery fails discovery of one group version, as an unavailable aggregated API does.
type brokenDiscovery struct {
	*fakediscovery.FakeDiscovery
	broken string
}

func (b *brokenDiscovery) ServerResourcesForGroupVersionWithContext(ctx context.Context, gv string) (*metav1.APIResourceList, error) {
	if gv == b.broken {
		return nil, apierrors.NewServiceUnavailable("the server is currently unable to handle the request")
	}
	return b.FakeDiscovery.ServerResourcesForGroupVersionWithContext(ctx, gv)
}

func (b *brokenDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	return b.ServerResourcesForGroupVersionWithContext(context.Background(), gv)
}

func terminating(deletedAgo time.Duration, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name: testNS, UID: "ns-uid", ResourceVersion: "10",
			DeletionTimestamp: ptr.To(metav1.NewTime(time.Now().Add(-deletedAgo))),
		},
		Spec:   corev1.NamespaceSpec{Finalizers: finalizers},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func object(apiVersion, kind, name string, mutate ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
	}
	for _, m := range mutate {
		m(o)
	}
	return o
}

func graceful(o *metav1.PartialObjectMetadata) { o.Labels = map[string]string{gracefulLabel: "true"} }

func withFinalizer(f string) func(*metav1.PartialObjectMetadata) {
	return func(o *metav1.PartialObjectMetadata) { o.Finalizers = append(o.Finalizers, f) }
}

func runningPod(name string, grace int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
		Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(grace)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// newMetadataClient returns a fake metadata client whose deletecollection behaves like the API
// server: objects with finalizers or the graceful label get a deletionTimestamp and stay,
// the others go.
func newMetadataClient(t *testing.T, objects []*metav1.PartialObjectMetadata, failDeleteCollection string) *metadatafake.FakeMetadataClient {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := make([]runtime.Object, 0, len(objects))
	for _, o := range objects {
		objs = append(objs, o)
	}
	client := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	tracker := client.Tracker()
	listGVK := schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}
	client.PrependReactor("delete-collection", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		gvr := action.GetResource()
		if gvr.Resource == failDeleteCollection {
			return true, nil, apierrors.NewInternalError(errors.New("storage is on fire"))
		}
		list, err := tracker.List(gvr, listGVK, action.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		for _, item := range list.(*metav1.List).Items {
			o := item.Object.(*metav1.PartialObjectMetadata)
			if len(o.Finalizers) > 0 || o.Labels[gracefulLabel] == "true" {
				o = o.DeepCopy()
				o.DeletionTimestamp = ptr.To(metav1.Now())
				if err := tracker.Update(gvr, o, o.Namespace); err != nil {
					return true, nil, err
				}
				continue
			}
			if err := tracker.Delete(gvr, o.Namespace, o.Name); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	return client
}

// metadataActions renders the metadata client's actions as "verb resource[/name]".
func metadataActions(client *metadatafake.FakeMetadataClient) []string {
	var out []string
	for _, a := range client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if d, ok := a.(clienttesting.DeleteAction); ok {
			s += "/" + d.GetName()
		}
		out = append(out, s)
	}
	return out
}

// remainingObjects lists "resource/name" of every object left in the metadata tracker.
func remainingObjects(t *testing.T, client *metadatafake.FakeMetadataClient) []string {
	t.Helper()
	var out []string
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "pods"}, {Version: "v1", Resource: "configmaps"},
		{Group: "apps", Version: "v1", Resource: "deployments"}, {Group: "example.com", Version: "v1", Resource: "widgets"},
	} {
		list, err := client.Tracker().List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, testNS)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range list.(*metav1.List).Items {
			out = append(out, gvr.Resource+"/"+item.Object.(*metav1.PartialObjectMetadata).Name)
		}
	}
	return out
}

// finalizeAction returns the object of the namespaces/finalize call, if any.
func finalizeAction(client *fake.Clientset) *corev1.Namespace {
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "namespaces" && a.GetSubresource() == "finalize" {
			return a.(clienttesting.CreateAction).GetObject().(*corev1.Namespace)
		}
	}
	return nil
}

// lastStatusUpdate returns the namespace of the last namespaces/status update, if any.
func lastStatusUpdate(client *fake.Clientset) *corev1.Namespace {
	var last *corev1.Namespace
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "namespaces" && a.GetSubresource() == "status" {
			last = a.(clienttesting.UpdateAction).GetObject().(*corev1.Namespace)
		}
	}
	return last
}

type wantCondition struct {
	status  corev1.ConditionStatus
	reason  string
	message string // prefix
}

func TestDeleteNamespaceContent(t *testing.T) {
	k := corev1.FinalizerKubernetes
	okConditions := map[corev1.NamespaceConditionType]wantCondition{
		corev1.NamespaceDeletionDiscoveryFailure: {corev1.ConditionFalse, "ResourcesDiscovered", "All resources successfully discovered"},
		corev1.NamespaceDeletionGVParsingFailure: {corev1.ConditionFalse, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
		corev1.NamespaceDeletionContentFailure:   {corev1.ConditionFalse, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
		corev1.NamespaceContentRemaining:         {corev1.ConditionFalse, "ContentRemoved", "All content successfully removed"},
		corev1.NamespaceFinalizersRemaining:      {corev1.ConditionFalse, "ContentRemoved", "All content successfully removed"},
	}
	with := func(overrides map[corev1.NamespaceConditionType]wantCondition) map[corev1.NamespaceConditionType]wantCondition {
		out := map[corev1.NamespaceConditionType]wantCondition{}
		for t, c := range okConditions {
			out[t] = c
		}
		for t, c := range overrides {
			out[t] = c
		}
		return out
	}
	fullPass := []string{
		"delete-collection pods", "list pods",
		"delete-collection configmaps", "list configmaps",
		"delete-collection deployments", "list deployments",
		"list widgets", "list widgets",
	}

	tests := []struct {
		name                 string
		ns                   *corev1.Namespace
		pods                 []*corev1.Pod
		content              []*metav1.PartialObjectMetadata
		brokenGroupVersion   string
		failDeleteCollection string

		wantErr            string // substring; "" means success
		wantEstimate       int64  // > 0: a resourcesRemainingError with this estimate
		wantFinalizers     []corev1.FinalizerName
		wantNoFinalize     bool
		wantPhaseUpdate    bool
		wantConditions     map[corev1.NamespaceConditionType]wantCondition // nil: no status update expected
		wantActions        []string
		wantRemainingItems []string
	}{
		{
			name: "content deleted then finalize called",
			ns:   terminating(time.Second, k),
			pods: []*corev1.Pod{runningPod("web", 0)},
			content: []*metav1.PartialObjectMetadata{
				object("v1", "Pod", "web"),
				object("v1", "ConfigMap", "settings"),
				object("apps/v1", "Deployment", "web"),
				object("example.com/v1", "Widget", "w1"),
				object("example.com/v1", "Widget", "w2"),
			},
			wantFinalizers: []corev1.FinalizerName{},
			wantConditions: okConditions,
			wantActions: []string{
				"delete-collection pods", "list pods",
				"delete-collection configmaps", "list configmaps",
				"delete-collection deployments", "list deployments",
				// no deletecollection verb: list, then delete one by one
				"list widgets", "delete widgets/w1", "delete widgets/w2", "list widgets",
			},
		},
		{
			name:           "empty namespace keeps finalizers of others",
			ns:             terminating(time.Second, k, "example.com/other"),
			wantFinalizers: []corev1.FinalizerName{"example.com/other"},
			wantConditions: okConditions,
			wantActions:    fullPass,
		},
		{
			name: "phase set to Terminating first",
			ns: func() *corev1.Namespace {
				ns := terminating(time.Second, k)
				ns.Status.Phase = corev1.NamespaceActive
				return ns
			}(),
			wantPhaseUpdate: true,
			wantFinalizers:  []corev1.FinalizerName{},
			wantConditions:  okConditions,
			wantActions:     fullPass,
		},
		{
			name:         "pods in their grace period: requeue, rest of the content waits",
			ns:           terminating(time.Second, k),
			pods:         []*corev1.Pod{runningPod("web", 30), runningPod("quick", 5)},
			content:      []*metav1.PartialObjectMetadata{object("v1", "Pod", "web", graceful), object("v1", "ConfigMap", "settings")},
			wantEstimate: 30,
			wantConditions: with(map[corev1.NamespaceConditionType]wantCondition{
				corev1.NamespaceContentRemaining: {corev1.ConditionTrue, "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances"},
			}),
			wantNoFinalize:     true,
			wantActions:        []string{"delete-collection pods", "list pods"},
			wantRemainingItems: []string{"pods/web", "configmaps/settings"},
		},
		{
			name:    "pods past their grace period still there: error and retry",
			ns:      terminating(time.Hour, k),
			pods:    []*corev1.Pod{runningPod("web", 30)},
			content: []*metav1.PartialObjectMetadata{object("v1", "Pod", "web", graceful)},
			wantErr: "unexpected items still remain in namespace: doomed",
			wantConditions: with(map[corev1.NamespaceConditionType]wantCondition{
				corev1.NamespaceDeletionContentFailure: {corev1.ConditionTrue, "ContentDeletionFailed", "Failed to delete all resource types, 1 remaining: unexpected items still remain"},
				corev1.NamespaceContentRemaining:       {corev1.ConditionTrue, "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances"},
			}),
			wantNoFinalize:     true,
			wantActions:        []string{"delete-collection pods", "list pods"},
			wantRemainingItems: []string{"pods/web"},
		},
		{
			name:         "objects held by finalizers: requeue with the finalizer estimate",
			ns:           terminating(time.Second, k),
			content:      []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "held", withFinalizer("example.com/hold")), object("v1", "ConfigMap", "free")},
			wantEstimate: finalizerEstimateSeconds,
			wantConditions: with(map[corev1.NamespaceConditionType]wantCondition{
				corev1.NamespaceContentRemaining:    {corev1.ConditionTrue, "SomeResourcesRemain", "Some resources are remaining: configmaps. has 1 resource instances"},
				corev1.NamespaceFinalizersRemaining: {corev1.ConditionTrue, "SomeFinalizerRemain", "Some finalizers are remaining: example.com/hold in 1 resource instances"},
			}),
			wantNoFinalize:     true,
			wantActions:        fullPass,
			wantRemainingItems: []string{"configmaps/held"},
		},
		{
			name:               "discovery failure: discovered content deleted, not finalized",
			ns:                 terminating(time.Second, k),
			content:            []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "settings")},
			brokenGroupVersion: "apps/v1",
			wantErr:            "discovering namespaced resources",
			wantConditions: with(map[corev1.NamespaceConditionType]wantCondition{
				corev1.NamespaceDeletionDiscoveryFailure: {corev1.ConditionTrue, "DiscoveryFailed", "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: apps/v1"},
			}),
			wantNoFinalize: true,
			wantActions: []string{
				"delete-collection pods", "list pods",
				"delete-collection configmaps", "list configmaps",
				"list widgets", "list widgets",
			},
		},
		{
			name:                 "deletecollection failure: other resources still deleted, not finalized",
			ns:                   terminating(time.Second, k),
			content:              []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "settings"), object("apps/v1", "Deployment", "web")},
			failDeleteCollection: "configmaps",
			wantErr:              "storage is on fire",
			wantConditions: with(map[corev1.NamespaceConditionType]wantCondition{
				corev1.NamespaceDeletionContentFailure: {corev1.ConditionTrue, "ContentDeletionFailed", "Failed to delete all resource types, 1 remaining: deleting all /v1, Resource=configmaps in namespace \"doomed\""},
			}),
			wantNoFinalize: true,
			wantActions: []string{
				"delete-collection pods", "list pods",
				"delete-collection configmaps",
				"delete-collection deployments", "list deployments",
				"list widgets", "list widgets",
			},
			wantRemainingItems: []string{"configmaps/settings"},
		},
		{
			name: "namespace not being deleted: nothing done",
			ns: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: testNS},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{k}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
			content:            []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "settings")},
			wantNoFinalize:     true,
			wantRemainingItems: []string{"configmaps/settings"},
		},
		{
			name:               "already released by this controller: nothing done",
			ns:                 terminating(time.Second, "example.com/other"),
			content:            []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "settings")},
			wantNoFinalize:     true,
			wantRemainingItems: []string{"configmaps/settings"},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.ns}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			client := fake.NewClientset(objs...)
			meta := newMetadataClient(t, tc.content, tc.failDeleteCollection)
			disco := &brokenDiscovery{
				FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: standardResources()}},
				broken:        tc.brokenGroupVersion,
			}
			d := &deleter{client: client, metadata: meta, discovery: disco, finalizer: corev1.FinalizerKubernetes}

			err := d.delete(context.Background(), testNS)

			var remaining *resourcesRemainingError
			switch {
			case tc.wantEstimate > 0:
				if !errors.As(err, &remaining) || remaining.Estimate != tc.wantEstimate {
					t.Fatalf("err = %v, want resources remaining with estimate %d", err, tc.wantEstimate)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.As(err, &remaining) {
					t.Fatalf("err = %v, want an error containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			}

			if got := metadataActions(meta); !slices.Equal(got, tc.wantActions) {
				t.Errorf("metadata actions:\n got %q\nwant %q", got, tc.wantActions)
			}
			if got := remainingObjects(t, meta); !slices.Equal(got, tc.wantRemainingItems) {
				t.Errorf("remaining objects = %q, want %q", got, tc.wantRemainingItems)
			}

			fin := finalizeAction(client)
			switch {
			case tc.wantNoFinalize && fin != nil:
				t.Errorf("namespace finalized with %v, want no finalize call", fin.Spec.Finalizers)
			case !tc.wantNoFinalize && fin == nil:
				t.Errorf("namespace not finalized")
			case fin != nil && !slices.Equal(fin.Spec.Finalizers, tc.wantFinalizers):
				t.Errorf("finalize spec.finalizers = %v, want %v", fin.Spec.Finalizers, tc.wantFinalizers)
			}

			phaseUpdated := false
			for _, a := range client.Actions() {
				if a.GetSubresource() == "status" {
					if ns := a.(clienttesting.UpdateAction).GetObject().(*corev1.Namespace); len(ns.Status.Conditions) == 0 && ns.Status.Phase == corev1.NamespaceTerminating {
						phaseUpdated = true
					}
				}
			}
			if phaseUpdated != tc.wantPhaseUpdate {
				t.Errorf("phase set to Terminating = %v, want %v", phaseUpdated, tc.wantPhaseUpdate)
			}

			status := lastStatusUpdate(client)
			if tc.wantConditions == nil {
				if status != nil && len(status.Status.Conditions) > 0 {
					t.Errorf("conditions written: %+v, want none", status.Status.Conditions)
				}
				return
			}
			if status == nil {
				t.Fatalf("no status update, want conditions")
			}
			if len(status.Status.Conditions) != len(tc.wantConditions) {
				t.Errorf("got %d conditions, want %d: %+v", len(status.Status.Conditions), len(tc.wantConditions), status.Status.Conditions)
			}
			for typ, want := range tc.wantConditions {
				c := findCondition(status.Status.Conditions, typ)
				if c == nil {
					t.Errorf("condition %s missing", typ)
					continue
				}
				if c.Status != want.status || c.Reason != want.reason || !strings.HasPrefix(c.Message, want.message) {
					t.Errorf("condition %s = %s/%s/%q, want %s/%s/%q...", typ, c.Status, c.Reason, c.Message, want.status, want.reason, want.message)
				}
			}
		})
	}
}

func TestConditionsTransition(t *testing.T) {
	// A failing condition that recovers flips to False with a new transition time; an
	// unchanged pass writes nothing.
	status := &corev1.NamespaceStatus{}
	var failing conditionBuilder
	failing.discoveryFailed(errors.New("boom"))
	if !failing.apply(status) {
		t.Fatal("first apply reported no change")
	}
	c := findCondition(status.Conditions, corev1.NamespaceDeletionDiscoveryFailure)
	if c.Status != corev1.ConditionTrue || c.Message != "boom" {
		t.Fatalf("discovery condition = %+v", c)
	}
	c.LastTransitionTime = metav1.NewTime(time.Now().Add(-time.Hour))
	old := c.LastTransitionTime

	var again conditionBuilder
	again.discoveryFailed(errors.New("boom"))
	if again.apply(status) {
		t.Error("identical apply reported a change")
	}

	var healthy conditionBuilder
	if !healthy.apply(status) {
		t.Fatal("recovery reported no change")
	}
	c = findCondition(status.Conditions, corev1.NamespaceDeletionDiscoveryFailure)
	if c.Status != corev1.ConditionFalse || c.Reason != "ResourcesDiscovered" || !c.LastTransitionTime.After(old.Time) {
		t.Errorf("recovered condition = %+v", c)
	}
	if len(status.Conditions) != len(managedConditions) {
		t.Errorf("got %d conditions, want %d", len(status.Conditions), len(managedConditions))
	}
}

// recordingQueue records how keys are requeued.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	after       []time.Duration
	rateLimited int
	forgotten   int
}

func (q *recordingQueue) AddAfter(_ string, d time.Duration) { q.after = append(q.after, d) }
func (q *recordingQueue) AddRateLimited(string)              { q.rateLimited++ }
func (q *recordingQueue) Forget(string)                      { q.forgotten++ }

func TestHandleResult(t *testing.T) {
	tests := []struct {
		name            string
		err             error
		wantAfter       []time.Duration
		wantRateLimited int
		wantForgotten   int
	}{
		{name: "done", err: nil, wantForgotten: 1},
		{name: "pods terminating for 30s: look again after 16s", err: &resourcesRemainingError{Estimate: 30}, wantAfter: []time.Duration{16 * time.Second}},
		{name: "finalizers: look again after 8s", err: fmt.Errorf("wrapped: %w", &resourcesRemainingError{Estimate: 15}), wantAfter: []time.Duration{8 * time.Second}},
		{name: "failure: back off", err: errors.New("boom"), wantRateLimited: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQueue{}
			c := &Controller{queue: q}
			c.handleResult(context.Background(), testNS, tc.err)
			if !slices.Equal(q.after, tc.wantAfter) || q.rateLimited != tc.wantRateLimited || q.forgotten != tc.wantForgotten {
				t.Errorf("after=%v rateLimited=%d forgotten=%d, want %v %d %d", q.after, q.rateLimited, q.forgotten, tc.wantAfter, tc.wantRateLimited, tc.wantForgotten)
			}
		})
	}
}

func TestRunFinalizesDeletedNamespaceAndStops(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "alive"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	client := fake.NewClientset(terminating(time.Second, corev1.FinalizerKubernetes), active)
	meta := newMetadataClient(t, []*metav1.PartialObjectMetadata{object("v1", "ConfigMap", "settings")}, "")
	disco := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: standardResources()}}
	factory := informers.NewSharedInformerFactory(client, 0)

	c, err := New(client, meta, disco, factory)
	if err != nil {
		t.Fatal(err)
	}
	c.gracePeriod = 0

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	done := make(chan struct{})
	go func() {
		c.Run(ctx, 2)
		close(done)
	}()

	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return finalizeAction(client) != nil, nil
	})
	if err != nil {
		t.Fatalf("namespace never finalized: %v", err)
	}
	if got := remainingObjects(t, meta); len(got) != 0 {
		t.Errorf("content left after finalize: %v", got)
	}
	for _, a := range client.Actions() {
		if a.GetSubresource() != "" && a.GetResource().Resource == "namespaces" {
			if ns := a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.Namespace); ns.Name != testNS {
				t.Errorf("controller wrote active namespace %q", ns.Name)
			}
		}
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRequiresClients(t *testing.T) {
	client := fake.NewClientset()
	if _, err := New(client, nil, nil, informers.NewSharedInformerFactory(client, 0)); err == nil {
		t.Error("New accepted nil clients")
	}
}
