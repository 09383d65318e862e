package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"
)

const (
	// BusyboxName and NginxName are the references the archives carry.
	BusyboxName = "docker.io/library/busybox:latest"
	NginxName   = "docker.io/library/nginx:latest"

	// BusyboxArchive and NginxArchive are the file names Build writes.
	BusyboxArchive = "busybox.tar"
	NginxArchive   = "nginx.tar"

	// DefaultPath is the PATH of both images (upstream's images use the same).
	DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

	// NginxIndex is the page nginx serves at /.
	NginxIndex = `<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.
This image was built by kubeshim from Debian's nginx package.</p>
</body>
</html>
`

	// NginxConf is the image's /etc/nginx/nginx.conf. "daemon off;" is not in it: the image's
	// Cmd passes it with -g, as upstream's image does, and nginx refuses a duplicate directive.
	NginxConf = `user nobody nogroup;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr notice;

events {
    worker_connections 1024;
}

http {
    types {
        text/html html htm;
        text/css css;
        text/plain txt;
        application/javascript js;
        application/json json;
        image/png png;
        image/svg+xml svg;
    }
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;

    client_body_temp_path /var/lib/nginx/body;
    proxy_temp_path /var/lib/nginx/proxy;
    fastcgi_temp_path /var/lib/nginx/fastcgi;
    uwsgi_temp_path /var/lib/nginx/uwsgi;
    scgi_temp_path /var/lib/nginx/scgi;

    server {
        listen 80 default_server;
        listen [::]:80 default_server;
        server_name _;
        root /usr/share/nginx/html;
        index index.html;
        location / {
            try_files $uri $uri/ =404;
        }
    }
}
`

	passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`
	group = `root:x:0:
nogroup:x:65534:
`
	nsswitch = `passwd: files
group: files
shadow: files
hosts: files dns
`
)

// Host names the host files the images are made from, and the Debian package of each.
type Host struct {
	// Busybox is Debian busybox-static's statically linked binary (default /bin/busybox).
	Busybox string
	// Nginx is Debian nginx-light's binary (default /usr/sbin/nginx).
	Nginx string
	// LibDirs are searched for nginx's shared libraries (default LibDirs(runtime.GOARCH)).
	LibDirs []string
}

// DefaultHost is the Debian layout.
func DefaultHost() Host {
	return Host{Busybox: "/bin/busybox", Nginx: "/usr/sbin/nginx", LibDirs: LibDirs(runtime.GOARCH)}
}

// MissingError says a host file is absent and which Debian package provides it.
type MissingError struct {
	Path    string
	Package string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s not found: apt-get install %s", e.Path, e.Package)
}

func readHostFile(p, pkg string) ([]byte, fs.FileMode, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, &MissingError{Path: p, Package: pkg}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s (from Debian package %s): %w", p, pkg, err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s (from Debian package %s) is not a regular file", p, pkg)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s (from Debian package %s): %w", p, pkg, err)
	}
	return data, st.Mode(), nil
}

// BusyboxApplets runs `busybox --list` and returns the applet names, sorted.
func BusyboxApplets(bin string) ([]string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--list")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s --list: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	var applets []string
	for _, name := range strings.Fields(stdout.String()) {
		if name != "" && !strings.Contains(name, "/") && name != "busybox" {
			applets = append(applets, name)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list printed no applets", bin)
	}
	sort.Strings(applets)
	return applets, nil
}

// addBusybox puts /bin/busybox and a symlink /bin/APPLET → busybox for every applet (so /bin/sh
// exists) into l. Links never replace an entry already in the layer.
func addBusybox(l *Layer, h Host) error {
	data, _, err := readHostFile(h.Busybox, "busybox-static")
	if err != nil {
		return err
	}
	applets, err := BusyboxApplets(h.Busybox)
	if err != nil {
		return err
	}
	l.File("/bin/busybox", 0o755, data)
	for _, a := range applets {
		if p := "/bin/" + a; !l.Has(p) {
			l.Symlink(p, "busybox")
		}
	}
	return nil
}

// addBase adds the skeleton both images share: /etc/passwd (root, nobody), /etc/group,
// /etc/nsswitch.conf, /tmp (1777) and the usual top-level directories.
func addBase(l *Layer) {
	for _, d := range []string{"/bin", "/dev", "/etc", "/proc", "/sys", "/var", "/usr", "/run", "/home"} {
		l.Dir(d, 0o755)
	}
	l.Dir("/root", 0o700)
	l.Dir("/tmp", 0o1777)
	l.Dir("/var/tmp", 0o1777)
	l.File("/etc/passwd", 0o644, []byte(passwd))
	l.File("/etc/group", 0o644, []byte(group))
	l.File("/etc/nsswitch.conf", 0o644, []byte(nsswitch))
}

// Busybox builds docker.io/library/busybox:latest: Debian's static busybox with its applet
// links in /bin, and Cmd ["sh"] like upstream's image (so it exits at once without a tty).
func Busybox(h Host) (Image, error) {
	l := NewLayer()
	addBase(l)
	if err := addBusybox(l, h); err != nil {
		return Image{}, fmt.Errorf("building %s: %w", BusyboxName, err)
	}
	return Image{
		Name:  BusyboxName,
		Layer: l,
		Config: ocispec.ImageConfig{
			Env: []string{DefaultPath},
			Cmd: []string{"sh"},
		},
	}, nil
}

// Nginx builds docker.io/library/nginx:latest: Debian's nginx with its loader and every shared
// library it needs, a minimal configuration serving NginxIndex on port 80, and busybox (so sh,
// wget and cat exist, as upstream's image has a shell).
func Nginx(h Host) (Image, error) {
	wrap := func(err error) error { return fmt.Errorf("building %s: %w", NginxName, err) }
	l := NewLayer()
	addBase(l)
	if err := addBusybox(l, h); err != nil {
		return Image{}, wrap(err)
	}
	data, mode, err := readHostFile(h.Nginx, "nginx-light")
	if err != nil {
		return Image{}, wrap(err)
	}
	l.File("/usr/sbin/nginx", fileMode(mode), data)

	deps, err := ResolveELF(h.Nginx, h.LibDirs)
	if err != nil {
		return Image{}, wrap(err)
	}
	if deps.Interpreter != "" {
		ld, _, err := readHostFile(deps.Interpreter, "libc6")
		if err != nil {
			return Image{}, wrap(err)
		}
		l.File(deps.Interpreter, 0o755, ld)
	}
	for _, soname := range deps.Sonames() {
		p := deps.Libraries[soname]
		lib, mode, err := readHostFile(p, "the package providing "+soname)
		if err != nil {
			return Image{}, wrap(err)
		}
		l.File(filepath.ToSlash(p), fileMode(mode), lib)
	}

	l.File("/etc/nginx/nginx.conf", 0o644, []byte(NginxConf))
	l.Dir("/etc/nginx/conf.d", 0o755)
	l.File("/usr/share/nginx/html/index.html", 0o644, []byte(NginxIndex))
	l.Dir("/var/log/nginx", 0o755)
	l.Add(Entry{Path: "/var/lib/nginx", Type: tar.TypeDir, Mode: 0o755})
	for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		l.Add(Entry{Path: "/var/lib/nginx/" + d, Type: tar.TypeDir, Mode: 0o700, UID: 65534, GID: 65534})
	}
	return Image{
		Name:  NginxName,
		Layer: l,
		Config: ocispec.ImageConfig{
			Env:          []string{DefaultPath},
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			StopSignal:   "SIGQUIT",
		},
	}, nil
}

// Build writes busybox.tar and nginx.tar into outDir (created if missing) and returns their
// paths. Each archive is written to a temporary file and renamed, so a failed build never
// leaves a truncated archive behind.
func Build(outDir string, h Host) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", outDir, err)
	}
	builders := []struct {
		file  string
		build func(Host) (Image, error)
	}{
		{BusyboxArchive, Busybox},
		{NginxArchive, Nginx},
	}
	var written []string
	for _, b := range builders {
		img, err := b.build(h)
		if err != nil {
			return written, err
		}
		dst := filepath.Join(outDir, b.file)
		if err := writeFile(dst, img); err != nil {
			return written, err
		}
		klog.V(1).InfoS("wrote image archive", "image", img.Name, "path", dst)
		written = append(written, dst)
	}
	return written, nil
}

func writeFile(dst string, img Image) (err error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = WriteArchive(f, img); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err = os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}
