package nodestatus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Host files read for the Node's capacity and nodeInfo. Variables so tests can point them at
// fixtures.
var (
	procMeminfo    = "/proc/meminfo"
	procBootID     = "/proc/sys/kernel/random/boot_id"
	procOSRelease  = "/proc/sys/kernel/osrelease"
	etcOSRelease   = []string{"/etc/os-release", "/usr/lib/os-release"}
	machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}
	productUUID    = "/sys/class/dmi/id/product_uuid"
	hugepagesDir   = "/sys/kernel/mm/hugepages"
)

// MeasureCapacity measures the machine as upstream's kubelet reports it (through cAdvisor):
// cpu = runtime.NumCPU, memory = MemTotal of /proc/meminfo, ephemeral-storage = the size of
// rootDir's filesystem (of its nearest existing ancestor), hugepages-<size> for each
// huge page size, pods = 110. A resource that cannot be measured is left out, with its error.
func MeasureCapacity(rootDir string) (corev1.ResourceList, []error) {
	var errs []error
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewMilliQuantity(int64(goruntime.NumCPU())*1000, resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(DefaultMaxPods, resource.DecimalSI),
	}
	if mem, err := memTotal(procMeminfo); err != nil {
		errs = append(errs, err)
	} else {
		capacity[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	if size, err := filesystemSize(rootDir); err != nil {
		errs = append(errs, err)
	} else {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(size, resource.BinarySI)
	}
	pages, err := hugePages(hugepagesDir)
	if err != nil {
		errs = append(errs, err)
	}
	for name, q := range pages {
		capacity[name] = q
	}
	return capacity, errs
}

// memTotal returns MemTotal of a /proc/meminfo file, in bytes.
func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("memory capacity: %w", err)
	}
	defer f.Close()
	v, err := parseMemTotal(f)
	if err != nil {
		return 0, fmt.Errorf("memory capacity from %s: %w", path, err)
	}
	return v, nil
}

func parseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "MemTotal:" {
			continue
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse MemTotal %q: %w", fields[1], err)
		}
		if len(fields) > 2 && strings.EqualFold(fields[2], "kB") {
			v *= 1024
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemTotal line")
}

// filesystemSize is the size in bytes of the filesystem holding dir, or its nearest existing
// ancestor when dir does not exist yet.
func filesystemSize(dir string) (int64, error) {
	if dir == "" {
		return 0, errors.New("ephemeral-storage capacity: no root directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, fmt.Errorf("ephemeral-storage capacity: %w", err)
	}
	for {
		if _, err := os.Stat(abs); err == nil {
			break
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			break
		}
		abs = parent
	}
	size, err := statfsSize(abs)
	if err != nil {
		return 0, fmt.Errorf("ephemeral-storage capacity of %s: %w", abs, err)
	}
	return size, nil
}

// hugePages returns hugepages-<size> capacities from a /sys/kernel/mm/hugepages directory
// (hugepages-2048kB/nr_hugepages …). A missing directory means no huge pages.
func hugePages(dir string) (corev1.ResourceList, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("huge pages: %w", err)
	}
	out := corev1.ResourceList{}
	for _, e := range entries {
		sizeKB, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		sizeKB, ok = strings.CutSuffix(sizeKB, "kB")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(sizeKB, 10, 64)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "nr_hugepages"))
		if err != nil {
			return nil, fmt.Errorf("huge pages: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("huge pages %s: %w", e.Name(), err)
		}
		pageSize := resource.NewQuantity(kb*1024, resource.BinarySI)
		name := corev1.ResourceName(corev1.ResourceHugePagesPrefix + pageSize.String())
		out[name] = *resource.NewQuantity(n*kb*1024, resource.BinarySI)
	}
	return out, nil
}

// systemInfo is the Node's nodeInfo read from the host, without the versions.
func systemInfo() corev1.NodeSystemInfo {
	return corev1.NodeSystemInfo{
		MachineID:       firstFile(machineIDFiles),
		SystemUUID:      firstFile([]string{productUUID}),
		BootID:          firstFile([]string{procBootID}),
		KernelVersion:   firstFile([]string{procOSRelease}),
		OSImage:         osImage(etcOSRelease),
		OperatingSystem: goruntime.GOOS,
		Architecture:    goruntime.GOARCH,
	}
}

// firstFile is the trimmed content of the first readable file of paths, or "".
func firstFile(paths []string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// osImage is PRETTY_NAME of the first os-release file found, "Linux" (as cAdvisor) otherwise.
func osImage(paths []string) string {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		name := parseOSRelease(f)
		f.Close()
		if name != "" {
			return name
		}
	}
	return "Linux"
}

func parseOSRelease(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "PRETTY_NAME=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		return strings.Trim(v, `"'`)
	}
	return ""
}
