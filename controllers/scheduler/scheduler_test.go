package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

var podsResource = corev1.SchemeGroupVersion.WithResource("pods")

// harness is a scheduler over a fake clientset whose pods/binding behaves as the API server's:
// it sets spec.nodeName, and answers 409 Conflict for a pod already bound or a UID mismatch.
type harness struct {
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller

	mu sync.Mutex
	// persist false leaves the pod unbound in the store after a successful binding, as if the
	// informer had not seen the binding yet.
	persist bool
	// bindErr, when set, is the answer of every binding.
	bindErr error
}

func newHarness(t *testing.T, ctx context.Context, objs []runtime.Object, opts ...Option) *harness {
	t.Helper()
	h := &harness{client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100), persist: true}
	h.client.PrependReactor("create", "pods", h.bindReactor)
	h.factory = informers.NewSharedInformerFactory(h.client, 0)
	c, err := New(h.client, h.factory, h.recorder, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(h.factory.Shutdown)
	t.Cleanup(cancel)
	h.factory.Start(ctx.Done())
	h.factory.WaitForCacheSync(ctx.Done())
	return h
}

func (h *harness) bindReactor(action k8stesting.Action) (bool, runtime.Object, error) {
	create, ok := action.(k8stesting.CreateAction)
	if !ok || create.GetSubresource() != "binding" {
		return false, nil, nil
	}
	b := create.GetObject().(*corev1.Binding)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bindErr != nil {
		return true, nil, h.bindErr
	}
	obj, err := h.client.Tracker().Get(podsResource, b.Namespace, b.Name)
	if err != nil {
		return true, nil, err
	}
	pod := obj.(*corev1.Pod).DeepCopy()
	if pod.Spec.NodeName != "" || (b.UID != "" && b.UID != pod.UID) {
		return true, nil, apierrors.NewConflict(podsResource.GroupResource(), b.Name,
			fmt.Errorf("pod %s is already assigned to node %q", b.Name, pod.Spec.NodeName))
	}
	if h.persist {
		pod.Spec.NodeName = b.Target.Name
		if err := h.client.Tracker().Update(podsResource, pod, pod.Namespace); err != nil {
			return true, nil, err
		}
	}
	return true, b, nil
}

// bindings lists the bindings the scheduler created, as "ns/name->node".
func (h *harness) bindings() []string {
	var out []string
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "create" && a.GetSubresource() == "binding" {
			b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
			out = append(out, b.Namespace+"/"+b.Name+"->"+b.Target.Name)
		}
	}
	return out
}

func (h *harness) statusUpdates() int {
	n := 0
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) getPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitInformer waits until the pod informer shows the pod in the state cond asks.
func (h *harness) waitInformer(t *testing.T, name string, cond func(*corev1.Pod) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) {
			p, err := h.c.podLister.Pods("default").Get(name)
			return err == nil && cond(p), nil
		})
	if err != nil {
		t.Fatalf("informer never showed pod %s as expected: %v", name, err)
	}
}

func TestScheduleBindsAndRecordsEvent(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ctx, []runtime.Object{makeNode("n1"), makePod("p")})

	if err := h.c.schedule(ctx, "default/p"); err != nil {
		t.Fatalf("schedule: %v", err)
	}
	if diff := cmp.Diff([]string{"default/p->n1"}, h.bindings()); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	for _, a := range h.client.Actions() {
		if a.GetSubresource() == "binding" {
			b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
			if b.UID != "uid-p" || b.Target.Kind != "Node" {
				t.Errorf("binding = %+v, want UID precondition uid-p and target kind Node", b)
			}
		}
	}
	if got := h.getPod(t, "p").Spec.NodeName; got != "n1" {
		t.Errorf("pod nodeName = %q, want n1", got)
	}
	if diff := cmp.Diff([]string{"Normal Scheduled Successfully assigned default/p to n1"}, h.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestScheduleSkipsPodsNotItsOwn(t *testing.T) {
	now := metav1.Now()
	cases := []*corev1.Pod{
		makePod("bound", onNode("elsewhere")),
		makePod("other-scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" }),
		makePod("gated", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}),
		makePod("succeeded", phase(corev1.PodSucceeded)),
		makePod("failed", phase(corev1.PodFailed)),
		makePod("deleting", func(p *corev1.Pod) {
			p.DeletionTimestamp = &now
			p.Finalizers = []string{"example.com/keep"}
		}),
	}
	for _, pod := range cases {
		t.Run(pod.Name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, ctx, []runtime.Object{makeNode("n1"), pod})
			if err := h.c.schedule(ctx, "default/"+pod.Name); err != nil {
				t.Fatalf("schedule: %v", err)
			}
			if b := h.bindings(); len(b) != 0 {
				t.Errorf("bindings = %v, want none", b)
			}
			if n := h.statusUpdates(); n != 0 {
				t.Errorf("%d status updates, want none", n)
			}
		})
	}
}

