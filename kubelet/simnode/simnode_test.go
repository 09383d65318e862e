package simnode

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNodeRunsAndDeletesPods(t *testing.T) {
	client := fake.NewSimpleClientset()
	ctx, cancel := context.WithCancel(context.Background())
	n := New(client, "sim-1")
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	waitFor(t, "the node", func() bool {
		node, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
		return err == nil && node.Status.Conditions[0].Type == corev1.NodeReady && node.Status.Conditions[0].Status == corev1.ConditionTrue
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec:       corev1.PodSpec{NodeName: "sim-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running *corev1.Pod
	waitFor(t, "the pod to run", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		running = p
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	if running.Status.PodIP == "" || running.Status.HostIP != n.HostIP || !running.Status.ContainerStatuses[0].Ready {
		t.Fatalf("running pod status %+v", running.Status)
	}
	ready := false
	for _, c := range running.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Fatalf("pod not Ready: %+v", running.Status.Conditions)
	}

	now := metav1.Now()
	running.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("default").Update(ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod to be removed", func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil && err != context.Canceled {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
