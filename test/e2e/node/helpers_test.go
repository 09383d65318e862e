package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/kubelet/runtime/containerd"
	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// podRows returns `kubectl get pods` as rows keyed by column.
func podRows(t *testing.T, k e2eutil.Kubectl, ns string, args ...string) []map[string]string {
	t.Helper()
	out := k.OK(t, append([]string{"get", "pods", "-n", ns}, args...)...)
	if strings.TrimSpace(out) == "" {
		return nil
	}
	_, rows := e2eutil.Table(t, out)
	return rows
}

// waitPod waits until pod name's row satisfies cond and returns it.
func waitPod(t *testing.T, k e2eutil.Kubectl, ns, name string, timeout time.Duration, what string, cond func(row map[string]string) bool) map[string]string {
	t.Helper()
	var last string
	var found map[string]string
	e2eutil.Eventually(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, what), func() bool {
		r := k.Run(t, "", "get", "pod", name, "-n", ns, "-o", "wide")
		last = r.Stdout + r.Stderr
		if r.Code != 0 {
			return false
		}
		_, rows := e2eutil.Table(t, r.Stdout)
		if len(rows) == 1 && cond(rows[0]) {
			found = rows[0]
			return true
		}
		return false
	}, func() string { return last + "\n" + describe(t, ns, name) })
	return found
}

// describe is what the test prints about a pod when it fails: its status and events.
func describe(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(&b, "get pod: %v\n", err)
	} else {
		fmt.Fprintf(&b, "phase %s conditions %+v\n", pod.Status.Phase, pod.Status.Conditions)
		for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, "container %s: restarts %d state %+v last %+v\n", s.Name, s.RestartCount, s.State, s.LastTerminationState)
		}
	}
	events, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range events.Items {
			if e.InvolvedObject.Name == name {
				fmt.Fprintf(&b, "event %s %s: %s\n", e.Type, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// getPod returns the pod from the API.
func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	pod, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// httpGet fetches url from the node (this process is in the node's network namespace).
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// waitHTTP waits until url answers 200 with a body containing want.
func waitHTTP(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	var body string
	var err error
	e2eutil.Eventually(t, timeout, fmt.Sprintf("%s to answer %q", url, want), func() bool {
		body, err = httpGet(url)
		return err == nil && strings.Contains(body, want)
	}, func() string { return fmt.Sprintf("body %q err %v", body, err) })
}

// containerdIDs lists the IDs of the containers in kubeshim's containerd namespace with ctr.
func containerdIDs(t *testing.T) []string {
	t.Helper()
	sock := containerd.SocketPath(filepath.Join(cluster.DataDir, "kubelet", "containerd"))
	out, err := exec.Command("ctr", "-a", sock, "-n", "kubeshim", "containers", "ls", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr containers ls: %v: %s", err, out)
	}
	return strings.Fields(string(out))
}
