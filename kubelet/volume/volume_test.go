package volume

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

// needRoot skips a test that needs root, except under CI=true where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (mount); CI=true so it must not be skipped")
	}
	t.Skip("skipping: this test needs root (mount)")
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "default", UID: "11111111-2222",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"build": "42"},
		},
		Spec: corev1.PodSpec{
			Volumes: vols,
			Containers: []corev1.Container{{
				Name: "main",
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
}

func hostPathVol(name, path string, typ *corev1.HostPathType) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: typ}}}
}

func setupErr(t *testing.T, m *Manager, pod *corev1.Pod) (map[string]string, error) {
	t.Helper()
	return m.Setup(context.Background(), pod)
}

func TestHostPath(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "dir")
	regular := filepath.Join(tmp, "file")
	sock := filepath.Join(tmp, "sock")
	fifo := filepath.Join(tmp, "fifo")
	must(t, os.Mkdir(dir, 0o700))
	must(t, os.WriteFile(regular, []byte("x"), 0o600))
	l, err := net.Listen("unix", sock)
	must(t, err)
	t.Cleanup(func() { _ = l.Close() })
	must(t, mkfifo(fifo))
	block := blockDevice(t, tmp)

	ty := func(v corev1.HostPathType) *corev1.HostPathType { return &v }
	tests := []struct {
		name     string
		path     string
		typ      *corev1.HostPathType
		wantErr  string
		wantMode fs.FileMode // checked when set: type and permissions of what is there after Setup
	}{
		{name: "unset type, existing file", path: regular},
		{name: "unset type, empty string type", path: regular, typ: ty("")},
		{name: "unset type, missing path is created as a directory", path: filepath.Join(tmp, "new1", "sub"), wantMode: fs.ModeDir | 0o755},
		{name: "Directory ok", path: dir, typ: ty(corev1.HostPathDirectory)},
		{name: "Directory on a file", path: regular, typ: ty(corev1.HostPathDirectory),
			wantErr: "hostPath type check failed: " + regular + " is not a directory, it's a File"},
		{name: "Directory missing", path: filepath.Join(tmp, "missing"), typ: ty(corev1.HostPathDirectory),
			wantErr: "hostPath " + filepath.Join(tmp, "missing") + " doesn't exist"},
		{name: "DirectoryOrCreate creates 0755", path: filepath.Join(tmp, "new2", "a"), typ: ty(corev1.HostPathDirectoryOrCreate), wantMode: fs.ModeDir | 0o755},
		{name: "DirectoryOrCreate existing dir keeps its mode", path: dir, typ: ty(corev1.HostPathDirectoryOrCreate), wantMode: fs.ModeDir | 0o700},
		{name: "DirectoryOrCreate on a file", path: regular, typ: ty(corev1.HostPathDirectoryOrCreate),
			wantErr: "hostPath type check failed: " + regular + " is not a directory, it's a File"},
		{name: "File ok", path: regular, typ: ty(corev1.HostPathFile)},
		{name: "File on a directory", path: dir, typ: ty(corev1.HostPathFile),
			wantErr: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "FileOrCreate creates 0644", path: filepath.Join(tmp, "newfile"), typ: ty(corev1.HostPathFileOrCreate), wantMode: 0o644},
		{name: "FileOrCreate existing file untouched", path: regular, typ: ty(corev1.HostPathFileOrCreate), wantMode: 0o600},
		{name: "FileOrCreate does not create the parent", path: filepath.Join(tmp, "noparent", "f"), typ: ty(corev1.HostPathFileOrCreate),
			wantErr: "no such file or directory"},
		{name: "FileOrCreate on a directory", path: dir, typ: ty(corev1.HostPathFileOrCreate),
			wantErr: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "Socket ok", path: sock, typ: ty(corev1.HostPathSocket)},
		{name: "Socket on a file", path: regular, typ: ty(corev1.HostPathSocket),
			wantErr: "hostPath type check failed: " + regular + " is not a socket file, it's a File"},
		{name: "CharDevice ok (/dev/null)", path: "/dev/null", typ: ty(corev1.HostPathCharDev)},
		{name: "CharDevice on a socket", path: sock, typ: ty(corev1.HostPathCharDev),
			wantErr: "hostPath type check failed: " + sock + " is not a character device, it's a Socket"},
		{name: "BlockDevice on /dev/null", path: "/dev/null", typ: ty(corev1.HostPathBlockDev),
			wantErr: "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"},
		{name: "BlockDevice ok", path: block, typ: ty(corev1.HostPathBlockDev)},
		{name: "CharDevice on a block device", path: block, typ: ty(corev1.HostPathCharDev),
			wantErr: "hostPath type check failed: " + block + " is not a character device, it's a BlockDevice"},
		{name: "fifo has no type", path: fifo, typ: ty(corev1.HostPathFile),
			wantErr: "hostPath type check failed, " + fifo + " is not a file, unable to determine its type: only recognise file, directory, socket, block device and character device"},
		{name: "invalid type", path: regular, typ: ty("Weird"), wantErr: "Weird is an invalid volume type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				t.Fatal("no block device available")
			}
			m := New(fake.NewClientset(), t.TempDir())
			paths, err := setupErr(t, m, testPod(hostPathVol("hp", tc.path, tc.typ)))
			if tc.wantErr != "" {
				var ve *Error
				if !errors.As(err, &ve) || ve.Volume != "hp" {
					t.Fatalf("error = %v, want a *volume.Error for volume hp", err)
				}
				if !strings.HasPrefix(err.Error(), `MountVolume.SetUp failed for volume "hp" : `) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if paths["hp"] != tc.path {
				t.Errorf("path = %q, want the host path %q", paths["hp"], tc.path)
			}
			if tc.wantMode != 0 {
				st, err := os.Stat(tc.path)
				must(t, err)
				if st.Mode() != tc.wantMode {
					t.Errorf("mode of %s = %v, want %v", tc.path, st.Mode(), tc.wantMode)
				}
			}
		})
	}
}

