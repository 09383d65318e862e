package apiserver

import (
	"fmt"
	"net"
	"slices"
)

const (
	// KubeletClientUser is the user (certificate CN) the API server is to kubelets, as
	// kube-apiserver's conventional --kubelet-client-certificate names it. A kubelet's server
	// accepts it.
	KubeletClientUser = "kube-apiserver-kubelet-client"
	// KubeletClientGroup is the group (certificate O) of the API server's kubelet client
	// certificate.
	KubeletClientGroup = "system:masters"

	kubeletClientCertName = "apiserver-kubelet-client"
)

// KubeletServing issues (or reuses) the serving certificate of the kubelet of nodeName from
// the cluster CA, for the node name, "localhost" and ips (the addresses the API server dials:
// the node's InternalIP above all). It returns the certificate and key files, and the CA file
// the kubelet verifies the API server's client certificate with.
func (s *Server) KubeletServing(nodeName string, ips []net.IP) (certFile, keyFile, caFile string, err error) {
	if nodeName == "" {
		return "", "", "", fmt.Errorf("kubelet serving certificate: empty node name")
	}
	dns := []string{"localhost"}
	ips = slices.Clone(ips)
	if ip := net.ParseIP(nodeName); ip != nil {
		ips = append(ips, ip)
	} else if nodeName != "localhost" {
		dns = append(dns, nodeName)
	}
	if !slices.ContainsFunc(ips, net.IPv4(127, 0, 0, 1).Equal) {
		ips = append(ips, net.IPv4(127, 0, 0, 1))
	}
	certFile, keyFile, err = s.ca.LoadOrCreateServing(s.opts.PKIDir(), "kubelet-"+nodeName, dns, ips)
	if err != nil {
		return "", "", "", fmt.Errorf("kubelet serving certificate for node %s: %w", nodeName, err)
	}
	return certFile, keyFile, s.ca.CertFile, nil
}
