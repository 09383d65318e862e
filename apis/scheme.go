// Package apis holds kubeshim's runtime.Scheme: the versioned types of k8s.io/api, registered
// both under their own version and as the internal version of their group, so the generic
// API server machinery has one Go type per kind and every conversion is a no-op.
package apis

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/kubeshim/kubeshim/apis/defaults"
)

// GroupVersions lists every group version kubeshim serves, in discovery order.
var GroupVersions = []schema.GroupVersion{
	corev1.SchemeGroupVersion,
	appsv1.SchemeGroupVersion,
	batchv1.SchemeGroupVersion,
	coordinationv1.SchemeGroupVersion,
	eventsv1.SchemeGroupVersion,
	policyv1.SchemeGroupVersion,
	autoscalingv1.SchemeGroupVersion,
	authenticationv1.SchemeGroupVersion,
	authorizationv1.SchemeGroupVersion,
}

var externalAdders = []func(*runtime.Scheme) error{
	corev1.AddToScheme,
	appsv1.AddToScheme,
	batchv1.AddToScheme,
	coordinationv1.AddToScheme,
	eventsv1.AddToScheme,
	policyv1.AddToScheme,
	autoscalingv1.AddToScheme,
	authenticationv1.AddToScheme,
	authorizationv1.AddToScheme,
}

var (
	// Scheme holds every kind kubeshim serves, external and internal.
	Scheme = runtime.NewScheme()
	// Codecs serializes and deserializes Scheme's kinds.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec converts query parameters into option types.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
	// ExternalScheme holds only the external versions: the OpenAPI definition namer must not
	// see the __internal registrations, or it advertises a bogus version.
	ExternalScheme = runtime.NewScheme()
)

func init() {
	utilruntime.Must(build())
}

// build fills Scheme and ExternalScheme.
func build() error {
	for _, add := range externalAdders {
		if err := add(ExternalScheme); err != nil {
			return fmt.Errorf("external scheme: %w", err)
		}
		if err := add(Scheme); err != nil {
			return fmt.Errorf("scheme: %w", err)
		}
	}
	metaPkg := reflect.TypeOf(metav1.ListOptions{}).PkgPath()
	for _, gv := range GroupVersions {
		internal := schema.GroupVersion{Group: gv.Group, Version: runtime.APIVersionInternal}
		for kind, t := range ExternalScheme.KnownTypes(gv) {
			// The meta option types (ListOptions, WatchEvent, …) have their own internal
			// version in metainternalversion; do not mirror them.
			if t.PkgPath() == metaPkg {
				continue
			}
			Scheme.AddKnownTypeWithName(internal.WithKind(kind), reflect.New(t).Interface().(runtime.Object))
		}
	}
	if err := metainternalversion.AddToScheme(Scheme); err != nil {
		return fmt.Errorf("meta internal version: %w", err)
	}
	// Unversioned meta types, as every API server registers them.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	if err := addFieldLabelConversions(Scheme); err != nil {
		return err
	}
	if err := defaults.RegisterDefaults(Scheme); err != nil {
		return fmt.Errorf("defaulting: %w", err)
	}
	for _, gv := range GroupVersions {
		if err := Scheme.SetVersionPriority(gv); err != nil {
			return fmt.Errorf("version priority of %s: %w", gv, err)
		}
	}
	return nil
}
