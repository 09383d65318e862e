package pod

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// EvictionREST is pods/eviction: a deletion that respects disruption budgets. kubeshim serves
// no PodDisruptionBudgets, so an eviction marks the pod with the DisruptionTarget condition
// (as upstream does before deleting) and deletes it with the eviction's options.
type EvictionREST struct {
	store  *genericregistry.Store
	status rest.Updater
}

var (
	_ rest.NamedCreater             = &EvictionREST{}
	_ rest.GroupVersionKindProvider = &EvictionREST{}
)

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

// New returns an empty Eviction.
func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *EvictionREST) Destroy() {}

// Create evicts the pod.
func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	deleteOptions := &metav1.DeleteOptions{}
	if eviction.DeleteOptions != nil {
		deleteOptions = eviction.DeleteOptions.DeepCopy()
	}
	if options != nil && len(options.DryRun) > 0 {
		deleteOptions.DryRun = options.DryRun
	}
	if len(deleteOptions.DryRun) == 0 {
		updated, err := r.markDisruptionTarget(ctx, name, deleteOptions.Preconditions)
		if err != nil {
			return nil, err
		}
		if p := deleteOptions.Preconditions; p != nil && p.ResourceVersion != nil && *p.ResourceVersion != "" {
			// The precondition held; the pod's version is now the one this update wrote.
			rv := updated.ResourceVersion
			p.ResourceVersion = &rv
		}
	}
	if _, _, err := r.store.Delete(ctx, name, rest.ValidateAllObjectFunc, deleteOptions); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

// markDisruptionTarget sets the pod's DisruptionTarget condition through pods/status, checking
// the eviction's preconditions against the stored pod.
func (r *EvictionREST) markDisruptionTarget(ctx context.Context, name string, precond *metav1.Preconditions) (*corev1.Pod, error) {
	info := rest.DefaultUpdatedObjectInfo(nil, func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		p := old.(*corev1.Pod).DeepCopy()
		if precond != nil {
			if uid := precond.UID; uid != nil && *uid != "" && *uid != p.UID {
				return nil, apierrors.NewConflict(podsResource, name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *uid, p.UID))
			}
			if rv := precond.ResourceVersion; rv != nil && *rv != "" && *rv != p.ResourceVersion {
				return nil, apierrors.NewConflict(podsResource, name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, p.ResourceVersion))
			}
		}
		setCondition(&p.Status, corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			ObservedGeneration: p.Generation,
			Reason:             "EvictionByEvictionAPI",
			Message:            "Eviction API: evicting",
		})
		return p, nil
	})
	obj, _, err := r.status.Update(ctx, name, info, rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}
