package apis

import (
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fieldFunc reads one selectable field of an object of a known kind.
type fieldFunc func(obj runtime.Object) string

// selectableFields lists, per kind, the field selectors kube-apiserver accepts beyond
// metadata.name and metadata.namespace (which every kind has).
var selectableFields = map[schema.GroupVersionKind]map[string]fieldFunc{
	corev1.SchemeGroupVersion.WithKind("Pod"): {
		"spec.nodeName":           pod(func(p *corev1.Pod) string { return p.Spec.NodeName }),
		"spec.restartPolicy":      pod(func(p *corev1.Pod) string { return string(p.Spec.RestartPolicy) }),
		"spec.schedulerName":      pod(func(p *corev1.Pod) string { return p.Spec.SchedulerName }),
		"spec.serviceAccountName": pod(func(p *corev1.Pod) string { return p.Spec.ServiceAccountName }),
		"spec.hostNetwork":        pod(func(p *corev1.Pod) string { return strconv.FormatBool(p.Spec.HostNetwork) }),
		"status.phase":            pod(func(p *corev1.Pod) string { return string(p.Status.Phase) }),
		"status.podIP":            pod(podIP),
		"status.nominatedNodeName": pod(func(p *corev1.Pod) string {
			return p.Status.NominatedNodeName
		}),
	},
	corev1.SchemeGroupVersion.WithKind("Event"): {
		"involvedObject.kind":            coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.Kind }),
		"involvedObject.namespace":       coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.Namespace }),
		"involvedObject.name":            coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.Name }),
		"involvedObject.uid":             coreEvent(func(e *corev1.Event) string { return string(e.InvolvedObject.UID) }),
		"involvedObject.apiVersion":      coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.APIVersion }),
		"involvedObject.resourceVersion": coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.ResourceVersion }),
		"involvedObject.fieldPath":       coreEvent(func(e *corev1.Event) string { return e.InvolvedObject.FieldPath }),
		"reason":                         coreEvent(func(e *corev1.Event) string { return e.Reason }),
		"reportingComponent":             coreEvent(func(e *corev1.Event) string { return e.ReportingController }),
		"source":                         coreEvent(func(e *corev1.Event) string { return e.Source.Component }),
		"type":                           coreEvent(func(e *corev1.Event) string { return e.Type }),
	},
	eventsv1.SchemeGroupVersion.WithKind("Event"): {
		"regarding.kind":      eventsEvent(func(e *eventsv1.Event) string { return e.Regarding.Kind }),
		"regarding.namespace": eventsEvent(func(e *eventsv1.Event) string { return e.Regarding.Namespace }),
		"regarding.name":      eventsEvent(func(e *eventsv1.Event) string { return e.Regarding.Name }),
		"regarding.uid":       eventsEvent(func(e *eventsv1.Event) string { return string(e.Regarding.UID) }),
		"reason":              eventsEvent(func(e *eventsv1.Event) string { return e.Reason }),
		"reportingController": eventsEvent(func(e *eventsv1.Event) string { return e.ReportingController }),
		"type":                eventsEvent(func(e *eventsv1.Event) string { return e.Type }),
	},
	corev1.SchemeGroupVersion.WithKind("Node"): {
		"spec.unschedulable": func(o runtime.Object) string {
			return strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)
		},
	},
	corev1.SchemeGroupVersion.WithKind("Namespace"): {
		"status.phase": func(o runtime.Object) string { return string(o.(*corev1.Namespace).Status.Phase) },
	},
	corev1.SchemeGroupVersion.WithKind("Secret"): {
		"type": func(o runtime.Object) string { return string(o.(*corev1.Secret).Type) },
	},
	corev1.SchemeGroupVersion.WithKind("ReplicationController"): {
		"status.replicas": func(o runtime.Object) string {
			return strconv.Itoa(int(o.(*corev1.ReplicationController).Status.Replicas))
		},
	},
	appsv1.SchemeGroupVersion.WithKind("ReplicaSet"): {
		"status.replicas": func(o runtime.Object) string {
			return strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.Replicas))
		},
	},
	batchv1.SchemeGroupVersion.WithKind("Job"): {
		"status.successful": func(o runtime.Object) string {
			return strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))
		},
	},
}

