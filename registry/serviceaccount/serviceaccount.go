// Package serviceaccount serves core/v1 serviceaccounts.
package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes serviceaccounts.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:   corev1.SchemeGroupVersion,
		Kind:           "ServiceAccount",
		Resource:       "serviceaccounts",
		Singular:       "serviceaccount",
		Namespaced:     true,
		ShortNames:     []string{"sa"},
		New:            func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:        func() runtime.Object { return &corev1.ServiceAccountList{} },
		Validate:       resource.Validator(validation.ValidateServiceAccount),
		ValidateUpdate: resource.UpdateValidator(validation.ValidateServiceAccountUpdate),
		TableConvertor: printers.TableConvertorFor(corev1.Resource("serviceaccounts")),
	}
}
