package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/envvars"
)

// defaultFileMode is the API's default for defaultMode (0644).
const defaultFileMode = corev1.ConfigMapVolumeSourceDefaultMode

func fileMode(itemMode, defaultMode *int32) os.FileMode {
	switch {
	case itemMode != nil:
		return os.FileMode(*itemMode) & os.ModePerm
	case defaultMode != nil:
		return os.FileMode(*defaultMode) & os.ModePerm
	}
	return os.FileMode(defaultFileMode)
}

func isTrue(b *bool) bool { return b != nil && *b }

// projectKeys adds to payload the keys of data: all of them (file name = key) when items is
// empty, else the items (a missing key is an error unless optional). kind names the source in
// the error ("configmap", "secret").
func projectKeys(payload map[string]file, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, kind string) error {
	if len(items) == 0 {
		for k, v := range data {
			payload[k] = file{Data: v, Mode: fileMode(nil, defaultMode)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			if kind == "secret" {
				return fmt.Errorf("references non-existent secret key: %s", it.Key)
			}
			return fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		payload[it.Path] = file{Data: v, Mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

// configMapData is the configMap's data and binaryData as bytes.
func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

// configMapPayload adds configMap src's files to payload. A missing configMap is an error
// (`configmap "c" not found`) unless optional, when it adds nothing.
func (m *Manager) configMapPayload(ctx context.Context, payload map[string]file, ns, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) error {
	cm, err := envvars.GetConfigMap(ctx, m.client, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil
		}
		return err
	}
	return projectKeys(payload, configMapData(cm), items, defaultMode, optional, "configmap")
}

// secretPayload is configMapPayload for a secret (`secret "s" not found`).
func (m *Manager) secretPayload(ctx context.Context, payload map[string]file, ns, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) error {
	s, err := envvars.GetSecret(ctx, m.client, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil
		}
		return err
	}
	return projectKeys(payload, s.Data, items, defaultMode, optional, "secret")
}

// downwardAPIPayload adds the downward API items to payload. Fields are those a downwardAPI
// volume allows (metadata.name, namespace, uid, labels, annotations, one label or annotation);
// resourceFieldRef reads the named container's resources (limits default to the node's
// allocatable given by SetAllocatable).
func (m *Manager) downwardAPIPayload(payload map[string]file, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32) error {
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			v, err = envvars.PodFieldValue(pod, it.FieldRef, nil, "")
		case it.ResourceFieldRef != nil:
			v, err = envvars.ResourceFieldValue(it.ResourceFieldRef, pod, nil, m.allocatable())
		default:
			err = fmt.Errorf("downwardAPI item %s has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		payload[it.Path] = file{Data: []byte(v), Mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

// projectedPayload builds the payload of a projected volume from its sources in order (a later
// source's file replaces an earlier one of the same path, as upstream).
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]file, error) {
	payload := map[string]file{}
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			if err := m.configMapPayload(ctx, payload, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, src.DefaultMode, isTrue(s.ConfigMap.Optional)); err != nil {
				return nil, err
			}
		case s.Secret != nil:
			if err := m.secretPayload(ctx, payload, pod.Namespace, s.Secret.Name, s.Secret.Items, src.DefaultMode, isTrue(s.Secret.Optional)); err != nil {
				return nil, err
			}
		case s.DownwardAPI != nil:
			if err := m.downwardAPIPayload(payload, pod, s.DownwardAPI.Items, src.DefaultMode); err != nil {
				return nil, err
			}
		case s.ServiceAccountToken != nil:
			// kubeshim issues no bound service account tokens yet: the file is left out.
			klog.V(2).InfoS("Projected serviceAccountToken not supported, file left out",
				"pod", klog.KObj(pod), "path", s.ServiceAccountToken.Path)
		case s.ClusterTrustBundle != nil:
			return nil, fmt.Errorf("projected source clusterTrustBundle is not supported")
		case s.PodCertificate != nil:
			return nil, fmt.Errorf("projected source podCertificate is not supported")
		}
	}
	return payload, nil
}
