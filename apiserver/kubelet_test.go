package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/registry/storage"
)

// startServer runs an API server on a free loopback port until the test ends and waits for
// its bootstrap.
func startServer(t *testing.T) *Server {
	t.Helper()
	backend := storage.NewBackend(storage.Options{})
	t.Cleanup(backend.Close)
	s, err := New(Options{DataDir: t.TempDir(), Storage: backend.Decorator()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(s.opts.KubeconfigPath()); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the API server did not become ready")
		}
		select {
		case err := <-done:
			t.Fatalf("the API server stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type kubeletRequest struct {
	method, path, query, clientCN string
	header                        http.Header
}

// startKubelet serves a fake kubelet with the serving certificate KubeletServing issues,
// accepting only the API server's kubelet client certificate, as a kubelet must.
// A followed log writes a line, then waits for release before the next one.
func startKubelet(t *testing.T, s *Server, node string, release <-chan struct{}) (addr *net.TCPAddr, requests func() []kubeletRequest) {
	t.Helper()
	certFile, keyFile, caFile, err := s.KubeletServing(node, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	var mu sync.Mutex
	var seen []kubeletRequest
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cert := r.TLS.PeerCertificates[0]
		mu.Lock()
		seen = append(seen, kubeletRequest{r.Method, r.URL.Path, r.URL.RawQuery, cert.Subject.CommonName, r.Header.Clone()})
		mu.Unlock()
		if cert.Subject.CommonName != KubeletClientUser || !slices.Contains(cert.Subject.Organization, KubeletClientGroup) {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/containerLogs/") {
			_, _ = io.WriteString(w, "hello from the kubelet\n")
			if r.URL.Query().Get("follow") == "true" {
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
				_, _ = io.WriteString(w, "more\n")
			}
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+r.Header.Get("Upgrade")+"\r\n\r\n")
		_, _ = io.Copy(conn, buf)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr), func() []kubeletRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func TestKubeletSubresources(t *testing.T) {
	s := startServer(t)
	cfg := s.LoopbackConfig()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		list, err := client.Discovery().ServerResourcesForGroupVersion("v1")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			kind  string
			verbs []string
		}{
			"pods/log":         {"Pod", []string{"get"}},
			"pods/exec":        {"PodExecOptions", []string{"create", "get"}},
			"pods/attach":      {"PodAttachOptions", []string{"create", "get"}},
			"pods/portforward": {"PodPortForwardOptions", []string{"create", "get"}},
		}
		for _, r := range list.APIResources {
			w, ok := want[r.Name]
			if !ok {
				continue
			}
			delete(want, r.Name)
			verbs := slices.Clone([]string(r.Verbs))
			slices.Sort(verbs)
			if r.Kind != w.kind || !slices.Equal(verbs, w.verbs) || !r.Namespaced {
				t.Errorf("%s: kind %s verbs %v namespaced %v, want %s %v", r.Name, r.Kind, verbs, r.Namespaced, w.kind, w.verbs)
			}
		}
		for name := range want {
			t.Errorf("discovery lacks %s", name)
		}
	})

	release := make(chan struct{})
	addr, requests := startKubelet(t, s, "n1", release)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "n1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(addr.Port)
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("log", func(t *testing.T) {
		out, err := client.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{TailLines: ptr.To[int64](3), Timestamps: true, LimitBytes: ptr.To[int64](100)}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "hello from the kubelet\n" {
			t.Errorf("log %q", out)
		}
		got := requests()[len(requests())-1]
		if got.path != "/containerLogs/default/p/c" || got.query != "limitBytes=100&tailLines=3&timestamps=true" || got.clientCN != KubeletClientUser {
			t.Errorf("kubelet got %+v", got)
		}
		// Stream is how kubectl reads logs (DoRaw does not decode error Statuses).
		_, err = client.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{Container: "nope"}).Stream(ctx)
		if !apierrors.IsBadRequest(err) || err.Error() != "container nope is not valid for pod p" {
			t.Errorf("unknown container: %v", err)
		}
	})

	t.Run("log follow streams", func(t *testing.T) {
		stream, err := client.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		r := bufio.NewReader(stream)
		// The first line comes through while the kubelet holds the response open.
		if line, err := r.ReadString('\n'); err != nil || line != "hello from the kubelet\n" {
			t.Fatalf("first line %q %v", line, err)
		}
		close(release)
		if rest, err := io.ReadAll(r); err != nil || string(rest) != "more\n" {
			t.Fatalf("rest %q %v", rest, err)
		}
	})

	for _, tc := range []struct {
		name, method, path, upgrade, wantPath, wantQuery string
	}{
		{"exec SPDY", http.MethodPost, "/api/v1/namespaces/default/pods/p/exec?command=ls&command=-l&stdout=true&stderr=true", "SPDY/3.1",
			"/exec/default/p/c", "command=ls&command=-l&error=1&output=1"},
		{"exec WebSocket", http.MethodGet, "/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true&stdout=true&tty=true&container=c", "websocket",
			"/exec/default/p/c", "command=sh&input=1&output=1&tty=1"},
		{"attach", http.MethodPost, "/api/v1/namespaces/default/pods/p/attach?stdout=true", "SPDY/3.1", "/attach/default/p/c", "output=1"},
		{"portforward", http.MethodGet, "/api/v1/namespaces/default/pods/p/portforward?ports=80", "websocket", "/portForward/default/p", "port=80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := upgradeThroughServer(t, s, tc.method, tc.path, tc.upgrade)
			if _, err := io.WriteString(conn, "ping"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo %q %v", buf, err)
			}
			got := requests()[len(requests())-1]
			if got.method != tc.method || got.path != tc.wantPath || got.query != tc.wantQuery || got.header.Get("Upgrade") != tc.upgrade {
				t.Errorf("kubelet got %s %s?%s upgrade %q, want %s %s?%s %q", got.method, got.path, got.query, got.header.Get("Upgrade"),
					tc.method, tc.wantPath, tc.wantQuery, tc.upgrade)
			}
		})
	}
}

