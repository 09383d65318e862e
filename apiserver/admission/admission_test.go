package admission

import (
	"context"
	"errors"
	"reflect"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/apis/defaults"
	"github.com/kubeshim/kubeshim/registry/namespace"
	rt "github.com/kubeshim/kubeshim/registry/resource/resourcetest"
)

var (
	podGVK       = corev1.SchemeGroupVersion.WithKind("Pod")
	podGVR       = corev1.SchemeGroupVersion.WithResource("pods")
	namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")
	namespaceGVR = corev1.SchemeGroupVersion.WithResource("namespaces")
)

// namespaceGetter serves namespaces from a real namespace storage, as the API server does,
// holding "active" and "terminating".
func namespaceGetter(t *testing.T) NamespaceGetter {
	t.Helper()
	nsREST, _, err := namespace.Storages(rt.NewOptionsGetter(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nsREST.Destroy)
	ctx := rt.Context("")
	for _, name := range []string{"active", "terminating"} {
		if _, err := rt.Create(ctx, nsREST, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := rt.Delete(ctx, nsREST, "terminating", &metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, name string) (*corev1.Namespace, error) {
		obj, err := nsREST.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Namespace), nil
	}
}

func attrs(obj, old runtime.Object, kind schema.GroupVersionKind, ns, name string, res schema.GroupVersionResource, sub string, op admission.Operation) admission.Attributes {
	return admission.NewAttributesRecord(obj, old, kind, ns, name, res, sub, op, nil, false, rt.Admin)
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func TestNamespaceLifecycle(t *testing.T) {
	plugin := NewNamespaceLifecycle(namespaceGetter(t))
	cases := []struct {
		name      string
		attrs     admission.Attributes
		wantErr   func(error) bool
		wantMsg   string
		wantCause metav1.CauseType
	}{
		{name: "create in an active namespace", attrs: attrs(pod("active", "p"), nil, podGVK, "active", "p", podGVR, "", admission.Create)},
		{
			name: "create in a missing namespace", attrs: attrs(pod("missing", "p"), nil, podGVK, "missing", "p", podGVR, "", admission.Create),
			wantErr: apierrors.IsNotFound, wantMsg: `namespaces "missing" not found`,
		},
		{
			name: "create in a terminating namespace", attrs: attrs(pod("terminating", "p"), nil, podGVK, "terminating", "p", podGVR, "", admission.Create),
			wantErr:   apierrors.IsForbidden,
			wantMsg:   `pods "p" is forbidden: unable to create new content in namespace terminating because it is being terminated`,
			wantCause: corev1.NamespaceTerminatingCause,
		},
		{
			name: "create with a generated name in a terminating namespace",
			attrs: attrs(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "terminating", GenerateName: "web-"}}, nil,
				podGVK, "terminating", "", podGVR, "", admission.Create),
			wantErr: apierrors.IsForbidden,
			wantMsg: `pods "web-" is forbidden: unable to create new content in namespace terminating because it is being terminated`,
		},
		{
			name:    "binding in a terminating namespace",
			attrs:   attrs(&corev1.Binding{}, nil, corev1.SchemeGroupVersion.WithKind("Binding"), "terminating", "p", podGVR, "binding", admission.Create),
			wantErr: apierrors.IsForbidden,
		},
		{name: "update in a terminating namespace", attrs: attrs(pod("terminating", "p"), pod("terminating", "p"), podGVK, "terminating", "p", podGVR, "", admission.Update)},
		{name: "update in a missing namespace", attrs: attrs(pod("missing", "p"), pod("missing", "p"), podGVK, "missing", "p", podGVR, "", admission.Update)},
		{name: "status update in a terminating namespace", attrs: attrs(pod("terminating", "p"), pod("terminating", "p"), podGVK, "terminating", "p", podGVR, "status", admission.Update)},
		{name: "delete in a terminating namespace", attrs: attrs(nil, pod("terminating", "p"), podGVK, "terminating", "p", podGVR, "", admission.Delete)},
		{name: "delete in a missing namespace", attrs: attrs(nil, nil, podGVK, "missing", "p", podGVR, "", admission.Delete)},
		{
			name: "access review in a missing namespace",
			attrs: attrs(&authorizationv1.LocalSubjectAccessReview{}, nil, authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview"),
				"missing", "", authorizationv1.SchemeGroupVersion.WithResource("localsubjectaccessreviews"), "", admission.Create),
		},
		{name: "cluster-scoped create", attrs: attrs(&corev1.Node{}, nil, corev1.SchemeGroupVersion.WithKind("Node"), "", "n1", corev1.SchemeGroupVersion.WithResource("nodes"), "", admission.Create)},
		{name: "create a namespace", attrs: attrs(&corev1.Namespace{}, nil, namespaceGVK, "", "new", namespaceGVR, "", admission.Create)},
		{name: "delete a namespace", attrs: attrs(nil, nil, namespaceGVK, "", "active", namespaceGVR, "", admission.Delete)},
		{name: "finalize a terminating namespace", attrs: attrs(&corev1.Namespace{}, &corev1.Namespace{}, namespaceGVK, "", "terminating", namespaceGVR, "finalize", admission.Update)},
	}
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		cases = append(cases, struct {
			name      string
			attrs     admission.Attributes
			wantErr   func(error) bool
			wantMsg   string
			wantCause metav1.CauseType
		}{
			name:    "delete namespace " + name,
			attrs:   attrs(nil, nil, namespaceGVK, "", name, namespaceGVR, "", admission.Delete),
			wantErr: apierrors.IsForbidden,
			wantMsg: `namespaces "` + name + `" is forbidden: this namespace may not be deleted`,
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if plugin.Handles(tc.attrs.GetOperation()) {
				err = plugin.Validate(context.Background(), tc.attrs, nil)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if !tc.wantErr(err) {
				t.Fatalf("got %v", err)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("message %q, want %q", err.Error(), tc.wantMsg)
			}
			if tc.wantCause != "" {
				var status apierrors.APIStatus
				if !errors.As(err, &status) || status.Status().Details == nil || !hasCause(status.Status().Details.Causes, tc.wantCause) {
					t.Errorf("causes of %#v, want %s", err, tc.wantCause)
				}
			}
		})
	}
	if plugin.Handles(admission.Connect) {
		t.Error("NamespaceLifecycle handles connect requests")
	}
}

func hasCause(causes []metav1.StatusCause, want metav1.CauseType) bool {
	for _, c := range causes {
		if c.Type == want && c.Field == "metadata.namespace" {
			return true
		}
	}
	return false
}

var (
	notReady = corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	unreach  = corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
)

func TestPodDefaultsCreate(t *testing.T) {
	plugin := NewPodDefaults()
	cases := []struct {
		name            string
		pod             func(*corev1.Pod)
		wantSA          string
		wantTolerations []corev1.Toleration
		wantPriority    int32
		wantErr         func(error) bool
	}{
		{name: "plain pod", wantSA: "default", wantTolerations: []corev1.Toleration{notReady, unreach}},
		{name: "named service account", pod: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" }, wantSA: "builder", wantTolerations: []corev1.Toleration{notReady, unreach}},
		{name: "deprecated serviceAccount", pod: func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "old" }, wantSA: "old", wantTolerations: []corev1.Toleration{notReady, unreach}},
		{
			name:            "mirror pod keeps no service account",
			pod:             func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			wantTolerations: []corev1.Toleration{notReady, unreach},
		},
		{
			name: "not-ready already tolerated",
			pod: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}}
			},
			wantSA: "default",
			wantTolerations: []corev1.Toleration{
				{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
				unreach,
			},
		},
		{
			name:            "tolerates everything",
			pod:             func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} },
			wantSA:          "default",
			wantTolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		},
		{
			name: "NoSchedule toleration does not count",
			pod: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			},
			wantSA: "default",
			wantTolerations: []corev1.Toleration{
				{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
				notReady, unreach,
			},
		},
		{
			name:            "system-node-critical",
			pod:             func(p *corev1.Pod) { p.Spec.PriorityClassName = defaults.SystemNodeCritical },
			wantSA:          "default",
			wantTolerations: []corev1.Toleration{notReady, unreach},
			wantPriority:    defaults.SystemNodeCriticalPriority,
		},
		{name: "unknown priority class", pod: func(p *corev1.Pod) { p.Spec.PriorityClassName = "gold" }, wantErr: apierrors.IsForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod("ns", "p")
			if tc.pod != nil {
				tc.pod(p)
			}
			err := plugin.Admit(context.Background(), attrs(p, nil, podGVK, "ns", "p", podGVR, "", admission.Create), nil)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("admit: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("admit: %v", err)
			}
			if p.Spec.ServiceAccountName != tc.wantSA || p.Spec.DeprecatedServiceAccount != tc.wantSA {
				t.Errorf("service account %q / %q, want %q", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, tc.wantSA)
			}
			if !reflect.DeepEqual(p.Spec.Tolerations, tc.wantTolerations) {
				t.Errorf("tolerations = %+v, want %+v", p.Spec.Tolerations, tc.wantTolerations)
			}
			if p.Spec.Priority == nil || *p.Spec.Priority != tc.wantPriority || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Errorf("priority %v preemptionPolicy %v, want %d, PreemptLowerPriority", p.Spec.Priority, p.Spec.PreemptionPolicy, tc.wantPriority)
			}
		})
	}
}

