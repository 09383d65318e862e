package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestCoreKindDefaults(t *testing.T) {
	tests := []struct {
		name      string
		in        any
		want      any
		defaultFn func(any)
	}{
		{
			name: "namespace: metadata.name label and phase Active",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "spoofed", "x": "y"}}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a", "x": "y"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
			defaultFn: func(o any) { SetObjectDefaultsNamespace(o.(*corev1.Namespace)) },
		},
		{
			name:      "namespace without a name (generateName): no label",
			in:        &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			want:      &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			defaultFn: func(o any) { SetObjectDefaultsNamespace(o.(*corev1.Namespace)) },
		},
		{
			name:      "namespace terminating: phase kept",
			in:        &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			want:      &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"kubernetes.io/metadata.name": "n"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			defaultFn: func(o any) { SetObjectDefaultsNamespace(o.(*corev1.Namespace)) },
		},
		{
			name: "node: allocatable from capacity, rounded",
			in:   &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("0.5")}}},
			want: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("500m")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("500m")},
			}},
			defaultFn: func(o any) { SetObjectDefaultsNode(o.(*corev1.Node)) },
		},
		{
			name: "node: allocatable kept",
			in: &corev1.Node{Status: corev1.NodeStatus{
				Capacity: corev1.ResourceList{corev1.ResourceCPU: q("2")}, Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("1500m")},
			}},
			want: &corev1.Node{Status: corev1.NodeStatus{
				Capacity: corev1.ResourceList{corev1.ResourceCPU: q("2")}, Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("1500m")},
			}},
			defaultFn: func(o any) { SetObjectDefaultsNode(o.(*corev1.Node)) },
		},
		{
			name:      "node without status: nothing",
			in:        &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"}},
			want:      &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"}},
			defaultFn: func(o any) { SetObjectDefaultsNode(o.(*corev1.Node)) },
		},
		{
			name:      "secret: type Opaque, stringData folded into data",
			in:        &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("keep")}, StringData: map[string]string{"a": "new", "c": "added"}},
			want:      &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": []byte("new"), "b": []byte("keep"), "c": []byte("added")}},
			defaultFn: func(o any) { SetObjectDefaultsSecret(o.(*corev1.Secret)) },
		},
		{
			name:      "secret: type and data kept",
			in:        &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}},
			want:      &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}},
			defaultFn: func(o any) { SetObjectDefaultsSecret(o.(*corev1.Secret)) },
		},
		{
			name:      "secret: only stringData",
			in:        &corev1.Secret{StringData: map[string]string{"k": "v"}},
			want:      &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}},
			defaultFn: func(o any) { SetObjectDefaultsSecret(o.(*corev1.Secret)) },
		},
		{
			name:      "configmap: nil data becomes empty",
			in:        &corev1.ConfigMap{BinaryData: map[string][]byte{"b": {1}}},
			want:      &corev1.ConfigMap{Data: map[string]string{}, BinaryData: map[string][]byte{"b": {1}}},
			defaultFn: func(o any) { SetObjectDefaultsConfigMap(o.(*corev1.ConfigMap)) },
		},
		{
			name: "replication controller: replicas, selector and labels from the template",
			in:   &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: ptr.To(minimalTemplate(map[string]string{"app": "web"}))}},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: ptr.To[int32](1),
					Selector: map[string]string{"app": "web"},
					Template: ptr.To(defaultedTemplate(map[string]string{"app": "web"})),
				},
			},
			defaultFn: func(o any) { SetObjectDefaultsReplicationController(o.(*corev1.ReplicationController)) },
		},
		{
			name: "replication controller: user values kept",
			in: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}},
				Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](0), Selector: map[string]string{"app": "web", "tier": "x"},
					Template: ptr.To(defaultedTemplate(map[string]string{"app": "web", "tier": "x"}))},
			},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}},
				Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](0), Selector: map[string]string{"app": "web", "tier": "x"},
					Template: ptr.To(defaultedTemplate(map[string]string{"app": "web", "tier": "x"}))},
			},
			defaultFn: func(o any) { SetObjectDefaultsReplicationController(o.(*corev1.ReplicationController)) },
		},
		{
			name:      "replication controller without template: replicas only",
			in:        &corev1.ReplicationController{},
			want:      &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1)}},
			defaultFn: func(o any) { SetObjectDefaultsReplicationController(o.(*corev1.ReplicationController)) },
		},
		{
			name: "service: ClusterIP defaults",
			in: &corev1.Service{Spec: corev1.ServiceSpec{
				Ports:                 []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}},
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](5)}},
			}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}, {Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}},
				Type:                  corev1.ServiceTypeClusterIP,
				SessionAffinity:       corev1.ServiceAffinityNone,
				InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			}},
			defaultFn: func(o any) { SetObjectDefaultsService(o.(*corev1.Service)) },
		},
		{
			name: "service: LoadBalancer with ClientIP affinity",
			in: &corev1.Service{
				Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}, {Hostname: "lb.example"}}}},
			},
			want: &corev1.Service{
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP,
					SessionAffinityConfig:         &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)}},
					Ports:                         []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8443)}},
					ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
					InternalTrafficPolicy:         ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
					AllocateLoadBalancerNodePorts: ptr.To(true),
				},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example"}}}},
			},
			defaultFn: func(o any) { SetObjectDefaultsService(o.(*corev1.Service)) },
		},
		{
			name:      "service: ExternalName gets no traffic policies",
			in:        &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example"}},
			want:      &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example", SessionAffinity: corev1.ServiceAffinityNone}},
			defaultFn: func(o any) { SetObjectDefaultsService(o.(*corev1.Service)) },
		},
		{
			name:      "endpoints: port protocol TCP",
			in:        &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}},
			want:      &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}},
			defaultFn: func(o any) { SetObjectDefaultsEndpoints(o.(*corev1.Endpoints)) },
		},
		{
			name:      "pod template",
			in:        &corev1.PodTemplate{Template: minimalTemplate(map[string]string{"a": "b"})},
			want:      &corev1.PodTemplate{Template: defaultedTemplate(map[string]string{"a": "b"})},
			defaultFn: func(o any) { SetObjectDefaultsPodTemplate(o.(*corev1.PodTemplate)) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.defaultFn(tc.in)
			assertSemanticEqual(t, tc.in, tc.want)
			// A second pass changes nothing.
			tc.defaultFn(tc.in)
			assertSemanticEqual(t, tc.in, tc.want)
		})
	}
}

