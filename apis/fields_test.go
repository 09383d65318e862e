package apis

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	podKind        = corev1.SchemeGroupVersion.WithKind("Pod")
	coreEventKind  = corev1.SchemeGroupVersion.WithKind("Event")
	eventsKind     = eventsv1.SchemeGroupVersion.WithKind("Event")
	nodeKind       = corev1.SchemeGroupVersion.WithKind("Node")
	namespaceKind  = corev1.SchemeGroupVersion.WithKind("Namespace")
	secretKind     = corev1.SchemeGroupVersion.WithKind("Secret")
	rcKind         = corev1.SchemeGroupVersion.WithKind("ReplicationController")
	replicaSetKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	jobKind        = batchv1.SchemeGroupVersion.WithKind("Job")
)

var objMeta = metav1.ObjectMeta{Name: "obj", Namespace: "ns"}

type fieldCase struct {
	gvk   schema.GroupVersionKind
	field string
	obj   runtime.Object // has the field set to want
	want  string
}

func withPod(f func(*corev1.Pod)) runtime.Object {
	p := &corev1.Pod{ObjectMeta: objMeta}
	f(p)
	return p
}

func withCoreEvent(f func(*corev1.Event)) runtime.Object {
	e := &corev1.Event{ObjectMeta: objMeta}
	f(e)
	return e
}

func withEvent(f func(*eventsv1.Event)) runtime.Object {
	e := &eventsv1.Event{ObjectMeta: objMeta}
	f(e)
	return e
}

// fieldCases has one case per selectable field: the table below must cover selectableFields
// exactly (TestSelectableFieldsCovered), so a new field needs a case.
func fieldCases() []fieldCase {
	return []fieldCase{
		{podKind, "spec.nodeName", withPod(func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), "n1"},
		{podKind, "spec.restartPolicy", withPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }), "OnFailure"},
		{podKind, "spec.schedulerName", withPod(func(p *corev1.Pod) { p.Spec.SchedulerName = "custom" }), "custom"},
		{podKind, "spec.serviceAccountName", withPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" }), "builder"},
		{podKind, "spec.hostNetwork", withPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), "true"},
		{podKind, "status.phase", withPod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }), "Running"},
		{podKind, "status.podIP", withPod(func(p *corev1.Pod) {
			p.Status.PodIP = "10.1.2.3"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.1.2.3"}, {IP: "fd00::3"}}
		}), "10.1.2.3"},
		{podKind, "status.nominatedNodeName", withPod(func(p *corev1.Pod) { p.Status.NominatedNodeName = "n2" }), "n2"},

		{coreEventKind, "involvedObject.kind", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.Kind = "Pod" }), "Pod"},
		{coreEventKind, "involvedObject.namespace", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }), "other"},
		{coreEventKind, "involvedObject.name", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.Name = "web-1" }), "web-1"},
		{coreEventKind, "involvedObject.uid", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.UID = "u-1" }), "u-1"},
		{coreEventKind, "involvedObject.apiVersion", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.APIVersion = "v1" }), "v1"},
		{coreEventKind, "involvedObject.resourceVersion", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.ResourceVersion = "42" }), "42"},
		{coreEventKind, "involvedObject.fieldPath", withCoreEvent(func(e *corev1.Event) { e.InvolvedObject.FieldPath = "spec.containers{c}" }), "spec.containers{c}"},
		{coreEventKind, "reason", withCoreEvent(func(e *corev1.Event) { e.Reason = "Pulled" }), "Pulled"},
		{coreEventKind, "reportingComponent", withCoreEvent(func(e *corev1.Event) { e.ReportingController = "kubelet" }), "kubelet"},
		{coreEventKind, "source", withCoreEvent(func(e *corev1.Event) { e.Source.Component = "scheduler" }), "scheduler"},
		{coreEventKind, "type", withCoreEvent(func(e *corev1.Event) { e.Type = corev1.EventTypeWarning }), "Warning"},

		{eventsKind, "regarding.kind", withEvent(func(e *eventsv1.Event) { e.Regarding.Kind = "Pod" }), "Pod"},
		{eventsKind, "regarding.namespace", withEvent(func(e *eventsv1.Event) { e.Regarding.Namespace = "other" }), "other"},
		{eventsKind, "regarding.name", withEvent(func(e *eventsv1.Event) { e.Regarding.Name = "web-1" }), "web-1"},
		{eventsKind, "regarding.uid", withEvent(func(e *eventsv1.Event) { e.Regarding.UID = "u-1" }), "u-1"},
		{eventsKind, "reason", withEvent(func(e *eventsv1.Event) { e.Reason = "Pulled" }), "Pulled"},
		{eventsKind, "reportingController", withEvent(func(e *eventsv1.Event) { e.ReportingController = "kubelet" }), "kubelet"},
		{eventsKind, "type", withEvent(func(e *eventsv1.Event) { e.Type = corev1.EventTypeNormal }), "Normal"},

		{nodeKind, "spec.unschedulable", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "obj"}, Spec: corev1.NodeSpec{Unschedulable: true}}, "true"},
		{namespaceKind, "status.phase", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "obj"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, "Terminating"},
		{secretKind, "type", &corev1.Secret{ObjectMeta: objMeta, Type: corev1.SecretTypeDockerConfigJson}, "kubernetes.io/dockerconfigjson"},
		{rcKind, "status.replicas", &corev1.ReplicationController{ObjectMeta: objMeta, Status: corev1.ReplicationControllerStatus{Replicas: 3}}, "3"},
		{replicaSetKind, "status.replicas", &appsv1.ReplicaSet{ObjectMeta: objMeta, Status: appsv1.ReplicaSetStatus{Replicas: 4}}, "4"},
		{jobKind, "status.successful", &batchv1.Job{ObjectMeta: objMeta, Status: batchv1.JobStatus{Succeeded: 5}}, "5"},
	}
}

