package multinode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// podRows is `kubectl get pods -o wide` as rows.
func podRows(t *testing.T, k e2eutil.Kubectl, ns string, args ...string) []map[string]string {
	t.Helper()
	out := k.OK(t, append([]string{"get", "pods", "-n", ns, "-o", "wide"}, args...)...)
	if strings.TrimSpace(out) == "" {
		return nil
	}
	_, rows := e2eutil.Table(t, out)
	return rows
}

// All three nodes are Ready with their own podCIDRs from the cluster range.
func TestNodesJoin(t *testing.T) {
	k := kubectls(t)[1]
	_, rows := e2eutil.Table(t, k.OK(t, "get", "nodes", "-o", "wide"))
	if len(rows) != 3 {
		t.Fatalf("nodes: %v", rows)
	}
	cidrs := map[string]bool{}
	for _, r := range rows {
		if r["STATUS"] != "Ready" {
			t.Errorf("node %s is %s", r["NAME"], r["STATUS"])
		}
		node, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), r["NAME"], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(node.Spec.PodCIDR, "10.88.") || !strings.HasSuffix(node.Spec.PodCIDR, "/24") || cidrs[node.Spec.PodCIDR] {
			t.Errorf("node %s podCIDR %q", node.Name, node.Spec.PodCIDR)
		}
		cidrs[node.Spec.PodCIDR] = true
	}
}

// Seed step 12: a DaemonSet puts one pod on every node, and rollout status follows it.
func TestDaemonSetOnEveryNode(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	ks[1].OKIn(t, `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
`, "apply", "-n", ns, "-f", "-")
	for _, k := range ks {
		out := k.OK(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=90s")
		if !strings.Contains(out, "successfully rolled out") {
			t.Errorf("%s rollout status: %q", k.Name(), out)
		}
	}
	rows := podRows(t, ks[0], ns)
	var nodes []string
	for _, r := range rows {
		if r["STATUS"] != "Running" {
			t.Errorf("pod %s is %s", r["NAME"], r["STATUS"])
		}
		nodes = append(nodes, r["NODE"])
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"e2e-node1", "e2e-node2", "e2e-node3"}) {
		t.Errorf("daemon pods on nodes %v, want one on each", nodes)
	}
	_, ds := e2eutil.Table(t, ks[1].OK(t, "get", "daemonset", "agent", "-n", ns))
	if ds[0]["DESIRED"] != "3" || ds[0]["READY"] != "3" || ds[0]["AVAILABLE"] != "3" {
		t.Errorf("daemonset row %v", ds[0])
	}
}

