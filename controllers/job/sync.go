package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubeshim/kubeshim/controllers/podcontrol"
)

// Condition reasons and messages upstream uses.
const (
	msgBackoffLimitExceeded = "Job has reached the specified backoff limit"
	msgDeadlineExceeded     = "Job was active longer than specified deadline"
	msgCompletionsReached   = "Reached expected number of succeeded pods"
)

// syncContext is the state of one sync of one Job.
type syncContext struct {
	job        *batchv1.Job
	pods       []*v1.Pod
	activePods []*v1.Pod
	// finishedCondition is the condition the Job is heading for, nil while it runs.
	finishedCondition    *batchv1.JobCondition
	succeeded, failed    int32
	prevSucceededIndexes intervals
	succeededIndexes     intervals
	newBackoff           backoffRecord
	expectedRmFinalizers sets.Set[string]
	uncountedSucceeded   sets.Set[string]
	uncountedFailed      sets.Set[string]
	terminating          int32
	ready                int32
}

func isJobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == v1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobSuspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func trueCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	if c := findCondition(conds, t); c != nil && c.Status == v1.ConditionTrue {
		return c
	}
	return nil
}

func (c *Controller) newCondition(t batchv1.JobConditionType, status v1.ConditionStatus, reason, message string) *batchv1.JobCondition {
	now := metav1.NewTime(c.clock.Now())
	return &batchv1.JobCondition{Type: t, Status: status, LastProbeTime: now, LastTransitionTime: now, Reason: reason, Message: message}
}

// ensureCondition sets condition t to status (appending it unless that would add a False
// one) and reports whether anything changed.
func (c *Controller) ensureCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType, status v1.ConditionStatus, reason, message string) ([]batchv1.JobCondition, bool) {
	if cur := findCondition(conds, t); cur != nil {
		if cur.Status != status || cur.Reason != reason || cur.Message != message {
			*cur = *c.newCondition(t, status, reason, message)
			return conds, true
		}
		return conds, false
	}
	if status == v1.ConditionFalse {
		return conds, false
	}
	return append(conds, *c.newCondition(t, status, reason, message)), true
}

