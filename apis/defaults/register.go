// Package defaults is kubeshim's version of the defaulting kube-apiserver applies to every
// decoded request body: the hand-written SetDefaults_* of k8s.io/kubernetes pkg/apis/*/v1, the
// declarative `+default=` markers of the k8s.io/api types, and the milli-rounding of resource
// quantities, over the versioned k8s.io/api types kubeshim serves as their own internal version.
//
// Kinds for which upstream (1.37) defaults nothing get no function: core/v1 Event, ServiceAccount
// and Binding, coordination.k8s.io/v1 Lease, events.k8s.io/v1 Event, policy/v1 Eviction and
// PodDisruptionBudget, and autoscaling/v1 Scale (whose `+default=0` on spec.replicas is the zero value).
//
// Besides defaulting, two pieces of upstream's v1->internal conversion that change what is read
// back are reproduced here, because defaulting is the only hook kubeshim runs on every decoded
// body: the serviceAccount/serviceAccountName alias in every PodSpec, and Secret stringData
// folded into data.
package defaults

import (
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RegisterDefaults registers the defaulting function of every kind this package defaults, and of
// its List (which defaults each item), on scheme with AddTypeDefaultingFunc, so that the codecs
// built from scheme apply them to every decoded request body and scheme.Default applies them on
// demand. It can be called before or after the types are added to scheme.
func RegisterDefaults(scheme *runtime.Scheme) error {
	if scheme == nil {
		return errors.New("registering kubeshim defaulting functions: nil scheme")
	}
	for _, r := range registrations {
		scheme.AddTypeDefaultingFunc(r.obj, r.fn)
	}
	return nil
}

type registration struct {
	obj runtime.Object
	fn  func(interface{})
}

// typed adapts a typed defaulting function to the scheme's untyped signature.
func typed[T runtime.Object](obj T, fn func(T)) registration {
	return registration{obj: obj, fn: func(o interface{}) { fn(o.(T)) }}
}

var registrations = []registration{
	// core/v1
	typed(&corev1.Pod{}, SetObjectDefaultsPod),
	typed(&corev1.PodList{}, SetObjectDefaultsPodList),
	typed(&corev1.PodTemplate{}, SetObjectDefaultsPodTemplate),
	typed(&corev1.PodTemplateList{}, SetObjectDefaultsPodTemplateList),
	typed(&corev1.ReplicationController{}, SetObjectDefaultsReplicationController),
	typed(&corev1.ReplicationControllerList{}, SetObjectDefaultsReplicationControllerList),
	typed(&corev1.Namespace{}, SetObjectDefaultsNamespace),
	typed(&corev1.NamespaceList{}, SetObjectDefaultsNamespaceList),
	typed(&corev1.Node{}, SetObjectDefaultsNode),
	typed(&corev1.NodeList{}, SetObjectDefaultsNodeList),
	typed(&corev1.Secret{}, SetObjectDefaultsSecret),
	typed(&corev1.SecretList{}, SetObjectDefaultsSecretList),
	typed(&corev1.ConfigMap{}, SetObjectDefaultsConfigMap),
	typed(&corev1.ConfigMapList{}, SetObjectDefaultsConfigMapList),
	typed(&corev1.Service{}, SetObjectDefaultsService),
	typed(&corev1.ServiceList{}, SetObjectDefaultsServiceList),
	typed(&corev1.Endpoints{}, SetObjectDefaultsEndpoints),
	typed(&corev1.EndpointsList{}, SetObjectDefaultsEndpointsList),
	// apps/v1
	typed(&appsv1.Deployment{}, SetObjectDefaultsDeployment),
	typed(&appsv1.DeploymentList{}, SetObjectDefaultsDeploymentList),
	typed(&appsv1.ReplicaSet{}, SetObjectDefaultsReplicaSet),
	typed(&appsv1.ReplicaSetList{}, SetObjectDefaultsReplicaSetList),
	typed(&appsv1.DaemonSet{}, SetObjectDefaultsDaemonSet),
	typed(&appsv1.DaemonSetList{}, SetObjectDefaultsDaemonSetList),
	// batch/v1
	typed(&batchv1.Job{}, SetObjectDefaultsJob),
	typed(&batchv1.JobList{}, SetObjectDefaultsJobList),
	typed(&batchv1.CronJob{}, SetObjectDefaultsCronJob),
	typed(&batchv1.CronJobList{}, SetObjectDefaultsCronJobList),
}
