package validation

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of events.k8s.io fields.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// eventView is the one shape both Event APIs are validated in. Upstream converts both to
// its internal core Event first, so error paths use core/v1's field names
// (involvedObject, message, source, firstTimestamp, ...) for events.k8s.io/v1 too.
type eventView struct {
	meta                *metav1.ObjectMeta
	involvedObject      corev1.ObjectReference
	reason, message     string
	source              corev1.EventSource
	firstTimestamp      metav1.Time
	lastTimestamp       metav1.Time
	count               int32
	eventType           string
	eventTime           metav1.MicroTime
	series              *corev1.EventSeries
	action              string
	related             *corev1.ObjectReference
	reportingController string
	reportingInstance   string
}

func viewCoreEvent(e *corev1.Event) eventView {
	return eventView{
		meta: &e.ObjectMeta, involvedObject: e.InvolvedObject, reason: e.Reason, message: e.Message,
		source: e.Source, firstTimestamp: e.FirstTimestamp, lastTimestamp: e.LastTimestamp, count: e.Count,
		eventType: e.Type, eventTime: e.EventTime, series: e.Series, action: e.Action, related: e.Related,
		reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
	}
}

func viewEventsV1Event(e *eventsv1.Event) eventView {
	v := eventView{
		meta: &e.ObjectMeta, involvedObject: e.Regarding, reason: e.Reason, message: e.Note,
		source: e.DeprecatedSource, firstTimestamp: e.DeprecatedFirstTimestamp, lastTimestamp: e.DeprecatedLastTimestamp,
		count: e.DeprecatedCount, eventType: e.Type, eventTime: e.EventTime, action: e.Action, related: e.Related,
		reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
	}
	if e.Series != nil {
		v.series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return v
}

// ValidateEvent validates a core/v1 Event on create: only the legacy checks, as
// kube-apiserver applies to requests in that version.
func ValidateEvent(e *corev1.Event) field.ErrorList {
	return legacyValidateEvent(viewCoreEvent(e))
}

// ValidateEventUpdate validates a core/v1 Event update (legacy checks only).
func ValidateEventUpdate(newE, oldE *corev1.Event) field.ErrorList {
	return legacyValidateEvent(viewCoreEvent(newE))
}

// ValidateEventsV1Event validates an events.k8s.io/v1 Event on create: legacy checks plus
// the strict rules of that API.
func ValidateEventsV1Event(e *eventsv1.Event) field.ErrorList {
	v := viewEventsV1Event(e)
	allErrs := legacyValidateEvent(v)
	allErrs = append(allErrs, validateObjectMeta(v.meta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	allErrs = append(allErrs, validateEventSeries(v)...)
	if v.eventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if v.eventType != corev1.EventTypeNormal && v.eventType != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", v.eventType)))
	}
	if !v.firstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !v.lastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if v.count != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if v.source.Component != "" || v.source.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return allErrs
}

// ValidateEventsV1EventUpdate validates an events.k8s.io/v1 Event update: everything but
// the series is immutable.
func ValidateEventsV1EventUpdate(newE, oldE *eventsv1.Event) field.ErrorList {
	v, o := viewEventsV1Event(newE), viewEventsV1Event(oldE)
	allErrs := legacyValidateEvent(v)
	allErrs = append(allErrs, validateObjectMetaUpdate(v.meta, o.meta, field.NewPath("metadata"))...)
	if !reflect.DeepEqual(v.series, o.series) {
		allErrs = append(allErrs, validateEventSeries(v)...)
	}
	immutable := []struct {
		name     string
		new, old interface{}
	}{
		{"involvedObject", v.involvedObject, o.involvedObject},
		{"reason", v.reason, o.reason},
		{"message", v.message, o.message},
		{"source", v.source, o.source},
		{"firstTimestamp", v.firstTimestamp, o.firstTimestamp},
		{"lastTimestamp", v.lastTimestamp, o.lastTimestamp},
		{"count", v.count, o.count},
		{"reason", v.reason, o.reason},
		{"type", v.eventType, o.eventType},
		{"eventTime", v.eventTime, o.eventTime},
		{"action", v.action, o.action},
		{"related", v.related, o.related},
		{"reportingController", v.reportingController, o.reportingController},
		{"reportingInstance", v.reportingInstance, o.reportingInstance},
	}
	for _, f := range immutable {
		allErrs = append(allErrs, validateImmutableField(f.new, f.old, field.NewPath(f.name))...)
	}
	return allErrs
}

func validateEventSeries(v eventView) field.ErrorList {
	allErrs := field.ErrorList{}
	if v.series != nil {
		if v.series.Count < 2 {
			allErrs = append(allErrs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
		}
		if v.series.LastObservedTime.IsZero() {
			allErrs = append(allErrs, field.Required(field.NewPath("series.lastObservedTime"), ""))
		}
	}
	return allErrs
}

// legacyValidateEvent: the involved object's namespace matches the event's, and new-style
// events (with eventTime) carry their reporting fields.
func legacyValidateEvent(v eventView) field.ErrorList {
	allErrs := field.ErrorList{}
	nsPath := field.NewPath("involvedObject", "namespace")
	ns := v.meta.Namespace
	if v.eventTime.IsZero() {
		if len(v.involvedObject.Namespace) == 0 {
			if ns != metav1.NamespaceNone && ns != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, v.involvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ns != v.involvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, v.involvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if len(v.involvedObject.Namespace) == 0 && ns != metav1.NamespaceDefault && ns != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, v.involvedObject.Namespace, "does not match event.namespace"))
		}
		if len(v.reportingController) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingController"), ""))
		}
		allErrs = append(allErrs, validateQualifiedName(v.reportingController, field.NewPath("reportingController"))...)
		if len(v.reportingInstance) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingInstance"), ""))
		}
		if len(v.reportingInstance) > reportingInstanceLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %v characters", reportingInstanceLengthLimit)))
		}
		if len(v.action) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("action"), ""))
		}
		if len(v.action) > actionLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %v characters", actionLengthLimit)))
		}
		if len(v.reason) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reason"), ""))
		}
		if len(v.reason) > reasonLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %v characters", reasonLengthLimit)))
		}
		if len(v.message) > noteLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(ns) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), ns, msg))
	}
	return allErrs
}
