// Package envvars resolves a container's environment the way the kubelet does: envFrom, then env
// with $(VAR) expansion and the valueFrom sources (downward API fields and resources,
// configMap and secret keys).
package envvars

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// GetConfigMap reads configMap name of namespace ns. A missing one is a NotFound error that
// reads as the kubelet's: `configmap "name" not found`.
func GetConfigMap(ctx context.Context, client kubernetes.Interface, ns, name string) (*corev1.ConfigMap, error) {
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

// GetSecret reads secret name of namespace ns. A missing one is a NotFound error that reads as
// the kubelet's: `secret "name" not found`.
func GetSecret(ctx context.Context, client kubernetes.Interface, ns, name string) (*corev1.Secret, error) {
	s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s: %w", ns, name, err)
	}
	return s, nil
}

// env is an environment in order of first definition; a later definition of a name replaces
// its value in place.
type env struct {
	names  []string
	values map[string]string
}

func (e *env) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

func (e *env) lookup(name string) (string, bool) {
	v, ok := e.values[name]
	return v, ok
}

// sources caches the configMaps and secrets one Resolve reads.
type sources struct {
	ctx        context.Context
	client     kubernetes.Interface
	ns         string
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (s *sources) configMap(name string) (*corev1.ConfigMap, error) {
	if cm, ok := s.configMaps[name]; ok {
		return cm, nil
	}
	if s.client == nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s, no kubeClient defined", s.ns, name)
	}
	cm, err := GetConfigMap(s.ctx, s.client, s.ns, name)
	if err != nil {
		return nil, err
	}
	s.configMaps[name] = cm
	return cm, nil
}

func (s *sources) secret(name string) (*corev1.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	if s.client == nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s, no kubeClient defined", s.ns, name)
	}
	sec, err := GetSecret(s.ctx, s.client, s.ns, name)
	if err != nil {
		return nil, err
	}
	s.secrets[name] = sec
	return sec, nil
}

// Resolve returns the environment of container c of pod as "NAME=value", in spec order: the
// variables of envFrom first (configMapRef, secretRef, each source's keys sorted, with its
// prefix), then env. A name defined again keeps its first position and takes the later value.
// env values have their $(VAR) references expanded against the variables defined before them.
// podIPs and hostIP are the pod's IPs and the node's IP as the kubelet sees them now;
// allocatable is the node's allocatable, which a resourceFieldRef on a limit the container does
// not set reports.
//
// Errors read as upstream's kubelet reports them (CreateContainerConfigError):
// `configmap "c" not found`, `secret "s" not found`, `couldn't find key k in ConfigMap ns/c`,
// `couldn't find key k in Secret ns/s`. Optional sources and keys that are missing are skipped.
//
// Not done: the service links (KUBERNETES_SERVICE_HOST, FOO_SERVICE_PORT …) upstream adds, as
// kubeshim has no Services yet; fileKeyRef (feature EnvFiles).
func Resolve(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, podIPs []string, hostIP string, allocatable corev1.ResourceList) ([]string, error) {
	src := &sources{
		ctx: ctx, client: client, ns: pod.Namespace,
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
	}
	e := &env{values: map[string]string{}}

	for _, from := range c.EnvFrom {
		var (
			kind, name string
			data       map[string]string
		)
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configMap", from.ConfigMapRef.Name
			cm, err := src.configMap(name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			s, err := src.secret(name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			data = make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var invalid []string
		for _, k := range keys {
			n := from.Prefix + k
			// Upstream (relaxed env var validation, GA) accepts any printable ASCII name but "=";
			// a name it would refuse cannot be passed as NAME=value, so it is skipped.
			if errs := validation.IsRelaxedEnvVarName(n); len(errs) != 0 {
				invalid = append(invalid, n)
				continue
			}
			e.set(n, data[k])
		}
		if len(invalid) > 0 {
			klog.FromContext(ctx).Info("Skipped envFrom keys that are not valid environment variable names",
				"pod", klog.KObj(pod), "container", c.Name, "source", kind+" "+pod.Namespace+"/"+name, "keys", invalid)
		}
	}

	mapping := MappingFor(e.lookup)
	for _, ev := range c.Env {
		value := ev.Value
		switch {
		case value != "":
			value = Expand(value, mapping)
		case ev.ValueFrom == nil:
		case ev.ValueFrom.FieldRef != nil:
			v, err := PodFieldValue(pod, ev.ValueFrom.FieldRef, podIPs, hostIP)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", ev.Name, err)
			}
			value = v
		case ev.ValueFrom.ResourceFieldRef != nil:
			v, err := ResourceFieldValue(ev.ValueFrom.ResourceFieldRef, pod, c, allocatable)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", ev.Name, err)
			}
			value = v
		case ev.ValueFrom.ConfigMapKeyRef != nil:
			ref := ev.ValueFrom.ConfigMapKeyRef
			optional := isTrue(ref.Optional)
			cm, err := src.configMap(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = v
		case ev.ValueFrom.SecretKeyRef != nil:
			ref := ev.ValueFrom.SecretKeyRef
			optional := isTrue(ref.Optional)
			s, err := src.secret(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = string(v)
		case ev.ValueFrom.FileKeyRef != nil:
			return nil, fmt.Errorf("env %s: valueFrom.fileKeyRef is not supported by kubeshim", ev.Name)
		}
		e.set(ev.Name, value)
	}

	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.values[n])
	}
	return out, nil
}

func isTrue(b *bool) bool { return b != nil && *b }