func TestVolumePluginDefaults(t *testing.T) {
	vols := []corev1.Volume{
		{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "t", IQN: "i"}}},
		{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{CephMonitors: []string{"m"}, RBDImage: "img"}}},
		{Name: "azure", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{DiskName: "d", DataDiskURI: "u"}}},
		{Name: "scaleio", VolumeSource: corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{Gateway: "g", System: "s"}}},
		{Name: "rbd-set", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{RBDPool: "p", RadosUser: "u", Keyring: "/k"}}},
	}
	spec := corev1.PodSpec{Volumes: vols}
	SetDefaultsPodSpec(&spec)
	want := []corev1.Volume{
		{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "t", IQN: "i", ISCSIInterface: "default"}}},
		{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{CephMonitors: []string{"m"}, RBDImage: "img", RBDPool: "rbd", RadosUser: "admin", Keyring: "/etc/ceph/keyring"}}},
		{Name: "azure", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{DiskName: "d", DataDiskURI: "u",
			CachingMode: ptr.To(corev1.AzureDataDiskCachingReadWrite), FSType: ptr.To("ext4"), ReadOnly: ptr.To(false), Kind: ptr.To(corev1.AzureSharedBlobDisk)}}},
		{Name: "scaleio", VolumeSource: corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{Gateway: "g", System: "s", StorageMode: "ThinProvisioned", FSType: "xfs"}}},
		{Name: "rbd-set", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{RBDPool: "p", RadosUser: "u", Keyring: "/k"}}},
	}
	assertSemanticEqual(t, spec.Volumes, want)
}
