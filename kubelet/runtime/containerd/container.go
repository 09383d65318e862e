package containerd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerdclient "github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

// Labels on kubeshim's containerd containers; ListContainers rebuilds runtime.Container from them.
const (
	labelKind         = "io.kubeshim.kind"
	labelPodUID       = "io.kubeshim.pod.uid"
	labelPodName      = "io.kubeshim.pod.name"
	labelPodNamespace = "io.kubeshim.pod.namespace"
	labelName         = "io.kubeshim.container.name"
	labelAttempt      = "io.kubeshim.container.attempt"
	labelImage        = "io.kubeshim.container.image"
	labelImageRef     = "io.kubeshim.container.image-ref"
	labelImageID      = "io.kubeshim.container.image-id"
	labelLogPath      = "io.kubeshim.container.log-path"
	labelStopSignal   = "io.kubeshim.container.stop-signal"
	labelTermPath     = "io.kubeshim.container.termination-file"
	labelTermPolicy   = "io.kubeshim.container.termination-policy"
	labelCgroup       = "io.kubeshim.container.cgroup"
	labelStdin        = "io.kubeshim.container.stdin"
	labelTTY          = "io.kubeshim.container.tty"

	kindContainer = "container"
	runcRuntime   = "io.containerd.runc.v2"

	// Upstream's limits on termination messages.
	maxTerminationMessage = 4096
	fallbackLogLines      = 80
	fallbackLogBytes      = 2048
)

