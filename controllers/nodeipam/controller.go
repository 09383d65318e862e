// Package nodeipam gives every Node a pod subnet of the cluster CIDR, as upstream's node IPAM
// controller does with its range allocator (--allocate-node-cidrs --cluster-cidr): a Node
// without spec.podCIDRs gets the next free node-sized subnet of each cluster CIDR (one per IP
// family), written to spec.podCIDR and spec.podCIDRs; a deleted Node's subnets are freed; the
// allocation is rebuilt from the existing Nodes when the controller starts.
package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/kubeshim/kubeshim/controllers/worker"
)

// ComponentName is the event source of the controller, as upstream.
const ComponentName = "cidrAllocator"

// Default node subnet sizes, as kube-controller-manager's --node-cidr-mask-size-ipv4/-ipv6.
const (
	DefaultNodeCIDRMaskSizeIPv4 = 24
	DefaultNodeCIDRMaskSizeIPv6 = 64
)

// Options configures the allocator.
type Options struct {
	// ClusterCIDRs are the pod address ranges (--cluster-cidr), at most one per IP family;
	// the first is the one spec.podCIDR gets.
	ClusterCIDRs []*net.IPNet
	// NodeCIDRMaskSizeIPv4 and NodeCIDRMaskSizeIPv6 are the prefix lengths of a node's
	// subnet; 0 takes the default (/24, /64).
	NodeCIDRMaskSizeIPv4 int
	NodeCIDRMaskSizeIPv6 int
	// ServiceCIDRs (--service-cluster-ip-range): subnets overlapping them are never given out.
	ServiceCIDRs []*net.IPNet
}

// ParseCIDRs parses a comma-separated list of CIDRs, as --cluster-cidr takes.
func ParseCIDRs(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		_, cidr, err := netutils.ParseCIDRSloppy(part)
		if err != nil {
			return nil, fmt.Errorf("parsing CIDR %q: %w", part, err)
		}
		out = append(out, cidr)
	}
	return out, nil
}

// Controller allocates node pod subnets.
type Controller struct {
	client     kubernetes.Interface
	recorder   record.EventRecorder
	nodeLister corelisters.NodeLister
	synced     cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]

	mu   sync.Mutex
	sets []*cidrSet // one per cluster CIDR, in Options order
	// allocated is what each node holds (or is being given).
	allocated map[string][]*net.IPNet
}

// New builds the allocator on factory's Node informer. It does not start factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts Options) (*Controller, error) {
	if len(opts.ClusterCIDRs) == 0 {
		return nil, errors.New("no cluster CIDR")
	}
	if opts.NodeCIDRMaskSizeIPv4 == 0 {
		opts.NodeCIDRMaskSizeIPv4 = DefaultNodeCIDRMaskSizeIPv4
	}
	if opts.NodeCIDRMaskSizeIPv6 == 0 {
		opts.NodeCIDRMaskSizeIPv6 = DefaultNodeCIDRMaskSizeIPv6
	}
	c := &Controller{
		client:   client,
		recorder: recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
		allocated: map[string][]*net.IPNet{},
	}
	seen := map[bool]bool{}
	for _, cidr := range opts.ClusterCIDRs {
		v6 := netutils.IsIPv6CIDR(cidr)
		if seen[v6] {
			return nil, fmt.Errorf("cluster CIDRs %v: at most one per IP family", opts.ClusterCIDRs)
		}
		seen[v6] = true
		mask := opts.NodeCIDRMaskSizeIPv4
		if v6 {
			mask = opts.NodeCIDRMaskSizeIPv6
		}
		set, err := newCIDRSet(cidr, mask)
		if err != nil {
			return nil, err
		}
		for _, svc := range opts.ServiceCIDRs {
			if netutils.IsIPv6CIDR(svc) == v6 && (cidr.Contains(svc.IP) || svc.Contains(cidr.IP)) {
				if err := set.occupy(svc); err != nil {
					return nil, fmt.Errorf("reserving service CIDR %s: %w", svc, err)
				}
			}
		}
		c.sets = append(c.sets, set)
	}

	nodes := factory.Core().V1().Nodes()
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.nodeDeleted,
	}); err != nil {
		return nil, fmt.Errorf("registering node event handler: %w", err)
	}
	c.nodeLister = nodes.Lister()
	c.synced = nodes.Informer().HasSynced
	return c, nil
}

// Run waits for the Node cache, takes the subnets existing Nodes hold, then runs workers until
// ctx ends. It returns once every goroutine it started has stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("controller", "node-ipam-controller")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting controller")
	defer logger.Info("Shut down controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced) {
		c.queue.ShutDown()
		return
	}
	if err := c.rebuild(ctx); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Rebuilding the CIDR allocation")
	}
	worker.Run(ctx, workers, c.queue, c.processNext, c.synced)
}

