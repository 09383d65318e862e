// Package nodestatus registers the kubelet's Node, heartbeats its Lease in kube-node-lease and
// keeps the Node's status (capacity, addresses, nodeInfo, conditions) current, as upstream's
// kubelet does (pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodestatus,
// pkg/kubelet/nodelease).
//
// Two heartbeats run once the Node exists: the Lease is renewed every RenewInterval, and the
// status is recomputed every StatusUpdateFrequency but written only when it changed or when
// StatusReportFrequency has passed since the last write. The Node's spec (unschedulable,
// taints) belongs to its users and is never written after creation, except for an empty
// podCIDR being filled in.
package nodestatus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Defaults, as upstream's kubelet configuration.
const (
	DefaultKubeletPort           int32 = 10250
	DefaultLeaseDuration               = 40 * time.Second
	DefaultRenewInterval               = 10 * time.Second
	DefaultStatusUpdateFrequency       = 10 * time.Second
	DefaultStatusReportFrequency       = time.Minute
	DefaultMaxPods                     = 110
)

// Upstream's node condition reasons and messages (pkg/kubelet/nodestatus/setters.go).
const (
	ReasonKubeletReady         = "KubeletReady"
	ReasonKubeletNotReady      = "KubeletNotReady"
	MessageKubeletReady        = "kubelet is posting ready status"
	ReasonSufficientMemory     = "KubeletHasSufficientMemory"
	MessageSufficientMemory    = "kubelet has sufficient memory available"
	ReasonNoDiskPressure       = "KubeletHasNoDiskPressure"
	MessageNoDiskPressure      = "kubelet has no disk pressure"
	ReasonSufficientPID        = "KubeletHasSufficientPID"
	MessageSufficientPID       = "kubelet has sufficient PID available"
	messageRuntimeDown         = "container runtime is down"
	betaLabelOS                = "beta.kubernetes.io/os"
	betaLabelArch              = "beta.kubernetes.io/arch"
	runtimeVersionTimeout      = 5 * time.Second
	registerInitialBackoff     = 100 * time.Millisecond
	registerMaxBackoff         = 7 * time.Second
	maxLeaseAttemptsPerRenewal = 5
)

// Config configures a Controller. Zero durations, ports and clocks take the defaults above.
type Config struct {
	// NodeName is the Node's name (and the Lease's and its holder identity).
	NodeName string
	// Client has the node's identity (system:node:NAME).
	Client kubernetes.Interface
	// RuntimeVersion returns the runtime's version as the Node reports it
	// ("containerd://1.6.20~ds1"); an error makes the Node NotReady. Nil: no runtime check.
	RuntimeVersion func(ctx context.Context) (string, error)
	// KubeletVersion is status.nodeInfo.kubeletVersion ("v1.37.2+kubeshim.0.1.0").
	KubeletVersion string
	// Addresses are status.addresses (InternalIP and Hostname, see DefaultAddresses).
	Addresses []corev1.NodeAddress
	// Capacity, nil: measured (cpu = runtime.NumCPU, memory = MemTotal of /proc/meminfo,
	// ephemeral-storage = size of RootDir's filesystem, hugepages-*, pods = 110).
	Capacity corev1.ResourceList
	// RootDir is the kubelet's root directory, whose filesystem gives ephemeral-storage.
	RootDir string
	// Labels are added to the default ones (kubernetes.io/hostname, kubernetes.io/os,
	// kubernetes.io/arch, beta.kubernetes.io/os, beta.kubernetes.io/arch) and win over them.
	Labels map[string]string
	// PodCIDR is spec.podCIDR (and spec.podCIDRs); set at creation, or on an existing Node
	// whose podCIDR is empty.
	PodCIDR string
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.port (10250).
	KubeletPort int32
	// LeaseDuration is the Lease's leaseDurationSeconds (40s).
	LeaseDuration time.Duration
	// RenewInterval is how often the Lease is renewed (10s).
	RenewInterval time.Duration
	// StatusUpdateFrequency is how often the status is recomputed (10s, upstream's
	// nodeStatusUpdateFrequency); it is written only when it changed or is due.
	StatusUpdateFrequency time.Duration
	// StatusReportFrequency is how often an unchanged status is written anyway (1m).
	StatusReportFrequency time.Duration
	// Clock drives every loop; tests pass a fake one. Nil: the real clock.
	Clock clock.WithTicker
	// ReadyFunc holds extra readiness checks (e.g. CNI configured); an error makes the Node
	// NotReady with the error as the Ready condition's message. Nil: none.
	ReadyFunc func() error
}

