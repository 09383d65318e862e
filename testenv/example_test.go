package testenv_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/testenv"
)

// A client-go program against the in-process server, with the controllers and a simulated
// node: a Deployment's pods are scheduled onto the node and go Running. In a test, use
// testenv.StartT(t, opts), which stops the environment when the test ends.
func Example() {
	ctx := context.Background()
	env, err := testenv.Start(ctx, testenv.Options{Controllers: true, SimulatedNode: true})
	if err != nil {
		fmt.Println("start:", err)
		return
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Println("stop:", err)
		}
	}()
	client, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		fmt.Println("client:", err)
		return
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		fmt.Println("create namespace:", err)
		return
	}
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("shop").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		fmt.Println("create deployment:", err)
		return
	}

	// The Deployment controller makes a ReplicaSet, the ReplicaSet controller its pods, the
	// scheduler binds them to the simulated node, which reports them Running and Ready.
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 3, err
	})
	if err != nil {
		fmt.Println("waiting for the deployment:", err)
		return
	}
	pods, err := client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		fmt.Println("list pods:", err)
		return
	}
	fmt.Println("deployment web: 3/3 ready")
	for _, p := range pods.Items {
		fmt.Println(p.Status.Phase, "on", p.Spec.NodeName, "ready:", podReady(p))
	}
	// Output:
	// deployment web: 3/3 ready
	// Running on testenv-node ready: true
	// Running on testenv-node ready: true
	// Running on testenv-node ready: true
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
