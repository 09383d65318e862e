package pod

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
)

// DefaultKubeletPort is where a kubelet serves when its node reports no port, as upstream.
const DefaultKubeletPort int32 = 10250

// KubeletClientConfig is how the API server reaches kubelets: over HTTPS, presenting its client
// certificate, trusting only kubelet serving certificates the cluster CA signed.
type KubeletClientConfig struct {
	// CAData is the PEM bundle that must have signed every kubelet's serving certificate.
	CAData []byte
	// CertFile and KeyFile are the API server's client certificate for kubelets.
	CertFile, KeyFile string
	// Port is used for nodes that report no status.daemonEndpoints.kubeletEndpoint.port
	// (default 10250).
	Port int32
	// PreferredAddressTypes orders the node address types to dial (default InternalIP,
	// ExternalIP, Hostname, InternalDNS, ExternalDNS).
	PreferredAddressTypes []corev1.NodeAddressType
	// DialTimeout bounds connecting to a kubelet (default 10s).
	DialTimeout time.Duration
}

// ConnectionInfo says how to reach one node's kubelet.
type ConnectionInfo struct {
	Scheme   string
	Hostname string
	Port     string
	// Transport presents the client certificate and verifies the kubelet's serving certificate
	// for Hostname against the cluster CA.
	Transport http.RoundTripper
}

// ConnectionInfoGetter finds the kubelet of a node (upstream's pkg/kubelet/client
// ConnectionInfoGetter).
type ConnectionInfoGetter interface {
	GetConnectionInfo(ctx context.Context, nodeName string) (*ConnectionInfo, error)
}

// NodeConnectionInfoGetter reads the node's addresses and kubelet port from the API.
type NodeConnectionInfoGetter struct {
	nodes      rest.Getter
	port       int32
	preferred  []corev1.NodeAddressType
	baseConfig *tls.Config
	dialer     *net.Dialer

	mu         sync.Mutex
	transports map[string]*http.Transport // by node name and host:port
}

var _ ConnectionInfoGetter = &NodeConnectionInfoGetter{}

// NewNodeConnectionInfoGetter returns a ConnectionInfoGetter that looks nodes up through nodes
// (the nodes storage) and dials their kubelets as cfg says.
func NewNodeConnectionInfoGetter(nodes rest.Getter, cfg KubeletClientConfig) (*NodeConnectionInfoGetter, error) {
	if nodes == nil {
		return nil, errors.New("kubelet client: no node getter")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cfg.CAData) {
		return nil, errors.New("kubelet client: no CA certificate to verify kubelets with")
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("kubelet client: a client certificate and key are required")
	}
	pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	g := &NodeConnectionInfoGetter{
		nodes:     nodes,
		port:      cfg.Port,
		preferred: cfg.PreferredAddressTypes,
		baseConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      roots,
			Certificates: []tls.Certificate{pair},
		},
		dialer:     &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		transports: map[string]*http.Transport{},
	}
	if g.port == 0 {
		g.port = DefaultKubeletPort
	}
	if len(g.preferred) == 0 {
		g.preferred = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS}
	}
	if g.dialer.Timeout == 0 {
		g.dialer.Timeout = 10 * time.Second
	}
	return g, nil
}

// GetConnectionInfo returns the https address of the node's kubelet and a transport for it.
func (g *NodeConnectionInfoGetter) GetConnectionInfo(ctx context.Context, nodeName string) (*ConnectionInfo, error) {
	obj, err := g.nodes.Get(ctx, nodeName, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("node %s: unexpected object %T", nodeName, obj)
	}
	host, err := preferredAddress(node, g.preferred)
	if err != nil {
		return nil, err
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		port = g.port
	}
	portStr := strconv.Itoa(int(port))
	return &ConnectionInfo{
		Scheme:    "https",
		Hostname:  host,
		Port:      portStr,
		Transport: g.transport(nodeName, net.JoinHostPort(host, portStr), host),
	}, nil
}

// transport returns the transport for one kubelet, made once: its TLS configuration checks
// the serving certificate itself, so that a kubelet without a CA-signed certificate for its
// address gets an error that says so.
func (g *NodeConnectionInfoGetter) transport(nodeName, addr, host string) *http.Transport {
	key := nodeName + "/" + addr
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.transports[key]; ok {
		return t
	}
	cfg := g.baseConfig.Clone()
	cfg.ServerName = host
	// Verification is done by VerifyConnection below, against the same roots and name the
	// standard check would use; it only words the failure for the operator.
	cfg.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyKubeletCertificate(cs, g.baseConfig.RootCAs, nodeName, addr, host)
	}
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         g.dialer.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	g.transports[key] = t
	return t
}

// verifyKubeletCertificate checks the kubelet's serving certificate chains to the cluster CA and
// names host.
func verifyKubeletCertificate(cs tls.ConnectionState, roots *x509.CertPool, nodeName, addr, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("kubelet of node %q at %s presented no serving certificate", nodeName, addr)
	}
	intermediates := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		DNSName:       host,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err == nil {
		return nil
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return fmt.Errorf("kubelet of node %q at %s: its serving certificate is not valid for %s (%v); it needs a serving certificate from the cluster CA that names the node's address",
			nodeName, addr, host, err)
	}
	return fmt.Errorf("kubelet of node %q at %s: its serving certificate (subject %q, issuer %q) is not signed by the cluster CA (%v); the kubelet needs a serving certificate from the cluster CA",
		nodeName, addr, leaf.Subject.CommonName, leaf.Issuer.CommonName, err)
}

// preferredAddress returns the node's first address of the first preferred type.
func preferredAddress(node *corev1.Node, preferred []corev1.NodeAddressType) (string, error) {
	for _, t := range preferred {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("node %s: no preferred addresses found; known addresses: %v", node.Name, node.Status.Addresses)
}
