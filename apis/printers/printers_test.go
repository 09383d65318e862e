package printers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the fixed clock of the tests.
var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func gr(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

// convert prints obj with the convertor of resource r on the fixed clock.
func convert(t *testing.T, r schema.GroupResource, obj runtime.Object, opts runtime.Object) *metav1.Table {
	t.Helper()
	table, err := convertorFor(r, clock).ConvertToTable(context.Background(), obj, opts)
	if err != nil {
		t.Fatalf("ConvertToTable(%s, %T): %v", r, obj, err)
	}
	// Cells must be JSON values (string, int64, bool...): the apiserver deep-copies
	// and serializes tables, and DeepCopyJSONValue panics on other types.
	_ = table.DeepCopy()
	if _, err := json.Marshal(table); err != nil {
		t.Fatalf("table of %T does not serialize: %v", obj, err)
	}
	return table
}

// cellsOf is the only row's cells of obj printed as resource r.
func cellsOf(t *testing.T, r schema.GroupResource, obj runtime.Object) []interface{} {
	t.Helper()
	table := convert(t, r, obj, nil)
	if len(table.Rows) != 1 {
		t.Fatalf("%s: got %d rows, want 1", r, len(table.Rows))
	}
	return table.Rows[0].Cells
}

// columnSpec renders a column as name/type/priority[/format].
func columnSpec(c metav1.TableColumnDefinition) string {
	s := fmt.Sprintf("%s/%s/%d", c.Name, c.Type, c.Priority)
	if c.Format != "" {
		s += "/" + c.Format
	}
	return s
}

// TestColumns checks every kind's columns against kube-apiserver's: names, types,
// priorities (1 = -o wide) and formats, in order.
func TestColumns(t *testing.T) {
	workload := func(first ...string) []string {
		return append(first, "Containers/string/1", "Images/string/1", "Selector/string/1")
	}
	tests := []struct {
		resource schema.GroupResource
		sample   runtime.Object
		want     []string
	}{
		{gr("", "pods"), &corev1.Pod{}, []string{
			"Name/string/0/name", "Ready/string/0", "Status/string/0", "Restarts/string/0", "Age/string/0",
			"IP/string/1", "Node/string/1", "Nominated Node/string/1", "Readiness Gates/string/1"}},
		{gr("apps", "deployments"), &appsv1.Deployment{}, workload(
			"Name/string/0/name", "Ready/string/0", "Up-to-date/string/0", "Available/string/0", "Age/string/0")},
		{gr("apps", "replicasets"), &appsv1.ReplicaSet{}, workload(
			"Name/string/0/name", "Desired/integer/0", "Current/integer/0", "Ready/integer/0", "Age/string/0")},
		{gr("", "replicationcontrollers"), &corev1.ReplicationController{}, workload(
			"Name/string/0/name", "Desired/integer/0", "Current/integer/0", "Ready/integer/0", "Age/string/0")},
		{gr("apps", "daemonsets"), &appsv1.DaemonSet{}, workload(
			"Name/string/0/name", "Desired/integer/0", "Current/integer/0", "Ready/integer/0", "Up-to-date/integer/0",
			"Available/integer/0", "Node Selector/string/0", "Age/string/0")},
		{gr("batch", "jobs"), &batchv1.Job{}, workload(
			"Name/string/0/name", "Status/string/0", "Completions/string/0", "Duration/string/0", "Age/string/0")},
		{gr("batch", "cronjobs"), &batchv1.CronJob{}, workload(
			"Name/string/0/name", "Schedule/string/0", "Timezone/string/0", "Suspend/boolean/0", "Active/integer/0",
			"Last Schedule/string/0", "Age/string/0")},
		{gr("", "nodes"), &corev1.Node{}, []string{
			"Name/string/0/name", "Status/string/0", "Roles/string/0", "Age/string/0", "Version/string/0",
			"Internal-IP/string/1", "External-IP/string/1", "OS-Image/string/1", "Kernel-Version/string/1",
			"Container-Runtime/string/1"}},
		{gr("", "namespaces"), &corev1.Namespace{}, []string{"Name/string/0/name", "Status/string/0", "Age/string/0"}},
		{gr("", "events"), &corev1.Event{}, []string{
			"Last Seen/string/0", "Type/string/0", "Reason/string/0", "Object/string/0", "Subobject/string/1",
			"Source/string/1", "Message/string/0", "First Seen/string/1", "Count/string/1", "Name/string/1/name"}},
		{gr("events.k8s.io", "events"), &eventsv1.Event{}, []string{
			"Last Seen/string/0", "Type/string/0", "Reason/string/0", "Object/string/0", "Subobject/string/1",
			"Source/string/1", "Message/string/0", "First Seen/string/1", "Count/string/1", "Name/string/1/name"}},
		{gr("", "configmaps"), &corev1.ConfigMap{}, []string{"Name/string/0/name", "Data/string/0", "Age/string/0"}},
		{gr("", "secrets"), &corev1.Secret{}, []string{"Name/string/0/name", "Type/string/0", "Data/string/0", "Age/string/0"}},
		{gr("", "serviceaccounts"), &corev1.ServiceAccount{}, []string{"Name/string/0/name", "Secrets/string/0", "Age/string/0"}},
		{gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{}, []string{"Name/string/0/name", "Holder/string/0", "Age/string/0"}},
		{gr("policy", "poddisruptionbudgets"), &policyv1.PodDisruptionBudget{}, []string{
			"Name/string/0/name", "Min Available/string/0", "Max Unavailable/string/0", "Allowed Disruptions/integer/0", "Age/string/0"}},
	}
	if len(tests) != len(kinds) {
		t.Errorf("test covers %d kinds, %d are registered", len(tests), len(kinds))
	}
	for _, tc := range tests {
		t.Run(tc.resource.String(), func(t *testing.T) {
			table := convert(t, tc.resource, tc.sample, nil)
			var got []string
			for _, c := range table.ColumnDefinitions {
				got = append(got, columnSpec(c))
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("columns\n got %q\nwant %q", got, tc.want)
			}
			// kube-apiserver prints the wide table: one cell per column, of a zero object too.
			if n := len(table.Rows[0].Cells); n != len(tc.want) {
				t.Errorf("got %d cells, want %d", n, len(tc.want))
			}
		})
	}
}

// TestColumnDescriptions spot-checks that descriptions are the swagger docs upstream uses.
func TestColumnDescriptions(t *testing.T) {
	tests := []struct {
		resource schema.GroupResource
		sample   runtime.Object
		column   string
		prefix   string
	}{
		{gr("", "pods"), &corev1.Pod{}, "Name", "Name must be unique within a namespace."},
		{gr("", "pods"), &corev1.Pod{}, "Age", "CreationTimestamp is a timestamp representing"},
		{gr("", "pods"), &corev1.Pod{}, "Restarts", "The number of times the containers in this pod have been restarted and when"},
		{gr("", "pods"), &corev1.Pod{}, "IP", "podIP address allocated to the pod."},
		{gr("apps", "deployments"), &appsv1.Deployment{}, "Up-to-date", "Total number of non-terminating pods targeted by this deployment that have the desired template spec."},
		{gr("batch", "cronjobs"), &batchv1.CronJob{}, "Schedule", "The schedule in Cron format"},
		{gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{}, "Holder", "holderIdentity contains the identity of the holder"},
		{gr("", "nodes"), &corev1.Node{}, "Version", "Kubelet Version reported by the node."},
		{gr("", "events"), &corev1.Event{}, "Subobject", "If referring to a piece of an object instead of an entire object"},
	}
	for _, tc := range tests {
		t.Run(tc.resource.String()+"/"+tc.column, func(t *testing.T) {
			for _, c := range convert(t, tc.resource, tc.sample, nil).ColumnDefinitions {
				if c.Name == tc.column {
					if !strings.HasPrefix(c.Description, tc.prefix) {
						t.Errorf("description %q, want prefix %q", c.Description, tc.prefix)
					}
					return
				}
			}
			t.Errorf("no column %q", tc.column)
		})
	}
}

func TestUnknownResourceGetsDefaultConvertor(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(time.Hour)}}
	table, err := TableConvertorFor(gr("", "widgets")).ConvertToTable(context.Background(), cm, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if want := []string{"Name", "Created At"}; !reflect.DeepEqual(names, want) {
		t.Errorf("default convertor columns %q, want %q", names, want)
	}
	if got := table.Rows[0].Cells[1]; got != now.Add(-time.Hour).Format(time.RFC3339) {
		t.Errorf("default convertor cell %v", got)
	}
}

