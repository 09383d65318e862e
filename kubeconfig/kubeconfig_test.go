package kubeconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeshim/kubeshim/certs"
	"github.com/kubeshim/kubeshim/kubeconfig"
)

// pki is a CA with a serving certificate for 127.0.0.1/localhost and the
// admin client certificate.
type pki struct {
	ca                    *certs.Authority
	servingCert           tls.Certificate
	clientCert, clientKey []byte
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	ca, err := certs.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.LoadOrCreateServing(dir, "apiserver", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err = ca.LoadOrCreateClient(dir, "admin", "kubeshim-admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, servingCert: serving}
	if p.clientCert, err = os.ReadFile(crt); err != nil {
		t.Fatal(err)
	}
	if p.clientKey, err = os.ReadFile(key); err != nil {
		t.Fatal(err)
	}
	return p
}

// seen is what the test server learnt of its last client.
type seen struct {
	mu     sync.Mutex
	cn     string
	groups []string
}

// startServer serves TLS with p's serving certificate and demands a client
// certificate signed by clientCA.
func startServer(t *testing.T, p *pki, clientCA *x509.Certificate) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0]
		s.mu.Lock()
		s.cn, s.groups = peer.Subject.CommonName, peer.Subject.Organization
		s.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.servingCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	// Rejected handshakes are expected in some tests.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, s
}

func get(t *testing.T, cfg *rest.Config, url string) error {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	return nil
}

func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, filepath.Join(dir, "pki"))
	const server = "https://127.0.0.1:6443"
	path := filepath.Join(dir, "sub", "kubeconfig")
	if err := kubeconfig.Write(path, "kubeshim", server, p.ca.CertPEM, p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %o, want 600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("kubeconfig directory: %v, mode %v, want 700", err, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the kubeconfig (no temporary files)", len(entries))
	}

	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kubeshim" {
		t.Errorf("current-context = %q, want kubeshim", cfg.CurrentContext)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Errorf("got %d clusters, %d users, %d contexts; want one each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	cluster, user, kctx := cfg.Clusters["kubeshim"], cfg.AuthInfos["kubeshim"], cfg.Contexts["kubeshim"]
	if cluster == nil || user == nil || kctx == nil {
		t.Fatalf("cluster, user or context kubeshim missing: %+v", cfg)
	}
	if cluster.Server != server || string(cluster.CertificateAuthorityData) != string(p.ca.CertPEM) || cluster.CertificateAuthority != "" {
		t.Errorf("cluster = %+v, want server %s with embedded CA", cluster, server)
	}
	if string(user.ClientCertificateData) != string(p.clientCert) || string(user.ClientKeyData) != string(p.clientKey) ||
		user.ClientCertificate != "" || user.ClientKey != "" {
		t.Errorf("user does not embed the client certificate and key")
	}
	if kctx.Cluster != "kubeshim" || kctx.AuthInfo != "kubeshim" {
		t.Errorf("context = %+v", kctx)
	}

	restCfg, err := kubeconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.Host != server {
		t.Errorf("Host = %q, want %q", restCfg.Host, server)
	}
	if string(restCfg.CAData) != string(p.ca.CertPEM) || string(restCfg.CertData) != string(p.clientCert) || string(restCfg.KeyData) != string(p.clientKey) {
		t.Errorf("rest.Config TLS data differs from what was written")
	}
}

// TestHandshake makes real TLS requests with the rest.Config of a written
// kubeconfig against a server that requires a client certificate.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, filepath.Join(dir, "pki"))
	srv, s := startServer(t, p, p.ca.Cert)

	path := filepath.Join(dir, "kubeconfig")
	if err := kubeconfig.Write(path, "kubeshim", srv.URL, p.ca.CertPEM, p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	// The kubeconfig embeds everything: it works copied elsewhere with the
	// PKI directory gone.
	copied := filepath.Join(t.TempDir(), "config")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copied, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "pki")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		serverName string // TLS server name override; empty: the URL's host, 127.0.0.1
	}{
		{name: "by IP SAN"},
		{name: "by DNS SAN", serverName: "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := kubeconfig.Load(copied)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ServerName = tt.serverName
			if err := get(t, cfg, srv.URL+"/api"); err != nil {
				t.Fatalf("request failed: %v", err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.cn != "kubeshim-admin" || !slices.Equal(s.groups, []string{"system:masters"}) {
				t.Errorf("server saw CN=%q O=%q, want CN=kubeshim-admin O=[system:masters]", s.cn, s.groups)
			}
		})
	}

	t.Run("server name not in certificate", func(t *testing.T) {
		cfg, err := kubeconfig.Load(copied)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = "elsewhere.example"
		if err := get(t, cfg, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v, want a certificate error", err)
		}
	})
}

