package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/kubeshim/kubeshim/kubelet/simnode"
)

const (
	// cpDeployment is the Deployment BenchmarkControlPlane creates and rolls.
	cpDeployment = "web"
	// cpReplicas is its replica count.
	cpReplicas = 100
	// cpNode is the simulated node the pods land on.
	cpNode = "node-1"
	// cpTimeout bounds each timed phase: a phase not done by then is hung, not slow.
	cpTimeout = 3 * time.Minute
	// cpNodeStopTimeout is how long the simulated node gets to return once cancelled.
	cpNodeStopTimeout = 10 * time.Second
)

// BenchmarkControlPlane times the controllers and the scheduler of `kubeshim up --no-kubelet`
// (controllers on, as the harness starts it) with a simulated node in this process that
// marks bound pods Running and Ready at once: a 100-replica Deployment from create to every
// pod bound and to 100 available, then a rolling update of its image to complete.
func BenchmarkControlPlane(b *testing.B) {
	s := startForBenchmark(b)
	clients, err := newClients(s.config, 1)
	if err != nil {
		b.Fatal(err)
	}
	client := clients[0]
	if err := ensureNamespace(b.Context(), client); err != nil {
		b.Fatal(s.check(err))
	}

	// Registered after startForBenchmark's cleanup, so it runs first: the node stops before
	// the server does.
	stopNode := startSimNode(b, client)
	b.Cleanup(func() {
		if err := stopNode(); err != nil {
			b.Error(err)
		}
	})
	if err := waitNodeReady(b.Context(), client, cpNode); err != nil {
		b.Fatal(s.check(err))
	}

	created := false
	b.Run(fmt.Sprintf("deployment-%d", cpReplicas), func(b *testing.B) {
		toBound, toAvailable, err := timeDeploymentCreate(b.Context(), client)
		if err != nil {
			b.Fatal(s.check(err))
		}
		created = true
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(milliseconds(toBound), "ms-to-bound")
		b.ReportMetric(milliseconds(toAvailable), "ms-to-available")
		b.Logf("deployment of %d replicas: all pods bound %.1f ms, %d available %.1f ms after the create",
			cpReplicas, milliseconds(toBound), cpReplicas, milliseconds(toAvailable))
		record(b, figure{
			what:  fmt.Sprintf("%d-replica Deployment, create to every pod bound (simulated node)", cpReplicas),
			value: fmt.Sprintf("%.1f ms", milliseconds(toBound)),
		})
		record(b, figure{
			what:  fmt.Sprintf("  create to %d available", cpReplicas),
			value: fmt.Sprintf("%.1f ms", milliseconds(toAvailable)),
		})
	})

	b.Run(fmt.Sprintf("rolling-update-%d", cpReplicas), func(b *testing.B) {
		if !created {
			// Run on its own (-bench .../rolling-update): make the Deployment, untimed.
			if _, _, err := timeDeploymentCreate(b.Context(), client); err != nil {
				b.Fatal(s.check(err))
			}
			created = true
		}
		took, err := timeRollout(b.Context(), client, "nginx:1.25")
		if err != nil {
			b.Fatal(s.check(err))
		}
		// Untimed: let the old pods finish terminating, so the node is idle when it stops.
		if err := waitPodCount(b.Context(), client, cpReplicas); err != nil {
			b.Fatal(s.check(err))
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(milliseconds(took), "ms-rollout")
		b.Logf("rolling update of %d replicas to nginx:1.25: complete %.1f ms after the update", cpReplicas, milliseconds(took))
		record(b, figure{
			what:  "  rolling update of its image, update to rollout complete",
			value: fmt.Sprintf("%.1f ms", milliseconds(took)),
		})
	})
}

// startSimNode runs a simulated node named cpNode in a goroutine and returns a func that
// stops it and reports how it ended.
func startSimNode(b *testing.B, client kubernetes.Interface) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	node := simnode.New(client, cpNode)
	// Room for the surge of a rolling update on one node (the default 110 pods would leave
	// surge pods unschedulable until old ones go, timing the scheduler's backoff instead).
	node.Capacity = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("500"),
	}
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	var once sync.Once
	var stopErr error
	return func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					stopErr = fmt.Errorf("simulated node %s: %w", cpNode, err)
				}
			case <-time.After(cpNodeStopTimeout):
				stopErr = fmt.Errorf("simulated node %s still running %v after it was stopped", cpNode, cpNodeStopTimeout)
			}
		})
		return stopErr
	}
}

// waitNodeReady waits (untimed) until the node is registered and Ready.
func waitNodeReady(ctx context.Context, client kubernetes.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, cpTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulated node %s not Ready within %v (last error: %v)", name, cpTimeout, err)
		case <-tick.C:
		}
	}
}

