package staticpod

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kubeshim/kubeshim/apis/defaults"
)

// staticPod is the static pod of a manifest, as Source makes it.
func staticPod(t *testing.T, name, image string) *corev1.Pod {
	t.Helper()
	src := New(Config{NodeName: nodeName, Default: defaults.SetObjectDefaultsPod})
	e := src.parse("/manifests/"+name+".yaml", []byte(podYAML(name, image)), nil)
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.pod
}

type mirrorHarness struct {
	t      *testing.T
	client *fake.Clientset
	m      *Mirrors
	// createdWithUID counts mirror pods sent to the API with a UID set (must stay 0).
	createdWithUID atomic.Int32
	uids           atomic.Int32
}

func newMirrorHarness(t *testing.T, objects ...runtime.Object) *mirrorHarness {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, UID: "node-uid"}}
	h := &mirrorHarness{t: t, client: fake.NewClientset(append([]runtime.Object{node}, objects...)...)}
	// The API server gives every new pod a UID.
	h.client.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		pod := action.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if pod.UID != "" {
			h.createdWithUID.Add(1)
		}
		pod.UID = types.UID(fmt.Sprintf("api-uid-%d", h.uids.Add(1)))
		return false, nil, nil
	})
	h.m = NewMirrors(h.client, nodeName)
	return h
}

func (h *mirrorHarness) sync(static ...*corev1.Pod) error {
	h.t.Helper()
	h.client.ClearActions()
	return h.m.Sync(context.Background(), static)
}

func (h *mirrorHarness) get(name string) *corev1.Pod {
	h.t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// writes lists the create and delete actions of the last sync, as "verb ns/name".
func (h *mirrorHarness) writes() []string {
	var out []string
	for _, a := range h.client.Actions() {
		switch a := a.(type) {
		case clienttesting.CreateAction:
			p := a.GetObject().(*corev1.Pod)
			out = append(out, "create "+p.Namespace+"/"+p.Name)
		case clienttesting.DeleteAction:
			out = append(out, "delete "+a.GetNamespace()+"/"+a.GetName())
		case clienttesting.UpdateAction, clienttesting.PatchAction:
			out = append(out, a.GetVerb()+" "+a.GetNamespace())
		}
	}
	return out
}

func checkMirror(t *testing.T, mirror, static *corev1.Pod) {
	t.Helper()
	if mirror == nil {
		t.Fatalf("no mirror pod for %s", static.Name)
	}
	if !IsMirror(mirror) || IsStatic(mirror) {
		t.Errorf("IsMirror %v IsStatic %v", IsMirror(mirror), IsStatic(mirror))
	}
	if mirror.UID == static.UID {
		t.Errorf("mirror kept the static pod's UID")
	}
	for k, v := range map[string]string{
		ConfigMirrorAnnotationKey: static.Annotations[ConfigHashAnnotationKey],
		ConfigHashAnnotationKey:   string(static.UID),
		ConfigSourceAnnotationKey: FileSource,
		ConfigSeenAnnotationKey:   static.Annotations[ConfigSeenAnnotationKey],
	} {
		if mirror.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, mirror.Annotations[k], v)
		}
	}
	want := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: "node-uid"}
	if len(mirror.OwnerReferences) != 1 {
		t.Fatalf("ownerReferences = %+v", mirror.OwnerReferences)
	}
	got := mirror.OwnerReferences[0]
	if got.APIVersion != want.APIVersion || got.Kind != want.Kind || got.Name != want.Name || got.UID != want.UID ||
		got.Controller == nil || !*got.Controller {
		t.Errorf("ownerReference = %+v, want %+v with controller true", got, want)
	}
	if mirror.Spec.NodeName != nodeName || mirror.Spec.Containers[0].Image != static.Spec.Containers[0].Image {
		t.Errorf("spec not the static pod's: nodeName %q image %q", mirror.Spec.NodeName, mirror.Spec.Containers[0].Image)
	}
}

func TestMirrorsLifecycle(t *testing.T) {
	h := newMirrorHarness(t)
	web, db := staticPod(t, "web", "nginx"), staticPod(t, "db", "postgres")

	// Created, with the annotations and the Node as owner, without the static pod's UID.
	if err := h.sync(web, db); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.writes(), ","); got != "create default/web-node1,create default/db-node1" {
		t.Errorf("writes = %s", got)
	}
	checkMirror(t, h.get("web-node1"), web)
	checkMirror(t, h.get("db-node1"), db)
	if n := h.createdWithUID.Load(); n != 0 {
		t.Errorf("%d mirror pods sent with a UID", n)
	}
	if mo := h.m.MirrorOf(web); mo == nil || mo.UID != h.get("web-node1").UID {
		t.Errorf("MirrorOf(web) = %v", mo)
	}

	// In sync: nothing written.
	if err := h.sync(web, db); err != nil {
		t.Fatal(err)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("writes when in sync: %v", w)
	}

	// Deleted through the API (gone at once): created again.
	if err := h.client.CoreV1().Pods("default").Delete(context.Background(), "web-node1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.sync(web, db); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.writes(), ","); got != "create default/web-node1" {
		t.Errorf("writes = %s", got)
	}
	checkMirror(t, h.get("web-node1"), web)

	// Deleted through the API gracefully (deletionTimestamp set): deleted at once, created again.
	old := h.get("db-node1")
	deleting := old.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), deleting, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if h.m.MirrorOf(db) == nil {
		t.Error("MirrorOf(db) is nil before the sync")
	}
	if err := h.sync(web, db); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.writes(), ","); got != "delete default/db-node1,create default/db-node1" {
		t.Errorf("writes = %s", got)
	}
	checkDelete(t, h.client.Actions()[1], old.UID)
	if now := h.get("db-node1"); now.UID == old.UID || now.DeletionTimestamp != nil {
		t.Errorf("db mirror not replaced: UID %s deletionTimestamp %v", now.UID, now.DeletionTimestamp)
	}

	// The file changed (new hash): the mirror is replaced.
	web2 := staticPod(t, "web", "nginx:1.27")
	oldWeb := h.get("web-node1")
	if h.m.MirrorOf(web2) != nil {
		t.Error("MirrorOf(changed static pod) returns the old mirror")
	}
	if err := h.sync(web2, db); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.writes(), ","); got != "delete default/web-node1,create default/web-node1" {
		t.Errorf("writes = %s", got)
	}
	checkDelete(t, h.client.Actions()[1], oldWeb.UID)
	checkMirror(t, h.get("web-node1"), web2)

	// The static pod is gone: so is its mirror.
	if err := h.sync(db); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.writes(), ","); got != "delete default/web-node1" {
		t.Errorf("writes = %s", got)
	}
	if h.get("web-node1") != nil {
		t.Error("mirror of a removed static pod still there")
	}
	if err := h.sync(); err != nil {
		t.Fatal(err)
	}
	if h.get("db-node1") != nil || h.m.MirrorOf(db) != nil {
		t.Error("mirror of a removed static pod still there")
	}
}

