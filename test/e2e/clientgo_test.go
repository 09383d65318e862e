package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func ensureNS(t *testing.T, c *cluster, ns string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// A shared informer sees every add, update and delete, in order.
func TestInformerSeesEveryEventInOrder(t *testing.T) {
	c := shared
	ns := "informer"
	ensureNS(t, c, ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var seen []string
	record := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { record("add " + obj.(*corev1.Pod).Name) },
		UpdateFunc: func(oldObj, obj any) {
			p := obj.(*corev1.Pod)
			if p.DeletionTimestamp != nil && oldObj.(*corev1.Pod).DeletionTimestamp == nil {
				// As in kube-apiserver, a pod deletion first marks the pod (grace period 0 for
				// an unscheduled pod), then removes it.
				record("terminating " + p.Name)
				return
			}
			record(fmt.Sprintf("update %s %s", p.Name, p.Labels["step"]))
		},
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				record("delete " + p.Name)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	pods := c.Client.CoreV1().Pods(ns)
	var want []string
	const n = 20
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%02d", i)
		if _, err := pods.Create(ctx, newPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "add "+name)
		for step := 1; step <= 2; step++ {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Labels = map[string]string{"step": fmt.Sprint(step)}
			if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("update %s %d", name, step))
		}
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "terminating "+name, "delete "+name)
	}
	eventually(t, 20*time.Second, "informer events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("informer saw\n%v\nwant\n%v", seen, want)
	}
}

// A watch resumed from an old resourceVersion replays exactly the events after it.
func TestWatchResumesFromResourceVersion(t *testing.T) {
	c := shared
	ns := "watch-resume"
	ensureNS(t, c, ns)
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods(ns)
	first, err := pods.Create(ctx, newPod("first"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"second", "third"} {
		if _, err := pods.Create(ctx, newPod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pods.Delete(ctx, "second", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// Deleting a pod marks it (MODIFIED, deletionTimestamp set) and then removes it, as
	// kube-apiserver's generic store does for a grace period of 0.
	want := []string{"ADDED second", "ADDED third", "MODIFIED second", "DELETED second"}
	var got []string
	for len(got) < len(want) {
		select {
		case ev := <-w.ResultChan():
			got = append(got, fmt.Sprintf("%s %s", ev.Type, ev.Object.(*corev1.Pod).Name))
		case <-time.After(10 * time.Second):
			t.Fatalf("resumed watch got %v, want %v", got, want)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resumed watch got %v, want %v", got, want)
	}
}

// A watch from a resourceVersion older than the server's history gets 410 Gone, and a
// reflector (an informer) recovers by relisting.
func TestWatchTooOldGetsGoneAndRelistRecovers(t *testing.T) {
	c, err := startCluster([]string{"--no-controllers", "--default-watch-cache-size", "50"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	ns := "gone"
	ensureNS(t, c, ns)
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods(ns)
	old, err := pods.Create(ctx, newPod("old"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ {
		if _, err := pods.Create(ctx, newPod(fmt.Sprintf("filler-%03d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: old.ResourceVersion})
	if err == nil {
		select {
		case ev := <-w.ResultChan():
			status, ok := ev.Object.(*metav1.Status)
			if ev.Type != watch.Error || !ok || status.Code != 410 {
				t.Fatalf("watch from a compacted resourceVersion: %s %#v, want a 410 error event", ev.Type, ev.Object)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event on a watch from a compacted resourceVersion")
		}
		w.Stop()
	} else if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("watch from a compacted resourceVersion: %v, want 410", err)
	}

	// An informer starting now lists, watches, and sees everything.
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if got := len(inf.GetStore().List()); got != 121 {
		t.Fatalf("informer has %d pods, want 121", got)
	}
	if _, err := pods.Create(ctx, newPod("late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the informer to see a new pod", func() bool {
		_, ok, _ := inf.GetStore().GetByKey(ns + "/late")
		return ok
	})
}
