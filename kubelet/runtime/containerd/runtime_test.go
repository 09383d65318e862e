package containerd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/snapshots"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

func TestVersion(t *testing.T) {
	rt := newTestRuntime(t, false)
	v, err := rt.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^containerd://\d+\.\d+`).MatchString(v) {
		t.Errorf("Version = %q", v)
	}
}

func TestEnsureImage(t *testing.T) {
	rt := newTestRuntime(t, true)
	strict := newTestRuntime(t, false)
	ctx := context.Background()
	is := rt.Client().ImageService()
	nsctx := rt.ctx(ctx)
	local, err := is.Get(nsctx, baseImage)
	if err != nil {
		t.Fatal(err)
	}
	// tag the local busybox under names whose registries do not answer or answer 404
	notFound := newTestRegistry(t, nil)
	refused := "127.0.0.1:1/library/busybox:latest"
	fourOhFour := strings.TrimPrefix(notFound.URL, "http://") + "/library/busybox:latest"
	for _, name := range []string{refused, fourOhFour} {
		img := local
		img.Name = name
		if _, err := is.Create(nsctx, img); err != nil {
			t.Fatal(err)
		}
	}
	wantKind := func(t *testing.T, err error, kind runtime.ImageErrorKind) {
		t.Helper()
		ie, ok := runtime.AsImageError(err)
		if !ok || ie.Kind != kind {
			t.Fatalf("error = %v, want %s", err, kind)
		}
	}

	t.Run("Never missing", func(t *testing.T) {
		_, err := rt.EnsureImage(ctx, "no-such-image:v1", corev1.PullNever, nil)
		wantKind(t, err, runtime.ImageNeverPullNotPresent)
	})
	t.Run("invalid name", func(t *testing.T) {
		_, err := rt.EnsureImage(ctx, "Bad Name!", corev1.PullIfNotPresent, nil)
		wantKind(t, err, runtime.ImageInvalidName)
	})
	t.Run("Never present", func(t *testing.T) {
		img, err := rt.EnsureImage(ctx, "busybox", corev1.PullNever, nil)
		if err != nil {
			t.Fatal(err)
		}
		if img.Ref != baseImage || img.ID != baseImg.config.String() || img.Fallback != "" {
			t.Errorf("image = %+v, want ref %s id %s", img, baseImage, baseImg.config)
		}
	})
	t.Run("IfNotPresent present does not pull", func(t *testing.T) {
		// the registry of this name refuses connections: a pull would fail
		img, err := strict.EnsureImage(ctx, refused, corev1.PullIfNotPresent, nil)
		if err != nil || img.Fallback != "" {
			t.Fatalf("image %+v, err %v", img, err)
		}
	})
	t.Run("Always unreachable falls back", func(t *testing.T) {
		img, err := rt.EnsureImage(ctx, refused, corev1.PullAlways, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(img.Fallback, "no registry reachable for "+refused) || !strings.Contains(img.Fallback, "connection refused") ||
			!strings.HasSuffix(img.Fallback, "using the local copy") {
			t.Errorf("Fallback = %q", img.Fallback)
		}
	})
	t.Run("Always docker.io offline falls back", func(t *testing.T) {
		img, err := rt.EnsureImage(ctx, "busybox", corev1.PullAlways, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(img.Fallback, "no registry reachable for docker.io/library/busybox:latest (") {
			t.Errorf("Fallback = %q", img.Fallback)
		}
	})
	t.Run("Always unreachable without fallback fails", func(t *testing.T) {
		_, err := strict.EnsureImage(ctx, refused, corev1.PullAlways, nil)
		wantKind(t, err, runtime.ImagePullFailed)
	})
	t.Run("Always 404 fails without fallback", func(t *testing.T) {
		_, err := rt.EnsureImage(ctx, fourOhFour, corev1.PullAlways, nil)
		wantKind(t, err, runtime.ImagePullFailed)
		if IsNetworkError(err) {
			t.Errorf("a 404 counted as a network error: %v", err)
		}
	})
	t.Run("pull from a registry", func(t *testing.T) {
		img := buildTestImage(t, "pulled", nil)
		reg := newTestRegistry(t, map[string]map[string]*testImage{"team/app": {"v1": img}})
		ref := strings.TrimPrefix(reg.URL, "http://") + "/team/app:v1"
		if _, err := rt.EnsureImage(ctx, ref, corev1.PullNever, nil); err == nil {
			t.Fatal("image present before the pull")
		}
		got, err := strict.EnsureImage(ctx, ref, corev1.PullIfNotPresent, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Ref != ref || got.ID != img.config.String() || got.Fallback != "" {
			t.Errorf("pulled %+v, want id %s", got, img.config)
		}
		if _, err := rt.EnsureImage(ctx, ref, corev1.PullNever, nil); err != nil {
			t.Errorf("after the pull, Never: %v", err)
		}
		// and it runs
		pod := testPod("pulled")
		id := startContainer(t, rt, pod, &corev1.Container{Name: "c", Image: ref, Command: []string{"cat", "/marker"}},
			runtime.ContainerConfig{Image: got})
		c := waitState(t, rt, id, runtime.ContainerExited, 10*time.Second)
		if log := logContent(readLog(t, c.LogPath)); log != "pulled\n" || c.ImageID != img.config.String() {
			t.Errorf("log %q, image id %s", log, c.ImageID)
		}
		removePod(t, rt, pod)
	})
}

func TestContainerExitLogsAndMessages(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("exits")
	defer removePod(t, rt, pod)
	env := []string{"GREETING=hi", "FOO=pod"}
	cases := []struct {
		name     string
		c        corev1.Container
		code     int32
		reason   string
		log      string
		logRegex string
		message  string
	}{
		{name: "fails", c: corev1.Container{Command: []string{"sh", "-c", "echo out; sleep 0.2; echo err >&2; exit 3"}},
			code: 3, reason: "Error", log: "out\nerr\n",
			logRegex: `(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F out$`},
		{name: "completes", c: corev1.Container{Command: []string{"true"}}, code: 0, reason: "Completed"},
		{name: "expands", c: corev1.Container{Command: []string{"echo", "$(GREETING)", "$$(GREETING)", "$(MISSING)"}},
			reason: "Completed", log: "hi $(GREETING) $(MISSING)\n"},
		{name: "entrypoint and args", c: corev1.Container{Image: epImage, Args: []string{"a", "$(FOO)"}},
			reason: "Completed", log: "ep a pod\n"},
		{name: "entrypoint and cmd", c: corev1.Container{Image: epImage}, reason: "Completed", log: "ep cmd\n"},
		{name: "env", c: corev1.Container{Image: epImage, Command: []string{"sh", "-c", "echo $FOO $KEEP $GREETING; pwd"}, WorkingDir: "/tmp"},
			reason: "Completed", log: "pod image hi\n/tmp\n"},
		{name: "message", c: corev1.Container{Command: []string{"sh", "-c", "printf bye > /dev/termination-log; exit 1"}},
			code: 1, reason: "Error", message: "bye"},
		{name: "custom message path", c: corev1.Container{TerminationMessagePath: "/tmp/msg",
			Command: []string{"sh", "-c", "printf done > /tmp/msg"}}, reason: "Completed", message: "done"},
		{name: "fallback to logs", c: corev1.Container{TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			Command: []string{"sh", "-c", "echo first; echo last words; exit 2"}}, code: 2, reason: "Error",
			log: "first\nlast words\n", message: "first\nlast words\n"},
		{name: "no fallback on success", c: corev1.Container{TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			Command: []string{"echo", "fine"}}, reason: "Completed", log: "fine\n"},
		{name: "user", c: corev1.Container{Command: []string{"id"},
			SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(65534)), RunAsGroup: ptr(int64(1234))}},
			reason: "Completed", logRegex: `uid=65534\(nobody\) gid=1234`},
	}
	ids := map[string]string{}
	for i := range cases {
		tc := &cases[i]
		tc.c.Name = strings.ReplaceAll(tc.name, " ", "-")
		ids[tc.name] = startContainer(t, rt, pod, &tc.c, runtime.ContainerConfig{Env: env})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := waitState(t, rt, ids[tc.name], runtime.ContainerExited, 10*time.Second)
			if c.ExitCode != tc.code || c.Reason != tc.reason || c.Message != tc.message {
				t.Errorf("exit %d %q message %q, want %d %q %q", c.ExitCode, c.Reason, c.Message, tc.code, tc.reason, tc.message)
			}
			if c.StartedAt.IsZero() || c.FinishedAt.Before(c.StartedAt) || c.PodUID != pod.UID || c.Name != tc.c.Name {
				t.Errorf("container %+v", c)
			}
			raw := readLog(t, c.LogPath)
			if tc.log != "" && logContent(raw) != tc.log {
				t.Errorf("log %q, want %q (raw %q)", logContent(raw), tc.log, raw)
			}
			if tc.logRegex != "" && !regexp.MustCompile(tc.logRegex).MatchString(raw) {
				t.Errorf("log %q does not match %s", raw, tc.logRegex)
			}
			want := filepath.Join(testRoot, "logs", "default_exits_"+string(pod.UID), tc.c.Name, "0.log")
			if c.LogPath != want {
				t.Errorf("log path %s, want %s", c.LogPath, want)
			}
		})
	}
}

