package testenv_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeshim/kubeshim/testenv"
)

// keysAnnotation is what the example's reconciler writes: how many keys a ConfigMap has.
const keysAnnotation = "example.kubeshim.io/keys"

// keyCounter is a controller-runtime reconciler: it annotates every ConfigMap labelled
// app=demo with the number of its keys.
type keyCounter struct{ client client.Client }

func (r *keyCounter) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cm corev1.ConfigMap
	if err := r.client.Get(ctx, req.NamespacedName, &cm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	want := strconv.Itoa(len(cm.Data))
	if cm.Labels["app"] != "demo" || cm.Annotations[keysAnnotation] == want {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(cm.DeepCopy())
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[keysAnnotation] = want
	return ctrl.Result{}, r.client.Patch(ctx, &cm, patch)
}

// A controller built with controller-runtime's manager and builder runs against the
// in-process server; the test talks to it with controller-runtime's client.
func Example_controllerRuntime() {
	ctrl.SetLogger(klog.Background())
	env, err := testenv.Start(context.Background(), testenv.Options{})
	if err != nil {
		fmt.Println("start:", err)
		return
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Println("stop:", err)
		}
	}()

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics: metricsserver.Options{BindAddress: "0"}, // no metrics listener in a test
	})
	if err != nil {
		fmt.Println("manager:", err)
		return
	}
	err = ctrl.NewControllerManagedBy(mgr).For(&corev1.ConfigMap{}).Complete(&keyCounter{client: mgr.GetClient()})
	if err != nil {
		fmt.Println("controller:", err)
		return
	}
	ctx, stopManager := context.WithCancel(context.Background())
	managerDone := make(chan error, 1)
	go func() { managerDone <- mgr.Start(ctx) }()
	defer func() {
		stopManager()
		if err := <-managerDone; err != nil {
			fmt.Println("manager:", err)
		}
	}()

	// The test's own client: controller-runtime's, reading straight from the server.
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		fmt.Println("client:", err)
		return
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "default", Labels: map[string]string{"app": "demo"}},
		Data:       map[string]string{"color": "blue", "size": "L"},
	}
	if err := c.Create(ctx, cm); err != nil {
		fmt.Println("create:", err)
		return
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return cm.Annotations[keysAnnotation] != "", err
	})
	if err != nil {
		fmt.Println("waiting for the reconciler:", err)
		return
	}
	fmt.Println("keys:", cm.Annotations[keysAnnotation])
	// Output:
	// keys: 2
}
