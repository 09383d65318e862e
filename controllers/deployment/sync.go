package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// replicaSetsForDeployment returns the replica sets the deployment controls, adopting orphans
// its selector matches and releasing owned sets it no longer matches. The returned objects are
// copies (the sync updates them in place as it writes them).
func (c *Controller) replicaSetsForDeployment(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing replica sets of %s/%s: %w", d.Namespace, d.Name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid selector: %w", d.Namespace, d.Name, err)
	}
	var (
		owned     []*appsv1.ReplicaSet
		checked   bool
		adoptable error
	)
	canAdopt := func() error {
		if checked {
			return adoptable
		}
		checked = true
		fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		switch {
		case err != nil:
			adoptable = fmt.Errorf("rechecking deployment %s/%s before adoption: %w", d.Namespace, d.Name, err)
		case fresh.UID != d.UID:
			adoptable = fmt.Errorf("original Deployment %s/%s is gone: got uid %v, wanted %v", d.Namespace, d.Name, fresh.UID, d.UID)
		case fresh.DeletionTimestamp != nil:
			adoptable = fmt.Errorf("%s/%s has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
		}
		return adoptable
	}
	var errs []error
	for _, rs := range all {
		match := selector.Matches(labels.Set(rs.Labels))
		if ref := metav1.GetControllerOf(rs); ref != nil {
			if ref.UID != d.UID {
				continue
			}
			if match {
				owned = append(owned, rs.DeepCopy())
				continue
			}
			if d.DeletionTimestamp != nil {
				continue
			}
			if err := c.releaseReplicaSet(ctx, d, rs); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		if !match || d.DeletionTimestamp != nil || rs.DeletionTimestamp != nil {
			continue
		}
		if err := canAdopt(); err != nil {
			errs = append(errs, err)
			continue
		}
		adopted, err := c.adoptReplicaSet(ctx, d, rs)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		owned = append(owned, adopted)
	}
	if len(errs) > 0 {
		return owned, errs[0]
	}
	return owned, nil
}

type ownerRefPatch struct {
	Metadata struct {
		OwnerReferences []map[string]interface{} `json:"ownerReferences"`
		UID             types.UID                `json:"uid"`
	} `json:"metadata"`
}

func (c *Controller) adoptReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	var p ownerRefPatch
	p.Metadata.UID = rs.UID
	p.Metadata.OwnerReferences = []map[string]interface{}{{
		"apiVersion": controllerKind.GroupVersion().String(), "kind": controllerKind.Kind,
		"name": d.Name, "uid": d.UID, "controller": true, "blockOwnerDeletion": true,
	}}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding adoption patch: %w", err)
	}
	out, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopting replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Adopted replica set", "deployment", klog.KObj(d), "replicaSet", klog.KObj(rs))
	return out, nil
}

func (c *Controller) releaseReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	var p ownerRefPatch
	p.Metadata.UID = rs.UID
	p.Metadata.OwnerReferences = []map[string]interface{}{{"$patch": "delete", "uid": d.UID}}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding release patch: %w", err)
	}
	if _, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("releasing replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Released replica set", "deployment", klog.KObj(d), "replicaSet", klog.KObj(rs))
	return nil
}

// podMapForDeployment groups the deployment's pods by the UID of the replica set owning them.
func (c *Controller) podMapForDeployment(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid selector: %w", d.Namespace, d.Name, err)
	}
	pods, err := c.podLister.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s/%s: %w", d.Namespace, d.Name, err)
	}
	m := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		m[rs.UID] = nil
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			continue
		}
		if _, ok := m[ref.UID]; ok {
			m[ref.UID] = append(m[ref.UID], pod)
		}
	}
	return m, nil
}

// getAllReplicaSetsAndSyncRevision returns the new replica set (created when asked and
// missing) and the old ones, bringing revisions up to date.
func (c *Controller) getAllReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	oldRSs := findOldReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// updateStatus writes d's status (and metadata, which /status keeps) and refreshes d.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	out, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *out
	return nil
}

func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	logger := klog.FromContext(ctx)
	existing := findNewReplicaSet(d, rsList)
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)

	if existing != nil {
		rsCopy := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rsCopy, newRevision, true)
		if annotationsChanged || rsCopy.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rsCopy.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			out, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("updating replica set %s/%s: %w", rsCopy.Namespace, rsCopy.Name, err)
			}
			return out, nil
		}
		needsUpdate := setDeploymentRevision(d, rsCopy.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rsCopy.Name), c.now()))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rsCopy, nil
	}
	if !create {
		return nil, nil
	}

	template := *d.Spec.Template.DeepCopy()
	hash := ComputeHash(&template, d.Status.CollisionCount)
	template.Labels = cloneWith(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = cloneWith(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	newRS := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	count, err := newRSNewReplicas(d, append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS), newRS)
	if err != nil {
		return nil, err
	}
	*newRS.Spec.Replicas = count
	setNewReplicaSetAnnotations(d, newRS, newRevision, false)

	alreadyExists := false
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, newRS, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		rs, getErr := c.rsLister.ReplicaSets(newRS.Namespace).Get(newRS.Name)
		if getErr != nil {
			return nil, fmt.Errorf("getting existing replica set %s/%s: %w", newRS.Namespace, newRS.Name, getErr)
		}
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &rs.Spec.Template) {
			created, err = rs, nil
			break
		}
		// A hash collision: bump collisionCount so the next sync computes another name.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uErr := c.updateStatus(ctx, d); uErr == nil {
			logger.V(2).Info("Found a hash collision for deployment, bumping collisionCount", "deployment", klog.KObj(d), "collisionCount", *d.Status.CollisionCount)
		}
		return nil, fmt.Errorf("creating replica set %s/%s: %w", newRS.Namespace, newRS.Name, err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, fmt.Errorf("creating replica set %s/%s: %w", newRS.Namespace, newRS.Name, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", newRS.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonFailedRSCreate, msg, c.now()))
			_ = c.updateStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
		return nil, fmt.Errorf("creating replica set %s/%s: %w", newRS.Namespace, newRS.Name, err)
	}
	if !alreadyExists && count > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, eventReasonScalingRS, "Scaled up replica set %s from 0 to %d", created.Name, count)
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return created, err
		}
	}
	return created, nil
}

