package validation

import (
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateNamespace(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ns *corev1.Namespace)
		wants  []want
	}{
		{name: "valid", mutate: func(*corev1.Namespace) {}},
		{name: "name must be a DNS label", mutate: func(ns *corev1.Namespace) { ns.Name = "Team-A" },
			wants: []want{inv("metadata.name").withPrefix(`metadata.name: Invalid value: "Team-A": a lowercase RFC 1123 label must consist of`)}},
		{name: "name may not contain dots", mutate: func(ns *corev1.Namespace) { ns.Name = "team.a" },
			wants: []want{inv("metadata.name").withMsg(`metadata.name: Invalid value: "team.a": must not contain dots`)}},
		{name: "namespace not allowed", mutate: func(ns *corev1.Namespace) { ns.Namespace = "default" },
			wants: []want{forb("metadata.namespace").withMsg("metadata.namespace: Forbidden: not allowed on this type")}},
		{name: "spec finalizer not qualified", mutate: func(ns *corev1.Namespace) { ns.Spec.Finalizers = []corev1.FinalizerName{"mine"} },
			wants: []want{inv("spec.finalizers").withMsg(`spec.finalizers: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified`)}},
		{name: "spec finalizer not a qualified name", mutate: func(ns *corev1.Namespace) {
			ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/a/b"}
		}, wants: []want{inv("spec.finalizers")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}}
			tc.mutate(ns)
			expectErrs(t, ValidateNamespace(ns), tc.wants...)
		})
	}
}

func TestValidateNamespaceUpdates(t *testing.T) {
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "3"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}

	ns := old.DeepCopy()
	ns.Labels = map[string]string{"env": "dev"}
	expectErrs(t, ValidateNamespaceUpdate(ns, old))
	ns.Name = "team-b"
	expectErrs(t, ValidateNamespaceUpdate(ns, old), inv("metadata.name"))

	ns = old.DeepCopy()
	expectErrs(t, ValidateNamespaceStatusUpdate(ns, old))
	ns.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, ValidateNamespaceStatusUpdate(ns, old),
		inv("status.Phase").withMsg(`status.Phase: Invalid value: "Terminating": may only be 'Active' if `+"`deletionTimestamp`"+` is empty`))

	deleting := old.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: metav1.Now().Time}
	ns = deleting.DeepCopy()
	expectErrs(t, ValidateNamespaceStatusUpdate(ns, deleting), inv("status.Phase"))
	ns.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, ValidateNamespaceStatusUpdate(ns, deleting))

	ns = old.DeepCopy()
	ns.Spec.Finalizers = []corev1.FinalizerName{"kubernetes", "bad name"}
	expectErrs(t, ValidateNamespaceFinalizeUpdate(ns, old), inv("spec.finalizers[1]"))
	ns.Spec.Finalizers = nil
	expectErrs(t, ValidateNamespaceFinalizeUpdate(ns, old))
}

func validNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1.example", ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.0.0/24", "fd00:10::/64"}, PodCIDR: "10.244.0.0/24"},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}, {Type: corev1.NodeHostName, Address: "node-1"}},
		},
	}
}

func TestValidateNode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		wants  []want
	}{
		{name: "valid", mutate: func(*corev1.Node) {}},
		{name: "name invalid", mutate: func(n *corev1.Node) { n.Name = "Node_1" }, wants: []want{inv("metadata.name")}},
		{name: "namespace not allowed", mutate: func(n *corev1.Node) { n.Namespace = "default" }, wants: []want{forb("metadata.namespace")}},
		{name: "taint effect required", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu"}}
		}, wants: []want{req("metadata.taints[0].effect")}},
		{name: "taint duplicate key and effect", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
		}, wants: []want{dup("metadata.taints[1]")}},
		{name: "podCIDR invalid", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.1/24"} },
			wants: []want{inv("spec.podCIDRs[0]")}},
		{name: "podCIDRs same family", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/24", "10.245.0.0/24"} },
			wants: []want{inv("spec.podCIDRs")}},
		{name: "negative capacity", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") },
			wants: []want{inv("status.capacity.cpu")}},
		{name: "fractional pods capacity", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1500m") },
			wants: []want{inv("status.capacity.pods")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := validNode()
			tc.mutate(n)
			expectErrs(t, ValidateNode(n), tc.wants...)
		})
	}
}

func TestValidateNodeUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		wants  []want
	}{
		{name: "status and unschedulable may change", mutate: func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		}},
		{name: "podCIDRs immutable once set", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.250.0.0/24"} },
			wants: []want{forb("spec.podCIDRs").withMsg(`spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`)}},
		{name: "duplicate addresses", mutate: func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, n.Status.Addresses[0])
		}, wants: []want{dup("status.addresses[2]")}},
		{name: "taints validated", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "Evict"}}
		}, wants: []want{unsup("metadata.taints[0].effect")}},
		{name: "externalID immutable", mutate: func(n *corev1.Node) { n.Spec.DoNotUseExternalID = "x" },
			wants: []want{forb("spec.externalID")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validNode()
			old.Spec.ProviderID = "kubeshim://node-1"
			n := old.DeepCopy()
			tc.mutate(n)
			expectErrs(t, ValidateNodeUpdate(n, old), tc.wants...)
		})
	}
	old := validNode()
	old.Spec.ProviderID = "kubeshim://node-1"
	n := old.DeepCopy()
	n.Spec.ProviderID = "other://x"
	expectErrs(t, ValidateNodeUpdate(n, old), forb("spec.providerID"))
	old.Spec.PodCIDRs, n = nil, old.DeepCopy()
	n.Spec.PodCIDRs = []string{"10.244.0.0/24"}
	expectErrs(t, ValidateNodeUpdate(n, old))
}

func TestValidateConfigMap(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(cm *corev1.ConfigMap)
		wants  []want
	}{
		{name: "valid", mutate: func(*corev1.ConfigMap) {}},
		{name: "bad key", mutate: func(cm *corev1.ConfigMap) { cm.Data["a/b"] = "x" },
			wants: []want{inv("data[a/b]").withPrefix(`data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`)}},
		{name: "dot-dot key", mutate: func(cm *corev1.ConfigMap) { cm.Data[".."] = "x" }, wants: []want{inv("data[..]")}},
		{name: "key in both maps", mutate: func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"app.properties": {1}} },
			wants: []want{inv("data[app.properties]").withMsg(`data[app.properties]: Invalid value: "app.properties": duplicate of key present in binaryData`)}},
		{name: "bad binary key", mutate: func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"a b": {1}} },
			wants: []want{inv("binaryData[a b]")}},
		{name: "over 1MiB", mutate: func(cm *corev1.ConfigMap) { cm.Data["big"] = strings.Repeat("x", 1<<20) },
			wants: []want{tooLong("[]").withMsg("[]: Too long: may not be more than 1048576 bytes")}},
		{name: "name invalid", mutate: func(cm *corev1.ConfigMap) { cm.Name = "My Config" }, wants: []want{inv("metadata.name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"app.properties": "a=b"}}
			tc.mutate(cm)
			expectErrs(t, ValidateConfigMap(cm), tc.wants...)
		})
	}
}

