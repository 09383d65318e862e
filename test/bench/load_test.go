package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// benchNamespace holds every object the benchmarks create.
const benchNamespace = "bench"

// createNamespace makes benchNamespace on the server.
func createNamespace(ctx context.Context, client kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", benchNamespace, err)
	}
	return nil
}

// podName is the name of the i-th pod a benchmark creates; prefix keeps runs apart.
func podName(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }

// benchPod is the i-th pod of a benchmark: shaped like a Deployment's web server replica,
// with labels, one container with an image, named ports, plain and downward-API env, resource
// requests and limits and a readiness probe, so the server stores (and defaults, validates
// and encodes) what a real cluster holds.
func benchPod(prefix string, i int) *corev1.Pod {
	app := fmt.Sprintf("web-%02d", i%20)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(prefix, i),
			Namespace: benchNamespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":    app,
				"app.kubernetes.io/part-of": "kubeshim-bench",
				"tier":                      "frontend",
				"pod-template-hash":         fmt.Sprintf("%x", 0x5d8f6c7b9+i%20),
			},
			Annotations: map[string]string{
				"kubeshim.io/bench-index": strconv.Itoa(i),
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.example.com/shop/" + app + ":1.27.3",
				Args:  []string{"--listen=:8080", "--metrics=:9102"},
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9102, Protocol: corev1.ProtocolTCP},
				},
				Env: []corev1.EnvVar{
					{Name: "APP_NAME", Value: app},
					{Name: "LOG_LEVEL", Value: "info"},
					{Name: "CACHE_SIZE_MB", Value: "64"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("100m"),
						corev1.ResourceMemory: resource.MustParse("128Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("500m"),
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")},
					},
					PeriodSeconds: 5,
				},
			}},
		},
	}
}

// runCount runs op(worker, i) for every i in [0, n) on workers goroutines and returns the
// wall time it took. It stops at the first error and returns it.
func runCount(ctx context.Context, workers, n int, op func(ctx context.Context, worker, i int) error) (time.Duration, error) {
	var next atomic.Int64
	g := newGroup(ctx)
	start := time.Now()
	for w := range workers {
		g.run(func(ctx context.Context) error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return nil
				}
				if err := op(ctx, w, i); err != nil {
					return err
				}
			}
		})
	}
	err := g.wait()
	return time.Since(start), err
}

// runFor calls op(worker, iteration) on workers goroutines for about d, and returns how many
// calls succeeded and the wall time until the last one returned. It stops at the first error
// and returns it.
func runFor(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker, iteration int) error) (int64, time.Duration, error) {
	var ops atomic.Int64
	g := newGroup(ctx)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		g.run(func(ctx context.Context) error {
			for it := 0; time.Now().Before(deadline) && ctx.Err() == nil; it++ {
				if err := op(ctx, w, it); err != nil {
					return err
				}
				ops.Add(1)
			}
			return nil
		})
	}
	err := g.wait()
	return ops.Load(), time.Since(start), err
}

// group runs goroutines that stop, through their context, when one of them fails; wait
// returns the first error.
type group struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) *group {
	inner, cancel := context.WithCancel(ctx)
	return &group{parent: ctx, ctx: inner, cancel: cancel}
}

func (g *group) run(f func(ctx context.Context) error) {
	g.wg.Go(func() {
		if err := f(g.ctx); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	})
}

func (g *group) wait() error {
	g.wg.Wait()
	g.cancel()
	if g.err == nil && g.parent.Err() != nil {
		// A cancelled parent stops the workers early without an error of their own.
		return fmt.Errorf("stopped early: %w", g.parent.Err())
	}
	return g.err
}

// createPods creates the pods prefix-first .. prefix-(first+n-1) from the clients, one
// worker per client, and returns the wall time it took.
func createPods(ctx context.Context, clients []kubernetes.Interface, prefix string, first, n int) (time.Duration, error) {
	return runCount(ctx, len(clients), n, func(ctx context.Context, w, i int) error {
		pod := benchPod(prefix, first+i)
		if _, err := clients[w].CoreV1().Pods(benchNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		return nil
	})
}

// listAll walks every page of the pods in benchNamespace, limit items a page, checks that no
// page is larger than asked, and returns how many pods there are and how many pages it took.
func listAll(ctx context.Context, client kubernetes.Interface, limit int64) (items, pages int, err error) {
	opts := metav1.ListOptions{Limit: limit}
	for {
		list, err := client.CoreV1().Pods(benchNamespace).List(ctx, opts)
		if err != nil {
			return items, pages, fmt.Errorf("list pods (page %d, limit %d): %w", pages+1, limit, err)
		}
		if int64(len(list.Items)) > limit {
			return items, pages, fmt.Errorf("list pods (page %d): %d items, more than limit %d", pages+1, len(list.Items), limit)
		}
		items += len(list.Items)
		pages++
		if list.Continue == "" {
			return items, pages, nil
		}
		opts.Continue = list.Continue
	}
}

// roundUp returns n rounded up to a multiple of m (m > 0).
func roundUp(n, m int) int { return (n + m - 1) / m * m }
