package garbagecollector

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

const ns = "default"

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	replicasets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	pods        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	nodes       = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	allGVRs     = []schema.GroupVersionResource{deployments, replicasets, pods, nodes}
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}, {Version: "v1"}})
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Node"}, meta.RESTScopeRoot)
	return m
}

func ref(kind, name, uid string, block bool) metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "Pod" || kind == "Node" {
		apiVersion = "v1"
	}
	r := metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}
	if block {
		r.BlockOwnerDeletion = ptr.To(true)
	}
	return r
}

func object(kind, name, uid string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	apiVersion, namespace := "apps/v1", ns
	switch kind {
	case "Pod":
		apiVersion = "v1"
	case "Node":
		apiVersion, namespace = "v1", ""
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID(uid), OwnerReferences: owners},
	}
}

// newFakeClient returns a metadata fake whose delete and patch behave as the
// API server's generic store with garbage collection enabled: propagation
// policies become the foregroundDeletion / orphan finalizers, an object with
// finalizers only gets a deletionTimestamp, removing the last finalizer of an
// object being deleted deletes it, and UID preconditions are enforced.
func newFakeClient(objs ...runtime.Object) *fake.FakeMetadataClient {
	scheme := fake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		panic(err)
	}
	client := fake.NewSimpleMetadataClient(scheme, objs...)
	tracker := client.Tracker()
	client.PrependReactor("delete", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		da := action.(clienttesting.DeleteActionImpl)
		gvr, namespace, name := da.GetResource(), da.GetNamespace(), da.GetName()
		o, err := tracker.Get(gvr, namespace, name)
		if err != nil {
			return true, nil, err
		}
		m := o.(*metav1.PartialObjectMetadata).DeepCopy()
		if p := da.DeleteOptions.Preconditions; p != nil && p.UID != nil && *p.UID != m.UID {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), name, fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, m.UID))
		}
		addFinalizer := func(f string) {
			if !hasFinalizer(m, f) {
				m.Finalizers = append(m.Finalizers, f)
			}
		}
		if p := da.DeleteOptions.PropagationPolicy; p != nil {
			switch *p {
			case metav1.DeletePropagationForeground:
				addFinalizer(metav1.FinalizerDeleteDependents)
			case metav1.DeletePropagationOrphan:
				addFinalizer(metav1.FinalizerOrphanDependents)
			}
		}
		if len(m.Finalizers) == 0 {
			return true, nil, tracker.Delete(gvr, namespace, name)
		}
		if m.DeletionTimestamp == nil {
			now := metav1.Now()
			m.DeletionTimestamp = &now
		}
		return true, nil, tracker.Update(gvr, m, namespace)
	})
	client.PrependReactor("patch", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		handled, ret, err := clienttesting.ObjectReaction(tracker)(action)
		if err != nil || ret == nil {
			return handled, ret, err
		}
		m := ret.(*metav1.PartialObjectMetadata)
		if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
			if err := tracker.Delete(action.GetResource(), action.GetNamespace(), m.Name); err != nil {
				return true, nil, err
			}
		}
		return handled, ret, nil
	})
	return client
}

type harness struct {
	t        *testing.T
	client   *fake.FakeMetadataClient
	recorder *record.FakeRecorder
	gc       *Controller
	cancel   context.CancelFunc
	done     chan struct{}
}

func startGC(t *testing.T, client *fake.FakeMetadataClient, resources []schema.GroupVersionResource) *harness {
	t.Helper()
	recorder := record.NewFakeRecorder(100)
	gc, err := New(client, testMapper(), resources, recorder)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, client: client, gc: gc, recorder: recorder, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		gc.Run(ctx, 2)
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after its context was cancelled")
	}
}

func (h *harness) get(gvr schema.GroupVersionResource, name string) (*metav1.PartialObjectMetadata, bool) {
	namespace := ns
	if gvr == nodes {
		namespace = ""
	}
	o, err := h.client.Tracker().Get(gvr, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		h.t.Fatalf("get %s %s: %v", gvr.Resource, name, err)
	}
	return o.(*metav1.PartialObjectMetadata), true
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		h.t.Fatalf("timed out waiting for %s; actions: %s", what, h.describeActions())
	}
}

