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
		},
		PrepareForStatusUpdate: func(_ context.Context, obj, old runtime.Object) {
			// A status update cannot change who owns the pod.
			p, oldP := obj.(*corev1.Pod), old.(*corev1.Pod)
			p.OwnerReferences = oldP.OwnerReferences
		},
		CheckGracefulDelete: checkGracefulDelete,
		TableConvertor:      printers.TableConvertorFor(corev1.SchemeGroupVersion.WithResource("pods").GroupResource()),
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
	storages["pods/eviction"] = &EvictionREST{store: store}
	return storages, nil
}
