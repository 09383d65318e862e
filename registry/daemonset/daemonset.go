// Package daemonset serves apps/v1 daemonsets with their status subresource.
package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes daemonsets.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         appsv1.SchemeGroupVersion,
		Kind:                 "DaemonSet",
		Resource:             "daemonsets",
		Singular:             "daemonset",
		Namespaced:           true,
		ShortNames:           []string{"ds"},
		Categories:           []string{"all"},
		New:                  func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList:              func() runtime.Object { return &appsv1.DaemonSetList{} },
		Status:               true,
		Generation:           true,
		Validate:             resource.Validator(validation.ValidateDaemonSet),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateDaemonSetUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateDaemonSetStatusUpdate),
		TableConvertor:       printers.TableConvertorFor(appsv1.Resource("daemonsets")),
	}
}
