package printers

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/registry/rest"
)

// podDisruptionBudgetPrinter prints NAME MIN-AVAILABLE MAX-UNAVAILABLE ALLOWED-DISRUPTIONS AGE,
// "N/A" for the bound a budget does not set, as kube-apiserver does.
func podDisruptionBudgetPrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Min Available", typeString, "The minimum number of pods that must be available."),
		col("Max Unavailable", typeString, "The maximum number of pods that may be unavailable."),
		col("Allowed Disruptions", typeInteger, "Calculated number of pods that may be disrupted at this time."),
		ageColumn(),
	}, func(pdb *policyv1.PodDisruptionBudget, now time.Time) []interface{} {
		return []interface{}{
			pdb.Name,
			intOrPercentOrNA(pdb.Spec.MinAvailable),
			intOrPercentOrNA(pdb.Spec.MaxUnavailable),
			int64(pdb.Status.DisruptionsAllowed),
			age(pdb.CreationTimestamp, now),
		}
	})
}

func intOrPercentOrNA(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}