// timeDeploymentCreate creates the Deployment and returns how long after the create call
// every one of its pods was bound to a node, and the Deployment reported all available.
func timeDeploymentCreate(ctx context.Context, client kubernetes.Interface) (toBound, toAvailable time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, cpTimeout)
	defer cancel()
	selector := labels.SelectorFromSet(labels.Set{"app": cpDeployment}).String()
	pods := client.CoreV1().Pods(benchNamespace)
	// Watch from before the create, so no binding is missed.
	podList, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
	if err != nil {
		return 0, 0, fmt.Errorf("list pods %s: %w", selector, err)
	}
	deployments := client.AppsV1().Deployments(benchNamespace)
	depList, err := deployments.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, 0, fmt.Errorf("list deployments: %w", err)
	}

	var start time.Time
	started := make(chan struct{})
	type outcome struct {
		took time.Duration
		err  error
	}
	boundCh, availableCh := make(chan outcome, 1), make(chan outcome, 1)

	bound := map[string]bool{} // pod name → bound and not being deleted
	go func() {
		lw := &cache.ListWatch{WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return pods.Watch(ctx, o)
		}}
		_, err := watchtools.Until(ctx, podList.ResourceVersion, lw, func(ev watch.Event) (bool, error) {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return false, nil
			}
			bound[pod.Name] = ev.Type != watch.Deleted && pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil
			n := 0
			for _, b := range bound {
				if b {
					n++
				}
			}
			return n >= cpReplicas, nil
		})
		<-started
		if err != nil {
			n := 0
			for _, b := range bound {
				if b {
					n++
				}
			}
			err = fmt.Errorf("waiting for %d pods %s bound (%d are): %w", cpReplicas, selector, n, err)
		}
		boundCh <- outcome{time.Since(start), err}
	}()
	var last appsv1.DeploymentStatus
	go func() {
		err := watchDeploymentUntil(ctx, client, depList.ResourceVersion, func(d *appsv1.Deployment) bool {
			last = d.Status
			return d.Status.AvailableReplicas >= cpReplicas
		})
		<-started
		if err != nil {
			err = fmt.Errorf("waiting for deployment %s to report %d available (status %+v): %w", cpDeployment, cpReplicas, last, err)
		}
		availableCh <- outcome{time.Since(start), err}
	}()

	start = time.Now()
	close(started)
	if _, err := deployments.Create(ctx, benchDeployment("nginx"), metav1.CreateOptions{}); err != nil {
		cancel()
		<-boundCh
		<-availableCh
		return 0, 0, fmt.Errorf("create deployment %s: %w", cpDeployment, err)
	}
	b, a := <-boundCh, <-availableCh
	if err := errors.Join(b.err, a.err); err != nil {
		return 0, 0, err
	}
	return b.took, a.took, nil
}

// timeRollout sets the image of the Deployment and returns how long after the update call
// the rollout was complete, as `kubectl rollout status` sees it.
func timeRollout(ctx context.Context, client kubernetes.Interface, image string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, cpTimeout)
	defer cancel()
	deployments := client.AppsV1().Deployments(benchNamespace)
	start := time.Now()
	var updated *appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deployments.Get(ctx, cpDeployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		updated, err = deployments.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update deployment %s image to %s: %w", cpDeployment, image, err)
	}
	var last appsv1.Deployment
	var stalled error
	err = watchDeploymentUntil(ctx, client, updated.ResourceVersion, func(d *appsv1.Deployment) bool {
		last = *d
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				stalled = fmt.Errorf("deployment %s exceeded its progress deadline: %s", cpDeployment, c.Message)
				return true
			}
		}
		return rolloutComplete(d)
	})
	took := time.Since(start)
	if stalled != nil {
		return 0, stalled
	}
	if err != nil {
		return 0, fmt.Errorf("waiting for the rollout of deployment %s (generation %d, status %+v): %w",
			cpDeployment, last.Generation, last.Status, err)
	}
	return took, nil
}

// waitPodCount waits until exactly want pods of the Deployment exist.
func waitPodCount(ctx context.Context, client kubernetes.Interface, want int) error {
	ctx, cancel := context.WithTimeout(ctx, cpTimeout)
	defer cancel()
	selector := labels.SelectorFromSet(labels.Set{"app": cpDeployment}).String()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(list.Items) == want {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d pods exist", len(list.Items))
			}
			return fmt.Errorf("old pods %s not gone within %v, want %d: %w", selector, cpTimeout, want, err)
		case <-tick.C:
		}
	}
}

// rolloutComplete is `kubectl rollout status`'s test: the controller has seen the current
// spec, every replica is updated and available, and no old replica is left.
func rolloutComplete(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation &&
		st.UpdatedReplicas == want &&
		st.Replicas == want &&
		st.AvailableReplicas == want
}

// watchDeploymentUntil watches the Deployment from resourceVersion until done returns true
// for it.
func watchDeploymentUntil(ctx context.Context, client kubernetes.Interface, resourceVersion string, done func(*appsv1.Deployment) bool) error {
	deployments := client.AppsV1().Deployments(benchNamespace)
	lw := &cache.ListWatch{WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cpDeployment).String()
		return deployments.Watch(ctx, o)
	}}
	_, err := watchtools.Until(ctx, resourceVersion, lw, func(ev watch.Event) (bool, error) {
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("deployment %s was deleted", cpDeployment)
		}
		return done(d), nil
	})
	return err
}

// benchDeployment is the Deployment of cpReplicas pods of image.
func benchDeployment(image string) *appsv1.Deployment {
	replicas := int32(cpReplicas)
	podLabels := map[string]string{"app": cpDeployment}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: cpDeployment, Namespace: benchNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: image}},
				},
			},
		},
	}
}
