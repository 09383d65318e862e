package replicaset

import (
	"context"
	"fmt"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// owner is the one seam between the controller and the kind it manages. The
// controller works on apps/v1 ReplicaSets; ReplicationControllers are
// converted to and from them (as upstream's replication manager does).
type owner interface {
	gvk() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	// get and list read the informer cache; never modify what they return.
	get(namespace, name string) (*apps.ReplicaSet, error)
	list(namespace string) ([]*apps.ReplicaSet, error)
	// fresh reads the object from the API server.
	fresh(ctx context.Context, namespace, name string) (*apps.ReplicaSet, error)
	updateStatus(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error)
	// eventObject is the object events are recorded on.
	eventObject(rs *apps.ReplicaSet) runtime.Object
	// fromInformer converts an object delivered by the informer.
	fromInformer(obj any) (*apps.ReplicaSet, bool)
	// hasTerminatingReplicas tells whether status has terminatingReplicas.
	hasTerminatingReplicas() bool
}

// --- ReplicaSet ---

type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func newReplicaSets(client kubernetes.Interface, factory informers.SharedInformerFactory) *replicaSets {
	i := factory.Apps().V1().ReplicaSets()
	return &replicaSets{client: client, inf: i.Informer(), lister: i.Lister()}
}

func (*replicaSets) gvk() schema.GroupVersionKind {
	return apps.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (r *replicaSets) informer() cache.SharedIndexInformer { return r.inf }
func (*replicaSets) hasTerminatingReplicas() bool          { return true }
func (*replicaSets) eventObject(rs *apps.ReplicaSet) runtime.Object {
	return rs
}

func (r *replicaSets) get(namespace, name string) (*apps.ReplicaSet, error) {
	return r.lister.ReplicaSets(namespace).Get(name)
}

func (r *replicaSets) list(namespace string) ([]*apps.ReplicaSet, error) {
	return r.lister.ReplicaSets(namespace).List(labels.Everything())
}

func (r *replicaSets) fresh(ctx context.Context, namespace, name string) (*apps.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (r *replicaSets) updateStatus(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}

func (*replicaSets) fromInformer(obj any) (*apps.ReplicaSet, bool) {
	rs, ok := obj.(*apps.ReplicaSet)
	return rs, ok
}

// --- ReplicationController ---

type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister corelisters.ReplicationControllerLister
}

func newReplicationControllers(client kubernetes.Interface, factory informers.SharedInformerFactory) *replicationControllers {
	i := factory.Core().V1().ReplicationControllers()
	return &replicationControllers{client: client, inf: i.Informer(), lister: i.Lister()}
}

func (*replicationControllers) gvk() schema.GroupVersionKind {
	return v1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (r *replicationControllers) informer() cache.SharedIndexInformer { return r.inf }
func (*replicationControllers) hasTerminatingReplicas() bool          { return false }
func (*replicationControllers) eventObject(rs *apps.ReplicaSet) runtime.Object {
	return rsToRC(rs)
}

func (r *replicationControllers) get(namespace, name string) (*apps.ReplicaSet, error) {
	rc, err := r.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return rcToRS(rc), nil
}

func (r *replicationControllers) list(namespace string) ([]*apps.ReplicaSet, error) {
	rcs, err := r.lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*apps.ReplicaSet, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, rcToRS(rc))
	}
	return out, nil
}

func (r *replicationControllers) fresh(ctx context.Context, namespace, name string) (*apps.ReplicaSet, error) {
	rc, err := r.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return rcToRS(rc), nil
}

func (r *replicationControllers) updateStatus(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error) {
	rc, err := r.client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rsToRC(rs), metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return rcToRS(rc), nil
}

func (*replicationControllers) fromInformer(obj any) (*apps.ReplicaSet, bool) {
	rc, ok := obj.(*v1.ReplicationController)
	if !ok {
		return nil, false
	}
	return rcToRS(rc), true
}

// rcToRS converts a ReplicationController to the equivalent ReplicaSet. The
// result shares no memory with rc.
func rcToRS(rc *v1.ReplicationController) *apps.ReplicaSet {
	rc = rc.DeepCopy()
	rs := &apps.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: rc.ObjectMeta,
		Spec: apps.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
		},
		Status: apps.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	// An RC's selector is a map; an empty one selects nothing here (the API
	// server defaults it from the template's labels).
	if len(rc.Spec.Selector) > 0 {
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, apps.ReplicaSetCondition{
			Type:               apps.ReplicaSetConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	return rs
}

// rsToRC is the inverse of rcToRS.
func rsToRC(rs *apps.ReplicaSet) *v1.ReplicationController {
	rs = rs.DeepCopy()
	rc := &v1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: rs.ObjectMeta,
		Spec: v1.ReplicationControllerSpec{
			Replicas:        rs.Spec.Replicas,
			MinReadySeconds: rs.Spec.MinReadySeconds,
			Template:        &rs.Spec.Template,
		},
		Status: v1.ReplicationControllerStatus{
			Replicas:             rs.Status.Replicas,
			FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
			ReadyReplicas:        rs.Status.ReadyReplicas,
			AvailableReplicas:    rs.Status.AvailableReplicas,
			ObservedGeneration:   rs.Status.ObservedGeneration,
		},
	}
	if rs.Spec.Selector != nil {
		rc.Spec.Selector = rs.Spec.Selector.MatchLabels
	}
	for _, c := range rs.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, v1.ReplicationControllerCondition{
			Type:               v1.ReplicationControllerConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	return rc
}

func keyOf(rs *apps.ReplicaSet) string {
	if rs.Namespace == "" {
		return rs.Name
	}
	return fmt.Sprintf("%s/%s", rs.Namespace, rs.Name)
}