// The durations of the default tolerations follow --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
func TestPodDefaultsTolerationSeconds(t *testing.T) {
	plugin := NewPodDefaults()
	plugin.NotReadySeconds, plugin.UnreachableSeconds = 7, 2
	p := pod("ns", "p")
	if err := plugin.Admit(context.Background(), attrs(p, nil, podGVK, "ns", "p", podGVR, "", admission.Create), nil); err != nil {
		t.Fatal(err)
	}
	want := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](7)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
	}
	if !reflect.DeepEqual(p.Spec.Tolerations, want) {
		t.Errorf("tolerations = %+v, want %+v", p.Spec.Tolerations, want)
	}
}

// TestPodDefaultsUpdate: a PUT that leaves out what admission set on create (kubectl replace
// of a manifest) gets the tolerations and the stored priority back, so validation does not
// refuse it; the service account is left to validation.
func TestPodDefaultsUpdate(t *testing.T) {
	plugin := NewPodDefaults()
	old := pod("ns", "p")
	old.Spec.ServiceAccountName = "default"
	old.Spec.Priority = ptr.To(defaults.SystemClusterCriticalPriority)
	old.Spec.PriorityClassName = defaults.SystemClusterCritical
	old.Spec.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
	old.Spec.Tolerations = []corev1.Toleration{notReady, unreach}

	p := pod("ns", "p")
	p.Spec.PriorityClassName = defaults.SystemClusterCritical
	if err := plugin.Admit(context.Background(), attrs(p, old, podGVK, "ns", "p", podGVR, "", admission.Update), nil); err != nil {
		t.Fatalf("admit: %v", err)
	}
	if !reflect.DeepEqual(p.Spec.Tolerations, old.Spec.Tolerations) {
		t.Errorf("tolerations = %+v, want %+v", p.Spec.Tolerations, old.Spec.Tolerations)
	}
	if p.Spec.Priority == nil || *p.Spec.Priority != defaults.SystemClusterCriticalPriority || p.Spec.PreemptionPolicy == nil {
		t.Errorf("priority %v preemptionPolicy %v, want the stored ones", p.Spec.Priority, p.Spec.PreemptionPolicy)
	}
	if p.Spec.ServiceAccountName != "" {
		t.Errorf("service account defaulted on update to %q", p.Spec.ServiceAccountName)
	}

	// A priority the client sets is left for validation to judge.
	p = pod("ns", "p")
	p.Spec.Priority = ptr.To[int32](7)
	if err := plugin.Admit(context.Background(), attrs(p, old, podGVK, "ns", "p", podGVR, "", admission.Update), nil); err != nil || *p.Spec.Priority != 7 {
		t.Errorf("admit: %v, priority %v", err, p.Spec.Priority)
	}
}

