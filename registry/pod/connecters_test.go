package pod

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/apis"
	"github.com/kubeshim/kubeshim/certs"
	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const (
	testKubeletUser  = "kube-apiserver-kubelet-client"
	testKubeletGroup = "system:masters"
)

// seen is one request the fake kubelet received.
type seen struct {
	method, path, query string
	header              http.Header
	clientCN            string
	clientOrg           []string
}

// fakeKubelet is an HTTPS server standing for a kubelet: it requires a client certificate from
// the test CA, records every request and answers with handler.
type fakeKubelet struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []seen
	handler http.HandlerFunc
}

func (k *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone()}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s.clientCN = r.TLS.PeerCertificates[0].Subject.CommonName
		s.clientOrg = r.TLS.PeerCertificates[0].Subject.Organization
	}
	k.mu.Lock()
	k.seen = append(k.seen, s)
	h := k.handler
	k.mu.Unlock()
	h(w, r)
}

func (k *fakeKubelet) last(t *testing.T) seen {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.seen) == 0 {
		t.Fatal("the kubelet got no request")
	}
	return k.seen[len(k.seen)-1]
}

func (k *fakeKubelet) setHandler(h http.HandlerFunc) {
	k.mu.Lock()
	k.handler = h
	k.mu.Unlock()
}

func (k *fakeKubelet) port(t *testing.T) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(k.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// pki is a cluster CA with the API server's kubelet client certificate.
type pki struct {
	dir                   string
	ca                    *certs.Authority
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.LoadOrCreateClient(dir, "apiserver-kubelet-client", testKubeletUser, []string{testKubeletGroup})
	if err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir, ca: ca, clientCert: cert, clientKey: key}
}

// startKubelet serves a fake kubelet with a serving certificate from servingCA for dns and
// ips; it trusts client certificates of clientCA.
func startKubelet(t *testing.T, servingCA, clientCA *certs.Authority, dns []string, ips []net.IP) *fakeKubelet {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := servingCA.LoadOrCreateServing(dir, "kubelet", dns, ips)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	k := &fakeKubelet{handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }}
	k.srv = httptest.NewUnstartedServer(k)
	k.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	return k
}

// nodeGetter serves nodes from a map.
type nodeGetter map[string]*corev1.Node

func (g nodeGetter) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if n, ok := g[name]; ok {
		return n.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
}

