// Package node measures the kubelet: how long a pod takes from its create call to Running, as
// a watch sees it, with its image present. It runs kubeshim whole (API server, controllers,
// kubelet on a private containerd) in private network, mount and PID namespaces, as the node
// e2e tests do, and prints its figures; it asserts nothing about speed.
package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

func TestMain(m *testing.M) {
	// `go test` without -bench runs nothing here: no namespaces, no cluster.
	if !benchmarking() {
		os.Exit(m.Run())
	}
	if reason := e2eutil.NodeRequirements(); reason != "" {
		e2eutil.SkipOrFail("node benchmarks: " + reason)
	}
	if !e2eutil.Isolated() {
		os.Exit(e2eutil.ReexecIsolated())
	}
	code := m.Run()
	if err := node.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "node benchmarks:", err)
		code = 1
	}
	os.Exit(code)
}

// node is the kubeshim every benchmark here shares, started by the first that needs it.
var node benchNode

type benchNode struct {
	once       sync.Once
	err        error
	dir        string
	cleanup    func()
	cgroupRoot string
	cluster    *e2eutil.Cluster
}

// start runs kubeshim whole (API server, controllers, kubelet) with the busybox and nginx
// archives, and waits for its node to be Ready.
func (n *benchNode) start(b *testing.B) *e2eutil.Cluster {
	b.Helper()
	n.once.Do(func() {
		if n.dir, n.err = e2eutil.SetUpIsolated(); n.err != nil {
			return
		}
		var bin string
		if bin, n.cleanup, n.err = e2eutil.KubeshimBinary(); n.err != nil {
			return
		}
		dataDir := filepath.Join(n.dir, "data")
		imagesDir := filepath.Join(dataDir, "images")
		if n.err = os.MkdirAll(imagesDir, 0o755); n.err != nil {
			return
		}
		for _, name := range []string{"busybox.tar", "nginx.tar"} {
			if n.err = os.Symlink(filepath.Join(e2eutil.ImagesDir(), name), filepath.Join(imagesDir, name)); n.err != nil {
				return
			}
		}
		n.cgroupRoot = e2eutil.CgroupRoot("kubeshim-bench")
		n.cluster, n.err = e2eutil.StartCluster(bin, dataDir, []string{"--node-name", "bench-node", "--node-ip", e2eutil.NodeIP,
			"--cgroup-root", n.cgroupRoot})
		if n.err != nil {
			return
		}
		n.err = waitNodeReady(context.Background(), n.cluster.Client, "bench-node")
	})
	if n.err != nil {
		b.Fatal(n.err)
	}
	return n.cluster
}

// stop deletes the benchmarks' pods, stops kubeshim and removes what it left.
func (n *benchNode) stop() error {
	var errs []error
	if n.cluster != nil {
		ctx := context.Background()
		// Grace 1, not 0: the pods stay in the API until the kubelet has removed their
		// containers, so their cgroups go before kubeshim stops.
		grace := int64(1)
		client := n.cluster.Client
		if err := client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("delete the pods: %w", err))
		}
		deadline := time.Now().Add(time.Minute)
		for {
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err == nil && len(pods.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("pods left a minute after their deletion: %v", err))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := n.cluster.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop kubeshim: %w", err))
		}
		if err := e2eutil.RemoveCgroups(n.cgroupRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if n.cleanup != nil {
		n.cleanup()
	}
	if n.dir != "" {
		e2eutil.TearDownIsolated(n.dir)
	}
	return errors.Join(errs...)
}

func benchmarking() bool {
	for _, a := range os.Args[1:] {
		if len(a) > 12 && a[:12] == "-test.bench=" && a != "-test.bench=" {
			return true
		}
	}
	return false
}

// podCount is how many pods the latency is measured over.
const podCount = 50

// BenchmarkPodStartLatency creates podCount pods one after another, each once the previous
// one runs, and reports the median and p99 of create → Running (seen by a watch).
func BenchmarkPodStartLatency(b *testing.B) {
	c := node.start(b)
	ctx := context.Background()
	client := c.Client
	// A first pod unpacks the image; it is not counted.
	if _, err := startPod(ctx, client, "warm-up"); err != nil {
		b.Fatalf("%v\n%s", err, c.Logs.String())
	}
	b.ResetTimer()
	var latencies []time.Duration
	for i := 0; i < podCount; i++ {
		d, err := startPod(ctx, client, fmt.Sprintf("pod-%d", i))
		if err != nil {
			b.Fatalf("%v\n%s", err, c.Logs.String())
		}
		latencies = append(latencies, d)
	}
	b.StopTimer()
	slices.Sort(latencies)
	med := latencies[len(latencies)/2]
	p99 := latencies[(len(latencies)*99+99)/100-1]
	b.ReportMetric(float64(med)/float64(time.Millisecond), "median-ms")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
	met := "met"
	if p99 >= time.Second {
		met = "MISSED"
	}
	fmt.Printf("\nkubeshim pod start latency (create → Running seen by a watch, image present, %d pods one after another):\n"+
		"  median %v, p99 %v (target p99 < 1s: %s)\n", podCount, med.Round(time.Millisecond), p99.Round(time.Millisecond), met)

}

// startPod creates a pod and returns the time from the create call to a watch seeing it
// Running.
func startPod(ctx context.Context, client kubernetes.Interface, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pods := client.CoreV1().Pods("default")
	list, err := pods.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, err
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=" + name})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
			}},
		},
	}
	start := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("create pod %s: %w", name, err)
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return 0, fmt.Errorf("watch pod %s: %v", name, ev.Object)
		}
		if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("pod %s not Running after a minute", name)
}

// waitNodeReady waits for the node to register Ready.
func waitNodeReady(ctx context.Context, client kubernetes.Interface, name string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("node %s not Ready after a minute", name)
}
