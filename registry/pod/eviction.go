package pod

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/util/retry"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
)

// MaxDisruptedPodSize caps a budget's status.disruptedPods: past it, evictions are refused
// until the disruption controller catches up, as upstream does.
const MaxDisruptedPodSize = 2000

// evictionsRetry is upstream's back-off for conflicting writes during an eviction.
var evictionsRetry = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// violationMessage is the message of the 429 an eviction gets when a budget forbids it.
const violationMessage = "Cannot evict pod as it would violate the pod's disruption budget."

var pdbResource = policyv1.Resource("poddisruptionbudget")

// DisruptionBudgets is what an eviction needs of policy/v1 poddisruptionbudgets: the main
// storage (list and get, in the request's namespace) and the status subresource.
type DisruptionBudgets struct {
	Budgets interface {
		rest.Lister
		rest.Getter
	}
	Status rest.Updater
}

// EvictionREST is pods/eviction: a deletion that respects PodDisruptionBudgets, as
// kube-apiserver's: a pod covered by a budget is deleted only if the budget allows one more
// disruption (decremented, and the pod recorded in status.disruptedPods), else 429. The pod
// gets the DisruptionTarget condition before it is deleted. Without budgets (budgets.Budgets
// nil) every eviction is allowed.
type EvictionREST struct {
	store   *genericregistry.Store
	status  rest.Updater
	budgets DisruptionBudgets
}

var (
	_ rest.NamedCreater             = &EvictionREST{}
	_ rest.GroupVersionKindProvider = &EvictionREST{}
)

// WithDisruptionBudgets returns a copy of r that checks the budgets b.
func (r *EvictionREST) WithDisruptionBudgets(b DisruptionBudgets) *EvictionREST {
	out := *r
	out.budgets = b
	return &out
}

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

// New returns an empty Eviction.
func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *EvictionREST) Destroy() {}

// Create evicts the pod.
func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	original, err := propagateDryRun(eviction, options)
	if err != nil {
		return nil, err
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	success := &metav1.Status{Status: metav1.StatusSuccess, Code: 201}

	// A pod that is not running (pending, finished) or already terminating disrupts nothing
	// more: it is deleted without consulting budgets.
	var pod *corev1.Pod
	deleted := false
	// Conflicts with concurrent writers are retried; a failed precondition of the client's is
	// final.
	permanent := !resourceVersionIsUnset(original)
	shouldRetry := func(err error) bool { return !permanent && apierrors.IsConflict(err) }
	err = retry.OnError(evictionsRetry, shouldRetry, func() error {
		got, err := r.store.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod = got.(*corev1.Pod)
		if p := original.Preconditions; p != nil && p.UID != nil && *p.UID != "" && *p.UID != pod.UID {
			permanent = true
			return apierrors.NewConflict(podsResource, name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, pod.UID))
		}
		if !canIgnorePDB(pod) {
			return nil
		}
		opts := original
		if shouldEnforceResourceVersion(pod) && resourceVersionIsUnset(original) {
			opts = opts.DeepCopy()
			setPreconditionsResourceVersion(opts, pod.ResourceVersion)
		}
		if err := r.markAndDelete(ctx, name, opts); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if deleted {
		return success, nil
	}

	var pdbName string
	var multiple bool
	updateDeletionOptions := false
	err = func() error {
		pdbs, err := r.budgetsFor(ctx, pod)
		if err != nil {
			return err
		}
		if len(pdbs) > 1 {
			multiple = true
			return nil
		}
		if len(pdbs) == 0 {
			return nil
		}
		pdb := &pdbs[0]
		pdbName = pdb.Name
		// An unready pod does not count as healthy: evicting it costs the budget nothing when
		// the policy says so, or when the budget is met without it.
		if !isPodReady(pod) {
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
				updateDeletionOptions = true
				return nil
			}
			if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
				updateDeletionOptions = true
				return nil
			}
		}
		refresh := false
		return retry.RetryOnConflict(evictionsRetry, func() error {
			if refresh {
				got, err := r.budgets.Budgets.Get(ctx, pdbName, &metav1.GetOptions{})
				if err != nil {
					return err
				}
				pdb = got.(*policyv1.PodDisruptionBudget)
			}
			if err := r.checkAndDecrement(ctx, pod.Name, pdb.DeepCopy(), len(original.DryRun) > 0); err != nil {
				refresh = true
				return err
			}
			return nil
		})
	}()
	if wait.Interrupted(err) {
		err = apierrors.NewTimeoutError(fmt.Sprintf("couldn't update PodDisruptionBudget %q due to conflicts", pdbName), 10)
	}
	if err != nil {
		return nil, err
	}
	if multiple {
		return &metav1.Status{
			Status:  metav1.StatusFailure,
			Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
			Code:    500,
		}, nil
	}

	// No budget, or one that allowed the disruption, or an unready pod the budget can spare.
	opts := original
	if updateDeletionOptions {
		// The pod must still be the unready one the decision was made on.
		opts = opts.DeepCopy()
		setPreconditionsResourceVersion(opts, pod.ResourceVersion)
	}
	if err := r.markAndDelete(ctx, name, opts); err != nil {
		if apierrors.IsConflict(err) && updateDeletionOptions && resourceVersionIsUnset(original) {
			// The pod changed (maybe became ready): the client retries, as on a violation.
			return nil, tooManyRequests(pdbName)
		}
		return nil, err
	}
	return success, nil
}

