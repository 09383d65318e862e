// Package multinode runs a three-node kubeshim inside private namespaces: `kubeshim up` is the
// first node, and two more `kubeshim kubelet` processes join it from network namespaces of
// their own, linked to the first by a bridge, as three machines on one network would be.
package multinode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// worker is a node that joined the control plane.
type worker struct {
	name, ip, nsPath, dataDir, creds, cgroupRoot string
	cmd                                          *exec.Cmd
	logs                                         *e2eutil.SyncBuffer
	exited                                       chan error
}

var (
	cluster    *e2eutil.Cluster
	bin        string
	firstNode  = "e2e-node1"
	workers    []*worker
	cgroupRoot = e2eutil.CgroupRoot("kubeshim-mn")
	// images holds the image archives every node imports.
	images string
)

func TestMain(m *testing.M) {
	if reason := e2eutil.NodeRequirements(); reason != "" {
		e2eutil.SkipOrFail("multi-node e2e tests: " + reason)
	}
	if !e2eutil.Isolated() {
		os.Exit(e2eutil.ReexecIsolated())
	}
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := e2eutil.SetUpIsolated()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer e2eutil.TearDownIsolated(dir)
	var cleanup func()
	if bin, cleanup, err = e2eutil.KubeshimBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer cleanup()
	images = filepath.Join(dir, "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	for _, name := range []string{"busybox.tar", "nginx.tar"} {
		if err := os.Symlink(filepath.Join(e2eutil.ImagesDir(), name), filepath.Join(images, name)); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	cluster, err = e2eutil.StartCluster(bin, filepath.Join(dir, "node1"), []string{
		"--node-name", firstNode, "--node-ip", e2eutil.NodeIP, "--bind-address", "0.0.0.0", "--advertise-address", e2eutil.NodeIP,
		"--cgroup-root", cgroupRoot + "-1", "--images-dir", images, "--node-monitor-grace-period", "8s",
		"--default-unreachable-toleration-seconds", "2", "--default-not-ready-toleration-seconds", "2",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start kubeshim:", err)
		return 1
	}
	defer func() {
		if err := cleanUp(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: clean up:", err)
			code = 1
		}
		for _, w := range workers {
			w.stop()
		}
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop kubeshim:", err)
			code = 1
		}
		for _, root := range []string{cgroupRoot + "-1", cgroupRoot + "-2", cgroupRoot + "-3"} {
			if err := e2eutil.RemoveCgroups(root); err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
				code = 1
			}
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kubeshim's log (tail):\n%s\n", tail(cluster.Logs.String(), 150))
			for _, w := range workers {
				fmt.Fprintf(os.Stderr, "%s's log (tail):\n%s\n", w.name, tail(w.logs.String(), 80))
			}
		}
	}()
	for i, ip := range []string{"192.0.2.12", "192.0.2.13"} {
		w := &worker{name: fmt.Sprintf("e2e-node%d", i+2), ip: ip, cgroupRoot: fmt.Sprintf("%s-%d", cgroupRoot, i+2)}
		w.dataDir = filepath.Join(dir, w.name)
		if w.nsPath, err = e2eutil.AddNode(w.name, ip); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		// Its identity and kubelet certificate, from the control plane's CA.
		w.creds = filepath.Join(dir, w.name+"-creds")
		if out, err := exec.Command(bin, "kubeconfig", "node", w.name, "--data-dir", cluster.DataDir,
			"--out-dir", w.creds, "--node-ip", ip).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: kubeshim kubeconfig node: %v\n%s", err, out)
			return 1
		}
		if err := os.MkdirAll(w.dataDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		if err := w.start(images); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		workers = append(workers, w)
	}
	if err := waitNodesReady(firstNode, workers[0].name, workers[1].name); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// start runs `kubeshim kubelet` in the worker's network namespace.
func (w *worker) start(images string) error {
	w.logs = &e2eutil.SyncBuffer{}
	w.exited = make(chan error, 1)
	w.cmd = exec.Command("nsenter", "--net="+w.nsPath, "--", bin, "kubelet",
		"--kubeconfig", filepath.Join(w.creds, "kubeconfig"), "--node-name", w.name, "--node-ip", w.ip,
		"--data-dir", w.dataDir, "--images-dir", images, "--cgroup-root", w.cgroupRoot,
		"--containerd-namespace", "kubeshim-"+w.name,
		"--tls-cert-file", filepath.Join(w.creds, "kubelet.crt"), "--tls-private-key-file", filepath.Join(w.creds, "kubelet.key"),
		"--client-ca-file", filepath.Join(w.creds, "ca.crt"))
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	if err := w.cmd.Start(); err != nil {
		return fmt.Errorf("start the kubelet of %s: %w", w.name, err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	return nil
}

// kill ends the worker's kubelet with SIGKILL, as a machine that goes away.
func (w *worker) kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	<-w.exited
	w.cmd = nil
}

// stop ends the worker's kubelet with SIGTERM.
func (w *worker) stop() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	w.cmd = nil
}

func waitNodesReady(names ...string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		ready := 0
		for _, name := range names {
			node, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes %v not all Ready after 90s", names)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// cleanUp deletes every test namespace's pods and waits for the kubelets to remove them.
func cleanUp() error {
	ctx := context.Background()
	client := cluster.Client
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	grace := int64(1)
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Name, "kube-") || ns.Name == "default" {
			continue
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		_ = client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods left after 90s (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func kubectls(t *testing.T) []e2eutil.Kubectl { return e2eutil.Kubectls(t, cluster) }

func namespace(t *testing.T) string {
	t.Helper()
	ns := e2eutil.SanitizeNamespace(t.Name())
	kubectls(t)[0].OK(t, "create", "namespace", ns)
	return ns
}
