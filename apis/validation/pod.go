package validation

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// Well-known pod annotations.
const (
	mirrorPodAnnotationKey       = corev1.MirrorPodAnnotationKey
	tolerationsAnnotationKey     = "scheduler.alpha.kubernetes.io/tolerations"
	podDeletionCostAnnotationKey = "controller.kubernetes.io/pod-deletion-cost"
	appArmorAnnotationPrefix     = corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix
)

// updatablePodSpecFields is the list upstream prints when a pod update touches anything else.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// podMetaInfo is set when the spec being validated belongs to a Pod (not a template).
type podMetaInfo struct {
	name string
}

var (
	validOS            = sets.New(corev1.Linux, corev1.Windows)
	supportedPreempt   = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}
	supportedRestart   = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedDNSPolicy = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
)

// ValidatePod validates a pod on create.
func ValidatePod(p *corev1.Pod) field.ErrorList {
	allErrs := validatePodMetadataAndSpec(p)
	specPath := field.NewPath("spec")
	if len(p.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if p.Spec.NodeName != "" && len(p.Spec.SchedulingGates) != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return allErrs
}

// validatePodMetadataAndSpec is what create and update share.
func validatePodMetadataAndSpec(p *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	specPath := field.NewPath("spec")
	allErrs := validateObjectMeta(&p.ObjectMeta, true, validatePodName, metaPath)
	allErrs = append(allErrs, validatePodSpecificAnnotations(p.Annotations, &p.Spec, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpec(&p.Spec, &podMetaInfo{name: p.Name}, specPath)...)
	if p.Spec.ServiceAccountName == "" {
		for vi, vol := range p.Spec.Volumes {
			if vol.Projected == nil {
				continue
			}
			for si, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					allErrs = append(allErrs, field.Forbidden(specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken"),
						"must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	allErrs = append(allErrs, validateContainersOnlyForPod(p.Spec.Containers, specPath.Child("containers"))...)
	allErrs = append(allErrs, validateContainersOnlyForPod(p.Spec.InitContainers, specPath.Child("initContainers"))...)
	return allErrs
}

// ValidatePodTemplateSpec validates the pod template of a workload (or a PodTemplate).
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, validateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpecificAnnotations(t.Annotations, &t.Spec, fldPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpec(&t.Spec, nil, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return allErrs
}

// validatePodSpec validates a pod spec; podMeta is nil for templates.
func validatePodSpec(spec *corev1.PodSpec, podMeta *podMetaInfo, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if spec.TerminationGracePeriodSeconds == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("terminationGracePeriodSeconds"), ""))
	}
	hostUsers := spec.HostUsers == nil || *spec.HostUsers
	vols, vErrs := validateVolumes(spec.Volumes, podMeta, fldPath.Child("volumes"))
	allErrs = append(allErrs, vErrs...)
	claimNames := sets.New[string]()
	allErrs = append(allErrs, validatePodResourceClaims(spec.ResourceClaims, claimNames, fldPath.Child("resourceClaims"))...)
	cc := &containerContext{
		volumes:       vols,
		podClaimNames: claimNames,
		gracePeriod:   spec.TerminationGracePeriodSeconds,
		restartPolicy: spec.RestartPolicy,
		hostUsers:     hostUsers,
	}
	allErrs = append(allErrs, validateContainers(spec.Containers, cc, fldPath.Child("containers"))...)
	allErrs = append(allErrs, validateInitContainers(spec.InitContainers, spec.Containers, cc, fldPath.Child("initContainers"))...)
	allErrs = append(allErrs, validatePodHostNetworkDeps(spec, podMeta != nil, fldPath)...)
	allErrs = append(allErrs, validateRestartPolicy(spec.RestartPolicy, fldPath.Child("restartPolicy"))...)
	allErrs = append(allErrs, validateDNSPolicy(spec.DNSPolicy, fldPath.Child("dnsPolicy"))...)
	allErrs = append(allErrs, metav1validation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	allErrs = append(allErrs, validatePodSecurityContext(spec, fldPath.Child("securityContext"))...)
	allErrs = append(allErrs, validateAffinity(spec.Affinity, fldPath.Child("affinity"))...)
	allErrs = append(allErrs, validatePodDNSConfig(spec.DNSConfig, spec.DNSPolicy, fldPath.Child("dnsConfig"))...)
	for i, g := range spec.ReadinessGates {
		allErrs = append(allErrs, validateQualifiedName(string(g.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	allErrs = append(allErrs, validateSchedulingGates(spec.SchedulingGates, fldPath.Child("schedulingGates"))...)
	allErrs = append(allErrs, validateTopologySpreadConstraints(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	allErrs = append(allErrs, validateHostUsers(spec, fldPath)...)
	if len(spec.ServiceAccountName) > 0 {
		allErrs = append(allErrs, validateNameWith(validateServiceAccountName, spec.ServiceAccountName, fldPath.Child("serviceAccountName"))...)
	}
	if len(spec.NodeName) > 0 {
		allErrs = append(allErrs, validateNameWith(validateNodeName, spec.NodeName, fldPath.Child("nodeName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if len(spec.Hostname) > 0 {
		allErrs = append(allErrs, validateDNS1123Label(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if len(spec.Subdomain) > 0 {
		allErrs = append(allErrs, validateDNS1123Label(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if len(spec.Tolerations) > 0 {
		allErrs = append(allErrs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	}
	for i, alias := range spec.HostAliases {
		p := fldPath.Child("hostAliases").Index(i)
		allErrs = append(allErrs, validation.IsValidIP(p.Child("ip"), alias.IP)...)
		for j, hostname := range alias.Hostnames {
			allErrs = append(allErrs, validateDNS1123Subdomain(hostname, p.Child("hostnames").Index(j))...)
		}
	}
	if len(spec.PriorityClassName) > 0 {
		allErrs = append(allErrs, validateNameWith(validateClassName, spec.PriorityClassName, fldPath.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		allErrs = append(allErrs, validateNameWith(validateClassName, *spec.RuntimeClassName, fldPath.Child("runtimeClassName"))...)
	}
	if spec.PreemptionPolicy != nil {
		switch *spec.PreemptionPolicy {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		case "":
			allErrs = append(allErrs, field.Required(fldPath.Child("preemptionPolicy"), ""))
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("preemptionPolicy"), spec.PreemptionPolicy, supportedPreempt))
		}
	}
	if spec.Overhead != nil {
		allErrs = append(allErrs, validateContainerResourceRequirements(&corev1.ResourceRequirements{Limits: spec.Overhead}, nil, fldPath.Child("overhead"))...)
	}
	if spec.OS != nil {
		allErrs = append(allErrs, validateOS(spec, fldPath)...)
	}
	return allErrs
}

func validateRestartPolicy(policy corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	switch policy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath, policy, supportedRestart)}
	}
}

func validateDNSPolicy(policy corev1.DNSPolicy, fldPath *field.Path) field.ErrorList {
	switch policy {
	case corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath, policy, supportedDNSPolicy)}
	}
}

// validatePodHostNetworkDeps: with hostNetwork a pod's hostPort must equal its
// containerPort; a template may leave hostPort 0 (it is defaulted on the pod).
func validatePodHostNetworkDeps(spec *corev1.PodSpec, isPod bool, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if !spec.HostNetwork {
		return allErrs
	}
	for i, ctr := range spec.Containers {
		for j, port := range ctr.Ports {
			if hp, cp := port.HostPort, port.ContainerPort; (isPod || hp != 0) && hp != cp {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"),
					port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
	}
	return allErrs
}

func validateSchedulingGates(gates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	seen := sets.New[string]()
	for i, g := range gates {
		allErrs = append(allErrs, validateQualifiedName(g.Name, fldPath.Index(i))...)
		if seen.Has(g.Name) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), g.Name))
		}
		seen.Insert(g.Name)
	}
	return allErrs
}

// validatePodResourceClaims checks spec.resourceClaims and collects their names.
func validatePodResourceClaims(claims []corev1.PodResourceClaim, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for i, claim := range claims {
		p := fldPath.Index(i)
		switch {
		case claim.Name == "":
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		case names.Has(claim.Name):
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), claim.Name))
		default:
			allErrs = append(allErrs, validateDNS1123Label(claim.Name, p.Child("name"))...)
			names.Insert(claim.Name)
		}
		if claim.ResourceClaimName != nil && claim.ResourceClaimTemplateName != nil {
			allErrs = append(allErrs, field.Invalid(p, claim, "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
		}
		if claim.ResourceClaimName == nil && claim.ResourceClaimTemplateName == nil {
			allErrs = append(allErrs, field.Invalid(p, claim, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
		}
		if claim.ResourceClaimName != nil {
			allErrs = append(allErrs, validateNameWith(validateClassName, *claim.ResourceClaimName, p.Child("resourceClaimName"))...)
		}
		if claim.ResourceClaimTemplateName != nil {
			allErrs = append(allErrs, validateNameWith(validateClassName, *claim.ResourceClaimTemplateName, p.Child("resourceClaimTemplateName"))...)
		}
	}
	return allErrs
}

func validateOS(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	osPath := fldPath.Child("os")
	if len(spec.OS.Name) == 0 {
		return field.ErrorList{field.Required(osPath.Child("name"), "cannot be empty")}
	}
	if !validOS.Has(spec.OS.Name) {
		return field.ErrorList{field.NotSupported(osPath, spec.OS.Name, sets.List(validOS))}
	}
	allErrs := field.ErrorList{}
	if spec.OS.Name == corev1.Linux {
		if spec.SecurityContext != nil && spec.SecurityContext.WindowsOptions != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("securityContext").Child("windowsOptions"), "windows options cannot be set for a linux pod"))
		}
		visit := func(ctrs []corev1.Container, p *field.Path) {
			for i, c := range ctrs {
				if c.SecurityContext != nil && c.SecurityContext.WindowsOptions != nil {
					allErrs = append(allErrs, field.Forbidden(p.Index(i).Child("securityContext", "windowsOptions"), "windows options cannot be set for a linux pod"))
				}
			}
		}
		visit(spec.InitContainers, fldPath.Child("initContainers"))
		visit(spec.Containers, fldPath.Child("containers"))
	}
	return allErrs
}

func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for k := range annotations {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			allErrs = append(allErrs, field.Invalid(fldPath, k, msg))
		}
	}
	var total int64
	for k, v := range annotations {
		total += int64(len(k)) + int64(len(v))
	}
	const totalAnnotationSizeLimitB = 256 * (1 << 10)
	if total > totalAnnotationSizeLimitB {
		allErrs = append(allErrs, field.TooLong(fldPath, "", totalAnnotationSizeLimitB))
	}
	return allErrs
}

// validatePodSpecificAnnotations checks the annotations the kubelet and scheduler read.
func validatePodSpecificAnnotations(annotations map[string]string, spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if value, isMirror := annotations[mirrorPodAnnotationKey]; isMirror && len(spec.NodeName) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Key(mirrorPodAnnotationKey), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if raw := annotations[tolerationsAnnotationKey]; raw != "" {
		var tolerations []corev1.Toleration
		if err := json.Unmarshal([]byte(raw), &tolerations); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, tolerationsAnnotationKey, err.Error()))
		} else if len(tolerations) > 0 {
			allErrs = append(allErrs, validateTolerations(tolerations, fldPath.Child(tolerationsAnnotationKey))...)
		}
	}
	if value, ok := annotations[podDeletionCostAnnotationKey]; ok {
		if !validDeletionCost(value) {
			allErrs = append(allErrs, field.Invalid(fldPath.Key(podDeletionCostAnnotationKey), value, "must be a 32bit integer"))
		}
	}
	for k, v := range annotations {
		switch {
		case k == corev1.SeccompPodAnnotationKey, strings.HasPrefix(k, corev1.SeccompContainerAnnotationKeyPrefix):
			allErrs = append(allErrs, validateSeccompProfileAnnotation(v, fldPath.Child(k))...)
		case strings.HasPrefix(k, appArmorAnnotationPrefix):
			name := strings.TrimPrefix(k, appArmorAnnotationPrefix)
			if !podSpecHasContainer(spec, name) {
				allErrs = append(allErrs, field.Invalid(fldPath.Key(k), name, "container not found"))
			}
			if v != "" && v != corev1.DeprecatedAppArmorBetaProfileRuntimeDefault && v != corev1.DeprecatedAppArmorBetaProfileNameUnconfined &&
				!strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
				allErrs = append(allErrs, field.Invalid(fldPath.Key(k), v, fmt.Sprintf("invalid AppArmor profile name: %q", v)))
			}
		}
	}
	return allErrs
}

// validDeletionCost: an int32 without a plus sign or leading zeros.
func validDeletionCost(value string) bool {
	if len(value) == 0 {
		return false
	}
	if !(value[0] == '-' || value == "0" || (value[0] >= '1' && value[0] <= '9')) {
		return false
	}
	_, err := strconv.ParseInt(value, 10, 32)
	return err == nil
}

func validateSeccompProfileAnnotation(p string, fldPath *field.Path) field.ErrorList {
	switch {
	case p == corev1.SeccompProfileRuntimeDefault, p == corev1.DeprecatedSeccompProfileDockerDefault, p == corev1.SeccompProfileNameUnconfined:
		return nil
	case strings.HasPrefix(p, corev1.SeccompLocalhostProfileNamePrefix):
		return validateLocalDescendingPath(strings.TrimPrefix(p, corev1.SeccompLocalhostProfileNamePrefix), fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, p, "must be a valid seccomp profile")}
	}
}

func podSpecHasContainer(spec *corev1.PodSpec, name string) bool {
	for _, c := range spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// validatePodSpecificAnnotationUpdates: the mirror pod and AppArmor annotations are
// fixed once the pod exists.
func validatePodSpecificAnnotationUpdates(newPod, oldPod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for k, oldVal := range oldPod.Annotations {
		if newVal, ok := newPod.Annotations[k]; ok && newVal == oldVal {
			continue
		}
		if strings.HasPrefix(k, appArmorAnnotationPrefix) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not remove or update AppArmor annotations"))
		}
		if k == mirrorPodAnnotationKey {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not remove or update mirror pod annotation"))
		}
	}
	for k := range newPod.Annotations {
		if _, ok := oldPod.Annotations[k]; ok {
			continue
		}
		if strings.HasPrefix(k, appArmorAnnotationPrefix) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not add AppArmor annotations"))
		}
		if k == mirrorPodAnnotationKey {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not add mirror pod annotation"))
		}
	}
	return append(allErrs, validatePodSpecificAnnotations(newPod.Annotations, &newPod.Spec, fldPath)...)
}

func validateContainerUpdates(newContainers, oldContainers []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	allErrs := field.ErrorList{}
	if len(newContainers) != len(oldContainers) {
		return append(allErrs, field.Forbidden(fldPath, "pod updates may not add or remove containers")), true
	}
	for i, ctr := range newContainers {
		if len(ctr.Image) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
		if len(strings.TrimSpace(ctr.Image)) != len(ctr.Image) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("image"), ctr.Image, "must not have leading or trailing whitespace"))
		}
	}
	return allErrs, false
}

// ValidatePodUpdate validates a pod update: the spec is immutable except container images,
// activeDeadlineSeconds (set, or lowered), added tolerations, removed scheduling gates,
// nodeSelector additions on a gated pod, and a negative grace period raised to 1.
func ValidatePodUpdate(newP, oldP *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	specPath := field.NewPath("spec")
	allErrs := validateObjectMetaUpdate(&newP.ObjectMeta, &oldP.ObjectMeta, metaPath)
	allErrs = append(allErrs, validatePodMetadataAndSpec(newP)...)
	allErrs = append(allErrs, validatePodSpecificAnnotationUpdates(newP, oldP, metaPath.Child("annotations"))...)

	errs, stop := validateContainerUpdates(newP.Spec.Containers, oldP.Spec.Containers, specPath.Child("containers"))
	allErrs = append(allErrs, errs...)
	if stop {
		return allErrs
	}
	errs, stop = validateContainerUpdates(newP.Spec.InitContainers, oldP.Spec.InitContainers, specPath.Child("initContainers"))
	allErrs = append(allErrs, errs...)
	if stop {
		return allErrs
	}

	adsPath := specPath.Child("activeDeadlineSeconds")
	if newP.Spec.ActiveDeadlineSeconds != nil {
		newADS := *newP.Spec.ActiveDeadlineSeconds
		if newADS < 0 || newADS > math.MaxInt32 {
			return append(allErrs, field.Invalid(adsPath, newADS, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if oldP.Spec.ActiveDeadlineSeconds != nil && *oldP.Spec.ActiveDeadlineSeconds < newADS {
			return append(allErrs, field.Invalid(adsPath, newADS, "must be less than or equal to previous value"))
		}
	} else if oldP.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(adsPath, newP.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	allErrs = append(allErrs, validateOnlyAddedTolerations(newP.Spec.Tolerations, oldP.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(newP.Spec.SchedulingGates, oldP.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if apiequality.Semantic.DeepEqual(newP.Spec, oldP.Spec) {
		return allErrs
	}

	// Copy the allowed changes from the new spec onto the old one's values, then compare.
	munged := *newP.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldP.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldP.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = nil
	if oldP.Spec.ActiveDeadlineSeconds != nil {
		v := *oldP.Spec.ActiveDeadlineSeconds
		munged.ActiveDeadlineSeconds = &v
	}
	munged.SchedulingGates = oldP.Spec.SchedulingGates
	munged.Tolerations = oldP.Spec.Tolerations
	if old := oldP.Spec.TerminationGracePeriodSeconds; old != nil && *old < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old
	}
	if len(oldP.Spec.SchedulingGates) > 0 && !apiequality.Semantic.DeepEqual(munged.NodeSelector, oldP.Spec.NodeSelector) {
		allErrs = append(allErrs, validateNodeSelectorMutation(specPath.Child("nodeSelector"), munged.NodeSelector, oldP.Spec.NodeSelector)...)
		munged.NodeSelector = oldP.Spec.NodeSelector
	}

	if !apiequality.Semantic.DeepEqual(munged, oldP.Spec) {
		// apimachinery's diff (JSON, unified) rather than go-cmp's: cmp.Diff looks methods up
		// by reflection, which keeps the linker from dropping any unused exported method and
		// costs the binary a third of its code and ~10 MiB of resident memory.
		specDiff := diff.Diff(oldP.Spec, munged)
		allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), specDiff)))
	}
	return allErrs
}

func validateOnlyDeletedSchedulingGates(newGates, oldGates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	old := sets.New[string]()
	for _, g := range oldGates {
		old.Insert(g.Name)
	}
	for i, g := range newGates {
		if !old.Has(g.Name) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}

func validateNodeSelectorMutation(fldPath *field.Path, newSelector, oldSelector map[string]string) field.ErrorList {
	for k, v := range oldSelector {
		if nv, ok := newSelector[k]; !ok || nv != v {
			return field.ErrorList{field.Invalid(fldPath, newSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)")}
		}
	}
	return nil
}

// ValidatePodStatusUpdate validates a write to pods/status. That the spec is unchanged is
// the strategy's business (it copies the old spec over).
func ValidatePodStatusUpdate(newP, oldP *corev1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := validateObjectMetaUpdate(&newP.ObjectMeta, &oldP.ObjectMeta, metaPath)
	allErrs = append(allErrs, validatePodSpecificAnnotationUpdates(newP, oldP, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodConditions(newP.Status.Conditions, metaPath.Child("conditions"))...)

	statusPath := field.NewPath("status")
	if newP.Spec.NodeName != oldP.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if newP.Status.NominatedNodeName != oldP.Status.NominatedNodeName && len(newP.Status.NominatedNodeName) > 0 {
		allErrs = append(allErrs, validateNameWith(validateNodeName, newP.Status.NominatedNodeName, statusPath.Child("nominatedNodeName"))...)
	}
	allErrs = append(allErrs, validateImmutableField(newP.Status.QOSClass, oldP.Status.QOSClass, statusPath.Child("qosClass"))...)
	allErrs = append(allErrs, validateContainerStateTransition(newP.Status.ContainerStatuses, oldP.Status.ContainerStatuses, statusPath.Child("containerStatuses"), oldP.Spec.RestartPolicy, nil)...)
	allErrs = append(allErrs, validateContainerStateTransition(newP.Status.InitContainerStatuses, oldP.Status.InitContainerStatuses, statusPath.Child("initContainerStatuses"), oldP.Spec.RestartPolicy, oldP.Spec.InitContainers)...)
	allErrs = append(allErrs, validateContainerStateTransition(newP.Status.EphemeralContainerStatuses, oldP.Status.EphemeralContainerStatuses, statusPath.Child("ephemeralContainerStatuses"), corev1.RestartPolicyNever, nil)...)
	allErrs = append(allErrs, validatePodIPs(newP, statusPath)...)
	allErrs = append(allErrs, validateHostIPs(newP, statusPath)...)
	return allErrs
}

var systemPodConditions = sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)

func validatePodConditions(conditions []corev1.PodCondition, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for i, c := range conditions {
		if systemPodConditions.Has(c.Type) {
			continue
		}
		allErrs = append(allErrs, validateQualifiedName(string(c.Type), fldPath.Index(i).Child("Type"))...)
	}
	return allErrs
}

// validateContainerStateTransition: a terminated container of a pod that will not restart
// it may not come back. initContainers, when given, exempts restartable (sidecar) ones.
func validateContainerStateTransition(newStatuses, oldStatuses []corev1.ContainerStatus, fldPath *field.Path, restartPolicy corev1.RestartPolicy, initContainers []corev1.Container) field.ErrorList {
	allErrs := field.ErrorList{}
	if restartPolicy == corev1.RestartPolicyAlways {
		return allErrs
	}
	for i, oldStatus := range oldStatuses {
		if oldStatus.State.Terminated == nil {
			continue
		}
		if oldStatus.State.Terminated.ExitCode != 0 && restartPolicy == corev1.RestartPolicyOnFailure {
			continue
		}
		restartable := false
		for _, c := range initContainers {
			if c.Name == oldStatus.Name {
				restartable = c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
				break
			}
		}
		if restartable {
			continue
		}
		for _, newStatus := range newStatuses {
			if oldStatus.Name == newStatus.Name && newStatus.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

func validatePodIPs(p *corev1.Pod, statusPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	ipsPath := statusPath.Child("podIPs")
	for i, ip := range p.Status.PodIPs {
		allErrs = append(allErrs, validation.IsValidIP(ipsPath.Index(i), ip.IP)...)
	}
	if len(p.Status.PodIPs) > 1 {
		allErrs = append(allErrs, validateDualStackIPs(p.Status.PodIPs, ipsPath)...)
	}
	return allErrs
}

func validateHostIPs(p *corev1.Pod, statusPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(p.Status.HostIPs) == 0 {
		return allErrs
	}
	ipsPath := statusPath.Child("hostIPs")
	if p.Status.HostIP != p.Status.HostIPs[0].IP {
		allErrs = append(allErrs, field.Invalid(ipsPath.Index(0).Child("ip"), p.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	for i, ip := range p.Status.HostIPs {
		allErrs = append(allErrs, validation.IsValidIP(ipsPath.Index(i), ip.IP)...)
	}
	if len(p.Status.HostIPs) > 1 {
		hostIPs := make([]corev1.PodIP, 0, len(p.Status.HostIPs))
		for _, h := range p.Status.HostIPs {
			hostIPs = append(hostIPs, corev1.PodIP(h))
		}
		allErrs = append(allErrs, validateDualStackIPs(hostIPs, ipsPath)...)
	}
	return allErrs
}

// validateDualStackIPs: at most one IP per family, no duplicates.
func validateDualStackIPs(ips []corev1.PodIP, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	strs := make([]string, 0, len(ips))
	seen := sets.New[string]()
	for i, ip := range ips {
		strs = append(strs, ip.IP)
		if seen.Has(ip.IP) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen.Insert(ip.IP)
	}
	dualStack, err := netutils.IsDualStackIPStrings(strs)
	if err != nil {
		allErrs = append(allErrs, field.InternalError(fldPath, fmt.Errorf("failed to check for dual stack with error:%v", err)))
	}
	if !dualStack || len(strs) > 2 {
		allErrs = append(allErrs, field.Invalid(fldPath, ips, "may specify no more than one IP for each IP family"))
	}
	return allErrs
}

// ValidatePodBinding validates a pods/binding request.
func ValidatePodBinding(b *corev1.Binding) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(b.Target.Kind) != 0 && b.Target.Kind != "Node" {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if len(b.Target.Name) == 0 {
		allErrs = append(allErrs, field.Required(field.NewPath("target", "name"), ""))
	}
	return allErrs
}
