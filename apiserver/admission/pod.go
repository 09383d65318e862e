package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/admission"

	"github.com/kubeshim/kubeshim/apis/defaults"
)

// PodDefaults does for pods what upstream's ServiceAccount, Priority and
// DefaultTolerationSeconds admission plugins do. On create: serviceAccountName "default", the
// priority of the pod's priority class, and five-minute tolerations of not-ready and
// unreachable nodes. On update (a PUT that leaves them out, as kubectl replace does): the
// tolerations again, and the stored priority and preemption policy.
type PodDefaults struct {
	*admission.Handler
	// NotReadySeconds and UnreachableSeconds are the tolerations' durations (300 s).
	NotReadySeconds, UnreachableSeconds int64
}

var _ admission.MutationInterface = &PodDefaults{}

// NewPodDefaults returns the plugin.
func NewPodDefaults() *PodDefaults {
	return &PodDefaults{Handler: admission.NewHandler(admission.Create, admission.Update),
		NotReadySeconds: defaults.DefaultTolerationSeconds, UnreachableSeconds: defaults.DefaultTolerationSeconds}
}

// Admit implements admission.MutationInterface.
func (d PodDefaults) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil
	}
	p, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource pods was not a Pod")
	}
	if a.GetOperation() == admission.Update {
		old, ok := a.GetOldObject().(*corev1.Pod)
		if !ok {
			return apierrors.NewBadRequest("resource pods was not a Pod")
		}
		// Validation refuses any other change of these.
		if p.Spec.Priority == nil {
			p.Spec.Priority = old.Spec.Priority
		}
		if p.Spec.PreemptionPolicy == nil {
			p.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
		}
		defaults.SetDefaultTolerationSecondsTo(p, d.NotReadySeconds, d.UnreachableSeconds)
		return nil
	}
	defaults.SetServiceAccountDefaults(p)
	if err := defaults.SetPriorityDefaults(p); err != nil {
		return err
	}
	defaults.SetDefaultTolerationSecondsTo(p, d.NotReadySeconds, d.UnreachableSeconds)
	return nil
}
