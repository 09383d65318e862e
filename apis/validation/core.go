package validation

import (
	"encoding/json"
	"fmt"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// maxSecretSize bounds the data of a Secret or ConfigMap (1 MiB), as upstream.
const maxSecretSize = corev1.MaxSecretSize

// ValidateNamespace validates a namespace on create.
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMeta(&ns.ObjectMeta, false, validateNamespaceName, field.NewPath("metadata"))
	for i := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateFinalizerName(string(ns.Spec.Finalizers[i]), field.NewPath("spec", "finalizers"))...)
	}
	return allErrs
}

// ValidateNamespaceUpdate validates a namespace update (metadata only: spec is the finalize
// subresource's, status the status subresource's).
func ValidateNamespaceUpdate(newNs, oldNs *corev1.Namespace) field.ErrorList {
	return validateObjectMetaUpdate(&newNs.ObjectMeta, &oldNs.ObjectMeta, field.NewPath("metadata"))
}

// ValidateNamespaceStatusUpdate: the phase follows the deletion timestamp.
func ValidateNamespaceStatusUpdate(newNs, oldNs *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newNs.ObjectMeta, &oldNs.ObjectMeta, field.NewPath("metadata"))
	phasePath := field.NewPath("status", "Phase")
	if newNs.DeletionTimestamp.IsZero() {
		if newNs.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, newNs.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if newNs.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, newNs.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}

// ValidateNamespaceFinalizeUpdate validates a write to namespaces/finalize.
func ValidateNamespaceFinalizeUpdate(newNs, oldNs *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newNs.ObjectMeta, &oldNs.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("spec", "finalizers")
	for i := range newNs.Spec.Finalizers {
		allErrs = append(allErrs, validateFinalizerName(string(newNs.Spec.Finalizers[i]), fldPath.Index(i))...)
	}
	return allErrs
}

const (
	taintsAnnotationKey = "scheduler.alpha.kubernetes.io/taints"
)

func validateNodeSpecificAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	raw := annotations[taintsAnnotationKey]
	if raw == "" {
		return nil
	}
	var taints []corev1.Taint
	if err := json.Unmarshal([]byte(raw), &taints); err != nil {
		return field.ErrorList{field.Invalid(fldPath, taintsAnnotationKey, err.Error())}
	}
	return validateNodeTaints(taints, fldPath.Child(taintsAnnotationKey))
}

// ValidateNode validates a node on create.
func ValidateNode(n *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := validateObjectMeta(&n.ObjectMeta, false, validateNodeName, metaPath)
	allErrs = append(allErrs, validateNodeSpecificAnnotations(n.Annotations, metaPath.Child("annotations"))...)
	if len(n.Spec.Taints) > 0 {
		// Upstream reports spec taints under metadata.taints.
		allErrs = append(allErrs, validateNodeTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	}
	allErrs = append(allErrs, validateNodeResources(n)...)
	if len(n.Spec.PodCIDRs) > 0 {
		cidrsPath := field.NewPath("spec", "podCIDRs")
		for i, value := range n.Spec.PodCIDRs {
			allErrs = append(allErrs, validation.IsValidCIDR(cidrsPath.Index(i), value)...)
		}
		if len(n.Spec.PodCIDRs) > 1 {
			dualStack, err := netutils.IsDualStackCIDRStrings(n.Spec.PodCIDRs)
			if err != nil {
				allErrs = append(allErrs, field.InternalError(cidrsPath, fmt.Errorf("invalid PodCIDRs. failed to check with dual stack with error:%v", err)))
			}
			if !dualStack || len(n.Spec.PodCIDRs) > 2 {
				allErrs = append(allErrs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
			}
			seen := sets.New[string]()
			for i, value := range n.Spec.PodCIDRs {
				if seen.Has(value) {
					allErrs = append(allErrs, field.Duplicate(cidrsPath.Index(i), value))
				}
				seen.Insert(value)
			}
		}
	}
	return allErrs
}

func validateNodeResources(n *corev1.Node) field.ErrorList {
	allErrs := field.ErrorList{}
	for k, v := range n.Status.Capacity {
		allErrs = append(allErrs, validateResourceQuantityValue(k, v, field.NewPath("status", "capacity", string(k)))...)
	}
	for k, v := range n.Status.Allocatable {
		allErrs = append(allErrs, validateResourceQuantityValue(k, v, field.NewPath("status", "allocatable", string(k)))...)
	}
	return allErrs
}

// ValidateNodeUpdate validates a node update (including status writes, as upstream).
func ValidateNodeUpdate(n, oldN *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := validateObjectMetaUpdate(&n.ObjectMeta, &oldN.ObjectMeta, metaPath)
	allErrs = append(allErrs, validateNodeSpecificAnnotations(n.Annotations, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validateNodeResources(n)...)
	addresses := make(map[corev1.NodeAddress]bool)
	for i, address := range n.Status.Addresses {
		if addresses[address] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), address))
		}
		addresses[address] = true
	}
	if len(oldN.Spec.PodCIDRs) > 0 {
		const msg = "node updates may not change podCIDR except from \"\" to valid"
		if len(oldN.Spec.PodCIDRs) != len(n.Spec.PodCIDRs) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
		} else {
			for i, value := range oldN.Spec.PodCIDRs {
				if value != n.Spec.PodCIDRs[i] {
					allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
				}
			}
		}
	}
	if len(oldN.Spec.ProviderID) > 0 && oldN.Spec.ProviderID != n.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if len(n.Spec.Taints) > 0 {
		allErrs = append(allErrs, validateNodeTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	}
	if n.Spec.DoNotUseExternalID != oldN.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return allErrs
}

