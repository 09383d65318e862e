package resource

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// LabelSelectorString renders a workload's pod selector as the Scale's status.selector.
func LabelSelectorString(s *metav1.LabelSelector) (string, error) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "", err
	}
	return sel.String(), nil
}

// EqualitySelectorString renders a replication controller's map selector.
func EqualitySelectorString(s map[string]string) (string, error) {
	return labels.SelectorFromSet(s).String(), nil
}

// Int32Ptr returns *p, or def when p is nil.
func Int32Ptr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Typed adapts a typed accessor to the runtime.Object one a ScaleDefinition takes.
func Typed[T runtime.Object, R any](f func(T) R) func(runtime.Object) R {
	return func(obj runtime.Object) R { return f(obj.(T)) }
}
