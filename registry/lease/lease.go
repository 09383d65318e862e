// Package lease serves coordination.k8s.io/v1 leases.
package lease

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes leases.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:   coordinationv1.SchemeGroupVersion,
		Kind:           "Lease",
		Resource:       "leases",
		Singular:       "lease",
		Namespaced:     true,
		New:            func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:        func() runtime.Object { return &coordinationv1.LeaseList{} },
		Validate:       resource.Validator(validation.ValidateLease),
		ValidateUpdate: resource.UpdateValidator(validation.ValidateLeaseUpdate),
		TableConvertor: printers.TableConvertorFor(coordinationv1.Resource("leases")),
	}
}
