// Package e2e drives the built kubeshim binary with the stock kubectl binaries of this machine
// (the oldest and the newest supported), a kubectl built from k8s.io/kubectl at the module's
// client-go version, and client-go itself. The harness is test/e2eutil's, shared with the node
// suite; this file adapts it to the API suite.
package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// cluster is one running `kubeshim up --no-kubelet`.
type cluster struct {
	*e2eutil.Cluster
}

// shared is the cluster most tests use; tests that need their own start one with startCluster.
var shared *cluster

func TestMain(m *testing.M) {
	code := func() int {
		bin, cleanup, err := e2eutil.KubeshimBinary()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer cleanup()
		kubeshimBin = bin
		// The API tests run against the API server alone, as against kube-apiserver.
		c, err := startCluster([]string{"--no-controllers"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start kubeshim:", err)
			return 1
		}
		shared = c
		defer c.stop()
		defer func() {
			for _, f := range cleanups {
				f()
			}
		}()
		return m.Run()
	}()
	os.Exit(code)
}

var kubeshimBin string

// cleanups run after every test, for clusters and helpers tests start lazily.
var cleanups []func()

// startCluster runs `kubeshim up --no-kubelet` on a free port in a new data directory and
// waits until it has written its kubeconfig, its sign of readiness.
func startCluster(extraArgs []string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "kubeshim-e2e-")
	if err != nil {
		return nil, err
	}
	c, err := startClusterIn(dir, extraArgs)
	if err != nil {
		os.RemoveAll(dir)
	}
	return c, err
}

// startClusterIn is startCluster on an existing data directory. The API suite runs without
// the kubelet: no containerd, no root namespaces.
func startClusterIn(dir string, extraArgs []string) (*cluster, error) {
	c, err := e2eutil.StartCluster(kubeshimBin, dir, append([]string{"--no-kubelet"}, extraArgs...))
	if err != nil {
		return nil, err
	}
	return &cluster{c}, nil
}

// stop is Stop that also removes the data directory; Stop alone keeps it (for a restart).
func (c *cluster) stop() error {
	err := c.Stop()
	os.RemoveAll(c.DataDir)
	return err
}

// kubectl is one kubectl binary pointed at a cluster, with the API suite's short names.
type kubectl struct {
	e2eutil.Kubectl
}

// result is what a kubectl run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// kubectls returns every kubectl the tests run with.
func kubectls(t *testing.T, c *cluster) []kubectl {
	t.Helper()
	var out []kubectl
	for _, k := range e2eutil.Kubectls(t, c.Cluster) {
		out = append(out, kubectl{k})
	}
	return out
}

// name is a short label for subtests ("kubectl.1.27").
func (k kubectl) name() string { return k.Name() }

// run runs kubectl with args (and stdin, if any) and returns what it printed.
func (k kubectl) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := k.Run(t, stdin, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

// ok runs kubectl and fails the test unless it exits 0; it returns stdout.
func (k kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	return k.OK(t, args...)
}

// okIn is ok with standard input.
func (k kubectl) okIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	return k.OKIn(t, stdin, args...)
}

// forEachKubectl runs f as a subtest per kubectl, each in a namespace of its own.
func forEachKubectl(t *testing.T, f func(t *testing.T, k kubectl, ns string)) {
	for i, k := range kubectls(t, shared) {
		t.Run(k.name(), func(t *testing.T) {
			ns := fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), i)
			ns = sanitizeNamespace(ns)
			k.ok(t, "create", "namespace", ns)
			f(t, k, ns)
		})
	}
}

// sanitizeNamespace makes a DNS label of a test name.
func sanitizeNamespace(s string) string { return e2eutil.SanitizeNamespace(s) }

// table parses kubectl's table output by the header's column offsets.
func table(t *testing.T, out string) (header []string, rows []map[string]string) {
	t.Helper()
	return e2eutil.Table(t, out)
}

// eventually polls cond until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	e2eutil.Eventually(t, timeout, what, cond, nil)
}
