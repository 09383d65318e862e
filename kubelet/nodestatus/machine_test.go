package nodestatus

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		wantErr  bool
	}{
		{name: "kB", in: "MemTotal:        8141124 kB\nMemFree:  1 kB\n", want: 8141124 * 1024},
		{name: "not first line", in: "Foo: 1 kB\nMemTotal: 2 kB\n", want: 2048},
		{name: "bytes", in: "MemTotal: 4096\n", want: 4096},
		{name: "missing", in: "MemFree: 1 kB\n", wantErr: true},
		{name: "garbage", in: "MemTotal: lots kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemTotal(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMemTotal = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"double quoted", "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "Debian GNU/Linux 12 (bookworm)"},
		{"unquoted", "PRETTY_NAME=Alpine\n", "Alpine"},
		{"single quoted", "PRETTY_NAME='Arch Linux'\n", "Arch Linux"},
		{"missing", "NAME=Debian\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseOSRelease(strings.NewReader(tt.in)); got != tt.want {
				t.Errorf("parseOSRelease = %q, want %q", got, tt.want)
			}
		})
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "os-release")
	if err := os.WriteFile(f, []byte("PRETTY_NAME=\"Test OS 1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := osImage([]string{filepath.Join(dir, "missing"), f}); got != "Test OS 1" {
		t.Errorf("osImage = %q", got)
	}
	if got := osImage([]string{filepath.Join(dir, "missing")}); got != "Linux" {
		t.Errorf("osImage without os-release = %q, want Linux", got)
	}
}

func TestHugePages(t *testing.T) {
	dir := t.TempDir()
	for name, n := range map[string]string{"hugepages-2048kB": "4\n", "hugepages-1048576kB": "0\n"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "nr_hugepages"), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := hugePages(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkResources(t, "huge pages", got, corev1.ResourceList{
		"hugepages-2Mi": resource.MustParse("8Mi"),
		"hugepages-1Gi": resource.MustParse("0"),
	})
	if got, err := hugePages(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("no huge pages directory: %v, %v", got, err)
	}
}

func TestMeasureCapacity(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not", "yet", "made")
	got, errs := MeasureCapacity(root)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if q := got[corev1.ResourceCPU]; q.MilliValue() != int64(goruntime.NumCPU())*1000 {
		t.Errorf("cpu = %v, want %d", q.String(), goruntime.NumCPU())
	}
	if q := got[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods = %v", q.String())
	}
	mem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := parseMemTotal(strings.NewReader(string(mem)))
	if q := got[corev1.ResourceMemory]; q.Value() != want || want == 0 {
		t.Errorf("memory = %v, want %d", q.String(), want)
	}
	if q := got[corev1.ResourceEphemeralStorage]; q.Value() <= 0 {
		t.Errorf("ephemeral-storage = %v", q.String())
	}

	// No root directory: ephemeral-storage is missing, with an error.
	got, errs = MeasureCapacity("")
	if _, ok := got[corev1.ResourceEphemeralStorage]; ok || len(errs) != 1 {
		t.Errorf("without a root directory: %v, %v", got, errs)
	}
	// New with a nil Capacity measures.
	c := New(Config{NodeName: "n", RootDir: root})
	if q := c.Allocatable()[corev1.ResourceMemory]; q.Value() != want {
		t.Errorf("Allocatable memory = %v, want %d", q.String(), want)
	}
}

func TestAllocatableOf(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.ResourceList
		want corev1.ResourceList
	}{
		{"nil", nil, nil},
		{"no huge pages", testCapacity(), testCapacity()},
		{"huge pages taken from memory",
			corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi"), "hugepages-2Mi": resource.MustParse("1Gi")},
			corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("3Gi"), "hugepages-2Mi": resource.MustParse("1Gi")}},
		{"never negative",
			corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), "hugepages-1Gi": resource.MustParse("2Gi")},
			corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("0"), "hugepages-1Gi": resource.MustParse("2Gi")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResources(t, "allocatable", allocatableOf(tt.in), tt.want)
		})
	}
}

func TestStatusChanged(t *testing.T) {
	t0, t1 := metav1.NewTime(start), metav1.NewTime(start.Add(time.Minute))
	base := corev1.NodeStatus{
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: t0, LastTransitionTime: t0}},
	}
	tests := []struct {
		name   string
		change func(*corev1.NodeStatus)
		want   bool
	}{
		{"same", func(*corev1.NodeStatus) {}, false},
		{"heartbeat only", func(s *corev1.NodeStatus) { s.Conditions[0].LastHeartbeatTime = t1 }, false},
		{"condition status", func(s *corev1.NodeStatus) { s.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"address", func(s *corev1.NodeStatus) { s.Addresses[0].Address = "192.0.2.2" }, true},
		{"capacity", func(s *corev1.NodeStatus) { s.Capacity = testCapacity() }, true},
		{"runtime version", func(s *corev1.NodeStatus) { s.NodeInfo.ContainerRuntimeVersion = "containerd://2" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base.DeepCopy()
			tt.change(b)
			if got := statusChanged(&base, b); got != tt.want {
				t.Errorf("statusChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