func kubeletNode(name string, port int32, addrs ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = addrs
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func internalIP(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

// env is a pod storage, a node n1 whose kubelet is a fake and the four kubelet subresources.
type env struct {
	pods    map[string]rest.Storage
	kubelet *fakeKubelet
	conn    *NodeConnectionInfoGetter
	subs    map[string]rest.Storage
	nodes   nodeGetter
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p := newPKI(t)
	k := startKubelet(t, p.ca, p.ca, []string{"localhost", "n1"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	nodes := nodeGetter{"n1": kubeletNode("n1", k.port(t), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n1"}, internalIP("127.0.0.1"))}
	conn, err := NewNodeConnectionInfoGetter(nodes, KubeletClientConfig{CAData: p.ca.CertPEM, CertFile: p.clientCert, KeyFile: p.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	s := podStorages(t)
	return &env{pods: s, kubelet: k, conn: conn, nodes: nodes, subs: KubeletStorages(s["pods"].(rest.Getter), conn)}
}

func (e *env) logs(name string, opts *corev1.PodLogOptions) (*genericrest.LocationStreamer, error) {
	obj, err := e.subs["pods/log"].(rest.GetterWithOptions).Get(rt.Context(ns), name, opts)
	if err != nil {
		return nil, err
	}
	return obj.(*genericrest.LocationStreamer), nil
}

func setStatuses(t *testing.T, s map[string]rest.Storage, name string, statuses ...corev1.ContainerStatus) {
	t.Helper()
	if _, err := rt.Mutate(rt.Context(ns), s["pods/status"], name, func(o runtime.Object) {
		o.(*corev1.Pod).Status.ContainerStatuses = statuses
	}); err != nil {
		t.Fatalf("set statuses: %v", err)
	}
}

func multiPod(name string, annotations map[string]string) *corev1.Pod {
	p := newPod(name, "n1")
	p.Annotations = annotations
	p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "busybox"}, {Name: "sidecar", Image: "busybox"}}
	return p
}

func TestQueryDecoding(t *testing.T) {
	since := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cases := []struct {
		name  string
		query url.Values
		into  runtime.Object
		want  runtime.Object
	}{{
		name: "exec",
		query: url.Values{"command": {"sh", "-c", "echo hi"}, "stdin": {"true"}, "stdout": {"1"},
			"stderr": {"false"}, "tty": {"0"}, "container": {"app"}},
		into: &corev1.PodExecOptions{},
		want: &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo hi"}, Stdin: true, Stdout: true, Container: "app"},
	}, {
		name:  "attach",
		query: url.Values{"stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}, "tty": {"true"}, "container": {"c"}},
		into:  &corev1.PodAttachOptions{},
		want:  &corev1.PodAttachOptions{Stdin: true, Stdout: true, Stderr: true, TTY: true, Container: "c"},
	}, {
		name:  "portforward",
		query: url.Values{"ports": {"80,8080", "443"}},
		into:  &corev1.PodPortForwardOptions{},
		want:  &corev1.PodPortForwardOptions{Ports: []int32{80, 8080, 443}},
	}, {
		name: "log, every option",
		query: url.Values{"container": {"c"}, "follow": {"true"}, "previous": {"true"}, "timestamps": {"true"},
			"sinceSeconds": {"10"}, "sinceTime": {since.Format(time.RFC3339)}, "tailLines": {"5"}, "limitBytes": {"100"},
			"insecureSkipTLSVerifyBackend": {"true"}, "stream": {"Stderr"}},
		into: &corev1.PodLogOptions{},
		want: &corev1.PodLogOptions{Container: "c", Follow: true, Previous: true, Timestamps: true,
			SinceSeconds: ptr.To[int64](10), SinceTime: &metav1.Time{Time: since.Local()}, TailLines: ptr.To[int64](5),
			LimitBytes: ptr.To[int64](100), InsecureSkipTLSVerifyBackend: true, Stream: ptr.To("Stderr")},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := apis.ParameterCodec.DecodeParameters(tc.query, corev1.SchemeGroupVersion, tc.into); err != nil {
				t.Fatalf("decode %v: %v", tc.query, err)
			}
			if fmt.Sprintf("%+v", tc.into) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", tc.into, tc.want)
			}
		})
	}
	for _, bad := range []url.Values{{"tailLines": {"x"}}, {"sinceTime": {"yesterday"}}, {"limitBytes": {"1.5"}}} {
		if err := apis.ParameterCodec.DecodeParameters(bad, corev1.SchemeGroupVersion, &corev1.PodLogOptions{}); err == nil {
			t.Errorf("decode %v: no error", bad)
		}
	}
	if err := apis.ParameterCodec.DecodeParameters(url.Values{"ports": {"http"}}, corev1.SchemeGroupVersion, &corev1.PodPortForwardOptions{}); err == nil {
		t.Error("port forward to a named port decoded")
	}
}

func TestValidatePodLogOptions(t *testing.T) {
	all, stdout, bogus := ptr.To(corev1.LogStreamAll), ptr.To(corev1.LogStreamStdout), ptr.To("Both")
	cases := []struct {
		name string
		opts corev1.PodLogOptions
		want []string
	}{
		{name: "valid", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](0), LimitBytes: ptr.To[int64](1), SinceSeconds: ptr.To[int64](1), Stream: all}},
		{name: "negative tail", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](-1), Stream: all}, want: []string{"tailLines: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "zero limit", opts: corev1.PodLogOptions{LimitBytes: ptr.To[int64](0), Stream: all}, want: []string{"limitBytes: Invalid value: 0: must be greater than 0"}},
		{name: "zero since", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](0), Stream: all}, want: []string{"sinceSeconds: Invalid value: 0: must be greater than 0"}},
		{name: "both since", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](5), SinceTime: &metav1.Time{Time: time.Now()}, Stream: all},
			want: []string{"Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"}},
		{name: "bad stream", opts: corev1.PodLogOptions{Stream: bogus}, want: []string{`stream: Unsupported value: "Both"`}},
		{name: "stream and tail", opts: corev1.PodLogOptions{Stream: stdout, TailLines: ptr.To[int64](3)},
			want: []string{"Forbidden: `tailLines` and specific `stream` are mutually exclusive for now"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidatePodLogOptions(&tc.opts)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %d", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q lacks %q", errs[i].Error(), w)
				}
			}
		})
	}
}

