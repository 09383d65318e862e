package kubelet

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name, ip, cidr string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: cidr},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}

func TestRoutesFollowNodes(t *testing.T) {
	r := newRoutes("n1")
	var calls []string
	r.run = func(args ...string) error {
		calls = append(calls, strings.Join(args, " "))
		return nil
	}
	ctx := context.Background()
	r.sync(ctx, []any{
		testNode("n1", "192.0.2.10", "10.88.0.0/24"),
		testNode("n2", "192.0.2.12", "10.88.1.0/24"),
		testNode("n3", "192.0.2.13", ""),
	})
	if !slices.Equal(calls, []string{"route replace 10.88.1.0/24 via 192.0.2.12"}) {
		t.Fatalf("first sync: %v", calls)
	}
	calls = nil
	// Nothing changed: nothing done. n3 gets its CIDR: routed.
	r.sync(ctx, []any{testNode("n2", "192.0.2.12", "10.88.1.0/24"), testNode("n3", "192.0.2.13", "10.88.2.0/24")})
	if !slices.Equal(calls, []string{"route replace 10.88.2.0/24 via 192.0.2.13"}) {
		t.Fatalf("second sync: %v", calls)
	}
	calls = nil
	// n2 goes: its route goes.
	r.sync(ctx, []any{testNode("n3", "192.0.2.13", "10.88.2.0/24")})
	if !slices.Equal(calls, []string{"route del 10.88.1.0/24 via 192.0.2.12"}) {
		t.Fatalf("third sync: %v", calls)
	}
}
