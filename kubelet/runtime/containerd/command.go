package containerd

import (
	"errors"
	"strings"
)

// containerArgs combines the image's ENTRYPOINT and CMD with the container's command and args
// as upstream does: command replaces ENTRYPOINT and drops CMD (args, if given, follow it); args
// alone replace CMD. $(VAR) references in command and args are expanded with env ("NAME=value",
// later entries win) first.
func containerArgs(imageEntrypoint, imageCmd, command, args, env []string) ([]string, error) {
	lookup := envLookup(env)
	command = expandAll(command, lookup)
	args = expandAll(args, lookup)
	var out []string
	if len(command) > 0 {
		out = append(append(out, command...), args...)
	} else {
		if !(len(imageEntrypoint) == 1 && imageEntrypoint[0] == "") {
			out = append(out, imageEntrypoint...)
		}
		if len(args) > 0 {
			out = append(out, args...)
		} else {
			out = append(out, imageCmd...)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no command specified: the image has no ENTRYPOINT or CMD and the container no command or args")
	}
	return out, nil
}

func envLookup(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func expandAll(in []string, lookup func(string) (string, bool)) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expandVars(s, lookup)
	}
	return out
}

// expandVars expands $(VAR) with lookup as the kubelet does: "$$" is an escaped "$", a
// reference to an unknown variable is left as it is, and so is any other "$".
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	quotaPeriod   = 100000 // 100 ms in µs
	minQuota      = 1000   // 1 ms in µs
)

// milliCPUToShares converts a CPU request to cgroup cpu.shares as the kubelet does (a container
// without request gets the minimum).
func milliCPUToShares(milliCPU int64) uint64 {
	if milliCPU == 0 {
		return minShares
	}
	shares := milliCPU * sharesPerCPU / milliCPUToCPU
	if shares < minShares {
		return minShares
	}
	if shares > maxShares {
		return maxShares
	}
	return uint64(shares)
}

// milliCPUToQuota converts a CPU limit to a CFS quota for quotaPeriod; 0 means no limit.
func milliCPUToQuota(milliCPU int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	q := milliCPU * quotaPeriod / milliCPUToCPU
	if q < minQuota {
		return minQuota
	}
	return q
}