// syncJob reconciles one Job. It is never called concurrently for the same key.
func (c *Controller) syncJob(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	start := c.clock.Now()
	defer func() { logger.V(4).Info("Finished syncing job", "key", key, "elapsed", c.clock.Since(start)) }()

	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || namespace == "" || name == "" {
		return fmt.Errorf("invalid job key %q", key)
	}
	shared, err := c.jobLister.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Job has been deleted", "key", key)
		c.expectations.Delete(logger, key)
		c.finalizerExpectations.delete(key)
		c.backoff.remove(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting job %s: %w", key, err)
	}
	if managedByExternalController(shared) {
		return nil
	}
	job := shared.DeepCopy()
	if isJobFinished(job) {
		c.backoff.remove(key)
		return nil
	}
	if job.Spec.CompletionMode != nil && *job.Spec.CompletionMode != batchv1.NonIndexedCompletion && *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		c.recorder.Event(job, v1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if job.Spec.Parallelism == nil || job.Spec.BackoffLimit == nil || (isIndexedJob(job) && job.Spec.Completions == nil) {
		// The API defaults these; a Job without them was not written through it.
		return fmt.Errorf("job %s lacks defaulted parallelism/backoffLimit/completions", key)
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}

	// Check expectations before listing pods, so a pod that lands in between only defers.
	satisfied := c.expectations.Satisfied(logger, key)

	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	jc := &syncContext{
		job:                  job,
		pods:                 pods,
		activePods:           podcontrol.FilterPods(pods, podcontrol.IsPodActive),
		expectedRmFinalizers: c.finalizerExpectations.expected(key),
		uncountedSucceeded:   uidSet(job.Status.UncountedTerminatedPods.Succeeded),
		uncountedFailed:      uidSet(job.Status.UncountedTerminatedPods.Failed),
		terminating:          countTerminatingPods(pods),
	}
	jc.ready = countReadyPods(jc.activePods)
	active := int32(len(jc.activePods))
	newSucceeded, newFailed := newFinishedPods(jc)
	jc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(jc.uncountedSucceeded.Len())
	jc.failed = job.Status.Failed + countedFailures(job, newFailed) + int32(jc.uncountedFailed.Len())

	oldStartTime := job.Status.StartTime
	if job.Status.StartTime == nil && !jobSuspended(job) {
		now := metav1.NewTime(c.clock.Now())
		job.Status.StartTime = &now
	}
	jc.newBackoff = c.backoff.next(key, newSucceeded, newFailed)

	// Where is the Job heading? A SuccessCriteriaMet or FailureTarget condition already set
	// decides; otherwise the pod failure policy, the back-off limit and the deadline.
	jc.finishedCondition = trueCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet)
	if jc.finishedCondition == nil {
		if ft := trueCondition(job.Status.Conditions, batchv1.JobFailureTarget); ft != nil {
			jc.finishedCondition = c.newCondition(batchv1.JobFailed, v1.ConditionTrue, ft.Reason, ft.Message)
		} else if msg := failJobMessage(job, pods); msg != nil {
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, v1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg)
		}
	}
	if jc.finishedCondition == nil {
		switch {
		case jc.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, v1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded)
		case c.pastActiveDeadline(job):
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, v1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded)
		case job.Spec.ActiveDeadlineSeconds != nil && !jobSuspended(job):
			d := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(job.Status.StartTime.Time)
			logger.V(2).Info("Job has activeDeadlineSeconds; will sync again", "key", key, "nextSyncIn", d)
			c.queue.AddAfter(key, d)
		}
	}

	if isIndexedJob(job) {
		jc.prevSucceededIndexes, jc.succeededIndexes = succeededIndexes(logger, job, pods)
		jc.succeeded = int32(jc.succeededIndexes.total())
		if jc.finishedCondition == nil {
			if msg, met := matchSuccessPolicy(logger, job.Spec.SuccessPolicy, *job.Spec.Completions, jc.succeededIndexes); met {
				jc.finishedCondition = c.newCondition(batchv1.JobSuccessCriteriaMet, v1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg)
			}
		}
	}

	var manageErr error
	suspendChanged := false
	if jc.finishedCondition != nil {
		// Heading for an end: the remaining active pods go (keeping their finalizer, so
		// they are counted as failed).
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, jc.activePods)
		if deleted != active || !satisfied {
			// Not finished while pods remain or the cache may lack some.
			jc.finishedCondition = nil
		}
		active -= deleted
		jc.terminating += deleted
		jc.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, job, jc)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// Work-queue Jobs: done once any pod succeeded and none is left.
			complete = jc.succeeded > 0 && active == 0
		} else {
			complete = jc.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			jc.finishedCondition = c.newCondition(batchv1.JobSuccessCriteriaMet, v1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached)
		case managed && jobSuspended(job):
			var changed bool
			job.Status.Conditions, changed = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, v1.ConditionTrue, "JobSuspended", "Job suspended")
			if changed {
				suspendChanged = true
				c.recorder.Event(job, v1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case managed:
			var changed bool
			job.Status.Conditions, changed = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, v1.ConditionFalse, "JobResumed", "Job resumed")
			if changed {
				suspendChanged = true
				c.recorder.Event(job, v1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts continuous activity: restart the clock.
				now := metav1.NewTime(c.clock.Now())
				job.Status.StartTime = &now
			}
		}
	}

	needsUpdate := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(&jc.ready, job.Status.Ready) || !ptr.Equal(&jc.terminating, job.Status.Terminating) ||
		!ptr.Equal(oldStartTime, job.Status.StartTime)
	job.Status.Active = active
	job.Status.Ready = ptr.To(jc.ready)
	job.Status.Terminating = ptr.To(jc.terminating)
	if err := c.trackStatusAndRemoveFinalizers(ctx, key, jc, needsUpdate); err != nil {
		return fmt.Errorf("tracking status of job %s: %w", key, err)
	}
	return manageErr
}

func uidSet(uids []types.UID) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range uids {
		s.Insert(string(u))
	}
	return s
}

