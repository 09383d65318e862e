package images

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha256" // registers SHA-256 for go-digest
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is containerd's annotation naming an image in an archive's index.json
// (images.AnnotationImageName in github.com/containerd/containerd); `ctr images import` and
// containerd's client prefer it over org.opencontainers.image.ref.name.
const AnnotationImageName = "io.containerd.image.name"

// Image is a single-layer image ready to be written as an archive.
type Image struct {
	// Name is the fully qualified reference, e.g. "docker.io/library/busybox:latest".
	Name string
	// Config is the runtime configuration (Cmd, Env, ExposedPorts, StopSignal…).
	Config ocispec.ImageConfig
	// Layer is the image's only filesystem layer.
	Layer *Layer
	// Architecture is the GOARCH the image is for; empty means runtime.GOARCH.
	Architecture string
}

// DockerManifest is one entry of a docker-save manifest.json.
type DockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes img as an OCI image layout tar (oci-layout, index.json, blobs/sha256/…)
// that also carries a docker-save manifest.json, so `ctr images import`, containerd's
// client Import and `docker load` all accept it. The index names the image with both
// org.opencontainers.image.ref.name and io.containerd.image.name. The output depends only on
// img: the same image gives the same bytes.
func WriteArchive(w io.Writer, img Image) error {
	arch := img.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	layer, err := img.Layer.Tar()
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name, err)
	}
	layerDesc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    digest.FromBytes(layer),
		Size:      int64(len(layer)),
	}

	created := Epoch
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux"},
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
		History: []ocispec.History{{
			Created:   &created,
			CreatedBy: "kubeshim test/images/mkimage",
		}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("image %s: encoding config: %w", img.Name, err)
	}
	configDesc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageConfig,
		Digest:    digest.FromBytes(configJSON),
		Size:      int64(len(configJSON)),
	}

	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return fmt.Errorf("image %s: encoding manifest: %w", img.Name, err)
	}
	manifestDesc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(manifestJSON),
		Size:      int64(len(manifestJSON)),
		Platform:  &ocispec.Platform{Architecture: arch, OS: "linux"},
		Annotations: map[string]string{
			ocispec.AnnotationRefName: img.Name,
			AnnotationImageName:       img.Name,
		},
	}

	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("image %s: encoding index: %w", img.Name, err)
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("image %s: encoding oci-layout: %w", img.Name, err)
	}
	dockerJSON, err := json.Marshal([]DockerManifest{{
		Config:   blobPath(configDesc.Digest),
		RepoTags: []string{img.Name},
		Layers:   []string{blobPath(layerDesc.Digest)},
	}})
	if err != nil {
		return fmt.Errorf("image %s: encoding manifest.json: %w", img.Name, err)
	}

	blobs := map[string][]byte{
		blobPath(layerDesc.Digest):    layer,
		blobPath(configDesc.Digest):   configJSON,
		blobPath(manifestDesc.Digest): manifestJSON,
	}
	blobNames := make([]string, 0, len(blobs))
	for name := range blobs {
		blobNames = append(blobNames, name)
	}
	sort.Strings(blobNames)

	out := newArchiveWriter(w)
	out.dir("blobs/")
	out.dir("blobs/sha256/")
	for _, name := range blobNames {
		out.file(name, blobs[name])
	}
	out.file("index.json", indexJSON)
	out.file("manifest.json", dockerJSON)
	out.file(ocispec.ImageLayoutFile, layoutJSON)
	if err := out.Close(); err != nil {
		return fmt.Errorf("image %s: writing archive: %w", img.Name, err)
	}
	return nil
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// archiveWriter writes the outer tar with fixed owners and times; the first error sticks.
type archiveWriter struct {
	tw  *tar.Writer
	err error
}

// newArchiveWriter wraps w.
func newArchiveWriter(w io.Writer) *archiveWriter { return &archiveWriter{tw: tar.NewWriter(w)} }

func (a *archiveWriter) dir(name string) {
	if a.err != nil {
		return
	}
	a.err = a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX})
}

func (a *archiveWriter) file(name string, data []byte) {
	if a.err != nil {
		return
	}
	a.err = a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: Epoch, Format: tar.FormatPAX})
	if a.err == nil {
		_, a.err = io.Copy(a.tw, bytes.NewReader(data))
	}
}

func (a *archiveWriter) Close() error {
	if a.err != nil {
		return a.err
	}
	return a.tw.Close()
}
