package job

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

// podControl is how the controller acts on pods; tests may fake it.
type podControl interface {
	// CreatePod creates a pod of job from template; generateName overrides "JOB-".
	CreatePod(ctx context.Context, job *batchv1.Job, template *v1.PodTemplateSpec, generateName string) error
	DeletePod(ctx context.Context, namespace, name string, job *batchv1.Job) error
	PatchPod(ctx context.Context, namespace, name string, data []byte) error
}

// realPodControl acts through the API server, with upstream's events (through podcontrol).
type realPodControl struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
}

func (r realPodControl) CreatePod(ctx context.Context, job *batchv1.Job, template *v1.PodTemplateSpec, generateName string) error {
	ref := metav1.NewControllerRef(job, controllerKind)
	pod, err := podcontrol.PodFromTemplate(template, job, ref)
	if err != nil {
		return err
	}
	if generateName != "" {
		pod.GenerateName = generateName
	}
	created, err := r.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
			r.recorder.Eventf(job, v1.EventTypeWarning, podcontrol.FailedCreateReason, "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for job %s/%s: %w", job.Namespace, job.Name, err)
	}
	klog.FromContext(ctx).V(4).Info("Job controller created pod", "job", klog.KObj(job), "pod", klog.KObj(created))
	r.recorder.Eventf(job, v1.EventTypeNormal, podcontrol.SuccessfulCreateReason, "Created pod: %v", created.Name)
	return nil
}

func (r realPodControl) DeletePod(ctx context.Context, namespace, name string, job *batchv1.Job) error {
	return podcontrol.Real{Client: r.client, Recorder: r.recorder}.DeletePod(ctx, namespace, name, job)
}

func (r realPodControl) PatchPod(ctx context.Context, namespace, name string, data []byte) error {
	return podcontrol.Real{Client: r.client, Recorder: r.recorder}.PatchPod(ctx, namespace, name, data)
}

// adoptingControl lets podcontrol.Claimer adopt pods for a Job: an adoption also adds the
// tracking finalizer, as upstream's PodControllerRefManager does for Jobs.
type adoptingControl struct {
	podcontrol.Interface
	patch func(ctx context.Context, namespace, name string, data []byte) error
}

func (a adoptingControl) PatchPod(ctx context.Context, namespace, name string, data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err == nil {
		if md, ok := m["metadata"].(map[string]any); ok {
			if refs, ok := md["ownerReferences"].([]any); ok && len(refs) > 0 {
				if r, ok := refs[0].(map[string]any); ok && r["$patch"] == nil {
					md["finalizers"] = []string{batchv1.JobTrackingFinalizer}
					if b, err := json.Marshal(m); err == nil {
						data = b
					}
				}
			}
		}
	}
	return a.patch(ctx, namespace, name, data)
}

func hasTrackingFinalizer(pod *v1.Pod) bool {
	return slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}

// removeTrackingFinalizerPatch is the strategic merge patch removing the finalizer, or nil
// when the pod has none.
func removeTrackingFinalizerPatch(pod *v1.Pod) []byte {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		},
	})
	return b
}

// isPodFailed: Failed, or (unless only failed pods are replaced) being deleted before it
// succeeded, which counts orphans that never reach a terminal phase.
func isPodFailed(p *v1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == v1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != v1.PodSucceeded
}

// onlyReplaceFailedPods: podReplacementPolicy Failed (the default with a podFailurePolicy).
func onlyReplaceFailedPods(job *batchv1.Job) bool {
	if job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed {
		return true
	}
	return job.Spec.PodFailurePolicy != nil
}

func countReadyPods(pods []*v1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podcontrol.IsPodReady(p) {
			n++
		}
	}
	return n
}

func countTerminatingPods(pods []*v1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podcontrol.IsPodTerminating(p) {
			n++
		}
	}
	return n
}

// sortActivePods orders pods so the ones to delete first come first (upstream's ActivePods).
func sortActivePods(pods []*v1.Pod) {
	slices.SortStableFunc(pods, func(a, b *v1.Pod) int {
		t := podcontrol.ActivePodsWithRanks{Pods: []*v1.Pod{a, b}, Rank: []int{0, 0}}
		switch {
		case t.Less(0, 1):
			return -1
		case t.Less(1, 0):
			return 1
		}
		return 0
	})
}
