// Package job serves batch/v1 jobs with their status subresource. As upstream, a Job without
// a manual selector gets one generated from its UID, and its pod template the matching labels.
package job

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
	"github.com/kubeshim/kubeshim/registry/resource"
)

// The labels upstream puts on a Job's pods (the unprefixed ones are the legacy names).
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Definition describes jobs. As upstream, a delete without a propagation policy orphans the
// pods (batch/v1 keeps its historical default).
func Definition() *resource.Definition {
	return &resource.Definition{
		GroupVersion: batchv1.SchemeGroupVersion,
		Kind:         "Job",
		Resource:     "jobs",
		Singular:     "job",
		Namespaced:   true,
		Categories:   []string{"all"},
		New:          func() runtime.Object { return &batchv1.Job{} },
		NewList:      func() runtime.Object { return &batchv1.JobList{} },
		Status:       true,
		Generation:   true,
		GCPolicy:     rest.OrphanDependents,
		// The store assigns the UID before PrepareForCreate, so the selector can use it.
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			j := obj.(*batchv1.Job)
			if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
				GenerateSelector(j)
			}
		},
		Validate:             resource.Validator(validation.ValidateJob),
		ValidateUpdate:       resource.UpdateValidator(validation.ValidateJobUpdate),
		ValidateStatusUpdate: resource.UpdateValidator(validation.ValidateJobStatusUpdate),
		TableConvertor:       printers.TableConvertorFor(batchv1.Resource("jobs")),
	}
}

// GenerateSelector labels the pod template with the job's name and UID (keeping labels the
// user set, which validation then checks) and selects on the UID.
func GenerateSelector(j *batchv1.Job) {
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for _, l := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := j.Spec.Template.Labels[l]; !ok {
			j.Spec.Template.Labels[l] = j.Name
		}
	}
	for _, l := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := j.Spec.Template.Labels[l]; !ok {
			j.Spec.Template.Labels[l] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}
