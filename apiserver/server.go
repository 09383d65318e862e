package apiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/request/x509"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	serveroptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apis"
	kadmission "github.com/kubeshim/kubeshim/apiserver/admission"
	"github.com/kubeshim/kubeshim/certs"
	"github.com/kubeshim/kubeshim/kubeconfig"
	"github.com/kubeshim/kubeshim/registry/pod"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Server is a configured, not yet running, kubeshim API server.
type Server struct {
	opts      Options
	generic   *genericapiserver.GenericAPIServer
	ca        *certs.Authority
	serverURL string
	adminCert string
	adminKey  string
	// The client certificate the API server presents to kubelets.
	kubeletClientCert, kubeletClientKey string
}

// longRunning, as kube-apiserver's: watches and the kubelet streams (logs -f, exec, attach,
// port-forward) are exempt from the request timeout and the in-flight limits.
var longRunning = genericfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"), sets.NewString("attach", "exec", "proxy", "log", "portforward"))

// shutdownTimeout bounds how long shutdown waits for open connections.
const shutdownTimeout = 5 * time.Second

// AdminUser is the common name of the admin client certificate.
const AdminUser = "kubeshim-admin"

// New builds the API server: PKI, TLS serving, x509 authentication, authorization, admission
// and every API group.
func New(opts Options) (*Server, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	if err := s.setUpPKI(); err != nil {
		return nil, err
	}

	config := genericapiserver.NewRecommendedConfig(apis.Codecs)
	config.EffectiveVersion = newEffectiveVersion()
	if err := s.applyServing(&config.Config); err != nil {
		return nil, err
	}
	if err := s.applyAuthentication(&config.Config); err != nil {
		return nil, err
	}
	config.Authorization.Authorizer = groupAuthorizer{}
	config.RuleResolver = groupAuthorizer{}
	// kubeshim serves no flowcontrol API: the max-in-flight limits protect it instead.
	config.FlowControl = nil
	config.OpenAPIConfig, config.OpenAPIV3Config = openAPIConfigs()
	// /openapi/v2 and /openapi/v3 are installed below, built on first use.
	config.SkipOpenAPIInstallation = true
	config.LongRunningFunc = longRunning

	optsGetter := resource.OptionsGetter{Decorator: opts.Storage, Etcd: opts.Etcd}
	groups, nsGetter, err := buildAPIGroups(optsGetter, pod.KubeletClientConfig{
		CAData: s.ca.CertPEM, CertFile: s.kubeletClientCert, KeyFile: s.kubeletClientKey,
	})
	if err != nil {
		return nil, err
	}
	podDefaults := kadmission.NewPodDefaults()
	if opts.DefaultNotReadyTolerationSeconds > 0 {
		podDefaults.NotReadySeconds = opts.DefaultNotReadyTolerationSeconds
	}
	if opts.DefaultUnreachableTolerationSeconds > 0 {
		podDefaults.UnreachableSeconds = opts.DefaultUnreachableTolerationSeconds
	}
	config.AdmissionControl = admission.NewChainHandler(kadmission.NewNamespaceLifecycle(nsGetter), podDefaults)

	completed := config.Complete()
	generic, err := completed.New("kubeshim", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("create generic API server: %w", err)
	}
	s.generic = generic
	// Shutdown waits this long for connections to close. A client connection that races
	// shutdown's GOAWAY (a net/http HTTP/2 race) would otherwise hold it for a minute.
	generic.ShutdownTimeout = shutdownTimeout
	if err := groups.install(generic); err != nil {
		return nil, err
	}
	installLazyOpenAPI(generic, config.OpenAPIConfig, config.OpenAPIV3Config)
	generic.AddPostStartHookOrDie("kubeshim-bootstrap", s.bootstrap)
	return s, nil
}

