package certs

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/keyutil"
)

// setNow moves the package clock by d for the rest of the test.
func setNow(t *testing.T, d time.Duration) {
	t.Helper()
	orig := now
	now = func() time.Time { return orig().Add(d) }
	t.Cleanup(func() { now = orig })
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, _, err := loadPair(path, strings.TrimSuffix(path, ".crt")+".key")
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cert
}

func mustCA(t *testing.T, dir string) *Authority {
	t.Helper()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateCA: %v", err)
	}
	return ca
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

// assertOnlyFiles checks dir holds exactly names: no temporary files left.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "pki")
	ca := mustCA(t, dir)

	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, "ca.crt"), 0o600)
	assertMode(t, filepath.Join(dir, "ca.key"), 0o600)
	assertOnlyFiles(t, dir, "ca.crt", "ca.key")

	if !ca.Cert.IsCA || !ca.Cert.BasicConstraintsValid {
		t.Errorf("CA certificate is not a CA")
	}
	if ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate cannot sign certificates: key usage %v", ca.Cert.KeyUsage)
	}
	if ca.Cert.Subject.CommonName != "kubeshim-ca" {
		t.Errorf("CN = %q, want kubeshim-ca", ca.Cert.Subject.CommonName)
	}
	if v := ca.Cert.NotAfter.Sub(time.Now()); v < 10*365*24*time.Hour-time.Minute || v > 10*365*24*time.Hour+time.Minute {
		t.Errorf("CA valid for %v more, want 10 years", v)
	}
	if _, ok := ca.Key.Public().(*ecdsa.PublicKey); !ok {
		t.Errorf("CA key is %T, want ECDSA", ca.Key)
	}
	if ca.CertFile != filepath.Join(dir, "ca.crt") {
		t.Errorf("CertFile = %q", ca.CertFile)
	}
	onDisk, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != string(ca.CertPEM) {
		t.Errorf("CertPEM differs from %s", ca.CertFile)
	}

	again := mustCA(t, dir)
	if again.Cert.SerialNumber.Cmp(ca.Cert.SerialNumber) != 0 {
		t.Errorf("second call made a new CA: serial %v, first %v", again.Cert.SerialNumber, ca.Cert.SerialNumber)
	}
	if !again.Key.Public().(*ecdsa.PublicKey).Equal(ca.Key.Public()) {
		t.Errorf("second call loaded another key")
	}
}

func TestLoadOrCreateCAKeyWithoutCert(t *testing.T) {
	// A key without a certificate is the leftover of an interrupted first
	// start: a new CA replaces it.
	dir := t.TempDir()
	keyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ca := mustCA(t, dir)
	if _, _, err := loadPair(ca.CertFile, filepath.Join(dir, "ca.key")); err != nil {
		t.Errorf("CA files do not match: %v", err)
	}
}

func TestLoadOrCreateCAErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string
	}{{
		name: "key missing",
		prepare: func(t *testing.T, dir string) {
			mustCA(t, dir)
			if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
				t.Fatal(err)
			}
		},
		wantErr: "is missing",
	}, {
		name: "key of another CA",
		prepare: func(t *testing.T, dir string) {
			mustCA(t, dir)
			other := t.TempDir()
			mustCA(t, other)
			data, err := os.ReadFile(filepath.Join(other, "ca.key"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ca.key"), data, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		wantErr: "private key does not match",
	}, {
		name: "not a CA",
		prepare: func(t *testing.T, dir string) {
			other := t.TempDir()
			ca := mustCA(t, other)
			crt, key, err := ca.LoadOrCreateClient(other, "leaf", "someone", nil)
			if err != nil {
				t.Fatal(err)
			}
			copyFile(t, crt, filepath.Join(dir, "ca.crt"))
			copyFile(t, key, filepath.Join(dir, "ca.key"))
		},
		wantErr: "not a CA",
	}, {
		name: "garbage certificate",
		prepare: func(t *testing.T, dir string) {
			mustCA(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not PEM"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		wantErr: "load CA",
	}, {
		name: "expired",
		prepare: func(t *testing.T, dir string) {
			mustCA(t, dir)
			setNow(t, 11*365*24*time.Hour)
		},
		wantErr: "expired",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			_, err := LoadOrCreateCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateServing(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	certDir := filepath.Join(dir, "serving")
	dnsNames := []string{"localhost", "kubeshim.example"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP("10.1.2.3")}
	certFile, keyFile, err := ca.LoadOrCreateServing(certDir, "apiserver", dnsNames, ips)
	if err != nil {
		t.Fatal(err)
	}
	if certFile != filepath.Join(certDir, "apiserver.crt") || keyFile != filepath.Join(certDir, "apiserver.key") {
		t.Errorf("files = %s, %s", certFile, keyFile)
	}
	assertMode(t, certDir, 0o700)
	assertMode(t, certFile, 0o600)
	assertMode(t, keyFile, 0o600)
	assertOnlyFiles(t, certDir, "apiserver.crt", "apiserver.key")

	cert := readCert(t, certFile)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		host   string
		usage  x509.ExtKeyUsage
		wantOK bool
	}{
		{"localhost", x509.ExtKeyUsageServerAuth, true},
		{"KubeShim.example", x509.ExtKeyUsageServerAuth, true},
		{"127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"::1", x509.ExtKeyUsageServerAuth, true},
		{"10.1.2.3", x509.ExtKeyUsageServerAuth, true},
		{"other.example", x509.ExtKeyUsageServerAuth, false},
		{"10.1.2.4", x509.ExtKeyUsageServerAuth, false},
		{"localhost", x509.ExtKeyUsageClientAuth, false},
	}
	for _, tt := range tests {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
		if (err == nil) != tt.wantOK {
			t.Errorf("verify %s for usage %v: err = %v, want ok=%v", tt.host, tt.usage, err, tt.wantOK)
		}
	}
	if cert.IsCA {
		t.Errorf("serving certificate is a CA")
	}
	if v := cert.NotAfter.Sub(time.Now()); v < 365*24*time.Hour-time.Minute || v > 365*24*time.Hour+time.Minute {
		t.Errorf("serving certificate valid for %v more, want a year", v)
	}
}

// TestLoadOrCreateServingReuse covers when the files on disk are reused and
// when they are re-issued.
func TestLoadOrCreateServingReuse(t *testing.T) {
	baseDNS := []string{"localhost", "node-a"}
	baseIPs := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.168.1.10")}
	tests := []struct {
		name string
		// tamper changes the state after the first issue; may be nil.
		tamper      func(t *testing.T, dir string, ca *Authority)
		dnsNames    []string
		ips         []net.IP
		wantReissue bool
	}{
		{name: "same request", dnsNames: baseDNS, ips: baseIPs},
		{name: "fewer names", dnsNames: baseDNS[:1], ips: baseIPs[1:]},
		{name: "DNS name in other case", dnsNames: []string{"NODE-A"}, ips: baseIPs},
		{name: "IPv4 in 16-byte form", dnsNames: baseDNS, ips: []net.IP{net.ParseIP("192.168.1.10").To16()}},
		{name: "new DNS name", dnsNames: append(slices.Clone(baseDNS), "node-a.example"), ips: baseIPs, wantReissue: true},
		{name: "new IP", dnsNames: baseDNS, ips: append(slices.Clone(baseIPs), net.ParseIP("fd00::10")), wantReissue: true},
		{
			name:     "valid for more than 30 days",
			tamper:   func(t *testing.T, _ string, _ *Authority) { setNow(t, 300*24*time.Hour) },
			dnsNames: baseDNS, ips: baseIPs,
		},
		{
			name:     "expires within 30 days",
			tamper:   func(t *testing.T, _ string, _ *Authority) { setNow(t, 340*24*time.Hour) },
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name:     "expired",
			tamper:   func(t *testing.T, _ string, _ *Authority) { setNow(t, 400*24*time.Hour) },
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name: "signed by another CA",
			tamper: func(t *testing.T, dir string, ca *Authority) {
				// The other CA replaces the pair with one it signed.
				other := mustCA(t, t.TempDir())
				if _, _, err := other.LoadOrCreateServing(dir, "srv", baseDNS, baseIPs); err != nil {
					t.Fatal(err)
				}
			},
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name: "key does not match",
			tamper: func(t *testing.T, dir string, _ *Authority) {
				keyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "srv.key"), keyPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name: "client certificate in its place",
			tamper: func(t *testing.T, dir string, ca *Authority) {
				crt, key, err := ca.LoadOrCreateClient(dir, "client", "localhost", nil)
				if err != nil {
					t.Fatal(err)
				}
				copyFile(t, crt, filepath.Join(dir, "srv.crt"))
				copyFile(t, key, filepath.Join(dir, "srv.key"))
			},
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name: "certificate file corrupt",
			tamper: func(t *testing.T, dir string, _ *Authority) {
				if err := os.WriteFile(filepath.Join(dir, "srv.crt"), []byte("garbage"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
		{
			name: "key file removed",
			tamper: func(t *testing.T, dir string, _ *Authority) {
				if err := os.Remove(filepath.Join(dir, "srv.key")); err != nil {
					t.Fatal(err)
				}
			},
			dnsNames: baseDNS, ips: baseIPs, wantReissue: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, filepath.Join(dir, "ca"))
			crt, _, err := ca.LoadOrCreateServing(dir, "srv", baseDNS, baseIPs)
			if err != nil {
				t.Fatal(err)
			}
			first := readCert(t, crt).SerialNumber
			if tt.tamper != nil {
				tt.tamper(t, dir, ca)
			}
			crt, _, err = ca.LoadOrCreateServing(dir, "srv", tt.dnsNames, tt.ips)
			if err != nil {
				t.Fatal(err)
			}
			cert := readCert(t, crt)
			if reissued := cert.SerialNumber.Cmp(first) != 0; reissued != tt.wantReissue {
				t.Fatalf("re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			// Whatever happened, the result serves every requested name and
			// verifies against ca at the (possibly moved) current time.
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			hosts := slices.Clone(tt.dnsNames)
			for _, ip := range tt.ips {
				hosts = append(hosts, ip.String())
			}
			for _, h := range hosts {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now(),
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
					t.Errorf("verify %s: %v", h, err)
				}
			}
		})
	}
}

func TestLoadOrCreateClient(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	crt, key, err := ca.LoadOrCreateClient(dir, "admin", "kubeshim-admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, crt, 0o600)
	assertMode(t, key, 0o600)
	assertOnlyFiles(t, dir, "ca.crt", "ca.key", "admin.crt", "admin.key")
	cert := readCert(t, crt)
	if cert.Subject.CommonName != "kubeshim-admin" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject = %v, want CN=kubeshim-admin O=system:masters", cert.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify for client auth: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Errorf("client certificate verifies for server auth")
	}

	tests := []struct {
		name        string
		user        string
		groups      []string
		wantReissue bool
	}{
		{"same", "kubeshim-admin", []string{"system:masters"}, false},
		{"other user", "someone", []string{"system:masters"}, true},
		{"other groups", "kubeshim-admin", []string{"system:nodes"}, true},
		{"no groups", "kubeshim-admin", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, crt, filepath.Join(dir, "c.crt"))
			copyFile(t, key, filepath.Join(dir, "c.key"))
			got, _, err := ca.LoadOrCreateClient(dir, "c", tt.user, tt.groups)
			if err != nil {
				t.Fatal(err)
			}
			c := readCert(t, got)
			if reissued := c.SerialNumber.Cmp(cert.SerialNumber) != 0; reissued != tt.wantReissue {
				t.Errorf("re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			if c.Subject.CommonName != tt.user || !slices.Equal(c.Subject.Organization, tt.groups) {
				t.Errorf("subject = %v, want CN=%s O=%v", c.Subject, tt.user, tt.groups)
			}
		})
	}
}

func TestClientGroupsOrderIgnored(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	crt, _, err := ca.LoadOrCreateClient(dir, "node", "system:node:a", []string{"system:nodes", "extra"})
	if err != nil {
		t.Fatal(err)
	}
	first := readCert(t, crt).SerialNumber
	crt, _, err = ca.LoadOrCreateClient(dir, "node", "system:node:a", []string{"extra", "system:nodes"})
	if err != nil {
		t.Fatal(err)
	}
	if readCert(t, crt).SerialNumber.Cmp(first) != 0 {
		t.Errorf("reordered groups re-issued the certificate")
	}
}

func TestLeafDoesNotOutliveCA(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	setNow(t, 10*365*24*time.Hour-100*24*time.Hour)
	crt, _, err := ca.LoadOrCreateClient(dir, "c", "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readCert(t, crt).NotAfter; !got.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf expires %v, CA %v", got, ca.Cert.NotAfter)
	}
}

func TestRSACA(t *testing.T) {
	// A CA brought by the user may have an RSA key; kubeshim signs with it.
	dir := t.TempDir()
	key, err := rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "user-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * 365 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := encodePair(der, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	ca := mustCA(t, dir)
	if ca.Cert.SerialNumber.Int64() != 7 {
		t.Fatalf("loaded another CA")
	}
	crt, _, err := ca.LoadOrCreateServing(dir, "srv", []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := readCert(t, crt).Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	local := []string{"localhost"}
	tests := []struct {
		name string
		call func() error
	}{
		{"empty name", func() error { _, _, err := ca.LoadOrCreateServing(dir, "", local, nil); return err }},
		{"CA name", func() error { _, _, err := ca.LoadOrCreateServing(dir, "ca", local, nil); return err }},
		{"path in name", func() error { _, _, err := ca.LoadOrCreateClient(dir, "../x", "u", nil); return err }},
		{"subdirectory in name", func() error { _, _, err := ca.LoadOrCreateClient(dir, "a/b", "u", nil); return err }},
		{"dot", func() error { _, _, err := ca.LoadOrCreateClient(dir, "..", "u", nil); return err }},
		{"no SANs", func() error { _, _, err := ca.LoadOrCreateServing(dir, "s", nil, nil); return err }},
		{"empty DNS name", func() error { _, _, err := ca.LoadOrCreateServing(dir, "s", []string{""}, nil); return err }},
		{"nil IP", func() error { _, _, err := ca.LoadOrCreateServing(dir, "s", nil, []net.IP{nil}); return err }},
		{"empty user", func() error { _, _, err := ca.LoadOrCreateClient(dir, "c", "", nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Errorf("no error")
			}
		})
	}
	assertOnlyFiles(t, dir, "ca.crt", "ca.key")
}

func TestDefaultServingSANs(t *testing.T) {
	advertise := net.ParseIP("203.0.113.7")
	dnsNames, ips := DefaultServingSANs(advertise, net.ParseIP("127.0.0.1"), nil, net.IPv4zero)

	if dnsNames[0] != "localhost" {
		t.Errorf("dnsNames = %q, want localhost first", dnsNames)
	}
	if host, err := os.Hostname(); err == nil && !slices.Contains(dnsNames, strings.ToLower(host)) {
		t.Errorf("dnsNames = %q, want the host name %q", dnsNames, host)
	}
	has := func(ip net.IP) bool { return slices.ContainsFunc(ips, ip.Equal) }
	for _, want := range []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, advertise} {
		if !has(want) {
			t.Errorf("ips = %v, want %v", ips, want)
		}
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		if seen[ip.String()] {
			t.Errorf("%v listed twice in %v", ip, ips)
		}
		seen[ip.String()] = true
		if ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			t.Errorf("ips = %v holds %v", ips, ip)
		}
		if ip.IsLoopback() && !ip.Equal(net.ParseIP("127.0.0.1")) && !ip.Equal(net.IPv6loopback) {
			t.Errorf("ips = %v holds extra loopback address %v", ips, ip)
		}
	}
	// Every global address of the host is there.
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok || ipNet.IP.IsLoopback() || ipNet.IP.IsLinkLocalUnicast() || ipNet.IP.IsMulticast() {
			continue
		}
		if !has(ipNet.IP) {
			t.Errorf("ips = %v, missing interface address %v", ips, ipNet.IP)
		}
	}

	// The result is a valid request for LoadOrCreateServing.
	dir := t.TempDir()
	ca := mustCA(t, dir)
	if _, _, err := ca.LoadOrCreateServing(dir, "apiserver", dnsNames, ips); err != nil {
		t.Errorf("LoadOrCreateServing with default SANs: %v", err)
	}
}

func TestRandomSerial(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := randomSerial()
		if err != nil {
			t.Fatal(err)
		}
		if s.Sign() <= 0 || s.BitLen() > 128 {
			t.Fatalf("serial %v out of range", s)
		}
		if seen[s.String()] {
			t.Fatalf("serial %v repeated", s)
		}
		seen[s.String()] = true
	}
}

func rsaKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }
