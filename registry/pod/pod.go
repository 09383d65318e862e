// Package pod serves core/v1 pods: the strategy (status reset, graceful deletion as upstream
// computes it) and the binding and eviction subresources.
package pod

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes pods.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         corev1.SchemeGroupVersion,
		Kind:                 "Pod",
		Resource:             "pods",
		Singular:             "pod",
		Namespaced:           true,
		ShortNames:           []string{"po"},
		Categories:           []string{"all"},
		New:                  func() runtime.Object { return &corev1.Pod{} },
		NewList:              func() runtime.Object { return &corev1.PodList{} },
		Status:               true,
		Generation:           true,
		Validate:             resource.Validator(validation.ValidatePod),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidatePodUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidatePodStatusUpdate),
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			p := obj.(*corev1.Pod)
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: QOSClass(p)}
			if len(p.Spec.SchedulingGates) > 0 {
				setCondition(&p.Status, corev1.PodCondition{
					Type:    corev1.PodScheduled,
					Status:  corev1.ConditionFalse,
					Reason:  corev1.PodReasonSchedulingGated,
					Message: "Scheduling is blocked due to non-empty scheduling gates",
				})
			}
		},
		PrepareForStatusUpdate: prepareForStatusUpdate,
		// As upstream's pod status strategy declares.
		StatusResetFields: []fieldpath.Path{
			fieldpath.MakePathOrDie("metadata", "deletionTimestamp"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"),
		},
		CheckGracefulDelete: checkGracefulDelete,
		TableConvertor:      printers.TableConvertorFor(corev1.SchemeGroupVersion.WithResource("pods").GroupResource()),
	}
}

// prepareForStatusUpdate keeps what pods/status may not change, as upstream's pod status
// strategy does: the owner references (old kubelets corrupted them), the deletion timestamp
// (only DELETE sets it), the QOS class when the writer dropped it, and the observed
// generations a writer left out.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*corev1.Pod), old.(*corev1.Pod)
	p.OwnerReferences = oldP.OwnerReferences
	// The generic update restores a deletion timestamp the stored pod has.
	p.DeletionTimestamp = nil
	if p.Status.QOSClass == "" {
		p.Status.QOSClass = oldP.Status.QOSClass
	}
	if p.Status.ObservedGeneration == 0 {
		p.Status.ObservedGeneration = oldP.Status.ObservedGeneration
	}
	// Conditions of one type are matched in order: validation allows repeated types.
	oldGenerations := map[corev1.PodConditionType][]int64{}
	for _, c := range oldP.Status.Conditions {
		oldGenerations[c.Type] = append(oldGenerations[c.Type], c.ObservedGeneration)
	}
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		var gen int64
		if gens := oldGenerations[c.Type]; len(gens) > 0 {
			gen, oldGenerations[c.Type] = gens[0], gens[1:]
		}
		if c.ObservedGeneration == 0 {
			c.ObservedGeneration = gen
		}
	}
}

// checkGracefulDelete sets the grace period of a pod deletion as kube-apiserver does: the
// request's, else the pod's terminationGracePeriodSeconds; zero for a pod no kubelet runs
// (unscheduled or finished), at least 1 otherwise.
func checkGracefulDelete(_ context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if options == nil {
		return false
	}
	p := obj.(*corev1.Pod)
	var period int64
	switch {
	case options.GracePeriodSeconds != nil:
		period = *options.GracePeriodSeconds
	case p.Spec.TerminationGracePeriodSeconds != nil:
		period = *p.Spec.TerminationGracePeriodSeconds
	}
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	options.GracePeriodSeconds = &period
	return true
}

// Storages returns pods, pods/status, pods/binding and pods/eviction.
func Storages(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
	store, storages, err := Definition().Storages(optsGetter)
	if err != nil {
		return nil, err
	}
	storages["pods/binding"] = &BindingREST{store: store}
	storages["pods/eviction"] = &EvictionREST{store: store, status: storages["pods/status"].(rest.Updater)}
	return storages, nil
}