// Seed step 12: pods reach each other across nodes by pod IP.
func TestPodsReachAcrossNodes(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: server
spec:
  nodeName: e2e-node3
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: nginx
    imagePullPolicy: IfNotPresent
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: e2e-node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`, "create", "-n", ns, "-f", "-")
	var ip string
	e2eutil.Eventually(t, 60*time.Second, "both pods Running", func() bool {
		rows := podRows(t, k, ns)
		running := 0
		for _, r := range rows {
			if r["STATUS"] == "Running" {
				running++
			}
			if r["NAME"] == "server" {
				ip = r["IP"]
			}
		}
		return running == 2
	}, func() string { return k.OK(t, "get", "pods", "-n", ns, "-o", "wide") })
	var r e2eutil.Result
	e2eutil.Eventually(t, 30*time.Second, "the client on node 1 to fetch the page of the server on node 3", func() bool {
		r = k.Run(t, "", "exec", "client", "-n", ns, "--", "wget", "-q", "-O", "-", "http://"+ip+"/")
		return r.Code == 0 && strings.Contains(r.Stdout, "Welcome to nginx")
	}, func() string {
		routes, _ := exec.Command("ip", "route").CombinedOutput()
		body, err := httpGet("http://" + ip + "/")
		return fmt.Sprintf("%+v\nfrom node 1 itself: %q %v\nnode 1's routes:\n%s", r, body, err, routes)
	})
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// kubectl drain evicts a node's pods (through the eviction API) and cordons it; the
// Deployment's pods come back on the other nodes.
func TestDrain(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OK(t, "create", "deployment", "web", "--image=nginx", "--replicas=4", "-n", ns)
	e2eutil.Eventually(t, 60*time.Second, "4 pods Running", func() bool {
		n := 0
		for _, r := range podRows(t, k, ns) {
			if r["STATUS"] == "Running" {
				n++
			}
		}
		return n == 4
	}, func() string { return k.OK(t, "get", "pods", "-n", ns, "-o", "wide") })
	out := k.OK(t, "drain", "e2e-node2", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s")
	if !strings.Contains(out, "node/e2e-node2 drained") {
		t.Errorf("drain printed %q", out)
	}
	defer k.OK(t, "uncordon", "e2e-node2")
	_, nodes := e2eutil.Table(t, k.OK(t, "get", "node", "e2e-node2"))
	if nodes[0]["STATUS"] != "Ready,SchedulingDisabled" {
		t.Errorf("drained node STATUS %q", nodes[0]["STATUS"])
	}
	e2eutil.Eventually(t, 60*time.Second, "4 pods Running, none on e2e-node2", func() bool {
		n := 0
		for _, r := range podRows(t, k, ns) {
			if r["NODE"] == "e2e-node2" {
				return false
			}
			if r["STATUS"] == "Running" {
				n++
			}
		}
		return n == 4
	}, func() string { return k.OK(t, "get", "pods", "-n", ns, "-o", "wide") })
}

// Seed step 12: a lost node goes NotReady, its pods are evicted after their toleration (2 s
// here: the cluster runs with --default-unreachable-toleration-seconds 2) and
// the Deployment's replacements (new UIDs) run on the other nodes. When the node comes back
// it is Ready again.
func TestNodeFailureEvictsPods(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	// Only node 3 takes the Deployment's pods at first.
	k.OK(t, "cordon", "e2e-node1")
	k.OK(t, "cordon", "e2e-node2")
	k.OKIn(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: nginx
        imagePullPolicy: IfNotPresent
`, "apply", "-n", ns, "-f", "-")
	var before []string
	e2eutil.Eventually(t, 60*time.Second, "2 pods Running on e2e-node3", func() bool {
		before = nil
		for _, r := range podRows(t, k, ns) {
			if r["STATUS"] == "Running" && r["NODE"] == "e2e-node3" {
				before = append(before, r["NAME"])
			}
		}
		return len(before) == 2
	}, func() string { return k.OK(t, "get", "pods", "-n", ns, "-o", "wide") })
	k.OK(t, "uncordon", "e2e-node1")
	k.OK(t, "uncordon", "e2e-node2")
	tolerations := k.OK(t, "get", "pod", before[0], "-n", ns, "-o",
		`jsonpath={.spec.tolerations[?(@.key=="node.kubernetes.io/unreachable")].tolerationSeconds}`)
	if tolerations != "2" {
		t.Errorf("the pods' default unreachable toleration is %q seconds, want 2", tolerations)
	}

	node3 := workers[1]
	node3.kill()
	e2eutil.Eventually(t, 60*time.Second, "e2e-node3 NotReady", func() bool {
		_, rows := e2eutil.Table(t, k.OK(t, "get", "node", "e2e-node3"))
		return rows[0]["STATUS"] == "NotReady"
	}, func() string { return k.OK(t, "describe", "node", "e2e-node3") })
	e2eutil.Eventually(t, 30*time.Second, "the unreachable:NoExecute taint on the lost node", func() bool {
		node, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), "e2e-node3", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, taint := range node.Spec.Taints {
			if taint.Key == "node.kubernetes.io/unreachable" && taint.Effect == "NoExecute" {
				return true
			}
		}
		return false
	}, func() string { return k.OK(t, "describe", "node", "e2e-node3") })
	e2eutil.Eventually(t, 90*time.Second, "2 new pods Running on the other nodes", func() bool {
		n := 0
		for _, r := range podRows(t, k, ns) {
			if r["STATUS"] == "Running" && r["NODE"] != "e2e-node3" && !slices.Contains(before, r["NAME"]) {
				n++
			}
		}
		return n == 2
	}, func() string { return k.OK(t, "get", "pods", "-n", ns, "-o", "wide") })

	// The node comes back: Ready again, and its kubelet removes what it still ran.
	if err := node3.start(images); err != nil {
		t.Fatal(err)
	}
	if err := waitNodesReady("e2e-node3"); err != nil {
		t.Fatal(err)
	}
}
