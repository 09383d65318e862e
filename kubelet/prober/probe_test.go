package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serverPort is the port of an httptest server's URL.
func serverPort(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTPProbe(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var lastHeaders http.Header
	var lastHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastHeaders, lastHost = r.Header.Clone(), r.Host
		mu.Unlock()
		fmt.Fprint(w, "all good")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "secret stack trace")
	})
	mux.HandleFunc("/notfound", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/redirect-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-fail", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/fail", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	port := serverPort(t, srv.URL)
	// Another host name for the same server: a redirect there is not followed.
	mux.HandleFunc("/redirect-remote", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/ok", port), http.StatusFound)
	})
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	tlsPort := serverPort(t, tlsSrv.URL)

	container := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	get := func(path string, p intstr.IntOrString) *corev1.HTTPGetAction {
		return &corev1.HTTPGetAction{Path: path, Port: p}
	}
	cases := []struct {
		name        string
		action      *corev1.HTTPGetAction
		timeout     int32
		want        outcome
		wantErr     string
		wantMsg     string // substring
		notMsg      string // must not appear
		wantHeaders map[string]string
		wantHost    string
	}{
		{name: "200 by port number", action: get("/ok", intstr.FromInt32(int32(port))), want: outcomeSuccess, wantMsg: "all good",
			wantHeaders: map[string]string{"User-Agent": "kube-probe/1.37", "Accept": "*/*"}},
		{name: "named port", action: get("/ok", intstr.FromString("http")), want: outcomeSuccess},
		{name: "port number as a string", action: get("/ok", intstr.FromString(strconv.Itoa(port))), want: outcomeSuccess},
		{name: "unknown port name", action: get("/ok", intstr.FromString("metrics")), want: outcomeUnknown, wantErr: `port "metrics" not found`},
		{name: "port out of range", action: get("/ok", intstr.FromInt32(70000)), want: outcomeUnknown, wantErr: "invalid port number: 70000"},
		{name: "500 names the status, not the body", action: get("/fail", intstr.FromInt32(int32(port))), want: outcomeFailure,
			wantMsg: "HTTP probe failed with statuscode: 500", notMsg: "secret"},
		{name: "404", action: get("/notfound", intstr.FromInt32(int32(port))), want: outcomeFailure, wantMsg: "statuscode: 404"},
		{name: "redirect on the same host is followed", action: get("/redirect-local", intstr.FromInt32(int32(port))), want: outcomeSuccess, wantMsg: "all good"},
		{name: "redirect to a failing page fails", action: get("/redirect-fail", intstr.FromInt32(int32(port))), want: outcomeFailure, wantMsg: "statuscode: 500"},
		{name: "redirect to another host is not followed", action: get("/redirect-remote", intstr.FromInt32(int32(port))), want: outcomeWarning,
			wantMsg: "Probe terminated redirects, Response body: "},
		{name: "headers, host and user agent override", action: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port)),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Custom", Value: "v1"}, {Name: "user-agent", Value: "mine"}, {Name: "Host", Value: "example.test"}, {Name: "Accept", Value: ""}}},
			want: outcomeSuccess, wantHeaders: map[string]string{"X-Custom": "v1", "User-Agent": "mine", "Accept": ""}, wantHost: "example.test"},
		{name: "query string kept", action: get("/ok?x=1", intstr.FromInt32(int32(port))), want: outcomeSuccess},
		{name: "https skips verification", action: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS},
			want: outcomeSuccess, wantMsg: "all good"},
		{name: "timeout", action: get("/slow", intstr.FromInt32(int32(port))), want: outcomeFailure, wantMsg: "Client.Timeout exceeded"},
		{name: "connection refused", action: get("/ok", intstr.FromInt32(int32(closedPort(t)))), want: outcomeFailure, wantMsg: "connection refused"},
	}
	h := newHandlers(nil)
	defer h.close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 1
			}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: tc.action}, TimeoutSeconds: timeout}
			start := time.Now()
			got, msg, err := h.run(context.Background(), p, target{podIP: "127.0.0.1", container: container})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Errorf("outcome %v (%q), want %v", got, msg, tc.want)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.wantMsg)
			}
			if tc.notMsg != "" && strings.Contains(msg, tc.notMsg) {
				t.Errorf("message %q must not contain %q", msg, tc.notMsg)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("probe took %s with a 1 s timeout", time.Since(start))
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range tc.wantHeaders {
				if _, present := lastHeaders[k]; v == "" && present {
					t.Errorf("header %s sent (%q), want none", k, lastHeaders.Get(k))
				} else if v != "" && lastHeaders.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, lastHeaders.Get(k), v)
				}
			}
			if tc.wantHost != "" && lastHost != tc.wantHost {
				t.Errorf("Host %q, want %q", lastHost, tc.wantHost)
			}
		})
	}
}

