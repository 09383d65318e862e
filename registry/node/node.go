// Package node serves core/v1 nodes.
package node

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes nodes: cluster-scoped, created by kubelets with their status.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:         corev1.SchemeGroupVersion,
		Kind:                 "Node",
		Resource:             "nodes",
		Singular:             "node",
		ShortNames:           []string{"no"},
		New:                  func() runtime.Object { return &corev1.Node{} },
		NewList:              func() runtime.Object { return &corev1.NodeList{} },
		Status:               true,
		KeepStatusOnCreate:   true,
		Validate:             resource.Validator(validation.ValidateNode),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateNodeUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateNodeUpdate),
		TableConvertor:       printers.TableConvertorFor(corev1.Resource("nodes")),
	}
}
