// Package configmap serves core/v1 configmaps.
package configmap

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes configmaps.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:   corev1.SchemeGroupVersion,
		Kind:           "ConfigMap",
		Resource:       "configmaps",
		Singular:       "configmap",
		Namespaced:     true,
		ShortNames:     []string{"cm"},
		New:            func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:        func() runtime.Object { return &corev1.ConfigMapList{} },
		Validate:       resource.Validator(validation.ValidateConfigMap),
		ValidateUpdate: resource.UpdateValidator(validation.ValidateConfigMapUpdate),
		TableConvertor: printers.TableConvertorFor(corev1.Resource("configmaps")),
	}
}
