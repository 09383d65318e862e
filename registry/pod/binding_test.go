package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/registry/rest"

	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

func bind(s map[string]rest.Storage, name string, b *corev1.Binding, opts *metav1.CreateOptions) (runtime.Object, error) {
	if opts == nil {
		opts = &metav1.CreateOptions{}
	}
	return s["pods/binding"].(rest.NamedCreater).Create(rt.Context(ns), name, b, rest.ValidateAllObjectFunc, opts)
}

func binding(name, node string) *corev1.Binding {
	return &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
}

func TestBinding(t *testing.T) {
	s := podStorages(t)
	created := create(t, s, newPod("p", ""))

	b := binding("p", "n1")
	b.Annotations = map[string]string{"example.com/scheduled-by": "test"}
	out, err := bind(s, "p", b, nil)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if st, ok := out.(*metav1.Status); !ok || st.Status != metav1.StatusSuccess {
		t.Errorf("bind returned %#v, want a Success Status", out)
	}
	p, err := get(t, s, "p")
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "n1" || p.Annotations["example.com/scheduled-by"] != "test" {
		t.Errorf("after binding: nodeName %q annotations %v", p.Spec.NodeName, p.Annotations)
	}
	if len(p.Status.Conditions) != 1 {
		t.Fatalf("conditions after binding = %+v, want PodScheduled", p.Status.Conditions)
	}
	c := p.Status.Conditions[0]
	if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() || c.ObservedGeneration != p.Generation {
		t.Errorf("PodScheduled condition = %+v", c)
	}
	if p.ResourceVersion == created.ResourceVersion || p.Generation != created.Generation {
		t.Errorf("binding: resourceVersion %s→%s generation %d→%d; want a new version, same generation (the binding writes the pod directly)",
			created.ResourceVersion, p.ResourceVersion, created.Generation, p.Generation)
	}

	// A second binding is a conflict with upstream's message.
	_, err = bind(s, "p", binding("p", "n2"), nil)
	want := `Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Errorf("second binding: %v, want 409 %q", err, want)
	}
	if p, _ := get(t, s, "p"); p.Spec.NodeName != "n1" {
		t.Errorf("second binding moved the pod to %q", p.Spec.NodeName)
	}
}

func TestBindingRefused(t *testing.T) {
	cases := []struct {
		name    string
		pod     func() *corev1.Pod
		prepare func(t *testing.T, s map[string]rest.Storage)
		bindTo  string // URL name; "p" unless set
		binding func() *corev1.Binding
		opts    *metav1.CreateOptions
		check   func(error) bool
		want    string
	}{
		{
			name: "pod being deleted",
			pod: func() *corev1.Pod {
				p := newPod("p", "")
				p.Finalizers = []string{"example.com/hold"}
				return p
			},
			prepare: func(t *testing.T, s map[string]rest.Storage) {
				if _, _, err := rt.Delete(rt.Context(ns), s["pods"], "p", &metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			check: apierrors.IsConflict,
			want:  `Operation cannot be fulfilled on pods/binding "p": pod p is being deleted, cannot be assigned to a host`,
		},
		{
			name: "scheduling gates",
			pod: func() *corev1.Pod {
				p := newPod("p", "")
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
				return p
			},
			check: apierrors.IsConflict,
			want:  "pod p has non-empty .spec.schedulingGates",
		},
		{
			name: "other UID",
			binding: func() *corev1.Binding {
				b := binding("p", "n1")
				b.UID = types.UID("other")
				return b
			},
			check: apierrors.IsConflict,
			want:  `Operation cannot be fulfilled on pods "p"`,
		},
		{
			name: "stale resourceVersion",
			binding: func() *corev1.Binding {
				b := binding("p", "n1")
				b.ResourceVersion = "1"
				return b
			},
			check: apierrors.IsConflict,
			want:  `Operation cannot be fulfilled on pods "p"`,
		},
		{
			name:    "missing pod",
			binding: func() *corev1.Binding { return binding("missing", "n1") },
			bindTo:  "missing",
			check:   apierrors.IsNotFound,
			want:    `pods "missing" not found`,
		},
		{
			name:   "name mismatch",
			bindTo: "q",
			check:  apierrors.IsBadRequest,
			want:   "name in URL does not match name in Binding object",
		},
		{
			name:    "no target",
			binding: func() *corev1.Binding { return binding("p", "") },
			check:   apierrors.IsInvalid,
			want:    "target.name: Required value",
		},
		{
			name: "target not a node",
			binding: func() *corev1.Binding {
				b := binding("p", "n1")
				b.Target.Kind = "Pod"
				return b
			},
			check: apierrors.IsInvalid,
			want:  "target.kind",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := podStorages(t)
			p := newPod("p", "")
			if tc.pod != nil {
				p = tc.pod()
			}
			create(t, s, p)
			if tc.prepare != nil {
				tc.prepare(t, s)
			}
			b := binding("p", "n1")
			if tc.binding != nil {
				b = tc.binding()
			}
			name := "p"
			if tc.bindTo != "" {
				name = tc.bindTo
			}
			_, err := bind(s, name, b, tc.opts)
			if !tc.check(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("bind: %v, want an error with %q", err, tc.want)
			}
			if got, _ := get(t, s, "p"); got != nil && got.Spec.NodeName != "" {
				t.Errorf("a refused binding set nodeName %q", got.Spec.NodeName)
			}
		})
	}
}

func TestBindingDryRun(t *testing.T) {
	s := podStorages(t)
	created := create(t, s, newPod("p", ""))
	if _, err := bind(s, "p", binding("p", "n1"), &metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run bind: %v", err)
	}
	p, _ := get(t, s, "p")
	if p.Spec.NodeName != "" || p.ResourceVersion != created.ResourceVersion {
		t.Errorf("a dry-run binding changed the pod: nodeName %q", p.Spec.NodeName)
	}
}

func evict(s map[string]rest.Storage, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, error) {
	e := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, DeleteOptions: opts}
	createOpts := &metav1.CreateOptions{}
	if dryRun {
		createOpts.DryRun = []string{metav1.DryRunAll}
	}
	return s["pods/eviction"].(rest.NamedCreater).Create(rt.Context(ns), name, e, rest.ValidateAllObjectFunc, createOpts)
}

func TestEviction(t *testing.T) {
	cases := []struct {
		name       string
		node       string
		opts       func(p *corev1.Pod) *metav1.DeleteOptions
		dryRun     bool
		wantErr    func(error) bool
		wantGone   bool
		wantMarked bool // deletionTimestamp and DisruptionTarget set, pod kept
	}{
		{name: "bound pod: graceful", node: "n1", wantMarked: true},
		{name: "bound pod, grace period 0", node: "n1", opts: func(*corev1.Pod) *metav1.DeleteOptions { return metav1.NewDeleteOptions(0) }, wantGone: true},
		{name: "unscheduled pod: gone", wantGone: true},
		{
			name: "matching preconditions", node: "n1", wantMarked: true,
			opts: func(p *corev1.Pod) *metav1.DeleteOptions {
				return &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID, ResourceVersion: &p.ResourceVersion}}
			},
		},
		{
			name: "other UID", node: "n1", wantErr: apierrors.IsConflict,
			opts: func(*corev1.Pod) *metav1.DeleteOptions {
				uid := types.UID("other")
				return &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
			},
		},
		{
			name: "stale resourceVersion", node: "n1", wantErr: apierrors.IsConflict,
			opts: func(*corev1.Pod) *metav1.DeleteOptions {
				rv := "1"
				return &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}}
			},
		},
		{name: "dry run", node: "n1", dryRun: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := podStorages(t)
			created := create(t, s, newPod("p", tc.node))
			var opts *metav1.DeleteOptions
			if tc.opts != nil {
				opts = tc.opts(created)
			}
			_, err := evict(s, "p", opts, tc.dryRun)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("evict: %v", err)
				}
			} else if err != nil {
				t.Fatalf("evict: %v", err)
			}
			p, err := get(t, s, "p")
			if tc.wantGone {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("get after eviction: %v %v, want 404", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var target *corev1.PodCondition
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
					target = &p.Status.Conditions[i]
				}
			}
			if !tc.wantMarked {
				if p.DeletionTimestamp != nil || target != nil {
					t.Errorf("pod changed: deletionTimestamp %v, DisruptionTarget %+v", p.DeletionTimestamp, target)
				}
				return
			}
			if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
				t.Errorf("after eviction: deletionTimestamp %v grace %v, want graceful deletion in 30s", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
			}
			if target == nil || target.Status != corev1.ConditionTrue || target.Reason != "EvictionByEvictionAPI" || target.Message != "Eviction API: evicting" {
				t.Errorf("DisruptionTarget condition = %+v", target)
			}
		})
	}

	s := podStorages(t)
	if _, err := evict(s, "missing", nil, false); !apierrors.IsNotFound(err) {
		t.Errorf("evicting a missing pod: %v, want 404", err)
	}
	e := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns}}
	if _, err := s["pods/eviction"].(rest.NamedCreater).Create(rt.Context(ns), "b", e, nil, &metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("eviction with a mismatched name: %v, want 400", err)
	}
}
