package podworker

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// fakeRuntime is an in-memory runtime.Runtime: containers run until the test makes them exit.
type fakeRuntime struct {
	clock clock.Clock

	mu         sync.Mutex
	seq        int
	sandboxes  map[types.UID]*runtime.Sandbox
	containers map[string]*runtime.Container
	images     map[string]bool
	pullErr    map[string]error
	pullKind   map[string]runtime.ImageErrorKind
	createErr  error
	execs      []string
	stops      map[string]time.Duration
	calls      []string
	events     chan types.UID
}

func newFakeRuntime(c clock.Clock) *fakeRuntime {
	return &fakeRuntime{
		clock: c, sandboxes: map[types.UID]*runtime.Sandbox{}, containers: map[string]*runtime.Container{},
		images: map[string]bool{}, pullErr: map[string]error{}, pullKind: map[string]runtime.ImageErrorKind{}, stops: map[string]time.Duration{},
		events: make(chan types.UID, 100),
	}
}

var _ runtime.Runtime = (*fakeRuntime)(nil)

func (f *fakeRuntime) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeRuntime) Version(context.Context) (string, error) { return "fake://1", nil }

func (f *fakeRuntime) EnsureImage(_ context.Context, ref string, policy corev1.PullPolicy, _ *corev1.Pod) (*runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("pull %s", ref)
	if err := f.pullErr[ref]; err != nil {
		kind := f.pullKind[ref]
		if kind == "" {
			kind = runtime.ImagePullFailed
		}
		return nil, &runtime.ImageError{Kind: kind, Ref: ref, Err: err}
	}
	return &runtime.Image{Ref: "docker.io/library/" + ref + ":latest", ID: "sha256:" + ref}, nil
}

func (f *fakeRuntime) RunSandbox(_ context.Context, pod *corev1.Pod) (*runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sandboxes[pod.UID]; ok {
		return sb, nil
	}
	f.record("sandbox %s", pod.Name)
	sb := &runtime.Sandbox{PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace, IPs: []string{"10.88.0.5"}, CreatedAt: f.clock.Now()}
	f.sandboxes[pod.UID] = sb
	return sb, nil
}

func (f *fakeRuntime) RemoveSandbox(_ context.Context, uid types.UID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.PodUID == uid {
			return fmt.Errorf("sandbox %s still has container %s", uid, c.Name)
		}
	}
	if _, ok := f.sandboxes[uid]; ok {
		f.record("remove sandbox")
	}
	delete(f.sandboxes, uid)
	return nil
}

func (f *fakeRuntime) ListSandboxes(context.Context) ([]*runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.Sandbox
	for _, sb := range f.sandboxes {
		out = append(out, sb)
	}
	return out, nil
}

func (f *fakeRuntime) CreateContainer(_ context.Context, sb *runtime.Sandbox, pod *corev1.Pod, c *corev1.Container, cfg runtime.ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return "", f.createErr
	}
	f.seq++
	id := fmt.Sprintf("c%d", f.seq)
	f.record("create %s/%d", c.Name, cfg.Attempt)
	f.containers[id] = &runtime.Container{
		ID: id, PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace, Name: c.Name, Attempt: cfg.Attempt,
		Image: c.Image, ImageRef: cfg.Image.Ref, ImageID: cfg.Image.ID, State: runtime.ContainerCreated, CreatedAt: f.clock.Now(),
	}
	return id, nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return runtime.ErrNotFound
	}
	f.record("start %s/%d", c.Name, c.Attempt)
	c.State = runtime.ContainerRunning
	c.StartedAt = f.clock.Now()
	return nil
}

// exit makes the newest running container named name of the pod exit with code.
func (f *fakeRuntime) exit(uid types.UID, name string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.PodUID == uid && c.Name == name && c.State == runtime.ContainerRunning {
			f.exitLocked(c, code)
			return
		}
	}
	panic("no running container " + name)
}

func (f *fakeRuntime) exitLocked(c *runtime.Container, code int32) {
	c.State = runtime.ContainerExited
	c.ExitCode = code
	c.FinishedAt = f.clock.Now()
	c.Reason = "Completed"
	if code != 0 {
		c.Reason = "Error"
	}
	select {
	case f.events <- c.PodUID:
	default:
	}
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	f.stops[c.Name] = grace
	if c.State == runtime.ContainerRunning {
		f.record("stop %s", c.Name)
		f.exitLocked(c, 143)
	}
	c.State = runtime.ContainerExited
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return runtime.ErrNotFound
	}
	if c.State == runtime.ContainerRunning {
		return fmt.Errorf("container %s is running", id)
	}
	f.record("remove %s/%d", c.Name, c.Attempt)
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(context.Context) ([]*runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.Container
	for _, c := range f.containers {
		cp := *c
		out = append(out, &cp)
	}
	return out, nil
}

func (f *fakeRuntime) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, fmt.Sprintf("%s:%v", f.containers[id].Name, cmd))
	return nil, 0, nil
}

func (f *fakeRuntime) Events(ctx context.Context) <-chan types.UID {
	out := make(chan types.UID)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case uid := <-f.events:
				select {
				case out <- uid:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

func (f *fakeRuntime) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

// fakeVolumes records Setup and Cleanup.
type fakeVolumes struct {
	mu       sync.Mutex
	setupErr error
	cleaned  []types.UID
}

func (v *fakeVolumes) Setup(context.Context, *corev1.Pod) (map[string]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return map[string]string{}, v.setupErr
}

func (v *fakeVolumes) Cleanup(uid types.UID) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cleaned = append(v.cleaned, uid)
	return nil
}
