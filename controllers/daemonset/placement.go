package daemonset

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Labels and annotations on daemon pods, as upstream.
const (
	// TemplateGenerationAnnotation is the DaemonSet annotation upstream's API server keeps at the
	// template's generation; PodTemplateGenerationLabel carries it to the pods.
	TemplateGenerationAnnotation = apps.DeprecatedTemplateGeneration
	PodTemplateGenerationLabel   = "pod-template-generation"
	// HashLabel is the label with the hash of the template a pod was made from.
	HashLabel = apps.DefaultDaemonSetUniqueLabelKey
)

// DefaultTolerations are the tolerations upstream adds to every daemon pod: daemons keep
// running on not-ready and unreachable nodes and are placed on nodes under pressure and on
// cordoned nodes. NetworkUnavailableToleration is added for hostNetwork pods only.
var (
	DefaultTolerations = []v1.Toleration{
		{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
		{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
		{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodePIDPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	}
	NetworkUnavailableToleration = v1.Toleration{Key: v1.TaintNodeNetworkUnavailable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
)

// AddDaemonTolerations adds DefaultTolerations (and NetworkUnavailableToleration for
// hostNetwork pods) to spec. A toleration of the same key, operator, value and effect is
// replaced by the default one, as upstream's AddOrUpdateTolerationInPodSpec does.
func AddDaemonTolerations(spec *v1.PodSpec) {
	for i := range DefaultTolerations {
		addOrUpdateToleration(spec, DefaultTolerations[i])
	}
	if spec.HostNetwork {
		addOrUpdateToleration(spec, NetworkUnavailableToleration)
	}
}

func addOrUpdateToleration(spec *v1.PodSpec, t v1.Toleration) {
	out := make([]v1.Toleration, 0, len(spec.Tolerations)+1)
	replaced := false
	for i := range spec.Tolerations {
		if t.MatchToleration(&spec.Tolerations[i]) {
			if apiequality.Semantic.DeepEqual(t, spec.Tolerations[i]) {
				return
			}
			out = append(out, t)
			replaced = true
			continue
		}
		out = append(out, spec.Tolerations[i])
	}
	if !replaced {
		out = append(out, t)
	}
	spec.Tolerations = out
}

// NodeShouldRunDaemonPod reports whether ds should run a pod on node (shouldRun) and
// whether a daemon pod already there may stay (shouldContinueRunning): the node must match
// the template's nodeName, nodeSelector and required node affinity; a NoSchedule or NoExecute
// taint the pod (with the default tolerations) does not tolerate stops new pods, and only an
// untolerated NoExecute taint evicts running ones.
func NodeShouldRunDaemonPod(node *v1.Node, ds *apps.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	if name := ds.Spec.Template.Spec.NodeName; name != "" && name != node.Name {
		return false, false
	}
	pod := newPod(ds, node.Name)
	// Parse errors count as no match, as upstream ignores them.
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return false, false
	}
	logger := klog.Background()
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *v1.Taint) bool {
		return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
	}, false); !untolerated {
		return true, true
	}
	_, untoleratedNoExecute := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, func(t *v1.Taint) bool {
		return t.Effect == v1.TaintEffectNoExecute
	}, false)
	return false, !untoleratedNoExecute
}

// newPod is the pod ds would run on nodeName, for placement checks.
func newPod(ds *apps.DaemonSet, nodeName string) *v1.Pod {
	pod := &v1.Pod{ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(), Spec: *ds.Spec.Template.Spec.DeepCopy()}
	pod.Namespace = ds.Namespace
	pod.Spec.NodeName = nodeName
	AddDaemonTolerations(&pod.Spec)
	return pod
}

// SetNodeAffinity returns affinity with its required node affinity replaced by the single
// term "metadata.name In [nodeName]", which binds the pod to nodeName through the scheduler.
// The other requirements of the template were already checked against the node.
func SetNodeAffinity(affinity *v1.Affinity, nodeName string) *v1.Affinity {
	req := v1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{nodeName}}
	terms := []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{req}}}
	if affinity == nil {
		affinity = &v1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &v1.NodeAffinity{}
	}
	if affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = terms
	return affinity
}

// TargetNodeName is the node a daemon pod is for: its spec.nodeName once bound, else the
// node named by its matchFields metadata.name requirement.
func TargetNodeName(pod *v1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("no spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution for pod %s/%s", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == metav1.ObjectNameField && req.Operator == v1.NodeSelectorOpIn {
				if len(req.Values) != 1 {
					return "", fmt.Errorf("the matchFields value of %s should have exactly one node name, pod %s/%s", metav1.ObjectNameField, pod.Namespace, pod.Name)
				}
				return req.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("no node name found for pod %s/%s", pod.Namespace, pod.Name)
}

// TemplateHash is the value of HashLabel for a template: the FNV-32a hash of its JSON form
// (and the collision count, if any), encoded as upstream encodes its hashes.
func TemplateHash(template *v1.PodTemplateSpec, collisionCount *int32) (string, error) {
	data, err := json.Marshal(template)
	if err != nil {
		return "", fmt.Errorf("hashing pod template: %w", err)
	}
	h := fnv.New32a()
	_, _ = h.Write(data)
	if collisionCount != nil {
		_, _ = h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10)), nil
}

// templateGeneration is the DaemonSet's TemplateGenerationAnnotation, if set and valid.
func templateGeneration(ds *apps.DaemonSet) *int64 {
	v, ok := ds.Annotations[TemplateGenerationAnnotation]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// podTemplate is the template of ds's new pods: its own, labelled with the template
// generation and hash, with the default daemon tolerations.
func podTemplate(ds *apps.DaemonSet, hash string) *v1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	AddDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if g := templateGeneration(ds); g != nil {
		t.Labels[PodTemplateGenerationLabel] = strconv.FormatInt(*g, 10)
	}
	if hash != "" {
		t.Labels[HashLabel] = hash
	}
	return t
}

// isPodUpdated reports whether pod was made from ds's current template.
func isPodUpdated(pod *v1.Pod, hash string, generation *int64) bool {
	if generation != nil && pod.Labels[PodTemplateGenerationLabel] == strconv.FormatInt(*generation, 10) {
		return true
	}
	return hash != "" && pod.Labels[HashLabel] == hash
}

// allowsSurge reports whether a rolling update may run two pods on a node.
func allowsSurge(ds *apps.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// surgeCount is maxSurge scaled to numberToSchedule (rounded up).
func surgeCount(ds *apps.DaemonSet, numberToSchedule int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != apps.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, numberToSchedule, true)
	if err != nil {
		return 0, fmt.Errorf("invalid maxSurge: %w", err)
	}
	return n, nil
}

// unavailableCount is maxUnavailable scaled to numberToSchedule (rounded up).
func unavailableCount(ds *apps.DaemonSet, numberToSchedule int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != apps.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 0, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, numberToSchedule, true)
	if err != nil {
		return 0, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	return n, nil
}
