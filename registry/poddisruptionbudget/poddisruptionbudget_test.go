package poddisruptionbudget

import (
	"context"
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

const ns = "ns"

func newPDB(name string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func storages(t *testing.T) map[string]rest.Storage {
	t.Helper()
	_, s := rt.Storages(t, Definition())
	return s
}

func TestCreate(t *testing.T) {
	cases := []struct {
		name    string
		pdb     func() *policyv1.PodDisruptionBudget
		wantErr string // a 422 naming this field
	}{
		{name: "minAvailable", pdb: func() *policyv1.PodDisruptionBudget { return newPDB("a") }},
		{name: "maxUnavailable percent", pdb: func() *policyv1.PodDisruptionBudget {
			p := newPDB("a")
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("30%"))
			return p
		}},
		{name: "status given by the client is dropped", pdb: func() *policyv1.PodDisruptionBudget {
			p := newPDB("a")
			p.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 5, ObservedGeneration: 9}
			return p
		}},
		{name: "both bounds", wantErr: "minAvailable and maxUnavailable cannot be both set", pdb: func() *policyv1.PodDisruptionBudget {
			p := newPDB("a")
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
			return p
		}},
		{name: "over 100%", wantErr: "spec.minAvailable", pdb: func() *policyv1.PodDisruptionBudget {
			p := newPDB("a")
			p.Spec.MinAvailable = ptr.To(intstr.FromString("101%"))
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := storages(t)
			obj, err := rt.Create(rt.Context(ns), s["poddisruptionbudgets"], tc.pdb())
			if tc.wantErr != "" {
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("create: %v, want 422 with %q", err, tc.wantErr)
				}
				if _, err := rt.Get(rt.Context(ns), s["poddisruptionbudgets"], "a"); !apierrors.IsNotFound(err) {
					t.Errorf("a refused budget was stored: %v", err)
				}
				return
			}
			p := rt.Must[*policyv1.PodDisruptionBudget](t)(obj, err)
			if p.Generation != 1 {
				t.Errorf("generation %d, want 1", p.Generation)
			}
			if p.Status.DisruptionsAllowed != 0 || p.Status.ObservedGeneration != 0 {
				t.Errorf("status kept on create: %+v", p.Status)
			}
		})
	}
}

func TestUpdateAndStatus(t *testing.T) {
	s := storages(t)
	ctx := rt.Context(ns)
	created := rt.Must[*policyv1.PodDisruptionBudget](t)(rt.Create(ctx, s["poddisruptionbudgets"], newPDB("web")))

	// The controller writes status through /status; spec changes there are ignored.
	withStatus := created.DeepCopy()
	withStatus.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3}
	withStatus.Spec.MinAvailable = ptr.To(intstr.FromInt32(9))
	p := rt.Must[*policyv1.PodDisruptionBudget](t)(rt.Update(ctx, s["poddisruptionbudgets/status"], "web", withStatus))
	if p.Status.DisruptionsAllowed != 1 || p.Spec.MinAvailable.IntValue() != 2 || p.Generation != 1 {
		t.Fatalf("after status update: spec %v status %+v generation %d", p.Spec.MinAvailable, p.Status, p.Generation)
	}
	bad := p.DeepCopy()
	bad.Status.DisruptionsAllowed = -1
	if _, err := rt.Update(ctx, s["poddisruptionbudgets/status"], "web", bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.disruptionsAllowed") {
		t.Errorf("negative disruptionsAllowed: %v, want 422", err)
	}

	// The spec is mutable; a change bumps the generation and the main resource keeps status.
	p = rt.Must[*policyv1.PodDisruptionBudget](t)(rt.Mutate(ctx, s["poddisruptionbudgets"], "web", func(o runtime.Object) {
		pdb := o.(*policyv1.PodDisruptionBudget)
		pdb.Spec.MinAvailable = nil
		pdb.Spec.MaxUnavailable = ptr.To(intstr.FromString("50%"))
		pdb.Status.DisruptionsAllowed = 7
	}))
	if p.Generation != 2 || p.Status.DisruptionsAllowed != 1 || p.Spec.MaxUnavailable.String() != "50%" {
		t.Errorf("after spec update: generation %d status %+v spec %+v", p.Generation, p.Status, p.Spec)
	}

	// Updates must name a resourceVersion, as upstream.
	unconditional := p.DeepCopy()
	unconditional.ResourceVersion = ""
	unconditional.Labels = map[string]string{"x": "y"}
	if _, err := rt.Update(ctx, s["poddisruptionbudgets"], "web", unconditional); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "resourceVersion") {
		t.Errorf("update without resourceVersion: %v, want 422", err)
	}
}

func TestDiscoveryAndTable(t *testing.T) {
	s := storages(t)
	main := s["poddisruptionbudgets"]
	if got := main.(rest.ShortNamesProvider).ShortNames(); len(got) != 1 || got[0] != "pdb" {
		t.Errorf("short names %v", got)
	}
	if _, ok := s["poddisruptionbudgets/status"]; !ok {
		t.Error("no status subresource")
	}
	p := rt.Must[*policyv1.PodDisruptionBudget](t)(rt.Create(rt.Context(ns), main, newPDB("web")))
	table, err := main.(rest.TableConvertor).ConvertToTable(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Name,Min Available,Max Unavailable,Allowed Disruptions,Age" {
		t.Errorf("columns %v", names)
	}
	if cells := table.Rows[0].Cells; cells[1] != "2" || cells[2] != "N/A" || cells[3] != int64(0) {
		t.Errorf("cells %v", cells)
	}
}
