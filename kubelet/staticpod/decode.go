package staticpod

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decoder decodes YAML or JSON strictly (unknown and duplicate fields are errors, named by
// their path, as kube-apiserver reports them) into the core/v1 types.
var decoder = func() *jsonserializer.Serializer {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	return jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme, scheme,
		jsonserializer.SerializerOptions{Yaml: true, Strict: true})
}()

// podFromFile decodes, defaults and validates the pod of the manifest at path, as upstream's
// tryDecodeSinglePod and applyDefaults do. The result lacks only the config.source and
// config.seen annotations.
func (s *Source) podFromFile(path string, data []byte) (*corev1.Pod, error) {
	doc, err := singleDocument(data)
	if err != nil {
		return nil, err
	}
	pod, err := decodePod(doc)
	if err != nil {
		return nil, err
	}
	if pod.Name == "" {
		return nil, errors.New("invalid pod: name is needed for the pod")
	}
	if s.cfg.Default != nil {
		s.cfg.Default(pod)
	}
	applyDefaults(pod, path, s.cfg.NodeName)
	if s.cfg.Validate != nil {
		if err := s.cfg.Validate(pod); err != nil {
			return nil, fmt.Errorf("invalid pod: %w", err)
		}
	}
	if resource, err := apiObjectReference(pod); err != nil {
		return nil, err
	} else if resource != "" {
		return nil, fmt.Errorf("static pods may not reference %s", resource)
	}
	return pod, nil
}

// singleDocument returns the one YAML (or JSON) document of a file: a file holds one pod.
func singleDocument(data []byte) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML documents: %w", err)
		}
		if isEmptyDocument(doc) {
			continue
		}
		docs = append(docs, doc)
	}
	switch len(docs) {
	case 0:
		return nil, errors.New("the file holds no pod")
	case 1:
		return docs[0], nil
	default:
		return nil, fmt.Errorf("the file holds %d YAML documents; a static pod file holds one Pod", len(docs))
	}
}

// isEmptyDocument is true for a document of only blanks and comments.
func isEmptyDocument(doc []byte) bool {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return false // let the decoder say what is wrong
	}
	return bytes.Equal(bytes.TrimSpace(j), []byte("null"))
}

func decodePod(doc []byte) (*corev1.Pod, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse as YAML or JSON: %w", err)
	}
	gvk, err := jsonserializer.DefaultMetaFactory.Interpret(j)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse as a pod: %w", err)
	}
	if gvk.Kind != "Pod" || gvk.Group != "" || gvk.Version != "v1" {
		return nil, fmt.Errorf("kind %q of apiVersion %q: a static pod file holds a Pod of apiVersion v1",
			gvk.Kind, gvk.GroupVersion().String())
	}
	obj, _, err := decoder.Decode(doc, nil, nil)
	if err != nil {
		// A strict decoding error names the unknown or duplicate fields.
		return nil, fmt.Errorf("couldn't parse as a pod: %w", err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("decoded a %T, not a pod", obj)
	}
	return pod, nil
}

// applyDefaults makes a decoded pod this node's static pod, as upstream's applyDefaults does
// for a file: a UID hashed from the pod, the node and the file (unless the file sets one), the
// name NAME-NODENAME, namespace "default" when none, bound to the node, the config.hash
// annotation, a toleration of every NoExecute taint (a node problem must not evict it), and
// phase Pending.
func applyDefaults(pod *corev1.Pod, path, nodeName string) {
	if pod.UID == "" {
		hasher := fnv.New128a()
		fmt.Fprintf(hasher, "%v", dump.ForHash(pod))
		fmt.Fprintf(hasher, "host:%s", nodeName)
		fmt.Fprintf(hasher, "file:%s", path)
		pod.UID = types.UID(hex.EncodeToString(hasher.Sum(nil)))
	}
	pod.Name = pod.Name + "-" + strings.ToLower(nodeName)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ConfigHashAnnotationKey] = string(pod.UID)
	tolerateNoExecute(&pod.Spec)
	pod.Status.Phase = corev1.PodPending
}

// tolerateNoExecute adds (or replaces the same) toleration {operator: Exists, effect:
// NoExecute}.
func tolerateNoExecute(spec *corev1.PodSpec) {
	t := corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	for i, have := range spec.Tolerations {
		if have.Key == t.Key && have.Operator == t.Operator && have.Value == t.Value && have.Effect == t.Effect {
			spec.Tolerations[i] = t
			return
		}
	}
	spec.Tolerations = append(spec.Tolerations, t)
}

// apiObjectReference names the first kind of API object a pod refers to (upstream's
// PreventStaticPodAPIReferences, on by default): a static pod runs without the API server,
// so it may use none. "" when there is none.
func apiObjectReference(pod *corev1.Pod) (string, error) {
	spec := &pod.Spec
	if spec.ServiceAccountName != "" || spec.DeprecatedServiceAccount != "" {
		return "serviceaccounts", nil
	}
	if len(spec.ImagePullSecrets) > 0 {
		return "secrets", nil
	}
	if len(spec.ResourceClaims) > 0 {
		return "resourceclaims", nil
	}
	var containers []*corev1.Container
	for i := range spec.InitContainers {
		containers = append(containers, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		containers = append(containers, &spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		containers = append(containers, (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				return "secrets", nil
			}
			if e.ConfigMapRef != nil {
				return "configmaps", nil
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.SecretKeyRef != nil {
				return "secrets", nil
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				return "configmaps", nil
			}
		}
	}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			return "configmaps (via configmap volumes)", nil
		case v.Secret != nil:
			return "secrets (via secret volumes)", nil
		case v.CSI != nil:
			return "csidrivers (via CSI volumes)", nil
		case v.Glusterfs != nil:
			return "endpoints (via glusterFS volumes)", nil
		case v.PersistentVolumeClaim != nil:
			return "persistentvolumeclaims", nil
		case v.Ephemeral != nil:
			return "persistentvolumeclaims (via ephemeral volumes)", nil
		case v.AzureFile != nil:
			return "secrets (via azureFile volumes)", nil
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.ConfigMap != nil:
					return "configmaps (via projected volumes)", nil
				case src.Secret != nil:
					return "secrets (via projected volumes)", nil
				case src.ServiceAccountToken != nil:
					return "serviceaccounts (via projected volumes)", nil
				case src.ClusterTrustBundle != nil:
					return "clustertrustbundles", nil
				case src.PodCertificate != nil:
					return "podcertificates", nil
				case src.DownwardAPI != nil:
				default:
					return "", fmt.Errorf("unknown source for projected volume %q", v.Name)
				}
			}
		case v.HostPath != nil, v.EmptyDir != nil, v.DownwardAPI != nil, v.Image != nil,
			v.GCEPersistentDisk != nil, v.AWSElasticBlockStore != nil, v.GitRepo != nil, v.NFS != nil,
			v.ISCSI != nil, v.RBD != nil, v.FlexVolume != nil, v.Cinder != nil, v.CephFS != nil,
			v.Flocker != nil, v.FC != nil, v.VsphereVolume != nil, v.Quobyte != nil, v.AzureDisk != nil,
			v.PhotonPersistentDisk != nil, v.PortworxVolume != nil, v.ScaleIO != nil, v.StorageOS != nil:
		default:
			return "", fmt.Errorf("unknown volume type for volume %q", v.Name)
		}
	}
	return "", nil
}
