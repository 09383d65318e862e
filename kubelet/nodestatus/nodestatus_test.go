package nodestatus

import (
	"context"
	"errors"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

const nodeName = "node-1"

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
	}
}

// runtimeStub is a RuntimeVersion whose error the test switches.
type runtimeStub struct {
	mu  sync.Mutex
	err error
}

func (r *runtimeStub) version(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return "", r.err
	}
	return "containerd://1.6.20~ds1", nil
}

func (r *runtimeStub) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// harness runs a Controller on a fake clientset and a fake clock.
type harness struct {
	t       *testing.T
	client  *fake.Clientset
	clock   *testingclock.FakeClock
	ctrl    *Controller
	rt      *runtimeStub
	cancel  context.CancelFunc
	done    chan error
	statusC chan struct{}
	leaseC  chan struct{}
}

// newHarness makes the harness; objs are already in the API. setup may change the Config and
// the client's reactors before Run.
func newHarness(t *testing.T, setup func(*Config, *harness), objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		client:  fake.NewClientset(objs...),
		clock:   testingclock.NewFakeClock(start),
		rt:      &runtimeStub{},
		done:    make(chan error, 1),
		statusC: make(chan struct{}, 100),
		leaseC:  make(chan struct{}, 100),
	}
	// The fake API assigns no UIDs: do it as the API server does.
	var n atomic.Int32
	h.client.PrependReactor("create", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		node := a.(k8stesting.CreateAction).GetObject().(*corev1.Node)
		if node.UID == "" {
			node.UID = types.UID("uid-" + string(rune('a'+n.Add(1)-1)))
		}
		return false, nil, nil
	})
	cfg := Config{
		NodeName:       nodeName,
		Client:         h.client,
		RuntimeVersion: h.rt.version,
		KubeletVersion: "v1.37.2+kubeshim.0.1.0",
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "192.0.2.10"},
			{Type: corev1.NodeHostName, Address: nodeName},
		},
		Capacity: testCapacity(),
		Clock:    h.clock,
	}
	if setup != nil {
		setup(&cfg, h)
	}
	h.ctrl = New(cfg)
	h.ctrl.afterStatusSync = func() { h.statusC <- struct{}{} }
	h.ctrl.afterLeaseRenew = func() { h.leaseC <- struct{}{} }
	return h
}

// start runs the controller and waits until it is registered, has renewed the lease once and
// both loops wait on their tickers.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.ctrl.Run(ctx) }()
	h.t.Cleanup(h.stop)
	select {
	case <-h.ctrl.Registered():
	case <-time.After(5 * time.Second):
		h.t.Fatal("node not registered")
	}
	h.waitLease()
	h.waitFor("both tickers", func() bool { return h.clock.Waiters() == 2 })
}

// stop cancels Run and checks it returns nil and leaves no goroutine of the package behind.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after ctx ended")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:goruntime.Stack(buf, true)])
	if strings.Contains(stacks, "nodestatus.(*Controller)") {
		h.t.Errorf("goroutines left behind:\n%s", stacks)
	}
}

func (h *harness) waitStatus() {
	h.t.Helper()
	select {
	case <-h.statusC:
	case <-time.After(5 * time.Second):
		h.t.Fatal("no status check")
	}
}

func (h *harness) waitLease() {
	h.t.Helper()
	select {
	case <-h.leaseC:
	case <-time.After(5 * time.Second):
		h.t.Fatal("no lease renewal")
	}
}

// tick steps the clock by d (a multiple of 10s fires both tickers) and waits for both loops.
func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	h.clock.Step(d)
	h.waitStatus()
	h.waitLease()
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) node() *corev1.Node {
	h.t.Helper()
	n, err := h.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get node: %v", err)
	}
	return n
}

func (h *harness) lease() *coordinationv1.Lease {
	h.t.Helper()
	l, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), nodeName, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get lease: %v", err)
	}
	return l
}

