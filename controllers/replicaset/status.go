package replicaset

import (
	"context"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

// calculateStatus derives rs's status from its active and terminating pods
// and the outcome of manageReplicas.
func calculateStatus(rs *apps.ReplicaSet, active, terminating []*v1.Pod, withTerminating bool, manageErr error, now time.Time) apps.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fullyLabeled, ready, available int32
	for _, p := range active {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if podcontrol.IsPodReady(p) {
			ready++
			if podcontrol.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}

	failure := getCondition(status, apps.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(ptr.Deref(rs.Spec.Replicas, 1)); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, apps.ReplicaSetCondition{
			Type:               apps.ReplicaSetReplicaFailure,
			Status:             v1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		status.Conditions = removeCondition(status.Conditions, apps.ReplicaSetReplicaFailure)
	}

	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = nil
	if withTerminating {
		status.TerminatingReplicas = ptr.To(int32(len(terminating)))
	}
	return status
}

func getCondition(status apps.ReplicaSetStatus, t apps.ReplicaSetConditionType) *apps.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

func removeCondition(conds []apps.ReplicaSetCondition, t apps.ReplicaSetConditionType) []apps.ReplicaSetCondition {
	var out []apps.ReplicaSetCondition
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// updateStatus writes status through the status subresource when it differs
// from rs's (or the generation was not observed yet), retrying once on a
// fresh copy if the update fails. rs must be a private copy.
func (c *Controller) updateStatus(ctx context.Context, rs *apps.ReplicaSet, status apps.ReplicaSetStatus) (*apps.ReplicaSet, error) {
	if rs.Generation == rs.Status.ObservedGeneration && statusEqual(rs.Status, status) {
		return rs, nil
	}
	status.ObservedGeneration = rs.Generation
	logger := klog.FromContext(ctx)
	for i := 0; ; i++ {
		logger.V(4).Info("Updating status", "kind", c.kindName, "object", klog.KObj(rs),
			"replicas", status.Replicas, "need", ptr.Deref(rs.Spec.Replicas, 1),
			"fullyLabeledReplicas", status.FullyLabeledReplicas, "readyReplicas", status.ReadyReplicas,
			"availableReplicas", status.AvailableReplicas, "terminatingReplicas", status.TerminatingReplicas,
			"observedGeneration", status.ObservedGeneration)
		rs.Status = status
		updated, err := c.kind.updateStatus(ctx, rs)
		if err == nil || i >= statusUpdateRetries {
			return updated, err
		}
		fresh, getErr := c.kind.fresh(ctx, rs.Namespace, rs.Name)
		if getErr != nil {
			return nil, getErr
		}
		rs = fresh
	}
}

func statusEqual(a, b apps.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas &&
		a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas &&
		a.AvailableReplicas == b.AvailableReplicas &&
		ptr.Equal(a.TerminatingReplicas, b.TerminatingReplicas) &&
		apiequality.Semantic.DeepEqual(a.Conditions, b.Conditions)
}