func TestHTTPProbeBodyBounded(t *testing.T) {
	big := strings.Repeat("x", 3*maxOutput)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) }))
	defer srv.Close()
	h := newHandlers(nil)
	defer h.close()
	p := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(int32(serverPort(t, srv.URL)))}}}
	got, msg, err := h.run(context.Background(), p, target{podIP: "127.0.0.1", container: &corev1.Container{Name: "c"}})
	if err != nil || got != outcomeSuccess || len(msg) != maxOutput {
		t.Fatalf("got %v, %d bytes, %v; want success with %d bytes", got, len(msg), err, maxOutput)
	}
}

// closedPort is a TCP port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	container := &corev1.Container{Name: "db", Ports: []corev1.ContainerPort{{Name: "sql", ContainerPort: int32(port)}}}
	cases := []struct {
		name    string
		action  corev1.TCPSocketAction
		podIP   string
		want    outcome
		wantMsg string
		wantErr bool
	}{
		{name: "open port", action: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}, podIP: "127.0.0.1", want: outcomeSuccess},
		{name: "named port", action: corev1.TCPSocketAction{Port: intstr.FromString("sql")}, podIP: "127.0.0.1", want: outcomeSuccess},
		{name: "host given", action: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port)), Host: "127.0.0.1"}, podIP: "192.0.2.1", want: outcomeSuccess},
		{name: "closed port", action: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closedPort(t)))}, podIP: "127.0.0.1", want: outcomeFailure, wantMsg: "connection refused"},
		{name: "unknown name", action: corev1.TCPSocketAction{Port: intstr.FromString("nope")}, podIP: "127.0.0.1", want: outcomeUnknown, wantErr: true},
	}
	h := newHandlers(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			action := tc.action
			p := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{TCPSocket: &action}}
			got, msg, err := h.run(context.Background(), p, target{podIP: tc.podIP, container: container})
			if (err != nil) != tc.wantErr || got != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %v %q %v; want %v %q (error %v)", got, msg, err, tc.want, tc.wantMsg, tc.wantErr)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bareSrv := grpc.NewServer() // no health service
	go func() { _ = bareSrv.Serve(bare) }()
	defer bareSrv.Stop()

	port := int32(l.Addr().(*net.TCPAddr).Port)
	svc := func(s string) *string { return &s }
	cases := []struct {
		name    string
		action  corev1.GRPCAction
		want    outcome
		wantMsg string
	}{
		{name: "serving", action: corev1.GRPCAction{Port: port}, want: outcomeSuccess, wantMsg: "service is serving"},
		{name: "named service not serving", action: corev1.GRPCAction{Port: port, Service: svc("db")}, want: outcomeFailure,
			wantMsg: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", action: corev1.GRPCAction{Port: port, Service: svc("nope")}, want: outcomeFailure, wantMsg: "error: health rpc probe failed"},
		{name: "no health service", action: corev1.GRPCAction{Port: int32(bare.Addr().(*net.TCPAddr).Port)}, want: outcomeFailure,
			wantMsg: "does not implement the grpc health protocol"},
		{name: "nothing listening", action: corev1.GRPCAction{Port: int32(closedPort(t))}, want: outcomeFailure, wantMsg: "failed to connect service"},
	}
	h := newHandlers(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			action := tc.action
			p := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{GRPC: &action}}
			got, msg, err := h.run(context.Background(), p, target{podIP: "127.0.0.1", container: &corev1.Container{Name: "c"}})
			if err != nil || got != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %v %q %v; want %v containing %q", got, msg, err, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	type call struct {
		id      string
		cmd     []string
		timeout time.Duration
	}
	var calls []call
	fakeExec := func(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error) {
		calls = append(calls, call{id, cmd, timeout})
		switch cmd[0] {
		case "ok":
			return []byte("fine\n"), 0, nil
		case "fail":
			return []byte("it broke\n"), 2, nil
		case "big":
			return []byte(strings.Repeat("y", 2*maxOutput)), 1, nil
		case "hang": // the runtime enforces the timeout and says so
			select {
			case <-time.After(timeout):
				return nil, -1, fmt.Errorf("exec in container %s: command %q timed out after %s", id, cmd, timeout)
			case <-ctx.Done():
				return nil, -1, ctx.Err()
			}
		case "deadline":
			return nil, -1, context.DeadlineExceeded
		default:
			return nil, -1, errors.New("container not found")
		}
	}
	container := &corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "FILE", Value: "/tmp/alerts"},
		{Name: "FROM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
	cases := []struct {
		name    string
		cmd     []string
		want    outcome
		wantMsg string
		wantErr bool
		wantCmd []string
	}{
		{name: "exit 0", cmd: []string{"ok"}, want: outcomeSuccess, wantMsg: "fine\n"},
		{name: "exit 2", cmd: []string{"fail"}, want: outcomeFailure, wantMsg: "it broke\n"},
		{name: "output bounded", cmd: []string{"big"}, want: outcomeFailure, wantMsg: strings.Repeat("y", maxOutput)},
		{name: "timeout", cmd: []string{"hang", "10"}, want: outcomeFailure, wantMsg: `command "hang 10" timed out`},
		{name: "deadline error", cmd: []string{"deadline"}, want: outcomeFailure, wantMsg: `command "deadline" timed out`},
		{name: "exec error", cmd: []string{"gone"}, want: outcomeUnknown, wantErr: true},
		{name: "static env expanded", cmd: []string{"ok", "$(FILE)", "$(FROM)", "$(UNSET)", "$$(FILE)"}, want: outcomeSuccess,
			wantCmd: []string{"ok", "/tmp/alerts", "", "$(UNSET)", "$(FILE)"}},
	}
	h := newHandlers(fakeExec)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			p := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: tc.cmd}}}
			got, msg, err := h.run(context.Background(), p, target{podIP: "127.0.0.1", container: container, containerID: "ctr-1"})
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %v %q %v; want %v (error %v)", got, msg, err, tc.want, tc.wantErr)
			}
			if tc.want == outcomeFailure && tc.name == "output bounded" && len(msg) != maxOutput {
				t.Errorf("message of %d bytes, want %d", len(msg), maxOutput)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q, want %q", msg, tc.wantMsg)
			}
			if len(calls) != 1 || calls[0].id != "ctr-1" || calls[0].timeout != time.Second {
				t.Fatalf("exec calls %+v", calls)
			}
			if tc.wantCmd != nil && strings.Join(calls[0].cmd, "|") != strings.Join(tc.wantCmd, "|") {
				t.Errorf("command %q, want %q", calls[0].cmd, tc.wantCmd)
			}
		})
	}
}

func TestNoHandler(t *testing.T) {
	h := newHandlers(nil)
	got, _, err := h.run(context.Background(), &corev1.Probe{TimeoutSeconds: 1}, target{container: &corev1.Container{Name: "c"}})
	if err == nil || got != outcomeUnknown {
		t.Errorf("a probe with no handler: %v %v", got, err)
	}
}
