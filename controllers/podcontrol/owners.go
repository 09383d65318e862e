package podcontrol

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ResolveControllerRef returns the object a controller reference names, fetched with get,
// if ref is of kind gvk and the object still has the reference's UID (not one recreated
// under the same name); otherwise the zero value and false.
func ResolveControllerRef[T metav1.Object](ref *metav1.OwnerReference, gvk schema.GroupVersionKind, get func(name string) (T, error)) (T, bool) {
	var zero T
	if ref.Kind != gvk.Kind || ref.APIVersion != gvk.GroupVersion().String() {
		return zero, false
	}
	obj, err := get(ref.Name)
	if err != nil || obj.GetUID() != ref.UID {
		return zero, false
	}
	return obj, true
}

// Selecting returns the objects whose label selector (selector(obj)) matches set: the owners
// that may adopt an orphan with those labels. Invalid and empty selectors select nothing.
func Selecting[T any](objs []T, selector func(T) *metav1.LabelSelector, set map[string]string) []T {
	var out []T
	for _, obj := range objs {
		sel, err := metav1.LabelSelectorAsSelector(selector(obj))
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(set)) {
			out = append(out, obj)
		}
	}
	return out
}