func TestLogLocationQuery(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("p", "n1"))
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		opts corev1.PodLogOptions
		want url.Values
	}{
		{name: "none", want: url.Values{}},
		{name: "every option", opts: corev1.PodLogOptions{Follow: true, Previous: true, Timestamps: true, SinceSeconds: ptr.To[int64](30),
			TailLines: ptr.To[int64](10), LimitBytes: ptr.To[int64](512)},
			want: url.Values{"follow": {"true"}, "previous": {"true"}, "timestamps": {"true"}, "sinceSeconds": {"30"}, "tailLines": {"10"}, "limitBytes": {"512"}}},
		{name: "since time", opts: corev1.PodLogOptions{SinceTime: &metav1.Time{Time: since}}, want: url.Values{"sinceTime": {"2026-01-02T03:04:05Z"}}},
		{name: "one stream", opts: corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamStderr)}, want: url.Values{"stream": {"Stderr"}}},
		{name: "all streams", opts: corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamAll)}, want: url.Values{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.logs("p", &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			loc := s.Location
			wantHost := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(e.kubelet.port(t))))
			if loc.Scheme != "https" || loc.Host != wantHost || loc.Path != "/containerLogs/ns/p/c" {
				t.Errorf("location %s, want https://%s/containerLogs/ns/p/c", loc, wantHost)
			}
			if got := loc.Query(); got.Encode() != tc.want.Encode() {
				t.Errorf("query %q, want %q", got.Encode(), tc.want.Encode())
			}
			if s.Flush != tc.opts.Follow || s.ContentType != "text/plain" || s.RedirectChecker == nil {
				t.Errorf("streamer flush %v content type %q redirect checker set %v", s.Flush, s.ContentType, s.RedirectChecker != nil)
			}
		})
	}
	if _, err := e.logs("p", &corev1.PodLogOptions{TailLines: ptr.To[int64](-3)}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), `PodLogOptions "p" is invalid: tailLines`) {
		t.Errorf("negative tailLines: %v, want Invalid PodLogOptions", err)
	}
}

func TestContainerDefaulting(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("single", "n1"))
	create(t, e.pods, multiPod("multi", nil))
	create(t, e.pods, multiPod("annotated", map[string]string{DefaultContainerAnnotation: "sidecar"}))
	create(t, e.pods, multiPod("stale-annotation", map[string]string{DefaultContainerAnnotation: "gone"}))
	cases := []struct {
		pod, container string
		wantPath       string
		wantErr        string
	}{
		{pod: "single", wantPath: "/containerLogs/ns/single/c"},
		{pod: "single", container: "c", wantPath: "/containerLogs/ns/single/c"},
		{pod: "multi", wantErr: "a container name must be specified for pod multi, choose one of: [setup app sidecar]"},
		{pod: "multi", container: "setup", wantPath: "/containerLogs/ns/multi/setup"},
		{pod: "multi", container: "nope", wantErr: "container nope is not valid for pod multi"},
		{pod: "annotated", wantPath: "/containerLogs/ns/annotated/sidecar"},
		{pod: "annotated", container: "app", wantPath: "/containerLogs/ns/annotated/app"},
		{pod: "stale-annotation", wantErr: "a container name must be specified for pod stale-annotation, choose one of: [setup app sidecar]"},
	}
	for _, tc := range cases {
		t.Run(tc.pod+"/"+tc.container, func(t *testing.T) {
			s, err := e.logs(tc.pod, &corev1.PodLogOptions{Container: tc.container})
			if tc.wantErr != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want BadRequest %q", err, tc.wantErr)
				}
				// exec and attach default the same way.
				_, _, err = ExecLocation(rt.Context(ns), e.pods["pods"].(rest.Getter), e.conn, tc.pod, &corev1.PodExecOptions{Container: tc.container, Command: []string{"ls"}})
				if !apierrors.IsBadRequest(err) || err.Error() != tc.wantErr {
					t.Errorf("exec error %v, want BadRequest %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Location.Path != tc.wantPath {
				t.Errorf("path %s, want %s", s.Location.Path, tc.wantPath)
			}
		})
	}
	if _, err := resolveContainer(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, ""); err == nil || err.Error() != "a container name must be specified for pod empty" {
		t.Errorf("pod without containers: %v", err)
	}
	if _, err := e.logs("missing", &corev1.PodLogOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v, want NotFound", err)
	}
}