func namespaced(gvk schema.GroupVersionKind) bool {
	return gvk != nodeKind && gvk != namespaceKind
}

func TestSelectableFieldsCovered(t *testing.T) {
	covered := map[schema.GroupVersionKind]map[string]bool{}
	for _, tc := range fieldCases() {
		if covered[tc.gvk] == nil {
			covered[tc.gvk] = map[string]bool{}
		}
		covered[tc.gvk][tc.field] = true
		if _, ok := selectableFields[tc.gvk][tc.field]; !ok {
			t.Errorf("%s %s is tested but not selectable", tc.gvk.Kind, tc.field)
		}
	}
	for gvk, fs := range selectableFields {
		for name := range fs {
			if !covered[gvk][name] {
				t.Errorf("%s %s has no test case", gvk, name)
			}
		}
	}
}

// TestSelectableFields: each field is accepted by the scheme's field-label conversion for its
// kind (what the API server checks a field selector with) and GetAttrs returns its value, so a
// field selector on it matches.
func TestSelectableFields(t *testing.T) {
	for _, tc := range fieldCases() {
		t.Run(tc.gvk.Kind+"/"+tc.field, func(t *testing.T) {
			// A kind stored as another (events.k8s.io Events as core Events) has its field
			// renamed to the stored kind's, which that kind must select on.
			wantLabel := tc.field
			if stored, ok := renamed[tc.gvk][tc.field]; ok {
				wantLabel = stored
				if _, ok := selectableFields[coreEventKind][stored]; !ok {
					t.Errorf("%s is stored as %s, which core Events do not select on", tc.field, stored)
				}
			}
			label, value, err := Scheme.ConvertFieldLabel(tc.gvk, tc.field, tc.want)
			if err != nil || label != wantLabel || value != tc.want {
				t.Fatalf("ConvertFieldLabel = %q, %q, %v; want %q, %q, nil", label, value, err, wantLabel, tc.field)
			}
			labels, set, err := GetAttrs(tc.gvk, namespaced(tc.gvk))(tc.obj)
			if err != nil {
				t.Fatalf("GetAttrs: %v", err)
			}
			if len(labels) != 0 {
				t.Errorf("labels %v", labels)
			}
			if got, ok := set[tc.field]; !ok || got != tc.want {
				t.Errorf("field %s = %q (present %v), want %q", tc.field, got, ok, tc.want)
			}
			if got := set["metadata.name"]; got != "obj" {
				t.Errorf("metadata.name = %q", got)
			}
			if got, ok := set["metadata.namespace"]; namespaced(tc.gvk) && got != "ns" || !namespaced(tc.gvk) && ok {
				t.Errorf("metadata.namespace = %q (present %v)", got, ok)
			}
			sel := fields.ParseSelectorOrDie(tc.field + "=" + tc.want)
			if !sel.Matches(set) {
				t.Errorf("%s does not match %v", sel, set)
			}
			if other := fields.ParseSelectorOrDie(tc.field + "!=" + tc.want); other.Matches(set) {
				t.Errorf("%s matches %v", other, set)
			}
		})
	}
}