// setUpPKI makes or loads the CA, the serving certificate, the admin client certificate and
// the API server's client certificate for kubelets.
func (s *Server) setUpPKI() error {
	dir := s.opts.PKIDir()
	ca, err := certs.LoadOrCreateCA(dir)
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	s.ca = ca
	var extra []net.IP
	if s.opts.AdvertiseAddress != nil {
		extra = append(extra, s.opts.AdvertiseAddress)
	}
	if !s.opts.BindAddress.IsUnspecified() {
		extra = append(extra, s.opts.BindAddress)
	}
	dns, ips := certs.DefaultServingSANs(extra...)
	dns = append(dns, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	certFile, keyFile, err := ca.LoadOrCreateServing(dir, "apiserver", dns, ips)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	s.opts.servingCert, s.opts.servingKey = certFile, keyFile
	s.adminCert, s.adminKey, err = ca.LoadOrCreateClient(dir, "admin", AdminUser, []string{"system:masters"})
	if err != nil {
		return fmt.Errorf("admin client certificate: %w", err)
	}
	s.kubeletClientCert, s.kubeletClientKey, err = ca.LoadOrCreateClient(dir, kubeletClientCertName, KubeletClientUser, []string{KubeletClientGroup})
	if err != nil {
		return fmt.Errorf("kubelet client certificate: %w", err)
	}
	return nil
}

func (s *Server) applyServing(c *genericapiserver.Config) error {
	serving := serveroptions.NewSecureServingOptions()
	serving.BindAddress = s.opts.BindAddress
	serving.BindPort = s.opts.SecurePort
	serving.Listener = s.opts.Listener
	if serving.Listener == nil && serving.BindPort == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.opts.BindAddress.String(), "0"))
		if err != nil {
			return fmt.Errorf("listen on %s: %w", s.opts.BindAddress, err)
		}
		serving.Listener = ln
	}
	serving.ServerCert.CertKey.CertFile = s.opts.servingCert
	serving.ServerCert.CertKey.KeyFile = s.opts.servingKey
	if err := serving.ApplyTo(&c.SecureServing); err != nil {
		return fmt.Errorf("secure serving: %w", err)
	}
	if err := applyLoopback(c); err != nil {
		return err
	}
	_, port, err := c.SecureServing.HostPort()
	if err != nil {
		return fmt.Errorf("secure serving address: %w", err)
	}
	host := s.opts.BindAddress
	if s.opts.AdvertiseAddress != nil {
		host = s.opts.AdvertiseAddress
	} else if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	s.serverURL = "https://" + net.JoinHostPort(host.String(), strconv.Itoa(port))
	c.ExternalAddress = net.JoinHostPort(host.String(), strconv.Itoa(port))
	return nil
}

// applyAuthentication accepts client certificates signed by the cluster CA (user = CN,
// groups = O); everything else but the loopback token is anonymous and refused with 401.
func (s *Server) applyAuthentication(c *genericapiserver.Config) error {
	caProvider, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", s.ca.CertFile)
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	c.SecureServing.ClientCA = caProvider
	c.Authentication.Authenticator = x509.NewDynamic(caProvider.VerifyOptions, x509.CommonNameUserConversion)
	return nil
}

// ServerURL is the https URL clients reach the server at.
func (s *Server) ServerURL() string { return s.serverURL }

// LoopbackConfig is a client config with full rights, for in-process components.
func (s *Server) LoopbackConfig() *rest.Config {
	return rest.CopyConfig(s.generic.LoopbackClientConfig)
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	prepared := s.generic.PrepareRun()
	if err := prepared.RunWithContext(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// bootstrap creates the namespaces every cluster has, then writes the admin kubeconfig: its
// presence tells users and scripts that the server is ready.
func (s *Server) bootstrap(hookCtx genericapiserver.PostStartHookContext) error {
	err := s.bootstrapOnce(hookCtx)
	if err != nil && hookCtx.Err() != nil {
		// Stopped while starting: not a failure (the generic server would exit the process).
		klog.InfoS("Shut down before the bootstrap finished", "err", err)
		return nil
	}
	return err
}

func (s *Server) bootstrapOnce(hookCtx genericapiserver.PostStartHookContext) error {
	client, err := newClient(hookCtx.LoopbackClientConfig)
	if err != nil {
		return err
	}
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease} {
		if err := ensureNamespace(hookCtx, client, name); err != nil {
			return err
		}
	}
	caPEM := s.ca.CertPEM
	certPEM, err := os.ReadFile(s.adminCert)
	if err != nil {
		return fmt.Errorf("read admin certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(s.adminKey)
	if err != nil {
		return fmt.Errorf("read admin key: %w", err)
	}
	if err := kubeconfig.Write(s.opts.KubeconfigPath(), "kubeshim", s.serverURL, caPEM, certPEM, keyPEM); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	klog.InfoS("kubeshim API server ready", "url", s.serverURL, "kubeconfig", s.opts.KubeconfigPath())
	// Start-up (building the OpenAPI specs above all) allocates far more than serving needs;
	// hand what is free back to the OS now rather than at the runtime's leisure.
	debug.FreeOSMemory()
	return nil
}
