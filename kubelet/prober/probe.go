package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubeshim/kubeshim/kubelet/envvars"
)

// UserAgent is the User-Agent of HTTP and gRPC probes, as upstream's kubelet sends it
// ("kube-probe/MAJOR.MINOR" of the Kubernetes version served).
const UserAgent = "kube-probe/1.37"

// maxOutput bounds what a probe keeps of an exec probe's output or an HTTP response body
// (upstream's 10 KiB).
const maxOutput = 10 * 1024

// outcome is what one run of a probe handler says, as upstream's probe.Result.
type outcome int

const (
	outcomeUnknown outcome = iota
	outcomeSuccess
	outcomeWarning // a success worth an event (a redirect not followed)
	outcomeFailure
)

func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeWarning:
		return "warning"
	case outcomeFailure:
		return "failure"
	default:
		return "unknown"
	}
}

// target is what a probe handler needs to reach a container.
type target struct {
	podIP       string
	container   *corev1.Container
	containerID string
}

// handlers runs probe handlers. It is shared by every worker of a Manager.
type handlers struct {
	exec      func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, int, error)
	transport *http.Transport
}

func newHandlers(exec func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, int, error)) *handlers {
	return &handlers{
		exec: exec,
		transport: &http.Transport{
			// As upstream: probes do not verify serving certificates, use no proxy, keep no
			// connection open between probes and ask for no compression.
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes skip verification as upstream's do
			Proxy:               nil,
			DisableKeepAlives:   true,
			DisableCompression:  true,
			DialContext:         probeDialer().DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
		},
	}
}

func (h *handlers) close() { h.transport.CloseIdleConnections() }

// run runs the handler of p once against t. An error means the probe could not be run at all
// (a bad port name, an exec that did not start): the result is unknown and thrown away.
func (h *handlers) run(ctx context.Context, p *corev1.Probe, t target) (outcome, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	switch {
	case p.Exec != nil:
		return h.runExec(ctx, p.Exec, t, timeout)
	case p.HTTPGet != nil:
		return h.runHTTP(ctx, p.HTTPGet, t, timeout)
	case p.TCPSocket != nil:
		return runTCP(ctx, p.TCPSocket, t, timeout)
	case p.GRPC != nil:
		return runGRPC(ctx, p.GRPC, t, timeout)
	default:
		return outcomeUnknown, "", fmt.Errorf("missing probe handler for container %s", t.container.Name)
	}
}

// runExec runs the command in the container through Config.Exec. $(VAR) references are
// expanded with the container's literal env values only, as upstream does.
func (h *handlers) runExec(ctx context.Context, a *corev1.ExecAction, t target, timeout time.Duration) (outcome, string, error) {
	if h.exec == nil {
		return outcomeUnknown, "", errors.New("exec probe: no exec function configured")
	}
	cmd := expandCommand(a.Command, t.container.Env)
	// The runtime enforces timeout; the context deadline (a little later) bounds an exec that
	// does not come back.
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	start := time.Now()
	out, code, err := h.exec(ctx, t.containerID, cmd, timeout)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return outcomeUnknown, "", fmt.Errorf("exec probe: %w", ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) || time.Since(start) >= timeout {
			// What upstream's exec prober reports for a command that timed out.
			return outcomeFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return outcomeUnknown, "", fmt.Errorf("exec probe %q: %w", strings.Join(cmd, " "), err)
	}
	if code != 0 {
		return outcomeFailure, string(out), nil
	}
	return outcomeSuccess, string(out), nil
}

func expandCommand(cmd []string, env []corev1.EnvVar) []string {
	vals := make(map[string]string, len(env))
	for _, e := range env {
		vals[e.Name] = e.Value
	}
	mapping := envvars.MappingFor(func(name string) (string, bool) {
		v, ok := vals[name]
		return v, ok
	})
	out := make([]string, len(cmd))
	for i, c := range cmd {
		out[i] = envvars.Expand(c, mapping)
	}
	return out
}

// resolvePort resolves a probe's port: a number, a named containerPort, or a number written as a
// string (upstream's last resort).
func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	n := -1
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			v, err := strconv.Atoi(port.StrVal)
			if err != nil {
				return -1, fmt.Errorf("port %q not found in container %s: %w", port.StrVal, c.Name, err)
			}
			n = v
		}
	default:
		return -1, fmt.Errorf("port %v has no type", port)
	}
	if n <= 0 || n > 65535 {
		return n, fmt.Errorf("invalid port number: %d", n)
	}
	return n, nil
}

// httpRequest builds the GET request of an httpGet probe.
func httpRequest(ctx context.Context, a *corev1.HTTPGetAction, t target) (*http.Request, error) {
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := a.Host
	if host == "" {
		host = t.podIP
	}
	port, err := resolvePort(a.Port, t.container)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(a.Path)
	if err != nil {
		// A path that does not parse is passed along as it is, as upstream does.
		u = &url.URL{Path: a.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("http probe request: %w", err)
	}
	headers := http.Header{}
	for _, h := range a.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", UserAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		// An Accept header given empty means "send none".
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// sameHostRedirects follows redirects only to the host of the first request (upstream's
// followNonLocalRedirects=false); another host ends the chain with the redirect's response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func (h *handlers) runHTTP(ctx context.Context, a *corev1.HTTPGetAction, t target, timeout time.Duration) (outcome, string, error) {
	req, err := httpRequest(ctx, a, t)
	if err != nil {
		return outcomeUnknown, "", err
	}
	client := &http.Client{Timeout: timeout, Transport: h.transport, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return outcomeUnknown, "", fmt.Errorf("http probe: %w", ctx.Err())
		}
		return outcomeFailure, err.Error(), nil
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return outcomeFailure, fmt.Sprintf("HTTP probe failed reading the response body: %v", err), nil
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			// A redirect to another host, not followed.
			return outcomeWarning, fmt.Sprintf("Probe terminated redirects, Response body: %s", body), nil
		}
		return outcomeSuccess, string(body), nil
	}
	// As upstream (kubernetes#99425), the failure message names the status only: the body may
	// hold what the event's readers must not see.
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

func runTCP(ctx context.Context, a *corev1.TCPSocketAction, t target, timeout time.Duration) (outcome, string, error) {
	port, err := resolvePort(a.Port, t.container)
	if err != nil {
		return outcomeUnknown, "", err
	}
	host := a.Host
	if host == "" {
		host = t.podIP
	}
	d := probeDialer()
	d.Timeout = timeout
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return outcomeUnknown, "", fmt.Errorf("tcp probe: %w", ctx.Err())
		}
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}

func runGRPC(ctx context.Context, a *corev1.GRPCAction, t target, timeout time.Duration) (outcome, string, error) {
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	addr := net.JoinHostPort(t.podIP, strconv.Itoa(int(a.Port)))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithUserAgent(UserAgent),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // probes use no credentials, as upstream
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return probeDialer().DialContext(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return outcomeFailure, fmt.Sprintf("error: failed to connect service at %q: %v", addr, err), nil
	}
	defer func() { _ = conn.Close() }()
	// The connection is made by the first call: a refused one fails it with Unavailable.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return outcomeUnknown, "", fmt.Errorf("grpc probe: %w", ctx.Err())
		}
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return outcomeFailure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message()), nil
			case codes.DeadlineExceeded:
				return outcomeFailure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
			case codes.Unavailable:
				return outcomeFailure, fmt.Sprintf("error: failed to connect service at %q: %s", addr, st.Message()), nil
			}
		}
		return outcomeFailure, fmt.Sprintf("error: health rpc probe failed: %v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return outcomeFailure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return outcomeSuccess, "service is serving", nil
}