func (h *harness) gone(gvr schema.GroupVersionResource, names ...string) func() bool {
	return func() bool {
		for _, n := range names {
			if _, ok := h.get(gvr, n); ok {
				return false
			}
		}
		return true
	}
}

// writes returns the delete and patch actions, in order.
func (h *harness) writes() []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" || a.GetVerb() == "patch" {
			out = append(out, a)
		}
	}
	return out
}

func (h *harness) describeActions() string {
	s := ""
	for _, a := range h.writes() {
		s += describe(a) + "; "
	}
	return s
}

func describe(a clienttesting.Action) string {
	switch a := a.(type) {
	case clienttesting.DeleteActionImpl:
		policy := "<nil>"
		if a.DeleteOptions.PropagationPolicy != nil {
			policy = string(*a.DeleteOptions.PropagationPolicy)
		}
		return fmt.Sprintf("delete %s/%s policy=%s", a.GetResource().Resource, a.GetName(), policy)
	case clienttesting.PatchActionImpl:
		return fmt.Sprintf("patch %s/%s %s", a.GetResource().Resource, a.GetName(), a.GetPatch())
	}
	return a.GetVerb()
}

// indexOf returns the index in writes of the first action matching verb, resource and name.
func indexOf(actions []clienttesting.Action, verb string, gvr schema.GroupVersionResource, name string) int {
	for i, a := range actions {
		if a.GetVerb() != verb || a.GetResource() != gvr {
			continue
		}
		switch a := a.(type) {
		case clienttesting.DeleteActionImpl:
			if a.GetName() == name {
				return i
			}
		case clienttesting.PatchActionImpl:
			if a.GetName() == name {
				return i
			}
		}
	}
	return -1
}

// gcDeletes are the deletes the GC issued (the test's own deletes excluded).
func gcDeletes(actions []clienttesting.Action, exclude string) []clienttesting.DeleteActionImpl {
	var out []clienttesting.DeleteActionImpl
	for _, a := range actions {
		if d, ok := a.(clienttesting.DeleteActionImpl); ok && d.GetName() != exclude {
			out = append(out, d)
		}
	}
	return out
}

func deleteWith(t *testing.T, client *fake.FakeMetadataClient, gvr schema.GroupVersionResource, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := client.Resource(gvr).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("delete %s %s: %v", gvr.Resource, name, err)
	}
}

// settle waits until the graph holds every object of the initial lists as
// observed and the GC's queues are idle, then a little more.
func (h *harness) settle(uids ...types.UID) {
	h.t.Helper()
	h.waitFor("the graph built from the initial lists", func() bool {
		h.gc.mu.Lock()
		defer h.gc.mu.Unlock()
		for _, uid := range uids {
			if n, ok := h.gc.uidToNode[uid]; !ok || !n.observed {
				return false
			}
		}
		return h.gc.graphChanges.Len() == 0 && h.gc.attemptToDelete.Len() == 0
	})
	time.Sleep(200 * time.Millisecond)
}

