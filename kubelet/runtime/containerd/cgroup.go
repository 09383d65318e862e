package containerd

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// cgroupRoot is where cgroup hierarchies are mounted (a variable for tests).
var cgroupRoot = "/sys/fs/cgroup"

// cgroupUnified tells whether the host runs cgroup v2 only.
func cgroupUnified() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
}

// podCgroup is the cgroup path of a pod under parent.
func podCgroup(parent string, uid types.UID) string {
	return filepath.Join("/", parent, "pod"+string(uid))
}

// oomKillCount reads how many processes the kernel OOM-killed in the cgroup at path
// (v2 memory.events, v1 memory.oom_control). A missing cgroup counts 0.
func oomKillCount(path string) (int, error) {
	var file string
	if cgroupUnified() {
		file = filepath.Join(cgroupRoot, path, "memory.events")
	} else {
		file = filepath.Join(cgroupRoot, "memory", path, "memory.oom_control")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	return parseOOMKill(b), nil
}

func parseOOMKill(b []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// swapAccounting tells whether memory+swap can be limited (so swap = memory limit disables swap).
func swapAccounting() bool {
	if cgroupUnified() {
		m, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "memory.swap.max"))
		return len(m) > 0
	}
	_, err := os.Stat(filepath.Join(cgroupRoot, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// removePodCgroups removes the (empty) pod cgroup from every hierarchy.
func removePodCgroups(parent string, uid types.UID) {
	rel := podCgroup(parent, uid)
	var dirs []string
	if cgroupUnified() {
		dirs = []string{filepath.Join(cgroupRoot, rel)}
	} else {
		entries, _ := os.ReadDir(cgroupRoot)
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(cgroupRoot, e.Name(), rel))
			}
		}
	}
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			klog.V(2).InfoS("Could not remove a pod cgroup", "path", d, "err", err)
		}
	}
}