func TestBadSpecs(t *testing.T) {
	rt := newTestRuntime(t, false)
	ctx := context.Background()
	pod := testPod("bad")
	defer removePod(t, rt, pod)
	sb, err := rt.RunSandbox(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	img, err := rt.EnsureImage(ctx, "busybox", corev1.PullNever, pod)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.CreateContainer(ctx, sb, pod, &corev1.Container{Name: "mount", Image: "busybox", Command: []string{"true"}},
		runtime.ContainerConfig{Image: img, Mounts: []runtime.Mount{{HostPath: "/no/such/dir", ContainerPath: "/x"}}})
	if err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Errorf("bad mount source: %v", err)
	}
	id, err := rt.CreateContainer(ctx, sb, pod, &corev1.Container{Name: "cmd", Image: "busybox", Command: []string{"/no/such/binary"}},
		runtime.ContainerConfig{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err == nil {
		t.Error("starting a missing entrypoint succeeded")
	}
	c := getContainer(t, rt, id)
	if c == nil || c.State != runtime.ContainerExited || c.Reason != "StartError" || c.ExitCode != 128 {
		t.Errorf("after a failed start: %+v", c)
	}
}

func TestPodContainersShareLocalhostAndVolumes(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("shared")
	defer removePod(t, rt, pod)
	shared := t.TempDir()
	mounts := []runtime.Mount{{HostPath: shared, ContainerPath: "/shared"}}
	startContainer(t, rt, pod, &corev1.Container{Name: "server", Command: []string{"sh", "-c",
		"echo served-over-localhost > /shared/index.html && exec httpd -f -p 8080 -h /shared"}},
		runtime.ContainerConfig{Mounts: mounts})
	client := startContainer(t, rt, pod, &corev1.Container{Name: "client", Command: []string{"sh", "-c",
		"for i in $(seq 50); do wget -q -O /shared/got http://127.0.0.1:8080/index.html && exit 0; sleep 0.1; done; exit 1"}},
		runtime.ContainerConfig{Mounts: mounts})
	c := waitState(t, rt, client, runtime.ContainerExited, 15*time.Second)
	got, _ := os.ReadFile(filepath.Join(shared, "got"))
	if c.ExitCode != 0 || string(got) != "served-over-localhost\n" {
		t.Errorf("client exit %d, got %q; log %q", c.ExitCode, got, readLog(t, c.LogPath))
	}
	// the sandbox's hosts file names the pod
	hosts, err := os.ReadFile(filepath.Join(testRoot, "pods", string(pod.UID), hostsFile))
	if err != nil || !strings.Contains(string(hosts), "10.99.0.2\tshared\n") {
		t.Errorf("hosts %q, %v", hosts, err)
	}
}

func TestOOMKilled(t *testing.T) {
	rt := newTestRuntime(t, false)
	pod := testPod("oom")
	defer removePod(t, rt, pod)
	events := rt.Events(t.Context())
	id := startContainer(t, rt, pod, &corev1.Container{Name: "hog", Command: []string{"sh", "-c", "tail /dev/zero"},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}}},
		runtime.ContainerConfig{})
	select {
	case uid := <-events:
		if uid != pod.UID {
			t.Errorf("event for %s, want %s", uid, pod.UID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event for the OOM kill")
	}
	c := waitState(t, rt, id, runtime.ContainerExited, 10*time.Second)
	if c.Reason != "OOMKilled" || c.ExitCode != 137 {
		t.Errorf("exit %d reason %q, want 137 OOMKilled", c.ExitCode, c.Reason)
	}
}

func TestStopContainer(t *testing.T) {
	rt := newTestRuntime(t, false)
	ctx := context.Background()
	pod := testPod("stop")
	defer removePod(t, rt, pod)
	shared := t.TempDir()
	mounts := []runtime.Mount{{HostPath: shared, ContainerPath: "/shared"}}
	polite := startContainer(t, rt, pod, &corev1.Container{Name: "polite", Command: []string{"sh", "-c",
		`trap 'echo terminated > /shared/termed; exit 0' TERM; touch /shared/ready1; while true; do sleep 0.1; done`}},
		runtime.ContainerConfig{Mounts: mounts})
	stubborn := startContainer(t, rt, pod, &corev1.Container{Name: "stubborn", Command: []string{"sh", "-c",
		`trap '' TERM; touch /shared/ready2; while true; do sleep 0.1; done`}},
		runtime.ContainerConfig{Mounts: mounts})
	waitFile(t, filepath.Join(shared, "ready1"))
	waitFile(t, filepath.Join(shared, "ready2"))

	start := time.Now()
	if err := rt.StopContainer(ctx, polite, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("polite stop took %s", d)
	}
	if b, _ := os.ReadFile(filepath.Join(shared, "termed")); string(b) != "terminated\n" {
		t.Errorf("the TERM trap did not run: %q", b)
	}
	if c := getContainer(t, rt, polite); c.State != runtime.ContainerExited || c.ExitCode != 0 || c.Reason != "Completed" {
		t.Errorf("polite: %+v", c)
	}

	start = time.Now()
	if err := rt.StopContainer(ctx, stubborn, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || d > 6*time.Second {
		t.Errorf("stubborn stop took %s, want the 1s grace then a kill", d)
	}
	if c := getContainer(t, rt, stubborn); c.State != runtime.ContainerExited || c.ExitCode != 137 || c.Reason != "Error" {
		t.Errorf("stubborn: %+v", c)
	}
	// stopping again is fine
	if err := rt.StopContainer(ctx, stubborn, time.Second); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func TestExecSync(t *testing.T) {
	rt := newTestRuntime(t, false)
	ctx := context.Background()
	pod := testPod("exec")
	defer removePod(t, rt, pod)
	id := startContainer(t, rt, pod, &corev1.Container{Name: "c", Command: []string{"sleep", "60"}, WorkingDir: "/tmp"},
		runtime.ContainerConfig{Env: []string{"GREETING=hi"}})
	waitState(t, rt, id, runtime.ContainerRunning, 5*time.Second)
	out, code, err := rt.ExecSync(ctx, id, []string{"sh", "-c", "echo $GREETING; pwd; sleep 0.2; echo oops >&2; exit 4"}, 5*time.Second)
	if err != nil || code != 4 || string(out) != "hi\n/tmp\noops\n" {
		t.Errorf("exec: %q %d %v", out, code, err)
	}
	start := time.Now()
	if _, _, err := rt.ExecSync(ctx, id, []string{"sleep", "10"}, 300*time.Millisecond); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("exec timeout: %v after %s", err, time.Since(start))
	}
	if _, _, err := rt.ExecSync(ctx, "nope", []string{"true"}, time.Second); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("exec in a missing container: %v", err)
	}
}

// TestRestartAndCleanup: a second Runtime (a restarted kubelet) sees the running containers and
// the sandboxes, logs keep flowing without the first one, and removal leaves nothing behind.
func TestRestartAndCleanup(t *testing.T) {
	rt := newTestRuntime(t, false)
	ctx := context.Background()
	pod := testPod("restart")
	id := startContainer(t, rt, pod, &corev1.Container{Name: "ticker", Command: []string{"sh", "-c",
		"while true; do echo tick; sleep 0.1; done"}}, runtime.ContainerConfig{Attempt: 2})
	first := waitState(t, rt, id, runtime.ContainerRunning, 5*time.Second)
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	before := len(readLog(t, first.LogPath))
	time.Sleep(500 * time.Millisecond)

	rt2 := newTestRuntime(t, false)
	c := getContainer(t, rt2, id)
	if c == nil || c.State != runtime.ContainerRunning || c.Attempt != 2 || c.Name != "ticker" || c.PodName != "restart" ||
		c.Image != "busybox" || c.ImageRef != baseImage || c.ImageID != baseImg.config.String() || !c.StartedAt.Equal(first.StartedAt) {
		t.Errorf("after restart: %+v, before %+v", c, first)
	}
	if after := len(readLog(t, first.LogPath)); after <= before {
		t.Errorf("the log stopped growing without the runtime: %d → %d bytes", before, after)
	}
	sbs, err := rt2.ListSandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed *runtime.Sandbox
	for _, sb := range sbs {
		if sb.PodUID == pod.UID && sb.NetNSPath != "" && len(sb.IPs) == 1 {
			listed = sb
		}
	}
	if listed == nil {
		t.Fatalf("sandbox of %s not listed: %+v", pod.UID, sbs)
	}
	again, err := rt2.RunSandbox(ctx, pod)
	if err != nil || again.NetNSPath != listed.NetNSPath || !again.CreatedAt.Equal(listed.CreatedAt) {
		t.Errorf("RunSandbox again: %+v %v, want %+v", again, err, listed)
	}
	if err := rt2.RemoveSandbox(ctx, pod.UID); err == nil {
		t.Error("RemoveSandbox with a container left succeeded")
	}

	removePod(t, rt2, pod)
	if c := getContainer(t, rt2, id); c != nil {
		t.Errorf("container left: %+v", c)
	}
	nsctx := rt2.ctx(ctx)
	if _, err := rt2.Client().ContainerService().Get(nsctx, id); err == nil {
		t.Error("containerd container left")
	}
	err = rt2.Client().SnapshotService(snapshotter).Walk(nsctx, func(_ context.Context, info snapshots.Info) error {
		if info.Name == id || info.Kind == snapshots.KindActive {
			t.Errorf("snapshot left: %+v", info)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(testRoot, "pods", string(pod.UID)), filepath.Dir(filepath.Dir(first.LogPath))} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	sbs, _ = rt2.ListSandboxes(ctx)
	for _, sb := range sbs {
		if sb.PodUID == pod.UID {
			t.Errorf("sandbox still listed")
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestSpecResourcesAndSecurity(t *testing.T) {
	rt := newTestRuntime(t, false)
	ctx := context.Background()
	pod := testPod("spec")
	defer removePod(t, rt, pod)
	id := startContainer(t, rt, pod, &corev1.Container{Name: "c", Command: []string{"sh", "-c", "touch /x || echo read-only; hostname"},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}}, runtime.ContainerConfig{})
	c := waitState(t, rt, id, runtime.ContainerExited, 10*time.Second)
	if log := logContent(readLog(t, c.LogPath)); !strings.Contains(log, "read-only\nspec\n") {
		t.Errorf("log %q, want a read-only root and the pod's hostname", log)
	}
	ctr, err := rt.Client().LoadContainer(rt.ctx(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(rt.ctx(ctx))
	if err != nil {
		t.Fatal(err)
	}
	res := spec.Linux.Resources
	if *res.Memory.Limit != 32<<20 || *res.CPU.Shares != 256 || *res.CPU.Quota != 50000 || *res.CPU.Period != 100000 {
		t.Errorf("resources: memory %d shares %d quota %d period %d", *res.Memory.Limit, *res.CPU.Shares, *res.CPU.Quota, *res.CPU.Period)
	}
	if want := filepath.Join(testCgroup, "pod"+string(pod.UID), id); spec.Linux.CgroupsPath != want || !spec.Root.Readonly {
		t.Errorf("cgroups path %s (want %s), readonly root %v", spec.Linux.CgroupsPath, want, spec.Root.Readonly)
	}
	var netns string
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == "network" {
			netns = ns.Path
		}
	}
	if netns == "" || netns != filepath.Join(filepath.Dir(testRoot), "netns", string(pod.UID)) {
		t.Errorf("network namespace %q", netns)
	}
}
