package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
	"github.com/kubeshim/kubeshim/kubelet/runtime"
)

const insideEnv = "KUBESHIM_CONTAINERD_TEST_INSIDE"

var (
	// skipReason is why the tests needing containerd skip; empty when they run.
	skipReason string
	testDaemon *Daemon
	testRoot   string // the root directory shared by the tests' runtimes
	testCgroup string
	testNS     = "kubeshim-test"
	baseImage  = "docker.io/library/busybox:latest"
	epImage    = "docker.io/library/ep-test:latest"
	baseImg    *testImage
)

func TestMain(m *testing.M) {
	if crilog.IsLoggerInvocation(os.Args[1:]) {
		crilog.RunLogger()
		os.Exit(0)
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if reason := prerequisites(); reason != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: containerd tests cannot run with CI=true: %s\n", reason)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SKIP containerd tests: %s\n", reason)
		skipReason = reason
		return m.Run()
	}
	if os.Getenv(insideEnv) == "" {
		// Re-exec inside a private network and mount namespace: the daemon's mounts and the
		// pods' network namespaces never touch the host.
		args := append([]string{"--net", "--mount", "--propagation", "private", "--", os.Args[0]}, os.Args[1:]...)
		cmd := exec.Command("unshare", args...)
		cmd.Env = append(os.Environ(), insideEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			fmt.Fprintf(os.Stderr, "re-exec in unshare: %v\n", err)
			return 1
		}
		return 0
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ip link set lo up: %v: %s\n", err, out)
		return 1
	}
	dir, err := os.MkdirTemp("", "kcd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A tmpfs for the daemon's and the pods' directories: the mount namespace drops it at exit.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512m"); err != nil {
		fmt.Fprintln(os.Stderr, "mount tmpfs:", err)
		return 1
	}
	ctx := context.Background()
	testDaemon, err = StartDaemon(ctx, DaemonConfig{Dir: filepath.Join(dir, "containerd")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testRoot = filepath.Join(dir, "kubelet")
	testCgroup = fmt.Sprintf("/kubeshim-test-%d", os.Getpid())
	code := m.Run()
	cleanupNamespace(ctx)
	if err := testDaemon.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping containerd:", err)
	}
	removeTestCgroups()
	_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	return code
}

func prerequisites() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, b := range []string{"containerd", "runc", "containerd-shim-runc-v2", "unshare", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " not found"
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "/bin/busybox (busybox-static) not found"
	}
	return ""
}

// cleanupNamespace kills and deletes every task and container the tests left.
func cleanupNamespace(ctx context.Context) {
	c, err := containerdclient.New(testDaemon.Address())
	if err != nil {
		return
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, testNS)
	cs, _ := c.Containers(ctx)
	for _, ctr := range cs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerdclient.WithProcessKill)
		}
		_ = ctr.Delete(ctx, containerdclient.WithSnapshotCleanup)
	}
}

func removeTestCgroups() {
	paths, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", strings.TrimPrefix(testCgroup, "/")))
	paths = append(paths, filepath.Join(cgroupRoot, strings.TrimPrefix(testCgroup, "/")))
	for _, p := range paths {
		// pod cgroups first, then the parent
		subs, _ := filepath.Glob(filepath.Join(p, "*", "*"))
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				_ = syscall.Rmdir(s)
			}
		}
		subs, _ = filepath.Glob(filepath.Join(p, "pod*"))
		for _, s := range subs {
			_ = syscall.Rmdir(s)
		}
		_ = syscall.Rmdir(p)
	}
}

// fakeNetwork gives each pod a network namespace with only loopback, bind-mounted in dir.
type fakeNetwork struct {
	dir      string
	mu       sync.Mutex
	setups   int
	teardown int
}

func (n *fakeNetwork) Setup(ctx context.Context, pod runtime.PodNetwork) (string, []string, error) {
	n.mu.Lock()
	n.setups++
	n.mu.Unlock()
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return "", nil, err
	}
	path := filepath.Join(n.dir, string(pod.UID))
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return "", nil, err
	}
	if out, err := exec.CommandContext(ctx, "unshare", "--net="+path, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("unshare --net=%s: %v: %s", path, err, out)
	}
	return path, []string{"10.99.0.2"}, nil
}

