package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" && os.Getenv(innerEnv) == "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// built builds both archives once per test binary (or reuses the ones the outer test process
// built, inside the containerd end-to-end re-exec) and returns their directory.
func built(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv(innerEnv); dir != "" {
			buildDir = dir
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "mkimage-test-")
		if buildErr == nil {
			_, buildErr = Build(buildDir, DefaultHost())
		}
	})
	if buildErr != nil {
		t.Fatalf("building the archives: %v", buildErr)
	}
	return buildDir
}

// archive is an image archive read back and checked as an OCI layout.
type archive struct {
	files    map[string][]byte
	index    ocispec.Index
	manifest ocispec.Manifest
	config   ocispec.Image
	layer    map[string]*tar.Header
}

func readArchive(t *testing.T, file string) *archive {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &archive{files: map[string][]byte{}, layer: map[string]*tar.Header{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !hdr.ModTime.Equal(Epoch) || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: entry %s has mtime %v uid %d gid %d, want fixed values", file, hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			a.files[hdr.Name] = data
		}
	}
	return a
}

// blob returns the blob desc points at, checking its digest and size.
func (a *archive) blob(t *testing.T, desc ocispec.Descriptor) []byte {
	t.Helper()
	name := "blobs/sha256/" + desc.Digest.Encoded()
	data, ok := a.files[name]
	if !ok {
		t.Fatalf("blob %s missing", name)
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		t.Fatalf("blob %s has digest %s", name, got)
	}
	if int64(len(data)) != desc.Size {
		t.Fatalf("blob %s has size %d, descriptor says %d", name, len(data), desc.Size)
	}
	return data
}

// checkLayout walks index → manifest → config and layer, verifying every digest and size, and
// the docker-save manifest.json.
func (a *archive) checkLayout(t *testing.T, name string) {
	t.Helper()
	var layout ocispec.ImageLayout
	if err := json.Unmarshal(a.files["oci-layout"], &layout); err != nil || layout.Version != ocispec.ImageLayoutVersion {
		t.Fatalf("oci-layout = %q (%v), want version %s", a.files["oci-layout"], err, ocispec.ImageLayoutVersion)
	}
	if err := json.Unmarshal(a.files["index.json"], &a.index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if a.index.SchemaVersion != 2 || len(a.index.Manifests) != 1 {
		t.Fatalf("index.json: schemaVersion %d with %d manifests, want 2 and 1", a.index.SchemaVersion, len(a.index.Manifests))
	}
	md := a.index.Manifests[0]
	for _, key := range []string{ocispec.AnnotationRefName, AnnotationImageName} {
		if got := md.Annotations[key]; got != name {
			t.Errorf("index annotation %s = %q, want %q", key, got, name)
		}
	}
	if md.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest media type %q", md.MediaType)
	}
	if md.Platform == nil || md.Platform.OS != "linux" || md.Platform.Architecture != runtime.GOARCH {
		t.Errorf("manifest platform %+v, want linux/%s", md.Platform, runtime.GOARCH)
	}
	if err := json.Unmarshal(a.blob(t, md), &a.manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if a.manifest.Config.MediaType != ocispec.MediaTypeImageConfig || len(a.manifest.Layers) != 1 ||
		a.manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayer {
		t.Fatalf("manifest %+v: want one OCI config and one plain tar layer", a.manifest)
	}
	if err := json.Unmarshal(a.blob(t, a.manifest.Config), &a.config); err != nil {
		t.Fatalf("config: %v", err)
	}
	if a.config.OS != "linux" || a.config.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s", a.config.OS, a.config.Architecture)
	}
	layer := a.blob(t, a.manifest.Layers[0])
	if !reflect.DeepEqual(a.config.RootFS.DiffIDs, []digest.Digest{a.manifest.Layers[0].Digest}) {
		t.Errorf("diff_ids %v, want the (uncompressed) layer digest %s", a.config.RootFS.DiffIDs, a.manifest.Layers[0].Digest)
	}

	var docker []DockerManifest
	if err := json.Unmarshal(a.files["manifest.json"], &docker); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	want := []DockerManifest{{
		Config:   "blobs/sha256/" + a.manifest.Config.Digest.Encoded(),
		RepoTags: []string{name},
		Layers:   []string{"blobs/sha256/" + a.manifest.Layers[0].Digest.Encoded()},
	}}
	if !reflect.DeepEqual(docker, want) {
		t.Errorf("manifest.json = %+v, want %+v", docker, want)
	}

	tr := tar.NewReader(bytes.NewReader(layer))
	var prev string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
		p := strings.TrimSuffix(hdr.Name, "/")
		if p <= prev {
			t.Errorf("layer entries not sorted: %q after %q", p, prev)
		}
		prev = p
		if hdr.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			h := *hdr
			h.PAXRecords = map[string]string{"data": string(data)}
			hdr = &h
		}
		if !hdr.ModTime.Equal(Epoch) {
			t.Errorf("layer entry %s mtime %v", p, hdr.ModTime)
		}
		a.layer[p] = hdr
	}
	for p := range a.layer {
		if dir := path.Dir(p); dir != "." {
			if h, ok := a.layer[dir]; !ok || h.Typeflag != tar.TypeDir {
				t.Errorf("layer entry %s has no parent directory entry", p)
			}
		}
	}
}

