package storage

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	apistorage "k8s.io/apiserver/pkg/storage"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
)

// protobufPodCodec is the codec kube-apiserver stores core/v1 pods with.
func protobufPodCodec() k8sruntime.Codec {
	pb := protobuf.NewSerializer(clientscheme.Scheme, clientscheme.Scheme)
	return clientscheme.Codecs.CodecForVersions(pb, pb, corev1.SchemeGroupVersion, corev1.SchemeGroupVersion)
}

// realisticPod is a scheduled, running pod of a Deployment, with the fields
// the controllers and the kubelet fill in (but no managedFields).
func realisticPod(ns, name string) *corev1.Pod {
	start := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tokenExpiry := int64(3607)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("6c1f2e8a-3b7d-4f0e-9a51-" + fmt.Sprintf("%012d", len(name))),
			GenerateName:      "web-7d4b9c6f5d-",
			CreationTimestamp: start,
			Labels:            map[string]string{"app": "web", "pod-template-hash": "7d4b9c6f5d", "tier": "frontend"},
			Annotations:       map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c6f5d",
				UID: "0f4c3a2b-1d2e-4f5a-8b9c-0d1e2f3a4b5c", Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
			}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "docker.io/library/nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "LOG_LEVEL", Value: "info"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				ReadinessProbe:           &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}}, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			Volumes: []corev1.Volume{{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &tokenExpiry}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				},
			}}}},
			RestartPolicy:      corev1.RestartPolicyAlways,
			DNSPolicy:          corev1.DNSClusterFirst,
			ServiceAccountName: "default",
			NodeName:           "node-1",
			SchedulerName:      "default-scheduler",
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo(int64(300))},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
			},
			HostIP: "10.0.0.11", PodIP: "10.244.1.23",
			PodIPs:    []corev1.PodIP{{IP: "10.244.1.23"}},
			StartTime: &start,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Ready: true, Started: ptrTo(true), Image: "docker.io/library/nginx:1.27",
				ImageID:     "docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
				ContainerID: "containerd://4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
			}},
			QOSClass: corev1.PodQOSBurstable,
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestMemoryFootprint stores 10,000 realistic pods and checks the heap they
// take (the target is well under 100 MB for the whole store).
func TestMemoryFootprint(t *testing.T) {
	const pods = 10000
	b := NewBackend(Options{})
	defer b.Close()
	s, err := b.NewStore(StoreConfig{
		Codec: protobufPodCodec(), Prefix: "/registry", ResourcePrefix: "/pods",
		GroupResource: schema.GroupResource{Resource: "pods"},
		NewFunc:       func() k8sruntime.Object { return &corev1.Pod{} },
		NewListFunc:   func() k8sruntime.Object { return &corev1.PodList{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range pods {
		pod := realisticPod(fmt.Sprintf("ns-%d", i%20), fmt.Sprintf("web-7d4b9c6f5d-%05d", i))
		if err := s.Create(ctx, "/pods/"+pod.Namespace+"/"+pod.Name, pod, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.ObjectCount != pods {
		t.Fatalf("stored %d pods, want %d", stats.ObjectCount, pods)
	}
	var stored int64
	snap, _ := b.snapshot()
	snap.ascend("/registry/pods/", "/registry/pods/", func(r *record) bool {
		stored += int64(len(r.latest().value))
		return true
	})
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d pods: %d bytes each encoded, heap grew by %.1f MiB (%d bytes per pod)", pods, stored/pods, float64(heap)/(1<<20), heap/pods)
	if heap > 40<<20 {
		t.Fatalf("10,000 pods take %.1f MiB of heap, want < 40 MiB", float64(heap)/(1<<20))
	}
	// Lists and watches must not pin decoded objects: after a full list and
	// dropping it, the heap is back to the stored bytes.
	var list corev1.PodList
	if err := s.GetList(ctx, "/pods", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != pods {
		t.Fatalf("listed %d pods", len(list.Items))
	}
	list = corev1.PodList{}
	runtime.GC()
	var afterList runtime.MemStats
	runtime.ReadMemStats(&afterList)
	if grown := int64(afterList.HeapAlloc) - int64(after.HeapAlloc); grown > 4<<20 {
		t.Fatalf("a list left %.1f MiB on the heap", float64(grown)/(1<<20))
	}
}
