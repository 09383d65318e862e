package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubeshim/kubeshim/kubelet/simnode"
)

// The controller tests share a cluster running every controller, with one simulated node
// standing in for the kubelet (issue 4 brings the real one): it marks bound pods Running and
// Ready and finishes their deletion, as a kubelet would.
var (
	ctrlOnce    sync.Once
	ctrlCluster *cluster
	ctrlErr     error
)

const simNodeName = "node-1"

func controllerCluster(t *testing.T) *cluster {
	t.Helper()
	ctrlOnce.Do(func() {
		ctrlCluster, ctrlErr = startCluster(nil)
		if ctrlErr != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		node := simnode.New(ctrlCluster.Client, simNodeName)
		done := make(chan struct{})
		go func() { defer close(done); _ = node.Run(ctx) }()
		cleanups = append(cleanups, func() { cancel(); <-done; ctrlCluster.stop() })
	})
	if ctrlErr != nil {
		t.Fatal(ctrlErr)
	}
	return ctrlCluster
}

// forEachKubectlOn is forEachKubectl on another cluster.
func forEachKubectlOn(t *testing.T, c *cluster, f func(t *testing.T, k kubectl, ns string)) {
	for i, k := range kubectls(t, c) {
		t.Run(k.name(), func(t *testing.T) {
			ns := sanitizeNamespace(strings.ReplaceAll(t.Name(), "/", "-") + "-" + string(rune('a'+i)))
			k.ok(t, "create", "namespace", ns)
			f(t, k, ns)
		})
	}
}

// runningPods returns NAME → row of the pods `kubectl get pods -o wide -l SELECTOR` shows.
func podRows(t *testing.T, k kubectl, ns, selector string) map[string]map[string]string {
	t.Helper()
	r := k.run(t, "", "get", "pods", "-o", "wide", "-n", ns, "-l", selector)
	out := map[string]map[string]string{}
	if strings.TrimSpace(r.stdout) == "" {
		return out
	}
	_, rows := table(t, r.stdout)
	for _, row := range rows {
		out[row["NAME"]] = row
	}
	return out
}

// waitRunning waits until exactly n pods match selector, all Running 1/1 on the node.
func waitRunning(t *testing.T, k kubectl, ns, selector string, n int) map[string]map[string]string {
	t.Helper()
	var rows map[string]map[string]string
	eventually(t, 60*time.Second, "pods "+selector+" running", func() bool {
		rows = podRows(t, k, ns, selector)
		if len(rows) != n {
			return false
		}
		for _, r := range rows {
			if r["STATUS"] != "Running" || r["READY"] != "1/1" || r["NODE"] != simNodeName {
				return false
			}
		}
		return true
	})
	return rows
}