// ValidateConfigMap validates a configmap: keys, no key in both data and binaryData, total
// size at most 1 MiB.
func ValidateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMeta(&cm.ObjectMeta, true, validateConfigMapName, field.NewPath("metadata"))
	total := 0
	for key, value := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("data").Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			allErrs = append(allErrs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(value)
	}
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		total += len(value)
	}
	if total > maxSecretSize {
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", maxSecretSize))
	}
	return allErrs
}

// ValidateConfigMapUpdate: an immutable configmap keeps its data.
func ValidateConfigMapUpdate(newCM, oldCM *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newCM.ObjectMeta, &oldCM.ObjectMeta, field.NewPath("metadata"))
	if oldCM.Immutable != nil && *oldCM.Immutable {
		const msg = "field is immutable when `immutable` is set"
		if newCM.Immutable == nil || !*newCM.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msg))
		}
		if !reflect.DeepEqual(newCM.Data, oldCM.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msg))
		}
		if !reflect.DeepEqual(newCM.BinaryData, oldCM.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), msg))
		}
	}
	return append(allErrs, ValidateConfigMap(newCM)...)
}

// secretData is the data a Secret will store: stringData merged over data, as upstream's
// conversion does before validation.
func secretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	merged := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		merged[k] = v
	}
	for k, v := range s.StringData {
		merged[k] = []byte(v)
	}
	return merged
}

// ValidateSecret validates keys, size and the rules of the well-known secret types.
func ValidateSecret(s *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMeta(&s.ObjectMeta, true, validateSecretName, field.NewPath("metadata"))
	dataPath := field.NewPath("data")
	data := secretData(s)
	total := 0
	for key, value := range data {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, msg))
		}
		total += len(value)
	}
	if total > maxSecretSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", maxSecretSize))
	}

	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeOpaque, "":
	case corev1.SecretTypeDockercfg:
		allErrs = append(allErrs, validateJSONSecretKey(data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		allErrs = append(allErrs, validateJSONSecretKey(data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPassword := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPassword {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := data[corev1.TLSCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := data[corev1.TLSPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return allErrs
}

func validateJSONSecretKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	raw, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(raw, &map[string]interface{}{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

// ValidateSecretUpdate: the type never changes, an immutable secret keeps its data.
func ValidateSecretUpdate(newS, oldS *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateImmutableField(newS.Type, oldS.Type, field.NewPath("type"))...)
	if oldS.Immutable != nil && *oldS.Immutable {
		const msg = "field is immutable when `immutable` is set"
		if newS.Immutable == nil || !*newS.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msg))
		}
		if !reflect.DeepEqual(secretData(newS), secretData(oldS)) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msg))
		}
	}
	return append(allErrs, ValidateSecret(newS)...)
}

// ValidateServiceAccount validates a service account.
func ValidateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return validateObjectMeta(&sa.ObjectMeta, true, validateServiceAccountName, field.NewPath("metadata"))
}

