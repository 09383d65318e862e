package printers

import (
	"reflect"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodDisruptionBudgetRows(t *testing.T) {
	tests := []struct {
		name string
		spec policyv1.PodDisruptionBudgetSpec
		want []interface{}
	}{
		{"minAvailable", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(2))},
			[]interface{}{"web", "2", "N/A", int64(1), "5m"}},
		{"maxUnavailable percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("25%"))},
			[]interface{}{"web", "N/A", "25%", int64(1), "5m"}},
		{"neither", policyv1.PodDisruptionBudgetSpec{}, []interface{}{"web", "N/A", "N/A", int64(1), "5m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("web", 5*time.Minute), Spec: tc.spec,
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
			if got := cellsOf(t, gr("policy", "poddisruptionbudgets"), pdb); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}
