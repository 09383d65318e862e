// Package secret serves core/v1 secrets.
package secret

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes secrets.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:   corev1.SchemeGroupVersion,
		Kind:           "Secret",
		Resource:       "secrets",
		Singular:       "secret",
		Namespaced:     true,
		New:            func() runtime.Object { return &corev1.Secret{} },
		NewList:        func() runtime.Object { return &corev1.SecretList{} },
		Validate:       resource.Validator(validation.ValidateSecret),
		ValidateUpdate: resource.UpdateValidator(validation.ValidateSecretUpdate),
		TableConvertor: printers.TableConvertorFor(corev1.Resource("secrets")),
	}
}
