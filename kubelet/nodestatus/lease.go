package nodestatus

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// leaseState is the lease loop's memory: the Lease it last wrote, so a renewal is one Update
// without a Get while nobody else touches the Lease (as upstream's lease controller).
type leaseState struct {
	latest *coordinationv1.Lease
}

// runLease renews the node's Lease now and every RenewInterval until ctx ends. The Lease is
// not deleted when ctx ends: like upstream's kubelet, a stopped node's Lease simply expires.
//
// Upstream's k8s.io/component-helpers/apimachinery/lease controller is not used: its loop runs
// on wait.JitterUntil's real clock and time.After, which a fake clock cannot drive.
func (c *Controller) runLease(ctx context.Context) {
	ticker := c.clock.NewTicker(c.cfg.RenewInterval)
	defer ticker.Stop()
	for {
		if err := c.renewLease(ctx); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Unable to renew the node lease, will retry", "in", c.cfg.RenewInterval)
		}
		if c.afterLeaseRenew != nil {
			c.afterLeaseRenew()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// renewLease updates the Lease's renewTime, creating the Lease when it is missing.
func (c *Controller) renewLease(ctx context.Context) error {
	leases := c.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	if base := c.lease.latest; base != nil {
		updated, err := leases.Update(ctx, c.desiredLease(base.DeepCopy()), metav1.UpdateOptions{})
		if err == nil {
			c.lease.latest = updated
			return nil
		}
		c.lease.latest = nil
		klog.FromContext(ctx).V(2).Info("Updating the node lease from the last one written failed, reading it", "err", err)
	}
	var lastErr error
	for range maxLeaseAttemptsPerRenewal {
		cur, err := leases.Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fresh := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: c.cfg.NodeName, Namespace: corev1.NamespaceNodeLease}}
			created, err := leases.Create(ctx, c.desiredLease(fresh), metav1.CreateOptions{})
			if err == nil {
				c.lease.latest = created
				return nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create lease %s/%s: %w", corev1.NamespaceNodeLease, c.cfg.NodeName, err)
			}
			lastErr = err
		case err != nil:
			return fmt.Errorf("get lease %s/%s: %w", corev1.NamespaceNodeLease, c.cfg.NodeName, err)
		default:
			updated, err := leases.Update(ctx, c.desiredLease(cur.DeepCopy()), metav1.UpdateOptions{})
			if err == nil {
				c.lease.latest = updated
				return nil
			}
			if !apierrors.IsConflict(err) {
				return fmt.Errorf("update lease %s/%s: %w", corev1.NamespaceNodeLease, c.cfg.NodeName, err)
			}
			lastErr = err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("renew lease %s/%s: %d attempts failed: %w", corev1.NamespaceNodeLease, c.cfg.NodeName, maxLeaseAttemptsPerRenewal, lastErr)
}

// desiredLease asserts on lease what the kubelet owns: holder, duration, renew time and the
// owner reference to the Node (so the garbage collector deletes the Lease with the Node).
func (c *Controller) desiredLease(lease *coordinationv1.Lease) *coordinationv1.Lease {
	lease.Spec.HolderIdentity = ptr.To(c.cfg.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(c.cfg.LeaseDuration / time.Second))
	lease.Spec.RenewTime = &metav1.MicroTime{Time: c.clock.Now()}
	if uid := c.uid(); uid != "" && !ownedByNode(lease, c.cfg.NodeName, uid) {
		// Drop a reference to an earlier Node of this name (deleted and registered again) and
		// keep any other owner.
		refs := lease.OwnerReferences[:0:0]
		for _, ref := range lease.OwnerReferences {
			if ref.Kind != "Node" || ref.Name != c.cfg.NodeName {
				refs = append(refs, ref)
			}
		}
		lease.OwnerReferences = append(refs, metav1.OwnerReference{
			APIVersion: corev1.SchemeGroupVersion.String(),
			Kind:       "Node",
			Name:       c.cfg.NodeName,
			UID:        uid,
		})
	}
	return lease
}

func ownedByNode(lease *coordinationv1.Lease, name string, uid types.UID) bool {
	for _, ref := range lease.OwnerReferences {
		if ref.Kind == "Node" && ref.Name == name && ref.UID == uid {
			return true
		}
	}
	return false
}
