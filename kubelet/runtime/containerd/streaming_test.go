package containerd

import (
	"bytes"
	"context"
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
	"k8s.io/apimachinery/pkg/types"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/kubeshim/kubeshim/certs"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
	"github.com/kubeshim/kubeshim/kubelet/server"
)

// nopCloser makes a writer an io.WriteCloser, safe for concurrent writes.
type nopCloser struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *nopCloser) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
func (w *nopCloser) Close() error { return nil }
func (w *nopCloser) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestExecStreams(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("exec-streams")
	defer removePod(t, rt, pod)
	id := startContainer(t, rt, pod, &corev1.Container{Name: "c", Command: []string{"sleep", "600"}, WorkingDir: "/tmp"},
		runtime.ContainerConfig{Env: []string{"GREETING=hi"}})
	waitState(t, rt, id, runtime.ContainerRunning, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	big := strings.Repeat("0123456789abcdef\n", 8192) // 136 KiB, more than a pipe holds
	tests := []struct {
		name       string
		cmd        []string
		stdin      string
		noStdin    bool
		wantOut    string
		wantErrOut string
		wantCode   int
	}{
		{name: "output and exit code", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
			noStdin: true, wantOut: "out\n", wantErrOut: "err\n", wantCode: 3},
		{name: "container environment and working directory", cmd: []string{"sh", "-c", "echo $GREETING; pwd"},
			noStdin: true, wantOut: "hi\n/tmp\n"},
		{name: "stdin round trip", cmd: []string{"cat"}, stdin: big, wantOut: big},
		{name: "empty stdin ends", cmd: []string{"sh", "-c", "cat; echo done"}, stdin: "", wantOut: "done\n"},
		{name: "no stdin", cmd: []string{"sh", "-c", "cat; echo done"}, noStdin: true, wantOut: "done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin io.Reader
			if !tt.noStdin {
				stdin = strings.NewReader(tt.stdin)
			}
			stdout, stderr := &nopCloser{}, &nopCloser{}
			err := rt.Exec(ctx, id, tt.cmd, stdin, stdout, stderr, false, nil)
			code := 0
			if err != nil {
				var ce utilexec.CodeExitError
				if !errors.As(err, &ce) {
					t.Fatalf("Exec: %v", err)
				}
				if _, ok := err.(utilexec.ExitError); !ok {
					t.Fatalf("the exit code error is wrapped (%T): cri-streaming will not see the code", err)
				}
				code = ce.Code
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("stdout: %d bytes %.60q, want %d bytes %.60q", len(stdout.String()), stdout.String(), len(tt.wantOut), tt.wantOut)
			}
			if stderr.String() != tt.wantErrOut {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantErrOut)
			}
		})
	}

	t.Run("tty and resize", func(t *testing.T) {
		resize := make(chan remotecommand.TerminalSize, 1)
		resize <- remotecommand.TerminalSize{Width: 300, Height: 50}
		stdout := &nopCloser{}
		// ls lays out its names in columns as wide as the terminal: in 300 columns /bin fits
		// on one line, in the default 80 it does not.
		err := rt.Exec(ctx, id, []string{"sh", "-c", "test -t 0 && test -t 1 && echo tty=$TERM; sleep 0.5; ls /bin"},
			strings.NewReader(""), stdout, nil, true, resize)
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		lines := strings.Split(strings.TrimRight(stdout.String(), "\r\n"), "\n")
		if len(lines) != 2 || strings.TrimSpace(lines[0]) != "tty=xterm" {
			t.Fatalf("output %q: want the tty line and one line of names", stdout.String())
		}
		if n := len(strings.Fields(lines[1])); n != len(busyboxApplets)+1 {
			t.Errorf("ls line has %d names, want %d: %q", n, len(busyboxApplets)+1, lines[1])
		}
	})

	t.Run("context end kills the process", func(t *testing.T) {
		cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer ccancel()
		start := time.Now()
		err := rt.Exec(cctx, id, []string{"sleep", "30"}, nil, &nopCloser{}, &nopCloser{}, false, nil)
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("Exec returned %v after %s", err, time.Since(start))
		}
	})

	t.Run("missing container", func(t *testing.T) {
		err := rt.Exec(ctx, "nope", []string{"true"}, nil, &nopCloser{}, nil, false, nil)
		if !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("Exec: %v", err)
		}
	})
}

