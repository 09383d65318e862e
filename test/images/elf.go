package images

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// multiarchTriplets maps GOARCH to Debian's multiarch directory name.
var multiarchTriplets = map[string]string{
	"amd64":    "x86_64-linux-gnu",
	"arm64":    "aarch64-linux-gnu",
	"arm":      "arm-linux-gnueabihf",
	"386":      "i386-linux-gnu",
	"ppc64le":  "powerpc64le-linux-gnu",
	"s390x":    "s390x-linux-gnu",
	"riscv64":  "riscv64-linux-gnu",
	"mips64le": "mips64el-linux-gnuabi64",
}

// LibDirs returns the directories the dynamic loader searches on a Debian system for goarch,
// in the loader's order: the multiarch directories first, then the plain ones.
func LibDirs(goarch string) []string {
	var dirs []string
	if t, ok := multiarchTriplets[goarch]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// ELFDeps is what an executable needs at run time.
type ELFDeps struct {
	// Interpreter is the program interpreter (PT_INTERP), e.g. "/lib64/ld-linux-x86-64.so.2";
	// empty for static executables.
	Interpreter string
	// Libraries maps each DT_NEEDED soname, followed transitively, to the path where it was
	// found among the search directories, e.g. "libc.so.6" → "/lib/x86_64-linux-gnu/libc.so.6".
	Libraries map[string]string
}

// Sonames returns the needed libraries' sonames, sorted.
func (d ELFDeps) Sonames() []string {
	names := make([]string, 0, len(d.Libraries))
	for n := range d.Libraries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ResolveELF reads the ELF file at bin and resolves its interpreter and every shared library it
// needs, transitively, by searching dirs in order (as the loader would without ld.so.cache).
// It parses DT_NEEDED with debug/elf rather than running ldd, so it never executes bin.
func ResolveELF(bin string, dirs []string) (ELFDeps, error) {
	deps := ELFDeps{Libraries: map[string]string{}}
	f, err := elf.Open(bin)
	if err != nil {
		return deps, fmt.Errorf("reading ELF %s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			return deps, fmt.Errorf("reading PT_INTERP of %s: %w", bin, err)
		}
		deps.Interpreter = strings.TrimRight(string(buf), "\x00")
	}
	queue, err := f.ImportedLibraries()
	if err != nil {
		return deps, fmt.Errorf("reading DT_NEEDED of %s: %w", bin, err)
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := deps.Libraries[name]; done {
			continue
		}
		found, err := findLib(name, dirs)
		if err != nil {
			return deps, fmt.Errorf("%s needs %s: %w", bin, name, err)
		}
		deps.Libraries[name] = found
		lf, err := elf.Open(found)
		if err != nil {
			return deps, fmt.Errorf("reading ELF %s: %w", found, err)
		}
		needed, err := lf.ImportedLibraries()
		lf.Close()
		if err != nil {
			return deps, fmt.Errorf("reading DT_NEEDED of %s: %w", found, err)
		}
		queue = append(queue, needed...)
	}
	return deps, nil
}

func findLib(name string, dirs []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("library not found: %w", err)
		}
		return name, nil
	}
	for _, dir := range dirs {
		p := path.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("looking for %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("library not found in %s", strings.Join(dirs, ":"))
}
