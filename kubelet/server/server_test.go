package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/kubeshim/kubeshim/certs"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// testEnv is a running Server with a test CA and client certificates.
type testEnv struct {
	srv        *Server
	caFile     string
	clientCert string // kube-apiserver-kubelet-client
	clientKey  string
	dir        string
	ca         *certs.Authority
	rt         *fakeRuntime
	logs       *fakeLogs
	stop       func() error // ends Run and returns its error
}

var testPods = []*corev1.Pod{
	{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "app"}, {Name: "side"}},
		},
	},
	{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "other", UID: "uid-db"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pg"}}}},
}

func resolve(namespace, pod, uid, container string) (string, types.UID, error) {
	for _, p := range testPods {
		if p.Namespace != namespace || p.Name != pod || (uid != "" && string(p.UID) != uid) {
			continue
		}
		if container == "" {
			return "", p.UID, nil
		}
		if hasContainer(p, container) {
			return "cid-" + container, p.UID, nil
		}
		return "", "", fmt.Errorf("container %q of pod %s/%s: %w", container, namespace, pod, runtime.ErrNotFound)
	}
	return "", "", fmt.Errorf("pod %s/%s: %w", namespace, pod, runtime.ErrNotFound)
}

func newTestEnv(t *testing.T, mutate func(*Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	servCert, servKey, err := ca.LoadOrCreateServing(filepath.Join(dir, "pki"), "kubelet", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := ca.LoadOrCreateClient(filepath.Join(dir, "pki"), "apiserver", "kube-apiserver-kubelet-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{caFile: ca.CertFile, clientCert: clientCert, clientKey: clientKey, dir: dir, ca: ca,
		rt: &fakeRuntime{}, logs: &fakeLogs{}}
	cfg := Config{
		Address: "127.0.0.1:0", CertFile: servCert, KeyFile: servKey, ClientCAFile: ca.CertFile,
		AllowedUsers: []string{"kube-apiserver-kubelet-client"}, AllowedGroups: []string{"system:masters"},
		Pods:      func() []*corev1.Pod { return testPods },
		Logs:      env.logs,
		Streaming: env.rt,
		Resolve:   resolve,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	var runErr error
	env.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return after its context ended")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := env.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return env
}

func (e *testEnv) url(path string) string { return "https://" + e.srv.Addr().String() + path }

// restConfig is a client-go config authenticating with the API server's kubelet client cert.
func (e *testEnv) restConfig() *restclient.Config {
	return &restclient.Config{Host: "https://" + e.srv.Addr().String(),
		TLSClientConfig: restclient.TLSClientConfig{CAFile: e.caFile, CertFile: e.clientCert, KeyFile: e.clientKey}}
}

// client is an HTTPS client with the given client certificate (none when certFile is empty).
func (e *testEnv) client(t *testing.T, certFile, keyFile string, mutate func(*tls.Config)) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tc := &tls.Config{RootCAs: pool}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if mutate != nil {
		mutate(tc)
	}
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (e *testEnv) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := e.client(t, e.clientCert, e.clientKey, nil).Get(e.url(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	env := newTestEnv(t, nil)
	good := Config{Address: "127.0.0.1:0", CertFile: env.clientCert, KeyFile: env.clientKey, ClientCAFile: env.caFile,
		AllowedUsers: []string{"x"}}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no address", func(c *Config) { c.Address = "" }},
		{"no cert", func(c *Config) { c.CertFile = "" }},
		{"no client CA", func(c *Config) { c.ClientCAFile = "" }},
		{"nobody allowed", func(c *Config) { c.AllowedUsers = nil }},
		{"missing CA file", func(c *Config) { c.ClientCAFile = filepath.Join(env.dir, "nope.crt") }},
		{"CA file without certificates", func(c *Config) { c.ClientCAFile = env.clientKey }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mutate(&cfg)
			if s, err := New(cfg); err == nil {
				s.listener.Close()
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t, nil)
	pki := filepath.Join(env.dir, "pki")
	nodeCert, nodeKey, err := env.ca.LoadOrCreateClient(pki, "node", "system:node:n1", []string{"system:nodes"})
	if err != nil {
		t.Fatal(err)
	}
	adminCert, adminKey, err := env.ca.LoadOrCreateClient(pki, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := certs.LoadOrCreateCA(filepath.Join(env.dir, "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := otherCA.LoadOrCreateClient(filepath.Join(env.dir, "other"), "stranger", "kube-apiserver-kubelet-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert, key string
		tls       func(*tls.Config)
		wantErr   bool
		wantCode  int
	}{
		{name: "allowed user", cert: env.clientCert, key: env.clientKey, wantCode: http.StatusOK},
		{name: "allowed group", cert: adminCert, key: adminKey, wantCode: http.StatusOK},
		{name: "unlisted user", cert: nodeCert, key: nodeKey, wantCode: http.StatusForbidden},
		{name: "no client certificate", wantErr: true},
		{name: "certificate from another CA", cert: strangerCert, key: strangerKey, wantErr: true},
		{name: "TLS 1.1", cert: env.clientCert, key: env.clientKey, wantErr: true,
			tls: func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client(t, tt.cert, tt.key, tt.tls).Get(env.url("/healthz"))
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with status %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == http.StatusOK && string(body) != "ok" {
				t.Errorf("body %q", body)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + env.srv.Addr().String() + "/healthz")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP got 200")
			}
		}
	})
}

func TestPods(t *testing.T) {
	env := newTestEnv(t, nil)
	code, body := env.get(t, "/pods")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 2 || list.Items[0].Name != "web" || list.Items[1].UID != "uid-db" {
		t.Fatalf("list = %+v", list)
	}
}

func TestParseLogOptions(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	since := metav1.NewTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	stdout := corev1.LogStreamStdout
	tests := []struct {
		query    string
		want     *corev1.PodLogOptions
		wantCode int
	}{
		{query: "", want: &corev1.PodLogOptions{}},
		{query: "follow=true&previous=1&timestamps=true", want: &corev1.PodLogOptions{Follow: true, Previous: true, Timestamps: true}},
		{query: "follow=false&previous=0", want: &corev1.PodLogOptions{}},
		{query: "tailLines=10&limitBytes=500", want: &corev1.PodLogOptions{TailLines: i64(10), LimitBytes: i64(500)}},
		{query: "tail=5", want: &corev1.PodLogOptions{TailLines: i64(5)}},
		{query: "tail=all", want: &corev1.PodLogOptions{}},
		{query: "sinceSeconds=30", want: &corev1.PodLogOptions{SinceSeconds: i64(30)}},
		{query: "sinceTime=2024-05-06T07:08:09Z", want: &corev1.PodLogOptions{SinceTime: &since}},
		{query: "stream=Stdout", want: &corev1.PodLogOptions{Stream: &stdout}},
		{query: "tailLines=abc", wantCode: http.StatusBadRequest},
		{query: "sinceTime=yesterday", wantCode: http.StatusBadRequest},
		{query: "tailLines=-1", wantCode: http.StatusUnprocessableEntity},
		{query: "limitBytes=0", wantCode: http.StatusUnprocessableEntity},
		{query: "sinceSeconds=0", wantCode: http.StatusUnprocessableEntity},
		{query: "sinceSeconds=5&sinceTime=2024-05-06T07:08:09Z", wantCode: http.StatusUnprocessableEntity},
		{query: "stream=Both", wantCode: http.StatusUnprocessableEntity},
		{query: "stream=Stderr&tailLines=3", wantCode: http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseLogOptions(q)
			if tt.wantCode != 0 {
				var qe *QueryError
				if !errors.As(err, &qe) || qe.Code != tt.wantCode {
					t.Fatalf("err = %v, want code %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Fatalf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

// fakeLogs writes "line 1" at once, then with follow waits for more lines on its channel
// until the request ends.
type fakeLogs struct {
	mu    sync.Mutex
	calls []string
	opts  []*corev1.PodLogOptions
	more  chan string
	err   error
}

func (f *fakeLogs) ContainerLogs(ctx context.Context, namespace, pod, container string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error {
	f.mu.Lock()
	f.calls = append(f.calls, namespace+"/"+pod+"/"+container)
	f.opts = append(f.opts, opts)
	more, err := f.more, f.err
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, "line 1\n"); err != nil {
		return err
	}
	if _, err := io.WriteString(stderr, "err 1\n"); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-more:
			if !ok {
				return nil
			}
			if _, err := io.WriteString(stdout, l); err != nil {
				return err
			}
		}
	}
}

func TestContainerLogs(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/containerLogs/default/web/app?tailLines=3&timestamps=true", http.StatusOK, "line 1\nerr 1\n"},
		{"/containerLogs/default/web/init", http.StatusOK, "line 1\nerr 1\n"},
		{"/containerLogs/default/web/app?stream=Stdout", http.StatusOK, "line 1\n"},
		{"/containerLogs/default/web/app?stream=Stderr", http.StatusOK, "err 1\n"},
		{"/containerLogs/default/nope/app", http.StatusNotFound, `pod "nope" does not exist`},
		{"/containerLogs/other/web/app", http.StatusNotFound, `pod "web" does not exist`},
		{"/containerLogs/default/web/nope", http.StatusNotFound, `container "nope" not found in pod "web"`},
		{"/containerLogs/default/web/app?tailLines=x", http.StatusBadRequest, "tailLines"},
		{"/containerLogs/default/web/app?limitBytes=-2", http.StatusUnprocessableEntity, "limitBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := env.get(t, tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	env.logs.mu.Lock()
	first := env.logs.opts[0]
	env.logs.mu.Unlock()
	if first.TailLines == nil || *first.TailLines != 3 || !first.Timestamps {
		t.Errorf("options passed: %+v", first)
	}

	t.Run("provider NotFound is 404", func(t *testing.T) {
		env.logs.mu.Lock()
		env.logs.err = fmt.Errorf("log of container app: %w", runtime.ErrNotFound)
		env.logs.mu.Unlock()
		defer func() { env.logs.mu.Lock(); env.logs.err = nil; env.logs.mu.Unlock() }()
		code, body := env.get(t, "/containerLogs/default/web/app?previous=true")
		if code != http.StatusNotFound || !strings.Contains(body, "not found") {
			t.Fatalf("got %d %q", code, body)
		}
	})
}

func TestContainerLogsFollowFlushes(t *testing.T) {
	env := newTestEnv(t, nil)
	more := make(chan string)
	env.logs.more = more
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.url("/containerLogs/default/web/app?follow=true"), nil)
	client := env.client(t, env.clientCert, env.clientKey, nil)
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	readLine := func() string {
		t.Helper()
		type res struct {
			s   string
			err error
		}
		ch := make(chan res, 1)
		go func() { s, err := rd.ReadString('\n'); ch <- res{s, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("reading: %v", r.err)
			}
			return r.s
		case <-time.After(5 * time.Second):
			t.Fatal("no line arrived: the response is not flushed")
			return ""
		}
	}
	// The provider is still running (blocked on more): these lines arrive only if flushed.
	if l := readLine(); l != "line 1\n" {
		t.Fatalf("first line %q", l)
	}
	if l := readLine(); l != "err 1\n" {
		t.Fatalf("second line %q", l)
	}
	more <- "line 2\n"
	if l := readLine(); l != "line 2\n" {
		t.Fatalf("third line %q", l)
	}
	cancel() // the client ends the follow, the provider sees its context end
}

// fakeRuntime is a StreamingRuntime whose commands are:
//
//	exit3: writes "out\n" and "err\n", exits 3;   cat: copies stdin to stdout (cat1: 1000 lines);
//	tty: reports the first terminal size;         fail: an internal error.
type fakeRuntime struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeRuntime) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeRuntime) Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	f.record(fmt.Sprintf("exec %s %v tty=%v", containerID, cmd, tty))
	switch cmd[0] {
	case "exit3":
		io.WriteString(stdout, "out\n")
		io.WriteString(stderr, "err\n")
		return utilexec.CodeExitError{Err: errors.New("command terminated with exit code 3"), Code: 3}
	case "cat":
		if stdin == nil {
			return errors.New("no stdin")
		}
		_, err := io.Copy(stdout, stdin)
		return err
	case "cat1":
		sc := bufio.NewScanner(stdin)
		for i := 0; i < 1000 && sc.Scan(); i++ {
			fmt.Fprintln(stdout, sc.Text())
		}
		return sc.Err()
	case "tty":
		if !tty || resize == nil {
			return errors.New("no tty")
		}
		select {
		case size := <-resize:
			fmt.Fprintf(stdout, "size %dx%d\n", size.Width, size.Height)
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("no resize event")
		case <-ctx.Done():
			return ctx.Err()
		}
	case "fail":
		return errors.New("boom")
	case "block":
		io.WriteString(stdout, "started\n")
		<-ctx.Done()
		return ctx.Err()
	}
	return fmt.Errorf("unknown command %v", cmd)
}

func (f *fakeRuntime) Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	f.record("attach " + containerID)
	if stdin != nil {
		return errors.New("stdin not supported")
	}
	_, err := io.WriteString(stdout, "attached to "+containerID+"\n")
	return err
}

// PortForward answers one line: "pod <uid> port <port>: <line it read>".
func (f *fakeRuntime) PortForward(ctx context.Context, podUID types.UID, port int32, stream io.ReadWriteCloser) error {
	f.record(fmt.Sprintf("portforward %s %d", podUID, port))
	line, err := bufio.NewReader(stream).ReadString('\n')
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stream, "pod %s port %d: %s", podUID, port, line)
	return err
}

type executorKind struct {
	name string
	// noStdinClose: the protocol cannot tell the server that stdin ended (WebSocket before v5).
	noStdinClose bool
	new          func(cfg *restclient.Config, u *url.URL) (clientremotecommand.Executor, error)
}

var executors = []executorKind{
	{"SPDY", false, func(cfg *restclient.Config, u *url.URL) (clientremotecommand.Executor, error) {
		return clientremotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	}},
	{"WebSocket-v5", false, func(cfg *restclient.Config, u *url.URL) (clientremotecommand.Executor, error) {
		return clientremotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	}},
	{"WebSocket-v4", true, func(cfg *restclient.Config, u *url.URL) (clientremotecommand.Executor, error) {
		return clientremotecommand.NewWebSocketExecutorForProtocols(cfg, http.MethodGet, u.String(), "v4.channel.k8s.io")
	}},
}

// fixedSize is a TerminalSizeQueue giving one size, then waiting for the session's end.
type fixedSize struct {
	once sync.Once
	done chan struct{}
}

func (q *fixedSize) Next() *clientremotecommand.TerminalSize {
	var sent bool
	q.once.Do(func() { sent = true })
	if sent {
		return &clientremotecommand.TerminalSize{Width: 120, Height: 40}
	}
	<-q.done
	return nil
}

func execURL(env *testEnv, path string, query url.Values) *url.URL {
	u, _ := url.Parse(env.url(path))
	u.RawQuery = query.Encode()
	return u
}

func TestExec(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			t.Run("exit code and output", func(t *testing.T) {
				u := execURL(env, "/exec/default/web/app", url.Values{"command": {"exit3"}, "output": {"1"}, "error": {"1"}})
				exec, err := ex.new(env.restConfig(), u)
				if err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				err = exec.StreamWithContext(context.Background(), clientremotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
				var ce clientexec.CodeExitError
				if !errors.As(err, &ce) || ce.Code != 3 {
					t.Fatalf("err = %#v, want exit code 3", err)
				}
				if stdout.String() != "out\n" || stderr.String() != "err\n" {
					t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
				}
			})
			t.Run("stdin", func(t *testing.T) {
				command := "cat"
				if ex.noStdinClose {
					command = "cat1" // reads up to its first 1000 lines, not to the end
				}
				u := execURL(env, "/exec/default/web/uid-web/side", url.Values{"command": {command}, "input": {"1"}, "output": {"1"}})
				exec, err := ex.new(env.restConfig(), u)
				if err != nil {
					t.Fatal(err)
				}
				in := strings.Repeat("hello kubeshim\n", 1000)
				var stdout bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := exec.StreamWithContext(ctx, clientremotecommand.StreamOptions{Stdin: strings.NewReader(in), Stdout: &stdout}); err != nil {
					t.Fatal(err)
				}
				if stdout.String() != in {
					t.Fatalf("stdout has %d bytes, want %d", stdout.Len(), len(in))
				}
			})
			t.Run("tty resize", func(t *testing.T) {
				u := execURL(env, "/exec/default/web/app", url.Values{"command": {"tty"}, "output": {"1"}, "tty": {"1"}})
				exec, err := ex.new(env.restConfig(), u)
				if err != nil {
					t.Fatal(err)
				}
				q := &fixedSize{done: make(chan struct{})}
				defer close(q.done)
				var stdout bytes.Buffer
				if err := exec.StreamWithContext(context.Background(), clientremotecommand.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: q}); err != nil {
					t.Fatal(err)
				}
				if stdout.String() != "size 120x40\n" {
					t.Fatalf("stdout %q", stdout.String())
				}
			})
			t.Run("internal error", func(t *testing.T) {
				u := execURL(env, "/exec/default/web/app", url.Values{"command": {"fail"}, "output": {"1"}})
				exec, err := ex.new(env.restConfig(), u)
				if err != nil {
					t.Fatal(err)
				}
				err = exec.StreamWithContext(context.Background(), clientremotecommand.StreamOptions{Stdout: io.Discard})
				if err == nil || !strings.Contains(err.Error(), "boom") {
					t.Fatalf("err = %v, want the runtime's error", err)
				}
			})
		})
	}
}

func TestAttach(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			u := execURL(env, "/attach/default/web/app", url.Values{"output": {"1"}, "error": {"1"}})
			exec, err := ex.new(env.restConfig(), u)
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			if err := exec.StreamWithContext(context.Background(), clientremotecommand.StreamOptions{Stdout: &stdout, Stderr: io.Discard}); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != "attached to cid-app\n" {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

func TestStreamingRequestErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		path     string
		wantCode int
	}{
		{"/exec/default/nope/app?command=ls&output=1", http.StatusNotFound},
		{"/exec/default/web/nope?command=ls&output=1", http.StatusNotFound},
		{"/exec/default/web/wrong-uid/app?command=ls&output=1", http.StatusNotFound},
		{"/exec/default/web/app?command=ls", http.StatusBadRequest}, // no stream asked for
		{"/attach/default/nope/app?output=1", http.StatusNotFound},
		{"/portForward/default/nope", http.StatusNotFound},
		{"/portForward/default/web/wrong-uid", http.StatusNotFound},
		{"/nowhere", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if code, body := env.get(t, tt.path); code != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", code, body, tt.wantCode)
			}
		})
	}
}

