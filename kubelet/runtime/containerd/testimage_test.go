package containerd

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage is a busybox image built in memory from the host's static /bin/busybox.
type testImage struct {
	blobs    map[digest.Digest][]byte
	manifest ocispec.Descriptor
	config   digest.Digest
}

var busyboxApplets = []string{"sh", "echo", "cat", "sleep", "tail", "env", "true", "false", "nc", "httpd",
	"wget", "id", "ls", "mkdir", "printf", "test", "hostname", "head", "touch", "kill", "seq", "yes"}

// buildTestImage builds the image; marker becomes /marker's content (so images differ) and cfg
// its config (Env PATH and Cmd ["sh"] when nil).
func buildTestImage(t testing.TB, marker string, cfg *ocispec.ImageConfig) *testImage {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("reading /bin/busybox: %v", err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	dir := func(name string, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "root", "proc", "sys", "dev", "usr", "usr/bin"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	file("bin/busybox", 0o755, bb)
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	file("marker", 0o644, []byte(marker))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	img := &testImage{blobs: map[digest.Digest][]byte{}}
	add := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		img.blobs[d] = b
		return d
	}
	layerDigest := add(layer.Bytes())
	if cfg == nil {
		cfg = &ocispec.ImageConfig{Cmd: []string{"sh"}}
	}
	if len(cfg.Env) == 0 {
		cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   *cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDigest}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img.config = add(config)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.config, Size: int64(len(config))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layerDigest,
			Size: int64(layer.Len())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: add(manifest),
		Size: int64(len(manifest)), Platform: &ocispec.Platform{Architecture: "amd64", OS: "linux"}}
	return img
}

// writeOCIArchive writes img as an OCI layout tar naming it refName (the ref.name annotation,
// "busybox:latest" style as `make images` writes it).
func writeOCIArchive(t testing.TB, img *testImage, path, refName string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	file := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	desc := img.manifest
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: refName}
	index, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	file("index.json", index)
	for d, b := range img.blobs {
		file("blobs/sha256/"+d.Encoded(), b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

var registryPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs)/([^/]+)$`)

// newTestRegistry serves repos (repository name → tag → image) read-only, as a distribution
// registry does.
func newTestRegistry(t testing.TB, repos map[string]map[string]*testImage) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
			w.WriteHeader(http.StatusOK)
			return
		}
		m := registryPath.FindStringSubmatch(req.URL.Path)
		if m == nil {
			http.NotFound(w, req)
			return
		}
		tags, ok := repos[m[1]]
		if !ok {
			writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN")
			return
		}
		var data []byte
		var mediaType string
		switch m[2] {
		case "manifests":
			for tag, img := range tags {
				if tag == m[3] || img.manifest.Digest.String() == m[3] {
					data, mediaType = img.blobs[img.manifest.Digest], ocispec.MediaTypeImageManifest
				}
			}
		case "blobs":
			for _, img := range tags {
				if b, ok := img.blobs[digest.Digest(m[3])]; ok {
					data, mediaType = b, "application/octet-stream"
				}
			}
		}
		if data == nil {
			writeRegistryError(w, http.StatusNotFound, strings.ToUpper(strings.TrimSuffix(m[2], "s"))+"_UNKNOWN")
			return
		}
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(data).String())
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		if req.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeRegistryError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"not found"}]}`, code)
}
