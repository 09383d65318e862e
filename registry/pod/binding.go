package pod

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"

	"github.com/kubeshim/kubeshim/apis/validation"
)

var (
	podsResource    = corev1.Resource("pods")
	bindingResource = corev1.Resource("pods/binding")
)

// BindingREST is pods/binding: the scheduler's way to assign a pod to a node.
type BindingREST struct {
	store *genericregistry.Store
}

var _ rest.NamedCreater = &BindingREST{}

// New returns an empty Binding.
func (r *BindingREST) New() runtime.Object { return &corev1.Binding{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *BindingREST) Destroy() {}

// Create binds the pod to the binding's target node.
func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	binding, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	if name != binding.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if errs := validation.ValidatePodBinding(binding); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), binding.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, binding.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if err := r.assign(ctx, binding, options); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

// assign sets spec.nodeName and the PodScheduled condition, refusing a pod that is already
// bound, being deleted or still gated, as kube-apiserver does. The binding's UID and
// resourceVersion, when set, are preconditions on the pod.
func (r *BindingREST) assign(ctx context.Context, binding *corev1.Binding, options *metav1.CreateOptions) error {
	key, err := r.store.KeyFunc(ctx, binding.Name)
	if err != nil {
		return err
	}
	var precond *storage.Preconditions
	if binding.UID != "" || binding.ResourceVersion != "" {
		precond = &storage.Preconditions{}
		if binding.UID != "" {
			precond.UID = &binding.UID
		}
		if binding.ResourceVersion != "" {
			precond.ResourceVersion = &binding.ResourceVersion
		}
	}
	dryRun := options != nil && len(options.DryRun) > 0
	node := binding.Target.Name
	out := &corev1.Pod{}
	err = r.store.Storage.GuaranteedUpdate(ctx, key, out, false, precond, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		p := obj.(*corev1.Pod)
		if p.DeletionTimestamp != nil {
			return nil, nil, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", p.Name)
		}
		if p.Spec.NodeName != "" {
			return nil, nil, fmt.Errorf("pod %v is already assigned to node %q", p.Name, p.Spec.NodeName)
		}
		if len(p.Spec.SchedulingGates) != 0 {
			return nil, nil, fmt.Errorf("pod %v has non-empty .spec.schedulingGates", p.Name)
		}
		p.Spec.NodeName = node
		if len(binding.Annotations) > 0 && p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		for k, v := range binding.Annotations {
			p.Annotations[k] = v
		}
		setCondition(&p.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: p.Generation})
		return p, nil, nil
	}, dryRun, nil)
	if err == nil {
		return nil
	}
	err = storeerr.InterpretGetError(err, podsResource, binding.Name)
	err = storeerr.InterpretUpdateError(err, podsResource, binding.Name)
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	// As upstream: a refused binding is a conflict on pods/binding.
	return apierrors.NewConflict(bindingResource, binding.Name, err)
}

// setCondition adds or replaces the condition of c's type as upstream's UpdatePodCondition
// does: the transition time is now, unless the status is unchanged.
func setCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	c.LastTransitionTime = metav1.Now()
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = status.Conditions[i].LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}
