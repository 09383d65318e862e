package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const selectorMismatch = "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"

func TestValidateDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		wants  []want
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}},
		{name: "valid Recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "valid integer maxSurge with zero maxUnavailable", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}},
		{name: "name invalid", mutate: func(d *appsv1.Deployment) { d.Name = "Example" },
			wants: []want{inv("metadata.name").withPrefix(`metadata.name: Invalid value: "Example": a lowercase RFC 1123 subdomain must consist of`)}},
		{name: "selector missing", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			wants: []want{req("spec.selector").withMsg("spec.selector: Required value")}},
		{name: "selector empty", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			wants: []want{inv("spec.selector").withMsg("spec.selector: Invalid value: {}: empty selector is invalid for deployment")}},
		{name: "selector bad operator", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}
		}, wants: []want{inv("spec.selector.matchExpressions[0].operator")}},
		{name: "selector does not match template", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, wants: []want{inv("spec.template.metadata.labels").withMsg(selectorMismatch)}},
		{name: "template restartPolicy must be Always", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, wants: []want{unsup("spec.template.spec.restartPolicy").withMsg(`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`)}},
		{name: "template activeDeadlineSeconds forbidden", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
		}, wants: []want{forb("spec.template.spec.activeDeadlineSeconds").withMsg("spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported")}},
		{name: "template image required", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			wants: []want{req("spec.template.spec.containers[0].image").withMsg("spec.template.spec.containers[0].image: Required value")}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) },
			wants: []want{inv("spec.replicas").withMsg("spec.replicas: Invalid value: -1: must be greater than or equal to 0")}},
		{name: "strategy type unsupported", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, wants: []want{unsup("spec.strategy").withMsg(`spec.strategy: Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"`)}},
		{name: "Recreate with rollingUpdate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, wants: []want{forb("spec.strategy.rollingUpdate").withMsg("spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'")}},
		{name: "RollingUpdate without parameters", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate = nil },
			wants: []want{req("spec.strategy.rollingUpdate")}},
		{name: "maxSurge and maxUnavailable both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("0%"))
		}, wants: []want{inv("spec.strategy.rollingUpdate.maxUnavailable").withMsg("spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0")}},
		{name: "maxUnavailable over 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		}, wants: []want{inv("spec.strategy.rollingUpdate.maxUnavailable").withMsg(`spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%`)}},
		{name: "maxSurge not a percentage", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("half"))
		}, wants: []want{inv("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "negative maxSurge", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-1))
		}, wants: []want{inv("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "progressDeadlineSeconds not above minReadySeconds", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, wants: []want{inv("spec.progressDeadlineSeconds").withMsg("spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds")}},
		{name: "negative revisionHistoryLimit", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			wants: []want{inv("spec.revisionHistoryLimit")}},
		{name: "negative minReadySeconds", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 },
			wants: []want{inv("spec.minReadySeconds")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			expectErrs(t, ValidateDeployment(d), tc.wants...)
		})
	}
}

func TestValidateDeploymentUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		wants  []want
	}{
		{name: "scale and new image", mutate: func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](1)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.27"
		}},
		{name: "selector immutable", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example", "v": "2"}}
			d.Spec.Template.Labels = map[string]string{"app": "example", "v": "2"}
		}, wants: []want{inv("spec.selector").withMsg(`spec.selector: Invalid value: {"matchLabels":{"app":"example","v":"2"}}: field is immutable`)}},
		{name: "spec still validated", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-3) },
			wants: []want{inv("spec.replicas")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validDeployment()
			d := old.DeepCopy()
			tc.mutate(d)
			expectErrs(t, ValidateDeploymentUpdate(d, old), tc.wants...)
		})
	}
}

func TestValidateDeploymentStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		wants  []want
	}{
		{name: "valid", mutate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 5, UpdatedReplicas: 5, ReadyReplicas: 4, AvailableReplicas: 4, UnavailableReplicas: 1, CollisionCount: ptr.To[int32](3)}
		}},
		{name: "ready above replicas", mutate: func(d *appsv1.Deployment) { d.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2} },
			wants: []want{inv("status.readyReplicas").withMsg("status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas")}},
		{name: "available above ready", mutate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2}
		}, wants: []want{inv("status.availableReplicas").withMsg("status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas")}},
		{name: "negative unavailable", mutate: func(d *appsv1.Deployment) { d.Status.UnavailableReplicas = -1 },
			wants: []want{inv("status.unavailableReplicas")}},
		{name: "collisionCount decremented", mutate: func(d *appsv1.Deployment) { d.Status.CollisionCount = ptr.To[int32](1) },
			wants: []want{inv("status.collisionCount").withMsg("status.collisionCount: Invalid value: 1: cannot be decremented")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validDeployment()
			old.Status.CollisionCount = ptr.To[int32](2)
			d := old.DeepCopy()
			d.Status.CollisionCount = ptr.To[int32](2)
			tc.mutate(d)
			expectErrs(t, ValidateDeploymentStatusUpdate(d, old), tc.wants...)
		})
	}
}

func TestValidateReplicaSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(rs *appsv1.ReplicaSet)
		wants  []want
	}{
		{name: "valid", mutate: func(*appsv1.ReplicaSet) {}},
		{name: "selector missing", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil },
			wants: []want{req("spec.selector")}},
		{name: "selector empty", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} },
			wants: []want{inv("spec.selector")}},
		{name: "selector does not match template", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Labels = map[string]string{"app": "other"}
		}, wants: []want{inv("spec.template.metadata.labels").withMsg(selectorMismatch)}},
		{name: "restartPolicy OnFailure", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, wants: []want{unsup("spec.template.spec.restartPolicy")}},
		{name: "negative replicas", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-2) },
			wants: []want{inv("spec.replicas")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := validReplicaSet()
			tc.mutate(rs)
			expectErrs(t, ValidateReplicaSet(rs), tc.wants...)
		})
	}
}

