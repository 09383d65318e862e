// Package event serves core/v1 events.
package event

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// Definition describes core/v1 events.
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion:        corev1.SchemeGroupVersion,
		Kind:                "Event",
		Resource:            "events",
		Singular:            "event",
		Namespaced:          true,
		ShortNames:          []string{"ev"},
		New:                 func() runtime.Object { return &corev1.Event{} },
		NewList:             func() runtime.Object { return &corev1.EventList{} },
		AllowCreateOnUpdate: true,
		Validate:            resource.Validator(validation.ValidateEvent),
		ValidateUpdate:      resource.UpdateValidator(validation.ValidateEventUpdate),
		TableConvertor:      printers.TableConvertorFor(corev1.Resource("events")),
	}
}
