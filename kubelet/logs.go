package kubelet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeshim/kubeshim/kubelet/crilog/reader"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// containers answers the kubelet server's questions about the node's pods: which container a
// request means, and its logs.
type containers struct {
	rt runtime.Runtime
	// pod finds a pod the kubelet runs by namespace and name (nil when none).
	pod func(namespace, name string) *corev1.Pod
}

var podsResource = schema.GroupResource{Resource: "pods"}

// attempts returns the containers named name of the pod namespace/podName, newest first.
func (c *containers) attempts(ctx context.Context, namespace, podName, uid, name string) (*corev1.Pod, []*runtime.Container, error) {
	pod := c.pod(namespace, podName)
	if pod == nil || (uid != "" && string(pod.UID) != uid) {
		return nil, nil, apierrors.NewNotFound(podsResource, podName)
	}
	all, err := c.rt.ListContainers(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*runtime.Container
	for _, ctr := range all {
		if ctr.PodUID == pod.UID && ctr.Name == name {
			out = append(out, ctr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt > out[j].Attempt })
	return pod, out, nil
}

// Resolve maps a request to the running container it means (the kubelet server's ResolveFunc).
// Port-forward asks with no container: any running container gives the pod.
func (c *containers) Resolve(namespace, podName, uid, name string) (string, types.UID, error) {
	ctx := context.Background()
	if name == "" {
		pod := c.pod(namespace, podName)
		if pod == nil || (uid != "" && string(pod.UID) != uid) {
			return "", "", fmt.Errorf("pod %s/%s: %w", namespace, podName, runtime.ErrNotFound)
		}
		return "", pod.UID, nil
	}
	pod, list, err := c.attempts(ctx, namespace, podName, uid, name)
	if err != nil {
		return "", "", err
	}
	for _, ctr := range list {
		if ctr.State == runtime.ContainerRunning {
			return ctr.ID, pod.UID, nil
		}
	}
	return "", "", fmt.Errorf("container %q in pod %s/%s is not running: %w", name, namespace, podName, runtime.ErrNotFound)
}

// ContainerLogs writes a container's log, or with Previous its last terminated attempt's (the
// kubelet server's LogsProvider).
func (c *containers) ContainerLogs(ctx context.Context, namespace, podName, name string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error {
	_, list, err := c.attempts(ctx, namespace, podName, "", name)
	if err != nil {
		return err
	}
	var target *runtime.Container
	if opts.Previous {
		if len(list) > 1 {
			target = list[1]
		}
		if target == nil {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, podName))
		}
	} else if len(list) > 0 {
		target = list[0]
	}
	if target == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", name, podName))
	}
	running := c.stillRunning(ctx, target.ID)
	return reader.ReadLogs(ctx, target.LogPath, reader.NewOptions(opts, time.Now()), running, stdout, stderr)
}

// stillRunning reports whether container id still runs, looking at most once a second.
func (c *containers) stillRunning(ctx context.Context, id string) func() bool {
	var (
		mu      sync.Mutex
		checked time.Time
		last    = true
	)
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(checked) < time.Second {
			return last
		}
		checked = time.Now()
		all, err := c.rt.ListContainers(ctx)
		if err != nil {
			return last
		}
		last = false
		for _, ctr := range all {
			if ctr.ID == id && ctr.State == runtime.ContainerRunning {
				last = true
			}
		}
		return last
	}
}