func TestUnschedulableConditionAndEvent(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ctx, []runtime.Object{makeNode("n1"), makePod("p", nodeSelector("disktype", "nvme"))})
	const want = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. " +
		"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."

	if err := h.c.schedule(ctx, "default/p"); !errors.Is(err, errUnschedulable) {
		t.Fatalf("schedule = %v, want errUnschedulable", err)
	}
	if b := h.bindings(); len(b) != 0 {
		t.Errorf("bindings = %v, want none", b)
	}
	if n := h.statusUpdates(); n != 1 {
		t.Errorf("%d status updates, want 1", n)
	}
	pod := h.getPod(t, "p")
	var cond *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			cond = &pod.Status.Conditions[i]
		}
	}
	if cond == nil {
		t.Fatalf("no PodScheduled condition in %+v", pod.Status)
	}
	if cond.Status != corev1.ConditionFalse || cond.Reason != "Unschedulable" || cond.Message != want {
		t.Errorf("condition = %s/%s %q, want False/Unschedulable %q", cond.Status, cond.Reason, cond.Message, want)
	}
	if cond.LastTransitionTime.IsZero() {
		t.Errorf("condition has no lastTransitionTime")
	}
	if diff := cmp.Diff([]string{"Warning FailedScheduling " + want}, h.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// A second attempt with the same outcome emits the event again but does not rewrite the
	// unchanged condition.
	h.waitInformer(t, "p", func(p *corev1.Pod) bool { return len(p.Status.Conditions) == 1 })
	if err := h.c.schedule(ctx, "default/p"); !errors.Is(err, errUnschedulable) {
		t.Fatalf("second schedule = %v, want errUnschedulable", err)
	}
	if n := h.statusUpdates(); n != 1 {
		t.Errorf("%d status updates after the retry, want still 1", n)
	}
	if got := h.events(); len(got) != 1 || !strings.HasPrefix(got[0], "Warning FailedScheduling 0/1") {
		t.Errorf("events after the retry = %v", got)
	}
}

func TestAssumedPodsHoldTheirSlot(t *testing.T) {
	ctx := context.Background()
	// One node with room for one 1500m pod; the informer does not see the binding (persist off),
	// so only the assumed cache keeps the second pod off the node.
	h := newHarness(t, ctx, []runtime.Object{
		makeNode("n1"),
		makePod("p1", requests("cpu", "1500m")),
		makePod("p2", requests("cpu", "1500m")),
	})
	h.persist = false

	if err := h.c.schedule(ctx, "default/p1"); err != nil {
		t.Fatalf("schedule p1: %v", err)
	}
	if !h.c.assumed.has("uid-p1") {
		t.Fatalf("p1 not assumed after binding")
	}
	// p1 is assumed: a second attempt for it does nothing.
	if err := h.c.schedule(ctx, "default/p1"); err != nil {
		t.Fatalf("schedule p1 again: %v", err)
	}
	if err := h.c.schedule(ctx, "default/p2"); !errors.Is(err, errUnschedulable) {
		t.Fatalf("schedule p2 = %v, want errUnschedulable", err)
	}
	if diff := cmp.Diff([]string{"default/p1->n1"}, h.bindings()); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	msg := h.getPod(t, "p2").Status.Conditions[0].Message
	if !strings.HasPrefix(msg, "0/1 nodes are available: 1 Insufficient cpu.") {
		t.Errorf("p2 message = %q, want Insufficient cpu", msg)
	}

	// Once the informer shows p1 on the node, the assumption is dropped and the node still
	// counts p1 (from the informer now).
	p1 := h.getPod(t, "p1")
	p1.Spec.NodeName = "n1"
	if err := h.client.Tracker().Update(podsResource, p1, "default"); err != nil {
		t.Fatal(err)
	}
	h.waitInformer(t, "p1", func(p *corev1.Pod) bool { return p.Spec.NodeName == "n1" })
	err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return !h.c.assumed.has("uid-p1"), nil })
	if err != nil {
		t.Errorf("p1 still assumed after the informer showed it bound")
	}
	if err := h.c.schedule(ctx, "default/p2"); !errors.Is(err, errUnschedulable) {
		t.Fatalf("schedule p2 after informer caught up = %v, want errUnschedulable", err)
	}
}

