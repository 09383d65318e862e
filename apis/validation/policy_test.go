package validation

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func validPDB() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *policyv1.PodDisruptionBudget)
		wants  []want
	}{
		{name: "minAvailable", mutate: func(*policyv1.PodDisruptionBudget) {}},
		{name: "maxUnavailable percent", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("25%"))
		}},
		{name: "neither, empty selector", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec = policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{}}
		}},
		{name: "both set", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}, wants: []want{inv("spec").withPrefix("spec: Invalid value: ").withMsg("")}},
		{name: "negative minAvailable", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = ptr.To(intstr.FromInt32(-1))
		}, wants: []want{inv("spec.minAvailable").withMsg("spec.minAvailable: Invalid value: -1: must be greater than or equal to 0")}},
		{name: "minAvailable over 100%", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = ptr.To(intstr.FromString("120%"))
		}, wants: []want{inv("spec.minAvailable").withMsg(`spec.minAvailable: Invalid value: "120%": must not be greater than 100%`)}},
		{name: "maxUnavailable not a percent", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("half"))
		}, wants: []want{inv("spec.maxUnavailable")}},
		{name: "bad selector operator", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}
		}, wants: []want{inv("spec.selector.matchExpressions[0].operator")}},
		{name: "unhealthyPodEvictionPolicy", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Never"))
		}, wants: []want{unsup("spec.unhealthyPodEvictionPolicy").withMsg(`spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", "IfHealthyBudget"`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPDB()
			tc.mutate(p)
			expectErrs(t, ValidatePodDisruptionBudget(p), tc.wants...)
		})
	}
}

func TestValidatePodDisruptionBudgetUpdate(t *testing.T) {
	old := validPDB()
	old.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"not a label value"}},
	}}
	// The spec is mutable; an invalid label value already stored may stay.
	upd := old.DeepCopy()
	upd.Spec.MinAvailable = ptr.To(intstr.FromString("50%"))
	expectErrs(t, ValidatePodDisruptionBudgetUpdate(upd, old))
	expectErrs(t, ValidatePodDisruptionBudget(upd), inv("spec.selector.matchExpressions[0].values[0]"))
	expectErrs(t, ValidatePodDisruptionBudgetUpdate(upd, validPDB()), inv("spec.selector.matchExpressions[0].values[0]"))
}

func TestValidatePodDisruptionBudgetStatusUpdate(t *testing.T) {
	p := validPDB()
	p.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3,
		Conditions: []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
			Reason: policyv1.SufficientPodsReason, LastTransitionTime: metav1.Now()}}}
	expectErrs(t, ValidatePodDisruptionBudgetStatusUpdate(p, validPDB()))

	p.Status.DisruptionsAllowed, p.Status.ExpectedPods = -1, -2
	p.Status.Conditions[0].Reason = ""
	expectErrs(t, ValidatePodDisruptionBudgetStatusUpdate(p, validPDB()),
		inv("status.disruptionsAllowed"), inv("status.expectedPods"), req("status.conditions[0].reason"))
}
