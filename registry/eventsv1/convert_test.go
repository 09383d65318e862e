package eventsv1

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConversionRoundTripAndFieldMapping(t *testing.T) {
	now := metav1.NewMicroTime(time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC))
	first := metav1.NewTime(now.Add(-time.Minute))
	e := &eventsv1.Event{
		ObjectMeta:               metav1.ObjectMeta{Name: "ev", Namespace: "default", Labels: map[string]string{"a": "b"}},
		EventTime:                now,
		Series:                   &eventsv1.EventSeries{Count: 3, LastObservedTime: now},
		ReportingController:      "kubeshim.io/test",
		ReportingInstance:        "test-1",
		Action:                   "Testing",
		Reason:                   "Tested",
		Regarding:                corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "default", UID: "u1"},
		Related:                  &corev1.ObjectReference{Kind: "Node", Name: "n"},
		Note:                     "hello",
		Type:                     corev1.EventTypeWarning,
		DeprecatedSource:         corev1.EventSource{Component: "c", Host: "h"},
		DeprecatedFirstTimestamp: first,
		DeprecatedLastTimestamp:  metav1.NewTime(now.Time),
		DeprecatedCount:          7,
	}
	core := ToCore(e)
	checks := map[string][2]string{
		"message":             {core.Message, "hello"},
		"involvedObject.name": {core.InvolvedObject.Name, "p"},
		"source.component":    {core.Source.Component, "c"},
		"reportingComponent":  {core.ReportingController, "kubeshim.io/test"},
		"related.name":        {core.Related.Name, "n"},
		"type":                {core.Type, corev1.EventTypeWarning},
		"firstTimestamp":      {core.FirstTimestamp.String(), first.String()},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("core %s = %q, want %q", name, v[0], v[1])
		}
	}
	if core.Count != 7 || core.Series == nil || core.Series.Count != 3 {
		t.Errorf("count %d series %+v", core.Count, core.Series)
	}
	back := FromCore(core)
	if !equality.Semantic.DeepEqual(back, e) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", back, e)
	}
	// The converted objects never share state with their source.
	core.Labels["a"] = "changed"
	core.Related.Name = "changed"
	if e.Labels["a"] != "b" || e.Related.Name != "n" {
		t.Fatal("conversion aliases the source object")
	}
}
