package nodeipam

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
)

func mustCIDRs(t *testing.T, s string) []*net.IPNet {
	t.Helper()
	out, err := ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCIDRSet(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		mask    int
		occupy  []string
		release []string // released after the first round of allocations
		want    []string // allocations, then more after release; "full" for exhaustion
	}{
		{name: "ipv4 round robin to exhaustion", cluster: "10.244.0.0/22", mask: 24,
			want: []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24", "full"}},
		{name: "freed subnet reused", cluster: "10.244.0.0/23", mask: 24, release: []string{"10.244.0.0/24"},
			want: []string{"10.244.0.0/24", "10.244.1.0/24", "full", "10.244.0.0/24", "full"}},
		{name: "occupied subnets skipped", cluster: "10.244.0.0/22", mask: 24, occupy: []string{"10.244.0.0/23", "10.244.3.0/24"},
			want: []string{"10.244.2.0/24", "full"}},
		{name: "ipv6", cluster: "fd00:10::/56", mask: 64,
			want: []string{"fd00:10::/64", "fd00:10:0:1::/64", "fd00:10:0:2::/64"}},
		{name: "occupy a range larger than the cluster", cluster: "10.96.0.0/24", mask: 26, occupy: []string{"10.96.0.0/12"},
			want: []string{"full"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := newCIDRSet(mustCIDRs(t, tc.cluster)[0], tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.occupy {
				if err := set.occupy(mustCIDRs(t, o)[0]); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			released := false
			for range tc.want {
				cidr, err := set.allocateNext()
				switch {
				case errors.Is(err, ErrNoCIDRsRemaining):
					got = append(got, "full")
					if !released {
						for _, r := range tc.release {
							if err := set.release(mustCIDRs(t, r)[0]); err != nil {
								t.Fatal(err)
							}
						}
						released = true
					}
				case err != nil:
					t.Fatal(err)
				default:
					got = append(got, cidr.String())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("allocations = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := newCIDRSet(mustCIDRs(t, "10.0.0.0/8")[0], 30); err == nil {
		t.Error("2^22 subnets accepted")
	}
	if _, err := newCIDRSet(mustCIDRs(t, "10.244.0.0/16")[0], 8); err == nil {
		t.Error("node mask shorter than the cluster's accepted")
	}
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

func node(name string, podCIDRs ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDRs[0], podCIDRs
	}
	return n
}

func newFixture(t *testing.T, opts Options, objs ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	var err error
	f.c, err = New(f.client, f.factory, f.recorder, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := f.factory.Core().V1().Nodes().Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.c.rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) podCIDRs(name string) (string, []string) {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n.Spec.PodCIDR, n.Spec.PodCIDRs
}

func TestAllocate(t *testing.T) {
	f := newFixture(t, Options{ClusterCIDRs: mustCIDRs(t, "10.244.0.0/22")},
		node("a"), node("b", "10.244.0.0/24"), node("c", "10.244.1.0/24"))
	if err := f.c.sync(f.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if cidr, cidrs := f.podCIDRs("a"); cidr != "10.244.2.0/24" || !slices.Equal(cidrs, []string{"10.244.2.0/24"}) {
		t.Errorf("node a: podCIDR %q podCIDRs %v; want the first subnet the existing nodes do not hold", cidr, cidrs)
	}
	// Nodes that have CIDRs are left alone.
	f.client.ClearActions()
	if err := f.c.sync(f.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if len(f.client.Actions()) != 0 {
		t.Errorf("actions for a node that has its CIDR: %v", f.client.Actions())
	}
	// A stale cache (a without its CIDR yet) does not hand out a second subnet.
	if err := f.c.sync(f.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if cidr, _ := f.podCIDRs("a"); cidr != "10.244.2.0/24" {
		t.Errorf("node a re-synced from a stale cache got %q", cidr)
	}
}

// TestExhaustionAndReuse: when the cluster CIDR is full a node gets no subnet and a
// CIDRNotAvailable event; deleting a node frees its subnet for the next one.
func TestExhaustionAndReuse(t *testing.T) {
	f := newFixture(t, Options{ClusterCIDRs: mustCIDRs(t, "10.244.0.0/23")},
		node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c"))
	err := f.c.sync(f.ctx, "c")
	if !errors.Is(err, ErrNoCIDRsRemaining) {
		t.Fatalf("sync of a node in a full range: %v, want ErrNoCIDRsRemaining", err)
	}
	select {
	case e := <-f.recorder.Events:
		if !strings.Contains(e, "Normal CIDRNotAvailable Node c status is now: CIDRNotAvailable") {
			t.Errorf("event = %q", e)
		}
	default:
		t.Error("no CIDRNotAvailable event")
	}
	if cidr, _ := f.podCIDRs("c"); cidr != "" {
		t.Errorf("node c got %q from a full range", cidr)
	}

	f.c.nodeDeleted(node("a", "10.244.0.0/24"))
	if err := f.c.sync(f.ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if cidr, _ := f.podCIDRs("c"); cidr != "10.244.0.0/24" {
		t.Errorf("node c got %q, want the deleted node's 10.244.0.0/24", cidr)
	}
}

func TestDualStackAndServiceRange(t *testing.T) {
	f := newFixture(t, Options{
		ClusterCIDRs: mustCIDRs(t, "10.96.0.0/15,fd00:10::/56"),
		ServiceCIDRs: mustCIDRs(t, "10.96.0.0/16"),
	}, node("a"))
	if err := f.c.sync(f.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	cidr, cidrs := f.podCIDRs("a")
	if cidr != "10.97.0.0/24" || !slices.Equal(cidrs, []string{"10.97.0.0/24", "fd00:10::/64"}) {
		t.Errorf("podCIDR %q podCIDRs %v; want one subnet per family, outside the service range", cidr, cidrs)
	}
	if _, err := New(f.client, f.factory, f.recorder, Options{ClusterCIDRs: mustCIDRs(t, "10.0.0.0/16,10.1.0.0/16")}); err == nil {
		t.Error("two IPv4 cluster CIDRs accepted")
	}
	if _, err := New(f.client, f.factory, f.recorder, Options{}); err == nil {
		t.Error("no cluster CIDR accepted")
	}
}

// TestRun: with informers running, a new node gets its subnet; Run returns on cancel.
func TestRun(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset(node("old", "10.244.0.0/24"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, record.NewFakeRecorder(100), Options{ClusterCIDRs: mustCIDRs(t, "10.244.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()

	if _, err := client.CoreV1().Nodes().Create(ctx, node("new"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "new", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = n.Spec.PodCIDR
		return got != "", nil
	}); err != nil {
		t.Fatalf("new node got no podCIDR: %v", err)
	}
	if got != "10.244.1.0/24" {
		t.Errorf("new node got %q, want 10.244.1.0/24 (10.244.0.0/24 is the existing node's)", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	factory.Shutdown()
}