// podsForJob lists the Job's pods, adopting matching orphans (adding the tracking finalizer)
// and releasing owned pods that stopped matching.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*v1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s has an invalid selector: %w", job.Namespace, job.Name, err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	claimer := &podcontrol.Claimer{
		Control: adoptingControl{patch: c.podControl.PatchPod},
		Owner:   job, OwnerGVK: controllerKind, Selector: selector,
		CanAdopt: func(ctx context.Context) error {
			fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.UID != job.UID {
				return fmt.Errorf("original Job %s/%s is gone: got uid %v, wanted %v", job.Namespace, job.Name, fresh.UID, job.UID)
			}
			if fresh.DeletionTimestamp != nil {
				return fmt.Errorf("job %s/%s has just been deleted at %v", job.Namespace, job.Name, fresh.DeletionTimestamp)
			}
			return nil
		},
	}
	pods, err := claimer.ClaimPods(ctx, all)
	if err != nil {
		return pods, fmt.Errorf("claiming pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	// Adopted pods got the finalizer in the adoption patch: count them as having it now.
	for i, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); (ref == nil || ref.UID != job.UID) && !hasTrackingFinalizer(p) {
			pods[i] = p.DeepCopy()
			pods[i].Finalizers = append(pods[i].Finalizers, batchv1.JobTrackingFinalizer)
		}
	}
	return pods, nil
}

// newFinishedPods returns the succeeded and failed pods not counted yet: they still have the
// finalizer, are not in uncountedTerminatedPods and (Indexed) have a valid index.
func newFinishedPods(jc *syncContext) (succeeded, failed []*v1.Pod) {
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || jc.expectedRmFinalizers.Has(uid) {
			continue
		}
		if isIndexedJob(jc.job) {
			if ix := completionIndex(p); ix == unknownCompletionIndex || ix >= int(*jc.job.Spec.Completions) {
				continue
			}
		}
		switch {
		case p.Status.Phase == v1.PodSucceeded:
			if !jc.uncountedSucceeded.Has(uid) {
				succeeded = append(succeeded, p)
			}
		case isPodFailed(p, jc.job):
			if !jc.uncountedFailed.Has(uid) {
				failed = append(failed, p)
			}
		}
	}
	return succeeded, failed
}

// countedFailures is the number of failed pods that count against backoffLimit.
func countedFailures(job *batchv1.Job, failed []*v1.Pod) int32 {
	n := int32(len(failed))
	if job.Spec.PodFailurePolicy != nil {
		for _, p := range failed {
			if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); !count {
				n--
			}
		}
	}
	return n
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, the container restarts of the
// running and pending pods count against backoffLimit.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*v1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != v1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != v1.PodRunning && p.Status.Phase != v1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

func (c *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || jobSuspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// deleteActivePods deletes pods keeping their finalizers (the Job counts them as failed).
// It returns how many of them were ready and how many were deleted.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*v1.Pod) (int32, int32, error) {
	var mu sync.Mutex
	var errs []error
	var ready, deleted int32
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			err := c.podControl.DeletePod(ctx, job.Namespace, pod.Name, job)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
				return
			}
			deleted++
			if podcontrol.IsPodReady(pod) {
				ready++
			}
		})
	}
	wg.Wait()
	return ready, deleted, utilerrors.NewAggregate(errs)
}