func TestPodDefaultsSkips(t *testing.T) {
	plugin := NewPodDefaults()
	for _, op := range []admission.Operation{admission.Create, admission.Update} {
		if !plugin.Handles(op) {
			t.Errorf("PodDefaults does not handle %s", op)
		}
	}
	if plugin.Handles(admission.Delete) {
		t.Error("PodDefaults handles deletes")
	}
	cases := []struct {
		name  string
		attrs admission.Attributes
	}{
		{name: "status update", attrs: attrs(pod("ns", "p"), pod("ns", "p"), podGVK, "ns", "p", podGVR, "status", admission.Update)},
		{name: "binding", attrs: attrs(&corev1.Binding{}, nil, corev1.SchemeGroupVersion.WithKind("Binding"), "ns", "p", podGVR, "binding", admission.Create)},
		{name: "other resource", attrs: attrs(&corev1.ConfigMap{}, nil, corev1.SchemeGroupVersion.WithKind("ConfigMap"), "ns", "c", corev1.SchemeGroupVersion.WithResource("configmaps"), "", admission.Create)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.attrs.GetObject().DeepCopyObject()
			if err := plugin.Admit(context.Background(), tc.attrs, nil); err != nil {
				t.Fatalf("admit: %v", err)
			}
			if !reflect.DeepEqual(before, tc.attrs.GetObject()) {
				t.Errorf("object changed: %+v", tc.attrs.GetObject())
			}
		})
	}
	if err := plugin.Admit(context.Background(), attrs(&corev1.ConfigMap{}, nil, podGVK, "ns", "p", podGVR, "", admission.Create), nil); !apierrors.IsBadRequest(err) {
		t.Errorf("a pods request without a Pod: %v, want 400", err)
	}
}
