// Package runtime is the seam between the kubelet's pod workers and the container runtime. Pod
// workers decide what to do (kubelet/podworker); a Runtime does it (kubelet/runtime/containerd).
// The types here carry no containerd types, so pod workers are unit-tested on a fake runtime.
package runtime

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Runtime runs pod sandboxes and containers. Every method is safe for concurrent use; calls for
// one pod come from one pod worker at a time.
type Runtime interface {
	// Version is the runtime's name and version as the Node reports it: "containerd://1.6.20".
	Version(ctx context.Context) (string, error)

	// EnsureImage makes ref present following policy (Always, IfNotPresent, Never) and returns
	// it. Errors are *ImageError so callers can tell a missing image from a failed pull.
	EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, pod *corev1.Pod) (*Image, error)

	// RunSandbox prepares the pod's sandbox: its directory, its network namespace attached
	// through the Network, /etc/hosts and /etc/resolv.conf. It is idempotent: a sandbox that
	// already exists for pod.UID is returned as it is.
	RunSandbox(ctx context.Context, pod *corev1.Pod) (*Sandbox, error)
	// RemoveSandbox tears the sandbox of podUID down (network detached, namespace and pod
	// directory removed). Its containers must be removed first. No sandbox is not an error.
	RemoveSandbox(ctx context.Context, podUID types.UID) error
	// ListSandboxes lists every sandbox kubeshim made, including those of pods that are gone.
	ListSandboxes(ctx context.Context) ([]*Sandbox, error)

	// CreateContainer creates (but does not start) container c of pod in sandbox sb.
	CreateContainer(ctx context.Context, sb *Sandbox, pod *corev1.Pod, c *corev1.Container, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal), waits up to grace for the
	// container to exit, then SIGKILLs it. It returns once the container has exited. Stopping a
	// container that is not running is not an error.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container that is not running, with its snapshot and log.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists every container kubeshim made, with its current state.
	ListContainers(ctx context.Context) ([]*Container, error)
	// ExecSync runs cmd in a running container and returns its combined output and exit code.
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (output []byte, exitCode int, err error)

	// Events delivers the UID of a pod whenever one of its containers changes state on its own
	// (exits, is OOM-killed). The channel is closed when ctx ends.
	Events(ctx context.Context) <-chan types.UID
}

// Network attaches a pod's network namespace (a CNI implementation: kubelet/network).
type Network interface {
	// Setup creates the network namespace of the pod and attaches it; it returns the path of the
	// namespace and the pod's IPs (the first is the primary).
	Setup(ctx context.Context, pod PodNetwork) (netnsPath string, ips []string, err error)
	// Teardown detaches the namespace at netnsPath and removes it. It tolerates a namespace that
	// is already gone or was never attached.
	Teardown(ctx context.Context, pod PodNetwork, netnsPath string) error
}

// PodNetwork names a pod for the network.
type PodNetwork struct {
	UID       types.UID
	Name      string
	Namespace string
	// PortMappings are the pod's hostPorts.
	PortMappings []PortMapping
}

// PortMapping is one hostPort → containerPort mapping.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // "tcp", "udp", "sctp" (lower case, as CNI's portmap wants)
	HostIP        string
}

// PodNetworkFor returns the PodNetwork of pod, with the hostPorts of all its containers.
func PodNetworkFor(pod *corev1.Pod) PodNetwork {
	pn := PodNetwork{UID: pod.UID, Name: pod.Name, Namespace: pod.Namespace}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := "tcp"
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = "udp"
			case corev1.ProtocolSCTP:
				proto = "sctp"
			}
			pn.PortMappings = append(pn.PortMappings, PortMapping{
				HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP,
			})
		}
	}
	return pn
}

// Image is an image present in the runtime.
type Image struct {
	// Ref is the normalized reference ("docker.io/library/busybox:latest").
	Ref string
	// ID is the image's config digest ("sha256:…"); ContainerStatus.ImageID shows it.
	ID string
	// Pulled is set when EnsureImage pulled the image from a registry (not when it was present).
	Pulled bool
	// Fallback is set when policy Always found no registry answering and the local copy was
	// used instead; it says why, for a Warning event.
	Fallback string
}

// ImageErrorKind says why an image is not available.
type ImageErrorKind string

const (
	// ImagePullFailed: the pull failed (no such image, unauthorized, network): ErrImagePull.
	ImagePullFailed ImageErrorKind = "ErrImagePull"
	// ImageNeverPullNotPresent: policy Never and the image is not present: ErrImageNeverPull.
	ImageNeverPullNotPresent ImageErrorKind = "ErrImageNeverPull"
	// ImageInvalidName: the reference cannot be parsed: InvalidImageName.
	ImageInvalidName ImageErrorKind = "InvalidImageName"
)

// ImageError is the error of EnsureImage.
type ImageError struct {
	Kind ImageErrorKind
	Ref  string
	Err  error
}

func (e *ImageError) Error() string { return string(e.Kind) + ": " + e.Ref + ": " + e.Err.Error() }
func (e *ImageError) Unwrap() error { return e.Err }

// AsImageError returns the *ImageError in err's chain, if any.
func AsImageError(err error) (*ImageError, bool) {
	var ie *ImageError
	ok := errors.As(err, &ie)
	return ie, ok
}

// Sandbox is a pod's sandbox.
type Sandbox struct {
	PodUID       types.UID
	PodName      string
	PodNamespace string
	// NetNSPath is the pod's network namespace; every container of the pod joins it.
	NetNSPath string
	// IPs are the pod's IPs, the primary first.
	IPs       []string
	CreatedAt time.Time
	// Dir is the pod's directory on the host (volumes, hosts file, termination messages).
	Dir string
}

// ContainerState is the state of a container.
type ContainerState string

const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// Container is a container of a pod as the runtime sees it.
type Container struct {
	ID           string
	PodUID       types.UID
	PodName      string
	PodNamespace string
	// Name is the container's name in the pod spec.
	Name string
	// Attempt is ContainerConfig.Attempt: 0 for the first container of that name in the pod,
	// then 1, 2, … for each restart.
	Attempt int
	// Image is the image as the spec names it; ImageRef its normalized reference, ImageID its ID.
	Image    string
	ImageRef string
	ImageID  string
	State    ContainerState
	// CreatedAt, StartedAt, FinishedAt: zero when not reached.
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// ExitCode is set when State is Exited.
	ExitCode int32
	// Reason is set when Exited: "Completed" (exit code 0), "OOMKilled", "Error".
	Reason string
	// Message is the termination message (from terminationMessagePath, or the tail of the log
	// with FallbackToLogsOnError), when Exited.
	Message string
	// LogPath is the container's log file (CRI log format).
	LogPath string
}

// ContainerConfig is what the pod worker resolves for a container before the runtime creates
// it. The runtime adds what comes from the image and the sandbox itself: the command (the
// image's entrypoint and cmd combined with the spec's command and args as upstream does),
// workingDir, user, /etc/hosts, /etc/resolv.conf, the termination message file, resources as
// cgroup limits, privileged.
type ContainerConfig struct {
	// Attempt is the restart count of this container in its pod.
	Attempt int
	// Env is the resolved environment, "NAME=value", in order (image env first is the
	// runtime's job: these override the image's).
	Env []string
	// Mounts are the pod's volumes as the container mounts them, resolved to host paths.
	Mounts []Mount
	// Image is what EnsureImage returned for c.Image.
	Image *Image
}

// Mount is a host path mounted into a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
	// SubPath, when set, has already been joined to HostPath.
}

// ErrNotFound is returned (wrapped) for a container or sandbox that does not exist.
var ErrNotFound = errors.New("not found")