// rebuild marks the subnets of every existing Node as taken.
func (c *Controller) rebuild(ctx context.Context) error {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if len(n.Spec.PodCIDRs) > 0 {
			c.occupyLocked(ctx, n)
		}
	}
	return nil
}

func (c *Controller) enqueue(obj any) {
	if n, ok := obj.(*v1.Node); ok {
		c.queue.Add(n.Name)
	}
}

func (c *Controller) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	n, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cidrs, ok := c.allocated[n.Name]
	if !ok {
		cidrs = parseAll(n.Spec.PodCIDRs)
	}
	c.releaseLocked(cidrs)
	delete(c.allocated, n.Name)
	klog.V(2).InfoS("Released the pod CIDRs of a deleted node", "node", klog.KObj(n), "podCIDRs", cidrs)
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	if err := c.sync(ctx, name); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "CIDR allocation failed", "node", name)
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

// sync gives a node without pod CIDRs one subnet per cluster CIDR, or records the ones it has.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if len(node.Spec.PodCIDRs) > 0 {
		c.occupyLocked(ctx, node)
		c.mu.Unlock()
		return nil
	}
	cidrs, pending := c.allocated[name]
	if !pending {
		for _, set := range c.sets {
			cidr, err := set.allocateNext()
			if err != nil {
				c.releaseLocked(cidrs)
				c.mu.Unlock()
				c.recordStatusChange(node, "CIDRNotAvailable")
				return fmt.Errorf("allocating a pod CIDR of %s for node %s: %w", set.cluster, name, err)
			}
			cidrs = append(cidrs, cidr)
		}
		c.allocated[name] = cidrs
	}
	c.mu.Unlock()

	if err := c.patchPodCIDRs(ctx, node, cidrs); err != nil {
		if apierrors.IsNotFound(err) {
			c.mu.Lock()
			c.releaseLocked(cidrs)
			delete(c.allocated, name)
			c.mu.Unlock()
			return nil
		}
		// Keep the subnets for this node: the retry writes the same ones.
		c.recordStatusChange(node, "CIDRAssignmentFailed")
		return fmt.Errorf("setting pod CIDRs %v on node %s: %w", cidrs, name, err)
	}
	klog.FromContext(ctx).Info("Set node pod CIDRs", "node", klog.KObj(node), "podCIDRs", cidrs)
	return nil
}

// occupyLocked records the subnets a node already has.
func (c *Controller) occupyLocked(ctx context.Context, node *v1.Node) {
	cidrs := parseAll(node.Spec.PodCIDRs)
	if prev, ok := c.allocated[node.Name]; ok && !sameCIDRs(prev, cidrs) {
		// Given other subnets than the ones set aside for it: free those.
		c.releaseLocked(prev)
	}
	for _, cidr := range cidrs {
		set := c.setFor(cidr)
		if set == nil {
			klog.FromContext(ctx).Info("Node has a pod CIDR outside the cluster CIDRs", "node", klog.KObj(node), "podCIDR", cidr)
			continue
		}
		if err := set.occupy(cidr); err != nil {
			klog.FromContext(ctx).Error(err, "Node has a pod CIDR outside the cluster CIDRs", "node", klog.KObj(node))
		}
	}
	c.allocated[node.Name] = cidrs
}

func (c *Controller) releaseLocked(cidrs []*net.IPNet) {
	for _, cidr := range cidrs {
		if set := c.setFor(cidr); set != nil {
			_ = set.release(cidr) // outside every set: nothing to free
		}
	}
}

// setFor is the set of the cluster CIDR that holds cidr.
func (c *Controller) setFor(cidr *net.IPNet) *cidrSet {
	for _, s := range c.sets {
		if s.cluster.Contains(cidr.IP) && netutils.IsIPv6CIDR(s.cluster) == netutils.IsIPv6CIDR(cidr) {
			return s
		}
	}
	return nil
}

// patchPodCIDRs writes spec.podCIDR and spec.podCIDRs with a strategic merge patch, as
// upstream, guarded by the node's UID.
func (c *Controller) patchPodCIDRs(ctx context.Context, node *v1.Node, cidrs []*net.IPNet) error {
	strs := make([]string, len(cidrs))
	for i, cidr := range cidrs {
		strs[i] = cidr.String()
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": node.UID},
		"spec":     map[string]any{"podCIDR": strs[0], "podCIDRs": strs},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c *Controller) recordStatusChange(node *v1.Node, status string) {
	ref := &v1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Eventf(ref, v1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}

func parseAll(strs []string) []*net.IPNet {
	var out []*net.IPNet
	for _, s := range strs {
		if _, cidr, err := netutils.ParseCIDRSloppy(s); err == nil {
			out = append(out, cidr)
		}
	}
	return out
}

func sameCIDRs(a, b []*net.IPNet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}
