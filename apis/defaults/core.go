package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// SetObjectDefaultsNamespace labels a named namespace kubernetes.io/metadata.name=<name>
// (overwriting any other value, as upstream does) and sets status.phase Active.
func SetObjectDefaultsNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// SetObjectDefaultsNamespaceList defaults every item.
func SetObjectDefaultsNamespaceList(list *corev1.NamespaceList) {
	for i := range list.Items {
		SetObjectDefaultsNamespace(&list.Items[i])
	}
}

// SetObjectDefaultsNode copies status.capacity into a missing status.allocatable and rounds both.
// Upstream defaults nothing else on a Node (no phase, no externalID).
func SetObjectDefaultsNode(node *corev1.Node) {
	st := &node.Status
	if st.Allocatable == nil && st.Capacity != nil {
		st.Allocatable = st.Capacity.DeepCopy()
	}
	roundResourceList(st.Capacity)
	roundResourceList(st.Allocatable)
}

// SetObjectDefaultsNodeList defaults every item.
func SetObjectDefaultsNodeList(list *corev1.NodeList) {
	for i := range list.Items {
		SetObjectDefaultsNode(&list.Items[i])
	}
}

// SetObjectDefaultsSecret sets type Opaque when empty, and folds stringData into data (a
// stringData key overwrites the same data key) then drops stringData, which upstream does when
// converting the request body to its internal type: a Secret is never read back with stringData.
func SetObjectDefaultsSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// SetObjectDefaultsSecretList defaults every item.
func SetObjectDefaultsSecretList(list *corev1.SecretList) {
	for i := range list.Items {
		SetObjectDefaultsSecret(&list.Items[i])
	}
}

// SetObjectDefaultsConfigMap makes a nil data map empty (invisible on the wire, as upstream).
func SetObjectDefaultsConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

// SetObjectDefaultsConfigMapList defaults every item.
func SetObjectDefaultsConfigMapList(list *corev1.ConfigMapList) {
	for i := range list.Items {
		SetObjectDefaultsConfigMap(&list.Items[i])
	}
}

// SetObjectDefaultsReplicationController sets replicas 1, takes selector and labels from the
// template's labels when they are empty, and defaults the template's PodSpec.
func SetObjectDefaultsReplicationController(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil && t.Labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = t.Labels
		}
		if len(rc.Labels) == 0 {
			rc.Labels = t.Labels
		}
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr.To[int32](1)
	}
	if rc.Spec.Template != nil {
		SetDefaultsPodSpec(&rc.Spec.Template.Spec)
	}
}

// SetObjectDefaultsReplicationControllerList defaults every item.
func SetObjectDefaultsReplicationControllerList(list *corev1.ReplicationControllerList) {
	for i := range list.Items {
		SetObjectDefaultsReplicationController(&list.Items[i])
	}
}

// SetObjectDefaultsService applies upstream's Service defaults: sessionAffinity None (and no
// sessionAffinityConfig unless ClientIP, which gets a 10800 s timeout), type ClusterIP, port
// protocol TCP and targetPort = port, externalTrafficPolicy Cluster when externally reachable,
// internalTrafficPolicy Cluster, allocateLoadBalancerNodePorts true and ingress ipMode VIP for
// LoadBalancers. Cluster IPs and node ports are the allocator's business, not defaulting.
func SetObjectDefaultsService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	externallyReachable := spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeNodePort ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	if externallyReachable && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil {
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts == nil {
			spec.AllocateLoadBalancerNodePorts = ptr.To(true)
		}
		for i := range svc.Status.LoadBalancer.Ingress {
			ing := &svc.Status.LoadBalancer.Ingress[i]
			if ing.IP != "" && ing.IPMode == nil {
				ing.IPMode = ptr.To(corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// SetObjectDefaultsServiceList defaults every item.
func SetObjectDefaultsServiceList(list *corev1.ServiceList) {
	for i := range list.Items {
		SetObjectDefaultsService(&list.Items[i])
	}
}

// SetObjectDefaultsEndpoints sets protocol TCP on every subset port without one.
func SetObjectDefaultsEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// SetObjectDefaultsEndpointsList defaults every item.
func SetObjectDefaultsEndpointsList(list *corev1.EndpointsList) {
	for i := range list.Items {
		SetObjectDefaultsEndpoints(&list.Items[i])
	}
}
