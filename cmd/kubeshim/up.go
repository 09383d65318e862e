package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apiserver"
	"github.com/kubeshim/kubeshim/controllers/manager"
	"github.com/kubeshim/kubeshim/kubelet"
	"github.com/kubeshim/kubeshim/kubelet/nodestatus"
	"github.com/kubeshim/kubeshim/registry/storage"
)

type upOptions struct {
	dataDir          string
	securePort       int
	bindAddress      string
	advertiseAddress string
	noKubelet        bool
	historySize      int
	storage          string
	controllers      []string
	noControllers    bool
	etcd             storagebackend.TransportConfig
	kubelet          kubeletOptions
	clusterCIDR      string
	nodeCIDRMaskSize int
	nodeGracePeriod  time.Duration
	notReadySeconds  int64
	unreachSeconds   int64
}

func newUpCommand() *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the control plane (and, once built, the kubelet) in this process",
		Long: `Run kubeshim's API server. On first start it makes a CA, serving and client certificates
under DATA/pki; once it is ready to serve it writes DATA/kubeconfig (context "kubeshim").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run() },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/kubeshim", "directory for certificates, the kubeconfig and state")
	f.IntVar(&o.securePort, "secure-port", 6443, "HTTPS port of the API server (0 picks a free one)")
	f.StringVar(&o.bindAddress, "bind-address", "127.0.0.1", "address the API server listens on")
	f.StringVar(&o.advertiseAddress, "advertise-address", "", "address clients reach the API server at (added to its certificate)")
	f.BoolVar(&o.noKubelet, "no-kubelet", false, "do not run a kubelet in this process")
	o.kubelet.addFlags(f)
	f.StringSliceVar(&o.controllers, "controllers", []string{"*"},
		fmt.Sprintf("controllers to run: '*' for all, 'name' to add one, '-name' to leave one out (%s)", strings.Join(manager.Names(), ", ")))
	f.BoolVar(&o.noControllers, "no-controllers", false, "run no controllers (API server only)")
	f.StringVar(&o.clusterCIDR, "cluster-cidr", "10.88.0.0/16", "range of the pods' IPs; every node gets a part of it (--node-cidr-mask-size)")
	f.IntVar(&o.nodeCIDRMaskSize, "node-cidr-mask-size", 24, "size of each node's podCIDR within --cluster-cidr")
	f.Int64Var(&o.notReadySeconds, "default-not-ready-toleration-seconds", 300,
		"how long new pods tolerate a not-ready node (the toleration every pod gets unless it has one)")
	f.Int64Var(&o.unreachSeconds, "default-unreachable-toleration-seconds", 300,
		"how long new pods tolerate an unreachable node before they are evicted")
	f.DurationVar(&o.nodeGracePeriod, "node-monitor-grace-period", 40*time.Second,
		"how long a node may go without renewing its Lease before it is marked unhealthy")
	f.StringSliceVar(&o.etcd.ServerList, "etcd-servers", nil,
		"etcd servers to store everything in (scheme://ip:port,...); the in-memory store when empty")
	f.StringVar(&o.etcd.TrustedCAFile, "etcd-cafile", "", "SSL Certificate Authority file used to secure etcd communication")
	f.StringVar(&o.etcd.CertFile, "etcd-certfile", "", "SSL certification file used to secure etcd communication")
	f.StringVar(&o.etcd.KeyFile, "etcd-keyfile", "", "SSL key file used to secure etcd communication")
	f.StringVar(&o.storage, "storage", "wal",
		"without --etcd-servers: 'wal' keeps state durably in DATA/storage (write-ahead log and snapshots), 'memory' keeps it in memory only")
	f.IntVar(&o.historySize, "default-watch-cache-size", storage.DefaultHistorySize,
		"how many recent changes the store keeps for watches to resume from; older resourceVersions get 410 Gone")
	return cmd
}

func (o *upOptions) run() error {
	bind := net.ParseIP(o.bindAddress)
	if bind == nil {
		return fmt.Errorf("--bind-address %q is not an IP address", o.bindAddress)
	}
	var advertise net.IP
	if o.advertiseAddress != "" {
		if advertise = net.ParseIP(o.advertiseAddress); advertise == nil {
			return fmt.Errorf("--advertise-address %q is not an IP address", o.advertiseAddress)
		}
	}
	if err := manager.Validate(o.controllers); err != nil {
		return fmt.Errorf("--controllers: %w", err)
	}
	opts := apiserver.Options{
		DataDir:                          o.dataDir,
		BindAddress:                      bind,
		SecurePort:                       o.securePort,
		AdvertiseAddress:                 advertise,
		DefaultNotReadyTolerationSeconds: o.notReadySeconds, DefaultUnreachableTolerationSeconds: o.unreachSeconds,
	}
	if len(o.etcd.ServerList) > 0 {
		opts.Etcd = &o.etcd
	} else {
		var backend *storage.Backend
		switch o.storage {
		case "memory":
			backend = storage.NewBackend(storage.Options{HistorySize: o.historySize})
		case "wal":
			var err error
			backend, err = storage.OpenWAL(filepath.Join(o.dataDir, "storage"), storage.Options{HistorySize: o.historySize}, storage.WALOptions{})
			if err != nil {
				return fmt.Errorf("opening storage: %w", err)
			}
		default:
			return fmt.Errorf("--storage %q: want wal or memory", o.storage)
		}
		defer backend.Close()
		opts.Storage = backend.Decorator()
	}
	srv, err := apiserver.New(opts)
	if err != nil {
		return err
	}
	// On SIGTERM the controllers stop first and the API server after them: a client that
	// reconnects while the server shuts down would hold its shutdown up.
	sigCtx := genericapiserver.SetupSignalContext()
	serverCtx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	controllersDone := make(chan struct{})
	controllersCtx, stopControllers := context.WithCancel(context.Background())
	defer stopControllers()
	if o.noControllers {
		close(controllersDone)
	} else if err := o.startControllers(srv, controllersCtx, controllersDone); err != nil {
		return err
	}
	kubeletDone := make(chan struct{})
	if o.noKubelet {
		close(kubeletDone)
	} else if err := o.startKubelet(srv, controllersCtx, kubeletDone); err != nil {
		return err
	}
	go func() {
		<-sigCtx.Done()
		stopControllers()
		timeout := time.After(controllersStopTimeout)
		for _, done := range []chan struct{}{controllersDone, kubeletDone} {
			select {
			case <-done:
			case <-timeout:
				klog.InfoS("Controllers or kubelet did not stop in time; shutting the API server down anyway", "timeout", controllersStopTimeout)
			}
		}
		stopServer()
	}()
	return srv.Run(serverCtx)
}

// startKubelet runs the kubelet once the API server serves, as system:node:NAME; done is
// closed when it has stopped.
func (o *upOptions) startKubelet(srv *apiserver.Server, ctx context.Context, done chan<- struct{}) error {
	cfg, err := o.kubelet.config(o.dataDir, nil)
	if err != nil {
		return err
	}
	restConfig, err := srv.ClientConfig("kubelet", "system:node:"+cfg.NodeName, []string{"system:nodes"})
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	cfg.Client = client
	// Without the nodeipam controller nobody gives the Node a podCIDR: the kubelet takes the
	// whole cluster range.
	if cfg.PodCIDR == "" && (o.noControllers || !manager.Enabled(o.controllers, "nodeipam")) {
		cfg.PodCIDR = o.clusterCIDR
	}
	// The node's IP now, for the kubelet server's certificate, issued by the cluster CA.
	addresses, err := nodestatus.DefaultAddresses(cfg.NodeIP)
	if err != nil {
		return fmt.Errorf("node addresses: %w", err)
	}
	for _, a := range addresses {
		if a.Type == corev1.NodeInternalIP {
			cfg.NodeIP = a.Address
			break
		}
	}
	certFile, keyFile, caFile, err := srv.KubeletServing(cfg.NodeName, []net.IP{net.ParseIP(cfg.NodeIP)})
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	cfg.Server = &kubelet.ServerConfig{
		Port: o.kubelet.port, CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
		AllowedUsers: []string{apiserver.KubeletClientUser}, AllowedGroups: []string{apiserver.KubeletClientGroup},
	}
	return runAfterStart(srv, "start-kubelet", ctx, done, func() {
		if err := kubelet.Run(ctx, cfg); err != nil {
			klog.ErrorS(err, "Kubelet stopped")
		}
	})
}

// startControllers runs the controllers once the API server serves, each group with its own
// client certificate: the controller manager's and the scheduler's, as upstream's components.
// controllersStopTimeout bounds how long shutdown waits for the controllers.
const controllersStopTimeout = 20 * time.Second

// startControllers starts them once the API server serves; done is closed when they have
// stopped (at once, if ctx ends before they started).
func (o *upOptions) startControllers(srv *apiserver.Server, ctx context.Context, done chan<- struct{}) error {
	cm, err := srv.ClientConfig("controller-manager", "system:kube-controller-manager", []string{apiserver.ControllersGroup})
	if err != nil {
		return err
	}
	sched, err := srv.ClientConfig("scheduler", "system:kube-scheduler", []string{apiserver.ControllersGroup})
	if err != nil {
		return err
	}
	return runAfterStart(srv, "start-controllers", ctx, done, func() {
		opts := manager.Options{Controllers: o.controllers, ControllerManager: cm, Scheduler: sched,
			ClusterCIDR: o.clusterCIDR, NodeCIDRMaskSize: o.nodeCIDRMaskSize, NodeMonitorGracePeriod: o.nodeGracePeriod}
		if err := manager.Run(ctx, opts); err != nil {
			klog.ErrorS(err, "Controllers stopped")
		}
	})
}

// runAfterStart runs run in a goroutine once the API server serves, unless ctx ended before;
// done is closed when run returns (at once, if ctx ends before it started).
func runAfterStart(srv *apiserver.Server, name string, ctx context.Context, done chan<- struct{}, run func()) error {
	started := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }
	go func() {
		// Shutdown before the hook ran: nothing to wait for.
		<-ctx.Done()
		select {
		case <-started:
		default:
			finish()
		}
	}()
	return srv.AddPostStartHook(name, func(genericapiserver.PostStartHookContext) error {
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		close(started)
		go func() {
			defer finish()
			run()
		}()
		return nil
	})
}