func TestTableMetadataAndOptions(t *testing.T) {
	pods := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: ptrTo(int64(7))},
		Items: []corev1.Pod{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: ago(time.Minute)}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: ago(time.Hour)}},
		},
	}
	pods.Items[0].ResourceVersion = "40"

	t.Run("list", func(t *testing.T) {
		table := convert(t, gr("", "pods"), pods, nil)
		if table.ResourceVersion != "42" || table.Continue != "next-page" || table.RemainingItemCount == nil || *table.RemainingItemCount != 7 {
			t.Errorf("list meta not copied: %+v", table.ListMeta)
		}
		if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "a" || table.Rows[1].Cells[0] != "b" {
			t.Fatalf("rows %+v", table.Rows)
		}
		// Each row carries its object, for -o name, --show-labels and the like.
		for i := range pods.Items {
			if table.Rows[i].Object.Object != &pods.Items[i] {
				t.Errorf("row %d object is %p, want the list item %p", i, table.Rows[i].Object.Object, &pods.Items[i])
			}
		}
		if len(table.ColumnDefinitions) != 9 {
			t.Errorf("%d columns, want 9", len(table.ColumnDefinitions))
		}
	})
	t.Run("single object", func(t *testing.T) {
		table := convert(t, gr("", "pods"), &pods.Items[0], &metav1.TableOptions{})
		if table.ResourceVersion != "40" || table.Continue != "" || table.RemainingItemCount != nil {
			t.Errorf("object meta: %+v", table.ListMeta)
		}
		if len(table.Rows) != 1 || table.Rows[0].Object.Object != &pods.Items[0] {
			t.Errorf("rows %+v", table.Rows)
		}
	})
	t.Run("empty list", func(t *testing.T) {
		table := convert(t, gr("", "pods"), &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}}, nil)
		if len(table.Rows) != 0 || table.Rows == nil || table.ResourceVersion != "9" || len(table.ColumnDefinitions) != 9 {
			t.Errorf("empty list table %+v", table)
		}
	})
	t.Run("noHeaders", func(t *testing.T) {
		table := convert(t, gr("", "pods"), pods, &metav1.TableOptions{NoHeaders: true})
		if table.ColumnDefinitions != nil {
			t.Errorf("noHeaders still has columns %v", table.ColumnDefinitions)
		}
		if len(table.Rows) != 2 || len(table.Rows[0].Cells) != 9 {
			t.Errorf("noHeaders rows %+v", table.Rows)
		}
	})
	t.Run("typed nil options", func(t *testing.T) {
		var opts *metav1.TableOptions
		if table := convert(t, gr("", "pods"), pods, opts); len(table.ColumnDefinitions) != 9 {
			t.Errorf("typed nil options: %d columns", len(table.ColumnDefinitions))
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := convertorFor(gr("", "pods"), clock).ConvertToTable(context.Background(), pods, &metav1.ListOptions{})
		if err == nil || !strings.Contains(err.Error(), "unrecognized type *v1.ListOptions for table options") {
			t.Errorf("bad options error %v", err)
		}
	})
	t.Run("wrong kind", func(t *testing.T) {
		_, err := convertorFor(gr("", "pods"), clock).ConvertToTable(context.Background(), &corev1.NodeList{Items: []corev1.Node{{}}}, nil)
		if err == nil || !strings.Contains(err.Error(), "no table handler registered for this type *v1.Node") {
			t.Errorf("wrong kind error %v", err)
		}
		_, err = convertorFor(gr("", "pods"), clock).ConvertToTable(context.Background(), &corev1.Node{}, nil)
		if err == nil {
			t.Error("a node printed as a pod")
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