func TestFailedBindingReleasesTheSlot(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ctx, []runtime.Object{
		makeNode("n1"),
		makePod("p1", requests("cpu", "1500m")),
		makePod("p2", requests("cpu", "1500m")),
	})
	h.bindErr = apierrors.NewInternalError(errors.New("etcd is sad"))
	if err := h.c.schedule(ctx, "default/p1"); err == nil || errors.Is(err, errUnschedulable) {
		t.Fatalf("schedule p1 = %v, want the binding error", err)
	}
	if h.c.assumed.has("uid-p1") {
		t.Errorf("p1 still assumed after its binding failed")
	}
	h.bindErr = nil
	if err := h.c.schedule(ctx, "default/p2"); err != nil {
		t.Fatalf("schedule p2: %v", err)
	}
	if got := h.getPod(t, "p2").Spec.NodeName; got != "n1" {
		t.Errorf("p2 nodeName = %q, want n1", got)
	}
}

func TestBindingConflictIsForgotten(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ctx, []runtime.Object{makeNode("n1"), makePod("p")})
	h.bindErr = apierrors.NewConflict(podsResource.GroupResource(), "p", errors.New(`pod p is already assigned to node "n2"`))

	// The informer's add handler queues the pending pod; wait for it so no late add is mistaken
	// for a retry.
	err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return h.c.queue.Len() == 1, nil })
	if err != nil {
		t.Fatalf("pod never queued: %v", err)
	}
	if !h.c.processNextItem(ctx) {
		t.Fatal("queue shut down")
	}
	if got := h.c.queue.Len(); got != 0 {
		t.Errorf("queue length = %d, want 0 (no retry)", got)
	}
	if got := h.c.queue.NumRequeues("default/p"); got != 0 {
		t.Errorf("requeues = %d, want 0", got)
	}
	if h.c.assumed.has("uid-p") {
		t.Errorf("pod still assumed after a 409")
	}
	if ev := h.events(); len(ev) != 0 {
		t.Errorf("events = %v, want none", ev)
	}
}

func TestSnapshotIgnoresTerminalPods(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ctx, []runtime.Object{
		makeNode("n1"),
		makePod("done", onNode("n1"), requests("cpu", "2"), phase(corev1.PodSucceeded)),
		makePod("running", onNode("n1"), requests("cpu", "500m"), phase(corev1.PodRunning)),
		makePod("p", requests("cpu", "1500m")),
	})
	if err := h.c.schedule(ctx, "default/p"); err != nil {
		t.Fatalf("schedule: %v", err)
	}
	if got := h.getPod(t, "p").Spec.NodeName; got != "n1" {
		t.Errorf("nodeName = %q, want n1", got)
	}
}

// TestRunRetriesPromptly runs the scheduler with an hour of back-off: only the cluster events
// (a node added, a pod deleted) can get the pending pods placed within the test's time.
func TestRunRetriesPromptly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHarness(t, ctx, nil, WithBackoff(time.Hour, time.Hour))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.c.Run(ctx, 2)
	}()
	defer func() { cancel(); <-done }()

	pods := h.client.CoreV1().Pods("default")
	nodes := h.client.CoreV1().Nodes()
	if _, err := pods.Create(ctx, makePod("p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod := func(what string, cond func(*corev1.Pod) bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true,
			func(ctx context.Context) (bool, error) {
				p, err := pods.Get(ctx, "p", metav1.GetOptions{})
				return err == nil && cond(p), nil
			})
		if err != nil {
			t.Fatalf("pod never %s: %v", what, err)
		}
	}
	waitPod("reported no nodes", func(p *corev1.Pod) bool {
		return len(p.Status.Conditions) == 1 && p.Status.Conditions[0].Message == msgNoNodes
	})

	// A node appears: the pod is bound at once, not after the hour of back-off.
	if _, err := nodes.Create(ctx, makeNode("n1", withAllocatable("pods", "1")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod("bound to n1", func(p *corev1.Pod) bool { return p.Spec.NodeName == "n1" })

	// The node is full (one pod allowed): the next pod waits until the first is deleted.
	if _, err := pods.Create(ctx, makePod("q"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true,
		func(ctx context.Context) (bool, error) {
			q, err := pods.Get(ctx, "q", metav1.GetOptions{})
			return err == nil && len(q.Status.Conditions) == 1 &&
				strings.Contains(q.Status.Conditions[0].Message, "1 Too many pods"), nil
		})
	if err != nil {
		t.Fatalf("q never reported Too many pods: %v", err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true,
		func(ctx context.Context) (bool, error) {
			q, err := pods.Get(ctx, "q", metav1.GetOptions{})
			return err == nil && q.Spec.NodeName == "n1", nil
		})
	if err != nil {
		t.Fatalf("q not bound after p was deleted: %v", err)
	}
}

func TestRunReturnsAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := newHarness(t, ctx, []runtime.Object{makeNode("n1"), makePod("p")})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.c.Run(ctx, 3)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !h.c.queue.ShuttingDown() {
		t.Error("queue not shut down after Run returned")
	}
}