func (a *archive) content(t *testing.T, p string) string {
	t.Helper()
	h, ok := a.layer[p]
	if !ok || h.Typeflag != tar.TypeReg {
		t.Fatalf("layer has no regular file %s", p)
	}
	return h.PAXRecords["data"]
}

func hostFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkBusybox asserts what both images hold: busybox, its applets, the base files.
func checkBusybox(t *testing.T, a *archive) {
	t.Helper()
	if a.content(t, "bin/busybox") != hostFile(t, "/bin/busybox") {
		t.Errorf("bin/busybox differs from the host's /bin/busybox")
	}
	if m := a.layer["bin/busybox"].Mode; m != 0o755 {
		t.Errorf("bin/busybox mode %o", m)
	}
	applets, err := BusyboxApplets("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sh", "wget", "cat", "echo", "ls"} {
		if !contains(applets, want) {
			t.Errorf("busybox --list lacks %s", want)
		}
	}
	for _, app := range applets {
		h, ok := a.layer["bin/"+app]
		if !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: want a symlink to busybox, got %+v", app, h)
		}
	}
	passwd := a.content(t, "etc/passwd")
	for _, re := range []string{`(?m)^root:x:0:0:`, `(?m)^nobody:x:65534:65534:`} {
		if !regexp.MustCompile(re).MatchString(passwd) {
			t.Errorf("etc/passwd %q lacks %s", passwd, re)
		}
	}
	if !strings.Contains(a.content(t, "etc/group"), "root:x:0:") {
		t.Errorf("etc/group lacks root")
	}
	dirs := map[string]int64{"tmp": 0o1777, "root": 0o700, "var": 0o755, "proc": 0o755, "sys": 0o755, "dev": 0o755, "etc": 0o755, "bin": 0o755}
	for d, mode := range dirs {
		h, ok := a.layer[d]
		if !ok || h.Typeflag != tar.TypeDir || h.Mode != mode {
			t.Errorf("%s: want directory with mode %o, got %+v", d, mode, h)
		}
	}
	if !contains(a.config.Config.Env, DefaultPath) {
		t.Errorf("Env %v lacks %s", a.config.Config.Env, DefaultPath)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestBusyboxArchive(t *testing.T) {
	a := readArchive(t, filepath.Join(built(t), BusyboxArchive))
	a.checkLayout(t, BusyboxName)
	checkBusybox(t, a)
	if got := a.config.Config.Cmd; !reflect.DeepEqual(got, []string{"sh"}) {
		t.Errorf("Cmd %v, want [sh]", got)
	}
	if len(a.config.Config.Entrypoint) != 0 {
		t.Errorf("Entrypoint %v, want none", a.config.Config.Entrypoint)
	}
}

func TestNginxArchive(t *testing.T) {
	a := readArchive(t, filepath.Join(built(t), NginxArchive))
	a.checkLayout(t, NginxName)
	checkBusybox(t, a)

	cfg := a.config.Config
	if !reflect.DeepEqual(cfg.Cmd, []string{"nginx", "-g", "daemon off;"}) || len(cfg.Entrypoint) != 0 {
		t.Errorf("Entrypoint %v Cmd %v, want none and [nginx -g daemon off;]", cfg.Entrypoint, cfg.Cmd)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 80/tcp", cfg.ExposedPorts)
	}
	if cfg.StopSignal != "SIGQUIT" {
		t.Errorf("StopSignal %q, want SIGQUIT", cfg.StopSignal)
	}

	if a.content(t, "usr/sbin/nginx") != hostFile(t, "/usr/sbin/nginx") {
		t.Errorf("usr/sbin/nginx differs from the host's")
	}
	f, err := elf.Open("/usr/sbin/nginx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		t.Fatal("host nginx has no PT_INTERP")
	}
	if a.content(t, strings.TrimPrefix(interp, "/")) != hostFile(t, interp) {
		t.Errorf("loader %s differs from the host's", interp)
	}
	needed, err := f.ImportedLibraries()
	if err != nil || len(needed) == 0 {
		t.Fatalf("DT_NEEDED of nginx: %v %v", needed, err)
	}
	// Independent oracle: every library ldd resolves (transitively) is in the layer, under
	// one of the loader's default directories, with the host's content.
	if out, err := exec.Command("ldd", "/usr/sbin/nginx").Output(); err == nil {
		for _, m := range regexp.MustCompile(`(\S+) => (/\S+)`).FindAllStringSubmatch(string(out), -1) {
			needed = append(needed, m[1])
		}
	}
	for _, soname := range needed {
		found := false
		for _, dir := range LibDirs(runtime.GOARCH) {
			p := strings.TrimPrefix(path.Join(dir, soname), "/")
			if h, ok := a.layer[p]; ok && h.Typeflag == tar.TypeReg {
				found = true
				if a.content(t, p) != hostFile(t, "/"+p) {
					t.Errorf("%s differs from the host's", p)
				}
			}
		}
		if !found {
			t.Errorf("library %s is not in the layer", soname)
		}
	}

	conf := a.content(t, "etc/nginx/nginx.conf")
	for _, want := range []string{"listen 80", "root /usr/share/nginx/html", "error_log /dev/stderr", "access_log /dev/stdout", "pid /run/nginx.pid", "user nobody nogroup"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if strings.Contains(conf, "daemon") {
		t.Errorf("nginx.conf must not set daemon: the Cmd's -g does, and nginx refuses duplicates")
	}
	if !strings.Contains(a.content(t, "usr/share/nginx/html/index.html"), "Welcome to nginx!") {
		t.Errorf("index.html lacks the welcome text")
	}
	for _, d := range []string{"run", "var/log/nginx", "var/lib/nginx/body", "var/lib/nginx/proxy", "var/lib/nginx/fastcgi", "var/lib/nginx/uwsgi", "var/lib/nginx/scgi"} {
		if h, ok := a.layer[d]; !ok || h.Typeflag != tar.TypeDir {
			t.Errorf("%s: want a directory", d)
		}
	}
}

// TestNginxRunsInLayer unpacks nginx's layer and has nginx check its configuration chrooted
// into it: the loader, libraries, config, users and paths of the image are enough to start.
func TestNginxRunsInLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "chroot needs root")
	}
	a := readArchive(t, filepath.Join(built(t), NginxArchive))
	a.checkLayout(t, NginxName)
	root := t.TempDir()
	untar := exec.Command("tar", "-x", "-C", root)
	untar.Stdin = bytes.NewReader(a.blob(t, a.manifest.Layers[0]))
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("unpacking the layer: %v: %s", err, out)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"/usr/sbin/nginx", "-t", "-g", "daemon off;"}, "test is successful"},
		{[]string{"/bin/sh", "-c", "cat /etc/passwd; wget --help 2>&1 | head -1"}, "nobody:x:65534"},
	}
	for _, tt := range tests {
		out, err := exec.Command("chroot", append([]string{root}, tt.args...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("chroot %v: %v\n%s\nwant %q", tt.args, err, out, tt.want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	first := built(t)
	second := t.TempDir()
	if _, err := Build(second, DefaultHost()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{BusyboxArchive, NginxArchive} {
		a, b := hostFile(t, filepath.Join(first, name)), hostFile(t, filepath.Join(second, name))
		if a != b {
			t.Errorf("%s differs between two builds", name)
		}
	}
	entries, err := os.ReadDir(second)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("output dir holds %d entries, want just the two archives (no temp files)", len(entries))
	}
}

func TestMissingHostFile(t *testing.T) {
	tests := []struct {
		name    string
		host    func(*Host)
		wantMsg string
	}{
		{"busybox", func(h *Host) { h.Busybox = "/nonexistent/bin/busybox" }, "/nonexistent/bin/busybox not found: apt-get install busybox-static"},
		{"nginx", func(h *Host) { h.Nginx = "/nonexistent/sbin/nginx" }, "/nonexistent/sbin/nginx not found: apt-get install nginx-light"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := DefaultHost()
			tt.host(&h)
			dir := t.TempDir()
			_, err := Build(dir, h)
			var missing *MissingError
			if !errors.As(err, &missing) {
				t.Fatalf("Build: %v, want a MissingError", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			for _, e := range mustReadDir(t, dir) {
				if strings.HasPrefix(e, ".") {
					t.Errorf("temporary file %s left behind", e)
				}
			}
		})
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestResolveELF(t *testing.T) {
	tests := []struct {
		bin        string
		wantInterp bool
		wantLibs   []string
	}{
		{"/bin/busybox", false, nil},
		{"/usr/sbin/nginx", true, []string{"libc.so.6", "libssl.so.3", "libcrypto.so.3"}},
	}
	for _, tt := range tests {
		t.Run(path.Base(tt.bin), func(t *testing.T) {
			deps, err := ResolveELF(tt.bin, LibDirs(runtime.GOARCH))
			if err != nil {
				t.Fatal(err)
			}
			if (deps.Interpreter != "") != tt.wantInterp {
				t.Errorf("interpreter %q, want present=%v", deps.Interpreter, tt.wantInterp)
			}
			if tt.wantLibs == nil && len(deps.Libraries) != 0 {
				t.Errorf("static binary needs %v", deps.Libraries)
			}
			for _, lib := range tt.wantLibs {
				if p, ok := deps.Libraries[lib]; !ok || path.Base(p) != lib {
					t.Errorf("%s not resolved: %v", lib, deps.Libraries)
				}
			}
		})
	}
	if _, err := ResolveELF("/usr/sbin/nginx", []string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "library not found") {
		t.Errorf("resolving in an empty dir: %v, want library not found", err)
	}
}

func TestLayerTar(t *testing.T) {
	l := NewLayer()
	l.File("/usr/share/x/a.txt", 0o644, []byte("a"))
	l.Symlink("bin/sh", "busybox")
	l.Dir("/tmp", 0o1777)
	l.File("/usr/share/x/a.txt", 0o600, []byte("replaced"))
	data, err := l.Tar()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var got []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, fmt.Sprintf("%s %c %o %s%s", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Linkname, body))
	}
	want := []string{
		"bin/ 5 755 ",
		"bin/sh 2 777 busybox",
		"tmp/ 5 1777 ",
		"usr/ 5 755 ",
		"usr/share/ 5 755 ",
		"usr/share/x/ 5 755 ",
		"usr/share/x/a.txt 0 600 replaced",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries\n%q\nwant\n%q", got, want)
	}
}