func checkDelete(t *testing.T, a clienttesting.Action, uid types.UID) {
	t.Helper()
	del, ok := a.(clienttesting.DeleteActionImpl)
	if !ok {
		t.Fatalf("action %v is not a delete", a)
	}
	opts := del.DeleteOptions
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 {
		t.Errorf("delete grace period = %v, want 0", opts.GracePeriodSeconds)
	}
	if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != uid {
		t.Errorf("delete preconditions = %+v, want UID %s", opts.Preconditions, uid)
	}
}

// TestMirrorsLeaveOthersAlone: pods that are not this node's mirror pods are never touched.
func TestMirrorsLeaveOthersAlone(t *testing.T) {
	web := staticPod(t, "web", "nginx")
	apiPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node1", Namespace: "default", UID: "user"},
		Spec: corev1.PodSpec{NodeName: nodeName}}
	otherNodeMirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x-node2", Namespace: "default", UID: "n2",
		Annotations: map[string]string{ConfigMirrorAnnotationKey: "h"}}, Spec: corev1.PodSpec{NodeName: "node2"}}
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "default", UID: "plain"},
		Spec: corev1.PodSpec{NodeName: nodeName}}
	h := newMirrorHarness(t, apiPod, otherNodeMirror, plain)

	err := h.sync(web)
	if err == nil || !strings.Contains(err.Error(), "not a mirror pod") {
		t.Errorf("Sync = %v, want an error about the pod in the way", err)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("writes = %v", w)
	}
	if err := h.sync(); err != nil {
		t.Fatal(err)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("writes = %v", w)
	}
	for _, name := range []string{"web-node1", "x-node2", "plain"} {
		if h.get(name) == nil {
			t.Errorf("%s was deleted", name)
		}
	}
}

// TestMirrorsRetry: without the Node (or when the API refuses), Sync reports the error and
// creates nothing; a later Sync creates the mirror.
func TestMirrorsRetry(t *testing.T) {
	web := staticPod(t, "web", "nginx")
	h := newMirrorHarness(t)
	if err := h.client.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.sync(web); err == nil || !strings.Contains(err.Error(), "get node") {
		t.Errorf("Sync without node = %v", err)
	}
	if h.get("web-node1") != nil {
		t.Fatal("mirror created without a node")
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, UID: "node-uid"}}
	if _, err := h.client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	refuse.Store(true)
	h.client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		if refuse.Load() {
			return true, nil, apierrors.NewInternalError(fmt.Errorf("etcd is down"))
		}
		return false, nil, nil
	})
	if err := h.sync(web); err == nil || !strings.Contains(err.Error(), "etcd is down") {
		t.Errorf("Sync with a failing API = %v", err)
	}
	refuse.Store(false)
	if err := h.sync(web); err != nil {
		t.Fatal(err)
	}
	checkMirror(t, h.get("web-node1"), web)

	// A node being deleted gets no new mirror pods (as upstream).
	h2 := newMirrorHarness(t)
	n, _ := h2.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	n.DeletionTimestamp = &metav1.Time{}
	if _, err := h2.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h2.sync(web); err != nil {
		t.Fatal(err)
	}
	if h2.get("web-node1") != nil {
		t.Error("mirror created on a node being deleted")
	}
}

// TestMirrorsAlreadyExists: a mirror made meanwhile (the List lagged) is accepted when it is
// the right one.
func TestMirrorsAlreadyExists(t *testing.T) {
	web := staticPod(t, "web", "nginx")
	h := newMirrorHarness(t)
	// The first List misses the pod another Sync just made.
	var lists atomic.Int32
	h.client.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		if lists.Add(1) == 1 {
			return true, &corev1.PodList{}, nil
		}
		return false, nil, nil
	})
	node, _ := h.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	if _, err := h.client.CoreV1().Pods("default").Create(context.Background(), newMirror(web, node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.sync(web); err != nil {
		t.Fatalf("Sync = %v", err)
	}
	if h.m.MirrorOf(web) == nil {
		t.Error("MirrorOf is nil")
	}
}
