package validation

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supportedUnhealthyPodEvictionPolicies are the values of spec.unhealthyPodEvictionPolicy.
var supportedUnhealthyPodEvictionPolicies = []string{
	string(policyv1.AlwaysAllow),
	string(policyv1.IfHealthyBudget),
}

// ValidatePodDisruptionBudget validates a pod disruption budget on create. As upstream, only
// the spec: the generic registry checks the metadata (the name is a path segment).
func ValidatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	return validatePodDisruptionBudgetSpec(&pdb.Spec, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("spec"))
}

// ValidatePodDisruptionBudgetUpdate validates an update: the spec is mutable and validated as
// on create, except that a selector already holding invalid label values may keep them.
func ValidatePodDisruptionBudgetUpdate(pdb, oldPDB *policyv1.PodDisruptionBudget) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: hasInvalidLabelValue(oldPDB.Spec.Selector),
	}
	return validatePodDisruptionBudgetSpec(&pdb.Spec, opts, field.NewPath("spec"))
}

// ValidatePodDisruptionBudgetStatusUpdate validates a write to poddisruptionbudgets/status:
// well-formed conditions and non-negative counts, as upstream checks for policy/v1.
func ValidatePodDisruptionBudgetStatusUpdate(pdb, _ *policyv1.PodDisruptionBudget) field.ErrorList {
	p := field.NewPath("status")
	s := pdb.Status
	allErrs := metav1validation.ValidateConditions(s.Conditions, p.Child("conditions"))
	allErrs = append(allErrs, validateNonnegativeField(int64(s.DisruptionsAllowed), p.Child("disruptionsAllowed"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.CurrentHealthy), p.Child("currentHealthy"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.DesiredHealthy), p.Child("desiredHealthy"))...)
	return append(allErrs, validateNonnegativeField(int64(s.ExpectedPods), p.Child("expectedPods"))...)
}

func validatePodDisruptionBudgetSpec(spec *policyv1.PodDisruptionBudgetSpec, opts metav1validation.LabelSelectorValidationOptions, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
		allErrs = append(allErrs, isNotMoreThan100Percent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
		allErrs = append(allErrs, isNotMoreThan100Percent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, opts, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil {
		switch *p {
		case policyv1.AlwaysAllow, policyv1.IfHealthyBudget:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, supportedUnhealthyPodEvictionPolicies))
		}
	}
	return allErrs
}

// hasInvalidLabelValue reports whether a selector's match expressions hold a value that is not
// a valid label value (accepted by old API servers).
func hasInvalidLabelValue(sel *metav1.LabelSelector) bool {
	if sel == nil {
		return false
	}
	for _, e := range sel.MatchExpressions {
		for _, v := range e.Values {
			if len(validation.IsValidLabelValue(v)) > 0 {
				return true
			}
		}
	}
	return false
}
