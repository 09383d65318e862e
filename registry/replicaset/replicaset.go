// Package replicaset serves apps/v1 replicasets with their status and scale subresources.
package replicaset

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes replicasets.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         appsv1.SchemeGroupVersion,
		Kind:                 "ReplicaSet",
		Resource:             "replicasets",
		Singular:             "replicaset",
		Namespaced:           true,
		ShortNames:           []string{"rs"},
		Categories:           []string{"all"},
		New:                  func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:              func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Status:               true,
		Generation:           true,
		Validate:             resource.Validator(validation.ValidateReplicaSet),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateReplicaSetUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateReplicaSetStatusUpdate),
		Scale: &resource.ScaleDefinition{
			Replicas:       resource.Typed(func(r *appsv1.ReplicaSet) int32 { return resource.Int32Ptr(r.Spec.Replicas, 1) }),
			SetReplicas:    func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
			StatusReplicas: resource.Typed(func(r *appsv1.ReplicaSet) int32 { return r.Status.Replicas }),
			Selector: func(obj runtime.Object) (string, error) {
				return resource.LabelSelectorString(obj.(*appsv1.ReplicaSet).Spec.Selector)
			},
			Validate: validation.ValidateScale,
		},
		TableConvertor: printers.TableConvertorFor(appsv1.Resource("replicasets")),
	}
}
