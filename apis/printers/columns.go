package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Column types as kube-apiserver declares them (OpenAPI type names).
const (
	typeString  = "string"
	typeInteger = "integer"
	typeBoolean = "boolean"
)

const (
	none    = "<none>"
	unknown = "<unknown>"
	unset   = "<unset>"
)

var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// col is a default (priority 0) column.
func col(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide is a priority-1 column, shown by kubectl only with -o wide.
func wide(name, typ, description string) metav1.TableColumnDefinition {
	c := col(name, typ, description)
	c.Priority = 1
	return c
}

// nameColumn is the NAME column every kind starts with.
func nameColumn() metav1.TableColumnDefinition {
	c := col("Name", typeString, objectMetaDoc["name"])
	c.Format = "name"
	return c
}

// ageColumn is the AGE column: the age of the object's creationTimestamp.
func ageColumn() metav1.TableColumnDefinition {
	return col("Age", typeString, objectMetaDoc["creationTimestamp"])
}

// templateColumns are the -o wide CONTAINERS IMAGES SELECTOR columns of the
// workload kinds; selectorDoc describes the kind's selector field.
func templateColumns(selectorDoc string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wide("Containers", typeString, "Names of each container in the template."),
		wide("Images", typeString, "Images referenced by each container in the template."),
		wide("Selector", typeString, selectorDoc),
	}
}

// columns concatenates column definitions.
func columns(groups ...[]metav1.TableColumnDefinition) []metav1.TableColumnDefinition {
	var out []metav1.TableColumnDefinition
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// age is the human-readable time elapsed from t to now ("<unknown>" for a zero time).
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// microAge is age for a metav1.MicroTime.
func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// containerCells lays out the names and the images of containers, comma separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// int32Value is *p, or 0 for nil (what converting to kube-apiserver's internal types yields).
func int32Value(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// boolCell prints an optional boolean as True, False or <unset>.
func boolCell(p *bool) string {
	switch {
	case p == nil:
		return unset
	case *p:
		return "True"
	default:
		return "False"
	}
}

// orNone is s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