// statusWrites counts the node status updates made so far.
func (h *harness) statusWrites() int {
	n := 0
	for _, a := range h.client.Actions() {
		if a.Matches("update", "nodes") && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func condition(t *testing.T, node *corev1.Node, typ corev1.NodeConditionType) corev1.NodeCondition {
	t.Helper()
	for _, c := range node.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("node has no %s condition: %+v", typ, node.Status.Conditions)
	return corev1.NodeCondition{}
}

func checkResources(t *testing.T, what string, got, want corev1.ResourceList) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for name, q := range want {
		if g, ok := got[name]; !ok || g.Cmp(q) != 0 {
			t.Errorf("%s[%s] = %v, want %v", what, name, got[name], q.String())
		}
	}
}

func TestRegistration(t *testing.T) {
	withHugePages := testCapacity()
	withHugePages[corev1.ResourceName("hugepages-2Mi")] = resource.MustParse("1Gi")
	wantHugeAlloc := withHugePages.DeepCopy()
	wantHugeAlloc[corev1.ResourceMemory] = resource.MustParse("7Gi")
	noStorage := testCapacity()
	delete(noStorage, corev1.ResourceEphemeralStorage)

	tests := []struct {
		name       string
		setup      func(*Config, *runtimeStub)
		wantStatus corev1.ConditionStatus
		wantReason string
		wantMsg    string
		wantAlloc  corev1.ResourceList
		wantRTVer  string
	}{{
		name:       "ready",
		wantStatus: corev1.ConditionTrue, wantReason: "KubeletReady", wantMsg: "kubelet is posting ready status",
		wantRTVer: "containerd://1.6.20~ds1",
	}, {
		name: "runtime down",
		setup: func(_ *Config, rt *runtimeStub) {
			rt.set(errors.New("dial unix containerd.sock: connect: no such file"))
		},
		wantStatus: corev1.ConditionFalse, wantReason: "KubeletNotReady",
		wantMsg: "container runtime is down: dial unix containerd.sock: connect: no such file",
	}, {
		name: "ready func fails",
		setup: func(c *Config, _ *runtimeStub) {
			c.ReadyFunc = func() error { return errors.New("network plugin not ready: no CNI configuration") }
		},
		wantStatus: corev1.ConditionFalse, wantReason: "KubeletNotReady",
		wantMsg: "network plugin not ready: no CNI configuration", wantRTVer: "containerd://1.6.20~ds1",
	}, {
		name: "runtime down and ready func fails",
		setup: func(c *Config, rt *runtimeStub) {
			rt.set(errors.New("timeout"))
			c.ReadyFunc = func() error { return errors.New("cni not ready") }
		},
		wantStatus: corev1.ConditionFalse, wantReason: "KubeletNotReady",
		wantMsg: "[container runtime is down: timeout, cni not ready]",
	}, {
		name:       "missing capacity",
		setup:      func(c *Config, _ *runtimeStub) { c.Capacity = noStorage },
		wantStatus: corev1.ConditionFalse, wantReason: "KubeletNotReady",
		wantMsg: "missing node capacity for resources: ephemeral-storage", wantAlloc: noStorage,
		wantRTVer: "containerd://1.6.20~ds1",
	}, {
		name:       "huge pages leave allocatable memory",
		setup:      func(c *Config, _ *runtimeStub) { c.Capacity = withHugePages },
		wantStatus: corev1.ConditionTrue, wantReason: "KubeletReady", wantMsg: "kubelet is posting ready status",
		wantAlloc: wantHugeAlloc, wantRTVer: "containerd://1.6.20~ds1",
	}, {
		name: "labels, pod CIDR and port",
		setup: func(c *Config, _ *runtimeStub) {
			c.Labels = map[string]string{"zone": "a", corev1.LabelHostname: "custom-host"}
			c.PodCIDR = "10.88.0.0/16"
			c.KubeletPort = 10251
		},
		wantStatus: corev1.ConditionTrue, wantReason: "KubeletReady", wantMsg: "kubelet is posting ready status",
		wantRTVer: "containerd://1.6.20~ds1",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			h := newHarness(t, func(c *Config, h *harness) {
				if tt.setup != nil {
					tt.setup(c, h.rt)
				}
				cfg = *c
			})
			h.start()
			node := h.node()

			wantLabels := map[string]string{
				"kubernetes.io/hostname": nodeName, "kubernetes.io/os": goruntime.GOOS, "kubernetes.io/arch": goruntime.GOARCH,
				"beta.kubernetes.io/os": goruntime.GOOS, "beta.kubernetes.io/arch": goruntime.GOARCH,
			}
			for k, v := range cfg.Labels {
				wantLabels[k] = v
			}
			if len(node.Labels) != len(wantLabels) {
				t.Errorf("labels = %v, want %v", node.Labels, wantLabels)
			}
			for k, v := range wantLabels {
				if node.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
				}
			}
			if cfg.PodCIDR != "" && (node.Spec.PodCIDR != cfg.PodCIDR || len(node.Spec.PodCIDRs) != 1 || node.Spec.PodCIDRs[0] != cfg.PodCIDR) {
				t.Errorf("podCIDR = %q %v, want %q", node.Spec.PodCIDR, node.Spec.PodCIDRs, cfg.PodCIDR)
			}
			if node.Spec.Unschedulable || len(node.Spec.Taints) != 0 {
				t.Errorf("spec = %+v, want schedulable, no taints", node.Spec)
			}

			wantAlloc := tt.wantAlloc
			if wantAlloc == nil {
				wantAlloc = cfg.Capacity
			}
			checkResources(t, "capacity", node.Status.Capacity, cfg.Capacity)
			checkResources(t, "allocatable", node.Status.Allocatable, wantAlloc)
			checkResources(t, "Allocatable()", h.ctrl.Allocatable(), wantAlloc)

			if len(node.Status.Addresses) != 2 || node.Status.Addresses[0] != cfg.Addresses[0] || node.Status.Addresses[1] != cfg.Addresses[1] {
				t.Errorf("addresses = %v", node.Status.Addresses)
			}
			wantPort := cfg.KubeletPort
			if wantPort == 0 {
				wantPort = 10250
			}
			if got := node.Status.DaemonEndpoints.KubeletEndpoint.Port; got != wantPort {
				t.Errorf("kubelet port = %d, want %d", got, wantPort)
			}

			info := node.Status.NodeInfo
			if info.KubeletVersion != "v1.37.2+kubeshim.0.1.0" || info.ContainerRuntimeVersion != tt.wantRTVer ||
				info.OperatingSystem != goruntime.GOOS || info.Architecture != goruntime.GOARCH || info.KubeProxyVersion != "" {
				t.Errorf("nodeInfo = %+v", info)
			}
			if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && info.BootID != strings.TrimSpace(string(b)) {
				t.Errorf("bootID = %q, want %q", info.BootID, strings.TrimSpace(string(b)))
			}
			if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil && info.KernelVersion != strings.TrimSpace(string(b)) {
				t.Errorf("kernelVersion = %q, want %q", info.KernelVersion, strings.TrimSpace(string(b)))
			}
			if b, err := os.ReadFile("/etc/machine-id"); err == nil && info.MachineID != strings.TrimSpace(string(b)) {
				t.Errorf("machineID = %q, want %q", info.MachineID, strings.TrimSpace(string(b)))
			}
			if info.OSImage == "" {
				t.Error("osImage is empty")
			}

			wantConds := []struct {
				typ     corev1.NodeConditionType
				status  corev1.ConditionStatus
				reason  string
				message string
			}{
				{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
				{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
				{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
				{corev1.NodeReady, tt.wantStatus, tt.wantReason, tt.wantMsg},
			}
			if len(node.Status.Conditions) != len(wantConds) {
				t.Fatalf("conditions = %+v", node.Status.Conditions)
			}
			for i, w := range wantConds {
				c := node.Status.Conditions[i]
				if c.Type != w.typ || c.Status != w.status || c.Reason != w.reason || c.Message != w.message {
					t.Errorf("condition %d = %s %s %q %q, want %s %s %q %q", i, c.Type, c.Status, c.Reason, c.Message, w.typ, w.status, w.reason, w.message)
				}
				if !c.LastHeartbeatTime.Time.Equal(start) || !c.LastTransitionTime.Time.Equal(start) {
					t.Errorf("condition %s times = %v %v, want %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime, start)
				}
			}
		})
	}
}

func TestReRegistrationKeepsUserSpec(t *testing.T) {
	old := metav1.NewTime(start.Add(-time.Hour))
	userTaint := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name        string
		podCIDR     string // on the existing node
		wantPodCIDR string
	}{
		{name: "empty podCIDR is filled", podCIDR: "", wantPodCIDR: "10.88.0.0/16"},
		{name: "set podCIDR is kept", podCIDR: "10.99.0.0/24", wantPodCIDR: "10.99.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{
					Name: nodeName, UID: "uid-existing",
					Labels:      map[string]string{"user": "label", "kubernetes.io/os": "windows"},
					Annotations: map[string]string{"user": "annotation"},
				},
				Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{userTaint}, PodCIDR: tt.podCIDR},
				Status: corev1.NodeStatus{
					Capacity: corev1.ResourceList{"example.com/dongle": resource.MustParse("4"), corev1.ResourceCPU: resource.MustParse("64")},
					Conditions: []corev1.NodeCondition{
						{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", LastHeartbeatTime: old, LastTransitionTime: old},
						{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: old, LastTransitionTime: old},
						{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated", LastHeartbeatTime: old, LastTransitionTime: old},
					},
					NodeInfo: corev1.NodeSystemInfo{ContainerRuntimeVersion: "containerd://1.6.0", KubeletVersion: "v1.30.0"},
				},
			}
			if tt.podCIDR != "" {
				existing.Spec.PodCIDRs = []string{tt.podCIDR}
			}
			h := newHarness(t, func(c *Config, _ *harness) { c.PodCIDR = "10.88.0.0/16" }, existing)
			h.start()
			node := h.node()
			if node.UID != "uid-existing" {
				t.Errorf("UID = %q: the node was replaced", node.UID)
			}
			if !node.Spec.Unschedulable || len(node.Spec.Taints) != 1 || node.Spec.Taints[0] != userTaint {
				t.Errorf("spec = %+v, want the user's unschedulable and taint kept", node.Spec)
			}
			if node.Spec.PodCIDR != tt.wantPodCIDR {
				t.Errorf("podCIDR = %q, want %q", node.Spec.PodCIDR, tt.wantPodCIDR)
			}
			if node.Labels["user"] != "label" || node.Labels["kubernetes.io/os"] != goruntime.GOOS || node.Labels["kubernetes.io/hostname"] != nodeName {
				t.Errorf("labels = %v", node.Labels)
			}
			if node.Annotations["user"] != "annotation" {
				t.Errorf("annotations = %v", node.Annotations)
			}
			if q := node.Status.Capacity["example.com/dongle"]; q.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("extended resource capacity lost: %v", node.Status.Capacity)
			}
			if q := node.Status.Allocatable["example.com/dongle"]; q.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("extended resource not allocatable: %v", node.Status.Allocatable)
			}
			if q := node.Status.Capacity[corev1.ResourceCPU]; q.Cmp(resource.MustParse("2")) != 0 {
				t.Errorf("cpu capacity = %v, want 2", q.String())
			}
			if node.Status.NodeInfo.KubeletVersion != "v1.37.2+kubeshim.0.1.0" || node.Status.NodeInfo.ContainerRuntimeVersion != "containerd://1.6.20~ds1" {
				t.Errorf("nodeInfo = %+v", node.Status.NodeInfo)
			}
			ready := condition(t, node, corev1.NodeReady)
			if ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || !ready.LastTransitionTime.Time.Equal(start) || !ready.LastHeartbeatTime.Time.Equal(start) {
				t.Errorf("Ready = %+v, want True, transition and heartbeat now", ready)
			}
			mem := condition(t, node, corev1.NodeMemoryPressure)
			if !mem.LastTransitionTime.Time.Equal(old.Time) || !mem.LastHeartbeatTime.Time.Equal(start) {
				t.Errorf("MemoryPressure = %+v, want old transition, heartbeat now", mem)
			}
			if nu := condition(t, node, corev1.NodeNetworkUnavailable); nu.Reason != "RouteCreated" || !nu.LastHeartbeatTime.Time.Equal(old.Time) {
				t.Errorf("another agent's condition changed: %+v", nu)
			}
			if len(h.lease().OwnerReferences) != 1 || h.lease().OwnerReferences[0].UID != "uid-existing" {
				t.Errorf("lease owner = %+v", h.lease().OwnerReferences)
			}
		})
	}
}

