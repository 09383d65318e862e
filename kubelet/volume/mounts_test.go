package volume

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

func TestMounts(t *testing.T) {
	host, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(host, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(host, "sub", "file"), []byte("f"), 0o644))
	must(t, os.Symlink("/etc", filepath.Join(host, "escape")))
	must(t, os.Symlink("../..", filepath.Join(host, "sub", "up")))
	must(t, os.Symlink("sub", filepath.Join(host, "inside")))

	pods, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	m := New(fake.NewClientset(configObjects()...), pods)
	pod := testPod(
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		hostPathVol("host", host, nil),
		cmVol("cfg", "cfg", nil, nil, nil),
	)
	paths, err := m.Setup(context.Background(), pod)
	must(t, err)
	data, cfg := paths["data"], paths["cfg"]
	ts, err := os.Readlink(filepath.Join(cfg, "..data"))
	must(t, err)

	tests := []struct {
		name    string
		mount   corev1.VolumeMount
		env     []string
		want    runtime.Mount
		wantErr string
		check   func(t *testing.T)
	}{{
		name:  "emptyDir read-write",
		mount: corev1.VolumeMount{Name: "data", MountPath: "/data"},
		want:  runtime.Mount{HostPath: data, ContainerPath: "/data"},
	}, {
		name:  "readOnly honoured",
		mount: corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: true},
		want:  runtime.Mount{HostPath: host, ContainerPath: "/host", ReadOnly: true},
	}, {
		name:  "configMap is always read-only",
		mount: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/cfg"},
		want:  runtime.Mount{HostPath: cfg, ContainerPath: "/etc/cfg", ReadOnly: true},
	}, {
		name:  "relative mountPath made absolute",
		mount: corev1.VolumeMount{Name: "data", MountPath: "data"},
		want:  runtime.Mount{HostPath: data, ContainerPath: "/data"},
	}, {
		name:  "subPath directory",
		mount: corev1.VolumeMount{Name: "host", MountPath: "/sub", SubPath: "sub"},
		want:  runtime.Mount{HostPath: filepath.Join(host, "sub"), ContainerPath: "/sub"},
	}, {
		name:  "subPath file through a symlink inside the volume",
		mount: corev1.VolumeMount{Name: "host", MountPath: "/f", SubPath: "inside/file"},
		want:  runtime.Mount{HostPath: filepath.Join(host, "sub", "file"), ContainerPath: "/f"},
	}, {
		name:  "subPath into a configMap resolves to its data",
		mount: corev1.VolumeMount{Name: "cfg", MountPath: "/app.conf", SubPath: "app.conf"},
		want:  runtime.Mount{HostPath: filepath.Join(cfg, ts, "app.conf"), ContainerPath: "/app.conf", ReadOnly: true},
	}, {
		name:  "missing subPath created with the volume's mode",
		mount: corev1.VolumeMount{Name: "data", MountPath: "/deep", SubPath: "a/b"},
		want:  runtime.Mount{HostPath: filepath.Join(data, "a", "b"), ContainerPath: "/deep"},
		check: func(t *testing.T) {
			for _, p := range []string{filepath.Join(data, "a"), filepath.Join(data, "a", "b")} {
				st, err := os.Stat(p)
				must(t, err)
				if st.Mode() != fs.ModeDir|0o777 {
					t.Errorf("%s mode %v, want drwxrwxrwx", p, st.Mode())
				}
			}
		},
	}, {
		name:    "subPath with ..",
		mount:   corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "a/../../etc"},
		wantErr: "unable to provision SubPath `a/../../etc`: must not contain '..'",
	}, {
		name:    "absolute subPath",
		mount:   corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "/etc"},
		wantErr: "error SubPath `/etc` must not be an absolute path",
	}, {
		name:    "subPath symlink escaping the volume",
		mount:   corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "escape"},
		wantErr: `subPath "escape" is outside of the volume`,
	}, {
		name:    "subPath through an escaping symlink",
		mount:   corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "escape/passwd"},
		wantErr: `subPath "escape/passwd" is outside of the volume`,
	}, {
		name:    "subPath through a relative symlink going up",
		mount:   corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "sub/up/newdir"},
		wantErr: `subPath "sub/up/newdir" is outside of the volume`,
		check: func(t *testing.T) {
			if _, err := os.Lstat(filepath.Join(filepath.Dir(host), "newdir")); err == nil {
				t.Errorf("a directory was created outside of the volume")
			}
		},
	}, {
		name:    "subPath below a file",
		mount:   corev1.VolumeMount{Name: "host", MountPath: "/x", SubPath: "sub/file/more"},
		wantErr: `subPath "sub/file/more": file is not a directory`,
	}, {
		name:  "subPathExpr expanded with the environment",
		mount: corev1.VolumeMount{Name: "data", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"},
		env:   []string{"POD_NAME=web-1", "OTHER=x"},
		want:  runtime.Mount{HostPath: filepath.Join(data, "logs", "web-1"), ContainerPath: "/logs"},
	}, {
		name:    "subPathExpr with a missing variable",
		mount:   corev1.VolumeMount{Name: "data", MountPath: "/logs", SubPathExpr: "$(B)/$(A)"},
		env:     []string{"A="},
		wantErr: "missing value for A, B",
	}, {
		name:    "unknown volume",
		mount:   corev1.VolumeMount{Name: "nope", MountPath: "/x"},
		wantErr: `cannot find volume "nope" to mount into container "main"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := pod.Spec.Containers[0].DeepCopy()
			c.VolumeMounts = []corev1.VolumeMount{tc.mount}
			got, err := MountsWithEnv(pod, c, paths, tc.env)
			if tc.check != nil {
				defer tc.check(t)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			if diff := cmp.Diff([]runtime.Mount{tc.want}, got); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		})
	}

	// Mounts keeps the order of volumeMounts.
	c := pod.Spec.Containers[0].DeepCopy()
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/c"}, {Name: "data", MountPath: "/d"}, {Name: "host", MountPath: "/h"},
	}
	got, err := Mounts(pod, c, paths)
	must(t, err)
	want := []runtime.Mount{
		{HostPath: cfg, ContainerPath: "/c", ReadOnly: true},
		{HostPath: data, ContainerPath: "/d"},
		{HostPath: host, ContainerPath: "/h"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}
