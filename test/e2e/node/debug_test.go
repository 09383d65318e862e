package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// kubectlCmd is a kubectl command the test controls (a follow or a port-forward it ends).
func kubectlCmd(ctx context.Context, k e2eutil.Kubectl, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.Path, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.Home)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// kubectl logs with its options, -f until the test ends it, --previous after a crash, and on
// a Deployment.
func TestKubectlLogs(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	ks[1].OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo line 1; echo line 2; echo line 3; sleep 0.3; echo oops >&2; sleep 0.3; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo run at $(date +%s%N); exit 1"]
`, "create", "-n", ns, "-f", "-")
	waitPod(t, ks[1], ns, "talker", 30*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	// The first lines are more than a second old for --since=1s below.
	time.Sleep(1500 * time.Millisecond)
	for _, k := range ks {
		out := k.OK(t, "logs", "talker", "-n", ns)
		// stdout and stderr are separate pipes, kept in order within each stream; the script
		// leaves time between them so their order is known.
		if !strings.HasPrefix(out, "line 1\nline 2\nline 3\noops\ntick 1\n") {
			t.Errorf("%s: logs start %q", k.Name(), out[:min(len(out), 60)])
		}
		out = k.OK(t, "logs", "talker", "-c", "main", "-n", ns, "--tail=1")
		if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "tick ") {
			t.Errorf("%s: --tail=1 gave %q", k.Name(), out)
		}
		out = k.OK(t, "logs", "talker", "-n", ns, "--limit-bytes=9")
		if out != "line 1\nli" {
			t.Errorf("%s: --limit-bytes=9 gave %q", k.Name(), out)
		}
		out = k.OK(t, "logs", "talker", "-n", ns, "--timestamps", "--tail=2")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			ts, rest, _ := strings.Cut(line, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(rest, "tick ") {
				t.Errorf("%s: --timestamps line %q", k.Name(), line)
			}
		}
		if out := k.OK(t, "logs", "talker", "-n", ns, "--since=1s"); strings.Contains(out, "line 1") {
			t.Errorf("%s: --since=1s shows the first lines:\n%s", k.Name(), out)
		}

		// -f streams new lines until the test ends it.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		cmd := kubectlCmd(ctx, k, "logs", "-f", "talker", "-n", ns, "--tail=1")
		var buf bytes.Buffer
		cmd.Stdout = &buf
		_ = cmd.Run()
		cancel()
		if n := strings.Count(buf.String(), "tick "); n < 5 {
			t.Errorf("%s: logs -f for 3s gave %d ticks:\n%s", k.Name(), n, buf.String())
		}

		// attach shows the container's output from now on, until the test ends it.
		ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
		cmd = kubectlCmd(ctx, k, "attach", "talker", "-c", "main", "-n", ns)
		buf.Reset()
		cmd.Stdout = &buf
		_ = cmd.Run()
		cancel()
		if n := strings.Count(buf.String(), "tick "); n < 3 || strings.Contains(buf.String(), "line 1") {
			t.Errorf("%s: attach for 3s gave %d ticks:\n%s", k.Name(), n, buf.String())
		}
	}

	// --previous: the log of the attempt before the current one.
	waitPod(t, ks[1], ns, "crasher", 60*time.Second, "restarted twice", func(r map[string]string) bool { return restarts(r["RESTARTS"]) >= 2 })
	for _, k := range ks {
		prev := k.OK(t, "logs", "crasher", "-n", ns, "--previous")
		cur := k.OK(t, "logs", "crasher", "-n", ns)
		if !strings.HasPrefix(prev, "run at ") || !strings.HasPrefix(cur, "run at ") || prev == cur {
			t.Errorf("%s: previous %q, current %q", k.Name(), prev, cur)
		}
	}
	if r := ks[1].Run(t, "", "logs", "talker", "-n", ns, "--previous"); r.Code == 0 || !strings.Contains(r.Stderr, "previous terminated container \"main\" in pod \"talker\" not found") {
		t.Errorf("--previous with no previous container: %+v", r)
	}

	// On a Deployment: one of its pods' logs.
	ks[0].OK(t, "create", "deployment", "greeter", "--image=busybox", "-n", ns, "--", "sh", "-c", "echo hello from the deployment; sleep 3600")
	var out string
	e2eutil.Eventually(t, 60*time.Second, "logs of deployment/greeter", func() bool {
		r := ks[0].Run(t, "", "logs", "deployment/greeter", "-n", ns)
		out = r.Stdout + r.Stderr
		return r.Code == 0 && strings.Contains(r.Stdout, "hello from the deployment")
	}, func() string { return out })
}

// kubectl exec passes output and the exit code back, -i feeds stdin, port-forward reaches
// nginx, and cp round-trips a file (tar over exec), with the SPDY (1.27) and WebSocket (1.33)
// kubectls.
func TestExecPortForwardAndCp(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	ks[1].OK(t, "run", "web", "--image=nginx", "--image-pull-policy=IfNotPresent", "-n", ns)
	waitPod(t, ks[1], ns, "web", 30*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	for i, k := range ks {
		r := k.Run(t, "", "exec", "web", "-n", ns, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\n" || !strings.Contains(r.Stderr, "err") {
			t.Errorf("%s: exec exit %d stdout %q stderr %q", k.Name(), r.Code, r.Stdout, r.Stderr)
		}
		if out := k.OKIn(t, "hello through stdin\n", "exec", "-i", "web", "-n", ns, "--", "cat"); out != "hello through stdin\n" {
			t.Errorf("%s: exec -i cat gave %q", k.Name(), out)
		}
		if out := k.OK(t, "exec", "web", "-n", ns, "--", "hostname"); out != "web\n" {
			t.Errorf("%s: hostname %q", k.Name(), out)
		}
		// -it: kubectl needs a terminal, which script(1) gives it.
		script := fmt.Sprintf("%s --kubeconfig %s exec -it web -n %s -- sh -c 'test -t 0 && test -t 1 && echo has-a-tty'", k.Path, k.Kubeconfig, ns)
		tty := exec.Command("script", "-q", "-e", "-c", script, "/dev/null")
		tty.Env = append(os.Environ(), "HOME="+k.Home)
		if out, err := tty.CombinedOutput(); err != nil || !strings.Contains(string(out), "has-a-tty") {
			t.Errorf("%s: exec -it: %v\n%s", k.Name(), err, out)
		}

		// port-forward until the test ends it.
		port, err := e2eutil.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		pf := kubectlCmd(ctx, k, "port-forward", "pod/web", "-n", ns, fmt.Sprintf("%d:80", port))
		var pfOut bytes.Buffer
		pf.Stdout, pf.Stderr = &pfOut, &pfOut
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		var body string
		e2eutil.Eventually(t, 20*time.Second, k.Name()+" port-forward to nginx", func() bool {
			body, err = httpGet(url)
			return err == nil && strings.Contains(body, "Welcome to nginx")
		}, func() string { return fmt.Sprintf("%v %q\n%s", err, body, pfOut.String()) })
		// A second connection over the same forward.
		if body, err := httpGet(url); err != nil || !strings.Contains(body, "Welcome to nginx") {
			t.Errorf("%s: second request through port-forward: %v", k.Name(), err)
		}
		cancel()
		_ = pf.Wait()

		// cp round trip.
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		content := fmt.Sprintf("copied by %s\n%s", k.Name(), strings.Repeat("x", 10000))
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		remote := fmt.Sprintf("%s/web:/tmp/cp-%d.txt", ns, i)
		k.OK(t, "cp", src, remote)
		back := filepath.Join(dir, "back.txt")
		k.OK(t, "cp", remote, back)
		if got, err := os.ReadFile(back); err != nil || string(got) != content {
			t.Errorf("%s: cp round trip: %v, %d bytes back", k.Name(), err, len(got))
		}
	}
}

// Seed step 9: a manifest dropped in the kubelet's folder runs as a static pod, shown by its
// mirror pod; deleting the mirror through the API brings it back; removing the file stops the
// pod and removes the mirror.
func TestStaticPod(t *testing.T) {
	k := kubectls(t)[1]
	dir := filepath.Join(cluster.DataDir, "manifests")
	file := filepath.Join(dir, "static-web.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  containers:
  - name: web
    image: nginx
    imagePullPolicy: IfNotPresent
`), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	mirror := "static-web-" + nodeName
	row := waitPod(t, k, "default", mirror, 60*time.Second, "Running 1/1", func(r map[string]string) bool {
		return r["STATUS"] == "Running" && r["READY"] == "1/1"
	})
	waitHTTP(t, "http://"+row["IP"]+"/", "Welcome to nginx", 20*time.Second)
	pod := getPod(t, "default", mirror)
	if pod.Annotations["kubernetes.io/config.mirror"] == "" || pod.Annotations["kubernetes.io/config.source"] != "file" {
		t.Errorf("mirror annotations %v", pod.Annotations)
	}
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "Node" || pod.OwnerReferences[0].Name != nodeName {
		t.Errorf("mirror owner %+v", pod.OwnerReferences)
	}
	// Deleting the mirror only brings it back; the static pod keeps running.
	k.OK(t, "delete", "pod", mirror, "-n", "default")
	e2eutil.Eventually(t, 30*time.Second, "the mirror pod back", func() bool {
		p := k.Run(t, "", "get", "pod", mirror, "-n", "default", "-o", "jsonpath={.metadata.uid}")
		return p.Code == 0 && p.Stdout != string(pod.UID) && p.Stdout != ""
	}, nil)
	waitHTTP(t, "http://"+row["IP"]+"/", "Welcome to nginx", 5*time.Second)

	// Removing the file stops it and removes the mirror.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	e2eutil.Eventually(t, 60*time.Second, "the mirror pod gone", func() bool {
		return k.Run(t, "", "get", "pod", mirror, "-n", "default").Code != 0
	}, nil)
	e2eutil.Eventually(t, 30*time.Second, "the static pod's container gone", func() bool {
		_, err := httpGet("http://" + row["IP"] + "/")
		return err != nil
	}, nil)
}