// containerStatus is what the runtime records about a container beyond containerd's own state,
// in <pod dir>/status/<id>.json so it survives a kubelet restart.
type containerStatus struct {
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Exited     bool      `json:"exited,omitempty"`
	ExitCode   int32     `json:"exitCode,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	OOM        bool      `json:"oom,omitempty"`
}

func (r *Runtime) statusPath(uid, id string) string {
	return filepath.Join(r.podDir(types.UID(uid)), "status", id+".json")
}

func (r *Runtime) loadStatus(uid, id string) containerStatus {
	var st containerStatus
	b, err := os.ReadFile(r.statusPath(uid, id))
	if err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			klog.ErrorS(err, "Unreadable container status record", "containerID", id)
		}
	}
	return st
}

func (r *Runtime) saveStatus(uid, id string, st containerStatus) error {
	p := r.statusPath(uid, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, b)
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// LogPath is where the log of attempt of container name of a pod goes (upstream's
// /var/log/pods layout under RootDir/logs).
func (r *Runtime) LogPath(podNamespace, podName string, podUID types.UID, name string, attempt int) string {
	return filepath.Join(r.cfg.RootDir, "logs", podNamespace+"_"+podName+"_"+string(podUID), name, strconv.Itoa(attempt)+".log")
}

// CreateContainer creates container c of pod in sb from cfg.Image.
func (r *Runtime) CreateContainer(ctx context.Context, sb *runtime.Sandbox, pod *corev1.Pod, c *corev1.Container, cfg runtime.ContainerConfig) (string, error) {
	ctx = r.ctx(ctx)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("creating container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	if sb == nil {
		return fail(errors.New("no sandbox"))
	}
	ref := c.Image
	if cfg.Image != nil {
		ref = cfg.Image.Ref
	}
	name, err := NormalizeRef(ref)
	if err != nil {
		return fail(err)
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return fail(fmt.Errorf("image %s: %w", name, err))
	}
	imageID := ""
	if cfg.Image != nil {
		imageID = cfg.Image.ID
	}
	if imageID == "" {
		if desc, err := img.Config(ctx); err == nil {
			imageID = desc.Digest.String()
		}
	}
	ociImg, err := img.Spec(ctx)
	if err != nil {
		return fail(fmt.Errorf("image %s config: %w", name, err))
	}
	args, err := containerArgs(ociImg.Config.Entrypoint, ociImg.Config.Cmd, c.Command, c.Args, cfg.Env)
	if err != nil {
		return fail(err)
	}
	for _, m := range cfg.Mounts {
		if _, err := os.Stat(m.HostPath); err != nil {
			return fail(fmt.Errorf("mount %s: %w", m.ContainerPath, err))
		}
	}
	hostNetwork, hostname := pod.Spec.HostNetwork, podHostname(pod)
	if rec, err := r.loadSandbox(sb.PodUID); err == nil {
		hostNetwork, hostname = rec.HostNetwork, rec.Hostname
	}

	id := newID()
	logPath := r.LogPath(pod.Namespace, pod.Name, pod.UID, c.Name, cfg.Attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail(err)
	}
	termDir := filepath.Join(sb.Dir, "containers", c.Name)
	if err := os.MkdirAll(termDir, 0o755); err != nil {
		return fail(err)
	}
	termFile := filepath.Join(termDir, strconv.Itoa(cfg.Attempt)+"-termination-log")
	if err := os.WriteFile(termFile, nil, 0o666); err != nil {
		return fail(err)
	}
	_ = os.Chmod(termFile, 0o666)
	termPath := c.TerminationMessagePath
	if termPath == "" {
		termPath = corev1.TerminationMessagePathDefault
	}
	cgroup := filepath.Join(podCgroup(r.cfg.CgroupParent, pod.UID), id)

	mounts := []specs.Mount{
		bindMount(filepath.Join(sb.Dir, hostsFile), "/etc/hosts", false),
		bindMount(filepath.Join(sb.Dir, resolvFile), "/etc/resolv.conf", false),
		bindMount(termFile, termPath, false),
	}
	if !hostNetwork {
		mounts = append(mounts, bindMount(filepath.Join(sb.Dir, hostnameFile), "/etc/hostname", false))
	}
	for _, m := range cfg.Mounts {
		mounts = append(mounts, bindMount(m.HostPath, m.ContainerPath, m.ReadOnly))
	}

	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(cfg.Env),
		oci.WithMounts(mounts),
		oci.WithCgroup(cgroup),
		withResources(c.Resources, swapAccounting()),
	}
	if c.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(c.WorkingDir))
	}
	if hostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	} else {
		opts = append(opts, oci.WithHostname(hostname))
		if sb.NetNSPath != "" {
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}))
		}
	}
	if sc := c.SecurityContext; sc != nil || pod.Spec.SecurityContext != nil {
		opts = append(opts, withUser(effectiveUser(pod, c)))
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.Privileged != nil && *sc.Privileged {
			opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
		}
		if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			opts = append(opts, oci.WithRootFSReadonly())
		}
	}

	stopSignal := ociImg.Config.StopSignal
	if stopSignal == "" {
		stopSignal = "SIGTERM"
	}
	policy := c.TerminationMessagePolicy
	if policy == "" {
		policy = corev1.TerminationMessageReadFile
	}
	labels := map[string]string{
		labelKind:         kindContainer,
		labelPodUID:       string(pod.UID),
		labelPodName:      pod.Name,
		labelPodNamespace: pod.Namespace,
		labelName:         c.Name,
		labelAttempt:      strconv.Itoa(cfg.Attempt),
		labelImage:        c.Image,
		labelImageRef:     name,
		labelImageID:      imageID,
		labelLogPath:      logPath,
		labelStopSignal:   stopSignal,
		labelTermPath:     termFile,
		labelTermPolicy:   string(policy),
		labelCgroup:       cgroup,
		labelStdin:        strconv.FormatBool(c.Stdin),
		labelTTY:          strconv.FormatBool(c.TTY),
	}
	_, err = r.client.NewContainer(ctx, id,
		containerdclient.WithImage(img),
		containerdclient.WithSnapshotter(snapshotter),
		containerdclient.WithNewSnapshot(id, img),
		containerdclient.WithRuntime(runcRuntime, nil),
		containerdclient.WithContainerLabels(labels),
		containerdclient.WithNewSpec(opts...))
	if err != nil {
		if rerr := r.client.SnapshotService(snapshotter).Remove(ctx, id); rerr != nil && !errdefs.IsNotFound(rerr) {
			klog.ErrorS(rerr, "Removing the snapshot of a container that could not be created", "containerID", id)
		}
		return fail(err)
	}
	if err := r.saveStatus(string(pod.UID), id, containerStatus{}); err != nil {
		return fail(err)
	}
	klog.V(2).InfoS("Created container", "pod", klog.KObj(pod), "container", c.Name, "containerID", id, "args", args)
	return id, nil
}

func bindMount(src, dst string, ro bool) specs.Mount {
	mode := "rw"
	if ro {
		mode = "ro"
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", mode}}
}

// effectiveUser returns runAsUser and runAsGroup, the container's over the pod's.
func effectiveUser(pod *corev1.Pod, c *corev1.Container) (uid, gid *int64) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	return uid, gid
}

// withUser overrides the image's user with runAsUser/runAsGroup.
func withUser(uid, gid *int64) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		switch {
		case uid != nil && gid != nil:
			return oci.WithUIDGID(uint32(*uid), uint32(*gid))(ctx, client, c, s)
		case uid != nil:
			return oci.WithUserID(uint32(*uid))(ctx, client, c, s)
		case gid != nil:
			if s.Process == nil {
				s.Process = &specs.Process{}
			}
			s.Process.User.GID = uint32(*gid)
		}
		return nil
	}
}

// withResources sets the cgroup limits of the container's resources: memory limit (and the
// same memory+swap when swap is accounted), CPU limit as CFS quota, CPU request as shares.
func withResources(res corev1.ResourceRequirements, swap bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		lr := s.Linux.Resources
		if mem, ok := res.Limits[corev1.ResourceMemory]; ok && !mem.IsZero() {
			limit := mem.Value()
			lr.Memory = &specs.LinuxMemory{Limit: &limit}
			if swap {
				sw := limit
				lr.Memory.Swap = &sw
			}
		}
		var reqMilli, limMilli int64
		if q, ok := res.Requests[corev1.ResourceCPU]; ok {
			reqMilli = q.MilliValue()
		}
		if q, ok := res.Limits[corev1.ResourceCPU]; ok {
			limMilli = q.MilliValue()
			if _, ok := res.Requests[corev1.ResourceCPU]; !ok {
				reqMilli = limMilli
			}
		}
		shares := milliCPUToShares(reqMilli)
		lr.CPU = &specs.LinuxCPU{Shares: &shares}
		if quota := milliCPUToQuota(limMilli); quota > 0 {
			period := uint64(quotaPeriod)
			lr.CPU.Quota, lr.CPU.Period = &quota, &period
		}
		return nil
	}
}

// StartContainer starts a created container; its output goes through the logger to its log.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	defer r.lock(id)()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "starting container %s", id)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	uid := labels[labelPodUID]
	startErr := func(err error) error {
		st := r.loadStatus(uid, id)
		st.Exited, st.ExitCode, st.Reason, st.Message, st.FinishedAt = true, 128, "StartError", err.Error(), time.Now()
		if serr := r.saveStatus(uid, id, st); serr != nil {
			klog.ErrorS(serr, "Recording a start error", "containerID", id)
		}
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	logPath := labels[labelLogPath]
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return startErr(err)
	}
	task, err := c.NewTask(ctx, cio.BinaryIO(r.cfg.LoggerBinary, crilog.LoggerArgs(logPath, r.cfg.ContainerLogMaxSize, r.cfg.ContainerLogMaxFiles)))
	if err != nil {
		return startErr(err)
	}
	startedAt := time.Now()
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, containerdclient.WithProcessKill); derr != nil {
			klog.ErrorS(derr, "Deleting a task that failed to start", "containerID", id)
		}
		return startErr(err)
	}
	st := r.loadStatus(uid, id)
	st.StartedAt = startedAt
	if err := r.saveStatus(uid, id, st); err != nil {
		return fmt.Errorf("starting container %s: recording the start: %w", id, err)
	}
	return nil
}

func notFound(err error, format string, args ...any) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf(format+": %w: %w", append(args, runtime.ErrNotFound, err)...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// finalize records the exit of a stopped container (exit code, time, OOM, termination
// message) and deletes its task. It does nothing for a container still running.
func (r *Runtime) finalize(ctx context.Context, id string) error {
	defer r.lock(id)()
	return r.finalizeLocked(ctx, id)
}

func (r *Runtime) finalizeLocked(ctx context.Context, id string) error {
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	if err != nil {
		if errdefs.IsNotFound(errdefs.FromGRPC(err)) {
			return nil
		}
		return errdefs.FromGRPC(err)
	}
	p := resp.Process
	if p.Status != tasktypes.Status_STOPPED {
		return nil
	}
	uid := c.Labels[labelPodUID]
	st := r.loadStatus(uid, id)
	if !st.Exited {
		if n, err := oomKillCount(c.Labels[labelCgroup]); err != nil {
			klog.ErrorS(err, "Reading the OOM kill count", "containerID", id)
		} else if n > 0 {
			st.OOM = true
		}
		st.Exited = true
		st.ExitCode = int32(p.ExitStatus)
		if p.ExitedAt != nil {
			st.FinishedAt = p.ExitedAt.AsTime()
		}
		if st.FinishedAt.IsZero() || st.FinishedAt.Year() < 2000 {
			st.FinishedAt = time.Now()
		}
		st.Reason = exitReason(st.ExitCode, st.OOM)
		st.Message = terminationMessage(c.Labels, st.ExitCode)
		if err := r.saveStatus(uid, id, st); err != nil {
			return fmt.Errorf("recording the exit of container %s: %w", id, err)
		}
		klog.V(2).InfoS("Container exited", "containerID", id, "pod", c.Labels[labelPodNamespace]+"/"+c.Labels[labelPodName],
			"container", c.Labels[labelName], "exitCode", st.ExitCode, "reason", st.Reason)
	}
	if _, err := r.client.TaskService().Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: id}); err != nil {
		if err := errdefs.FromGRPC(err); !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting the task of container %s: %w", id, err)
		}
	}
	return nil
}

func exitReason(code int32, oom bool) string {
	switch {
	case code == 0:
		return "Completed"
	case oom:
		return "OOMKilled"
	default:
		return "Error"
	}
}

func (r *Runtime) recordOOM(ctx context.Context, id string) error {
	defer r.lock(id)()
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	uid := c.Labels[labelPodUID]
	st := r.loadStatus(uid, id)
	st.OOM = true
	if st.Exited {
		st.Reason = exitReason(st.ExitCode, true)
	}
	return r.saveStatus(uid, id, st)
}

// terminationMessage reads the termination message file (at most 4096 bytes); when it is empty,
// the policy FallbackToLogsOnError and the exit code not 0, the tail of the log instead.
func terminationMessage(labels map[string]string, exitCode int32) string {
	if f, err := os.Open(labels[labelTermPath]); err == nil {
		b, _ := io.ReadAll(io.LimitReader(f, maxTerminationMessage))
		f.Close()
		if len(b) > 0 {
			return string(b)
		}
	}
	if labels[labelTermPolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) && exitCode != 0 {
		return logTail(labels[labelLogPath], fallbackLogLines, fallbackLogBytes)
	}
	return ""
}

// logTail returns the content of the last lines of a CRI log file, at most maxBytes.
func logTail(path string, lines, maxBytes int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	// Read a bounded tail of the file: enough for the lines with their CRI prefixes.
	const window = 64 * 1024
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		_, _ = f.Seek(fi.Size()-window, io.SeekStart)
	}
	var msgs []string
	var partial strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		content, full, ok := parseCRILine(sc.Text())
		if !ok {
			continue
		}
		partial.WriteString(content)
		if full {
			msgs = append(msgs, partial.String()+"\n")
			partial.Reset()
		}
	}
	if partial.Len() > 0 {
		msgs = append(msgs, partial.String())
	}
	if len(msgs) > lines {
		msgs = msgs[len(msgs)-lines:]
	}
	out := strings.Join(msgs, "")
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return out
}

// parseCRILine splits "<time> <stream> <F|P> <content>".
func parseCRILine(line string) (content string, full, ok bool) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 {
		return "", false, false
	}
	if len(parts) == 4 {
		content = parts[3]
	}
	return content, parts[2] != "P", true
}

// StopContainer sends the stop signal, waits up to grace, then SIGKILLs; it returns once the
// container has exited and its exit is recorded.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	status, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	switch status.Status {
	case containerdclient.Stopped:
		return r.finalize(ctx, id)
	case containerdclient.Created:
		// Never started: nothing runs; delete the task so the container reads as exited.
		if _, err := task.Delete(ctx, containerdclient.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stopping container %s: %w", id, err)
		}
		return nil
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	sig := syscall.SIGTERM
	if s, err := containerdclient.ParseSignal(labels[labelStopSignal]); err == nil && labels[labelStopSignal] != "" {
		sig = s
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stopping container %s: %s: %w", id, sig, err)
		}
		timer := time.NewTimer(grace)
		select {
		case <-exitCh:
			timer.Stop()
			return r.finalize(ctx, id)
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerdclient.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("killing container %s: %w", id, err)
	}
	select {
	case <-exitCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.finalize(ctx, id)
}

// RemoveContainer removes a container that is not running, with its task and snapshot. Its log
// stays until the sandbox goes.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	if err := r.finalize(ctx, id); err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	defer r.lock(id)()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		status, err := task.Status(ctx)
		if err == nil && (status.Status == containerdclient.Running || status.Status == containerdclient.Paused) {
			return fmt.Errorf("removing container %s: it is running", id)
		}
		if _, err := task.Delete(ctx, containerdclient.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing container %s: deleting its task: %w", id, err)
		}
	}
	if err := c.Delete(ctx, containerdclient.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if uid := labels[labelPodUID]; uid != "" {
		_ = os.Remove(r.statusPath(uid, id))
	}
	r.locks.Delete(id)
	return nil
}

// ListContainers lists every kubeshim container of the namespace with its state.
func (r *Runtime) ListContainers(ctx context.Context) ([]*runtime.Container, error) {
	ctx = r.ctx(ctx)
	cs, err := r.client.ContainerService().List(ctx, fmt.Sprintf("labels.%q==%s", labelKind, kindContainer))
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	resp, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", errdefs.FromGRPC(err))
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		// ListTasks names each task by its container's ID in ID (ContainerID stays empty).
		key := p.ID
		if key == "" {
			key = p.ContainerID
		}
		procs[key] = p
	}
	out := make([]*runtime.Container, 0, len(cs))
	for i := range cs {
		c := &cs[i]
		p := procs[c.ID]
		if p != nil && p.Status == tasktypes.Status_STOPPED {
			if err := r.finalize(ctx, c.ID); err != nil {
				klog.ErrorS(err, "Recording a container exit", "containerID", c.ID)
			} else {
				p = nil
			}
		}
		out = append(out, r.containerOf(c, p))
	}
	return out, nil
}

func (r *Runtime) containerOf(c *containers.Container, p *tasktypes.Process) *runtime.Container {
	l := c.Labels
	attempt, _ := strconv.Atoi(l[labelAttempt])
	st := r.loadStatus(l[labelPodUID], c.ID)
	rc := &runtime.Container{
		ID: c.ID, PodUID: types.UID(l[labelPodUID]), PodName: l[labelPodName], PodNamespace: l[labelPodNamespace],
		Name: l[labelName], Attempt: attempt, Image: l[labelImage], ImageRef: l[labelImageRef], ImageID: l[labelImageID],
		CreatedAt: c.CreatedAt, StartedAt: st.StartedAt, LogPath: l[labelLogPath],
	}
	switch {
	case st.Exited:
		rc.State, rc.FinishedAt, rc.ExitCode, rc.Reason, rc.Message = runtime.ContainerExited, st.FinishedAt, st.ExitCode, st.Reason, st.Message
	case p == nil:
		rc.State = runtime.ContainerCreated
		if !st.StartedAt.IsZero() {
			rc.State = runtime.ContainerUnknown
		}
	default:
		switch p.Status {
		case tasktypes.Status_CREATED:
			rc.State = runtime.ContainerCreated
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			rc.State = runtime.ContainerRunning
		case tasktypes.Status_STOPPED:
			rc.State, rc.ExitCode = runtime.ContainerExited, int32(p.ExitStatus)
			if p.ExitedAt != nil {
				rc.FinishedAt = p.ExitedAt.AsTime()
			}
			rc.Reason = exitReason(rc.ExitCode, false)
		default:
			rc.State = runtime.ContainerUnknown
		}
	}
	return rc
}

// lockedBuffer is a bytes.Buffer safe for the two output copiers of an exec.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// ExecSync runs cmd in the running container id with the container's environment, working
// directory and user, and returns its combined output and exit code. A timeout is an error.
func (r *Runtime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error) {
	ctx = r.ctx(ctx)
	if len(cmd) == 0 {
		return nil, -1, errors.New("exec: no command")
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, -1, notFound(err, "exec in container %s", id)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return nil, -1, notFound(err, "exec in container %s: no running task", id)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false
	execID := "exec-" + newID()[:16]
	out := &lockedBuffer{}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return nil, -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, containerdclient.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			klog.V(2).InfoS("Deleting an exec process", "containerID", id, "err", err)
		}
	}()
	exitCh, err := proc.Wait(ctx)
	if err != nil {
		return nil, -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return nil, -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case st := <-exitCh:
		proc.IO().Wait()
		code, _, err := st.Result()
		if err != nil {
			return out.Bytes(), -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		return out.Bytes(), int(code), nil
	case <-timer:
		_ = proc.Kill(ctx, syscall.SIGKILL)
		<-exitCh
		return out.Bytes(), -1, fmt.Errorf("exec in container %s: command %q timed out after %s", id, cmd, timeout)
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return out.Bytes(), -1, ctx.Err()
	}
}
