// Package cronjob serves batch/v1 cronjobs with their status subresource.
package cronjob

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes cronjobs.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:   batchv1.SchemeGroupVersion,
		Kind:           "CronJob",
		Resource:       "cronjobs",
		Singular:       "cronjob",
		Namespaced:     true,
		ShortNames:     []string{"cj"},
		Categories:     []string{"all"},
		New:            func() runtime.Object { return &batchv1.CronJob{} },
		NewList:        func() runtime.Object { return &batchv1.CronJobList{} },
		Status:         true,
		Generation:     true,
		Validate:       resource.Validator(validation.ValidateCronJob),
		ValidateUpdate: resource.UpdateValidator(validation.ValidateCronJobUpdate),
		TableConvertor: printers.TableConvertorFor(batchv1.Resource("cronjobs")),
	}
}