// Controller registers and maintains one Node. Create it with New.
type Controller struct {
	cfg         Config
	clock       clock.WithTicker
	capacity    corev1.ResourceList
	allocatable corev1.ResourceList
	sysInfo     corev1.NodeSystemInfo // without containerRuntimeVersion

	registered     chan struct{}
	registeredOnce sync.Once
	trigger        chan struct{}

	mu             sync.Mutex
	nodeUID        types.UID // of the Node last read or written
	runtimeVersion string    // last one the runtime reported
	lastReport     time.Time // when the status was last written

	lease *leaseState // owned by the lease loop

	// Test hooks, called after each status check and each lease renewal.
	afterStatusSync func()
	afterLeaseRenew func()
}

// New returns a Controller for cfg, with defaults filled in and, when cfg.Capacity is nil, the
// machine's capacity measured. A resource that cannot be measured is left out (and logged);
// the Node is then NotReady, as upstream's kubelet reports missing capacity.
func New(cfg Config) *Controller {
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = DefaultKubeletPort
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.StatusUpdateFrequency <= 0 {
		cfg.StatusUpdateFrequency = DefaultStatusUpdateFrequency
	}
	if cfg.StatusReportFrequency <= 0 {
		cfg.StatusReportFrequency = DefaultStatusReportFrequency
	}
	c := &Controller{
		cfg:        cfg,
		clock:      cfg.Clock,
		registered: make(chan struct{}),
		trigger:    make(chan struct{}, 1),
		lease:      &leaseState{},
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if cfg.Capacity != nil {
		c.capacity = cfg.Capacity.DeepCopy()
	} else {
		var errs []error
		c.capacity, errs = MeasureCapacity(cfg.RootDir)
		for _, err := range errs {
			klog.ErrorS(err, "Cannot measure a node resource", "node", cfg.NodeName)
		}
	}
	c.allocatable = allocatableOf(c.capacity)
	c.sysInfo = systemInfo()
	c.sysInfo.KubeletVersion = cfg.KubeletVersion
	return c
}

// Registered is closed once the Node exists in the API (created or found).
func (c *Controller) Registered() <-chan struct{} { return c.registered }

// Allocatable is the Node's allocatable resources: its capacity, nothing reserved, minus
// pre-allocated huge pages from memory as upstream.
func (c *Controller) Allocatable() corev1.ResourceList { return c.allocatable.DeepCopy() }

// Capacity is the Node's capacity.
func (c *Controller) Capacity() corev1.ResourceList { return c.capacity.DeepCopy() }

// Sync asks for a status check now rather than at the next StatusUpdateFrequency tick (e.g.
// when the network became ready). It does not block; requests made before the status loop
// starts, or while a check runs, are coalesced into one check.
func (c *Controller) Sync() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Run registers the Node (retrying with back-off), then renews the Lease and keeps the status
// until ctx ends. It returns nil when ctx ends, an error only for an unusable Config.
func (c *Controller) Run(ctx context.Context) error {
	if c.cfg.NodeName == "" {
		return errors.New("nodestatus: NodeName is empty")
	}
	if c.cfg.Client == nil {
		return errors.New("nodestatus: Client is nil")
	}
	logger := klog.FromContext(ctx).WithValues("node", c.cfg.NodeName)
	ctx = klog.NewContext(ctx, logger)
	if !c.registerWithBackoff(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.runLease(ctx) })
	wg.Go(func() { c.runStatus(ctx) })
	wg.Wait()
	return nil
}

// registerWithBackoff registers until it succeeds (true) or ctx ends (false).
func (c *Controller) registerWithBackoff(ctx context.Context) bool {
	backoff := registerInitialBackoff
	for {
		err := c.register(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		klog.FromContext(ctx).Error(err, "Unable to register node, will retry", "in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-c.clock.After(backoff):
		}
		backoff = min(2*backoff, registerMaxBackoff)
	}
}

// register creates the Node or, if it exists (a restart, or another kubelet's node of the
// same name, which is taken over), reconciles its labels and podCIDR and writes its status.
func (c *Controller) register(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	nodes := c.cfg.Client.CoreV1().Nodes()
	version, runtimeErr := c.checkRuntime(ctx)
	now := c.clock.Now()

	node := c.initialNode()
	c.applyStatus(node, now, version, runtimeErr)
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		logger.Info("Registered node")
		c.noteWritten(created, now)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %q: %w", c.cfg.NodeName, err)
	}

	// The Node exists: bring our labels (and an empty podCIDR) up to date, leaving everything
	// else in metadata and spec (taints, unschedulable) as its users set it.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing, err := nodes.Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		updated := existing.DeepCopy()
		if !c.reconcileMeta(updated) {
			return nil
		}
		_, err = nodes.Update(ctx, updated, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update labels of existing node %q: %w", c.cfg.NodeName, err)
	}
	if err := c.writeStatus(ctx, now, version, runtimeErr, true); err != nil {
		return fmt.Errorf("update status of existing node %q: %w", c.cfg.NodeName, err)
	}
	logger.Info("Node already registered, status updated")
	return nil
}

