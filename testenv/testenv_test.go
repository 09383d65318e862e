package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// waitTimeout bounds every wait for the controllers or the simulated node.
const waitTimeout = 30 * time.Second

func newClient(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return client
}

// TestServerOnly checks what the bare API server serves: the bootstrap namespaces, objects
// stored and read back, /version, the admin kubeconfig, and authentication and
// authorization of other identities.
func TestServerOnly(t *testing.T) {
	env := StartT(t, Options{})
	ctx := t.Context()
	client := newClient(t, env.Config)

	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatalf("URL %q: %v", env.URL, err)
	}
	if u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Errorf("URL = %q, want https://127.0.0.1:<free port>", env.URL)
	}
	if env.Config.Host != env.URL {
		t.Errorf("Config.Host = %q, want %q", env.Config.Host, env.URL)
	}

	namespaces, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	var names []string
	for _, ns := range namespaces.Items {
		names = append(names, ns.Name)
	}
	for _, want := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !slices.Contains(names, want) {
			t.Errorf("namespaces %v lack %q at Start's return", names, want)
		}
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	got, err := client.CoreV1().ConfigMaps("default").Get(ctx, "settings", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("get configmap = %v, %v; want data k=v", got, err)
	}

	version, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.Contains(version.GitVersion, "+kubeshim") {
		t.Errorf("gitVersion = %q, want kubeshim's build metadata", version.GitVersion)
	}

	// The kubeconfig written for tools reaches the same server as the admin.
	kcfg, err := clientcmd.BuildConfigFromFlags("", env.KubeconfigPath)
	if err != nil {
		t.Fatalf("load %s: %v", env.KubeconfigPath, err)
	}
	if kcfg.Host != env.URL {
		t.Errorf("kubeconfig server = %q, want %q", kcfg.Host, env.URL)
	}
	if _, err := newClient(t, kcfg).CoreV1().ConfigMaps("default").Get(ctx, "settings", metav1.GetOptions{}); err != nil {
		t.Errorf("get through the kubeconfig: %v", err)
	}
	if rel, err := filepath.Rel(env.DataDir, env.KubeconfigPath); err != nil || strings.HasPrefix(rel, "..") {
		t.Errorf("kubeconfig %s is not under the data dir %s", env.KubeconfigPath, env.DataDir)
	}

	anonymous := &rest.Config{Host: env.URL, TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData}}
	tests := []struct {
		name   string
		config func() (*rest.Config, error)
		check  func(error) bool
		want   string
	}{
		{"admin", func() (*rest.Config, error) { return env.Config, nil }, func(err error) bool { return err == nil }, "allowed"},
		{"node identity", func() (*rest.Config, error) { return env.ClientConfig("node-a", "system:node:a", "system:nodes") },
			func(err error) bool { return err == nil }, "allowed"},
		{"unprivileged user", func() (*rest.Config, error) { return env.ClientConfig("jane", "jane", "developers") },
			apierrors.IsForbidden, "403 Forbidden"},
		{"no client certificate", func() (*rest.Config, error) { return anonymous, nil },
			apierrors.IsUnauthorized, "401 Unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.config()
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			_, err = newClient(t, cfg).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			if !tc.check(err) {
				t.Errorf("list configmaps: err = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestOptions runs each combination of the optional parts and checks what each brings: the
// controllers make a Deployment's pods, the simulated node registers and runs the pods bound
// to it, and neither appears unasked.
func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		// wantNode: the node is registered when Start returns.
		wantNode bool
		// wantPods: a Deployment of 2 gets its pods; wantRunning: they go Running.
		wantPods, wantRunning bool
		// wantBoundRunning: a pod with spec.nodeName of the node goes Running.
		wantBoundRunning bool
	}{
		{name: "server only", opts: Options{}},
		{name: "controllers", opts: Options{Controllers: true}, wantPods: true},
		{name: "simulated node", opts: Options{SimulatedNode: true, NodeName: "sim-a"}, wantNode: true, wantBoundRunning: true},
		{name: "controllers and simulated node", opts: Options{Controllers: true, SimulatedNode: true},
			wantNode: true, wantPods: true, wantRunning: true, wantBoundRunning: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := StartT(t, tc.opts)
			ctx := t.Context()
			client := newClient(t, env.Config)
			nodeName := tc.opts.NodeName
			if nodeName == "" {
				nodeName = DefaultNodeName
			}

			nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list nodes: %v", err)
			}
			if got := len(nodes.Items) == 1 && nodes.Items[0].Name == nodeName; got != tc.wantNode {
				t.Errorf("nodes at Start's return: %d (%v), want node %s: %v", len(nodes.Items), nodes.Items, nodeName, tc.wantNode)
			}
			if tc.wantNode != (env.NodeName != "") {
				t.Errorf("Env.NodeName = %q, want a node: %v", env.NodeName, tc.wantNode)
			}

			if _, err := client.AppsV1().Deployments("default").Create(ctx, deployment("web", 2), metav1.CreateOptions{}); err != nil {
				t.Fatalf("create deployment: %v", err)
			}
			if tc.wantPods {
				pods := waitPods(t, client, "app=web", 2, tc.wantRunning)
				for _, p := range pods {
					if tc.wantRunning && (p.Spec.NodeName != nodeName || p.Status.PodIP == "") {
						t.Errorf("pod %s: node %q, IP %q; want node %s and an IP", p.Name, p.Spec.NodeName, p.Status.PodIP, nodeName)
					}
				}
			} else {
				// Without controllers nothing acts on the Deployment.
				time.Sleep(300 * time.Millisecond)
				rs, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
				if err != nil || len(rs.Items) != 0 {
					t.Errorf("replicasets without controllers: %d, %v; want none", len(rs.Items), err)
				}
			}

			bound := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "bound", Labels: map[string]string{"app": "bound"}},
				Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}
			if _, err := client.CoreV1().Pods("default").Create(ctx, bound, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create bound pod: %v", err)
			}
			if tc.wantBoundRunning {
				waitPods(t, client, "app=bound", 1, true)
			} else {
				time.Sleep(200 * time.Millisecond)
				p, err := client.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
				if err != nil || p.Status.Phase == corev1.PodRunning {
					t.Errorf("bound pod without a node: phase %q, %v; want not Running", p.Status.Phase, err)
				}
			}
		})
	}
}