func TestUnsupportedVolumeTypes(t *testing.T) {
	tests := []struct {
		src  corev1.VolumeSource
		want string
	}{
		{corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}, "unsupported volume type nfs"},
		{corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}, "unsupported volume type persistentVolumeClaim"},
		{corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}, "unsupported volume type iscsi"},
		{corev1.VolumeSource{}, "unsupported volume type <none>"},
		{corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}}, `emptyDir medium "HugePages" is not supported`},
	}
	for _, tc := range tests {
		m := New(fake.NewClientset(), t.TempDir())
		_, err := setupErr(t, m, testPod(corev1.Volume{Name: "v", VolumeSource: tc.src}))
		want := `MountVolume.SetUp failed for volume "v" : ` + tc.want
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
}

func TestEmptyDir(t *testing.T) {
	pods := t.TempDir()
	m := New(fake.NewClientset(), pods)
	pod := testPod(corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	paths, err := setupErr(t, m, pod)
	must(t, err)
	want := filepath.Join(pods, string(pod.UID), "volumes", PluginEmptyDir, "cache")
	if paths["cache"] != want {
		t.Fatalf("path = %q, want %q", paths["cache"], want)
	}
	st, err := os.Stat(want)
	must(t, err)
	if st.Mode() != fs.ModeDir|0o777 {
		t.Errorf("mode = %v, want drwxrwxrwx", st.Mode())
	}
	// Setup again keeps the content.
	must(t, os.WriteFile(filepath.Join(want, "data"), []byte("kept"), 0o644))
	_, err = setupErr(t, m, pod)
	must(t, err)
	if b, err := os.ReadFile(filepath.Join(want, "data")); err != nil || string(b) != "kept" {
		t.Errorf("content after second Setup = %q, %v", b, err)
	}
}

func TestEmptyDirMemoryIsTmpfs(t *testing.T) {
	needRoot(t)
	pods := t.TempDir()
	m := New(fake.NewClientset(), pods)
	pod := testPod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("2Mi")),
	}}})
	paths, err := setupErr(t, m, pod)
	must(t, err)
	dir := paths["mem"]
	t.Cleanup(func() { _ = unmountTmpfsUnder(dir) })
	mi := mountLine(t, dir)
	if mi == "" || !strings.Contains(mi, " - tmpfs ") || !strings.Contains(mi, "size=2048k") {
		t.Fatalf("mountinfo for %s = %q, want a tmpfs of 2048k", dir, mi)
	}
	st, err := os.Stat(dir)
	must(t, err)
	if st.Mode() != fs.ModeDir|0o777 {
		t.Errorf("mode = %v, want drwxrwxrwx", st.Mode())
	}
	// Idempotent: no second mount.
	_, err = setupErr(t, m, pod)
	must(t, err)
	if n := strings.Count(mountLines(t), " "+dir+" "); n != 1 {
		t.Errorf("%d mounts on %s after a second Setup, want 1", n, dir)
	}
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
	must(t, m.Cleanup(pod.UID))
	if mountLine(t, dir) != "" {
		t.Errorf("%s still mounted after Cleanup", dir)
	}
	if _, err := os.Stat(m.VolumesDir(pod.UID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volumes dir still there after Cleanup: %v", err)
	}
}