func TestHandshakeRejected(t *testing.T) {
	p := newPKI(t, t.TempDir())
	other := newPKI(t, t.TempDir())
	tests := []struct {
		name string
		// server trusts clientCA for clients; the kubeconfig trusts kcCA
		// and presents the client pair of from.
		clientCA *x509.Certificate
		kcCA     []byte
		from     *pki
	}{
		{name: "client certificate from another CA", clientCA: p.ca.Cert, kcCA: p.ca.CertPEM, from: other},
		{name: "server certificate from another CA", clientCA: p.ca.Cert, kcCA: other.ca.CertPEM, from: p},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := startServer(t, p, tt.clientCA)
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := kubeconfig.Write(path, "kubeshim", srv.URL, tt.kcCA, tt.from.clientCert, tt.from.clientKey); err != nil {
				t.Fatal(err)
			}
			cfg, err := kubeconfig.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := get(t, cfg, srv.URL); err == nil {
				t.Errorf("request succeeded")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.cn != "" {
				t.Errorf("handler ran for %q", s.cn)
			}
		})
	}
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kubeconfig.Write(path, "kubeshim", "https://10.0.0.1:6443", p.ca.CertPEM, p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	cfg, err := kubeconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.0.0.1:6443" {
		t.Errorf("Host = %q", cfg.Host)
	}
}

func TestWriteErrors(t *testing.T) {
	p := newPKI(t, t.TempDir())
	tests := []struct {
		name, cfgName, server string
		ca, crt, key          []byte
	}{
		{"empty name", "", "https://127.0.0.1:6443", p.ca.CertPEM, p.clientCert, p.clientKey},
		{"no server", "kubeshim", "", p.ca.CertPEM, p.clientCert, p.clientKey},
		{"no CA", "kubeshim", "https://127.0.0.1:6443", nil, p.clientCert, p.clientKey},
		{"no client certificate", "kubeshim", "https://127.0.0.1:6443", p.ca.CertPEM, nil, p.clientKey},
		{"no client key", "kubeshim", "https://127.0.0.1:6443", p.ca.CertPEM, p.clientCert, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := kubeconfig.Write(path, tt.cfgName, tt.server, tt.ca, tt.crt, tt.key); err == nil {
				t.Fatal("no error")
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("file written despite the error: %v", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, filepath.Join(dir, "pki"))
	// A hand-written kubeconfig with paths relative to its own directory.
	relative := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: pki/ca.crt
users:
- name: u
  user:
    client-certificate: pki/admin.crt
    client-key: pki/admin.key
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`
	tests := []struct {
		name     string
		content  *string // nil: no file
		wantErr  bool
		wantCert string
	}{
		{name: "missing file", wantErr: true},
		{name: "empty file", content: new(""), wantErr: true},
		{name: "not a kubeconfig", content: new("{{{"), wantErr: true},
		{name: "relative paths", content: &relative, wantCert: filepath.Join(dir, "pki", "admin.crt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "config-"+strings.ReplaceAll(tt.name, " ", "-"))
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := kubeconfig.Load(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if cfg.CertFile != tt.wantCert || cfg.CAFile != p.ca.CertFile {
				t.Errorf("CertFile = %q, CAFile = %q; want %q, %q", cfg.CertFile, cfg.CAFile, tt.wantCert, p.ca.CertFile)
			}
		})
	}
}