func TestPodNotScheduled(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("pending", ""))
	// As upstream: the log of a pod no node runs is empty.
	s, err := e.logs("pending", &corev1.PodLogOptions{})
	if err != nil {
		t.Fatalf("log of an unscheduled pod: %v", err)
	}
	if s.Location != nil {
		t.Errorf("location %v, want none", s.Location)
	}
	if stream, _, _, err := s.InputStream(context.Background(), "v1", "text/plain"); stream != nil || err != nil {
		t.Errorf("stream %v err %v, want an empty stream", stream, err)
	}
	getter := e.pods["pods"].(rest.Getter)
	ctx := rt.Context(ns)
	want := "pod pending does not have a host assigned"
	for name, locate := range map[string]func() error{
		"exec": func() error {
			_, _, err := ExecLocation(ctx, getter, e.conn, "pending", &corev1.PodExecOptions{Command: []string{"ls"}})
			return err
		},
		"attach": func() error {
			_, _, err := AttachLocation(ctx, getter, e.conn, "pending", &corev1.PodAttachOptions{})
			return err
		},
		"portforward": func() error {
			_, _, err := PortForwardLocation(ctx, getter, e.conn, "pending", &corev1.PodPortForwardOptions{})
			return err
		},
	} {
		if err := locate(); !apierrors.IsBadRequest(err) || err.Error() != want {
			t.Errorf("%s: %v, want BadRequest %q", name, err, want)
		}
	}
}

func TestWaitingContainer(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("p", "n1"))
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	crashed := waiting("CrashLoopBackOff")
	crashed.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://x"}
	running := corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	cases := []struct {
		name     string
		status   corev1.ContainerStatus
		previous bool
		wantErr  string
	}{
		{name: "creating", status: waiting("ContainerCreating"), wantErr: `container "c" in pod "p" is waiting to start: ContainerCreating`},
		{name: "pull error", status: waiting("ErrImagePull"), wantErr: `container "c" in pod "p" is waiting to start: image can't be pulled`},
		{name: "pull back-off", status: waiting("ImagePullBackOff"), wantErr: `container "c" in pod "p" is waiting to start: trying and failing to pull image`},
		{name: "previous of a waiting container goes to the kubelet", status: waiting("ContainerCreating"), previous: true},
		{name: "crash loop has a log", status: crashed},
		{name: "running", status: running},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setStatuses(t, e.pods, "p", tc.status)
			s, err := e.logs("p", &corev1.PodLogOptions{Previous: tc.previous})
			if tc.wantErr != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want BadRequest %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || s.Location == nil {
				t.Fatalf("streamer %v, error %v; want a kubelet location", s, err)
			}
		})
	}
}

func TestLogStreamFromKubelet(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("p", "n1"))
	release := make(chan struct{})
	e.kubelet.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first line\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "second line\n")
	})
	s, err := e.logs("p", &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](2)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, flush, contentType, err := s.InputStream(ctx, "v1", "text/plain")
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer stream.Close()
	if !flush || contentType != "text/plain" {
		t.Errorf("flush %v content type %q", flush, contentType)
	}
	r := bufio.NewReader(stream)
	// The first line arrives while the kubelet still holds the response open: it streams.
	if line, err := r.ReadString('\n'); err != nil || line != "first line\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	if rest, err := io.ReadAll(r); err != nil || string(rest) != "second line\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	got := e.kubelet.last(t)
	if got.path != "/containerLogs/ns/p/c" || got.query != "follow=true&tailLines=2" {
		t.Errorf("kubelet got %s?%s", got.path, got.query)
	}
	if got.clientCN != testKubeletUser || len(got.clientOrg) != 1 || got.clientOrg[0] != testKubeletGroup {
		t.Errorf("client certificate CN %q O %v, want %s in %s", got.clientCN, got.clientOrg, testKubeletUser, testKubeletGroup)
	}
}

