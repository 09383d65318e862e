// Package deployment serves apps/v1 deployments with their status and scale subresources.
package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes deployments.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion: appsv1.SchemeGroupVersion,
		Kind:         "Deployment",
		Resource:     "deployments",
		Singular:     "deployment",
		Namespaced:   true,
		ShortNames:   []string{"deploy"},
		Categories:   []string{"all"},
		New:          func() runtime.Object { return &appsv1.Deployment{} },
		NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		Status:       true,
		Generation:   true,
		// Annotations are copied to the ReplicaSets, so changing them is a new generation too.
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
			if d.Generation == oldD.Generation && !equality.Semantic.DeepEqual(d.Annotations, oldD.Annotations) {
				d.Generation = oldD.Generation + 1
			}
		},
		// A status update cannot relabel the deployment, as upstream's status strategy says.
		PrepareForStatusUpdate: func(_ context.Context, obj, old runtime.Object) {
			obj.(*appsv1.Deployment).Labels = old.(*appsv1.Deployment).Labels
		},
		StatusResetFields:    []fieldpath.Path{fieldpath.MakePathOrDie("metadata", "labels")},
		Validate:             resource.Validator(validation.ValidateDeployment),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateDeploymentUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateDeploymentStatusUpdate),
		Scale: &resource.ScaleDefinition{
			Replicas:       resource.Typed(func(d *appsv1.Deployment) int32 { return resource.Int32Ptr(d.Spec.Replicas, 1) }),
			SetReplicas:    func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
			StatusReplicas: resource.Typed(func(d *appsv1.Deployment) int32 { return d.Status.Replicas }),
			Selector: func(obj runtime.Object) (string, error) {
				return resource.LabelSelectorString(obj.(*appsv1.Deployment).Spec.Selector)
			},
			Validate: validation.ValidateScale,
		},
		TableConvertor: printers.TableConvertorFor(appsv1.Resource("deployments")),
	}
}