func TestPortForward(t *testing.T) {
	env := newTestEnv(t, nil)
	dialers := []struct {
		name string
		new  func(cfg *restclient.Config, u *url.URL) (httpstream.Dialer, error)
	}{
		{"SPDY", func(cfg *restclient.Config, u *url.URL) (httpstream.Dialer, error) {
			transport, upgrader, err := spdy.RoundTripperFor(cfg)
			if err != nil {
				return nil, err
			}
			return spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u), nil
		}},
		{"WebSocket tunnel", func(cfg *restclient.Config, u *url.URL) (httpstream.Dialer, error) {
			return portforward.NewSPDYOverWebsocketDialer(u, cfg)
		}},
	}
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			u, _ := url.Parse(env.url("/portForward/default/web/uid-web"))
			dialer, err := d.new(env.restConfig(), u)
			if err != nil {
				t.Fatal(err)
			}
			stop, ready := make(chan struct{}), make(chan struct{})
			out, errOut := &syncBuffer{}, &syncBuffer{}
			pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080", "0:9090"}, stop, ready, out, errOut)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- pf.ForwardPorts() }()
			defer func() {
				close(stop)
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("ForwardPorts did not return")
				}
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("ForwardPorts: %v (%s)", err, errOut.String())
			case <-time.After(10 * time.Second):
				t.Fatal("port forward not ready")
			}
			ports, err := pf.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ports {
				for i := range 2 { // two connections over one forward session
					conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.Local))
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(conn, "hello %d\n", i)
					got, err := io.ReadAll(conn)
					conn.Close()
					if err != nil {
						t.Fatal(err)
					}
					want := fmt.Sprintf("pod uid-web port %d: hello %d\n", p.Remote, i)
					if string(got) != want {
						t.Fatalf("got %q, want %q (%s)", got, want, errOut.String())
					}
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunEndsOpenStreams(t *testing.T) {
	env := newTestEnv(t, nil)
	u := execURL(env, "/exec/default/web/app", url.Values{"command": {"block"}, "output": {"1"}})
	exec, err := clientremotecommand.NewSPDYExecutor(env.restConfig(), http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- exec.StreamWithContext(context.Background(), clientremotecommand.StreamOptions{Stdout: out})
	}()
	for deadline := time.Now().Add(5 * time.Second); out.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if out.String() != "started\n" {
		t.Fatalf("the session did not start: %q", out.String())
	}
	if err := env.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-done: // the session ended with the server
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the server")
	}
}
