package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"k8s.io/klog/v2"
)

// LoadOrCreateServing returns dir/name.crt and dir/name.key, a serving
// certificate (ExtKeyUsageServerAuth) signed by a for dnsNames and ips. The
// files on disk are reused unless they are missing or unreadable, do not match
// each other, were not signed by a, lack one of the requested names or
// addresses, or expire within 30 days; then a new key and certificate are
// issued, valid for one year.
func (a *Authority) LoadOrCreateServing(dir, name string, dnsNames []string, ips []net.IP) (certFile, keyFile string, err error) {
	if err := checkName(name); err != nil {
		return "", "", fmt.Errorf("serving certificate: %w", err)
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return "", "", fmt.Errorf("serving certificate %q: no DNS names or IP addresses", name)
	}
	for _, n := range dnsNames {
		if n == "" {
			return "", "", fmt.Errorf("serving certificate %q: empty DNS name", name)
		}
	}
	for _, ip := range ips {
		if ip == nil || ip.To16() == nil {
			return "", "", fmt.Errorf("serving certificate %q: invalid IP address %v", name, ip)
		}
	}
	if err := ensureDir(dir); err != nil {
		return "", "", err
	}
	certFile, keyFile = pairPaths(dir, name)

	reason := a.servingReusable(certFile, keyFile, dnsNames, ips)
	if reason == nil {
		return certFile, keyFile, nil
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    slices.Clone(dnsNames),
		IPAddresses: slices.Clone(ips),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	certPEM, keyPEM, err := a.issue(tmpl)
	if err != nil {
		return "", "", fmt.Errorf("serving certificate %q: %w", name, err)
	}
	if err := writePair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", fmt.Errorf("serving certificate %q: %w", name, err)
	}
	klog.InfoS("Issued serving certificate", "cert", certFile, "dnsNames", dnsNames, "ips", ips, "reason", reason.Error())
	return certFile, keyFile, nil
}

// servingReusable returns nil when the pair on disk can be kept, or why not.
func (a *Authority) servingReusable(certFile, keyFile string, dnsNames []string, ips []net.IP) error {
	cert, err := loadExisting(certFile, keyFile)
	if err != nil {
		return err
	}
	if err := a.verifyLeaf(cert, x509.ExtKeyUsageServerAuth); err != nil {
		return err
	}
	for _, n := range dnsNames {
		if !slices.ContainsFunc(cert.DNSNames, func(have string) bool { return strings.EqualFold(have, n) }) {
			return fmt.Errorf("DNS name %q missing", n)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return fmt.Errorf("IP address %s missing", ip)
		}
	}
	return nil
}

// LoadOrCreateClient returns dir/name.crt and dir/name.key, a client
// certificate (ExtKeyUsageClientAuth) signed by a whose subject is CN=user,
// O=groups: the user name and groups Kubernetes' x509 authenticator reads.
// The files on disk are reused unless they are missing or unreadable, do not
// match each other, were not signed by a, name another user or another set of
// groups, or expire within 30 days.
func (a *Authority) LoadOrCreateClient(dir, name, user string, groups []string) (certFile, keyFile string, err error) {
	if err := checkName(name); err != nil {
		return "", "", fmt.Errorf("client certificate: %w", err)
	}
	if user == "" {
		return "", "", fmt.Errorf("client certificate %q: empty user name", name)
	}
	if err := ensureDir(dir); err != nil {
		return "", "", err
	}
	certFile, keyFile = pairPaths(dir, name)

	reason := a.clientReusable(certFile, keyFile, user, groups)
	if reason == nil {
		return certFile, keyFile, nil
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: slices.Clone(groups)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	certPEM, keyPEM, err := a.issue(tmpl)
	if err != nil {
		return "", "", fmt.Errorf("client certificate %q: %w", name, err)
	}
	if err := writePair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", fmt.Errorf("client certificate %q: %w", name, err)
	}
	klog.InfoS("Issued client certificate", "cert", certFile, "user", user, "groups", groups, "reason", reason.Error())
	return certFile, keyFile, nil
}

func (a *Authority) clientReusable(certFile, keyFile, user string, groups []string) error {
	cert, err := loadExisting(certFile, keyFile)
	if err != nil {
		return err
	}
	if err := a.verifyLeaf(cert, x509.ExtKeyUsageClientAuth); err != nil {
		return err
	}
	if cert.Subject.CommonName != user {
		return fmt.Errorf("user is %q, want %q", cert.Subject.CommonName, user)
	}
	have, want := slices.Clone(cert.Subject.Organization), slices.Clone(groups)
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(have), slices.Compact(want)) {
		return fmt.Errorf("groups are %q, want %q", cert.Subject.Organization, groups)
	}
	return nil
}

// loadExisting loads a pair for reuse; a missing certificate is reported as
// such so the log line says why a certificate was issued.
func loadExisting(certFile, keyFile string) (*x509.Certificate, error) {
	if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("no certificate yet")
	}
	cert, _, err := loadPair(certFile, keyFile)
	return cert, err
}

// DefaultServingSANs returns the names and addresses a serving certificate of
// this host should carry: "localhost", the host name, 127.0.0.1, ::1, every
// address of the host's interfaces that is not loopback, link-local or
// multicast, and extra (e.g. --advertise-address). Link-local addresses are
// left out because they cannot be dialled without a zone and come and go
// with every pod's veth interface, which would re-issue the certificate on
// every start. Duplicates are dropped; order is stable.
func DefaultServingSANs(extra ...net.IP) ([]string, []net.IP) {
	dnsNames := []string{"localhost"}
	if host, err := os.Hostname(); err != nil {
		klog.ErrorS(err, "Cannot read the host name for the serving certificate")
	} else if host = strings.ToLower(strings.TrimSuffix(host, ".")); host != "" && host != "localhost" {
		dnsNames = append(dnsNames, host)
	}

	var ips []net.IP
	add := func(ip net.IP) {
		if ip == nil || ip.To16() == nil || ip.IsUnspecified() {
			return
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	add(net.IPv4(127, 0, 0, 1))
	add(net.IPv6loopback)

	addrs, err := net.InterfaceAddrs()
	if err != nil {
		klog.ErrorS(err, "Cannot list interface addresses for the serving certificate")
	}
	for _, addr := range addrs {
		ipNet, ok := addr.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipNet.IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue
		}
		add(ip)
	}
	for _, ip := range extra {
		add(ip)
	}
	return dnsNames, ips
}
