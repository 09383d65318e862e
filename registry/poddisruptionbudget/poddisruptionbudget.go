// Package poddisruptionbudget serves policy/v1 poddisruptionbudgets with their status
// subresource, as kube-apiserver's pkg/registry/policy/poddisruptionbudget does: status reset
// on create, generation bumped on spec change, the spec mutable, updates only with a
// resourceVersion.
package poddisruptionbudget

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes poddisruptionbudgets.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         policyv1.SchemeGroupVersion,
		Kind:                 "PodDisruptionBudget",
		Resource:             "poddisruptionbudgets",
		Singular:             "poddisruptionbudget",
		Namespaced:           true,
		ShortNames:           []string{"pdb"},
		New:                  func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList:              func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		Status:               true,
		Generation:           true,
		Validate:             resource.Validator(validation.ValidatePodDisruptionBudget),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidatePodDisruptionBudgetUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidatePodDisruptionBudgetStatusUpdate),
		TableConvertor:       printers.TableConvertorFor(policyv1.Resource("poddisruptionbudgets")),
		Decorate: func(s *genericregistry.Store) {
			s.UpdateStrategy = conditionalUpdates{s.UpdateStrategy}
		},
	}
}

// conditionalUpdates refuses an update of the main resource that names no resourceVersion,
// as upstream's strategy (AllowUnconditionalUpdate false) does.
type conditionalUpdates struct {
	rest.RESTUpdateStrategy
}

func (conditionalUpdates) AllowUnconditionalUpdate(context.Context) bool { return false }
