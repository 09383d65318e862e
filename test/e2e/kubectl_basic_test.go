package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// testdata returns the path of a file in test/testdata.
func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// inNamespace writes a copy of a testdata manifest whose "namespace: default" names ns.
func inNamespace(t *testing.T, name, ns string) string {
	t.Helper()
	data, err := os.ReadFile(testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	out := strings.ReplaceAll(string(data), "namespace: default", "namespace: "+ns)
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func getPod(t *testing.T, k kubectl, ns, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal([]byte(k.ok(t, "get", "pod", name, "-n", ns, "-o", "json")), &p); err != nil {
		t.Fatalf("decode pod %s: %v", name, err)
	}
	return &p
}

func TestCreateFromYAMLAndJSON(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		manifest := inNamespace(t, "busybox.yml", ns)
		if out := k.ok(t, "create", "-f", manifest); strings.TrimSpace(out) != "pod/busybox created" {
			t.Fatalf("create -f busybox.yml printed %q", out)
		}
		if out := k.ok(t, "create", "-f", testdata("busybox.json"), "-n", ns); strings.TrimSpace(out) != "pod/busybox-json created" {
			t.Fatalf("create -f busybox.json printed %q", out)
		}

		// Upstream defaulting: the seed's manifest names none of these.
		p := getPod(t, k, ns, "busybox")
		c := p.Spec.Containers[0]
		checks := map[string][2]string{
			"restartPolicy":            {string(p.Spec.RestartPolicy), "Always"},
			"dnsPolicy":                {string(p.Spec.DNSPolicy), "ClusterFirst"},
			"schedulerName":            {p.Spec.SchedulerName, "default-scheduler"},
			"imagePullPolicy(busybox)": {string(c.ImagePullPolicy), "Always"},
			"terminationMessagePath":   {c.TerminationMessagePath, "/dev/termination-log"},
			"terminationMessagePolicy": {string(c.TerminationMessagePolicy), "File"},
			"phase":                    {string(p.Status.Phase), "Pending"},
			"qosClass":                 {string(p.Status.QOSClass), "BestEffort"},
		}
		for name, v := range checks {
			if v[0] != v[1] {
				t.Errorf("%s = %q, want %q", name, v[0], v[1])
			}
		}
		if p.Spec.TerminationGracePeriodSeconds == nil || *p.Spec.TerminationGracePeriodSeconds != 30 {
			t.Errorf("terminationGracePeriodSeconds = %v, want 30", p.Spec.TerminationGracePeriodSeconds)
		}
		if p.UID == "" || p.ResourceVersion == "" || p.CreationTimestamp.IsZero() {
			t.Errorf("system fields not set: uid %q rv %q created %v", p.UID, p.ResourceVersion, p.CreationTimestamp)
		}
		if pj := getPod(t, k, ns, "busybox-json"); pj.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("imagePullPolicy(busybox:1.36) = %q, want IfNotPresent", pj.Spec.Containers[0].ImagePullPolicy)
		}

		// A second create is refused with upstream's words.
		r := k.run(t, "", "create", "-f", manifest)
		if r.code == 0 || !strings.Contains(r.stderr, `pods "busybox" already exists`) || !strings.Contains(r.stderr, "AlreadyExists") {
			t.Fatalf("second create: exit %d, stderr %q", r.code, r.stderr)
		}

		header, rows := table(t, k.ok(t, "get", "pods", "-n", ns))
		if strings.Join(header, ",") != "NAME,READY,STATUS,RESTARTS,AGE" {
			t.Fatalf("get pods header %v", header)
		}
		if len(rows) != 2 || rows[0]["NAME"] != "busybox" || rows[0]["READY"] != "0/1" || rows[0]["STATUS"] != "Pending" || rows[0]["RESTARTS"] != "0" {
			t.Fatalf("get pods rows %v", rows)
		}
	})
}

func TestRun(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		if out := k.ok(t, "run", "web", "--image=nginx", "--port=80", "-n", ns); strings.TrimSpace(out) != "pod/web created" {
			t.Fatalf("kubectl run printed %q", out)
		}
		p := getPod(t, k, ns, "web")
		if p.Labels["run"] != "web" {
			t.Errorf("labels %v, want run=web", p.Labels)
		}
		port := p.Spec.Containers[0].Ports[0]
		if port.ContainerPort != 80 || port.Protocol != corev1.ProtocolTCP {
			t.Errorf("port %+v, want 80/TCP", port)
		}
	})
}