func TestKubeletErrorResponses(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("p", "n1"))
	cases := []struct {
		name        string
		code        int
		contentType string
		body        string
		check       func(error) bool
		wantMsg     string
	}{
		{name: "bad request text", code: 400, contentType: "text/plain", body: "previous terminated container \"c\" in pod \"p\" not found\n",
			check: apierrors.IsBadRequest, wantMsg: `previous terminated container "c" in pod "p" not found`},
		{name: "not found", code: 404, contentType: "text/plain", body: "pod not found",
			check: apierrors.IsNotFound, wantMsg: "the server could not find the requested resource ( pods/log p)"},
		{name: "forbidden", code: 403, contentType: "text/plain", body: "Forbidden (user=someone, verb=get, resource=nodes, subresource=log)",
			check: apierrors.IsForbidden, wantMsg: "Forbidden (user=someone, verb=get, resource=nodes, subresource=log) ( pods/log p)"},
		{name: "internal", code: 500, contentType: "text/plain", body: "runtime exploded",
			check: apierrors.IsInternalError, wantMsg: "Internal error occurred: runtime exploded"},
		{name: "status object", code: 400, contentType: "application/json",
			body:  `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"container \"c\" in pod \"p\" is waiting to start: ContainerCreating","reason":"BadRequest","code":400}`,
			check: apierrors.IsBadRequest, wantMsg: `container "c" in pod "p" is waiting to start: ContainerCreating`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.kubelet.setHandler(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.body)
			})
			s, err := e.logs("p", &corev1.PodLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			stream, _, _, err := s.InputStream(context.Background(), "v1", "text/plain")
			if stream != nil {
				stream.Close()
			}
			if err == nil || !tc.check(err) || err.Error() != tc.wantMsg {
				t.Errorf("error %v (%T), want %q", err, err, tc.wantMsg)
			}
		})
	}
}

func TestStreamLocations(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, multiPod("p", nil))
	getter := e.pods["pods"].(rest.Getter)
	ctx := rt.Context(ns)
	port := strconv.Itoa(int(e.kubelet.port(t)))
	cases := []struct {
		name   string
		locate func() (*url.URL, http.RoundTripper, error)
		want   string
	}{
		{name: "exec", locate: func() (*url.URL, http.RoundTripper, error) {
			return ExecLocation(ctx, getter, e.conn, "p", &corev1.PodExecOptions{Container: "app", Command: []string{"sh", "-c", "echo a b"}, Stdin: true, Stdout: true, Stderr: true, TTY: true})
		}, want: "https://127.0.0.1:" + port + "/exec/ns/p/app?command=sh&command=-c&command=echo+a+b&error=1&input=1&output=1&tty=1"},
		{name: "exec stdout only", locate: func() (*url.URL, http.RoundTripper, error) {
			return ExecLocation(ctx, getter, e.conn, "p", &corev1.PodExecOptions{Container: "sidecar", Command: []string{"date"}, Stdout: true})
		}, want: "https://127.0.0.1:" + port + "/exec/ns/p/sidecar?command=date&output=1"},
		{name: "attach", locate: func() (*url.URL, http.RoundTripper, error) {
			return AttachLocation(ctx, getter, e.conn, "p", &corev1.PodAttachOptions{Container: "app", Stdin: true, Stdout: true, TTY: true})
		}, want: "https://127.0.0.1:" + port + "/attach/ns/p/app?input=1&output=1&tty=1"},
		{name: "portforward", locate: func() (*url.URL, http.RoundTripper, error) {
			return PortForwardLocation(ctx, getter, e.conn, "p", &corev1.PodPortForwardOptions{})
		}, want: "https://127.0.0.1:" + port + "/portForward/ns/p"},
		{name: "portforward ports", locate: func() (*url.URL, http.RoundTripper, error) {
			return PortForwardLocation(ctx, getter, e.conn, "p", &corev1.PodPortForwardOptions{Ports: []int32{80, 443}})
		}, want: "https://127.0.0.1:" + port + "/portForward/ns/p?port=80&port=443"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc, transport, err := tc.locate()
			if err != nil {
				t.Fatal(err)
			}
			if loc.String() != tc.want {
				t.Errorf("location\n %s\nwant\n %s", loc, tc.want)
			}
			if transport == nil {
				t.Error("no transport")
			}
		})
	}
}

