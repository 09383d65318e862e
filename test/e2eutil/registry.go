package e2eutil

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Registry is a read-only OCI distribution registry serving one image, read from an OCI
// layout archive, under a repository name and tag: enough for a kubelet to pull it.
type Registry struct {
	// Addr is host:port the registry listens on.
	Addr string
	// Pulls counts manifest requests (HEAD or GET).
	Pulls atomic.Int64

	repo, tag      string
	manifest       []byte
	manifestType   string
	manifestDigest string
	blobs          map[string][]byte
	server         *http.Server
}

// ServeImage serves the image of the OCI archive at path as repo:tag on listener l.
func ServeImage(l net.Listener, path, repo, tag string) (*Registry, error) {
	blobs, index, err := readLayout(path)
	if err != nil {
		return nil, err
	}
	var idx struct {
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("%s: no manifest in index.json (%v)", path, err)
	}
	m := idx.Manifests[0]
	r := &Registry{
		Addr: l.Addr().String(), repo: repo, tag: tag, manifest: blobs[m.Digest], manifestType: m.MediaType,
		manifestDigest: m.Digest, blobs: blobs,
	}
	if r.manifest == nil {
		return nil, fmt.Errorf("%s: manifest blob %s missing", path, m.Digest)
	}
	r.server = &http.Server{Handler: r}
	go func() { _ = r.server.Serve(l) }()
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() error { return r.server.Close() }

func readLayout(path string) (map[string][]byte, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "index.json":
			if index, err = io.ReadAll(tr); err != nil {
				return nil, nil, err
			}
		case strings.HasPrefix(name, "blobs/sha256/") && h.Typeflag == tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, err
			}
			blobs["sha256:"+strings.TrimPrefix(name, "blobs/sha256/")] = data
		}
	}
	return blobs, index, nil
}

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
		w.WriteHeader(http.StatusOK)
		return
	}
	prefix := "/v2/" + r.repo + "/"
	if !strings.HasPrefix(req.URL.Path, prefix) {
		r.notFound(w, "NAME_UNKNOWN")
		return
	}
	rest := strings.TrimPrefix(req.URL.Path, prefix)
	switch {
	case strings.HasPrefix(rest, "manifests/"):
		ref := strings.TrimPrefix(rest, "manifests/")
		if ref != r.tag && ref != r.manifestDigest {
			r.notFound(w, "MANIFEST_UNKNOWN")
			return
		}
		r.Pulls.Add(1)
		r.write(w, req, r.manifest, r.manifestType, r.manifestDigest)
	case strings.HasPrefix(rest, "blobs/"):
		digest := strings.TrimPrefix(rest, "blobs/")
		data, ok := r.blobs[digest]
		if !ok {
			r.notFound(w, "BLOB_UNKNOWN")
			return
		}
		r.write(w, req, data, "application/octet-stream", digest)
	default:
		r.notFound(w, "UNSUPPORTED")
	}
}

func (r *Registry) write(w http.ResponseWriter, req *http.Request, data []byte, mediaType, digest string) {
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

func (r *Registry) notFound(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"not found"}]}`, code)
}
