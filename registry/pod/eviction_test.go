package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/registry/poddisruptionbudget"
	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

// budgetEnv is pods and poddisruptionbudgets over one backend, with the eviction checking the
// budgets as the API server wires it.
type budgetEnv struct {
	pods map[string]rest.Storage
	pdbs map[string]rest.Storage
}

func newBudgetEnv(t *testing.T) *budgetEnv {
	t.Helper()
	g := rt.NewOptionsGetter(t)
	pods, err := Storages(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pods["pods"].Destroy)
	_, pdbs := rt.StoragesWith(t, g, poddisruptionbudget.Definition())
	pods["pods/eviction"] = pods["pods/eviction"].(*EvictionREST).WithDisruptionBudgets(DisruptionBudgets{
		Budgets: pdbs["poddisruptionbudgets"].(interface {
			rest.Lister
			rest.Getter
		}),
		Status: pdbs["poddisruptionbudgets/status"].(rest.Updater),
	})
	return &budgetEnv{pods: pods, pdbs: pdbs}
}

// runningPod creates a bound pod labelled app=web in phase Running, ready or not.
func (e *budgetEnv) runningPod(t *testing.T, name string, ready bool) {
	t.Helper()
	p := newPod(name, "n1")
	p.Labels = map[string]string{"app": "web"}
	create(t, e.pods, p)
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	if _, err := rt.Mutate(rt.Context(ns), e.pods["pods/status"], name, func(o runtime.Object) {
		o.(*corev1.Pod).Status.Phase = corev1.PodRunning
		o.(*corev1.Pod).Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	}); err != nil {
		t.Fatal(err)
	}
}

// budget creates a budget over sel and sets its status as the disruption controller would.
func (e *budgetEnv) budget(t *testing.T, name string, sel *metav1.LabelSelector, mutate func(*policyv1.PodDisruptionBudget)) {
	t.Helper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: sel},
	}
	mutate(pdb) // the spec part; create drops the status, set below through /status
	if _, err := rt.Create(rt.Context(ns), e.pdbs["poddisruptionbudgets"], pdb); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Mutate(rt.Context(ns), e.pdbs["poddisruptionbudgets/status"], name, func(o runtime.Object) {
		p := o.(*policyv1.PodDisruptionBudget)
		p.Status.ObservedGeneration = p.Generation
		mutate(p)
	}); err != nil {
		t.Fatal(err)
	}
}

func (e *budgetEnv) getBudget(t *testing.T, name string) *policyv1.PodDisruptionBudget {
	t.Helper()
	return rt.Must[*policyv1.PodDisruptionBudget](t)(rt.Get(rt.Context(ns), e.pdbs["poddisruptionbudgets"], name))
}

var webSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

func allowed(n, current, desired int32) func(*policyv1.PodDisruptionBudget) {
	return func(p *policyv1.PodDisruptionBudget) {
		p.Status.DisruptionsAllowed, p.Status.CurrentHealthy, p.Status.DesiredHealthy, p.Status.ExpectedPods = n, current, desired, current
	}
}