func (n *fakeNetwork) Teardown(_ context.Context, _ runtime.PodNetwork, path string) error {
	n.mu.Lock()
	n.teardown++
	n.mu.Unlock()
	if err := syscall.Unmount(path, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
		return err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// newTestRuntime returns a Runtime over the test daemon; fallback sets ImagePullFallback.
func newTestRuntime(t *testing.T, fallback bool) *Runtime {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(context.Background(), Config{
		Address: testDaemon.Address(), Namespace: testNS, RootDir: testRoot,
		Network: &fakeNetwork{dir: filepath.Join(filepath.Dir(testRoot), "netns")}, ImagePullFallback: fallback,
		LoggerBinary: exe, CgroupParent: testCgroup,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	ensureTestImages(t, rt)
	return rt
}

var importOnce sync.Once

// ensureTestImages imports the busybox and entrypoint test images once.
func ensureTestImages(t *testing.T, rt *Runtime) {
	importOnce.Do(func() {
		baseImg = buildTestImage(t, "base", nil)
		dir := t.TempDir()
		writeOCIArchive(t, baseImg, filepath.Join(dir, "busybox.tar"), "busybox:latest")
		ep := buildTestImage(t, "ep", &ocispec.ImageConfig{Entrypoint: []string{"echo", "ep"}, Cmd: []string{"cmd"},
			Env: []string{"PATH=/bin", "FOO=image", "KEEP=image"}, StopSignal: "SIGUSR1"})
		writeOCIArchive(t, ep, filepath.Join(dir, "ep.tar"), epImage)
		refs, err := rt.ImportDir(context.Background(), dir)
		if err != nil {
			t.Fatalf("ImportDir: %v", err)
		}
		if strings.Join(refs, ",") != baseImage+","+epImage && strings.Join(refs, ",") != epImage+","+baseImage {
			t.Fatalf("ImportDir refs = %v", refs)
		}
	})
	if baseImg == nil {
		t.Fatal("test images not imported")
	}
}

var podCounter struct {
	sync.Mutex
	n int
}

// testPod is a pod named name with a fresh UID.
func testPod(name string) *corev1.Pod {
	podCounter.Lock()
	podCounter.n++
	n := podCounter.n
	podCounter.Unlock()
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
		UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", n))}}
}

// startContainer creates and starts c in pod's sandbox (made if needed).
func startContainer(t *testing.T, rt *Runtime, pod *corev1.Pod, c *corev1.Container, cfg runtime.ContainerConfig) string {
	t.Helper()
	ctx := context.Background()
	sb, err := rt.RunSandbox(ctx, pod)
	if err != nil {
		t.Fatalf("RunSandbox: %v", err)
	}
	if c.Image == "" {
		c.Image = "busybox"
	}
	if cfg.Image == nil {
		img, err := rt.EnsureImage(ctx, c.Image, corev1.PullNever, pod)
		if err != nil {
			t.Fatalf("EnsureImage: %v", err)
		}
		cfg.Image = img
	}
	id, err := rt.CreateContainer(ctx, sb, pod, c, cfg)
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	return id
}

// getContainer finds id in ListContainers.
func getContainer(t *testing.T, rt *Runtime, id string) *runtime.Container {
	t.Helper()
	cs, err := rt.ListContainers(context.Background())
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// waitState polls until container id is in state, and returns it.
func waitState(t *testing.T, rt *Runtime, id string, state runtime.ContainerState, timeout time.Duration) *runtime.Container {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var c *runtime.Container
	for time.Now().Before(deadline) {
		if c = getContainer(t, rt, id); c != nil && c.State == state {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s not %s after %s: %+v", id, state, timeout, c)
	return nil
}

// removePod stops and removes every container of pod and its sandbox.
func removePod(t *testing.T, rt *Runtime, pod *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	cs, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.PodUID != pod.UID {
			continue
		}
		if err := rt.StopContainer(ctx, c.ID, 0); err != nil {
			t.Errorf("StopContainer: %v", err)
		}
		if err := rt.RemoveContainer(ctx, c.ID); err != nil {
			t.Errorf("RemoveContainer: %v", err)
		}
	}
	if err := rt.RemoveSandbox(ctx, pod.UID); err != nil {
		t.Errorf("RemoveSandbox: %v", err)
	}
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// logContent strips the CRI prefixes of a log.
func logContent(log string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if content, full, ok := parseCRILine(l); ok {
			b.WriteString(content)
			if full {
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}