// TestFieldLabelDefaults: the values GetAttrs gives fields an object leaves unset.
func TestFieldLabelDefaults(t *testing.T) {
	_, set, err := GetAttrs(podKind, true)(&corev1.Pod{ObjectMeta: objMeta})
	if err != nil {
		t.Fatal(err)
	}
	want := fields.Set{
		"metadata.name": "obj", "metadata.namespace": "ns",
		"spec.nodeName": "", "spec.restartPolicy": "", "spec.schedulerName": "", "spec.serviceAccountName": "",
		"spec.hostNetwork": "false", "status.phase": "", "status.podIP": "", "status.nominatedNodeName": "",
	}
	if !reflect.DeepEqual(set, want) {
		t.Errorf("fields of an empty pod = %v, want %v", set, want)
	}
	// kubectl get pods --field-selector spec.nodeName= lists the unscheduled ones.
	if !fields.ParseSelectorOrDie("spec.nodeName=").Matches(set) {
		t.Error("spec.nodeName= does not match an unscheduled pod")
	}
}

// TestFieldLabelsRefused: every served kind accepts metadata.name, and metadata.namespace
// unless it is cluster-scoped (nodes, namespaces), and refuses any other field it does not
// list, with kube-apiserver's message.
func TestFieldLabelsRefused(t *testing.T) {
	for _, gv := range GroupVersions {
		for kind := range ExternalScheme.KnownTypes(gv) {
			gvk := gv.WithKind(kind)
			accepted := []string{"metadata.name", "metadata.namespace"}
			refused := []string{"spec.bogus", "metadata.uid", "status"}
			if gvk == nodeKind || gvk == namespaceKind {
				accepted, refused = accepted[:1], append(refused, "metadata.namespace")
			}
			for _, ok := range accepted {
				if _, _, err := Scheme.ConvertFieldLabel(gvk, ok, "x"); err != nil {
					t.Errorf("%s: %s refused: %v", gvk, ok, err)
				}
			}
			for _, bad := range refused {
				_, _, err := Scheme.ConvertFieldLabel(gvk, bad, "x")
				if err == nil || err.Error() != "field label not supported: "+bad {
					t.Errorf("%s: %s: got %v, want %q", gvk, bad, err, "field label not supported: "+bad)
				}
			}
		}
	}
}

// TestFieldLabelsUpstream compares the selectable fields with kube-apiserver's for the kinds
// whose list is settled upstream.
func TestFieldLabelsUpstream(t *testing.T) {
	want := map[schema.GroupVersionKind][]string{
		podKind: {"spec.hostNetwork", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
			"status.nominatedNodeName", "status.phase", "status.podIP"},
		nodeKind:       {"spec.unschedulable"},
		namespaceKind:  {"status.phase"},
		secretKind:     {"type"},
		rcKind:         {"status.replicas"},
		replicaSetKind: {"status.replicas"},
		jobKind:        {"status.successful"},
		coreEventKind: {"involvedObject.apiVersion", "involvedObject.fieldPath", "involvedObject.kind", "involvedObject.name",
			"involvedObject.namespace", "involvedObject.resourceVersion", "involvedObject.uid", "reason", "reportingComponent", "source", "type"},
	}
	for gvk, fields := range want {
		if got := FieldLabels(gvk); !reflect.DeepEqual(got, fields) {
			t.Errorf("%s field labels = %v, want %v", gvk.Kind, got, fields)
		}
	}
	if got := FieldLabels(appsv1.SchemeGroupVersion.WithKind("Deployment")); len(got) != 0 {
		t.Errorf("Deployment field labels = %v, want none", got)
	}
}

// Upstream's aliases and the pod IP: spec.host selects on spec.nodeName, and status.podIP
// is the first of status.podIPs.
func TestPodFieldAliasAndPrimaryIP(t *testing.T) {
	label, value, err := Scheme.ConvertFieldLabel(podKind, "spec.host", "n1")
	if err != nil || label != "spec.nodeName" || value != "n1" {
		t.Fatalf("spec.host converts to %q=%q, %v; want spec.nodeName=n1", label, value, err)
	}
	p := &corev1.Pod{Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.9.0.1"}, {IP: "fd00::1"}}}}
	set, err := SelectableFields(podKind, p, true)
	if err != nil || set["status.podIP"] != "10.9.0.1" {
		t.Fatalf("status.podIP of a pod with only podIPs = %q, %v; want 10.9.0.1", set["status.podIP"], err)
	}
}
