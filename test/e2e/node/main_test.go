// Package node runs kubeshim as a whole (API server, controllers and kubelet on a private
// containerd) inside private network, mount and PID namespaces, and drives it with the stock
// kubectl binaries: the seed walkthrough's pods as real containers.
package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// nodeName is the node's name in every test.
const nodeName = "e2e-node"

// cgroupRoot keeps this run's containers in cgroups of their own.
var cgroupRoot = e2eutil.CgroupRoot("kubeshim-e2e")

var cluster *e2eutil.Cluster

func TestMain(m *testing.M) {
	if reason := e2eutil.NodeRequirements(); reason != "" {
		e2eutil.SkipOrFail("node e2e tests: " + reason)
	}
	if !e2eutil.Isolated() {
		os.Exit(e2eutil.ReexecIsolated())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := e2eutil.SetUpIsolated()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer e2eutil.TearDownIsolated(dir)
	bin, cleanup, err := e2eutil.KubeshimBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer cleanup()
	dataDir := filepath.Join(dir, "data")
	imagesDir := filepath.Join(dataDir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	for _, name := range []string{"busybox.tar", "nginx.tar"} {
		if err := os.Symlink(filepath.Join(e2eutil.ImagesDir(), name), filepath.Join(imagesDir, name)); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	// The API's state is durable (the default write-ahead log under the data dir), so it
	// survives the SIGKILL and restart TestKubeshimRestartKeepsContainers makes.
	cluster, err = e2eutil.StartCluster(bin, dataDir, []string{
		"--node-name", nodeName, "--node-ip", e2eutil.NodeIP, "--cgroup-root", cgroupRoot,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start kubeshim:", err)
		return 1
	}
	code := m.Run()
	if err := cleanUp(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: clean up:", err)
		code = 1
	}
	if err := cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stop kubeshim: %v\n%s", err, tail(cluster.Logs.String(), 80))
		code = 1
	}
	if err := e2eutil.RemoveCgroups(cgroupRoot); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "kubeshim's log (tail):\n%s\n", tail(cluster.Logs.String(), 200))
	}
	return code
}

// cleanUp deletes every test namespace and waits until the kubelet has removed their pods, so
// the containers' cgroups go with them.
func cleanUp() error {
	ctx := context.Background()
	client := cluster.Client
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	// Pods first, with a short grace period: many run a shell or sleep as pid 1, which ignores
	// SIGTERM and would hold each deletion for 30 s.
	grace := int64(1)
	for _, ns := range nss.Items {
		if err := client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{}); err != nil {
			return fmt.Errorf("delete the pods of %s: %w", ns.Name, err)
		}
	}
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Name, "kube-") || ns.Name == "default" {
			continue
		}
		_ = client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var names []string
			if pods != nil {
				for _, p := range pods.Items {
					names = append(names, p.Namespace+"/"+p.Name)
				}
			}
			return fmt.Errorf("pods left after 90s: %v (%v)", names, err)
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

// namespace creates a namespace for the test and returns its name.
func namespace(t *testing.T) string {
	t.Helper()
	ns := e2eutil.SanitizeNamespace(t.Name())
	kubectls(t)[0].OK(t, "create", "namespace", ns)
	return ns
}

func kubectls(t *testing.T) []e2eutil.Kubectl { return e2eutil.Kubectls(t, cluster) }