// initialNode is the Node as created: metadata and spec, without status.
func (c *Controller) initialNode() *corev1.Node {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: c.cfg.NodeName, Labels: c.labels()},
	}
	if c.cfg.PodCIDR != "" {
		node.Spec.PodCIDR = c.cfg.PodCIDR
		node.Spec.PodCIDRs = []string{c.cfg.PodCIDR}
	}
	return node
}

// labels are the Node's default labels with Config.Labels over them.
func (c *Controller) labels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   strings.ToLower(c.cfg.NodeName),
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
		betaLabelOS:            goruntime.GOOS,
		betaLabelArch:          goruntime.GOARCH,
	}
	maps.Copy(l, c.cfg.Labels)
	return l
}

// reconcileMeta sets our labels and an empty podCIDR on an existing node; it reports whether
// anything changed. Labels it does not own are left alone.
func (c *Controller) reconcileMeta(node *corev1.Node) bool {
	changed := false
	for k, v := range c.labels() {
		if cur, ok := node.Labels[k]; !ok || cur != v {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[k] = v
			changed = true
		}
	}
	if c.cfg.PodCIDR != "" {
		if node.Spec.PodCIDR == "" {
			node.Spec.PodCIDR = c.cfg.PodCIDR
			node.Spec.PodCIDRs = []string{c.cfg.PodCIDR}
			changed = true
		} else if node.Spec.PodCIDR != c.cfg.PodCIDR {
			klog.InfoS("Node has another podCIDR than configured; keeping it (podCIDR is immutable once set)",
				"node", c.cfg.NodeName, "podCIDR", node.Spec.PodCIDR, "configured", c.cfg.PodCIDR)
		}
	}
	return changed
}

// noteWritten records a status write of node at now and closes Registered.
func (c *Controller) noteWritten(node *corev1.Node, now time.Time) {
	c.mu.Lock()
	c.nodeUID = node.UID
	c.lastReport = now
	c.mu.Unlock()
	c.registeredOnce.Do(func() { close(c.registered) })
}

func (c *Controller) uid() types.UID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeUID
}

// checkRuntime asks the runtime for its version; it remembers the last good one, returned with
// the error when the runtime fails so nodeInfo keeps it.
func (c *Controller) checkRuntime(ctx context.Context) (string, error) {
	c.mu.Lock()
	last := c.runtimeVersion
	c.mu.Unlock()
	if c.cfg.RuntimeVersion == nil {
		return last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, runtimeVersionTimeout)
	defer cancel()
	v, err := c.cfg.RuntimeVersion(ctx)
	if err != nil {
		return last, fmt.Errorf("%s: %w", messageRuntimeDown, err)
	}
	c.mu.Lock()
	c.runtimeVersion = v
	c.mu.Unlock()
	return v, nil
}

// runStatus recomputes the status every StatusUpdateFrequency (or on Sync) until ctx ends.
func (c *Controller) runStatus(ctx context.Context) {
	ticker := c.clock.NewTicker(c.cfg.StatusUpdateFrequency)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-c.trigger:
		}
		c.syncStatus(ctx)
		if c.afterStatusSync != nil {
			c.afterStatusSync()
		}
	}
}

// syncStatus writes the status if it changed or is due. A Node deleted under us is registered
// again.
func (c *Controller) syncStatus(ctx context.Context) {
	version, runtimeErr := c.checkRuntime(ctx)
	now := c.clock.Now()
	err := c.writeStatus(ctx, now, version, runtimeErr, false)
	if apierrors.IsNotFound(err) {
		klog.FromContext(ctx).Info("Node is gone from the API, registering it again")
		err = c.register(ctx)
	}
	if err != nil && ctx.Err() == nil {
		klog.FromContext(ctx).Error(err, "Unable to update node status")
	}
}

// writeStatus reads the Node, applies the status and writes it when it changed, when force is
// set or when StatusReportFrequency has passed since the last write. It retries on conflict.
func (c *Controller) writeStatus(ctx context.Context, now time.Time, version string, runtimeErr error, force bool) error {
	nodes := c.cfg.Client.CoreV1().Nodes()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		updated := node.DeepCopy()
		c.applyStatus(updated, now, version, runtimeErr)
		c.mu.Lock()
		due := now.Sub(c.lastReport) >= c.cfg.StatusReportFrequency
		c.mu.Unlock()
		if !force && !due && !statusChanged(&node.Status, &updated.Status) {
			c.mu.Lock()
			c.nodeUID = node.UID
			c.mu.Unlock()
			return nil
		}
		written, err := nodes.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		c.noteWritten(written, now)
		return nil
	})
}