func TestDeploymentLifecycle(t *testing.T) {
	c := controllerCluster(t)
	forEachKubectlOn(t, c, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80", "-n", ns)
		rows := waitRunning(t, k, ns, "app=web", 3)
		for name, r := range rows {
			if !regexp.MustCompile(`^web-[a-z0-9]+-[a-z0-9]{5}$`).MatchString(name) || r["IP"] == "<none>" {
				t.Errorf("pod row %v", r)
			}
		}
		_, drows := table(t, k.ok(t, "get", "deployment", "web", "-n", ns))
		if drows[0]["READY"] != "3/3" || drows[0]["UP-TO-DATE"] != "3" || drows[0]["AVAILABLE"] != "3" {
			t.Errorf("deployment row %v", drows[0])
		}

		// Self-healing: a deleted replica is replaced by a new pod, with a new name and UID.
		var victim string
		oldUIDs := map[string]bool{}
		for name := range rows {
			victim = name
			oldUIDs[string(getPod(t, k, ns, name).UID)] = true
		}
		k.ok(t, "delete", "pod", victim, "-n", ns)
		rows = waitRunning(t, k, ns, "app=web", 3)
		if _, ok := rows[victim]; ok {
			t.Fatalf("deleted pod %s is back", victim)
		}
		for name := range rows {
			if p := getPod(t, k, ns, name); !oldUIDs[string(p.UID)] {
				oldUIDs["new"] = true
			}
		}
		if !oldUIDs["new"] {
			t.Fatalf("no pod with a new UID after deleting %s", victim)
		}

		k.ok(t, "scale", "deployment", "web", "--replicas=5", "-n", ns)
		waitRunning(t, k, ns, "app=web", 5)
		k.ok(t, "scale", "deployment", "web", "--replicas=1", "-n", ns)
		waitRunning(t, k, ns, "app=web", 1)
		k.ok(t, "scale", "deployment", "web", "--replicas=4", "-n", ns)
		waitRunning(t, k, ns, "app=web", 4)

		// A rolling update stays within maxSurge (25% of 4 → 1) and maxUnavailable (25% → 1).
		maxDesired, minAvailable, timeline := watchRolloutBounds(t, c, ns, func() {
			k.ok(t, "set", "image", "deployment/web", "nginx=nginx:1.25", "-n", ns)
			out := k.ok(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
			if !strings.Contains(out, `deployment "web" successfully rolled out`) {
				t.Errorf("rollout status printed %q", out)
			}
		})
		if maxDesired > 5 || minAvailable < 3 {
			t.Errorf("rolling update went outside its bounds: up to %d replicas (limit 5), down to %d available (limit 3):\n%s",
				maxDesired, minAvailable, strings.Join(timeline, "\n"))
		}
		rows = waitRunning(t, k, ns, "app=web", 4)
		for name := range rows {
			if img := getPod(t, k, ns, name).Spec.Containers[0].Image; img != "nginx:1.25" {
				t.Errorf("pod %s runs %s after the rollout", name, img)
			}
		}
		_, rsRows := table(t, k.ok(t, "get", "rs", "-n", ns))
		if len(rsRows) != 2 {
			t.Fatalf("replicasets after one rollout: %v", rsRows)
		}
		history := k.ok(t, "rollout", "history", "deployment/web", "-n", ns)
		if !regexp.MustCompile(`(?m)^1\s`).MatchString(history) || !regexp.MustCompile(`(?m)^2\s`).MatchString(history) {
			t.Errorf("rollout history:\n%s", history)
		}

		// Undo goes back to the first template.
		k.ok(t, "rollout", "undo", "deployment/web", "-n", ns)
		k.ok(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
		rows = waitRunning(t, k, ns, "app=web", 4)
		for name := range rows {
			if img := getPod(t, k, ns, name).Spec.Containers[0].Image; img != "nginx" {
				t.Errorf("pod %s runs %s after undo", name, img)
			}
		}

		// Paused: a template change starts no rollout until resumed.
		if out := k.ok(t, "rollout", "pause", "deployment/web", "-n", ns); strings.TrimSpace(out) != "deployment.apps/web paused" {
			t.Errorf("pause printed %q", out)
		}
		k.ok(t, "set", "image", "deployment/web", "nginx=nginx:1.26", "-n", ns)
		time.Sleep(2 * time.Second)
		if _, rsRows = table(t, k.ok(t, "get", "rs", "-n", ns)); len(rsRows) != 2 {
			t.Errorf("a paused deployment rolled out: %v", rsRows)
		}
		k.ok(t, "rollout", "resume", "deployment/web", "-n", ns)
		k.ok(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
		rows = waitRunning(t, k, ns, "app=web", 4)
		for name := range rows {
			if img := getPod(t, k, ns, name).Spec.Containers[0].Image; img != "nginx:1.26" {
				t.Errorf("pod %s runs %s after resume", name, img)
			}
		}

		// Deleting the deployment takes its ReplicaSets and pods, for good.
		k.ok(t, "delete", "deployment", "web", "-n", ns)
		eventually(t, 60*time.Second, "replicasets and pods to go", func() bool {
			return strings.TrimSpace(k.ok(t, "get", "rs,pods", "-n", ns, "-o", "name")) == ""
		})
		time.Sleep(time.Second)
		if out := strings.TrimSpace(k.ok(t, "get", "rs,pods", "-n", ns, "-o", "name")); out != "" {
			t.Errorf("objects came back after the deployment went: %s", out)
		}
	})
}

// watchRolloutBounds runs f while watching the ReplicaSets of namespace ns, and returns the
// largest sum of their spec.replicas and the smallest sum of their status.availableReplicas
// seen: what a rolling update's maxSurge and maxUnavailable bound.
func watchRolloutBounds(t *testing.T, c *cluster, ns string, f func()) (maxDesired, minAvailable int32, timeline []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rsClient := c.Client.AppsV1().ReplicaSets(ns)
	list, err := rsClient.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		sets[list.Items[i].Name] = &list.Items[i]
	}
	w, err := rsClient.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	sums := func() (desired, available int32) {
		for _, rs := range sets {
			if rs.Spec.Replicas != nil {
				desired += *rs.Spec.Replicas
			}
			available += rs.Status.AvailableReplicas
		}
		return
	}
	maxDesired, minAvailable = sums()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(sets, rs.Name)
			} else {
				sets[rs.Name] = rs
			}
			d, a := sums()
			maxDesired, minAvailable = max(maxDesired, d), min(minAvailable, a)
			var parts []string
			for name, rs := range sets {
				parts = append(parts, fmt.Sprintf("%s spec=%d avail=%d", name, *rs.Spec.Replicas, rs.Status.AvailableReplicas))
			}
			sort.Strings(parts)
			timeline = append(timeline, fmt.Sprintf("%s %s: desired %d available %d [%s]", ev.Type, rs.Name, d, a, strings.Join(parts, "; ")))
		}
	}()
	f()
	time.Sleep(500 * time.Millisecond)
	w.Stop()
	<-done
	return maxDesired, minAvailable, timeline
}

