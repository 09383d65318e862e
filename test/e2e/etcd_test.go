package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// startEtcd runs a private etcd (Debian's etcd-server, installed by `make deps`) on free
// loopback ports until the test ends and returns its client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	e, err := e2eutil.StartEtcd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e.URL
}

// With --etcd-servers, kubeshim keeps everything in etcd through k8s.io/apiserver's etcd3
// storage: kubectl works as with the in-memory store, and a restarted kubeshim finds the
// objects again.
func TestEtcdStorage(t *testing.T) {
	etcd := startEtcd(t)
	dir := t.TempDir()
	c, err := startClusterIn(dir, []string{"--no-controllers", "--etcd-servers", etcd})
	if err != nil {
		t.Fatal(err)
	}
	k := kubectls(t, c)[1]
	k.ok(t, "create", "deployment", "web", "--image=nginx", "--replicas=2")
	k.ok(t, "scale", "deployment", "web", "--replicas=3")
	k.ok(t, "run", "solo", "--image=busybox", "--labels=app=solo")
	if out := k.ok(t, "get", "pods", "-l", "app=solo", "-o", "name"); strings.TrimSpace(out) != "pod/solo" {
		t.Fatalf("label selection over etcd: %q", out)
	}

	// A watch sees a change made through another client.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	k.ok(t, "label", "pod", "solo", "seen=yes")
	select {
	case ev := <-w.ResultChan():
		if ev.Type != "MODIFIED" {
			t.Fatalf("watch over etcd: %s", ev.Type)
		}
	case <-ctx.Done():
		t.Fatal("watch over etcd saw nothing")
	}
	w.Stop()

	// Stop kubeshim (keeping its data dir), start it again on the same etcd.
	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := os.Remove(dir + "/kubeconfig"); err != nil {
		t.Fatal(err)
	}
	again, err := startClusterIn(dir, []string{"--no-controllers", "--etcd-servers", etcd})
	if err != nil {
		t.Fatal(err)
	}
	defer again.stop()
	k = kubectls(t, again)[1]
	_, rows := table(t, k.ok(t, "get", "deployments"))
	if len(rows) != 1 || rows[0]["NAME"] != "web" || rows[0]["READY"] != "0/3" {
		t.Fatalf("deployments after restart: %v", rows)
	}
	if p := getPod(t, k, "default", "solo"); p.Labels["seen"] != "yes" {
		t.Fatalf("pod after restart: labels %v", p.Labels)
	}
}

// Two API servers over one etcd serve the same objects and watches: a watch through one sees
// what is written through the other, and the controllers (run in the first only) act on
// objects created through the second.
func TestTwoServersOneEtcd(t *testing.T) {
	etcd := startEtcd(t)
	first, err := startCluster([]string{"--etcd-servers", etcd})
	if err != nil {
		t.Fatal(err)
	}
	defer first.stop()
	second, err := startCluster([]string{"--no-controllers", "--etcd-servers", etcd})
	if err != nil {
		t.Fatal(err)
	}
	defer second.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := first.Client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=shared"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	k2 := kubectls(t, second)[1]
	k2.ok(t, "create", "configmap", "shared", "--from-literal=from=second")
	select {
	case ev := <-w.ResultChan():
		if ev.Type != "ADDED" {
			t.Errorf("watch through the first server got %s", ev.Type)
		}
	case <-ctx.Done():
		t.Fatal("the watch through the first server saw nothing of a write through the second")
	}
	k1 := kubectls(t, first)[0]
	if out := k1.ok(t, "get", "configmap", "shared", "-o", "jsonpath={.data.from}"); out != "second" {
		t.Errorf("the first server reads %q", out)
	}
	// The first server's controllers make the ReplicaSet of a Deployment made through the second.
	k2.ok(t, "create", "deployment", "across", "--image=nginx", "--replicas=2")
	eventually(t, 30*time.Second, "a ReplicaSet for the deployment created through the second server", func() bool {
		return strings.Contains(k2.ok(t, "get", "replicasets", "-o", "name"), "replicaset.apps/across-")
	})
}
