package e2eutil

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Kubectl is one kubectl binary pointed at a cluster's kubeconfig.
type Kubectl struct {
	Path       string
	Kubeconfig string
	// Home is HOME for kubectl (its cache); Env is added to the environment.
	Home string
	Env  []string
}

// Result is what a kubectl run printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Kubectls returns the stock kubectls (and KUBECTL_BUILT, when set) for cluster c; a missing
// binary fails the test.
func Kubectls(t testing.TB, c *Cluster) []Kubectl {
	t.Helper()
	paths := append([]string{}, StockKubectls...)
	if built := os.Getenv("KUBECTL_BUILT"); built != "" {
		paths = append(paths, built)
	}
	var out []Kubectl
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("kubectl %s is missing: %v", p, err)
		}
		out = append(out, Kubectl{Path: p, Kubeconfig: c.Kubeconfig, Home: c.DataDir})
	}
	return out
}

// Name is a short label for subtests ("kubectl.1.27").
func (k Kubectl) Name() string { return filepath.Base(k.Path) }

// Run runs kubectl with args (and stdin, if any) and returns what it printed.
func (k Kubectl) Run(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Path, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	// EDITOR=false: nothing interactive may ever start.
	cmd.Env = append(append(os.Environ(), "HOME="+k.Home, "EDITOR=false"), k.Env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		r.Code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", k.Name(), args, err)
	}
	return r
}

// OK runs kubectl, fails the test unless it exits 0, and returns stdout.
func (k Kubectl) OK(t testing.TB, args ...string) string {
	t.Helper()
	return k.OKIn(t, "", args...)
}

// OKIn is OK with standard input.
func (k Kubectl) OKIn(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r := k.Run(t, stdin, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", k.Name(), strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// SanitizeNamespace makes a DNS label of a test name.
func SanitizeNamespace(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[len(out)-63:], "-")
	}
	return out
}

// Table parses kubectl's table output by the header's column offsets (columns are at least
// two spaces apart), so headers and cells with single spaces ("NOMINATED NODE") survive.
func Table(t testing.TB, out string) (header []string, rows []map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in output %q", out)
	}
	head := lines[0]
	var starts []int
	for i := 0; i < len(head); i++ {
		if head[i] != ' ' && (i == 0 || (i >= 2 && head[i-1] == ' ' && head[i-2] == ' ')) {
			starts = append(starts, i)
		}
	}
	for i, s := range starts {
		end := len(head)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		header = append(header, strings.TrimSpace(head[s:end]))
	}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, s := range starts {
			end := len(line)
			if i+1 < len(starts) && starts[i+1] < len(line) {
				end = starts[i+1]
			}
			if s < len(line) {
				row[header[i]] = strings.TrimSpace(line[s:min(end, len(line))])
			}
		}
		rows = append(rows, row)
	}
	return header, rows
}

// Eventually polls cond every 200ms until it returns true or the timeout passes; what names
// the wait, and last, if not nil, says what was seen last when it fails.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			seen := ""
			if last != nil {
				seen = "\nlast seen:\n" + last()
			}
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
