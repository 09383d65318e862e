package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
)

const (
	// labelNodeRolePrefix marks a node role with a label node-role.kubernetes.io/<role>.
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	// labelNodeRole names a node role in its value (the older convention).
	labelNodeRole = "kubernetes.io/role"
)

func nodePrinter(now func() time.Time) rest.TableConvertor {
	info, status := corev1.NodeSystemInfo{}.SwaggerDoc(), corev1.NodeStatus{}.SwaggerDoc()
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Status", typeString, "The status of the node"),
		col("Roles", typeString, "The roles of the node"),
		ageColumn(),
		col("Version", typeString, info["kubeletVersion"]),
		wide("Internal-IP", typeString, status["addresses"]),
		wide("External-IP", typeString, status["addresses"]),
		wide("OS-Image", typeString, info["osImage"]),
		wide("Kernel-Version", typeString, info["kernelVersion"]),
		wide("Container-Runtime", typeString, info["containerRuntimeVersion"]),
	}, func(n *corev1.Node, now time.Time) []interface{} {
		unknownIfEmpty := func(s string) string {
			if s == "" {
				return unknown
			}
			return s
		}
		ni := n.Status.NodeInfo
		return []interface{}{
			n.Name,
			nodeStatus(n),
			orNone(strings.Join(nodeRoles(n), ",")),
			age(n.CreationTimestamp, now),
			ni.KubeletVersion,
			nodeAddress(n, corev1.NodeInternalIP),
			nodeAddress(n, corev1.NodeExternalIP),
			unknownIfEmpty(ni.OSImage),
			unknownIfEmpty(ni.KernelVersion),
			unknownIfEmpty(ni.ContainerRuntimeVersion),
		}
	})
}

// nodeStatus is Ready or NotReady from the node's (last) Ready condition, Unknown
// without one, followed by ",SchedulingDisabled" for a cordoned node.
func nodeStatus(n *corev1.Node) string {
	var ready *corev1.NodeCondition
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			ready = &n.Status.Conditions[i]
		}
	}
	status := "Unknown"
	switch {
	case ready == nil:
	case ready.Status == corev1.ConditionTrue:
		status = string(corev1.NodeReady)
	default:
		status = "Not" + string(corev1.NodeReady)
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles are the sorted, distinct roles named by the node's labels.
func nodeRoles(n *corev1.Node) []string {
	set := map[string]struct{}{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				set[role] = struct{}{}
			}
		case k == labelNodeRole && v != "":
			set[v] = struct{}{}
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress is the node's first address of type t, or "<none>".
func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return none
}

func namespacePrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Status", typeString, "The status of the namespace"),
		ageColumn(),
	}, func(ns *corev1.Namespace, now time.Time) []interface{} {
		return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}
	})
}

func configMapPrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Data", typeString, corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn(),
	}, func(cm *corev1.ConfigMap, now time.Time) []interface{} {
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
	})
}

func secretPrinter(now func() time.Time) rest.TableConvertor {
	doc := corev1.Secret{}.SwaggerDoc()
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Type", typeString, doc["type"]),
		col("Data", typeString, doc["data"]),
		ageColumn(),
	}, func(s *corev1.Secret, now time.Time) []interface{} {
		// kube-apiserver merges stringData into data when it decodes a secret.
		keys := len(s.Data)
		for k := range s.StringData {
			if _, dup := s.Data[k]; !dup {
				keys++
			}
		}
		return []interface{}{s.Name, string(s.Type), int64(keys), age(s.CreationTimestamp, now)}
	})
}

func serviceAccountPrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Secrets", typeString, corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
		ageColumn(),
	}, func(sa *corev1.ServiceAccount, now time.Time) []interface{} {
		return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}
	})
}

func leasePrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, []metav1.TableColumnDefinition{
		nameColumn(),
		col("Holder", typeString, coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
		ageColumn(),
	}, func(l *coordinationv1.Lease, now time.Time) []interface{} {
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []interface{}{l.Name, holder, age(l.CreationTimestamp, now)}
	})
}

// eventColumns are the columns of events of both APIs: kube-apiserver serves
// events.k8s.io events from the core events' storage and prints them alike.
func eventColumns() []metav1.TableColumnDefinition {
	doc := corev1.Event{}.SwaggerDoc()
	c := []metav1.TableColumnDefinition{
		col("Last Seen", typeString, doc["lastTimestamp"]),
		col("Type", typeString, doc["type"]),
		col("Reason", typeString, doc["reason"]),
		col("Object", typeString, doc["involvedObject"]),
		wide("Subobject", typeString, corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		wide("Source", typeString, doc["source"]),
		col("Message", typeString, doc["message"]),
		wide("First Seen", typeString, doc["firstTimestamp"]),
		wide("Count", typeString, doc["count"]),
		wide("Name", typeString, objectMetaDoc["name"]),
	}
	c[len(c)-1].Format = "name"
	return c
}

func coreEventPrinter(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, eventColumns(), func(e *corev1.Event, now time.Time) []interface{} {
		return eventView{
			name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Message,
			object: e.InvolvedObject, source: e.Source,
			reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
			firstTimestamp: e.FirstTimestamp, lastTimestamp: e.LastTimestamp, eventTime: e.EventTime,
			count: e.Count, series: e.Series,
		}.cells(now)
	})
}

func eventsV1Printer(now func() time.Time) rest.TableConvertor {
	return newPrinter(now, eventColumns(), func(e *eventsv1.Event, now time.Time) []interface{} {
		// The fields of the core event each events.k8s.io field converts to.
		v := eventView{
			name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Note,
			object: e.Regarding, source: e.DeprecatedSource,
			reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
			firstTimestamp: e.DeprecatedFirstTimestamp, lastTimestamp: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
			count: e.DeprecatedCount,
		}
		if e.Series != nil {
			v.series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
		}
		return v.cells(now)
	})
}

// eventView is what the event columns show of an event of either API.
type eventView struct {
	name, eventType, reason, message       string
	object                                 corev1.ObjectReference
	source                                 corev1.EventSource
	reportingController, reportingInstance string
	firstTimestamp, lastTimestamp          metav1.Time
	eventTime                              metav1.MicroTime
	count                                  int32
	series                                 *corev1.EventSeries
}

func (e eventView) cells(now time.Time) []interface{} {
	first := age(e.firstTimestamp, now)
	if e.firstTimestamp.IsZero() {
		first = microAge(e.eventTime, now)
	}
	last := age(e.lastTimestamp, now)
	if e.lastTimestamp.IsZero() {
		last = first
	}
	count := e.count
	switch {
	case e.series != nil:
		last = microAge(e.series.LastObservedTime, now)
		count = e.series.Count
	case count == 0:
		count = 1 // a singleton event of the events.k8s.io API has no count
	}

	object := strings.ToLower(e.object.Kind)
	if e.object.Name != "" {
		object = fmt.Sprintf("%s/%s", object, e.object.Name)
	}

	return []interface{}{
		last,
		e.eventType,
		e.reason,
		object,
		e.object.FieldPath,
		eventSource(e.source, e.reportingController, e.reportingInstance),
		strings.TrimSpace(e.message),
		first,
		int64(count),
		e.name,
	}
}

// eventSource is "component, host", falling back to the reporting controller and
// instance, and just the component when there is no host.
func eventSource(s corev1.EventSource, reportingController, reportingInstance string) string {
	component, host := s.Component, s.Host
	if component == "" {
		component = reportingController
	}
	if host == "" {
		host = reportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
