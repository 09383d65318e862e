package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/utils/ptr"
)

func newTestScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, coordinationv1.AddToScheme,
		eventsv1.AddToScheme, policyv1.AddToScheme, autoscalingv1.AddToScheme, RegisterDefaults,
	} {
		if err := add(scheme); err != nil {
			t.Fatalf("building scheme: %v", err)
		}
	}
	return scheme
}

func TestRegisterDefaultsNilScheme(t *testing.T) {
	if err := RegisterDefaults(nil); err == nil {
		t.Fatal("RegisterDefaults(nil) returned no error")
	}
}

// TestSchemeDefault checks that scheme.Default applies the registered function to every kind
// and, item by item, to its List.
func TestSchemeDefault(t *testing.T) {
	scheme := newTestScheme(t)
	pod := func() corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	tmpl := func() corev1.PodTemplateSpec { return minimalTemplate(map[string]string{"app": "x"}) }
	tests := []struct {
		obj   runtime.Object
		check func(runtime.Object) bool
	}{
		{&corev1.Pod{}, func(o runtime.Object) bool { return o.(*corev1.Pod).Spec.RestartPolicy == corev1.RestartPolicyAlways }},
		{&corev1.PodList{Items: []corev1.Pod{pod(), pod()}}, func(o runtime.Object) bool {
			items := o.(*corev1.PodList).Items
			return items[0].Spec.Containers[0].ImagePullPolicy == corev1.PullAlways && items[1].Spec.EnableServiceLinks != nil
		}},
		{&corev1.PodTemplate{}, func(o runtime.Object) bool {
			return o.(*corev1.PodTemplate).Template.Spec.DNSPolicy == corev1.DNSClusterFirst
		}},
		{&corev1.PodTemplateList{Items: []corev1.PodTemplate{{}}}, func(o runtime.Object) bool {
			return o.(*corev1.PodTemplateList).Items[0].Template.Spec.SchedulerName == corev1.DefaultSchedulerName
		}},
		{&corev1.ReplicationController{}, func(o runtime.Object) bool { return ptr.Deref(o.(*corev1.ReplicationController).Spec.Replicas, 0) == 1 }},
		{&corev1.ReplicationControllerList{Items: []corev1.ReplicationController{{}}}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*corev1.ReplicationControllerList).Items[0].Spec.Replicas, 0) == 1
		}},
		{&corev1.Namespace{}, func(o runtime.Object) bool { return o.(*corev1.Namespace).Status.Phase == corev1.NamespaceActive }},
		{&corev1.NamespaceList{Items: []corev1.Namespace{{}, {}}}, func(o runtime.Object) bool {
			return o.(*corev1.NamespaceList).Items[1].Status.Phase == corev1.NamespaceActive
		}},
		{&corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": q("1")}}}, func(o runtime.Object) bool {
			return o.(*corev1.Node).Status.Allocatable != nil
		}},
		{&corev1.NodeList{Items: []corev1.Node{{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": q("1")}}}}}, func(o runtime.Object) bool {
			return o.(*corev1.NodeList).Items[0].Status.Allocatable != nil
		}},
		{&corev1.Secret{}, func(o runtime.Object) bool { return o.(*corev1.Secret).Type == corev1.SecretTypeOpaque }},
		{&corev1.SecretList{Items: []corev1.Secret{{}}}, func(o runtime.Object) bool {
			return o.(*corev1.SecretList).Items[0].Type == corev1.SecretTypeOpaque
		}},
		{&corev1.ConfigMap{}, func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Data != nil }},
		{&corev1.ConfigMapList{Items: []corev1.ConfigMap{{}}}, func(o runtime.Object) bool { return o.(*corev1.ConfigMapList).Items[0].Data != nil }},
		{&corev1.Service{}, func(o runtime.Object) bool { return o.(*corev1.Service).Spec.Type == corev1.ServiceTypeClusterIP }},
		{&corev1.ServiceList{Items: []corev1.Service{{}}}, func(o runtime.Object) bool {
			return o.(*corev1.ServiceList).Items[0].Spec.Type == corev1.ServiceTypeClusterIP
		}},
		{&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 1}}}}}, func(o runtime.Object) bool {
			return o.(*corev1.Endpoints).Subsets[0].Ports[0].Protocol == corev1.ProtocolTCP
		}},
		{&corev1.EndpointsList{Items: []corev1.Endpoints{{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 1}}}}}}}, func(o runtime.Object) bool {
			return o.(*corev1.EndpointsList).Items[0].Subsets[0].Ports[0].Protocol == corev1.ProtocolTCP
		}},
		{&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl()}}, func(o runtime.Object) bool {
			d := o.(*appsv1.Deployment)
			return ptr.Deref(d.Spec.ProgressDeadlineSeconds, 0) == 600 && d.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyAlways
		}},
		{&appsv1.DeploymentList{Items: []appsv1.Deployment{{}}}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*appsv1.DeploymentList).Items[0].Spec.Replicas, 0) == 1
		}},
		{&appsv1.ReplicaSet{}, func(o runtime.Object) bool { return ptr.Deref(o.(*appsv1.ReplicaSet).Spec.Replicas, 0) == 1 }},
		{&appsv1.ReplicaSetList{Items: []appsv1.ReplicaSet{{}}}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*appsv1.ReplicaSetList).Items[0].Spec.Replicas, 0) == 1
		}},
		{&appsv1.DaemonSet{}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*appsv1.DaemonSet).Spec.RevisionHistoryLimit, 0) == 10
		}},
		{&appsv1.DaemonSetList{Items: []appsv1.DaemonSet{{}}}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*appsv1.DaemonSetList).Items[0].Spec.RevisionHistoryLimit, 0) == 10
		}},
		{&batchv1.Job{}, func(o runtime.Object) bool { return ptr.Deref(o.(*batchv1.Job).Spec.BackoffLimit, 0) == 6 }},
		{&batchv1.JobList{Items: []batchv1.Job{{}}}, func(o runtime.Object) bool {
			return ptr.Deref(o.(*batchv1.JobList).Items[0].Spec.BackoffLimit, 0) == 6
		}},
		{&batchv1.CronJob{}, func(o runtime.Object) bool {
			return o.(*batchv1.CronJob).Spec.ConcurrencyPolicy == batchv1.AllowConcurrent
		}},
		{&batchv1.CronJobList{Items: []batchv1.CronJob{{}}}, func(o runtime.Object) bool {
			return o.(*batchv1.CronJobList).Items[0].Spec.ConcurrencyPolicy == batchv1.AllowConcurrent
		}},
	}
	for _, tc := range tests {
		scheme.Default(tc.obj)
		if !tc.check(tc.obj) {
			t.Errorf("scheme.Default(%T) did not apply the defaults: %s", tc.obj, toJSON(t, tc.obj))
		}
	}
}

