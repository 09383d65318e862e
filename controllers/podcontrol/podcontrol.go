// Package podcontrol creates, deletes and claims the pods of a workload
// controller (ReplicaSet, ReplicationController, later Job and DaemonSet) the
// way upstream's controller.RealPodControl and PodControllerRefManager do,
// with the same events.
package podcontrol

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Event reasons, as upstream.
const (
	SuccessfulCreateReason = "SuccessfulCreate"
	FailedCreateReason     = "FailedCreate"
	SuccessfulDeleteReason = "SuccessfulDelete"
	FailedDeleteReason     = "FailedDelete"
)

// Interface is what a controller needs to act on pods; tests may fake it.
type Interface interface {
	// CreatePods creates one pod from template in namespace, owned through
	// controllerRef, and records an event on object.
	CreatePods(ctx context.Context, namespace string, template *v1.PodTemplateSpec, object runtime.Object, controllerRef *metav1.OwnerReference) error
	// DeletePod deletes the named pod and records an event on object.
	DeletePod(ctx context.Context, namespace, name string, object runtime.Object) error
	// PatchPod applies a strategic merge patch to the named pod.
	PatchPod(ctx context.Context, namespace, name string, data []byte) error
}

// Real acts through the API server.
type Real struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

var _ Interface = Real{}

// CreatePods implements Interface.
func (r Real) CreatePods(ctx context.Context, namespace string, template *v1.PodTemplateSpec, object runtime.Object, controllerRef *metav1.OwnerReference) error {
	if err := validateControllerRef(controllerRef); err != nil {
		return err
	}
	parent, err := meta.Accessor(object)
	if err != nil {
		return fmt.Errorf("parent object: %w", err)
	}
	pod, err := PodFromTemplate(template, parent, controllerRef)
	if err != nil {
		return err
	}
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := r.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// A terminating namespace refuses every create: no event spam for it.
		if !apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
			r.Recorder.Eventf(object, v1.EventTypeWarning, FailedCreateReason, "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for %s/%s: %w", namespace, parent.GetName(), err)
	}
	klog.FromContext(ctx).V(4).Info("Controller created pod", "controller", klog.KObj(parent), "pod", klog.KObj(created))
	r.Recorder.Eventf(object, v1.EventTypeNormal, SuccessfulCreateReason, "Created pod: %v", created.Name)
	return nil
}

// DeletePod implements Interface. A pod that is already gone is returned as
// a NotFound error without an event.
func (r Real) DeletePod(ctx context.Context, namespace, name string, object runtime.Object) error {
	err := r.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			klog.FromContext(ctx).V(4).Info("Pod has already been deleted", "pod", klog.KRef(namespace, name))
			return err
		}
		r.Recorder.Eventf(object, v1.EventTypeWarning, FailedDeleteReason, "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s/%s: %w", namespace, name, err)
	}
	r.Recorder.Eventf(object, v1.EventTypeNormal, SuccessfulDeleteReason, "Deleted pod: %v", name)
	return nil
}

// PatchPod implements Interface.
func (r Real) PatchPod(ctx context.Context, namespace, name string, data []byte) error {
	_, err := r.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	return err
}

func validateControllerRef(ref *metav1.OwnerReference) error {
	switch {
	case ref == nil:
		return fmt.Errorf("controllerRef is nil")
	case ref.APIVersion == "":
		return fmt.Errorf("controllerRef has empty APIVersion")
	case ref.Kind == "":
		return fmt.Errorf("controllerRef has empty Kind")
	case ref.Controller == nil || !*ref.Controller:
		return fmt.Errorf("controllerRef.Controller is not set to true")
	case ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion:
		return fmt.Errorf("controllerRef.BlockOwnerDeletion is not set")
	}
	return nil
}

// PodFromTemplate builds the pod a controller creates: generateName
// "PARENT-", the template's labels, annotations, finalizers and spec, and the
// controller reference.
func PodFromTemplate(template *v1.PodTemplateSpec, parent metav1.Object, controllerRef *metav1.OwnerReference) (*v1.Pod, error) {
	t := template.DeepCopy()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: podNamePrefix(parent.GetName()),
			Labels:       t.Labels,
			Annotations:  t.Annotations,
			Finalizers:   t.Finalizers,
		},
		Spec: t.Spec,
	}
	if controllerRef != nil {
		pod.OwnerReferences = append(pod.OwnerReferences, *controllerRef)
	}
	return pod, nil
}

// podNamePrefix is "NAME-" unless that is not a valid generateName prefix.
func podNamePrefix(name string) string {
	prefix := name + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return name
	}
	return prefix
}

// AdoptPatch is the strategic merge patch that makes ref the controller of
// the object with uid (the uid guards against a recreated object of the same name).
func AdoptPatch(ref metav1.OwnerReference, uid types.UID) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{ref},
			"uid":             uid,
		},
	})
}

// ReleasePatch is the strategic merge patch that removes the owner reference
// to ownerUID from the object with uid.
func ReleasePatch(ownerUID, uid types.UID) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []map[string]any{{"$patch": "delete", "uid": ownerUID}},
			"uid":             uid,
		},
	})
}