// renamed maps, per kind, a field selector to the field it is evaluated as: upstream's
// backwards-compatible aliases, and for kinds stored as another kind (events.k8s.io Events
// are stored as core Events) the stored kind's field.
var renamed = map[schema.GroupVersionKind]map[string]string{
	corev1.SchemeGroupVersion.WithKind("Pod"): {
		// Old v1 clients sent spec.host.
		"spec.host": "spec.nodeName",
	},
	eventsv1.SchemeGroupVersion.WithKind("Event"): {
		"regarding.kind":      "involvedObject.kind",
		"regarding.namespace": "involvedObject.namespace",
		"regarding.name":      "involvedObject.name",
		"regarding.uid":       "involvedObject.uid",
		"reportingController": "reportingComponent",
	},
}

// podIP is the pod's primary IP: the first of status.podIPs, as kube-apiserver selects on.
func podIP(p *corev1.Pod) string {
	if len(p.Status.PodIPs) > 0 {
		return p.Status.PodIPs[0].IP
	}
	return p.Status.PodIP
}

// clusterScoped are the served kinds without a namespace: kube-apiserver refuses a
// metadata.namespace field selector for them.
var clusterScoped = map[schema.GroupVersionKind]bool{
	corev1.SchemeGroupVersion.WithKind("Node"):      true,
	corev1.SchemeGroupVersion.WithKind("Namespace"): true,
}

func pod(f func(*corev1.Pod) string) fieldFunc {
	return func(o runtime.Object) string { return f(o.(*corev1.Pod)) }
}

func coreEvent(f func(*corev1.Event) string) fieldFunc {
	return func(o runtime.Object) string { return f(o.(*corev1.Event)) }
}

func eventsEvent(f func(*eventsv1.Event) string) fieldFunc {
	return func(o runtime.Object) string { return f(o.(*eventsv1.Event)) }
}

// addFieldLabelConversions makes the scheme accept, for every served kind, exactly the field
// selectors that GetAttrs evaluates; anything else is refused as kube-apiserver refuses it.
func addFieldLabelConversions(s *runtime.Scheme) error {
	for _, gv := range GroupVersions {
		for kind := range ExternalScheme.KnownTypes(gv) {
			gvk := gv.WithKind(kind)
			extra, renames, cluster := selectableFields[gvk], renamed[gvk], clusterScoped[gvk]
			err := s.AddFieldLabelConversionFunc(gvk, func(label, value string) (string, string, error) {
				if label == "metadata.name" || label == "metadata.namespace" && !cluster {
					return label, value, nil
				}
				if stored, ok := renames[label]; ok {
					return stored, value, nil
				}
				if _, ok := extra[label]; ok {
					return label, value, nil
				}
				return "", "", fmt.Errorf("field label not supported: %s", label)
			})
			if err != nil {
				return fmt.Errorf("field labels of %s: %w", gvk, err)
			}
		}
	}
	return nil
}

// SelectableFields returns the field set a field selector is matched against for obj of kind
// gvk: metadata.name, metadata.namespace (namespaced kinds) and the kind's own fields.
func SelectableFields(gvk schema.GroupVersionKind, obj runtime.Object, namespaced bool) (fields.Set, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("selectable fields of %s: %w", gvk.Kind, err)
	}
	set := fields.Set{"metadata.name": accessor.GetName()}
	if namespaced {
		set["metadata.namespace"] = accessor.GetNamespace()
	}
	for name, f := range selectableFields[gvk] {
		set[name] = f(obj)
	}
	return set, nil
}

// GetAttrs returns a storage.AttrFunc-compatible function for kind gvk.
func GetAttrs(gvk schema.GroupVersionKind, namespaced bool) func(runtime.Object) (labels.Set, fields.Set, error) {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		accessor, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, fmt.Errorf("attributes of %s: %w", gvk.Kind, err)
		}
		f, err := SelectableFields(gvk, obj, namespaced)
		if err != nil {
			return nil, nil, err
		}
		return labels.Set(accessor.GetLabels()), f, nil
	}
}

// FieldLabels lists the field selectors kind gvk accepts beyond metadata.name and
// metadata.namespace, sorted; for documentation and tests.
func FieldLabels(gvk schema.GroupVersionKind) []string {
	var out []string
	for name := range selectableFields[gvk] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