func cmVol(name, cm string, items []corev1.KeyToPath, defaultMode *int32, optional *bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, DefaultMode: defaultMode, Optional: optional}}}
}

func secretVol(name, s string, items []corev1.KeyToPath, defaultMode *int32, optional *bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: s, Items: items, DefaultMode: defaultMode, Optional: optional}}}
}

// files lists the user-visible files of dir (following the symlinks, skipping "..*") as
// path → "mode content".
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		must(t, err)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "..") {
				continue
			}
			p := filepath.Join(rel, e.Name())
			st, err := os.Stat(filepath.Join(dir, p))
			must(t, err)
			if st.IsDir() {
				walk(p)
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			must(t, err)
			out[p] = st.Mode().Perm().String() + " " + string(b)
		}
	}
	walk("")
	return out
}

func configObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
			Data:       map[string]string{"app.conf": "port=80", "extra": "e"},
			BinaryData: map[string][]byte{"logo.bin": {0, 1, 2}},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"},
			Data:       map[string][]byte{"password": []byte("s3cr3t"), "token": []byte("t")},
		},
	}
}

func TestConfigMapAndSecret(t *testing.T) {
	tests := []struct {
		name    string
		vol     corev1.Volume
		want    map[string]string
		wantErr string
	}{{
		name: "configMap all keys, default mode 0644",
		vol:  cmVol("v", "cfg", nil, nil, nil),
		want: map[string]string{"app.conf": "-rw-r--r-- port=80", "extra": "-rw-r--r-- e", "logo.bin": "-rw-r--r-- \x00\x01\x02"},
	}, {
		name: "configMap items with paths and modes, defaultMode for the others",
		vol: cmVol("v", "cfg", []corev1.KeyToPath{
			{Key: "app.conf", Path: "etc/app/app.conf", Mode: ptr(int32(0o400))},
			{Key: "extra", Path: "extra.txt"},
		}, ptr(int32(0o640)), nil),
		want: map[string]string{"etc/app/app.conf": "-r-------- port=80", "extra.txt": "-rw-r----- e"},
	}, {
		name:    "configMap item with a missing key",
		vol:     cmVol("v", "cfg", []corev1.KeyToPath{{Key: "nokey", Path: "x"}}, nil, nil),
		wantErr: "configmap references non-existent config key: nokey",
	}, {
		name: "optional configMap item with a missing key is left out",
		vol:  cmVol("v", "cfg", []corev1.KeyToPath{{Key: "nokey", Path: "x"}, {Key: "extra", Path: "y"}}, nil, ptr(true)),
		want: map[string]string{"y": "-rw-r--r-- e"},
	}, {
		name:    "missing configMap",
		vol:     cmVol("v", "c", nil, nil, nil),
		wantErr: `configmap "c" not found`,
	}, {
		name: "missing optional configMap is an empty volume",
		vol:  cmVol("v", "c", nil, nil, ptr(true)),
		want: map[string]string{},
	}, {
		name: "secret all keys with defaultMode",
		vol:  secretVol("v", "sec", nil, ptr(int32(0o600)), nil),
		want: map[string]string{"password": "-rw------- s3cr3t", "token": "-rw------- t"},
	}, {
		name: "secret items",
		vol:  secretVol("v", "sec", []corev1.KeyToPath{{Key: "password", Path: "db/pass", Mode: ptr(int32(0o440))}}, nil, nil),
		want: map[string]string{"db/pass": "-r--r----- s3cr3t"},
	}, {
		name:    "secret item with a missing key",
		vol:     secretVol("v", "sec", []corev1.KeyToPath{{Key: "nokey", Path: "x"}}, nil, nil),
		wantErr: "references non-existent secret key: nokey",
	}, {
		name:    "missing secret",
		vol:     secretVol("v", "s", nil, nil, nil),
		wantErr: `secret "s" not found`,
	}, {
		name: "missing optional secret is an empty volume",
		vol:  secretVol("v", "s", nil, nil, ptr(true)),
		want: map[string]string{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(fake.NewClientset(configObjects()...), t.TempDir())
			paths, err := setupErr(t, m, testPod(tc.vol))
			if tc.wantErr != "" {
				want := `MountVolume.SetUp failed for volume "v" : ` + tc.wantErr
				if err == nil || err.Error() != want {
					t.Fatalf("error = %v, want %q", err, want)
				}
				return
			}
			must(t, err)
			if diff := cmp.Diff(tc.want, files(t, paths["v"])); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAtomicLayoutAndRefresh(t *testing.T) {
	client := fake.NewClientset(configObjects()...)
	m := New(client, t.TempDir())
	pod := testPod(cmVol("v", "cfg", nil, nil, nil))
	paths, err := setupErr(t, m, pod)
	must(t, err)
	dir := paths["v"]
	if !strings.HasSuffix(dir, filepath.Join("volumes", PluginConfigMap, "v")) {
		t.Errorf("path = %s, want …/volumes/%s/v", dir, PluginConfigMap)
	}

	// Layout: key → ..data/key, ..data → ..<timestamp>.
	link, err := os.Readlink(filepath.Join(dir, "app.conf"))
	must(t, err)
	if link != filepath.Join("..data", "app.conf") {
		t.Errorf("app.conf → %q, want ..data/app.conf", link)
	}
	ts1, err := os.Readlink(filepath.Join(dir, "..data"))
	must(t, err)
	if !strings.HasPrefix(ts1, "..20") {
		t.Errorf("..data → %q, want a timestamped directory", ts1)
	}

	// Unchanged content: nothing rewritten.
	_, err = setupErr(t, m, pod)
	must(t, err)
	if ts, _ := os.Readlink(filepath.Join(dir, "..data")); ts != ts1 {
		t.Errorf("unchanged configMap rewritten: ..data %s → %s", ts1, ts)
	}

	// Update: new content, removed key gone, old data dir removed.
	cm, err := client.CoreV1().ConfigMaps("default").Get(context.Background(), "cfg", metav1.GetOptions{})
	must(t, err)
	cm.Data = map[string]string{"app.conf": "port=8080", "new": "n"}
	cm.BinaryData = nil
	_, err = client.CoreV1().ConfigMaps("default").Update(context.Background(), cm, metav1.UpdateOptions{})
	must(t, err)
	_, err = setupErr(t, m, pod)
	must(t, err)
	want := map[string]string{"app.conf": "-rw-r--r-- port=8080", "new": "-rw-r--r-- n"}
	if diff := cmp.Diff(want, files(t, dir)); diff != "" {
		t.Errorf("files after update (-want +got):\n%s", diff)
	}
	for _, gone := range []string{"extra", "logo.bin", ts1} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still present after update (%v)", gone, err)
		}
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 4 || names[0] != "..2"+names[0][3:] || names[1] != "..data" || names[2] != "app.conf" || names[3] != "new" {
		t.Errorf("directory entries = %v, want [..<ts> ..data app.conf new]", names)
	}

	// A mode change alone is a change too.
	pod.Spec.Volumes[0].ConfigMap.DefaultMode = ptr(int32(0o400))
	_, err = setupErr(t, m, pod)
	must(t, err)
	if got := files(t, dir)["new"]; got != "-r-------- n" {
		t.Errorf("after defaultMode change: new = %q", got)
	}
}

func TestValidateFilePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"a": true, "a/b/c": true, "..a": false, "a/../b": false, "..": false, "/abs": false, "": false,
		"a/..b": true, strings.Repeat("x", 256): false,
	} {
		if err := validateFilePath(p); (err == nil) != ok {
			t.Errorf("validateFilePath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
	m := New(fake.NewClientset(configObjects()...), t.TempDir())
	_, err := setupErr(t, m, testPod(cmVol("v", "cfg", []corev1.KeyToPath{{Key: "extra", Path: "../escape"}}, nil, nil)))
	if err == nil || !strings.Contains(err.Error(), "must not contain '..'") {
		t.Errorf("item path ../escape: error = %v", err)
	}
}

func TestDownwardAPIAndProjected(t *testing.T) {
	field := func(path, fp string) corev1.DownwardAPIVolumeFile {
		return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: fp}}
	}
	tests := []struct {
		name    string
		src     corev1.VolumeSource
		want    map[string]string
		wantErr string
	}{{
		name: "downwardAPI fields",
		src: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			field("name", "metadata.name"),
			field("namespace", "metadata.namespace"),
			field("uid", "metadata.uid"),
			field("labels", "metadata.labels"),
			field("annotations", "metadata.annotations"),
			field("app", "metadata.labels['app']"),
			{Path: "mode/x", Mode: ptr(int32(0o400)), FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['build']"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		}}},
		want: map[string]string{
			"name": "-rw-r--r-- web", "namespace": "-rw-r--r-- default", "uid": "-rw-r--r-- 11111111-2222",
			"labels": "-rw-r--r-- app=\"web\"\ntier=\"front\"", "annotations": "-rw-r--r-- build=\"42\"",
			"app": "-rw-r--r-- web", "mode/x": "-r-------- 42", "mem": "-rw-r--r-- 64", "cpu": "-rw-r--r-- 3000",
		},
	}, {
		name: "downwardAPI unsupported field",
		src: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			field("x", "spec.bogus"),
		}}},
		wantErr: "downwardAPI item x: field label not supported: spec.bogus",
	}, {
		name: "projected configMap, secret, downwardAPI; serviceAccountToken left out",
		src: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o440)), Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "app.conf", Path: "conf/app.conf"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"},
				Items: []corev1.KeyToPath{{Key: "password", Path: "pw", Mode: ptr(int32(0o400))}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{field("podname", "metadata.name")}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
		}}},
		want: map[string]string{"conf/app.conf": "-r--r----- port=80", "pw": "-r-------- s3cr3t", "podname": "-r--r----- web"},
	}, {
		name: "projected missing secret",
		src: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
		}}},
		wantErr: `secret "s" not found`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(fake.NewClientset(configObjects()...), t.TempDir())
			m.SetAllocatable(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")})
			paths, err := setupErr(t, m, testPod(corev1.Volume{Name: "v", VolumeSource: tc.src}))
			if tc.wantErr != "" {
				want := `MountVolume.SetUp failed for volume "v" : ` + tc.wantErr
				if err == nil || err.Error() != want {
					t.Fatalf("error = %v, want %q", err, want)
				}
				return
			}
			must(t, err)
			if diff := cmp.Diff(tc.want, files(t, paths["v"])); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCleanup(t *testing.T) {
	pods := t.TempDir()
	host := t.TempDir()
	hostFile := filepath.Join(host, "precious")
	must(t, os.WriteFile(hostFile, []byte("keep me"), 0o644))

	m := New(fake.NewClientset(configObjects()...), pods)
	pod := testPod(
		corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		hostPathVol("host", host, nil),
		cmVol("cfg", "cfg", nil, nil, nil),
		secretVol("sec", "sec", nil, nil, nil),
	)
	paths, err := setupErr(t, m, pod)
	must(t, err)
	// A container could leave a symlink into the hostPath in the emptyDir: Cleanup must not follow it.
	must(t, os.Symlink(host, filepath.Join(paths["cache"], "link-to-host")))
	must(t, os.WriteFile(filepath.Join(paths["cache"], "scratch"), []byte("x"), 0o644))

	must(t, m.Cleanup(pod.UID))
	for _, name := range []string{"cache", "cfg", "sec"} {
		if _, err := os.Lstat(paths[name]); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("volume %s still on disk after Cleanup (%v)", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(pods, string(pod.UID))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty pod directory left (%v)", err)
	}
	if b, err := os.ReadFile(hostFile); err != nil || string(b) != "keep me" {
		t.Errorf("hostPath content touched by Cleanup: %q, %v", b, err)
	}
	// Again, and for an unknown pod: not an error.
	must(t, m.Cleanup(pod.UID))
	must(t, m.Cleanup("no-such-pod"))
	for _, bad := range []string{"", "..", "a/b"} {
		if err := m.Cleanup(typesUID(bad)); err == nil {
			t.Errorf("Cleanup(%q) = nil, want an error", bad)
		}
	}
}

// A hostPath bind-mounted into a volume (by anyone) must stop Cleanup from removing anything.
func TestCleanupRefusesWithForeignMount(t *testing.T) {
	needRoot(t)
	pods := t.TempDir()
	host := t.TempDir()
	hostFile := filepath.Join(host, "precious")
	must(t, os.WriteFile(hostFile, []byte("keep me"), 0o644))
	m := New(fake.NewClientset(), pods)
	pod := testPod(corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	paths, err := setupErr(t, m, pod)
	must(t, err)
	target := filepath.Join(paths["cache"], "bound")
	must(t, os.Mkdir(target, 0o755))
	must(t, bindMount(host, target))
	t.Cleanup(func() { _ = unmount(target) })

	err = m.Cleanup(pod.UID)
	if err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("Cleanup with a bind mount inside = %v, want a refusal", err)
	}
	if b, err := os.ReadFile(hostFile); err != nil || string(b) != "keep me" {
		t.Fatalf("hostPath content touched: %q, %v", b, err)
	}
	must(t, unmount(target))
	must(t, m.Cleanup(pod.UID))
	if _, err := os.Lstat(paths["cache"]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("emptyDir left after Cleanup: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