func TestGetOutputsAndSelectors(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "run", "a1", "--image=busybox", "--labels=app=a,tier=front", "-n", ns)
		k.ok(t, "run", "a2", "--image=busybox", "--labels=app=a,tier=back", "-n", ns)
		k.ok(t, "run", "b1", "--image=busybox", "--labels=app=b", "-n", ns)

		header, rows := table(t, k.ok(t, "get", "pods", "-o", "wide", "-n", ns))
		want := "NAME,READY,STATUS,RESTARTS,AGE,IP,NODE,NOMINATED NODE,READINESS GATES"
		if strings.Join(header, ",") != want {
			t.Fatalf("wide header %v, want %s", header, want)
		}
		if rows[0]["IP"] != "<none>" || rows[0]["NODE"] != "<none>" || rows[0]["READINESS GATES"] != "<none>" {
			t.Errorf("wide row %v", rows[0])
		}

		var fromYAML corev1.Pod
		if err := yaml.Unmarshal([]byte(k.ok(t, "get", "pod", "a1", "-o", "yaml", "-n", ns)), &fromYAML); err != nil {
			t.Fatal(err)
		}
		if fromYAML.Kind != "Pod" || fromYAML.APIVersion != "v1" || fromYAML.Name != "a1" || fromYAML.Namespace != ns {
			t.Errorf("-o yaml: %s %s %s/%s", fromYAML.APIVersion, fromYAML.Kind, fromYAML.Namespace, fromYAML.Name)
		}
		var list corev1.PodList
		if err := json.Unmarshal([]byte(k.ok(t, "get", "pods", "-o", "json", "-n", ns)), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 3 {
			t.Errorf("-o json: %d items, want 3", len(list.Items))
		}

		names := func(args ...string) string {
			out := k.ok(t, append([]string{"get", "pods", "-o", "name", "-n", ns}, args...)...)
			return strings.Join(strings.Fields(out), " ")
		}
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"-l", "app=a"}, "pod/a1 pod/a2"},
			{[]string{"-l", "app=a,tier!=front"}, "pod/a2"},
			{[]string{"-l", "app in (b)"}, "pod/b1"},
			{[]string{"--field-selector", "metadata.name=b1"}, "pod/b1"},
			{[]string{"--field-selector", "status.phase=Pending,metadata.name!=a1"}, "pod/a2 pod/b1"},
			{[]string{"--field-selector", "spec.nodeName="}, "pod/a1 pod/a2 pod/b1"},
			{[]string{"--field-selector", "spec.restartPolicy=Never"}, ""},
		}
		for _, c := range cases {
			if got := names(c.args...); got != c.want {
				t.Errorf("get pods %v = %q, want %q", c.args, got, c.want)
			}
		}
		r := k.run(t, "", "get", "pods", "-n", ns, "--field-selector", "spec.foo=bar")
		if r.code == 0 || !strings.Contains(r.stderr, "field label not supported: spec.foo") {
			t.Errorf("unsupported field selector: exit %d, stderr %q", r.code, r.stderr)
		}
		r = k.run(t, "", "get", "pods", "-n", ns, "-l", "app=none")
		if r.code != 0 || !strings.Contains(r.stderr, "No resources found in "+ns+" namespace.") {
			t.Errorf("empty selection: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestGetWatch(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		cmd := exec.Command(k.Path, "--kubeconfig", k.Kubeconfig, "get", "pods", "-n", ns, "-w", "--output-watch-events")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string, 100)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				lines <- s.Text()
			}
			close(lines)
		}()
		// The watch starts with an empty list; give kubectl a moment to open it.
		time.Sleep(500 * time.Millisecond)
		k.ok(t, "run", "watched", "--image=busybox", "-n", ns)
		k.ok(t, "label", "pod", "watched", "seen=yes", "-n", ns)
		k.ok(t, "delete", "pod", "watched", "-n", ns)

		want := []string{"ADDED", "MODIFIED", "DELETED"}
		var got []string
		timeout := time.After(15 * time.Second)
		for len(got) < len(want) {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get -w ended; saw %v", got)
				}
				f := strings.Fields(line)
				if len(f) >= 2 && f[1] == "watched" && (len(got) == 0 || got[len(got)-1] != f[0]) {
					got = append(got, f[0])
				}
			case <-timeout:
				t.Fatalf("watch events %v, want %v", got, want)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("watch events %v, want %v", got, want)
		}
	})
}

func TestDescribe(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "create", "-f", inNamespace(t, "busybox.yml", ns))
		out := k.ok(t, "describe", "pod", "busybox", "-n", ns)
		for _, re := range []string{`(?m)^Name:\s+busybox$`, `(?m)^Namespace:\s+` + ns + `$`, `(?m)^Status:\s+Pending$`,
			`(?m)^Containers:$`, `(?m)^\s+Image:\s+busybox$`, `(?m)^\s+Command:\n\s+sleep\n\s+3600$`, `(?m)^QoS Class:\s+BestEffort$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("describe lacks %s:\n%s", re, out)
			}
		}
	})
}

func TestDelete(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		for _, n := range []string{"d1", "d2", "d3"} {
			k.ok(t, "run", n, "--image=busybox", "-n", ns)
		}
		start := time.Now()
		// kubectl 1.33 adds the namespace: `pod "d1" deleted from NS namespace`.
		if out := k.ok(t, "delete", "pod", "d1", "-n", ns); !regexp.MustCompile(`^pod "d1" deleted( from ` + ns + ` namespace)?\n$`).MatchString(out) {
			t.Fatalf("delete printed %q", out)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("delete of an unscheduled pod took %v; it must be immediate", d)
		}
		r := k.run(t, "", "get", "pod", "d1", "-n", ns)
		if r.code != 1 || !strings.Contains(r.stderr, `Error from server (NotFound): pods "d1" not found`) {
			t.Fatalf("get deleted pod: exit %d, stderr %q", r.code, r.stderr)
		}
		out := k.ok(t, "delete", "pods", "--all", "-n", ns)
		if !strings.Contains(out, `pod "d2" deleted`) || !strings.Contains(out, `pod "d3" deleted`) {
			t.Fatalf("delete --all printed %q", out)
		}
		r = k.run(t, "", "get", "pods", "-n", ns)
		if r.code != 0 || !strings.Contains(r.stderr, "No resources found") {
			t.Fatalf("after delete --all: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}
