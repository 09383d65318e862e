package staticpod

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Mirrors keeps a mirror pod in the API for every static pod, as upstream's kubelet does with
// its mirror client: the static pod with the config.mirror annotation (the static pod's hash),
// no UID, and the Node as controlling owner (apiVersion v1, kind Node, controller true — the
// MirrorPodNodeRestriction rule). The kubelet writes the static pod's status through it.
type Mirrors struct {
	client   kubernetes.Interface
	nodeName string

	mu sync.Mutex
	// mirrors is the mirror of each static pod (namespace/name) as of the last Sync.
	mirrors map[string]*corev1.Pod
}

// NewMirrors returns a Mirrors acting through client (the node's identity) for nodeName.
func NewMirrors(client kubernetes.Interface, nodeName string) *Mirrors {
	return &Mirrors{client: client, nodeName: nodeName, mirrors: map[string]*corev1.Pod{}}
}

// Sync makes the API's mirror pods of this node match static (the whole set of static pods,
// as Source.Run hands it over):
//   - a static pod without a mirror gets one;
//   - a mirror whose config.mirror hash differs from its static pod's config.hash (the file
//     changed), or that is being deleted (someone deleted it through the API), is deleted at
//     once (grace period 0, UID precondition) and created again;
//   - a mirror pod on this node whose static pod is gone is deleted.
//
// A pod of the same name that is not a mirror pod is left alone (and reported). No mirror is
// created while the Node cannot be read or is being deleted. Sync does one pass and returns
// every error it met, joined: call it again (after every update and periodically) to retry.
// Calls are serialised.
func (m *Mirrors) Sync(ctx context.Context, static []*corev1.Pod) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	logger := klog.FromContext(ctx)

	list, err := m.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", m.nodeName).String(),
	})
	if err != nil {
		return fmt.Errorf("list pods of node %s: %w", m.nodeName, err)
	}
	onNode := make(map[string]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == m.nodeName {
			onNode[key(p)] = p
		}
	}

	var errs []error
	want := make(map[string]bool, len(static))
	mirrors := make(map[string]*corev1.Pod, len(static))
	var node *corev1.Node
	for _, sp := range static {
		k := key(sp)
		want[k] = true
		cur := onNode[k]
		if cur != nil && !IsMirror(cur) {
			errs = append(errs, fmt.Errorf("static pod %s: a pod of that name that is not a mirror pod exists in the API", k))
			continue
		}
		if cur != nil && isMirrorOf(cur, sp) {
			mirrors[k] = cur
			continue
		}
		if cur != nil {
			reason := "static pod changed"
			if cur.DeletionTimestamp != nil {
				reason = "mirror pod deleted through the API"
			}
			logger.V(2).Info("Replacing mirror pod", "pod", klog.KObj(cur), "podUID", cur.UID, "reason", reason)
			if err := m.delete(ctx, cur); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if node == nil {
			node, err = m.client.CoreV1().Nodes().Get(ctx, m.nodeName, metav1.GetOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("get node %s for mirror pods: %w", m.nodeName, err))
				break
			}
			if node.UID == "" {
				errs = append(errs, fmt.Errorf("node %s has no UID", m.nodeName))
				break
			}
		}
		if node.DeletionTimestamp != nil {
			logger.V(2).Info("Node is being deleted; not creating mirror pod", "pod", klog.KObj(sp))
			continue
		}
		created, err := m.create(ctx, sp, node)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		mirrors[k] = created
	}

	for k, cur := range onNode {
		if want[k] || !IsMirror(cur) {
			continue
		}
		logger.V(2).Info("Deleting mirror pod of a static pod that is gone", "pod", klog.KObj(cur), "podUID", cur.UID)
		if err := m.delete(ctx, cur); err != nil {
			errs = append(errs, err)
		}
	}
	m.mirrors = mirrors
	return errors.Join(errs...)
}

// MirrorOf returns the mirror pod of static as of the last Sync (a copy), or nil: the pod
// whose status the kubelet writes for the static pod.
func (m *Mirrors) MirrorOf(static *corev1.Pod) *corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.mirrors[key(static)]; p != nil && isMirrorOf(p, static) {
		return p.DeepCopy()
	}
	return nil
}

func (m *Mirrors) create(ctx context.Context, static *corev1.Pod, node *corev1.Node) (*corev1.Pod, error) {
	mirror := newMirror(static, node)
	created, err := m.client.CoreV1().Pods(mirror.Namespace).Create(ctx, mirror, metav1.CreateOptions{})
	if err == nil {
		klog.FromContext(ctx).V(2).Info("Created mirror pod", "pod", klog.KObj(created), "podUID", created.UID)
		return created, nil
	}
	if apierrors.IsAlreadyExists(err) {
		// Made meanwhile (another Sync, or a List that lagged): fine if it is ours.
		have, getErr := m.client.CoreV1().Pods(mirror.Namespace).Get(ctx, mirror.Name, metav1.GetOptions{})
		if getErr == nil && isMirrorOf(have, static) {
			return have, nil
		}
	}
	return nil, fmt.Errorf("create mirror pod %s: %w", key(static), err)
}

func (m *Mirrors) delete(ctx context.Context, mirror *corev1.Pod) error {
	err := m.client.CoreV1().Pods(mirror.Namespace).Delete(ctx, mirror.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: ptr.To(mirror.UID)},
	})
	// Gone already, or replaced by another pod meanwhile (UID precondition): nothing to do.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete mirror pod %s: %w", key(mirror), err)
	}
	return nil
}

// newMirror is the mirror pod of static on node.
func newMirror(static *corev1.Pod, node *corev1.Node) *corev1.Pod {
	mirror := &corev1.Pod{
		ObjectMeta: *static.ObjectMeta.DeepCopy(),
		Spec:       *static.Spec.DeepCopy(),
	}
	mirror.UID = ""
	mirror.ResourceVersion = ""
	mirror.CreationTimestamp = metav1.Time{}
	mirror.DeletionTimestamp = nil
	mirror.DeletionGracePeriodSeconds = nil
	mirror.Generation = 0
	mirror.ManagedFields = nil
	mirror.Finalizers = nil
	if mirror.Annotations == nil {
		mirror.Annotations = map[string]string{}
	}
	mirror.Annotations[ConfigMirrorAnnotationKey] = static.Annotations[ConfigHashAnnotationKey]
	mirror.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1",
		Kind:       "Node",
		Name:       node.Name,
		UID:        node.UID,
		Controller: ptr.To(true),
	}}
	return mirror
}

// isMirrorOf is upstream's IsMirrorPodOf: the mirror is not being deleted and carries the
// static pod's hash.
func isMirrorOf(mirror, static *corev1.Pod) bool {
	if mirror.DeletionTimestamp != nil {
		return false
	}
	hash, ok := mirror.Annotations[ConfigMirrorAnnotationKey]
	return ok && hash == static.Annotations[ConfigHashAnnotationKey]
}

func key(p *corev1.Pod) string {
	return types.NamespacedName{Namespace: p.Namespace, Name: p.Name}.String()
}
