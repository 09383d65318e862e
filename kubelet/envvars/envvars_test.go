package envvars

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	mapping := MappingFor(func(n string) (string, bool) { v, ok := vars[n]; return v, ok })
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(EMPTY)|", "|"},
		{"$(UNDEF)", "$(UNDEF)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(A", "$(A"},
		{"$(A$(B)", "$(A$(B)"}, // the reference runs to the first ")": name "A$(B" is undefined
		{"$()", "$()"},
		{"100$ and $(A)", "100$ and a"},
		{"é$(A)é", "éaé"},
	}
	for _, tc := range tests {
		if got := Expand(tc.in, mapping); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "default", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": `say "hi"`},
		},
		Spec: corev1.PodSpec{
			NodeName:           "node1",
			ServiceAccountName: "sa1",
			Containers: []corev1.Container{{
				Name: "main",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}, {
				Name: "side",
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
		},
		Status: corev1.PodStatus{HostIPs: []corev1.HostIP{{IP: "192.168.1.10"}, {IP: "fd00::10"}}},
	}
}

func objectsAsRuntime() []runtime.Object {
	return []runtime.Object{
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
			Data:       map[string]string{"B_KEY": "b", "A_KEY": "a", "bad=key": "x", "mode": "prod"},
		},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "kube-system"},
			Data:       map[string]string{"mode": "wrong namespace"},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"},
			Data:       map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")},
		},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
}

func resEnv(name, container, res, divisor string) corev1.EnvVar {
	fs := &corev1.ResourceFieldSelector{ContainerName: container, Resource: res}
	if divisor != "" {
		fs.Divisor = resource.MustParse(divisor)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: fs}}
}

func cmKey(name, cm, key string, optional *bool) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key, Optional: optional}}}
}

func secretKey(name, s, key string, optional *bool) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: s}, Key: key, Optional: optional}}}
}

