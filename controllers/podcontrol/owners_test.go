package podcontrol

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResolveControllerRef(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	stored := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", UID: "u1"}}
	get := func(name string) (*appsv1.ReplicaSet, error) {
		if name != "rs" {
			return nil, errors.New("not found")
		}
		return stored, nil
	}
	for _, tc := range []struct {
		name string
		ref  metav1.OwnerReference
		want bool
	}{
		{"same object", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}, true},
		{"recreated under the name", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u0"}, false},
		{"other kind", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "rs", UID: "u1"}, false},
		{"other version", metav1.OwnerReference{APIVersion: "extensions/v1beta1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}, false},
		{"missing", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone", UID: "u1"}, false},
	} {
		got, ok := ResolveControllerRef(&tc.ref, gvk, get)
		if ok != tc.want || (ok && got != stored) || (!ok && got != nil) {
			t.Errorf("%s: got %v, %v", tc.name, got, ok)
		}
	}
}

func TestSelecting(t *testing.T) {
	mk := func(name string, sel *metav1.LabelSelector) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.ReplicaSetSpec{Selector: sel}}
	}
	objs := []*appsv1.ReplicaSet{
		mk("match", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}),
		mk("other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}),
		mk("empty", &metav1.LabelSelector{}),
		mk("nil", nil),
		mk("invalid", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}),
	}
	got := Selecting(objs, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, map[string]string{"app": "web", "x": "y"})
	if len(got) != 1 || got[0].Name != "match" {
		t.Errorf("selecting: %v", got)
	}
}