// applyStatus sets what the kubelet owns in node.status: capacity and allocatable, addresses,
// daemon endpoints, nodeInfo and the four conditions. Extended resources other agents put in
// the capacity and conditions of other types are kept.
func (c *Controller) applyStatus(node *corev1.Node, now time.Time, runtimeVersion string, runtimeErr error) {
	st := &node.Status
	if st.Capacity == nil {
		st.Capacity = corev1.ResourceList{}
	}
	for name, q := range c.capacity {
		st.Capacity[name] = q.DeepCopy()
	}
	st.Allocatable = allocatableOf(st.Capacity)
	if len(c.cfg.Addresses) > 0 {
		st.Addresses = append([]corev1.NodeAddress(nil), c.cfg.Addresses...)
	}
	st.DaemonEndpoints.KubeletEndpoint.Port = c.cfg.KubeletPort
	info := c.sysInfo
	info.ContainerRuntimeVersion = runtimeVersion
	if runtimeVersion == "" {
		info.ContainerRuntimeVersion = st.NodeInfo.ContainerRuntimeVersion
	}
	info.Swap, info.RunningInUserNamespace = st.NodeInfo.Swap, st.NodeInfo.RunningInUserNamespace
	st.NodeInfo = info

	ts := metav1.NewTime(now)
	setCondition(st, corev1.NodeMemoryPressure, corev1.ConditionFalse, ReasonSufficientMemory, MessageSufficientMemory, ts)
	setCondition(st, corev1.NodeDiskPressure, corev1.ConditionFalse, ReasonNoDiskPressure, MessageNoDiskPressure, ts)
	setCondition(st, corev1.NodePIDPressure, corev1.ConditionFalse, ReasonSufficientPID, MessageSufficientPID, ts)
	if err := c.readyError(st, runtimeErr); err != nil {
		setCondition(st, corev1.NodeReady, corev1.ConditionFalse, ReasonKubeletNotReady, err.Error(), ts)
	} else {
		setCondition(st, corev1.NodeReady, corev1.ConditionTrue, ReasonKubeletReady, MessageKubeletReady, ts)
	}
}

// readyError aggregates why the Node is not Ready, as upstream: the runtime, the extra checks
// and missing capacity.
func (c *Controller) readyError(st *corev1.NodeStatus, runtimeErr error) error {
	errs := []error{runtimeErr}
	if c.cfg.ReadyFunc != nil {
		errs = append(errs, c.cfg.ReadyFunc())
	}
	var missing []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if _, ok := st.Capacity[r]; !ok {
			missing = append(missing, string(r))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing node capacity for resources: %s", strings.Join(missing, ", ")))
	}
	return utilerrors.NewAggregate(errs)
}

// setCondition sets condition typ: lastHeartbeatTime always, lastTransitionTime only when the
// status changes (or the condition is new).
func setCondition(st *corev1.NodeStatus, typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) {
	cond := corev1.NodeCondition{
		Type: typ, Status: status, Reason: reason, Message: message,
		LastHeartbeatTime: now, LastTransitionTime: now,
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type != typ {
			continue
		}
		if st.Conditions[i].Status == status {
			cond.LastTransitionTime = st.Conditions[i].LastTransitionTime
		}
		st.Conditions[i] = cond
		return
	}
	st.Conditions = append(st.Conditions, cond)
}

// statusChanged compares two statuses ignoring the conditions' heartbeat times, as upstream's
// nodeStatusHasChanged.
func statusChanged(a, b *corev1.NodeStatus) bool {
	strip := func(st *corev1.NodeStatus) *corev1.NodeStatus {
		st = st.DeepCopy()
		for i := range st.Conditions {
			st.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return st
	}
	return !apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// allocatableOf is capacity with nothing reserved, minus huge pages from memory as upstream.
func allocatableOf(capacity corev1.ResourceList) corev1.ResourceList {
	alloc := capacity.DeepCopy()
	if alloc == nil {
		return nil
	}
	mem, ok := alloc[corev1.ResourceMemory]
	if !ok {
		return alloc
	}
	for name, q := range capacity {
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			mem.Sub(q)
		}
	}
	if mem.Sign() < 0 {
		mem.Set(0)
	}
	alloc[corev1.ResourceMemory] = mem
	return alloc
}
