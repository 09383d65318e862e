package defaults

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// Values that kube-apiserver's default admission plugins put on every new Pod. They are not
// defaulting (a decoded body does not get them, and RegisterDefaults does not apply them); the pod
// strategy calls the functions below where upstream admission would run: all three on create,
// SetDefaultTolerationSeconds on update as well (its upstream plugin handles both).
const (
	// DefaultServiceAccountName is the ServiceAccount a pod runs as when it names none.
	DefaultServiceAccountName = "default"
	// DefaultTolerationSeconds is how long a pod stays bound to a not-ready or unreachable node.
	DefaultTolerationSeconds int64 = 300
	// SystemClusterCriticalPriority and SystemNodeCriticalPriority are the values of the two
	// built-in PriorityClasses, system-cluster-critical and system-node-critical.
	SystemClusterCriticalPriority int32 = 2000000000
	SystemNodeCriticalPriority    int32 = SystemClusterCriticalPriority + 1000
	// SystemClusterCritical and SystemNodeCritical name the built-in PriorityClasses.
	SystemClusterCritical = "system-cluster-critical"
	SystemNodeCritical    = "system-node-critical"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// SetServiceAccountDefaults does what the ServiceAccount admission plugin defaults on a new pod:
// serviceAccountName "default" when none is named (with the deprecated serviceAccount alias kept
// equal). Mirror pods (annotation kubernetes.io/config.mirror) are left alone, as upstream does.
// Token volume projection, also done by that plugin upstream, is not done here.
func SetServiceAccountDefaults(p *corev1.Pod) {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return
	}
	if p.Spec.ServiceAccountName == "" {
		p.Spec.ServiceAccountName = p.Spec.DeprecatedServiceAccount
	}
	if p.Spec.ServiceAccountName == "" {
		p.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	p.Spec.DeprecatedServiceAccount = p.Spec.ServiceAccountName
}

// SetPriorityDefaults does what the Priority admission plugin does on a new pod for a cluster
// without PriorityClass objects beyond the two built-in ones: priority 0 and preemptionPolicy
// PreemptLowerPriority when no priorityClassName is given, the built-in value for
// system-cluster-critical and system-node-critical. Like upstream it refuses (403 Forbidden) a
// pod naming an unknown class, or carrying a priority or preemptionPolicy that differs from the
// computed one.
func SetPriorityDefaults(p *corev1.Pod) error {
	var priority int32
	switch p.Spec.PriorityClassName {
	case "":
		priority = 0
	case SystemClusterCritical:
		priority = SystemClusterCriticalPriority
	case SystemNodeCritical:
		priority = SystemNodeCriticalPriority
	default:
		return apierrors.NewForbidden(podsResource, p.Name,
			fmt.Errorf("no PriorityClass with name %v was found", p.Spec.PriorityClassName))
	}
	if p.Spec.Priority != nil && *p.Spec.Priority != priority {
		return apierrors.NewForbidden(podsResource, p.Name, fmt.Errorf(
			"the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name",
			*p.Spec.Priority, priority))
	}
	policy := corev1.PreemptLowerPriority
	if p.Spec.PreemptionPolicy != nil && *p.Spec.PreemptionPolicy != policy {
		return apierrors.NewForbidden(podsResource, p.Name, fmt.Errorf(
			"the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name",
			*p.Spec.PreemptionPolicy, policy))
	}
	p.Spec.Priority = ptr.To(priority)
	p.Spec.PreemptionPolicy = ptr.To(policy)
	return nil
}

// SetDefaultTolerationSeconds does what the DefaultTolerationSeconds admission plugin does on a
// new pod: unless the pod already tolerates them, it tolerates the NoExecute taints
// node.kubernetes.io/not-ready and node.kubernetes.io/unreachable for 300 seconds, which is what
// lets the taint-based eviction of a lost node's pods wait five minutes.
func SetDefaultTolerationSeconds(p *corev1.Pod) {
	SetDefaultTolerationSecondsTo(p, DefaultTolerationSeconds, DefaultTolerationSeconds)
}

// SetDefaultTolerationSecondsTo is SetDefaultTolerationSeconds with other durations, as
// kube-apiserver's --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds set them.
func SetDefaultTolerationSecondsTo(p *corev1.Pod, notReadySeconds, unreachableSeconds int64) {
	var notReady, unreachable bool
	for _, t := range p.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		if noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == "") {
			notReady = true
		}
		if noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == "") {
			unreachable = true
		}
	}
	for _, add := range []struct {
		key       string
		tolerated bool
		seconds   int64
	}{{corev1.TaintNodeNotReady, notReady, notReadySeconds}, {corev1.TaintNodeUnreachable, unreachable, unreachableSeconds}} {
		if add.tolerated {
			continue
		}
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{
			Key:               add.key,
			Operator:          corev1.TolerationOpExists,
			Effect:            corev1.TaintEffectNoExecute,
			TolerationSeconds: ptr.To(add.seconds),
		})
	}
}