// TestStop checks that Stop frees everything: no goroutine of the environment is left, the
// port is closed, the temporary data directory is gone, and a second Stop is harmless.
func TestStop(t *testing.T) {
	// The first environment of a process starts some process-wide goroutines once (klog's
	// flush daemon, the apiserver's in-flight watermark upkeep, …): they are not leaks.
	warm, err := Start(t.Context(), Options{Controllers: true, SimulatedNode: true})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := warm.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	tests := []struct {
		name string
		opts Options
		// use exercises the environment with clients and watches left open.
		use func(t *testing.T, env *Env)
	}{
		{name: "server only", opts: Options{}, use: func(t *testing.T, env *Env) {
			client := newClient(t, env.Config)
			// A watch nobody stops: Stop must not wait for it.
			if _, err := client.CoreV1().ConfigMaps("").Watch(context.Background(), metav1.ListOptions{}); err != nil {
				t.Fatalf("watch: %v", err)
			}
		}},
		{name: "everything, with a deployment running", opts: Options{Controllers: true, SimulatedNode: true}, use: func(t *testing.T, env *Env) {
			client := newClient(t, env.Config)
			if _, err := client.AppsV1().Deployments("default").Create(t.Context(), deployment("web", 3), metav1.CreateOptions{}); err != nil {
				t.Fatalf("create deployment: %v", err)
			}
			waitPods(t, client, "app=web", 3, true)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := goroutines()
			env, err := Start(t.Context(), tc.opts)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			addr := strings.TrimPrefix(env.URL, "https://")
			dir := env.DataDir
			tc.use(t, env)

			start := time.Now()
			if err := env.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			t.Logf("stopped in %v", time.Since(start))
			if err := env.Stop(); err != nil {
				t.Errorf("second stop: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir %s after Stop: %v, want it removed", dir, err)
			}
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				_ = conn.Close()
				t.Errorf("%s still accepts connections after Stop", addr)
			}
			if leaked := waitGoroutines(before, 5*time.Second); len(leaked) > 0 {
				t.Errorf("%d goroutines left after Stop:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
			}
		})
	}
}

// TestStartFailures checks that a failed Start reports why and leaves nothing behind.
func TestStartFailures(t *testing.T) {
	// Warm up the process-wide goroutines (see TestStop).
	if err := StartT(t, Options{}).Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		opts    Options
		wantErr string
	}{
		{"unknown controller", t.Context(), Options{Controllers: true, ControllerSelection: []string{"no-such"}}, `unknown controller "no-such"`},
		{"data dir is a file", t.Context(), Options{DataDir: file}, "testenv: API server"},
		{"context already ended", cancelled, Options{}, "not ready: context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := goroutines()
			tmpBefore := testenvTempDirs(t)
			env, err := Start(tc.ctx, tc.opts)
			if err == nil {
				_ = env.Stop()
				t.Fatalf("Start succeeded, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Start: %v, want an error containing %q", err, tc.wantErr)
			}
			if extra := diff(testenvTempDirs(t), tmpBefore); len(extra) > 0 {
				t.Errorf("temporary data dirs left: %v", extra)
			}
			if leaked := waitGoroutines(before, 5*time.Second); len(leaked) > 0 {
				t.Errorf("%d goroutines left after a failed Start:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
			}
		})
	}
}

// TestDataDirKept checks that a data directory of the caller's is used and kept.
func TestDataDirKept(t *testing.T) {
	dir := t.TempDir()
	env := StartT(t, Options{DataDir: dir})
	if env.DataDir != dir {
		t.Errorf("DataDir = %q, want %q", env.DataDir, dir)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, f := range []string{"kubeconfig", "pki/ca.crt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s after Stop: %v, want it kept", f, err)
		}
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
}

// waitPods waits until n pods match selector in default (all Running, if running).
func waitPods(t *testing.T, client kubernetes.Interface, selector string, n int, running bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		pods = list.Items
		if len(pods) != n {
			return false, nil
		}
		for _, p := range pods {
			if running && p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var phases []string
		for _, p := range pods {
			phases = append(phases, fmt.Sprintf("%s=%s", p.Name, p.Status.Phase))
		}
		t.Fatalf("waiting for %d pods %s (running: %v): %v; have %v", n, selector, running, err, phases)
	}
	return pods
}

var goroutineHeader = regexp.MustCompile(`^goroutine (\d+) `)

// goroutines returns the stacks of all goroutines by goroutine id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, stack := range strings.Split(string(buf), "\n\n") {
		if m := goroutineHeader.FindStringSubmatch(stack); m != nil {
			out[m[1]] = stack
		}
	}
	return out
}

// waitGoroutines waits until no goroutine is left that was not in before (ids are never
// reused) and returns the stacks of those still there after timeout.
func waitGoroutines(before map[string]string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var leaked []string
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok && !strings.Contains(stack, "testing.tRunner") {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			slices.Sort(leaked)
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testenvTempDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "kubeshim-testenv-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func diff(after, before []string) []string {
	var out []string
	for _, d := range after {
		if !slices.Contains(before, d) {
			out = append(out, d)
		}
	}
	return out
}
