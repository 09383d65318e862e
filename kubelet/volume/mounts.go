package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubeshim/kubeshim/kubelet/envvars"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// Mounts returns the runtime mounts of container c of pod: one per volumeMount, in order, from
// paths (what Setup returned). SubPath is joined to the volume's path, refused when absolute,
// holding "..", or resolving (through symlinks) outside the volume, and created as a directory
// when missing; the returned HostPath is then the resolved path. ReadOnly is the mount's
// readOnly, and always true for configMap, secret, downwardAPI and projected volumes (as
// upstream). A volumeMount naming no volume of paths is an error. subPathExpr needs the
// container's environment: use MountsWithEnv.
func Mounts(pod *corev1.Pod, c *corev1.Container, paths map[string]string) ([]runtime.Mount, error) {
	return MountsWithEnv(pod, c, paths, nil)
}

// MountsWithEnv is Mounts, expanding subPathExpr with env (the container's resolved
// environment, "NAME=value" as envvars.Resolve returns it); a reference to a variable that is
// unset or empty is an error ("missing value for X"), as upstream.
func MountsWithEnv(pod *corev1.Pod, c *corev1.Container, paths map[string]string, env []string) ([]runtime.Mount, error) {
	mounts := make([]runtime.Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		hostPath, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if subPath, err = expandSubPathExpr(vm.SubPathExpr, env); err != nil {
				return nil, fmt.Errorf("volumeMount %q of container %q: %w", vm.Name, c.Name, err)
			}
		}
		if subPath != "" {
			sp, err := safeSubPath(hostPath, subPath)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q of container %q: %w", vm.Name, c.Name, err)
			}
			hostPath = sp
		}
		containerPath := vm.MountPath
		if !strings.HasPrefix(containerPath, "/") {
			containerPath = "/" + containerPath
		}
		mounts = append(mounts, runtime.Mount{
			HostPath:      hostPath,
			ContainerPath: containerPath,
			ReadOnly:      vm.ReadOnly || alwaysReadOnly(pod, vm.Name),
		})
	}
	return mounts, nil
}

// alwaysReadOnly reports whether volume name of pod is one upstream always mounts read-only.
func alwaysReadOnly(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Name == name {
			return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
		}
	}
	return false
}

func expandSubPathExpr(expr string, env []string) (string, error) {
	values := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	var missing []string
	out := envvars.Expand(expr, func(name string) string {
		v := values[name]
		if v == "" && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// safeSubPath joins subPath to the volume at root and returns the real (symlink-free) host path
// of the result, refusing any path that leaves the volume. Missing directories are created
// one by one with the mode of the volume's root (upstream does the same so that the runtime
// does not create them with its own mode); a missing last element is a directory too.
func safeSubPath(root, subPath string) (string, error) {
	if path.IsAbs(subPath) || filepath.IsAbs(subPath) {
		return "", fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
	}
	for _, el := range strings.Split(filepath.ToSlash(subPath), "/") {
		if el == ".." {
			return "", fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", subPath)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("subPath %q: resolving volume path: %w", subPath, err)
	}
	st, err := os.Stat(realRoot)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", subPath, err)
	}
	perm := st.Mode().Perm()

	cur := realRoot
	elems := strings.Split(filepath.Clean(subPath), string(filepath.Separator))
	for i, el := range elems {
		if el == "" || el == "." {
			continue
		}
		next := filepath.Join(cur, el)
		lst, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(next, perm); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("failed to create subPath directory %q: %w", subPath, err)
			}
			if err := os.Chmod(next, perm); err != nil {
				return "", fmt.Errorf("failed to create subPath directory %q: %w", subPath, err)
			}
			// Whatever is there now (a racing writer may have made it a symlink) is checked below.
			lst, err = os.Lstat(next)
			if err != nil {
				return "", fmt.Errorf("subPath %q: %w", subPath, err)
			}
		case err != nil:
			return "", fmt.Errorf("subPath %q: %w", subPath, err)
		}
		if lst.Mode()&fs.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("subPath %q: resolving %s: %w", subPath, el, err)
			}
			next = resolved
			if lst, err = os.Stat(next); err != nil {
				return "", fmt.Errorf("subPath %q: %w", subPath, err)
			}
		}
		if !within(realRoot, next) {
			return "", fmt.Errorf("subPath %q is outside of the volume", subPath)
		}
		if i < len(elems)-1 && !lst.IsDir() {
			return "", fmt.Errorf("subPath %q: %s is not a directory", subPath, el)
		}
		cur = next
	}
	return cur, nil
}

// within reports whether p is base or under it.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