func TestAttachFollowsOutput(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("attach")
	defer removePod(t, rt, pod)
	id := startContainer(t, rt, pod, &corev1.Container{Name: "c", Command: []string{"sh", "-c",
		"echo before; sleep 1; echo one; echo two >&2; printf partial; sleep 0.5; exit 0"}}, runtime.ContainerConfig{})
	waitState(t, rt, id, runtime.ContainerRunning, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := rt.Attach(ctx, id, strings.NewReader("x"), &nopCloser{}, nil, false, nil); !errors.Is(err, ErrAttachStdin) {
		t.Fatalf("Attach with stdin: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // "before" is in the log: attach starts after it
	stdout, stderr := &nopCloser{}, &nopCloser{}
	if err := rt.Attach(ctx, id, nil, stdout, stderr, false, nil); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	// The logger ends the last, unterminated line at the container's exit (as CRI loggers do):
	// "partial" is a full entry, as kubectl logs shows it too.
	if stdout.String() != "one\npartial\n" || stderr.String() != "two\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	waitState(t, rt, id, runtime.ContainerExited, 5*time.Second)
	if err := rt.Attach(ctx, id, nil, &nopCloser{}, nil, false, nil); err == nil {
		t.Fatal("Attach to an exited container succeeded")
	}
}

func TestSplitCRILine(t *testing.T) {
	tests := []struct {
		line, stream, content string
		full, ok              bool
	}{
		{"2024-01-01T00:00:00.000000000Z stdout F hello world", "stdout", "hello world", true, true},
		{"2024-01-01T00:00:00.000000000Z stderr P part", "stderr", "part", false, true},
		{"2024-01-01T00:00:00.000000000Z stdout F", "stdout", "", true, true},
		{"garbage", "", "", false, false},
	}
	for _, tt := range tests {
		stream, content, full, ok := splitCRILine(tt.line)
		if stream != tt.stream || content != tt.content || full != tt.full || ok != tt.ok {
			t.Errorf("%q: got %q %q %v %v", tt.line, stream, content, full, ok)
		}
	}
}

func TestPortForwardInPodNetns(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("portforward")
	defer removePod(t, rt, pod)
	id := startContainer(t, rt, pod, &corev1.Container{Name: "web", Command: []string{"sh", "-c",
		"mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"}},
		runtime.ContainerConfig{})
	waitState(t, rt, id, runtime.ContainerRunning, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	get := func() (string, error) {
		client, server := net.Pipe()
		defer client.Close()
		errc := make(chan error, 1)
		go func() { errc <- rt.PortForward(ctx, pod.UID, 8080, server); server.Close() }()
		go func() {
			fmt.Fprint(client, "GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
		}()
		resp, readErr := io.ReadAll(client)
		if err := <-errc; err != nil {
			return "", err
		}
		return string(resp), readErr
	}
	var resp string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err = get(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	if !strings.HasPrefix(resp, "HTTP/1.") || !strings.Contains(resp, "hello-from-pod") {
		t.Fatalf("response %q", resp)
	}
	// The port is bound to the pod's loopback only: not reachable from the test's namespace.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8080", time.Second); err == nil {
		c.Close()
		t.Fatal("127.0.0.1:8080 answers outside the pod")
	}
	if err := rt.PortForward(ctx, pod.UID, 9999, &nopRWC{}); err == nil {
		t.Fatal("PortForward to a closed port succeeded")
	}
	if err := rt.PortForward(ctx, "no-such-pod", 8080, &nopRWC{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("PortForward to a missing pod: %v", err)
	}
}

type nopRWC struct{}

func (nopRWC) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopRWC) Write(p []byte) (int, error) { return len(p), nil }
func (nopRWC) Close() error                { return nil }

// TestServerOverContainerd drives the kubelet server (kubelet/server) on this runtime with
// client-go, as the API server's proxy does: exec with stdin and exit codes over SPDY and
// WebSocket, and port-forward to a port bound to the pod's loopback.
func TestServerOverContainerd(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("served")
	defer removePod(t, rt, pod)
	shell := startContainer(t, rt, pod, &corev1.Container{Name: "shell", Command: []string{"sleep", "600"}}, runtime.ContainerConfig{})
	startContainer(t, rt, pod, &corev1.Container{Name: "web", Command: []string{"sh", "-c",
		"mkdir -p /www && echo served-by-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"}},
		runtime.ContainerConfig{})
	waitState(t, rt, shell, runtime.ContainerRunning, 5*time.Second)

	dir := t.TempDir()
	ca, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	servCert, servKey, err := ca.LoadOrCreateServing(dir, "kubelet", nil, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := ca.LoadOrCreateClient(dir, "apiserver", "kube-apiserver-kubelet-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(namespace, name, uid, container string) (string, types.UID, error) {
		cs, err := rt.ListContainers(context.Background())
		if err != nil {
			return "", "", err
		}
		for _, c := range cs {
			if c.PodNamespace == namespace && c.PodName == name && (uid == "" || string(c.PodUID) == uid) &&
				(container == "" || c.Name == container) && c.State == runtime.ContainerRunning {
				return c.ID, c.PodUID, nil
			}
		}
		return "", "", fmt.Errorf("container %q of pod %s/%s: %w", container, namespace, name, runtime.ErrNotFound)
	}
	srv, err := server.New(server.Config{Address: "127.0.0.1:0", CertFile: servCert, KeyFile: servKey, ClientCAFile: ca.CertFile,
		AllowedUsers: []string{"kube-apiserver-kubelet-client"}, Streaming: rt, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	cfg := &restclient.Config{Host: "https://" + srv.Addr().String(),
		TLSClientConfig: restclient.TLSClientConfig{CAFile: ca.CertFile, CertFile: clientCert, KeyFile: clientKey}}
	base := "https://" + srv.Addr().String()

	executors := map[string]func(u *url.URL) (clientremotecommand.Executor, error){
		"SPDY": func(u *url.URL) (clientremotecommand.Executor, error) {
			return clientremotecommand.NewSPDYExecutor(cfg, "POST", u)
		},
		"WebSocket-v5": func(u *url.URL) (clientremotecommand.Executor, error) {
			return clientremotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		},
	}
	for name, newExec := range executors {
		t.Run(name, func(t *testing.T) {
			run := func(cmd []string, stdin io.Reader) (string, string, error) {
				q := url.Values{"command": cmd, "output": {"1"}, "error": {"1"}}
				if stdin != nil {
					q.Set("input", "1")
				}
				u, _ := url.Parse(base + "/exec/" + pod.Namespace + "/" + pod.Name + "/shell?" + q.Encode())
				ex, err := newExec(u)
				if err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer scancel()
				err = ex.StreamWithContext(sctx, clientremotecommand.StreamOptions{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
				return stdout.String(), stderr.String(), err
			}
			out, errOut, err := run([]string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil)
			var ce clientexec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 3 || out != "out\n" || errOut != "err\n" {
				t.Fatalf("exit 3: %q %q %v", out, errOut, err)
			}
			data := strings.Repeat("kubectl cp is tar over exec\n", 4000)
			if out, _, err := run([]string{"sh", "-c", "cat > /tmp/copy-" + name + " && cat /tmp/copy-" + name}, strings.NewReader(data)); err != nil || out != data {
				t.Fatalf("stdin round trip: %d bytes, %v", len(out), err)
			}
		})
	}

	t.Run("port-forward", func(t *testing.T) {
		u, _ := url.Parse(base + "/portForward/" + pod.Namespace + "/" + pod.Name)
		transport, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
		stop, ready := make(chan struct{}), make(chan struct{})
		pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- pf.ForwardPorts() }()
		defer func() { close(stop); <-done }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("ForwardPorts: %v", err)
		}
		ports, err := pf.GetPorts()
		if err != nil {
			t.Fatal(err)
		}
		var body string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", ports[0].Local))
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); resp.StatusCode == http.StatusOK {
				break
			}
		}
		if body != "served-by-pod\n" {
			t.Fatalf("body %q", body)
		}
	})
}

func TestLogFollowerFromEndAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendLog := func(p, s string) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	const ts = "2024-01-01T00:00:00.000000000Z"
	appendLog(path, ts+" stdout F old line\n")
	stdout, stderr := &nopCloser{}, &nopCloser{}
	f := &logFollower{path: path, stdout: stdout, stderr: stderr}
	if err := f.open(true); err != nil {
		t.Fatal(err)
	}
	defer f.close()
	steps := []struct {
		write            string
		rotate           bool
		wantOut, wantErr string
	}{
		{write: ts + " stdout F new\n" + ts + " stderr F oops\n", wantOut: "new\n", wantErr: "oops\n"},
		{write: ts + " stdout P hal", wantOut: "new\n", wantErr: "oops\n"}, // an unfinished line waits
		{write: "f\n" + ts + " stdout F done\n", wantOut: "new\nhalfdone\n", wantErr: "oops\n"},
		{write: ts + " stdout F after rotation\n", rotate: true, wantOut: "new\nhalfdone\nafter rotation\n", wantErr: "oops\n"},
	}
	for i, st := range steps {
		if st.rotate {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
		}
		appendLog(path, st.write)
		if err := f.poll(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if stdout.String() != st.wantOut || stderr.String() != st.wantErr {
			t.Fatalf("step %d: stdout %q stderr %q", i, stdout.String(), stderr.String())
		}
	}
}