func TestOrphanCascadeAndNamespaceDeletion(t *testing.T) {
	c := controllerCluster(t)
	forEachKubectlOn(t, c, func(t *testing.T, k kubectl, ns string) {
		// The ServiceAccount "default" exists in every namespace.
		eventually(t, 20*time.Second, "the default service account", func() bool {
			return k.run(t, "", "get", "serviceaccount", "default", "-n", ns).code == 0
		})

		k.ok(t, "create", "deployment", "keep", "--image=nginx", "--replicas=2", "-n", ns)
		waitRunning(t, k, ns, "app=keep", 2)
		k.ok(t, "delete", "deployment", "keep", "--cascade=orphan", "-n", ns)
		time.Sleep(2 * time.Second)
		waitRunning(t, k, ns, "app=keep", 2)
		if out := k.ok(t, "get", "rs", "-n", ns, "-o", "jsonpath={.items[*].metadata.ownerReferences}"); strings.TrimSpace(out) != "" {
			t.Errorf("orphaned replicaset keeps owner references: %s", out)
		}

		// Deleting the namespace empties it, then removes it; kubectl waits for that.
		k.ok(t, "create", "deployment", "more", "--image=nginx", "--replicas=2", "-n", ns)
		waitRunning(t, k, ns, "app=more", 2)
		out := k.ok(t, "delete", "namespace", ns, "--timeout=90s")
		if !strings.Contains(out, `namespace "`+ns+`" deleted`) {
			t.Errorf("delete namespace printed %q", out)
		}
		r := k.run(t, "", "get", "namespace", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "NotFound") {
			t.Errorf("namespace still there: %q %q", r.stdout, r.stderr)
		}
	})
}

func TestUnschedulablePod(t *testing.T) {
	c := controllerCluster(t)
	forEachKubectlOn(t, c, func(t *testing.T, k kubectl, ns string) {
		big := `apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests:
        cpu: "100"
`
		k.ok(t, "create", "-f", writeManifest(t, big), "-n", ns)
		eventually(t, 30*time.Second, "a FailedScheduling event", func() bool {
			out := k.ok(t, "describe", "pod", "big", "-n", ns)
			return strings.Contains(out, "FailedScheduling") && strings.Contains(out, "Insufficient cpu")
		})
		_, rows := table(t, k.ok(t, "get", "pod", "big", "-n", ns))
		if rows[0]["STATUS"] != "Pending" {
			t.Errorf("unschedulable pod row %v", rows[0])
		}
		p := getPod(t, k, ns, "big")
		found := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == "Unschedulable" {
				found = true
			}
		}
		if !found || p.Spec.NodeName != "" {
			t.Errorf("pod conditions %+v node %q", p.Status.Conditions, p.Spec.NodeName)
		}
	})
}