// propagateDryRun merges the request's dry-run option into the eviction's delete options; they
// must agree when both are set.
func propagateDryRun(eviction *policyv1.Eviction, options *metav1.CreateOptions) (*metav1.DeleteOptions, error) {
	var dryRun []string
	if options != nil {
		dryRun = options.DryRun
	}
	if eviction.DeleteOptions == nil {
		return &metav1.DeleteOptions{DryRun: dryRun}, nil
	}
	opts := eviction.DeleteOptions.DeepCopy()
	switch {
	case len(opts.DryRun) == 0:
		opts.DryRun = dryRun
	case len(dryRun) > 0 && !reflect.DeepEqual(dryRun, opts.DryRun):
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Non-matching dry-run options in request and content: %v and %v", dryRun, opts.DryRun))
	}
	return opts, nil
}

// canIgnorePDB: evicting a pod that is not running or already terminating needs no budget.
func canIgnorePDB(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// shouldEnforceResourceVersion: a pod that could still become ready is deleted only in the
// version the decision was made on.
func shouldEnforceResourceVersion(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return pod.DeletionTimestamp == nil
}

func resourceVersionIsUnset(options *metav1.DeleteOptions) bool {
	return options.Preconditions == nil || options.Preconditions.ResourceVersion == nil
}

func setPreconditionsResourceVersion(options *metav1.DeleteOptions, rv string) {
	if options.Preconditions == nil {
		options.Preconditions = &metav1.Preconditions{}
	}
	options.Preconditions.ResourceVersion = &rv
}

func isPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tooManyRequests is the 429 of a budget the server has not processed yet (or of a pod that
// changed under the eviction); clients retry after 10 seconds.
func tooManyRequests(pdbName string) error {
	err := apierrors.NewTooManyRequests(violationMessage, 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdbName),
	})
	return err
}

// checkAndDecrement takes one disruption from pdb, recording the pod as disrupted (not on a
// dry run), or refuses: 429 while the budget allows none or is not yet observed, 403 for a
// corrupt budget.
func (r *EvictionREST) checkAndDecrement(ctx context.Context, podName string, pdb *policyv1.PodDisruptionBudget, dryRun bool) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(pdb.Name)
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return apierrors.NewForbidden(pdbResource, pdb.Name, errors.New("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > MaxDisruptedPodSize {
		return apierrors.NewForbidden(pdbResource, pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests(violationMessage, 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: policyv1.DisruptionBudgetCause,
			Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
				pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
		})
		return err
	}
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		pdbhelper.UpdateDisruptionAllowedCondition(pdb)
	}
	if dryRun {
		return nil
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	// Tells the disruption controller not to count the pod as healthy while it goes.
	pdb.Status.DisruptedPods[podName] = metav1.Now()
	_, _, err := r.budgets.Status.Update(ctx, pdb.Name, rest.DefaultUpdatedObjectInfo(pdb),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return err
}

// budgetsFor returns the budgets in the pod's namespace whose selector matches the pod. As in
// policy/v1, an empty selector matches every pod and a missing one none.
func (r *EvictionREST) budgetsFor(ctx context.Context, pod *corev1.Pod) ([]policyv1.PodDisruptionBudget, error) {
	if r.budgets.Budgets == nil {
		return nil, nil
	}
	obj, err := r.budgets.Budgets.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	list, ok := obj.(*policyv1.PodDisruptionBudgetList)
	if !ok {
		return nil, fmt.Errorf("listing disruption budgets: got %T", obj)
	}
	var out []policyv1.PodDisruptionBudget
	for _, pdb := range list.Items {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

// markAndDelete sets the DisruptionTarget condition (unless dry run) and deletes the pod with
// the eviction's options.
func (r *EvictionREST) markAndDelete(ctx context.Context, name string, opts *metav1.DeleteOptions) error {
	if len(opts.DryRun) == 0 {
		updated, err := r.markDisruptionTarget(ctx, name, opts.Preconditions)
		if err != nil {
			return err
		}
		if !resourceVersionIsUnset(opts) && *opts.Preconditions.ResourceVersion != "" {
			// The precondition held; the pod's version is now the one this update wrote.
			opts = opts.DeepCopy()
			setPreconditionsResourceVersion(opts, updated.ResourceVersion)
		}
	}
	_, _, err := r.store.Delete(ctx, name, rest.ValidateAllObjectFunc, opts)
	return err
}

// markDisruptionTarget sets the pod's DisruptionTarget condition through pods/status, checking
// the eviction's preconditions against the stored pod.
func (r *EvictionREST) markDisruptionTarget(ctx context.Context, name string, precond *metav1.Preconditions) (*corev1.Pod, error) {
	info := rest.DefaultUpdatedObjectInfo(nil, func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		p := old.(*corev1.Pod).DeepCopy()
		if precond != nil {
			if uid := precond.UID; uid != nil && *uid != "" && *uid != p.UID {
				return nil, apierrors.NewConflict(podsResource, name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *uid, p.UID))
			}
			if rv := precond.ResourceVersion; rv != nil && *rv != "" && *rv != p.ResourceVersion {
				return nil, apierrors.NewConflict(podsResource, name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, p.ResourceVersion))
			}
		}
		setCondition(&p.Status, corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			ObservedGeneration: p.Generation,
			Reason:             "EvictionByEvictionAPI",
			Message:            "Eviction API: evicting",
		})
		return p, nil
	})
	obj, _, err := r.status.Update(ctx, name, info, rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}
