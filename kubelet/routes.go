package kubelet

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// routes sends the traffic for the other nodes' podCIDRs to those nodes, so pods reach each
// other across nodes by pod IP when the nodes share a network segment (a route through the
// node's InternalIP, as a "host-gw" network does).
type routes struct {
	self string

	mu sync.Mutex
	// have is what this kubelet routed, by destination CIDR: the gateway.
	have map[string]string
	// run executes `ip` (tests replace it).
	run func(args ...string) error
}

func newRoutes(self string) *routes {
	return &routes{self: self, have: map[string]string{}, run: runIP}
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run keeps the routes in step with the Nodes until ctx ends.
func (r *routes) start(ctx context.Context, client kubernetes.Interface) {
	factory := informers.NewSharedInformerFactory(client, 0)
	nodes := factory.Core().V1().Nodes().Informer()
	sync := func() { r.sync(ctx, nodes.GetStore().List()) }
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { sync() },
		UpdateFunc: func(old, cur any) { sync() },
		DeleteFunc: func(any) { sync() },
	})
	factory.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		factory.Shutdown()
	}()
}

// sync makes the routes match nodes.
func (r *routes) sync(ctx context.Context, nodes []any) {
	want := map[string]string{}
	for _, obj := range nodes {
		node := obj.(*corev1.Node)
		if node.Name == r.self {
			continue
		}
		ip := internalIP(node)
		if ip == "" {
			continue
		}
		cidrs := node.Spec.PodCIDRs
		if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
			cidrs = []string{node.Spec.PodCIDR}
		}
		for _, cidr := range cidrs {
			if _, _, err := net.ParseCIDR(cidr); err == nil && (net.ParseIP(ip).To4() != nil) == strings.Contains(cidr, ".") {
				want[cidr] = ip
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	logger := klog.FromContext(ctx)
	for cidr, gw := range want {
		if r.have[cidr] == gw {
			continue
		}
		if err := r.run("route", "replace", cidr, "via", gw); err != nil {
			logger.Error(err, "Route to another node's pods", "podCIDR", cidr, "node", gw)
			continue
		}
		logger.Info("Routed another node's pods", "podCIDR", cidr, "via", gw)
		r.have[cidr] = gw
	}
	for cidr, gw := range r.have {
		if _, ok := want[cidr]; ok {
			continue
		}
		if err := r.run("route", "del", cidr, "via", gw); err != nil {
			logger.Error(err, "Remove the route to a node's pods", "podCIDR", cidr)
		}
		delete(r.have, cidr)
	}
}

func internalIP(node *corev1.Node) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