func cloneWith(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[key] = value
	return out
}

// syncStatusOnly updates only the status (a deployment being deleted).
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// sync handles scaling events and paused deployments: it scales, never rolls out.
func (c *Controller) sync(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// checkPausedConditions records DeploymentPaused / DeploymentResumed in Progressing.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	pausedExists := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}

// isScalingEvent: an active replica set was sized for another deployment size.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(append(oldRSs, newRS)) {
		desired, ok := annotatedInt32(rs, DesiredReplicasAnnotation)
		if ok && desired != replicas(d.Spec.Replicas) {
			return true, nil
		}
	}
	return false, nil
}

// scale sizes the replica sets for the deployment's size: all to the one active set, or
// proportionally across the active sets of a rolling update.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	want := replicas(d.Spec.Replicas)
	if target := findActiveOrLatest(newRS, oldRSs); target != nil {
		if rsReplicas(target) == want {
			return nil
		}
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, target, want, d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := filterActive(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	allowed := int32(0)
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - sumSpecReplicas(active)
	operation := ""
	switch {
	case toAdd > 0:
		sort.Sort(bySizeNewer(active))
		operation = "up"
	case toAdd < 0:
		sort.Sort(bySizeOlder(active))
		operation = "down"
	}
	added := int32(0)
	sizes := make(map[string]int32, len(active))
	for _, rs := range active {
		if toAdd != 0 {
			p := proportion(d, rs, toAdd, added)
			sizes[rs.Name] = rsReplicas(rs) + p
			added += p
		} else {
			sizes[rs.Name] = rsReplicas(rs)
		}
	}
	for i, rs := range active {
		if i == 0 && toAdd != 0 {
			sizes[rs.Name] += toAdd - added
			if sizes[rs.Name] < 0 {
				sizes[rs.Name] = 0
			}
		}
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.Name], d, operation); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == size {
		return false, rs, nil
	}
	operation := "down"
	if rsReplicas(rs) < size {
		operation = "up"
	}
	return c.scaleReplicaSet(ctx, rs, size, d, operation)
}

// scaleReplicaSet writes the size and the deployment-size annotations; the event says
// "Scaled up replica set NAME from A to B" as upstream's.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment, operation string) (bool, *appsv1.ReplicaSet, error) {
	want := replicas(d.Spec.Replicas)
	sizeChanged := rsReplicas(rs) != size
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, want, want+maxSurge(d)) {
		return false, rs, nil
	}
	old := rsReplicas(rs)
	rsCopy := rs.DeepCopy()
	rsCopy.Spec.Replicas = &size
	setReplicasAnnotations(rsCopy, want, want+maxSurge(d))
	out, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scaling replica set %s/%s to %d: %w", rs.Namespace, rs.Name, size, err)
	}
	*rs = *out
	if sizeChanged {
		c.recorder.Eventf(d, corev1.EventTypeNormal, eventReasonScalingRS, "Scaled %s replica set %s from %d to %d", operation, out.Name, old, size)
		return true, rs, nil
	}
	return false, rs, nil
}

// cleanupDeployment deletes the oldest old replica sets, scaled to 0, beyond
// revisionHistoryLimit.
func (c *Controller) cleanupDeployment(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := int32(len(alive)) - *d.Spec.RevisionHistoryLimit
	if diff <= 0 {
		return nil
	}
	sort.Sort(byRevision(alive))
	for i := int32(0); i < diff; i++ {
		rs := alive[i]
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		klog.FromContext(ctx).V(4).Info("Deleting old replica set", "deployment", klog.KObj(d), "replicaSet", klog.KObj(rs))
		if err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old replica set %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}

// calculateStatus derives the deployment status from its replica sets, with the Available
// condition.
func (c *Controller) calculateStatus(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := sumStatus(allRSs, availableReplicas)
	unavailable := sumSpecReplicas(allRSs) - available
	if unavailable < 0 {
		unavailable = 0
	}
	var updated int32
	if newRS != nil {
		updated = newRS.Status.Replicas
	}
	s := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(allRSs, actualReplicas),
		UpdatedReplicas:     updated,
		ReadyReplicas:       sumStatus(allRSs, readyReplicas),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		TerminatingReplicas: sumTerminating(allRSs),
		CollisionCount:      d.Status.CollisionCount,
	}
	s.Conditions = append(s.Conditions, d.Status.Conditions...)
	if available >= replicas(d.Spec.Replicas)-maxUnavailable(d) {
		setCondition(&s, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		setCondition(&s, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability.", c.now()))
	}
	return s
}

func (c *Controller) syncDeploymentStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	s := c.calculateStatus(allRSs, newRS, d)
	if reflect.DeepEqual(d.Status, s) {
		return nil
	}
	d.Status = s
	return c.updateStatus(ctx, d)
}