// ValidateServiceAccountUpdate validates a service account update.
func ValidateServiceAccountUpdate(newSA, oldSA *corev1.ServiceAccount) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newSA.ObjectMeta, &oldSA.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateServiceAccount(newSA)...)
}

// ValidateReplicationController validates a replication controller on create.
func ValidateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMeta(&rc.ObjectMeta, true, validateRCName, field.NewPath("metadata"))
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

// ValidateReplicationControllerUpdate validates a replication controller update.
func ValidateReplicationControllerUpdate(rc, oldRC *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rc.ObjectMeta, &oldRC.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

// ValidateReplicationControllerStatusUpdate validates a write to
// replicationcontrollers/status.
func ValidateReplicationControllerStatusUpdate(rc, oldRC *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rc.ObjectMeta, &oldRC.ObjectMeta, field.NewPath("metadata"))
	s := rc.Status
	return append(allErrs, validateReplicaCounts(replicaCounts{
		replicas: s.Replicas, fullyLabeled: &s.FullyLabeledReplicas, ready: s.ReadyReplicas,
		available: s.AvailableReplicas, observedGeneration: s.ObservedGeneration,
	}, field.NewPath("status"))...)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	if labels.Set(spec.Selector).AsSelector().Empty() {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	}
	allErrs = append(allErrs, validateNonnegativeField(int64(derefInt32(spec.Replicas)), fldPath.Child("replicas"))...)
	tp := fldPath.Child("template")
	if spec.Template == nil {
		return append(allErrs, field.Required(tp, ""))
	}
	selector := labels.Set(spec.Selector).AsSelector()
	if !selector.Empty() && !selector.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	allErrs = append(allErrs, ValidatePodTemplateSpec(spec.Template, tp)...)
	allErrs = append(allErrs, validateControllerTemplatePolicy(&spec.Template.Spec, "ReplicationController", tp.Child("spec"))...)
	return allErrs
}

// validateControllerTemplatePolicy: pods of long-running controllers restart Always and
// have no deadline.
func validateControllerTemplatePolicy(spec *corev1.PodSpec, kind string, specPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("restartPolicy"), spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

// replicaCounts is the status shape shared by RCs, ReplicaSets and Deployments.
type replicaCounts struct {
	replicas           int32
	fullyLabeled       *int32
	updated            *int32
	ready              int32
	available          int32
	unavailable        *int32
	observedGeneration int64
}

func validateReplicaCounts(c replicaCounts, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeField(int64(c.replicas), fldPath.Child("replicas"))
	if c.fullyLabeled != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*c.fullyLabeled), fldPath.Child("fullyLabeledReplicas"))...)
	}
	if c.updated != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*c.updated), fldPath.Child("updatedReplicas"))...)
	}
	allErrs = append(allErrs, validateNonnegativeField(int64(c.ready), fldPath.Child("readyReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(c.available), fldPath.Child("availableReplicas"))...)
	if c.unavailable != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*c.unavailable), fldPath.Child("unavailableReplicas"))...)
	}
	allErrs = append(allErrs, validateNonnegativeField(c.observedGeneration, fldPath.Child("observedGeneration"))...)
	const msg = "cannot be greater than status.replicas"
	if c.fullyLabeled != nil && *c.fullyLabeled > c.replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("fullyLabeledReplicas"), *c.fullyLabeled, msg))
	}
	if c.updated != nil && *c.updated > c.replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("updatedReplicas"), *c.updated, msg))
	}
	if c.ready > c.replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("readyReplicas"), c.ready, msg))
	}
	if c.available > c.replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), c.available, msg))
	}
	if c.available > c.ready {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), c.available, "cannot be greater than readyReplicas"))
	}
	return allErrs
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// ValidateScale validates a scale subresource write.
func ValidateScale(s *autoscalingv1.Scale) field.ErrorList {
	allErrs := validateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if s.Spec.Replicas < 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "replicas"), s.Spec.Replicas, "must be greater than or equal to 0"))
	}
	return allErrs
}