// upgradeThroughServer sends an upgrade request to the API server with the loopback identity
// and checks it is switched.
func upgradeThroughServer(t *testing.T, s *Server, method, path, upgrade string) (net.Conn, *bufio.Reader) {
	t.Helper()
	cfg := s.LoopbackConfig()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAData) {
		t.Fatal("loopback config has no CA")
	}
	host := strings.TrimPrefix(cfg.Host, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool, ServerName: cfg.ServerName, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(method, cfg.Host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cfg.BearerToken)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", upgrade)
	if upgrade == "websocket" {
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
	} else {
		req.Header.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return conn, br
}

func TestKubeletServing(t *testing.T) {
	s := &Server{opts: Options{DataDir: t.TempDir()}}
	if err := s.setUpPKI(); err != nil {
		t.Fatal(err)
	}
	certFile, _, caFile, err := s.KubeletServing("node-a", []net.IP{net.IPv4(10, 1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if caFile != s.ca.CertFile {
		t.Errorf("CA file %s, want %s", caFile, s.ca.CertFile)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	cert := parseFirstCert(t, pemBytes)
	for _, name := range []string{"node-a", "localhost", "10.1.2.3", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if _, _, _, err := s.KubeletServing("", nil); err == nil {
		t.Error("empty node name accepted")
	}
	// The API server's kubelet client certificate: CN and O the kubelet checks.
	clientPEM, err := os.ReadFile(s.kubeletClientCert)
	if err != nil {
		t.Fatal(err)
	}
	client := parseFirstCert(t, clientPEM)
	if client.Subject.CommonName != KubeletClientUser || !slices.Equal(client.Subject.Organization, []string{KubeletClientGroup}) {
		t.Errorf("kubelet client certificate subject %v", client.Subject)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client certificate: %v", err)
	}
}

func parseFirstCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("no certificate in PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLongRunning(t *testing.T) {
	cases := []struct {
		verb, resource, subresource string
		want                        bool
	}{
		{"watch", "pods", "", true},
		{"list", "pods", "", false},
		{"get", "pods", "", false},
		{"get", "pods", "log", true},
		{"create", "pods", "exec", true},
		{"get", "pods", "exec", true},
		{"create", "pods", "attach", true},
		{"create", "pods", "portforward", true},
		{"create", "pods", "binding", false},
	}
	for _, tc := range cases {
		info := &request.RequestInfo{IsResourceRequest: true, Verb: tc.verb, Resource: tc.resource, Subresource: tc.subresource}
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if got := longRunning(req, info); got != tc.want {
			t.Errorf("%s %s/%s long-running = %v, want %v", tc.verb, tc.resource, tc.subresource, got, tc.want)
		}
	}
}