func TestEvictionWithBudgets(t *testing.T) {
	cases := []struct {
		name    string
		ready   bool
		pending bool
		budgets func(t *testing.T, e *budgetEnv)
		dryRun  bool
		// want429 is the cause message of an expected 429; wantStatus500 a refused multi-budget pod.
		want429       string
		wantStatus500 bool
		wantEvicted   bool
		// wantAllowed is the budget "a"'s disruptionsAllowed afterwards (-1: do not check).
		wantAllowed  int32
		wantDisrupts bool // the pod is recorded in the budget's disruptedPods
	}{
		{name: "no budget", ready: true, budgets: func(*testing.T, *budgetEnv) {}, wantEvicted: true, wantAllowed: -1},
		{name: "budget allows one", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(1, 2, 1))
		}, wantEvicted: true, wantAllowed: 0, wantDisrupts: true},
		{name: "budget allows none", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(0, 1, 1))
		}, want429: "The disruption budget a needs 1 healthy pods and has 1 currently", wantAllowed: 0},
		{name: "budget not yet observed", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, func(p *policyv1.PodDisruptionBudget) { allowed(3, 3, 0)(p); p.Status.ObservedGeneration = 0 })
		}, want429: "The disruption budget a is still being processed by the server.", wantAllowed: 3},
		{name: "budget of other pods", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, allowed(0, 1, 1))
		}, wantEvicted: true, wantAllowed: 0},
		{name: "empty selector covers every pod", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", &metav1.LabelSelector{}, allowed(0, 1, 1))
		}, want429: "needs 1 healthy pods", wantAllowed: 0},
		{name: "pending pod ignores budgets", pending: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(0, 1, 1))
		}, wantEvicted: true, wantAllowed: 0},
		{name: "unready pod, budget met without it", budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(0, 2, 2))
		}, wantEvicted: true, wantAllowed: 0},
		{name: "unready pod, budget short", budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(0, 1, 2))
		}, want429: "needs 2 healthy pods and has 1", wantAllowed: 0},
		{name: "unready pod, AlwaysAllow", budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, func(p *policyv1.PodDisruptionBudget) {
				allowed(0, 1, 2)(p)
				p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
			})
		}, wantEvicted: true, wantAllowed: 0},
		{name: "two budgets", ready: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(1, 2, 1))
			e.budget(t, "b", &metav1.LabelSelector{}, allowed(1, 2, 1))
		}, wantStatus500: true, wantAllowed: 1},
		{name: "dry run", ready: true, dryRun: true, budgets: func(t *testing.T, e *budgetEnv) {
			e.budget(t, "a", webSelector, allowed(1, 2, 1))
		}, wantAllowed: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newBudgetEnv(t)
			if tc.pending {
				p := newPod("p", "n1")
				p.Labels = map[string]string{"app": "web"}
				create(t, e.pods, p)
			} else {
				e.runningPod(t, "p", tc.ready)
			}
			tc.budgets(t, e)
			out, err := evict(e.pods, "p", nil, tc.dryRun)
			switch {
			case tc.want429 != "":
				status, ok := err.(apierrors.APIStatus)
				if !apierrors.IsTooManyRequests(err) || !ok || status.Status().Message != violationMessage {
					t.Fatalf("evict: %v, want 429 %q", err, violationMessage)
				}
				causes := status.Status().Details.Causes
				if len(causes) != 1 || causes[0].Type != policyv1.DisruptionBudgetCause || !strings.Contains(causes[0].Message, tc.want429) {
					t.Errorf("causes %+v, want one DisruptionBudget cause with %q", causes, tc.want429)
				}
			case tc.wantStatus500:
				st, ok := out.(*metav1.Status)
				if err != nil || !ok || st.Code != 500 || !strings.Contains(st.Message, "more than one PodDisruptionBudget") {
					t.Fatalf("evict: %#v %v, want a 500 Status", out, err)
				}
			default:
				if err != nil {
					t.Fatalf("evict: %v", err)
				}
			}
			p, err := get(t, e.pods, "p")
			if err != nil {
				t.Fatal(err)
			}
			if evicted := p.DeletionTimestamp != nil; evicted != tc.wantEvicted {
				t.Errorf("pod deleting = %v, want %v", evicted, tc.wantEvicted)
			}
			var target *corev1.PodCondition
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
					target = &p.Status.Conditions[i]
				}
			}
			if (target != nil) != tc.wantEvicted {
				t.Errorf("DisruptionTarget condition %+v, want it iff evicted", target)
			}
			if tc.wantAllowed < 0 {
				return
			}
			pdb := e.getBudget(t, "a")
			if pdb.Status.DisruptionsAllowed != tc.wantAllowed {
				t.Errorf("disruptionsAllowed %d, want %d", pdb.Status.DisruptionsAllowed, tc.wantAllowed)
			}
			if _, ok := pdb.Status.DisruptedPods["p"]; ok != tc.wantDisrupts {
				t.Errorf("disruptedPods %v, want p recorded: %v", pdb.Status.DisruptedPods, tc.wantDisrupts)
			}
			if tc.wantDisrupts {
				c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
					t.Errorf("DisruptionAllowed condition %+v after the last allowed disruption", c)
				}
			}
		})
	}
}

// TestEvictionBudgetUsedUp: with one disruption allowed, the first of two evictions passes and
// the second gets the 429 kubectl drain retries on.
func TestEvictionBudgetUsedUp(t *testing.T) {
	e := newBudgetEnv(t)
	e.runningPod(t, "p", true)
	e.runningPod(t, "q", true)
	e.budget(t, "a", webSelector, allowed(1, 2, 1))
	if _, err := evict(e.pods, "p", nil, false); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if _, err := evict(e.pods, "q", nil, false); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v, want 429", err)
	}
	if q, _ := get(t, e.pods, "q"); q == nil || q.DeletionTimestamp != nil {
		t.Errorf("q was deleted: %+v", q)
	}
}

func TestEvictionDryRunMismatch(t *testing.T) {
	e := newBudgetEnv(t)
	e.runningPod(t, "p", true)
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, DeleteOptions: &metav1.DeleteOptions{DryRun: []string{"Bogus"}}}
	_, err := e.pods["pods/eviction"].(rest.NamedCreater).Create(rt.Context(ns), "p", ev, nil, &metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("mismatched dry-run options: %v, want 400", err)
	}
}