func TestLease(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	l := h.lease()
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != nodeName {
		t.Errorf("holderIdentity = %v", l.Spec.HolderIdentity)
	}
	if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds != 40 {
		t.Errorf("leaseDurationSeconds = %v, want 40", l.Spec.LeaseDurationSeconds)
	}
	if l.Spec.RenewTime == nil || !l.Spec.RenewTime.Time.Equal(start) {
		t.Errorf("renewTime = %v, want %v", l.Spec.RenewTime, start)
	}
	node := h.node()
	want := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: node.UID}
	if node.UID == "" || len(l.OwnerReferences) != 1 || l.OwnerReferences[0] != want {
		t.Errorf("ownerReferences = %+v, want [%+v]", l.OwnerReferences, want)
	}

	// Renewed on each tick.
	for i := 1; i <= 3; i++ {
		h.tick(10 * time.Second)
		if got := h.lease().Spec.RenewTime.Time; !got.Equal(start.Add(time.Duration(i) * 10 * time.Second)) {
			t.Fatalf("after %d ticks renewTime = %v", i, got)
		}
	}

	// Deleted by someone: created again at the next tick.
	if err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(context.Background(), nodeName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.tick(10 * time.Second)
	if l := h.lease(); !l.Spec.RenewTime.Time.Equal(start.Add(40*time.Second)) || len(l.OwnerReferences) != 1 {
		t.Errorf("recreated lease = %+v", l)
	}

	// A conflict on the optimistic update falls back to read and update.
	var conflicts atomic.Int32
	h.client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, nodeName, errors.New("stale"))
		}
		return false, nil, nil
	})
	h.tick(10 * time.Second)
	if got := h.lease().Spec.RenewTime.Time; !got.Equal(start.Add(50*time.Second)) || conflicts.Load() < 2 {
		t.Errorf("after a conflict renewTime = %v (%d updates)", got, conflicts.Load())
	}
}

