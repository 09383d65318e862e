// Package volume prepares a pod's volumes on the node's disk and turns a container's
// volumeMounts into runtime mounts. Volumes live in podsDir/<uid>/volumes/<plugin>/<name> with
// upstream's plugin directory names (kubernetes.io~empty-dir, kubernetes.io~configmap, …);
// hostPath volumes are the host's own paths.
package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Plugin directory names under podsDir/<uid>/volumes, as upstream's kubelet names them.
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginConfigMap   = "kubernetes.io~configmap"
	PluginSecret      = "kubernetes.io~secret"
	PluginDownwardAPI = "kubernetes.io~downward-api"
	PluginProjected   = "kubernetes.io~projected"
)

// Error is the error of Setup for one volume. It reads as upstream's event message:
// `MountVolume.SetUp failed for volume "v" : configmap "c" not found`.
type Error struct {
	Volume string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Manager prepares and removes the volumes of pods. It is safe for concurrent use; calls for
// one pod are expected from one pod worker at a time.
type Manager struct {
	client  kubernetes.Interface
	podsDir string

	mu    sync.Mutex
	alloc corev1.ResourceList
}

// New returns a Manager reading configMaps and secrets through client and keeping the volumes
// of pod <uid> in podsDir/<uid>/volumes.
func New(client kubernetes.Interface, podsDir string) *Manager {
	return &Manager{client: client, podsDir: podsDir}
}

// SetAllocatable sets the node's allocatable resources, which a downwardAPI resourceFieldRef
// reports for a limit the container does not set (as upstream). Without it such a value is 0.
func (m *Manager) SetAllocatable(allocatable corev1.ResourceList) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alloc = allocatable.DeepCopy()
}

func (m *Manager) allocatable() corev1.ResourceList {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.alloc
}

// VolumesDir is the directory holding the volumes of pod uid.
func (m *Manager) VolumesDir(uid types.UID) string {
	return filepath.Join(m.podsDir, string(uid), "volumes")
}

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.VolumesDir(uid), plugin, name)
}

// Setup prepares every volume of pod and returns the host path of each by volume name. It is
// idempotent, and a later call refreshes the content of configMap, secret, downwardAPI and
// projected volumes. The error of the first volume that fails is an *Error naming it, saying
// why as upstream's kubelet does ("hostPath type check failed: /x is not a directory, it's a
// File", `configmap "c" not found`, `secret "s" not found`). Optional configMaps and secrets
// that are missing give an empty volume.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setupVolume(ctx, pod, v)
		if err != nil {
			return nil, &Error{Volume: v.Name, Err: err}
		}
		paths[v.Name] = p
	}
	return paths, nil
}

func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	src := &v.VolumeSource
	switch {
	case src.HostPath != nil:
		if err := checkHostPath(src.HostPath); err != nil {
			return "", err
		}
		return src.HostPath.Path, nil
	case src.EmptyDir != nil:
		return m.setupEmptyDir(pod, v.Name, src.EmptyDir)
	case src.ConfigMap != nil:
		cm := src.ConfigMap
		payload := map[string]file{}
		if err := m.configMapPayload(ctx, payload, pod.Namespace, cm.Name, cm.Items, cm.DefaultMode, isTrue(cm.Optional)); err != nil {
			return "", err
		}
		return m.writeVolume(pod.UID, PluginConfigMap, v.Name, payload)
	case src.Secret != nil:
		s := src.Secret
		payload := map[string]file{}
		if err := m.secretPayload(ctx, payload, pod.Namespace, s.SecretName, s.Items, s.DefaultMode, isTrue(s.Optional)); err != nil {
			return "", err
		}
		return m.writeVolume(pod.UID, PluginSecret, v.Name, payload)
	case src.DownwardAPI != nil:
		payload := map[string]file{}
		if err := m.downwardAPIPayload(payload, pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode); err != nil {
			return "", err
		}
		return m.writeVolume(pod.UID, PluginDownwardAPI, v.Name, payload)
	case src.Projected != nil:
		payload, err := m.projectedPayload(ctx, pod, src.Projected)
		if err != nil {
			return "", err
		}
		return m.writeVolume(pod.UID, PluginProjected, v.Name, payload)
	}
	return "", fmt.Errorf("unsupported volume type %s", volumeType(src))
}

// volumeType is the JSON name of the source set in src ("nfs", "persistentVolumeClaim").
func volumeType(src *corev1.VolumeSource) string {
	rv := reflect.ValueOf(src).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "<none>"
}

// writeVolume writes payload into the volume directory with the atomic layout.
func (m *Manager) writeVolume(uid types.UID, plugin, name string, payload map[string]file) (string, error) {
	dir := m.volumeDir(uid, plugin, name)
	if err := mkdirVolume(dir, 0o777); err != nil {
		return "", err
	}
	if err := writeAtomic(dir, payload); err != nil {
		return "", fmt.Errorf("writing volume files: %w", err)
	}
	return dir, nil
}

// mkdirVolume creates dir (its parents 0750, as upstream's pod directories) with mode perm
// whatever the umask.
func mkdirVolume(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return fmt.Errorf("creating volume directory: %w", err)
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("creating volume directory: %w", err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return fmt.Errorf("creating volume directory: %w", err)
	}
	return nil
}

// setupEmptyDir makes the emptyDir's directory, 0777 as upstream. Medium Memory mounts a tmpfs
// there (size = sizeLimit when set) when the kubelet may mount (root); otherwise the volume is
// a plain directory on disk and a warning is logged.
func (m *Manager) setupEmptyDir(pod *corev1.Pod, name string, src *corev1.EmptyDirVolumeSource) (string, error) {
	dir := m.volumeDir(pod.UID, PluginEmptyDir, name)
	if err := mkdirVolume(dir, 0o777); err != nil {
		return "", err
	}
	switch src.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		var size int64
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		mounted, err := mountTmpfs(dir, size)
		if err != nil {
			if !errors.Is(err, errMountNotPermitted) {
				return "", err
			}
			klog.InfoS("Warning: emptyDir medium Memory is a plain directory on disk: the kubelet may not mount tmpfs",
				"pod", klog.KObj(pod), "volume", name, "err", err)
		} else if mounted {
			// The mount hides the directory's mode: set it on the tmpfs root.
			if err := os.Chmod(dir, 0o777); err != nil {
				return "", fmt.Errorf("chmod %s: %w", dir, err)
			}
		}
	default:
		// HugePages media need hugetlbfs: not supported.
		return "", fmt.Errorf("emptyDir medium %q is not supported", src.Medium)
	}
	return dir, nil
}

// Cleanup removes the volumes of pod uid, which is gone: it unmounts the tmpfs of its
// memory-backed emptyDirs, then removes podsDir/<uid>/volumes (emptyDirs, configMap, secret,
// downwardAPI and projected files). hostPath volumes are the host's own paths and are never
// touched; should anything else still be mounted under the volumes directory, nothing is
// removed and an error says so. A pod without volumes on disk is not an error.
func (m *Manager) Cleanup(podUID types.UID) error {
	if podUID == "" || strings.ContainsAny(string(podUID), "/\x00") || podUID == "." || podUID == ".." {
		return fmt.Errorf("cleanup of volumes: invalid pod UID %q", podUID)
	}
	dir := m.VolumesDir(podUID)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := unmountTmpfsUnder(dir); err != nil {
		return fmt.Errorf("cleanup of volumes of pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cleanup of volumes of pod %s: %w", podUID, err)
	}
	// The pod directory itself belongs to the runtime; remove it only when nothing is left.
	_ = os.Remove(filepath.Dir(dir))
	return nil
}
