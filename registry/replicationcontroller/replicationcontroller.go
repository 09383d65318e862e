// Package replicationcontroller serves core/v1 replicationcontrollers with their status and
// scale subresources.
package replicationcontroller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes replicationcontrollers. As upstream, a delete without a propagation
// policy orphans the pods (core/v1 keeps its historical default).
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         corev1.SchemeGroupVersion,
		Kind:                 "ReplicationController",
		Resource:             "replicationcontrollers",
		Singular:             "replicationcontroller",
		Namespaced:           true,
		ShortNames:           []string{"rc"},
		Categories:           []string{"all"},
		New:                  func() runtime.Object { return &corev1.ReplicationController{} },
		NewList:              func() runtime.Object { return &corev1.ReplicationControllerList{} },
		Status:               true,
		Generation:           true,
		GCPolicy:             rest.OrphanDependents,
		Validate:             resource.Validator(validation.ValidateReplicationController),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateReplicationControllerUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateReplicationControllerStatusUpdate),
		Scale: &resource.ScaleDefinition{
			Replicas:       resource.Typed(func(r *corev1.ReplicationController) int32 { return resource.Int32Ptr(r.Spec.Replicas, 1) }),
			SetReplicas:    func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
			StatusReplicas: resource.Typed(func(r *corev1.ReplicationController) int32 { return r.Status.Replicas }),
			Selector: func(obj runtime.Object) (string, error) {
				return resource.EqualitySelectorString(obj.(*corev1.ReplicationController).Spec.Selector)
			},
			Validate: validation.ValidateScale,
		},
		TableConvertor: printers.TableConvertorFor(corev1.Resource("replicationcontrollers")),
	}
}