func TestResolve(t *testing.T) {
	allocatable := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("4Gi"),
	}
	tests := []struct {
		name    string
		podIPs  []string
		hostIP  string
		envFrom []corev1.EnvFromSource
		env     []corev1.EnvVar
		want    []string
		wantErr string
	}{{
		name: "values in spec order with $(VAR) against earlier entries only",
		env: []corev1.EnvVar{
			{Name: "A", Value: "x"},
			{Name: "B", Value: "$(A)-y"},
			{Name: "C", Value: "$(LATER)"},
			{Name: "D", Value: "$$(A) costs 5$"},
			{Name: "LATER", Value: "z"},
			{Name: "E"},
		},
		want: []string{"A=x", "B=x-y", "C=$(LATER)", "D=$(A) costs 5$", "LATER=z", "E="},
	}, {
		name: "envFrom first (keys sorted, prefix), invalid keys skipped, env overrides in place",
		envFrom: []corev1.EnvFromSource{
			{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
		},
		env: []corev1.EnvVar{
			{Name: "Z", Value: "$(CM_A_KEY)$(user)"},
			{Name: "CM_B_KEY", Value: "overridden"},
		},
		want: []string{"CM_A_KEY=a", "CM_B_KEY=overridden", "CM_mode=prod", "password=s3cr3t", "user=admin", "Z=aadmin"},
	}, {
		name: "optional envFrom sources that are missing are skipped",
		envFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
		},
		env:  []corev1.EnvVar{{Name: "A", Value: "1"}},
		want: []string{"A=1"},
	}, {
		name:    "missing envFrom configMap",
		envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
		wantErr: `configmap "c" not found`,
	}, {
		name:    "missing envFrom secret (optional false)",
		envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Optional: ptr(false)}}},
		wantErr: `secret "s" not found`,
	}, {
		name:   "fieldRef",
		podIPs: []string{"10.88.0.5", "fd88::5"},
		hostIP: "192.168.1.10",
		env: []corev1.EnvVar{
			fieldEnv("NAME", "metadata.name"),
			fieldEnv("NS", "metadata.namespace"),
			fieldEnv("UID", "metadata.uid"),
			fieldEnv("APP", "metadata.labels['app']"),
			fieldEnv("NOLABEL", "metadata.labels['missing']"),
			fieldEnv("NOTE", "metadata.annotations['note']"),
			fieldEnv("NODE", "spec.nodeName"),
			fieldEnv("SA", "spec.serviceAccountName"),
			fieldEnv("HOST_IP", "status.hostIP"),
			fieldEnv("HOST_IPS", "status.hostIPs"),
			fieldEnv("POD_IP", "status.podIP"),
			fieldEnv("POD_IPS", "status.podIPs"),
			{Name: "GREETING", Value: "$(NAME).$(NS)"},
		},
		want: []string{
			"NAME=web", "NS=default", "UID=uid-1", "APP=web", "NOLABEL=", `NOTE=say "hi"`,
			"NODE=node1", "SA=sa1", "HOST_IP=192.168.1.10", "HOST_IPS=192.168.1.10,fd00::10",
			"POD_IP=10.88.0.5", "POD_IPS=10.88.0.5,fd88::5", "GREETING=web.default",
		},
	}, {
		name:    "fieldRef unsupported path",
		env:     []corev1.EnvVar{fieldEnv("X", "spec.schedulerName")},
		wantErr: "env X: field label not supported: spec.schedulerName",
	}, {
		name:    "fieldRef unsupported apiVersion",
		env:     []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}}},
		wantErr: "unsupported pod version: v2",
	}, {
		name: "resourceFieldRef with divisors, defaults to allocatable without a limit",
		env: []corev1.EnvVar{
			resEnv("CPU_LIMIT", "", "limits.cpu", ""),          // 500m → ceil(0.5) = 1
			resEnv("CPU_LIMIT_M", "", "limits.cpu", "1m"),      // 500
			resEnv("CPU_REQ_M", "", "requests.cpu", "1m"),      // 250
			resEnv("MEM_LIMIT", "", "limits.memory", ""),       // allocatable 4Gi in bytes
			resEnv("MEM_LIMIT_MI", "", "limits.memory", "1Mi"), // 4096
			resEnv("MEM_REQ_MI", "", "requests.memory", "1Mi"), // 64
			resEnv("SIDE_MEM_MI", "side", "limits.memory", "1Mi"),
			resEnv("SIDE_CPU", "side", "limits.cpu", "1m"), // allocatable 2 cores
			resEnv("EPH", "", "requests.ephemeral-storage", ""),
		},
		want: []string{
			"CPU_LIMIT=1", "CPU_LIMIT_M=500", "CPU_REQ_M=250", "MEM_LIMIT=4294967296", "MEM_LIMIT_MI=4096",
			"MEM_REQ_MI=64", "SIDE_MEM_MI=128", "SIDE_CPU=2000", "EPH=0",
		},
	}, {
		name:    "resourceFieldRef unknown resource",
		env:     []corev1.EnvVar{resEnv("X", "", "limits.gpu", "")},
		wantErr: "unsupported container resource : limits.gpu",
	}, {
		name:    "resourceFieldRef unknown container",
		env:     []corev1.EnvVar{resEnv("X", "ghost", "limits.cpu", "")},
		wantErr: "container ghost not found",
	}, {
		name: "configMapKeyRef and secretKeyRef, optional ones skipped",
		env: []corev1.EnvVar{
			cmKey("MODE", "cfg", "mode", nil),
			secretKey("PASS", "sec", "password", nil),
			cmKey("OPT_CM", "nope", "k", ptr(true)),
			cmKey("OPT_KEY", "cfg", "nokey", ptr(true)),
			secretKey("OPT_S", "nope", "k", ptr(true)),
			secretKey("OPT_SKEY", "sec", "nokey", ptr(true)),
			{Name: "DSN", Value: "$(MODE):$(PASS)@$(OPT_CM)"},
		},
		want: []string{"MODE=prod", "PASS=s3cr3t", "DSN=prod:s3cr3t@$(OPT_CM)"},
	}, {
		name:    "configMapKeyRef missing configMap",
		env:     []corev1.EnvVar{cmKey("X", "c", "k", nil)},
		wantErr: `configmap "c" not found`,
	}, {
		name:    "configMapKeyRef missing key",
		env:     []corev1.EnvVar{cmKey("X", "cfg", "k", ptr(false))},
		wantErr: "couldn't find key k in ConfigMap default/cfg",
	}, {
		name:    "configMapKeyRef in another namespace is not seen",
		env:     []corev1.EnvVar{cmKey("X", "other", "mode", nil)},
		wantErr: `configmap "other" not found`,
	}, {
		name:    "secretKeyRef missing secret",
		env:     []corev1.EnvVar{secretKey("X", "s", "k", nil)},
		wantErr: `secret "s" not found`,
	}, {
		name:    "secretKeyRef missing key",
		env:     []corev1.EnvVar{secretKey("X", "sec", "k", nil)},
		wantErr: "couldn't find key k in Secret default/sec",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(objectsAsRuntime()...)
			pod := basePod()
			c := &pod.Spec.Containers[0]
			c.EnvFrom = tc.envFrom
			c.Env = tc.env
			got, err := Resolve(context.Background(), client, pod, c, tc.podIPs, tc.hostIP, allocatable)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveFallsBackToPodStatus(t *testing.T) {
	pod := basePod()
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.9"}}
	pod.Status.HostIPs = nil
	pod.Status.HostIP = "192.168.1.20"
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{fieldEnv("POD_IP", "status.podIP"), fieldEnv("HOST_IP", "status.hostIP")}
	got, err := Resolve(context.Background(), fake.NewClientset(), pod, c, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"POD_IP=10.88.0.9", "HOST_IP=192.168.1.20"}, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestFormatMap(t *testing.T) {
	got := FormatMap(map[string]string{"b": "2", "a": "x\"y\nz"})
	want := "a=\"x\\\"y\\nz\"\nb=\"2\""
	if got != want {
		t.Errorf("FormatMap = %q, want %q", got, want)
	}
	if FormatMap(nil) != "" {
		t.Errorf("FormatMap(nil) not empty")
	}
}