// settleAfterGet lets the GC work on what it has, for "nothing happens" assertions:
// it waits until the GC has verified owner with a GET, then a little more.
func (h *harness) settleAfterGet(gvr schema.GroupVersionResource, name string) {
	h.t.Helper()
	h.waitFor("a GET of "+name, func() bool {
		for _, a := range h.client.Actions() {
			if g, ok := a.(clienttesting.GetActionImpl); ok && g.GetResource() == gvr && g.GetName() == name {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
}

func TestGarbageCollector(t *testing.T) {
	tests := []struct {
		name      string
		objects   []runtime.Object
		resources []schema.GroupVersionResource
		setup     func(client *fake.FakeMetadataClient)
		run       func(t *testing.T, h *harness)
	}{
		{
			name: "background cascade Deployment -> ReplicaSet -> Pod",
			objects: []runtime.Object{
				object("Deployment", "web", "d1"),
				object("ReplicaSet", "web-rs", "rs1", ref("Deployment", "web", "d1", true)),
				object("Pod", "web-rs-a", "p1", ref("ReplicaSet", "web-rs", "rs1", true)),
				object("Pod", "web-rs-b", "p2", ref("ReplicaSet", "web-rs", "rs1", true)),
			},
			run: func(t *testing.T, h *harness) {
				h.settle("d1", "rs1", "p1", "p2")
				if w := h.writes(); len(w) != 0 {
					t.Fatalf("GC wrote while every owner is live: %s", h.describeActions())
				}
				deleteWith(t, h.client, deployments, "web", metav1.DeletePropagationBackground)
				h.waitFor("ReplicaSet and Pods collected", func() bool {
					return h.gone(replicasets, "web-rs")() && h.gone(pods, "web-rs-a", "web-rs-b")()
				})
				deletes := gcDeletes(h.writes(), "web")
				if len(deletes) != 3 {
					t.Fatalf("want 3 GC deletes (rs, 2 pods), got %s", h.describeActions())
				}
				for _, d := range deletes {
					if p := d.DeleteOptions.PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
						t.Errorf("%s: want propagationPolicy Background", describe(d))
					}
					if d.DeleteOptions.Preconditions == nil || d.DeleteOptions.Preconditions.UID == nil {
						t.Errorf("%s: want a UID precondition", describe(d))
					}
				}
				w := h.writes()
				if indexOf(w, "delete", replicasets, "web-rs") > indexOf(w, "delete", pods, "web-rs-a") {
					t.Errorf("pods deleted before their ReplicaSet went: %s", h.describeActions())
				}
			},
		},
		{
			name: "dependent with two owners keeps the live one",
			objects: []runtime.Object{
				object("ReplicaSet", "a", "rsa"),
				object("ReplicaSet", "b", "rsb"),
				object("Pod", "shared", "p1", ref("ReplicaSet", "a", "rsa", true), ref("ReplicaSet", "b", "rsb", false)),
			},
			run: func(t *testing.T, h *harness) {
				h.settle("rsa", "rsb", "p1")
				deleteWith(t, h.client, replicasets, "a", metav1.DeletePropagationBackground)
				h.waitFor("reference to the dead owner removed", func() bool {
					p, ok := h.get(pods, "shared")
					return ok && len(p.OwnerReferences) == 1
				})
				p, _ := h.get(pods, "shared")
				if p.OwnerReferences[0].UID != "rsb" {
					t.Errorf("pod kept reference %v, want the live owner rsb", p.OwnerReferences[0])
				}
				time.Sleep(200 * time.Millisecond)
				if _, ok := h.get(pods, "shared"); !ok {
					t.Fatalf("pod with a live owner was deleted: %s", h.describeActions())
				}
				if d := gcDeletes(h.writes(), "a"); len(d) != 0 {
					t.Errorf("GC deleted something: %s", h.describeActions())
				}
			},
		},
		{
			name: "foreground deletion removes dependents first, then the finalizers",
			objects: []runtime.Object{
				object("Deployment", "web", "d1"),
				object("ReplicaSet", "web-rs", "rs1", ref("Deployment", "web", "d1", true)),
				object("Pod", "web-rs-a", "p1", ref("ReplicaSet", "web-rs", "rs1", true)),
			},
			run: func(t *testing.T, h *harness) {
				h.settle("d1", "rs1", "p1")
				deleteWith(t, h.client, deployments, "web", metav1.DeletePropagationForeground)
				h.waitFor("the whole chain gone", func() bool {
					return h.gone(deployments, "web")() && h.gone(replicasets, "web-rs")() && h.gone(pods, "web-rs-a")()
				})
				w := h.writes()
				rsDelete := indexOf(w, "delete", replicasets, "web-rs")
				podDelete := indexOf(w, "delete", pods, "web-rs-a")
				rsFinalizer := indexOf(w, "patch", replicasets, "web-rs")
				deployFinalizer := indexOf(w, "patch", deployments, "web")
				if rsDelete < 0 || podDelete < 0 || rsFinalizer < 0 || deployFinalizer < 0 {
					t.Fatalf("missing actions: %s", h.describeActions())
				}
				if p := w[rsDelete].(clienttesting.DeleteActionImpl).DeleteOptions.PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
					t.Errorf("ReplicaSet (which has dependents) must be foreground-deleted: %s", describe(w[rsDelete]))
				}
				if !(rsDelete < podDelete && podDelete < rsFinalizer && rsFinalizer < deployFinalizer) {
					t.Errorf("wrong order, want rs delete < pod delete < rs finalizer removal < deployment finalizer removal: %s", h.describeActions())
				}
			},
		},
		{
			name: "foreground deletion does not wait for non-blocking dependents",
			objects: []runtime.Object{
				object("ReplicaSet", "web-rs", "rs1"),
				object("Pod", "blocker", "p1", ref("ReplicaSet", "web-rs", "rs1", true)),
				object("Pod", "loose", "p2", ref("ReplicaSet", "web-rs", "rs1", false)),
			},
			setup: func(client *fake.FakeMetadataClient) {
				// The pod "loose" has a finalizer: it stays (terminating) after its delete.
				client.PrependReactor("delete", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
					da := action.(clienttesting.DeleteActionImpl)
					if da.GetName() != "loose" {
						return false, nil, nil
					}
					o, err := client.Tracker().Get(pods, ns, "loose")
					if err != nil {
						return true, nil, err
					}
					m := o.(*metav1.PartialObjectMetadata).DeepCopy()
					now := metav1.Now()
					m.DeletionTimestamp = &now
					m.Finalizers = []string{"example.com/keep"}
					return true, nil, client.Tracker().Update(pods, m, ns)
				})
			},
			run: func(t *testing.T, h *harness) {
				h.settle("rs1", "p1", "p2")
				deleteWith(t, h.client, replicasets, "web-rs", metav1.DeletePropagationForeground)
				h.waitFor("owner gone once its blocking dependent went", func() bool {
					return h.gone(replicasets, "web-rs")() && h.gone(pods, "blocker")()
				})
				if p, ok := h.get(pods, "loose"); !ok || p.DeletionTimestamp == nil {
					t.Errorf("non-blocking dependent should be terminating, got %v (exists %v)", p, ok)
				}
			},
		},
		{
			name: "orphan finalizer: references removed, finalizer removed, dependents kept",
			objects: []runtime.Object{
				object("Deployment", "web", "d1"),
				object("ReplicaSet", "web-rs", "rs1", ref("Deployment", "web", "d1", true)),
				object("ReplicaSet", "other-rs", "rs2", ref("Deployment", "web", "d1", true), ref("Deployment", "keep", "d2", false)),
				object("Deployment", "keep", "d2"),
				object("Pod", "web-rs-a", "p1", ref("ReplicaSet", "web-rs", "rs1", true)),
			},
			run: func(t *testing.T, h *harness) {
				h.settle("d1", "d2", "rs1", "rs2", "p1")
				deleteWith(t, h.client, deployments, "web", metav1.DeletePropagationOrphan)
				h.waitFor("the owner gone", h.gone(deployments, "web"))
				rs, ok := h.get(replicasets, "web-rs")
				if !ok {
					t.Fatalf("orphaned ReplicaSet was deleted: %s", h.describeActions())
				}
				if len(rs.OwnerReferences) != 0 {
					t.Errorf("orphaned ReplicaSet still has ownerReferences %v", rs.OwnerReferences)
				}
				other, ok := h.get(replicasets, "other-rs")
				if !ok || len(other.OwnerReferences) != 1 || other.OwnerReferences[0].UID != "d2" {
					t.Errorf("other-rs should keep only its reference to d2, got %v", other)
				}
				if _, ok := h.get(pods, "web-rs-a"); !ok {
					t.Errorf("grandchild pod was deleted")
				}
				w := h.writes()
				if indexOf(w, "patch", replicasets, "web-rs") > indexOf(w, "patch", deployments, "web") {
					t.Errorf("finalizer removed before the dependents were orphaned: %s", h.describeActions())
				}
				if d := gcDeletes(w, "web"); len(d) != 0 {
					t.Errorf("GC deleted something: %s", h.describeActions())
				}
			},
		},
		{
			name: "owner UID mismatch: a new object with the owner's name does not keep the dependents",
			objects: []runtime.Object{
				object("Deployment", "web", "d-new"),
				object("ReplicaSet", "web-rs", "rs1", ref("Deployment", "web", "d-old", true)),
				object("Pod", "web-rs-a", "p1", ref("ReplicaSet", "web-rs", "rs1", true)),
				object("ReplicaSet", "web-rs-new", "rs2", ref("Deployment", "web", "d-new", true)),
			},
			run: func(t *testing.T, h *harness) {
				h.waitFor("dependents of the old owner collected", func() bool {
					return h.gone(replicasets, "web-rs")() && h.gone(pods, "web-rs-a")()
				})
				time.Sleep(200 * time.Millisecond)
				if _, ok := h.get(deployments, "web"); !ok {
					t.Errorf("the new owner was deleted")
				}
				if _, ok := h.get(replicasets, "web-rs-new"); !ok {
					t.Errorf("the new owner's dependent was deleted: %s", h.describeActions())
				}
			},
		},
		{
			name: "owner absent at start: dependents collected from the initial lists",
			objects: []runtime.Object{
				object("ReplicaSet", "orphan-rs", "rs1", ref("Deployment", "gone", "d-gone", true)),
				object("Pod", "orphan-rs-a", "p1", ref("ReplicaSet", "orphan-rs", "rs1", true)),
				object("Pod", "on-gone-node", "p2", ref("Node", "n1", "node-gone", false)),
				object("Node", "n2", "node2"),
				object("Pod", "on-live-node", "p3", ref("Node", "n2", "node2", false)),
			},
			run: func(t *testing.T, h *harness) {
				h.waitFor("chain collected", func() bool {
					return h.gone(replicasets, "orphan-rs")() && h.gone(pods, "orphan-rs-a", "on-gone-node")()
				})
				time.Sleep(200 * time.Millisecond)
				if _, ok := h.get(pods, "on-live-node"); !ok {
					t.Errorf("pod owned by a live cluster-scoped owner was deleted: %s", h.describeActions())
				}
			},
		},
		{
			name: "cluster-scoped dependent of a namespaced owner: event, no deletion",
			objects: []runtime.Object{
				object("Node", "n1", "node1", ref("Deployment", "web", "d-x", true)),
			},
			run: func(t *testing.T, h *harness) {
				select {
				case ev := <-h.recorder.Events:
					if !strings.Contains(ev, ReasonOwnerRefInvalidNamespace) {
						t.Errorf("unexpected event %q", ev)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no OwnerRefInvalidNamespace event")
				}
				time.Sleep(200 * time.Millisecond)
				if _, ok := h.get(nodes, "n1"); !ok {
					t.Errorf("node deleted: %s", h.describeActions())
				}
			},
		},
		{
			name: "owner exists but the informer lags: nothing deleted",
			objects: []runtime.Object{
				object("Deployment", "web", "d1"),
				object("ReplicaSet", "web-rs", "rs1", ref("Deployment", "web", "d1", true)),
			},
			setup: func(client *fake.FakeMetadataClient) {
				// The deployments informer's list misses the Deployment, and its
				// watch starts past it: the informer never sees it.
				client.PrependReactor("list", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, &metav1.List{ListMeta: metav1.ListMeta{ResourceVersion: "1000000"}}, nil
				})
			},
			run: func(t *testing.T, h *harness) {
				h.settleAfterGet(deployments, "web")
				h.gc.mu.Lock()
				owner := h.gc.uidToNode["d1"]
				virtual := owner != nil && !owner.observed
				h.gc.mu.Unlock()
				if !virtual {
					t.Fatalf("the test needs the owner as a virtual node (informer lag), got %+v", owner)
				}
				if _, ok := h.get(replicasets, "web-rs"); !ok {
					t.Fatalf("dependent deleted although its owner exists: %s", h.describeActions())
				}
				if w := h.writes(); len(w) != 0 {
					t.Errorf("GC wrote: %s", h.describeActions())
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := newFakeClient(tc.objects...)
			if tc.setup != nil {
				tc.setup(client)
			}
			resources := tc.resources
			if resources == nil {
				resources = allGVRs
			}
			h := startGC(t, client, resources)
			tc.run(t, h)
		})
	}
}

func TestRunReturnsAfterCancel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
	}{{"before the caches sync", 0}, {"while working", 300 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			gc, err := New(newFakeClient(object("Deployment", "web", "d1"), object("ReplicaSet", "rs", "rs1", ref("Deployment", "web", "d1", true))),
				testMapper(), allGVRs, record.NewFakeRecorder(10))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				gc.Run(ctx, 3)
			}()
			time.Sleep(tc.after)
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
}

func TestDeletableResources(t *testing.T) {
	d := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	d.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: []string{"create", "delete", "get", "list", "watch"}},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "patch"}},
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: []string{"delete", "list", "watch"}},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
			{Name: "nodes", Kind: "Node", Verbs: []string{"delete", "list", "watch"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "replicasets", Namespaced: true, Kind: "ReplicaSet", Verbs: []string{"delete", "list", "watch"}},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: []string{"delete", "list", "watch"}},
		}},
	}
	got, err := DeletableResources(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.GroupVersionResource{nodes, pods, replicasets}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

func TestNewRejectsUnknownResource(t *testing.T) {
	_, err := New(newFakeClient(), testMapper(), []schema.GroupVersionResource{{Group: "example.com", Version: "v1", Resource: "widgets"}}, record.NewFakeRecorder(1))
	if err == nil {
		t.Fatal("want an error for a resource the RESTMapper does not know")
	}
}

func TestReferencesDiffs(t *testing.T) {
	a := ref("ReplicaSet", "a", "ua", false)
	b := ref("ReplicaSet", "b", "ub", true)
	bUnblocked := ref("ReplicaSet", "b", "ub", false)
	c := ref("ReplicaSet", "c", "uc", false)
	tests := []struct {
		name                    string
		old, cur                []metav1.OwnerReference
		added, removed, changed []types.UID
	}{
		{name: "no change", old: []metav1.OwnerReference{a, b}, cur: []metav1.OwnerReference{a, b}},
		{name: "added", old: []metav1.OwnerReference{a}, cur: []metav1.OwnerReference{a, c}, added: []types.UID{"uc"}},
		{name: "removed", old: []metav1.OwnerReference{a, b}, cur: []metav1.OwnerReference{b}, removed: []types.UID{"ua"}},
		{name: "blockOwnerDeletion changed", old: []metav1.OwnerReference{b}, cur: []metav1.OwnerReference{bUnblocked}, changed: []types.UID{"ub"}},
		{name: "all", old: []metav1.OwnerReference{a, b}, cur: []metav1.OwnerReference{bUnblocked, c}, added: []types.UID{"uc"}, removed: []types.UID{"ua"}, changed: []types.UID{"ub"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, changed := referencesDiffs(tc.old, tc.cur)
			for _, check := range []struct {
				what     string
				got      []metav1.OwnerReference
				wantUIDs []types.UID
			}{{"added", added, tc.added}, {"removed", removed, tc.removed}, {"changed", changed, tc.changed}} {
				got := refUIDs(check.got)
				if len(got) != len(check.wantUIDs) {
					t.Fatalf("%s: got %v, want %v", check.what, got, check.wantUIDs)
				}
				for i := range got {
					if got[i] != check.wantUIDs[i] {
						t.Errorf("%s: got %v, want %v", check.what, got, check.wantUIDs)
					}
				}
			}
			if len(tc.changed) > 0 && !blocks(changed[0]) {
				t.Errorf("changed should report the old reference (blocking), got %v", changed[0])
			}
		})
	}
}