func TestStatusHeartbeat(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	if got := h.statusWrites(); got != 0 {
		t.Fatalf("%d status writes after creation, want 0", got)
	}

	// Unchanged status: written only once StatusReportFrequency (1m) has passed.
	for i := 1; i <= 5; i++ {
		h.tick(10 * time.Second)
		if got := h.statusWrites(); got != 0 {
			t.Fatalf("after %ds: %d status writes, want 0", i*10, got)
		}
	}
	h.tick(10 * time.Second)
	if got := h.statusWrites(); got != 1 {
		t.Fatalf("after 1m: %d status writes, want 1", got)
	}
	at1m := start.Add(time.Minute)
	ready := condition(t, h.node(), corev1.NodeReady)
	if !ready.LastHeartbeatTime.Time.Equal(at1m) || !ready.LastTransitionTime.Time.Equal(start) {
		t.Errorf("Ready after 1m = %+v: want heartbeat %v, transition %v", ready, at1m, start)
	}

	// The runtime fails: written at the next check, Ready False since now.
	h.rt.set(errors.New("connection refused"))
	h.tick(10 * time.Second)
	at70 := start.Add(70 * time.Second)
	node := h.node()
	ready = condition(t, node, corev1.NodeReady)
	if h.statusWrites() != 2 || ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" ||
		ready.Message != "container runtime is down: connection refused" ||
		!ready.LastTransitionTime.Time.Equal(at70) || !ready.LastHeartbeatTime.Time.Equal(at70) {
		t.Errorf("after the runtime failed: %d writes, Ready = %+v", h.statusWrites(), ready)
	}
	if node.Status.NodeInfo.ContainerRuntimeVersion != "containerd://1.6.20~ds1" {
		t.Errorf("runtime version forgotten while down: %q", node.Status.NodeInfo.ContainerRuntimeVersion)
	}
	if mem := condition(t, node, corev1.NodeMemoryPressure); !mem.LastTransitionTime.Time.Equal(start) || !mem.LastHeartbeatTime.Time.Equal(at70) {
		t.Errorf("MemoryPressure = %+v: want transition at start, heartbeat now", mem)
	}

	// Still down: nothing new to say until the report is due.
	h.tick(10 * time.Second)
	if got := h.statusWrites(); got != 2 {
		t.Errorf("unchanged NotReady status written again: %d writes", got)
	}

	// The runtime is back.
	h.rt.set(nil)
	h.tick(10 * time.Second)
	at90 := start.Add(90 * time.Second)
	ready = condition(t, h.node(), corev1.NodeReady)
	if h.statusWrites() != 3 || ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || !ready.LastTransitionTime.Time.Equal(at90) {
		t.Errorf("after the runtime came back: %d writes, Ready = %+v", h.statusWrites(), ready)
	}
}

