package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apiserver"
	"github.com/kubeshim/kubeshim/controllers/manager"
	"github.com/kubeshim/kubeshim/registry/storage"
)

type upOptions struct {
	dataDir          string
	securePort       int
	bindAddress      string
	advertiseAddress string
	noKubelet        bool
	historySize      int
	controllers      []string
	noControllers    bool
	etcd             storagebackend.TransportConfig
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
	f.StringSliceVar(&o.controllers, "controllers", []string{"*"},
		fmt.Sprintf("controllers to run: '*' for all, 'name' to add one, '-name' to leave one out (%s)", strings.Join(manager.Names(), ", ")))
	f.BoolVar(&o.noControllers, "no-controllers", false, "run no controllers (API server only)")
	f.StringSliceVar(&o.etcd.ServerList, "etcd-servers", nil,
		"etcd servers to store everything in (scheme://ip:port,...); the in-memory store when empty")
	f.StringVar(&o.etcd.TrustedCAFile, "etcd-cafile", "", "SSL Certificate Authority file used to secure etcd communication")
	f.StringVar(&o.etcd.CertFile, "etcd-certfile", "", "SSL certification file used to secure etcd communication")
	f.StringVar(&o.etcd.KeyFile, "etcd-keyfile", "", "SSL key file used to secure etcd communication")
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
	if !o.noKubelet {
		klog.InfoS("The kubelet is not part of this build yet; running the control plane only")
	}
	opts := apiserver.Options{
		DataDir:          o.dataDir,
		BindAddress:      bind,
		SecurePort:       o.securePort,
		AdvertiseAddress: advertise,
	}
	if len(o.etcd.ServerList) > 0 {
		opts.Etcd = &o.etcd
	} else {
		backend := storage.NewBackend(storage.Options{HistorySize: o.historySize})
		defer backend.Close()
		opts.Storage = backend.Decorator()
	}
	srv, err := apiserver.New(opts)
	if err != nil {
		return err
	}
	if !o.noControllers {
		if err := startControllers(srv, o.controllers); err != nil {
			return err
		}
	}
	ctx := genericapiserver.SetupSignalContext()
	return srv.Run(ctx)
}

// startControllers runs the controllers once the API server serves, each group with its own
// client certificate: the controller manager's and the scheduler's, as upstream's components.
func startControllers(srv *apiserver.Server, selection []string) error {
	cm, err := srv.ClientConfig("controller-manager", "system:kube-controller-manager", []string{apiserver.ControllersGroup})
	if err != nil {
		return err
	}
	sched, err := srv.ClientConfig("scheduler", "system:kube-scheduler", []string{apiserver.ControllersGroup})
	if err != nil {
		return err
	}
	return srv.AddPostStartHook("start-controllers", func(hookCtx genericapiserver.PostStartHookContext) error {
		go func() {
			opts := manager.Options{Controllers: selection, ControllerManager: cm, Scheduler: sched}
			if err := manager.Run(hookCtx.Context, opts); err != nil {
				klog.ErrorS(err, "Controllers stopped")
			}
		}()
		return nil
	})
}