// TestSchemeDefaultLeavesUndefaultedKinds checks the kinds upstream does not default come out of
// scheme.Default unchanged.
func TestSchemeDefaultLeavesUndefaultedKinds(t *testing.T) {
	scheme := newTestScheme(t)
	objs := []runtime.Object{
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Reason: "Started"},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n"}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}},
		&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Reason: "Started"},
		&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p"}},
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "d"}},
	}
	for _, obj := range objs {
		got := obj.DeepCopyObject()
		scheme.Default(got)
		assertSemanticEqual(t, got, obj)
	}
}

// TestDecoderAppliesDefaults decodes request bodies the way the API server does (a codec built
// on the scheme) and checks the defaults are in the decoded objects, lists included.
func TestDecoderAppliesDefaults(t *testing.T) {
	scheme := newTestScheme(t)
	codecs := serializer.NewCodecFactory(scheme)
	decoder := codecs.UniversalDecoder(corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion, batchv1.SchemeGroupVersion)

	decode := func(body string) runtime.Object {
		t.Helper()
		obj, _, err := decoder.Decode([]byte(body), nil, nil)
		if err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		return obj
	}

	pod := decode(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
		"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":10000}]}]}}`).(*corev1.Pod)
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways || c.Ports[0].Protocol != corev1.ProtocolTCP || c.TerminationMessagePath != corev1.TerminationMessagePathDefault ||
		pod.Spec.RestartPolicy != corev1.RestartPolicyAlways || ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 0) != 30 ||
		pod.Spec.SecurityContext == nil || !ptr.Deref(pod.Spec.EnableServiceLinks, false) {
		t.Errorf("decoded pod not defaulted: %s", toJSON(t, pod))
	}

	list := decode(`{"apiVersion":"v1","kind":"PodList","items":[
		{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}},
		{"metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}]}`).(*corev1.PodList)
	if list.Items[0].Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent || list.Items[1].Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("decoded pod list items not defaulted: %s", toJSON(t, list))
	}

	deploy := decode(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"example"},
		"spec":{"selector":{"matchLabels":{"app":"example"}},"template":{"metadata":{"labels":{"app":"example"}},
		"spec":{"containers":[{"name":"busybox","image":"busybox"}]}}}}`).(*appsv1.Deployment)
	if ptr.Deref(deploy.Spec.Replicas, 0) != 1 || deploy.Spec.Strategy.RollingUpdate == nil ||
		deploy.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("decoded deployment not defaulted: %s", toJSON(t, deploy))
	}

	secret := decode(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"password":"hunter2"}}`).(*corev1.Secret)
	if secret.Type != corev1.SecretTypeOpaque || string(secret.Data["password"]) != "hunter2" || secret.StringData != nil {
		t.Errorf("decoded secret not normalised: %s", toJSON(t, secret))
	}

	job := decode(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},
		"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`).(*batchv1.Job)
	if ptr.Deref(job.Spec.Completions, 0) != 1 || job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("decoded job not defaulted (or user value overwritten): %s", toJSON(t, job))
	}
}