// fakeResponder reports a connecter's errors as the API server does: the Status code.
type fakeResponder struct{ w http.ResponseWriter }

func (r fakeResponder) Object(code int, obj runtime.Object) {
	r.w.WriteHeader(code)
	_, _ = fmt.Fprint(r.w, obj)
}

func (r fakeResponder) Error(err error) {
	code := http.StatusInternalServerError
	if status, ok := err.(apierrors.APIStatus); ok {
		code = int(status.Status().Code)
	}
	http.Error(r.w, err.Error(), code)
}

// serveConnecter serves c for pod name with opts, as the API server's connect handler does.
func serveConnecter(t *testing.T, c rest.Connecter, name string, opts runtime.Object) string {
	t.Helper()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := genericapirequest.WithNamespace(r.Context(), ns)
		h, err := c.Connect(ctx, name, opts, fakeResponder{w})
		if err != nil {
			fakeResponder{w}.Error(err)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.Listener.Addr().String()
}

// upgradingKubelet answers an upgrade with 101, echoing the protocol headers, then echoes
// every byte back.
func upgradingKubelet(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
		http.Error(w, "Upgrade request required", http.StatusBadRequest)
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n"
	if p := r.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		resp += "Sec-WebSocket-Protocol: " + strings.TrimSpace(strings.Split(p, ",")[0]) + "\r\n"
	}
	if p := r.Header.Get("X-Stream-Protocol-Version"); p != "" {
		resp += "X-Stream-Protocol-Version: " + p + "\r\n"
	}
	_, _ = io.WriteString(conn, resp+"\r\n")
	_, _ = io.Copy(conn, buf)
}

// upgrade sends an upgrade request to addr and returns the response and the connection.
func upgrade(t *testing.T, addr, method, path string, header http.Header) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	return resp, conn, br
}

