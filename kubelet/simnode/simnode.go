// Package simnode is a simulated node: it registers a Ready Node and treats the pods bound to
// it as a kubelet would, without containers: they become Running and Ready at once (with pod
// and host IPs), and a pod being deleted is removed as soon as it is marked. Tests and
// benchmarks of the control plane use it where no real kubelet runs.
package simnode

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Node is one simulated node.
type Node struct {
	Name   string
	HostIP string
	// PodCIDRBase is the first three octets pod IPs are allocated in ("10.88.0").
	PodCIDRBase string
	// Capacity, if nil, is 4 CPUs, 8 GiB, 110 pods.
	Capacity corev1.ResourceList
	// Labels are added to the Node.
	Labels map[string]string

	client kubernetes.Interface
	mu     sync.Mutex
	nextIP int
	ips    map[string]string // pod UID → IP
}

// New returns a simulated node named name.
func New(client kubernetes.Interface, name string) *Node {
	return &Node{Name: name, HostIP: "192.0.2.10", PodCIDRBase: "10.88.0", client: client, ips: map[string]string{}}
}

// Run registers the node and reconciles its pods until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return err
	}
	// A Lease renewed as a kubelet renews it, so the node lifecycle controller sees the node
	// alive.
	leaseDone := make(chan struct{})
	defer func() { <-leaseDone }()
	go func() {
		defer close(leaseDone)
		n.keepLease(ctx)
	}()
	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.Name).String()
		}))
	podInformer := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	lister := podInformer.Lister()
	for {
		key, quit := queue.Get()
		if quit {
			return nil
		}
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		pod, err := lister.Pods(ns).Get(name)
		if err == nil {
			err = n.sync(ctx, pod)
		}
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			klog.FromContext(ctx).Error(err, "simulated node: sync pod", "pod", key)
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

// leaseRenewInterval is how often the node's Lease is renewed, as a kubelet does.
const leaseRenewInterval = 10 * time.Second

// keepLease creates the node's Lease in kube-node-lease and renews it until ctx ends.
func (n *Node) keepLease(ctx context.Context) {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	duration := int32(40)
	tick := time.NewTicker(leaseRenewInterval)
	defer tick.Stop()
	for {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: corev1.NamespaceNodeLease},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &n.Name, LeaseDurationSeconds: &duration, RenewTime: &now},
			}, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "simulated node: renew lease", "node", n.Name)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// register creates (or replaces the status of) the Node, Ready.
func (n *Node) register(ctx context.Context) error {
	capacity := n.Capacity
	if capacity == nil {
		capacity = corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("4"),
			corev1.ResourceMemory:           resource.MustParse("8Gi"),
			corev1.ResourcePods:             resource.MustParse("110"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		}
	}
	labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	for k, v := range n.Labels {
		labels[k] = v
	}
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
			}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.HostIP}, {Type: corev1.NodeHostName, Address: n.Name}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.37.2+kubeshim-sim", ContainerRuntimeVersion: "simulated://0",
				OperatingSystem: "linux", Architecture: "amd64", OSImage: "simulated",
			},
		},
	}
	_, err := n.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, err := n.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", n.Name, err)
		}
		existing.Status = node.Status
		_, err = n.client.CoreV1().Nodes().UpdateStatus(ctx, existing, metav1.UpdateOptions{})
		return err
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	return nil
}

// sync makes a bound pod Running and Ready, or finishes its deletion.
func (n *Node) sync(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionTimestamp != nil {
		grace := int64(0)
		err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &pod.UID},
		})
		n.mu.Lock()
		delete(n.ips, string(pod.UID))
		n.mu.Unlock()
		return err
	}
	if pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	ip := n.podIP(p)
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = n.HostIP
	p.Status.HostIPs = []corev1.HostIP{{IP: n.HostIP}}
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.StartTime = &now
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		setCondition(&p.Status, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		started := true
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "simulated://" + c.Image, ContainerID: "simulated://" + string(p.UID) + "/" + c.Name,
			Ready: true, Started: &started, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err := n.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func (n *Node) podIP(p *corev1.Pod) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[string(p.UID)]; ok {
		return ip
	}
	n.nextIP++
	ip := net.ParseIP(fmt.Sprintf("%s.%d", n.PodCIDRBase, 1+n.nextIP%250)).String()
	n.ips[string(p.UID)] = ip
	return ip
}

func setCondition(s *corev1.PodStatus, c corev1.PodCondition) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == c.Type {
			s.Conditions[i] = c
			return
		}
	}
	s.Conditions = append(s.Conditions, c)
}