func TestValidateReplicaSetUpdateAndStatus(t *testing.T) {
	old := validReplicaSet()
	rs := old.DeepCopy()
	rs.Spec.Replicas = ptr.To[int32](0)
	expectErrs(t, ValidateReplicaSetUpdate(rs, old))

	rs = old.DeepCopy()
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example", "pod-template-hash": "x"}}
	rs.Spec.Template.Labels = map[string]string{"app": "example", "pod-template-hash": "x"}
	expectErrs(t, ValidateReplicaSetUpdate(rs, old), inv("spec.selector"))

	rs = old.DeepCopy()
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: 2}
	expectErrs(t, ValidateReplicaSetStatusUpdate(rs, old))

	rs.Status.FullyLabeledReplicas = 4
	expectErrs(t, ValidateReplicaSetStatusUpdate(rs, old),
		inv("status.fullyLabeledReplicas").withMsg("status.fullyLabeledReplicas: Invalid value: 4: cannot be greater than status.replicas"))
}

func TestValidateDaemonSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ds *appsv1.DaemonSet)
		wants  []want
	}{
		{name: "valid", mutate: func(*appsv1.DaemonSet) {}},
		{name: "valid OnDelete", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}},
		{name: "selector missing never matches", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			wants: []want{inv("spec.template.metadata.labels")}},
		{name: "selector empty", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			wants: []want{inv("spec.selector").withMsg("spec.selector: Invalid value: {}: empty selector is invalid for daemonset")}},
		{name: "selector does not match template", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Labels = map[string]string{"app": "other"}
		}, wants: []want{inv("spec.template.metadata.labels").withMsg(selectorMismatch)}},
		{name: "restartPolicy Never", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, wants: []want{unsup("spec.template.spec.restartPolicy")}},
		{name: "activeDeadlineSeconds", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
		}, wants: []want{forb("spec.template.spec.activeDeadlineSeconds").withMsg("spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported")}},
		{name: "strategy type unsupported", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: "Never"}
		}, wants: []want{unsup("spec.updateStrategy").withMsg(`spec.updateStrategy: Unsupported value: {"type":"Never"}: supported values: "RollingUpdate", "OnDelete"`)}},
		{name: "rolling update without parameters", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil },
			wants: []want{req("spec.updateStrategy.rollingUpdate")}},
		{name: "both maxSurge and maxUnavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}, wants: []want{inv("spec.updateStrategy.rollingUpdate.maxSurge").withMsg("spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero")}},
		{name: "neither maxSurge nor maxUnavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, wants: []want{req("spec.updateStrategy.rollingUpdate.maxUnavailable").withMsg("spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0")}},
		{name: "maxSurge over 100%", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("101%"))
		}, wants: []want{inv("spec.updateStrategy.rollingUpdate.maxSurge")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := validDaemonSet()
			tc.mutate(ds)
			expectErrs(t, ValidateDaemonSet(ds), tc.wants...)
		})
	}
}

func TestValidateDaemonSetUpdateAndStatus(t *testing.T) {
	old := validDaemonSet()
	ds := old.DeepCopy()
	ds.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	expectErrs(t, ValidateDaemonSetUpdate(ds, old))

	ds = old.DeepCopy()
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example", "x": "y"}}
	ds.Spec.Template.Labels = map[string]string{"app": "example", "x": "y"}
	expectErrs(t, ValidateDaemonSetUpdate(ds, old), inv("spec.selector"))

	ds = old.DeepCopy()
	ds.Status = appsv1.DaemonSetStatus{CurrentNumberScheduled: 1, DesiredNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1}
	expectErrs(t, ValidateDaemonSetStatusUpdate(ds, old))
	ds.Status.NumberMisscheduled = -1
	expectErrs(t, ValidateDaemonSetStatusUpdate(ds, old), inv("status.numberMisscheduled"))
}

func TestValidateReplicationController(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(rc *corev1.ReplicationController)
		wants  []want
	}{
		{name: "valid", mutate: func(*corev1.ReplicationController) {}},
		{name: "selector empty", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil },
			wants: []want{req("spec.selector").withMsg("spec.selector: Required value")}},
		{name: "template missing", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil },
			wants: []want{req("spec.template")}},
		{name: "selector does not match template", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Labels = map[string]string{"app": "other"}
		}, wants: []want{inv("spec.template.metadata.labels").withMsg(selectorMismatch)}},
		{name: "restartPolicy OnFailure", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, wants: []want{unsup("spec.template.spec.restartPolicy").withMsg(`spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`)}},
		{name: "negative replicas", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To[int32](-1) },
			wants: []want{inv("spec.replicas")}},
		{name: "activeDeadlineSeconds", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](5)
		}, wants: []want{forb("spec.template.spec.activeDeadlineSeconds")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := validRC()
			tc.mutate(rc)
			expectErrs(t, ValidateReplicationController(rc), tc.wants...)
		})
	}
}

func TestValidateReplicationControllerUpdateAndStatus(t *testing.T) {
	old := validRC()
	rc := old.DeepCopy()
	// The RC selector is not immutable (core/v1 never made it so).
	rc.Spec.Selector = map[string]string{"app": "example"}
	rc.Spec.Replicas = ptr.To[int32](0)
	expectErrs(t, ValidateReplicationControllerUpdate(rc, old))
	rc.Spec.Template.Spec.Containers = nil
	expectErrs(t, ValidateReplicationControllerUpdate(rc, old), req("spec.template.spec.containers"))

	rc = old.DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 3}
	expectErrs(t, ValidateReplicationControllerStatusUpdate(rc, old), inv("status.readyReplicas"))
}
