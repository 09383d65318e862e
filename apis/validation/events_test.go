package validation

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func legacyEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		Reason:         "Scheduled",
		Message:        "Successfully assigned default/web to node-1",
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: metav1.Now(),
		LastTimestamp:  metav1.Now(),
		Count:          1,
		Type:           corev1.EventTypeNormal,
	}
}

func TestValidateEvent(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *corev1.Event)
		wants  []want
	}{
		{name: "valid legacy event", mutate: func(*corev1.Event) {}},
		{name: "cluster-scoped object reported in default", mutate: func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}},
		{name: "involved object in another namespace", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "kube-system" },
			wants: []want{inv("involvedObject.namespace").withMsg(`involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace`)}},
		{name: "cluster-scoped object in another namespace", mutate: func(e *corev1.Event) {
			e.Namespace = "team-a"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, wants: []want{inv("involvedObject.namespace")}},
		{name: "new-style event needs reporting fields", mutate: func(e *corev1.Event) {
			e.EventTime = metav1.NowMicro()
			e.Reason = ""
		}, wants: []want{req("reportingController"), req("reportingInstance"), req("action"), req("reason")}},
		{name: "new-style event reason too long", mutate: func(e *corev1.Event) {
			e.EventTime = metav1.NowMicro()
			e.ReportingController = "kubeshim.io/kubelet"
			e.ReportingInstance = "kubelet-node-1"
			e.Action = "Binding"
			e.Reason = strings.Repeat("r", 129)
		}, wants: []want{inv("reason").withMsg(`reason: Invalid value: "": can have at most 128 characters`)}},
		{name: "core/v1 skips strict checks", mutate: func(e *corev1.Event) { e.Type = "Fatal" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := legacyEvent()
			tc.mutate(e)
			expectErrs(t, ValidateEvent(e), tc.wants...)
		})
	}
	old := legacyEvent()
	upd := old.DeepCopy()
	upd.Count = 2
	expectErrs(t, ValidateEventUpdate(upd, old))
	upd.InvolvedObject.Namespace = "other"
	expectErrs(t, ValidateEventUpdate(upd, old), inv("involvedObject.namespace"))
}

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.17a", Namespace: "default"},
		EventTime:           metav1.NowMicro(),
		ReportingController: "kubeshim.io/kubelet",
		ReportingInstance:   "kubelet-node-1",
		Action:              "Pulling",
		Reason:              "Pulling",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		Note:                "Pulling image nginx",
		Type:                corev1.EventTypeNormal,
	}
}

func TestValidateEventsV1Event(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *eventsv1.Event)
		wants  []want
	}{
		{name: "valid", mutate: func(*eventsv1.Event) {}},
		{name: "valid series", mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		}},
		{name: "eventTime required", mutate: func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} },
			wants: []want{req("eventTime")}},
		{name: "type must be Normal or Warning", mutate: func(e *eventsv1.Event) { e.Type = "Fatal" },
			wants: []want{inv("type").withMsg(`type: Invalid value: "": has invalid value: Fatal`)}},
		{name: "reportingController must be a qualified name", mutate: func(e *eventsv1.Event) { e.ReportingController = "kubelet on node 1" },
			wants: []want{inv("reportingController")}},
		{name: "note too long", mutate: func(e *eventsv1.Event) { e.Note = strings.Repeat("n", 1025) },
			wants: []want{inv("message")}},
		{name: "deprecated fields must be unset", mutate: func(e *eventsv1.Event) {
			e.DeprecatedCount = 3
			e.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
			e.DeprecatedFirstTimestamp = metav1.Now()
		}, wants: []want{inv("count"), inv("source"), inv("firstTimestamp").withMsg(`firstTimestamp: Invalid value: "": needs to be unset`)}},
		{name: "series count", mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} },
			wants: []want{inv("series.count"), req("series.lastObservedTime")}},
		{name: "regarding in another namespace", mutate: func(e *eventsv1.Event) { e.Regarding.Namespace = "other" }},
		{name: "regarding cluster object outside default", mutate: func(e *eventsv1.Event) {
			e.Namespace = "team-a"
			e.Regarding = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, wants: []want{inv("involvedObject.namespace")}},
		{name: "name invalid", mutate: func(e *eventsv1.Event) { e.Name = "Web Event" },
			wants: []want{inv("metadata.name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvent()
			tc.mutate(e)
			expectErrs(t, ValidateEventsV1Event(e), tc.wants...)
		})
	}
}

func TestValidateEventsV1EventUpdate(t *testing.T) {
	old := newEvent()
	old.ResourceVersion = "1"
	e := old.DeepCopy()
	e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now())}
	expectErrs(t, ValidateEventsV1EventUpdate(e, old))

	e = old.DeepCopy()
	e.Note = "changed"
	expectErrs(t, ValidateEventsV1EventUpdate(e, old), inv("message").withMsg(`message: Invalid value: "changed": field is immutable`))
	e = old.DeepCopy()
	e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: metav1.NowMicro()}
	expectErrs(t, ValidateEventsV1EventUpdate(e, old), inv("series.count"))
}

func TestValidateLease(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(l *coordinationv1.Lease)
		wants  []want
	}{
		{name: "valid", mutate: func(*coordinationv1.Lease) {}},
		{name: "valid strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
			l.Spec.PreferredHolder = ptr.To("node-2")
		}},
		{name: "duration zero", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) },
			wants: []want{inv("spec.leaseDurationSeconds").withMsg("spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0")}},
		{name: "negative transitions", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) },
			wants: []want{inv("spec.leaseTransitions")}},
		{name: "unknown strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("Youngest"))
		},
			wants: []want{unsup("spec.strategy.strategy")}},
		{name: "preferredHolder needs strategy", mutate: func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr.To("node-2") },
			wants: []want{forb("spec.preferredHolder")}},
		{name: "name invalid", mutate: func(l *coordinationv1.Lease) { l.Name = "Node_1" }, wants: []want{inv("metadata.name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To[int32](40),
					RenewTime: ptr.To(metav1.NowMicro()),
				},
			}
			tc.mutate(l)
			expectErrs(t, ValidateLease(l), tc.wants...)
		})
	}
	old := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", ResourceVersion: "5"}}
	l := old.DeepCopy()
	l.Spec.RenewTime = ptr.To(metav1.NowMicro())
	expectErrs(t, ValidateLeaseUpdate(l, old))
	l.Spec.LeaseDurationSeconds = ptr.To[int32](-1)
	expectErrs(t, ValidateLeaseUpdate(l, old), inv("spec.leaseDurationSeconds"))
}
