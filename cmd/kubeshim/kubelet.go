package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apiserver"
	"github.com/kubeshim/kubeshim/kubelet"
	"github.com/kubeshim/kubeshim/kubelet/crilog"
	"github.com/kubeshim/kubeshim/kubelet/runtime/containerd"
)

// kubeletOptions are the kubelet's flags, shared by `up` and `kubelet`.
type kubeletOptions struct {
	nodeName           string
	nodeIP             string
	containerdAddress  string
	podCIDR            string
	imagesDir          string
	insecureRegistries []string
	imagePullFallback  bool
	cgroupRoot         string
	logMaxSize         string
	logMaxFiles        int
	manifestPath       string
	port               int32
	tlsCertFile        string
	tlsKeyFile         string
	clientCAFile       string
	containerdNS       string
}

func (o *kubeletOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.nodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&o.nodeIP, "node-ip", "", "the node's InternalIP (default: the source address of the default route)")
	f.StringVar(&o.containerdAddress, "containerd-address", "",
		"socket of a running containerd to use; empty starts a private one under the data dir")
	f.StringVar(&o.podCIDR, "pod-cidr", "", "range this node's pod IPs come from (default: the podCIDR the control plane gives the Node)")
	f.StringVar(&o.containerdNS, "containerd-namespace", "kubeshim", "containerd namespace of everything the kubelet makes")
	f.StringVar(&o.imagesDir, "images-dir", "", "image archives (OCI or docker-save .tar) imported at start (default DATA/images)")
	f.StringSliceVar(&o.insecureRegistries, "insecure-registry", nil, "registries (host:port) pulled from over plain HTTP")
	f.StringVar(&o.cgroupRoot, "cgroup-root", "/kubeshim", "cgroup under which pods get their cgroups")
	f.StringVar(&o.logMaxSize, "container-log-max-size", "10Mi", "size at which a container's log file is rotated")
	f.IntVar(&o.logMaxFiles, "container-log-max-files", 5, "log files kept per container, the current one included")
	f.StringVar(&o.manifestPath, "pod-manifest-path", "", "folder of static pod manifests (default DATA/manifests)")
	f.Int32Var(&o.port, "port", 10250, "port of the kubelet's HTTPS API (logs, exec, attach, port-forward) on the node IP")
	f.BoolVar(&o.imagePullFallback, "image-pull-fallback", true,
		"use the local copy of an image when no registry answers a pull (a Warning event says so); false is upstream's strictness")
}

// config returns the kubelet's configuration for data dir dataDir.
func (o *kubeletOptions) config(dataDir string, client kubernetes.Interface) (kubelet.Config, error) {
	name := o.nodeName
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return kubelet.Config{}, fmt.Errorf("node name: %w", err)
		}
		name = strings.ToLower(host)
	}
	logger, err := loggerBinary()
	if err != nil {
		return kubelet.Config{}, err
	}
	maxSize, err := resource.ParseQuantity(o.logMaxSize)
	if err != nil || maxSize.Value() <= 0 {
		return kubelet.Config{}, fmt.Errorf("--container-log-max-size %q: a positive quantity such as 10Mi is needed", o.logMaxSize)
	}
	if o.logMaxFiles < 2 {
		return kubelet.Config{}, fmt.Errorf("--container-log-max-files %d: at least 2", o.logMaxFiles)
	}
	manifests := o.manifestPath
	if manifests == "" {
		manifests = filepath.Join(dataDir, "manifests")
	}
	imagesDir := o.imagesDir
	if imagesDir == "" {
		imagesDir = filepath.Join(dataDir, "images")
	}
	return kubelet.Config{
		NodeName: name, Client: client, RootDir: filepath.Join(dataDir, "kubelet"),
		ContainerdAddress: o.containerdAddress, ContainerdNamespace: o.containerdNS, PodCIDR: o.podCIDR, ImagesDir: imagesDir,
		InsecureRegistries: o.insecureRegistries, ImagePullFallback: o.imagePullFallback,
		LoggerBinary: logger, KubeletVersion: apiserver.GitVersion(), NodeIP: o.nodeIP,
		CgroupRoot: o.cgroupRoot, ContainerLogMaxSize: maxSize.Value(), ContainerLogMaxFiles: o.logMaxFiles,
		PodManifestPath: manifests,
	}, nil
}

// loggerBinary finds kubeshim-logger, the container logger containerd's shims run: beside
// kubeshim's executable, then on PATH. Without it kubeshim's own container-logger subcommand
// does the job, at the cost of a full kubeshim process per container.
func loggerBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find kubeshim's executable: %w", err)
	}
	beside := filepath.Join(filepath.Dir(self), "kubeshim-logger")
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	if p, err := exec.LookPath("kubeshim-logger"); err == nil {
		return p, nil
	}
	klog.InfoS("kubeshim-logger not found beside kubeshim or on PATH; kubeshim itself will log containers, with more memory per container", "kubeshim", self)
	return self, nil
}

func newKubeletCommand() *cobra.Command {
	o := &kubeletOptions{}
	var kubeconfig, dataDir string
	cmd := &cobra.Command{
		Use:   "kubelet",
		Short: "Run a node that joins a running control plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			client, err := kubernetes.NewForConfig(rest.CopyConfig(restConfig))
			if err != nil {
				return err
			}
			cfg, err := o.config(dataDir, client)
			if err != nil {
				return err
			}
			if o.tlsCertFile != "" {
				cfg.Server = &kubelet.ServerConfig{
					Port: o.port, CertFile: o.tlsCertFile, KeyFile: o.tlsKeyFile, ClientCAFile: o.clientCAFile,
					AllowedUsers: []string{apiserver.KubeletClientUser}, AllowedGroups: []string{apiserver.KubeletClientGroup},
				}
			} else {
				klog.InfoS("No --tls-cert-file: the kubelet's HTTPS API (logs, exec, port-forward) is not served")
			}
			return kubelet.Run(genericapiserver.SetupSignalContext(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the control plane to join")
	f.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serving certificate of the kubelet's HTTPS API (without it the API is not served)")
	f.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "key of --tls-cert-file")
	f.StringVar(&o.clientCAFile, "client-ca-file", "", "CA the API server's kubelet client certificate must chain to")
	f.StringVar(&dataDir, "data-dir", "/var/lib/kubeshim", "directory for the node's state")
	o.addFlags(f)
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}

func newImagesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Manage the node's images"}
	var dataDir, address string
	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import image archives (OCI or docker-save .tar) into a running node's containerd",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if address == "" {
				address = containerd.SocketPath(filepath.Join(dataDir, "kubelet", "containerd"))
			}
			ctx := context.Background()
			rt, err := containerd.New(ctx, containerd.Config{Address: address, RootDir: filepath.Join(dataDir, "kubelet")})
			if err != nil {
				return err
			}
			defer rt.Close()
			for _, file := range args {
				refs, err := rt.ImportArchive(ctx, file)
				if err != nil {
					return fmt.Errorf("import %s: %w", file, err)
				}
				for _, ref := range refs {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", ref)
				}
			}
			return nil
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", "/var/lib/kubeshim", "the node's data directory (finds its private containerd)")
	imp.Flags().StringVar(&address, "containerd-address", "", "containerd socket (default: the node's private containerd)")
	cmd.AddCommand(imp)
	return cmd
}

// newLoggerCommand is run by containerd's shims as the container logger.
func newLoggerCommand() *cobra.Command {
	return &cobra.Command{
		Use:                crilog.LoggerSubcommand,
		Hidden:             true,
		DisableFlagParsing: true,
		Run:                func(*cobra.Command, []string) { crilog.RunLogger() },
	}
}