func TestStatusChangesWrittenAtOnce(t *testing.T) {
	var notReady atomic.Bool
	h := newHarness(t, func(c *Config, _ *harness) {
		c.ReadyFunc = func() error {
			if notReady.Load() {
				return errors.New("cni config uninitialized")
			}
			return nil
		}
	})
	h.start()
	notReady.Store(true)
	h.ctrl.Sync() // no clock step: Sync alone checks the status
	h.waitStatus()
	ready := condition(t, h.node(), corev1.NodeReady)
	if h.statusWrites() != 1 || ready.Status != corev1.ConditionFalse || ready.Message != "cni config uninitialized" {
		t.Errorf("after Sync: %d writes, Ready = %+v", h.statusWrites(), ready)
	}
}

func TestStatusRetriesOnConflict(t *testing.T) {
	var attempts atomic.Int32
	h := newHarness(t, func(_ *Config, h *harness) {
		h.client.PrependReactor("update", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() == "status" && attempts.Add(1) <= 2 {
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, nodeName, errors.New("stale"))
			}
			return false, nil, nil
		})
	})
	h.start()
	h.rt.set(errors.New("down"))
	h.tick(10 * time.Second)
	if ready := condition(t, h.node(), corev1.NodeReady); ready.Status != corev1.ConditionFalse || attempts.Load() != 3 {
		t.Errorf("after 2 conflicts: %d attempts, Ready = %+v", attempts.Load(), ready)
	}
}

func TestNodeDeletedIsRegisteredAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	first := h.node().UID
	if err := h.client.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.tick(10 * time.Second)
	second := h.node().UID
	if second == "" || second == first {
		t.Fatalf("node UID %q after re-registration, first %q", second, first)
	}
	// The lease follows the new node at the next renewal.
	h.tick(10 * time.Second)
	if refs := h.lease().OwnerReferences; len(refs) != 1 || refs[0].UID != second {
		t.Errorf("lease owner = %+v, want the new node %q", refs, second)
	}
}

func TestRegistrationRetries(t *testing.T) {
	var fails atomic.Int32
	h := newHarness(t, func(_ *Config, h *harness) {
		h.client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			if fails.Add(1) <= 2 {
				return true, nil, apierrors.NewServiceUnavailable("apiserver starting")
			}
			return false, nil, nil
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.ctrl.Run(ctx) }()
	t.Cleanup(h.stop)
	for _, backoff := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		h.waitFor("the back-off timer", h.clock.HasWaiters)
		select {
		case <-h.ctrl.Registered():
			t.Fatal("registered while the API fails")
		default:
		}
		h.clock.Step(backoff)
	}
	select {
	case <-h.ctrl.Registered():
	case <-time.After(5 * time.Second):
		t.Fatal("not registered after the API recovered")
	}
	if fails.Load() != 3 {
		t.Errorf("%d create attempts, want 3", fails.Load())
	}
}

func TestRunStopsWithContext(t *testing.T) {
	t.Run("registered", func(t *testing.T) {
		h := newHarness(t, nil)
		h.start()
		h.stop() // checks Run returns nil and no goroutine is left
	})
	t.Run("while registration fails", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, h *harness) {
			h.client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewServiceUnavailable("down")
			})
		})
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel = cancel
		go func() { h.done <- h.ctrl.Run(ctx) }()
		h.waitFor("the back-off timer", h.clock.HasWaiters)
		h.stop()
	})
	t.Run("bad config", func(t *testing.T) {
		if err := New(Config{Client: fake.NewClientset()}).Run(context.Background()); err == nil {
			t.Error("Run without a node name succeeded")
		}
		if err := New(Config{NodeName: "n"}).Run(context.Background()); err == nil {
			t.Error("Run without a client succeeded")
		}
	})
}