func TestValidateConfigMapUpdate(t *testing.T) {
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"}, Data: map[string]string{"k": "v"}}
	cm := old.DeepCopy()
	cm.Data["k"] = "w"
	expectErrs(t, ValidateConfigMapUpdate(cm, old))

	old.Immutable = ptr.To(true)
	cm = old.DeepCopy()
	cm.Data["k"] = "w"
	expectErrs(t, ValidateConfigMapUpdate(cm, old), forb("data").withMsg("data: Forbidden: field is immutable when `immutable` is set"))
	cm = old.DeepCopy()
	cm.Immutable = ptr.To(false)
	expectErrs(t, ValidateConfigMapUpdate(cm, old), forb("immutable"))
	cm = old.DeepCopy()
	cm.BinaryData = map[string][]byte{"b": {1}}
	expectErrs(t, ValidateConfigMapUpdate(cm, old), forb("binaryData"))
	cm = old.DeepCopy()
	cm.Labels = map[string]string{"a": "b"}
	expectErrs(t, ValidateConfigMapUpdate(cm, old))
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Secret)
		wants  []want
	}{
		{name: "valid opaque", mutate: func(*corev1.Secret) {}},
		{name: "valid stringData", mutate: func(s *corev1.Secret) { s.StringData = map[string]string{"password": "x"} }},
		{name: "bad key", mutate: func(s *corev1.Secret) { s.Data["a b"] = []byte("x") }, wants: []want{inv("data[a b]")}},
		{name: "bad stringData key", mutate: func(s *corev1.Secret) { s.StringData = map[string]string{"a:b": "x"} },
			wants: []want{inv("data[a:b]")}},
		{name: "over 1MiB", mutate: func(s *corev1.Secret) { s.Data["big"] = make([]byte, 1<<20) },
			wants: []want{tooLong("data").withMsg("data: Too long: may not be more than 1048576 bytes")}},
		{name: "service account token needs annotation", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
			wants: []want{req("metadata.annotations[kubernetes.io/service-account.name]").withMsg("metadata.annotations[kubernetes.io/service-account.name]: Required value")}},
		{name: "service account token with annotation", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeServiceAccountToken
			s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
		}},
		{name: "dockerconfigjson missing key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson },
			wants: []want{req("data[.dockerconfigjson]")}},
		{name: "dockerconfigjson not JSON", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data[corev1.DockerConfigJsonKey] = []byte("{")
		}, wants: []want{inv("data[.dockerconfigjson]").withPrefix(`data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": `)}},
		{name: "basic auth without fields", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth },
			wants: []want{req("data[username]"), req("data[password]")}},
		{name: "basic auth with password only", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
			s.Data["password"] = nil
		}},
		{name: "ssh auth without key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeSSHAuth },
			wants: []want{req("data[ssh-privatekey]")}},
		{name: "tls without key", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data[corev1.TLSCertKey] = []byte("cert")
		}, wants: []want{req("data[tls.key]")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Data: map[string][]byte{"token": []byte("abc")}, Type: corev1.SecretTypeOpaque}
			tc.mutate(s)
			expectErrs(t, ValidateSecret(s), tc.wants...)
		})
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default", ResourceVersion: "1"},
		Data: map[string][]byte{"token": []byte("abc")}, Type: corev1.SecretTypeOpaque}
	s := old.DeepCopy()
	s.Data["token"] = []byte("def")
	expectErrs(t, ValidateSecretUpdate(s, old))

	s = old.DeepCopy()
	s.Type = corev1.SecretTypeTLS
	expectErrs(t, ValidateSecretUpdate(s, old), inv("type").withMsg(`type: Invalid value: "kubernetes.io/tls": field is immutable`))

	old.Immutable = ptr.To(true)
	s = old.DeepCopy()
	s.StringData = map[string]string{"token": "new"}
	expectErrs(t, ValidateSecretUpdate(s, old), forb("data"))
	s = old.DeepCopy()
	s.Immutable = nil
	expectErrs(t, ValidateSecretUpdate(s, old), forb("immutable"))
}

func TestValidateServiceAccount(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "default"}}
	expectErrs(t, ValidateServiceAccount(sa))
	bad := sa.DeepCopy()
	bad.Name = "Builder"
	expectErrs(t, ValidateServiceAccount(bad), inv("metadata.name"))
	bad = sa.DeepCopy()
	bad.Namespace = ""
	expectErrs(t, ValidateServiceAccount(bad), req("metadata.namespace"))

	sa.ResourceVersion = "1"
	upd := sa.DeepCopy()
	upd.Secrets = []corev1.ObjectReference{{Name: "builder-token"}}
	expectErrs(t, ValidateServiceAccountUpdate(upd, sa))
	upd.ResourceVersion = ""
	expectErrs(t, ValidateServiceAccountUpdate(upd, sa), inv("metadata.resourceVersion"))
}

func TestValidateScale(t *testing.T) {
	s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
	expectErrs(t, ValidateScale(s))
	s.Spec.Replicas = -1
	expectErrs(t, ValidateScale(s), inv("spec.replicas").withMsg("spec.replicas: Invalid value: -1: must be greater than or equal to 0"))
	s.Spec.Replicas = 0
	s.Name = "Bad_Name"
	expectErrs(t, ValidateScale(s), inv("metadata.name"))
}
