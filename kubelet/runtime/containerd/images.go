package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	containerdclient "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/reference/docker"
	"github.com/containerd/containerd/remotes"
	dockerremote "github.com/containerd/containerd/remotes/docker"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// NormalizeRef returns the full reference of ref ("busybox" → "docker.io/library/busybox:latest").
func NormalizeRef(ref string) (string, error) {
	named, err := docker.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// EnsureImage makes ref present following policy and returns it.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, _ *corev1.Pod) (*runtime.Image, error) {
	ctx = r.ctx(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, &runtime.ImageError{Kind: runtime.ImageInvalidName, Ref: ref, Err: err}
	}
	local, localErr := r.localImage(ctx, name)
	switch policy {
	case corev1.PullNever:
		if localErr != nil {
			return nil, &runtime.ImageError{Kind: runtime.ImageNeverPullNotPresent, Ref: name,
				Err: fmt.Errorf("image is not present with pull policy of Never: %w", localErr)}
		}
		return local, nil
	case corev1.PullAlways:
	default: // IfNotPresent, and "" as the API defaults a tagged image
		if localErr == nil {
			return local, nil
		}
	}
	img, err := r.pull(ctx, name)
	if err == nil {
		img.Pulled = true
		return img, nil
	}
	if r.cfg.ImagePullFallback && localErr == nil && IsNetworkError(err) {
		local.Fallback = fmt.Sprintf("no registry reachable for %s (%s); using the local copy", name, networkCause(err))
		klog.InfoS("Image pull failed with a network error; using the local copy", "image", name, "err", err)
		return local, nil
	}
	return nil, &runtime.ImageError{Kind: runtime.ImagePullFailed, Ref: name, Err: err}
}

// localImage returns the image name if it is present (unpacking it when needed).
func (r *Runtime) localImage(ctx context.Context, name string) (*runtime.Image, error) {
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return nil, err
	}
	unpacked, err := img.IsUnpacked(ctx, snapshotter)
	if err != nil {
		return nil, fmt.Errorf("checking image %s: %w", name, err)
	}
	if !unpacked {
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking image %s: %w", name, err)
		}
	}
	return imageOf(ctx, img)
}

func imageOf(ctx context.Context, img containerdclient.Image) (*runtime.Image, error) {
	cfg, err := img.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	return &runtime.Image{Ref: img.Name(), ID: cfg.Digest.String()}, nil
}

func (r *Runtime) pull(ctx context.Context, name string) (*runtime.Image, error) {
	klog.V(2).InfoS("Pulling image", "image", name)
	img, err := r.client.Pull(ctx, name,
		containerdclient.WithPullUnpack,
		containerdclient.WithPullSnapshotter(snapshotter),
		containerdclient.WithResolver(r.resolver()))
	if err != nil {
		return nil, err
	}
	return imageOf(ctx, img)
}

func (r *Runtime) resolver() remotes.Resolver {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 5 * time.Second,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}}
	insecure := r.cfg.InsecureRegistries
	return dockerremote.NewResolver(dockerremote.ResolverOptions{
		Hosts: dockerremote.ConfigureDefaultRegistries(
			dockerremote.WithClient(client),
			dockerremote.WithPlainHTTP(func(host string) (bool, error) {
				if slices.Contains(insecure, host) {
					return true, nil
				}
				return dockerremote.MatchLocalhost(host)
			}),
		),
	})
}

// IsNetworkError tells whether err means no registry answered at all (DNS failure, refused or
// unreachable connection, timeout) rather than an answer such as 404 or 401.
func IsNetworkError(err error) bool {
	if err == nil {
		return false
	}
	if errdefs.IsNotFound(err) || errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err) {
		return false
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// containerd does not always keep the chain: recognise the messages too.
	msg := err.Error()
	for _, s := range []string{"dial tcp", "dial udp", "no such host", "connection refused", "network is unreachable",
		"no route to host", "i/o timeout", "TLS handshake timeout", "server misbehaving"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// networkCause is the innermost network error's text, for the fallback message.
func networkCause(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr):
		return opErr.Error()
	case errors.As(err, &dnsErr):
		return dnsErr.Error()
	}
	return err.Error()
}

// ImportArchive imports an OCI layout or docker-save tar, unpacks its images for the snapshotter
// and returns their normalized references.
func (r *Runtime) ImportArchive(ctx context.Context, path string) ([]string, error) {
	ctx = r.ctx(ctx)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	defer f.Close()
	imgs, err := r.client.Import(ctx, f,
		containerdclient.WithImageRefTranslator(func(ref string) string {
			n, err := NormalizeRef(ref)
			if err != nil {
				return ""
			}
			return n
		}))
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	var refs []string
	is := r.client.ImageService()
	for _, img := range imgs {
		name, err := NormalizeRef(img.Name)
		if err != nil {
			klog.InfoS("Skipping an imported image with an unusable name", "archive", path, "name", img.Name)
			continue
		}
		if name != img.Name {
			img.Name = name
			if _, err := is.Update(ctx, img, "target"); errdefs.IsNotFound(err) {
				_, err = is.Create(ctx, img)
				if err != nil {
					return refs, fmt.Errorf("importing %s: naming %s: %w", path, name, err)
				}
			} else if err != nil {
				return refs, fmt.Errorf("importing %s: naming %s: %w", path, name, err)
			}
		}
		cimg := containerdclient.NewImage(r.client, img)
		if err := cimg.Unpack(ctx, snapshotter); err != nil {
			return refs, fmt.Errorf("importing %s: unpacking %s: %w", path, name, err)
		}
		if !slices.Contains(refs, name) {
			refs = append(refs, name)
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("importing %s: the archive names no image", path)
	}
	klog.InfoS("Imported image archive", "archive", path, "images", refs)
	return refs, nil
}

// ImportDir imports every *.tar in dir; a missing dir imports nothing.
func (r *Runtime) ImportDir(ctx context.Context, dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, err
	}
	var refs []string
	var errs []error
	for _, m := range matches {
		got, err := r.ImportArchive(ctx, m)
		refs = append(refs, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return refs, errors.Join(errs...)
}