// deleteJobPods removes the finalizer first (these pods are not counted), then deletes.
func (c *Controller) deleteJobPods(ctx context.Context, job *batchv1.Job, key string, pods []*v1.Pod) (int32, int32, error) {
	logger := klog.FromContext(ctx)
	var mu sync.Mutex
	var errs []error
	var ready, deleted int32
	var wg sync.WaitGroup
	fail := func(pod *v1.Pod, err error) {
		// The informer will not see this deletion.
		c.expectations.DeletionObserved(logger, key, podKey(pod))
		if apierrors.IsNotFound(err) {
			mu.Lock()
			deleted++
			mu.Unlock()
			return
		}
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, pod := range pods {
		wg.Go(func() {
			if patch := removeTrackingFinalizerPatch(pod); patch != nil {
				if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
					fail(pod, fmt.Errorf("removing the tracking finalizer of pod %s: %w", pod.Name, err))
					return
				}
			}
			if err := c.podControl.DeletePod(ctx, job.Namespace, pod.Name, job); err != nil {
				fail(pod, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			deleted++
			if podcontrol.IsPodReady(pod) {
				ready++
			}
		})
	}
	wg.Wait()
	return ready, deleted, utilerrors.NewAggregate(errs)
}

// activePodsForRemoval picks at least rmAtLeast pods to delete: for Indexed Jobs first the
// pods with a missing, out-of-range or repeated index; then in upstream's order.
func activePodsForRemoval(job *batchv1.Job, pods []*v1.Pod, rmAtLeast int) []*v1.Pod {
	var rm, left []*v1.Pod
	if isIndexedJob(job) {
		rm, left = duplicateIndexPodsForRemoval(pods, int(*job.Spec.Completions))
	} else {
		left = slices.Clone(pods)
	}
	if len(rm) < rmAtLeast {
		sortActivePods(left)
		rm = append(rm, left[:min(rmAtLeast-len(rm), len(left))]...)
	}
	return rm
}

// manageJob creates or deletes pods so that the right number is active, and returns it.
func (c *Controller) manageJob(ctx context.Context, job *batchv1.Job, jc *syncContext) (int32, error) {
	logger := klog.FromContext(ctx)
	key, ok := keyOf(job)
	if !ok {
		return 0, nil
	}
	active := int32(len(jc.activePods))
	parallelism := *job.Spec.Parallelism

	if jobSuspended(job) {
		logger.V(4).Info("Deleting all active pods in suspended job", "job", klog.KObj(job), "active", active)
		rm := activePodsForRemoval(job, jc.activePods, int(active))
		c.expectations.ExpectDeletions(logger, key, podKeys(rm))
		ready, deleted, err := c.deleteJobPods(ctx, job, key, rm)
		jc.terminating += deleted
		jc.ready -= ready
		return active - deleted, err
	}

	var want int32
	if job.Spec.Completions == nil {
		// Without completions: parallelism pods until one succeeds, then let them finish.
		want = parallelism
		if jc.succeeded > 0 {
			want = active
		}
	} else {
		want = max(min(*job.Spec.Completions-jc.succeeded, parallelism), 0)
	}

	rm := activePodsForRemoval(job, jc.activePods, int(max(active-want, 0)))
	if len(rm) > MaxPodCreateDeletePerSync {
		rm = rm[:MaxPodCreateDeletePerSync]
	}
	if len(rm) > 0 {
		// Deleting takes precedence over creating in a sync.
		c.expectations.ExpectDeletions(logger, key, podKeys(rm))
		logger.V(4).Info("Too many pods running for job", "job", klog.KObj(job), "deleted", len(rm), "target", want)
		ready, deleted, err := c.deleteJobPods(ctx, job, key, rm)
		jc.terminating += deleted
		jc.ready -= ready
		return active - deleted, err
	}

	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = jc.terminating
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if wait := jc.newBackoff.remaining(c.clock, DefaultPodFailureBackOff, MaxPodFailureBackOff); wait > 0 {
		logger.V(4).Info("Delaying pod creation after failures", "job", klog.KObj(job), "delay", wait)
		c.enqueueWithDelay(job, wait)
		return 0, nil
	}
	diff = min(diff, int32(MaxPodCreateDeletePerSync))

	var indexes []int
	if isIndexedJob(job) {
		indexes = firstPendingIndexes(jc, int(diff), int(*job.Spec.Completions))
		diff = int32(len(indexes))
	}
	c.expectations.ExpectCreations(logger, key, int(diff))
	logger.V(4).Info("Too few pods running", "key", key, "need", want, "creating", diff)

	template := job.Spec.Template.DeepCopy()
	if isIndexedJob(job) {
		addCompletionIndexEnv(template)
	}
	if !slices.Contains(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}

	// Slow start: batches of 1, 2, 4, … so a Job that cannot create pods fails fast.
	active += diff
	var errs []error
	var mu sync.Mutex
	for batch := min(diff, 1); diff > 0; batch = min(2*batch, diff) {
		before := len(errs)
		var wg sync.WaitGroup
		for range batch {
			t, generateName := template, ""
			if len(indexes) > 0 {
				ix := indexes[0]
				indexes = indexes[1:]
				t = indexedTemplate(template, job.Name, ix)
				generateName = podGenerateNameWithIndex(job.Name, ix)
			}
			wg.Go(func() {
				err := c.podControl.CreatePod(ctx, job, t, generateName)
				if err != nil && apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
					return // the namespace is going: every create would fail
				}
				if err != nil {
					c.expectations.CreationObserved(logger, key)
					mu.Lock()
					active--
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if skipped := diff - batch; len(errs) > before && skipped > 0 {
			logger.V(2).Info("Slow-start failure; skipping the remaining creations", "skipped", skipped, "job", klog.KObj(job))
			active -= skipped
			for range skipped {
				c.expectations.CreationObserved(logger, key)
			}
			break
		}
		diff -= batch
	}
	if len(errs) > 0 {
		return active, errs[0]
	}
	return active, nil
}

func podKeys(pods []*v1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = podKey(p)
	}
	return out
}

// trackStatusAndRemoveFinalizers counts finished pods: it records them in
// uncountedTerminatedPods, removes their finalizers, then moves them into the counters; it
// writes the interim FailureTarget/SuccessCriteriaMet conditions before the finalizers go,
// and the final Failed/Complete one once no pod is uncounted or terminating.
func (c *Controller) trackStatusAndRemoveFinalizers(ctx context.Context, key string, jc *syncContext, needsFlush bool) error {
	logger := klog.FromContext(ctx)
	job := jc.job
	indexed := isIndexedJob(job)
	if indexed {
		slices.SortStableFunc(jc.pods, func(a, b *v1.Pod) int { return completionIndex(a) - completionIndex(b) })
	}
	withFinalizer := sets.New[string]()
	for _, p := range jc.pods {
		if hasTrackingFinalizer(p) && !jc.expectedRmFinalizers.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	uncounted := job.Status.UncountedTerminatedPods
	if moveUncountedWithoutFinalizers(&job.Status, withFinalizer) {
		needsFlush = true
	}

	var toRemove []*v1.Pod
	var newSucceededIndexes []int
	reachedMax := false
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || jc.expectedRmFinalizers.Has(uid) {
			continue // counted in an earlier sync
		}
		failed := isPodFailed(p, job)
		if !(job.DeletionTimestamp != nil || jc.finishedCondition != nil || p.Status.Phase == v1.PodSucceeded || failed) {
			continue // still running: keep the finalizer
		}
		toRemove = append(toRemove, p)
		ix := completionIndex(p)
		validIndex := ix != unknownCompletionIndex && ix < int(ptr.Deref(job.Spec.Completions, 0))
		switch {
		case p.Status.Phase == v1.PodSucceeded && !jc.uncountedFailed.Has(uid):
			if indexed {
				// The index tells that it was counted; no UID needed.
				if validIndex && !jc.prevSucceededIndexes.has(ix) {
					newSucceededIndexes = append(newSucceededIndexes, ix)
					needsFlush = true
				}
			} else if !jc.uncountedSucceeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (jc.finishedCondition != nil && jc.finishedCondition.Type != batchv1.JobSuccessCriteriaMet):
			// When the Job fails, every pod that did not succeed counts as failed.
			if !jc.uncountedFailed.Has(uid) && (!indexed || validIndex) {
				count := true
				if job.Spec.PodFailurePolicy != nil {
					_, count, _ = matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
				}
				if count {
					uncounted.Failed = append(uncounted.Failed, p.UID)
					needsFlush = true
				}
			}
		}
		if len(newSucceededIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= MaxUncountedPods {
			// Bound the status size and this sync's work; pod updates bring us back.
			reachedMax = true
			break
		}
	}
	if indexed {
		jc.succeededIndexes = jc.succeededIndexes.with(newSucceededIndexes)
		s := jc.succeededIndexes.String()
		if s != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(jc.succeededIndexes.total())
		job.Status.CompletedIndexes = s
	}
	if fc := jc.finishedCondition; fc != nil && fc.Type == batchv1.JobFailureTarget {
		// Record why before the finalizers go; Failed follows once pods are gone.
		job.Status.Conditions = append(job.Status.Conditions, *fc)
		needsFlush = true
		jc.finishedCondition = c.newCondition(batchv1.JobFailed, v1.ConditionTrue, fc.Reason, fc.Message)
	}
	if fc := jc.finishedCondition; fc != nil && fc.Type == batchv1.JobSuccessCriteriaMet {
		if trueCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *fc)
			needsFlush = true
		}
		jc.finishedCondition = c.newCondition(batchv1.JobComplete, v1.ConditionTrue, fc.Reason, fc.Message)
	}

	var err error
	if needsFlush, err = c.flushUncountedAndRemoveFinalizers(ctx, key, jc, toRemove, withFinalizer, needsFlush); err != nil {
		return err
	}
	finished := !reachedMax && c.enactJobFinished(logger, jc)
	if finished {
		needsFlush = true
	}
	if !needsFlush {
		return nil
	}
	updated, err := c.updateStatusHandler(ctx, jc.job)
	if err != nil {
		return fmt.Errorf("removing uncounted pods from status: %w", err)
	}
	jc.job = updated
	if finished {
		c.recordFinished(updated, jc.finishedCondition)
	}
	return nil
}

// flushUncountedAndRemoveFinalizers writes the status (new uncounted UIDs, interim
// conditions) when needed, removes the finalizers, and moves the pods whose finalizer is
// gone into the counters. It returns whether the status has unwritten changes.
func (c *Controller) flushUncountedAndRemoveFinalizers(ctx context.Context, key string, jc *syncContext, toRemove []*v1.Pod, withFinalizer sets.Set[string], needsFlush bool) (bool, error) {
	if needsFlush {
		updated, err := c.updateStatusHandler(ctx, jc.job)
		if err != nil {
			return needsFlush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		jc.job = updated
		if jc.job.Status.UncountedTerminatedPods == nil {
			jc.job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
		}
		c.backoff.update(key, jc.newBackoff)
		needsFlush = false
	}
	var rmErr error
	if len(toRemove) > 0 {
		var removed []bool
		removed, rmErr = c.removeTrackingFinalizers(ctx, key, toRemove)
		for i, p := range toRemove {
			if removed[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	if moveUncountedWithoutFinalizers(&jc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		// Save the partial progress before retrying.
		updated, err := c.updateStatusHandler(ctx, jc.job)
		if err != nil {
			return needsFlush, fmt.Errorf("removing uncounted pods from status: %w", errors.Join(err, rmErr))
		}
		jc.job = updated
		needsFlush = false
	}
	return needsFlush, rmErr
}

// moveUncountedWithoutFinalizers moves the uncounted UIDs of pods that lost their finalizer
// into the succeeded/failed counters and reports whether anything moved.
func moveUncountedWithoutFinalizers(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if s := keep(u.Succeeded); len(s) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(s))
		u.Succeeded = s
		changed = true
	}
	if f := keep(u.Failed); len(f) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(f))
		u.Failed = f
		changed = true
	}
	return changed
}

// removeTrackingFinalizers patches the finalizer away from pods; removed[i] reports pod i
// (a pod already gone counts as removed).
func (c *Controller) removeTrackingFinalizers(ctx context.Context, key string, pods []*v1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.finalizerExpectations.expect(key, uids)
	removed := make([]bool, len(pods))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			patch := removeTrackingFinalizerPatch(pod)
			if patch == nil {
				return
			}
			if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
				// No update will come for this pod.
				c.finalizerExpectations.observed(key, string(pod.UID))
				if !apierrors.IsNotFound(err) {
					utilruntime.HandleErrorWithContext(ctx, err, "Removing tracking finalizer failed", "pod", klog.KObj(pod))
					mu.Lock()
					errs = append(errs, fmt.Errorf("removing tracking finalizer of pod %s: %w", pod.Name, err))
					mu.Unlock()
					return
				}
			}
			removed[i] = true
		})
	}
	wg.Wait()
	return removed, utilerrors.NewAggregate(errs)
}

// enactJobFinished sets the final condition once no pod is uncounted or terminating.
func (c *Controller) enactJobFinished(logger klog.Logger, jc *syncContext) bool {
	fc := jc.finishedCondition
	if fc == nil {
		return false
	}
	job := jc.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		logger.V(4).Info("Delaying marking the Job as finished: uncounted pods", "job", klog.KObj(job), "condition", fc.Type, "count", len(u.Succeeded)+len(u.Failed))
		return false
	}
	if jc.terminating > 0 {
		logger.V(4).Info("Delaying marking the Job as finished: terminating pods", "job", klog.KObj(job), "condition", fc.Type, "count", jc.terminating)
		return false
	}
	job.Status.Conditions, _ = c.ensureCondition(job.Status.Conditions, fc.Type, fc.Status, fc.Reason, fc.Message)
	if fc.Type == batchv1.JobComplete {
		if cond := findCondition(job.Status.Conditions, batchv1.JobComplete); cond != nil {
			t := cond.LastTransitionTime
			job.Status.CompletionTime = &t
		}
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, fc *batchv1.JobCondition) {
	if fc.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, v1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, v1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	c.recorder.Event(job, v1.EventTypeWarning, fc.Reason, fc.Message)
}

func (c *Controller) updateJobStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}