func TestUpgradePassesThrough(t *testing.T) {
	e := newEnv(t)
	create(t, e.pods, newPod("p", "n1"))
	e.kubelet.setHandler(upgradingKubelet)
	spdy := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"},
		"X-Stream-Protocol-Version": {"v4.channel.k8s.io", "v3.channel.k8s.io"}}
	websocket := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"}}
	cases := []struct {
		name      string
		sub       string
		opts      runtime.Object
		method    string
		header    http.Header
		wantPath  string
		wantQuery string
	}{
		{name: "exec SPDY", sub: "pods/exec", opts: &corev1.PodExecOptions{Command: []string{"cat"}, Stdin: true, Stdout: true, Stderr: true},
			method: http.MethodPost, header: spdy, wantPath: "/exec/ns/p/c", wantQuery: "command=cat&error=1&input=1&output=1"},
		{name: "exec WebSocket", sub: "pods/exec", opts: &corev1.PodExecOptions{Command: []string{"ls", "/"}, Stdout: true, TTY: true},
			method: http.MethodGet, header: websocket, wantPath: "/exec/ns/p/c", wantQuery: "command=ls&command=%2F&output=1&tty=1"},
		{name: "attach SPDY", sub: "pods/attach", opts: &corev1.PodAttachOptions{Stdout: true},
			method: http.MethodPost, header: spdy, wantPath: "/attach/ns/p/c", wantQuery: "output=1"},
		{name: "attach WebSocket", sub: "pods/attach", opts: &corev1.PodAttachOptions{Stdin: true, Stdout: true},
			method: http.MethodGet, header: websocket, wantPath: "/attach/ns/p/c", wantQuery: "input=1&output=1"},
		{name: "portforward SPDY", sub: "pods/portforward", opts: &corev1.PodPortForwardOptions{},
			method: http.MethodPost, header: spdy, wantPath: "/portForward/ns/p"},
		{name: "portforward WebSocket", sub: "pods/portforward", opts: &corev1.PodPortForwardOptions{Ports: []int32{8080}},
			method: http.MethodGet, header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
				"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"v4.channel.k8s.io"}},
			wantPath: "/portForward/ns/p", wantQuery: "port=8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveConnecter(t, e.subs[tc.sub].(rest.Connecter), "p", tc.opts)
			resp, conn, br := upgrade(t, addr, tc.method, "/anything", tc.header.Clone())
			if resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %s, want 101", resp.StatusCode, body)
			}
			if resp.Header.Get("Upgrade") != tc.header.Get("Upgrade") {
				t.Errorf("Upgrade %q, want %q", resp.Header.Get("Upgrade"), tc.header.Get("Upgrade"))
			}
			if p := tc.header.Get("Sec-Websocket-Protocol"); p != "" && resp.Header.Get("Sec-Websocket-Protocol") != strings.Split(p, ",")[0] {
				t.Errorf("negotiated subprotocol %q", resp.Header.Get("Sec-Websocket-Protocol"))
			}
			// The connection now carries raw bytes both ways.
			if _, err := io.WriteString(conn, "ping"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo %q, %v", buf, err)
			}
			got := e.kubelet.last(t)
			if got.method != tc.method || got.path != tc.wantPath || got.query != tc.wantQuery {
				t.Errorf("kubelet got %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tc.method, tc.wantPath, tc.wantQuery)
			}
			for k, v := range tc.header {
				if strings.Join(got.header.Values(k), ",") != strings.Join(v, ",") {
					t.Errorf("kubelet got header %s %q, want %q", k, got.header.Values(k), v)
				}
			}
			if got.clientCN != testKubeletUser {
				t.Errorf("client certificate CN %q", got.clientCN)
			}
		})
	}

	t.Run("not an upgrade", func(t *testing.T) {
		addr := serveConnecter(t, e.subs["pods/exec"].(rest.Connecter), "p", &corev1.PodExecOptions{Command: []string{"ls"}, Stdout: true})
		resp, err := http.Post("http://"+addr+"/x", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Upgrade request required") {
			t.Errorf("status %d %q, want 400 Upgrade request required", resp.StatusCode, body)
		}
	})

	t.Run("kubelet refuses", func(t *testing.T) {
		e.kubelet.setHandler(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "container not found (\"c\")", http.StatusNotFound)
		})
		addr := serveConnecter(t, e.subs["pods/exec"].(rest.Connecter), "p", &corev1.PodExecOptions{Command: []string{"ls"}, Stdout: true})
		resp, _, _ := upgrade(t, addr, http.MethodPost, "/x", spdy.Clone())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "container not found") {
			t.Errorf("status %d %q, want the kubelet's 404", resp.StatusCode, body)
		}
	})
}

