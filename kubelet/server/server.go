// Package server is the kubelet's HTTPS API, as upstream's kubelet serves it on port 10250:
// /healthz, /pods, /containerLogs, and exec, attach and port-forward streams (SPDY and
// WebSocket) served directly from the container runtime through k8s.io/cri-streaming. Only
// clients whose certificate chains to the client CA and names an allowed user or group get in;
// the API server's pods/log, exec, attach and portforward subresources are its clients.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/mux"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// LogsProvider reads container logs.
type LogsProvider interface {
	// ContainerLogs writes the logs of container (namespace/pod/container) per opts to stdout
	// (and stderr, which may be the same writer). NotFound errors → 404.
	ContainerLogs(ctx context.Context, namespace, pod, container string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error
}

// StreamingRuntime runs the streams of exec, attach and port-forward. kubelet/runtime/containerd's
// *Runtime implements it.
type StreamingRuntime interface {
	// Exec runs cmd in the container; the exit code comes back as an error carrying it
	// (k8s.io/utils/exec.CodeExitError) so that kubectl gets it.
	Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Attach streams the container's own output (and input).
	Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// PortForward connects stream to port in the pod's network namespace.
	PortForward(ctx context.Context, podUID types.UID, port int32, stream io.ReadWriteCloser) error
}

// ResolveFunc finds the running container of a pod for exec and attach: namespace and pod name,
// the pod's UID when the URL has one (empty otherwise; a pod with another UID is not found), and
// the container's name. For port-forward container is empty and only podUID matters. Errors
// that are (or wrap) runtime.ErrNotFound or an API NotFound give 404.
type ResolveFunc func(namespace, pod, uid, container string) (containerID string, podUID types.UID, err error)

// Config configures a Server.
type Config struct {
	// Address is "ip:port" to listen on; port 0 picks a free one (see Addr).
	Address string
	// CertFile and KeyFile are the serving certificate and key.
	CertFile, KeyFile string
	// ClientCAFile holds the CA certificates client certificates must chain to.
	ClientCAFile string
	// AllowedUsers are the client certificate common names let in
	// ("kube-apiserver-kubelet-client"); AllowedGroups the organizations ("system:masters").
	// At least one of them must be set; any other verified client gets 403 Forbidden.
	AllowedUsers  []string
	AllowedGroups []string

	// Pods lists the pods the kubelet runs (for /pods and to find a pod's containers).
	Pods func() []*corev1.Pod
	// Logs serves /containerLogs; nil answers 501.
	Logs LogsProvider
	// Streaming serves exec, attach and port-forward; with Resolve. nil answers 501.
	Streaming StreamingRuntime
	Resolve   ResolveFunc

	// StreamIdleTimeout closes a stream without traffic for that long (default 4h as upstream).
	StreamIdleTimeout time.Duration
	// StreamCreationTimeout bounds how long a SPDY client takes to open its streams (default 30s).
	StreamCreationTimeout time.Duration
	// ShutdownTimeout is how long Run waits for requests in flight when its context ends
	// (default 5s); streams still open after it are closed.
	ShutdownTimeout time.Duration
}

// Server is the kubelet's HTTPS server.
type Server struct {
	cfg      Config
	listener *trackingListener
	srv      *http.Server
	handler  http.Handler
}

// New checks cfg, loads the certificates and listens on cfg.Address; Run serves.
func New(cfg Config) (*Server, error) {
	if cfg.Address == "" {
		return nil, errors.New("kubelet server: no address")
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("kubelet server: no serving certificate")
	}
	if cfg.ClientCAFile == "" {
		return nil, errors.New("kubelet server: no client CA")
	}
	if len(cfg.AllowedUsers) == 0 && len(cfg.AllowedGroups) == 0 {
		return nil, errors.New("kubelet server: no allowed users or groups")
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("kubelet server: client CA %s: no certificates", cfg.ClientCAFile)
	}
	tlsConfig := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// HTTP/1.1 only: SPDY and WebSocket upgrades need it.
		NextProtos: []string{"http/1.1"},
	}
	s := &Server{cfg: cfg}
	s.handler = s.authenticate(s.routes())
	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: %w", err)
	}
	s.listener = &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	s.srv = &http.Server{
		Handler:           s.handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 30 * time.Second,
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Handler is the server's handler, authentication included (it needs a TLS request).
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves until ctx ends, then shuts down: requests in flight get ShutdownTimeout, then
// every connection left (streams included) is closed.
func (s *Server) Run(ctx context.Context) error {
	s.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() {
		errc <- s.srv.Serve(tls.NewListener(s.listener, s.srv.TLSConfig))
	}()
	klog.InfoS("Kubelet server listening", "address", s.Addr().String())
	select {
	case err := <-errc:
		s.listener.closeAll()
		return fmt.Errorf("kubelet server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		klog.ErrorS(err, "Shutting down the kubelet server")
	}
	s.listener.closeAll()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return nil
}

// trackingListener remembers its connections so that Run can close hijacked (streaming) ones,
// which http.Server.Shutdown does not track.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// authenticate lets in requests whose verified client certificate names an allowed user or
// group; the TLS handshake already refused clients without a certificate from the client CA.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 || len(req.TLS.VerifiedChains[0]) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		cert := req.TLS.VerifiedChains[0][0]
		if !s.allowed(cert) {
			klog.V(2).InfoS("Kubelet server refused a client", "user", cert.Subject.CommonName,
				"groups", cert.Subject.Organization, "path", req.URL.Path)
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, path=%s)", cert.Subject.CommonName,
				req.Method, req.URL.Path), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (s *Server) allowed(cert *x509.Certificate) bool {
	if slices.Contains(s.cfg.AllowedUsers, cert.Subject.CommonName) {
		return true
	}
	for _, o := range cert.Subject.Organization {
		if slices.Contains(s.cfg.AllowedGroups, o) {
			return true
		}
	}
	return false
}

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/pods", s.getPods).Methods(http.MethodGet)
	r.HandleFunc("/pods/", s.getPods).Methods(http.MethodGet)
	r.HandleFunc("/containerLogs/{podNamespace}/{podID}/{containerName}", s.getContainerLogs).Methods(http.MethodGet)
	for _, p := range []string{"/exec/{podNamespace}/{podID}/{containerName}", "/exec/{podNamespace}/{podID}/{uid}/{containerName}"} {
		r.HandleFunc(p, s.exec).Methods(http.MethodGet, http.MethodPost)
	}
	for _, p := range []string{"/attach/{podNamespace}/{podID}/{containerName}", "/attach/{podNamespace}/{podID}/{uid}/{containerName}"} {
		r.HandleFunc(p, s.attach).Methods(http.MethodGet, http.MethodPost)
	}
	for _, p := range []string{"/portForward/{podNamespace}/{podID}", "/portForward/{podNamespace}/{podID}/{uid}"} {
		r.HandleFunc(p, s.portForward).Methods(http.MethodGet, http.MethodPost)
	}
	return r
}

// getPods answers a v1 PodList of the kubelet's pods.
func (s *Server) getPods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{}
	list.Kind, list.APIVersion = "PodList", "v1"
	list.Items = []corev1.Pod{}
	if s.cfg.Pods != nil {
		for _, p := range s.cfg.Pods() {
			list.Items = append(list.Items, *p)
		}
	}
	data, err := json.Marshal(&list)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// findPod returns the pod namespace/name from Pods.
func (s *Server) findPod(namespace, name string) *corev1.Pod {
	if s.cfg.Pods == nil {
		return nil
	}
	for _, p := range s.cfg.Pods() {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// hasContainer says whether pod's spec has a container, init or ephemeral container name.
func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// isNotFound says whether err means a missing pod or container.
func isNotFound(err error) bool {
	return errors.Is(err, runtime.ErrNotFound) || apierrors.IsNotFound(err)
}

// writeError answers err with 404 for a missing pod or container, code otherwise.
func writeError(w http.ResponseWriter, err error, code int) {
	if isNotFound(err) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}
