package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// managedConditions are the namespace conditions this controller owns, in the order upstream
// writes them. Every one of them is present on a namespace the controller has worked on: True
// with a failure reason while something is wrong, False with an "ok" reason otherwise.
var managedConditions = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

// okCondition is the reason and message of a managed condition in its False (healthy) state.
var okCondition = map[corev1.NamespaceConditionType]struct{ reason, message string }{
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentRemoved", "All content successfully removed"},
}

// conditionBuilder collects the failures of one deletion pass and turns them into conditions.
type conditionBuilder struct {
	failing       []corev1.NamespaceCondition
	contentErrors []error
}

func (b *conditionBuilder) add(t corev1.NamespaceConditionType, reason, message string) {
	b.failing = append(b.failing, corev1.NamespaceCondition{
		Type:               t,
		Status:             corev1.ConditionTrue,
		LastTransitionTime: metav1.Now(),
		Reason:             reason,
		Message:            message,
	})
}

// discoveryFailed records a discovery error (partial discovery still lets deletion proceed).
func (b *conditionBuilder) discoveryFailed(err error) {
	msg := err.Error()
	var groupErr *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &groupErr) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(groupErr.Groups), err)
	}
	b.add(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
}

// groupVersionParsingFailed records a group version from discovery that does not parse.
func (b *conditionBuilder) groupVersionParsingFailed(err error) {
	b.add(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", err.Error())
}

// contentDeletionFailed records the failure to delete (or list) one resource type.
func (b *conditionBuilder) contentDeletionFailed(err error) {
	b.contentErrors = append(b.contentErrors, err)
}

// remaining records what is still in the namespace after this pass.
func (b *conditionBuilder) remaining(r remainingContent) {
	if len(r.byResource) > 0 {
		parts := make([]string, 0, len(r.byResource))
		for gvr, n := range r.byResource {
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
			}
		}
		sort.Strings(parts)
		b.add(corev1.NamespaceContentRemaining, "SomeResourcesRemain",
			"Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(r.byFinalizer) > 0 {
		parts := make([]string, 0, len(r.byFinalizer))
		for finalizer, n := range r.byFinalizer {
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%s in %d resource instances", finalizer, n))
			}
		}
		sort.Strings(parts)
		b.add(corev1.NamespaceFinalizersRemaining, "SomeFinalizerRemain",
			"Some finalizers are remaining: "+strings.Join(parts, ", "))
	}
}

// apply writes the conditions into status and reports whether anything changed.
// LastTransitionTime moves only when a condition's status flips.
func (b *conditionBuilder) apply(status *corev1.NamespaceStatus) bool {
	failing := b.failing
	if len(b.contentErrors) > 0 && findCondition(failing, corev1.NamespaceDeletionContentFailure) == nil {
		msgs := make([]string, 0, len(b.contentErrors))
		for _, err := range b.contentErrors {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		failing = append(failing, corev1.NamespaceCondition{
			Type:               corev1.NamespaceDeletionContentFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.Now(),
			Reason:             "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v",
				len(b.contentErrors), strings.Join(msgs, ", ")),
		})
	}

	changed := false
	for _, t := range managedConditions {
		want := findCondition(failing, t)
		if want == nil {
			ok := okCondition[t]
			want = &corev1.NamespaceCondition{
				Type:               t,
				Status:             corev1.ConditionFalse,
				LastTransitionTime: metav1.Now(),
				Reason:             ok.reason,
				Message:            ok.message,
			}
		}
		have := findCondition(status.Conditions, t)
		switch {
		case have == nil:
			status.Conditions = append(status.Conditions, *want)
			changed = true
		case have.Status != want.Status || have.Reason != want.Reason || have.Message != want.Message:
			if have.Status != want.Status {
				have.LastTransitionTime = metav1.Now()
			}
			have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
			changed = true
		}
	}
	return changed
}

func findCondition(conditions []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conditions {
		if conditions[i].Type == t {
			return &conditions[i]
		}
	}
	return nil
}

// remainingContent is what a deletion pass found still present.
type remainingContent struct {
	byResource  map[schema.GroupVersionResource]int
	byFinalizer map[string]int
}

func newRemainingContent() remainingContent {
	return remainingContent{
		byResource:  map[schema.GroupVersionResource]int{},
		byFinalizer: map[string]int{},
	}
}

func (r remainingContent) add(gvr schema.GroupVersionResource, res gvrResult) {
	if res.remaining == 0 {
		return
	}
	r.byResource[gvr] = res.remaining
	for f, n := range res.finalizers {
		if n > 0 {
			r.byFinalizer[f] += n
		}
	}
}
