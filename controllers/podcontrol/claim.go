package podcontrol

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Claimer sorts pods into those a controller owns, adopting matching orphans
// and releasing owned pods that no longer match its selector (upstream's
// PodControllerRefManager).
type Claimer struct {
	Control  Interface
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	// CanAdopt is called once, before the first adoption: it should re-read
	// the owner from the API server and fail if it is being deleted or gone.
	CanAdopt func(ctx context.Context) error

	once        sync.Once
	canAdoptErr error
}

// ControllerRef is the owner reference Owner puts on the pods it controls.
func (c *Claimer) ControllerRef() metav1.OwnerReference {
	return *metav1.NewControllerRef(c.Owner, c.OwnerGVK)
}

// ClaimPods returns the pods Owner controls after adoption and release. Pods
// controlled by another owner are never touched; adoption is skipped for
// terminating pods and while Owner is being deleted.
func (c *Claimer) ClaimPods(ctx context.Context, pods []*v1.Pod) ([]*v1.Pod, error) {
	var claimed []*v1.Pod
	var errs []error
	for _, pod := range pods {
		ok, err := c.claim(ctx, pod)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, pod)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

func (c *Claimer) claim(ctx context.Context, pod *v1.Pod) (bool, error) {
	logger := klog.FromContext(ctx)
	match := c.Selector.Matches(labels.Set(pod.Labels))
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil // someone else's
		}
		if match {
			return true, nil
		}
		if c.Owner.GetDeletionTimestamp() != nil {
			return false, nil // the garbage collector takes care of it
		}
		logger.V(2).Info("Releasing pod that no longer matches the selector", "owner", klog.KObj(c.Owner), "pod", klog.KObj(pod))
		if err := c.release(ctx, pod); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
				return false, nil // gone, or being deleted: nothing to release
			}
			return false, err
		}
		return false, nil
	}
	// An orphan.
	if c.Owner.GetDeletionTimestamp() != nil || !match || pod.DeletionTimestamp != nil {
		return false, nil
	}
	if err := c.adopt(ctx, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	logger.V(2).Info("Adopted pod", "owner", klog.KObj(c.Owner), "pod", klog.KObj(pod))
	return true, nil
}

func (c *Claimer) adopt(ctx context.Context, pod *v1.Pod) error {
	c.once.Do(func() {
		if c.CanAdopt != nil {
			c.canAdoptErr = c.CanAdopt(ctx)
		}
	})
	if c.canAdoptErr != nil {
		return fmt.Errorf("can't adopt pod %s/%s (%v): %w", pod.Namespace, pod.Name, pod.UID, c.canAdoptErr)
	}
	ref := c.ControllerRef()
	ref.BlockOwnerDeletion = ptr.To(true)
	patch, err := AdoptPatch(ref, pod.UID)
	if err != nil {
		return err
	}
	if err := c.Control.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
		return fmt.Errorf("adopting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func (c *Claimer) release(ctx context.Context, pod *v1.Pod) error {
	patch, err := ReleasePatch(c.Owner.GetUID(), pod.UID)
	if err != nil {
		return err
	}
	if err := c.Control.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
		return fmt.Errorf("releasing pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
