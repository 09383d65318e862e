package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// execCount is how many execs the round trip is measured over.
const execCount = 30

// BenchmarkExecRoundTrip measures `kubectl exec POD -- true` as a user runs it (kubectl 1.33,
// WebSocket) and the same exec through client-go's executor (no process start), over
// execCount runs each.
func BenchmarkExecRoundTrip(b *testing.B) {
	c := node.start(b)
	ctx := context.Background()
	if err := runPod(ctx, c, "exec-target", []string{"sleep", "3600"}); err != nil {
		b.Fatal(err)
	}
	kubectl := e2eutil.Kubectl{Path: e2eutil.StockKubectls[len(e2eutil.StockKubectls)-1], Kubeconfig: c.Kubeconfig, Home: c.DataDir}
	b.ResetTimer()
	var viaKubectl, viaClient []time.Duration
	for i := 0; i < execCount+1; i++ {
		start := time.Now()
		kubectl.OK(b, "exec", "exec-target", "--", "true")
		if i > 0 { // the first warms kubectl's discovery cache up
			viaKubectl = append(viaKubectl, time.Since(start))
		}
	}
	for i := 0; i < execCount+1; i++ {
		start := time.Now()
		if err := execTrue(ctx, c, "exec-target"); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			viaClient = append(viaClient, time.Since(start))
		}
	}
	b.StopTimer()
	kMed, kP90 := percentiles(viaKubectl)
	cMed, cP90 := percentiles(viaClient)
	b.ReportMetric(ms(kMed), "kubectl-median-ms")
	b.ReportMetric(ms(cMed), "client-median-ms")
	fmt.Printf("\nkubeshim exec round trip (%d execs of `true` each):\n"+
		"  kubectl 1.33 exec (process start included): median %v, p90 %v\n"+
		"  client-go executor (SPDY, API server → kubelet → containerd): median %v, p90 %v\n",
		execCount, kMed.Round(time.Millisecond), kP90.Round(time.Millisecond), cMed.Round(time.Millisecond), cP90.Round(time.Millisecond))
}

// logBytes is how much the log-throughput pod writes: with the CRI prefix of every line (about
// 1.6 times the text here) it stays under the 5 files of 10 MiB that rotation keeps, so all of
// it is read back.
const logBytes = 24 << 20

// BenchmarkLogThroughput measures `kubectl logs` reading a 24 MiB container log (through the
// API server's proxy and the kubelet's CRI log reader), in MB/s.
func BenchmarkLogThroughput(b *testing.B) {
	c := node.start(b)
	ctx := context.Background()
	script := fmt.Sprintf("yes 'the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJ' | head -c %d; echo; echo done-writing >&2; sleep 3600", logBytes)
	if err := runPod(ctx, c, "log-writer", []string{"sh", "-c", script}); err != nil {
		b.Fatal(err)
	}
	kubectl := e2eutil.Kubectl{Path: e2eutil.StockKubectls[len(e2eutil.StockKubectls)-1], Kubeconfig: c.Kubeconfig, Home: c.DataDir}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		last := kubectl.OK(b, "logs", "log-writer", "--tail=2")
		if strings.Contains(last, "done-writing") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the pod did not finish writing its log in 2 minutes; its last lines: %q", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.ResetTimer()
	var best time.Duration
	var n int64
	for i := 0; i < 3; i++ {
		cmd := exec.Command(kubectl.Path, "--kubeconfig", kubectl.Kubeconfig, "logs", "log-writer")
		cmd.Env = append(os.Environ(), "HOME="+kubectl.Home)
		var counter countingWriter
		cmd.Stdout = &counter
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("kubectl logs: %v", err)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
		n = counter.n
	}
	b.StopTimer()
	if n < logBytes {
		b.Fatalf("kubectl logs read %d bytes, want at least %d", n, logBytes)
	}
	mbps := float64(n) / 1e6 / best.Seconds()
	b.ReportMetric(mbps, "MB/s")
	fmt.Printf("\nkubeshim log throughput: kubectl logs of a %.0f MiB container log in %v (best of 3): %.1f MB/s\n",
		float64(n)/(1<<20), best.Round(time.Millisecond), mbps)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// runPod creates a busybox pod running command and waits until it runs.
func runPod(ctx context.Context, c *e2eutil.Cluster, name string, command []string) error {
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "main", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: command}},
		},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s: %w", name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("pod %s not Running after a minute", name)
}

// execTrue runs `true` in pod name through client-go's SPDY executor.
func execTrue(ctx context.Context, c *e2eutil.Cluster, name string) error {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: []string{"true"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: &stderr}); err != nil {
		return fmt.Errorf("exec: %w: %s", err, stderr.String())
	}
	return nil
}

func percentiles(ds []time.Duration) (median, p90 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*9+9)/10-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
