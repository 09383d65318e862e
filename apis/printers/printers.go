// Package printers converts the objects kubeshim serves into the server-side
// tables (metav1.Table) that kubectl asks for with
// "Accept: application/json;as=Table;v=v1;g=meta.k8s.io".
//
// Columns, cell formats and the STATUS logic follow kube-apiserver's
// pkg/printers/internalversion: kube-apiserver always generates the wide
// table (priority-1 columns included) and lets the client drop the columns it
// does not show, so every row here carries the cells of every column.
package printers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
)

// TableConvertorFor returns the table convertor for a resource kubeshim serves, or
// rest.NewDefaultTableConvertor(gr) for an unknown one.
func TableConvertorFor(gr schema.GroupResource) rest.TableConvertor {
	return convertorFor(gr, time.Now)
}

// convertorFor is TableConvertorFor with the clock that ages are measured against.
func convertorFor(gr schema.GroupResource, now func() time.Time) rest.TableConvertor {
	build, ok := kinds[gr]
	if !ok {
		return rest.NewDefaultTableConvertor(gr)
	}
	return build(now)
}

// kinds holds, for every resource kubeshim prints itself, how to build its convertor.
var kinds = map[schema.GroupResource]func(now func() time.Time) rest.TableConvertor{
	{Group: "", Resource: "pods"}:                      podPrinter,
	{Group: "", Resource: "nodes"}:                     nodePrinter,
	{Group: "", Resource: "namespaces"}:                namespacePrinter,
	{Group: "", Resource: "events"}:                    coreEventPrinter,
	{Group: "", Resource: "configmaps"}:                configMapPrinter,
	{Group: "", Resource: "secrets"}:                   secretPrinter,
	{Group: "", Resource: "serviceaccounts"}:           serviceAccountPrinter,
	{Group: "", Resource: "replicationcontrollers"}:    replicationControllerPrinter,
	{Group: "apps", Resource: "deployments"}:           deploymentPrinter,
	{Group: "apps", Resource: "replicasets"}:           replicaSetPrinter,
	{Group: "apps", Resource: "daemonsets"}:            daemonSetPrinter,
	{Group: "batch", Resource: "jobs"}:                 jobPrinter,
	{Group: "batch", Resource: "cronjobs"}:             cronJobPrinter,
	{Group: "coordination.k8s.io", Resource: "leases"}: leasePrinter,
	{Group: "events.k8s.io", Resource: "events"}:       eventsV1Printer,

	{Group: "policy", Resource: "poddisruptionbudgets"}: podDisruptionBudgetPrinter,
}

// printer is the table convertor of one kind T (a pointer type such as
// *corev1.Pod). It prints a single T or any list whose items are T.
type printer[T runtime.Object] struct {
	columns []metav1.TableColumnDefinition
	// cells returns one cell per column, in column order.
	cells func(obj T, now time.Time) []interface{}
	// conditions, when set, returns the row's conditions.
	conditions func(obj T) []metav1.TableRowCondition
	now        func() time.Time
}

var _ rest.TableConvertor = &printer[runtime.Object]{}

// newPrinter makes the convertor of kind T with the given columns and cell function.
func newPrinter[T runtime.Object](now func() time.Time, columns []metav1.TableColumnDefinition, cells func(T, time.Time) []interface{}) *printer[T] {
	return &printer[T]{columns: columns, cells: cells, now: now}
}

// ConvertToTable implements rest.TableConvertor.
func (p *printer[T]) ConvertToTable(_ context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	noHeaders, err := noHeadersOption(tableOptions)
	if err != nil {
		return nil, err
	}
	table := &metav1.Table{}
	if !noHeaders {
		table.ColumnDefinitions = p.columns
	}

	var items []runtime.Object
	if meta.IsListType(obj) {
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, fmt.Errorf("extracting items of %T for table output: %w", obj, err)
		}
		list, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, fmt.Errorf("reading list metadata of %T for table output: %w", obj, err)
		}
		table.ResourceVersion = list.GetResourceVersion()
		table.Continue = list.GetContinue()
		table.RemainingItemCount = list.GetRemainingItemCount()
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.CommonAccessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}

	now := p.now()
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		typed, ok := item.(T)
		if !ok {
			var want T
			return nil, fmt.Errorf("no table handler registered for this type %T (this convertor prints %T)", item, want)
		}
		row := metav1.TableRow{
			Cells:  p.cells(typed, now),
			Object: runtime.RawExtension{Object: item},
		}
		if p.conditions != nil {
			row.Conditions = p.conditions(typed)
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// noHeadersOption reads metav1.TableOptions.NoHeaders from the convertor's options argument.
func noHeadersOption(tableOptions runtime.Object) (bool, error) {
	switch t := tableOptions.(type) {
	case nil:
		return false, nil
	case *metav1.TableOptions:
		return t != nil && t.NoHeaders, nil
	default:
		return false, fmt.Errorf("unrecognized type %T for table options, can't display tabular output", tableOptions)
	}
}
