// Package eventsv1 serves events.k8s.io/v1 Events from the same storage as core/v1 Events, as
// kube-apiserver does: every object is converted to the core Event on the way in and back on
// the way out, so a client-go events recorder and `kubectl get events` see the same objects.
package eventsv1

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/kubeshim/kubeshim/apis/printers"
	"github.com/kubeshim/kubeshim/apis/validation"
)

var eventKind = eventsv1.SchemeGroupVersion.WithKind("Event").GroupKind()

// REST is the events.k8s.io/v1 events resource over the core events store.
type REST struct {
	core  *genericregistry.Store
	table rest.TableConvertor
}

// NewREST returns events.k8s.io/v1 events stored by the core/v1 events store.
func NewREST(core *genericregistry.Store) *REST {
	return &REST{core: core, table: printers.TableConvertorFor(eventsv1.SchemeGroupVersion.WithResource("events").GroupResource())}
}

var (
	_ rest.StandardStorage      = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.ShortNamesProvider   = &REST{}
)

func (r *REST) New() runtime.Object     { return &eventsv1.Event{} }
func (r *REST) NewList() runtime.Object { return &eventsv1.EventList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "event" }
func (r *REST) ShortNames() []string    { return []string{"ev"} }
func (r *REST) ConvertToTable(ctx context.Context, obj, opts runtime.Object) (*metav1.Table, error) {
	return r.table.ConvertToTable(ctx, obj, opts)
}

// Get returns one event.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.core.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return fromCoreObject(obj)
}

// List returns events; field selectors use the events.k8s.io names (regarding.*), which the
// scheme maps to the core ones.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.core.List(ctx, options)
	if err != nil {
		return nil, err
	}
	list, ok := obj.(*corev1.EventList)
	if !ok {
		return nil, fmt.Errorf("core events list is %T", obj)
	}
	out := &eventsv1.EventList{ListMeta: list.ListMeta}
	for i := range list.Items {
		out.Items = append(out.Items, *FromCore(&list.Items[i]))
	}
	return out, nil
}

// Create validates the event with events.k8s.io/v1's rules and stores it as a core Event.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	e, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an events.k8s.io/v1 Event: %T", obj))
	}
	if errs := validation.ValidateEventsV1Event(e); len(errs) > 0 {
		return nil, apierrors.NewInvalid(eventKind, e.Name, errs)
	}
	out, err := r.core.Create(ctx, ToCore(e), asEventsV1(createValidation), options)
	if err != nil {
		return nil, err
	}
	return fromCoreObject(out)
}

// Update updates (or, as for core events, creates) an event.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	info := &updatedObjectInfo{inner: objInfo}
	out, created, err := r.core.Update(ctx, name, info, asEventsV1(createValidation), asEventsV1Update(updateValidation), forceAllowCreate, options)
	if err != nil {
		return nil, false, err
	}
	obj, err := fromCoreObject(out)
	return obj, created, err
}

// Delete deletes an event.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	out, immediate, err := r.core.Delete(ctx, name, asEventsV1(deleteValidation), options)
	if err != nil {
		return nil, false, err
	}
	obj, err := fromCoreObject(out)
	return obj, immediate, err
}

// DeleteCollection deletes the selected events.
func (r *REST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	out, err := r.core.DeleteCollection(ctx, asEventsV1(deleteValidation), options, listOptions)
	if err != nil {
		return nil, err
	}
	return fromCoreObject(out)
}

// Watch streams events converted to events.k8s.io/v1.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	w, err := r.core.Watch(ctx, options)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
		if e, ok := ev.Object.(*corev1.Event); ok {
			ev.Object = FromCore(e)
		}
		return ev, true
	}), nil
}

// fromCoreObject converts what the core store returned: an Event, a list, or a Status.
func fromCoreObject(obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *corev1.Event:
		return FromCore(o), nil
	case *corev1.EventList:
		out := &eventsv1.EventList{ListMeta: o.ListMeta}
		for i := range o.Items {
			out.Items = append(out.Items, *FromCore(&o.Items[i]))
		}
		return out, nil
	default:
		return obj, nil // a Status
	}
}

// The admission hooks of an events.k8s.io request see events.k8s.io objects.
func asEventsV1(f rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	if f == nil {
		return nil
	}
	return func(ctx context.Context, obj runtime.Object) error {
		if e, ok := obj.(*corev1.Event); ok {
			return f(ctx, FromCore(e))
		}
		return f(ctx, obj)
	}
}

func asEventsV1Update(f rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	if f == nil {
		return nil
	}
	return func(ctx context.Context, obj, old runtime.Object) error {
		e, ok1 := obj.(*corev1.Event)
		o, ok2 := old.(*corev1.Event)
		if ok1 && ok2 {
			return f(ctx, FromCore(e), FromCore(o))
		}
		return f(ctx, obj, old)
	}
}

// updatedObjectInfo hands the client's update the old object as events.k8s.io/v1, validates
// the result with events.k8s.io/v1's rules and converts it for storage.
type updatedObjectInfo struct {
	inner rest.UpdatedObjectInfo
}

func (i *updatedObjectInfo) Preconditions() *metav1.Preconditions { return i.inner.Preconditions() }

func (i *updatedObjectInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	var old runtime.Object = oldObj
	var oldV1 *eventsv1.Event
	if e, ok := oldObj.(*corev1.Event); ok && e != nil {
		oldV1 = FromCore(e)
		old = oldV1
	}
	obj, err := i.inner.UpdatedObject(ctx, old)
	if err != nil {
		return nil, err
	}
	e, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an events.k8s.io/v1 Event: %T", obj))
	}
	errs := validation.ValidateEventsV1Event(e)
	if oldV1 != nil && oldV1.ResourceVersion != "" {
		errs = validation.ValidateEventsV1EventUpdate(e, oldV1)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(eventKind, e.Name, errs)
	}
	return ToCore(e), nil
}