func TestKubeletCertificateChecked(t *testing.T) {
	p := newPKI(t)
	other, err := certs.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		ca      *certs.Authority
		dns     []string
		ips     []net.IP
		wantErr string
	}{
		{name: "another CA", ca: other, dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)},
			wantErr: `kubelet of node "n1" at 127.0.0.1:PORT: its serving certificate (subject "kubelet", issuer "kubeshim-ca") is not signed by the cluster CA`},
		{name: "wrong address", ca: p.ca, dns: []string{"localhost"}, ips: []net.IP{net.IPv4(10, 9, 8, 7)},
			wantErr: `kubelet of node "n1" at 127.0.0.1:PORT: its serving certificate is not valid for 127.0.0.1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := startKubelet(t, tc.ca, p.ca, tc.dns, tc.ips)
			k.setHandler(upgradingKubelet)
			nodes := nodeGetter{"n1": kubeletNode("n1", k.port(t), internalIP("127.0.0.1"))}
			conn, err := NewNodeConnectionInfoGetter(nodes, KubeletClientConfig{CAData: p.ca.CertPEM, CertFile: p.clientCert, KeyFile: p.clientKey})
			if err != nil {
				t.Fatal(err)
			}
			s := podStorages(t)
			create(t, s, newPod("p", "n1"))
			subs := KubeletStorages(s["pods"].(rest.Getter), conn)
			want := strings.ReplaceAll(tc.wantErr, "PORT", strconv.Itoa(int(k.port(t))))

			obj, err := subs["pods/log"].(rest.GetterWithOptions).Get(rt.Context(ns), "p", &corev1.PodLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = obj.(*genericrest.LocationStreamer).InputStream(context.Background(), "v1", "text/plain")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("log: %v, want %q", err, want)
			}

			addr := serveConnecter(t, subs["pods/exec"].(rest.Connecter), "p", &corev1.PodExecOptions{Command: []string{"ls"}, Stdout: true})
			resp, _, _ := upgrade(t, addr, http.MethodPost, "/x", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"}})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusSwitchingProtocols || !strings.Contains(string(body), want) {
				t.Errorf("exec: %d %q, want %q", resp.StatusCode, body, want)
			}
			k.mu.Lock()
			defer k.mu.Unlock()
			if len(k.seen) != 0 {
				t.Errorf("the kubelet with the wrong certificate got %d requests", len(k.seen))
			}
		})
	}
}

func TestConnectionInfo(t *testing.T) {
	p := newPKI(t)
	nodes := nodeGetter{
		"default-port": kubeletNode("default-port", 0, internalIP("10.0.0.1")),
		"own-port":     kubeletNode("own-port", 12345, internalIP("10.0.0.2")),
		"preference": kubeletNode("preference", 10250,
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "preference"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "192.0.2.1"},
			internalIP("10.0.0.3")),
		"external-only": kubeletNode("external-only", 10250, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "192.0.2.2"}),
		"no-address":    kubeletNode("no-address", 10250),
	}
	conn, err := NewNodeConnectionInfoGetter(nodes, KubeletClientConfig{CAData: p.ca.CertPEM, CertFile: p.clientCert, KeyFile: p.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		node, host, port string
		wantErr          string
	}{
		{node: "default-port", host: "10.0.0.1", port: "10250"},
		{node: "own-port", host: "10.0.0.2", port: "12345"},
		{node: "preference", host: "10.0.0.3", port: "10250"},
		{node: "external-only", host: "192.0.2.2", port: "10250"},
		{node: "no-address", wantErr: "node no-address: no preferred addresses found; known addresses: []"},
		{node: "missing", wantErr: `nodes "missing" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.node, func(t *testing.T) {
			info, err := conn.GetConnectionInfo(context.Background(), tc.node)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Scheme != "https" || info.Hostname != tc.host || info.Port != tc.port {
				t.Errorf("info %+v, want https %s %s", info, tc.host, tc.port)
			}
			again, err := conn.GetConnectionInfo(context.Background(), tc.node)
			if err != nil || again.Transport != info.Transport {
				t.Errorf("a second lookup made a new transport (%v)", err)
			}
		})
	}

	for name, cfg := range map[string]KubeletClientConfig{
		"no CA":          {CertFile: p.clientCert, KeyFile: p.clientKey},
		"no client cert": {CAData: p.ca.CertPEM},
		"missing files":  {CAData: p.ca.CertPEM, CertFile: filepath.Join(p.dir, "nope.crt"), KeyFile: filepath.Join(p.dir, "nope.key")},
	} {
		if _, err := NewNodeConnectionInfoGetter(nodes, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKubeletStoragesWithoutKubelet(t *testing.T) {
	s := podStorages(t)
	create(t, s, newPod("p", "n1"))
	subs := KubeletStorages(s["pods"].(rest.Getter), nil)
	_, err := subs["pods/log"].(rest.GetterWithOptions).Get(rt.Context(ns), "p", &corev1.PodLogOptions{})
	if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("log without a kubelet client: %v, want ServiceUnavailable", err)
	}
}
