package staticpod

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kubeshim/kubeshim/apis/defaults"
	"github.com/kubeshim/kubeshim/apis/validation"
)

const nodeName = "node1"

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func podYAML(name, image string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  labels: {app: ` + name + `}
spec:
  containers:
  - name: c
    image: ` + image + `
`
}

const podJSON = `{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "json", "namespace": "kube-system"},
 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}`

// syncBuffer collects log output written from Run's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	t        *testing.T
	dir      string
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	logs     *syncBuffer
	updates  chan []*corev1.Pod
	src      *Source
}

// run starts a Source on a fresh folder holding files; inotify says whether it watches the
// folder (real clock) or only rescans (fake clock, stepped by the test).
func run(t *testing.T, inotify bool, files map[string]string) *harness {
	t.Helper()
	interval := time.Second
	if inotify {
		interval = time.Hour // only inotify can be the cause of an update
	}
	return runWith(t, inotify, interval, files)
}

func runWith(t *testing.T, inotify bool, interval time.Duration, files map[string]string) *harness {
	t.Helper()
	h := &harness{
		t: t, dir: t.TempDir(), clock: testingclock.NewFakeClock(start),
		recorder: record.NewFakeRecorder(100), logs: &syncBuffer{}, updates: make(chan []*corev1.Pod, 100),
	}
	for name, content := range files {
		h.write(name, content)
	}
	cfg := Config{
		Dir: h.dir, NodeName: nodeName, Recorder: h.recorder, Interval: interval,
		Default: defaults.SetObjectDefaultsPod,
		Validate: func(p *corev1.Pod) error {
			return validation.ValidatePod(p).ToAggregate()
		},
	}
	if !inotify {
		cfg.Clock = h.clock
	}
	h.src = New(cfg)
	h.src.noInotify = !inotify
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(h.logs)))
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	done := make(chan error, 1)
	go func() { done <- h.src.Run(ctx, func(pods []*corev1.Pod) { h.updates <- pods }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return h
}

func (h *harness) write(name, content string) {
	h.t.Helper()
	// Write then rename, as careful tools do, so no half-written file is ever read.
	tmp := filepath.Join(h.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, name)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) remove(name string) {
	h.t.Helper()
	if err := os.Remove(filepath.Join(h.dir, name)); err != nil {
		h.t.Fatal(err)
	}
}

// rescan steps the fake clock past the rescan interval (polling mode).
func (h *harness) rescan() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !h.clock.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("Run is not waiting for its rescan")
		}
		time.Sleep(time.Millisecond)
	}
	h.clock.Step(h.src.cfg.Interval)
}

func (h *harness) next() []*corev1.Pod {
	h.t.Helper()
	select {
	case pods := <-h.updates:
		return pods
	case <-time.After(5 * time.Second):
		h.t.Fatal("no update")
		return nil
	}
}

// none asserts that no update comes: after a rescan in polling mode (once Run waits again,
// the rescan is done), after a while with inotify.
func (h *harness) none() {
	h.t.Helper()
	if h.src.noInotify {
		h.rescan()
		deadline := time.Now().Add(5 * time.Second)
		for !h.clock.HasWaiters() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	} else {
		time.Sleep(400 * time.Millisecond)
	}
	select {
	case pods := <-h.updates:
		h.t.Fatalf("unexpected update: %v", names(pods))
	default:
	}
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	return out
}

func byName(t *testing.T, pods []*corev1.Pod, want ...string) map[string]*corev1.Pod {
	t.Helper()
	if got := strings.Join(names(pods), ","); got != strings.Join(want, ",") {
		t.Fatalf("pods = %s, want %s", got, strings.Join(want, ","))
	}
	out := map[string]*corev1.Pod{}
	for _, p := range pods {
		out[p.Namespace+"/"+p.Name] = p
	}
	return out
}

// TestRunLifecycle adds, changes and removes files, with inotify and with rescans only.
func TestRunLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inotify bool
	}{{"inotify", true}, {"rescan", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := run(t, tc.inotify, map[string]string{"web.yaml": podYAML("web", "nginx")})
			step := func() {
				if !tc.inotify {
					h.rescan()
				}
			}
			pods := byName(t, h.next(), "default/web-node1")
			web := pods["default/web-node1"]
			checkStatic(t, web, !tc.inotify, filepath.Join(h.dir, "web.yaml"), h.clock.Now())
			if web.Labels["app"] != "web" || web.Spec.Containers[0].Image != "nginx" {
				t.Errorf("pod content lost: labels %v, image %q", web.Labels, web.Spec.Containers[0].Image)
			}

			// A second file, JSON, in its own namespace; the first pod keeps its UID.
			h.write("json.json", podJSON)
			step()
			pods = byName(t, h.next(), "default/web-node1", "kube-system/json-node1")
			if got := pods["default/web-node1"]; got.UID != web.UID ||
				got.Annotations[ConfigSeenAnnotationKey] != web.Annotations[ConfigSeenAnnotationKey] {
				t.Errorf("unchanged file: UID %s seen %s, want %s %s", got.UID, got.Annotations[ConfigSeenAnnotationKey],
					web.UID, web.Annotations[ConfigSeenAnnotationKey])
			}
			jsonPod := pods["kube-system/json-node1"]
			checkStatic(t, jsonPod, !tc.inotify, filepath.Join(h.dir, "json.json"), h.clock.Now())

			// Files that are not manifests change nothing.
			h.write("notes.txt", podYAML("txt", "nginx"))
			h.write("web.yaml.bak", podYAML("bak", "nginx"))
			if err := os.WriteFile(filepath.Join(h.dir, ".hidden.yaml"), []byte(podYAML("hidden", "nginx")), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(h.dir, "sub.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
			h.none()

			// An edit gives the pod a new UID (and hash, and seen time); the other pod stays.
			if !tc.inotify {
				h.clock.Step(time.Minute)
			}
			h.write("web.yaml", podYAML("web", "nginx:1.27"))
			step()
			pods = byName(t, h.next(), "default/web-node1", "kube-system/json-node1")
			edited := pods["default/web-node1"]
			if edited.UID == web.UID || edited.Annotations[ConfigHashAnnotationKey] != string(edited.UID) {
				t.Errorf("edited file: UID %s (was %s), hash %s", edited.UID, web.UID, edited.Annotations[ConfigHashAnnotationKey])
			}
			if edited.Spec.Containers[0].Image != "nginx:1.27" {
				t.Errorf("edited image = %q", edited.Spec.Containers[0].Image)
			}
			if !tc.inotify && edited.Annotations[ConfigSeenAnnotationKey] == web.Annotations[ConfigSeenAnnotationKey] {
				t.Errorf("edited pod kept config.seen %s", web.Annotations[ConfigSeenAnnotationKey])
			}
			if pods["kube-system/json-node1"].UID != jsonPod.UID {
				t.Error("the other pod's UID changed")
			}

			// Rewriting the same content is no change.
			h.write("web.yaml", podYAML("web", "nginx:1.27"))
			h.none()

			h.remove("json.json")
			step()
			byName(t, h.next(), "default/web-node1")
			h.remove("web.yaml")
			step()
			byName(t, h.next())
			if ev := h.events(); len(ev) != 0 {
				t.Errorf("events for valid files: %v", ev)
			}
		})
	}
}

// checkStatic checks what applyDefaults and Run put on every static pod.
func checkStatic(t *testing.T, p *corev1.Pod, fakeClock bool, path string, seen time.Time) {
	t.Helper()
	if len(p.UID) != 32 {
		t.Errorf("%s: UID %q is not a 128-bit hex hash", p.Name, p.UID)
	}
	if p.Spec.NodeName != nodeName {
		t.Errorf("%s: nodeName %q", p.Name, p.Spec.NodeName)
	}
	want := map[string]string{ConfigHashAnnotationKey: string(p.UID), ConfigSourceAnnotationKey: FileSource}
	if fakeClock {
		want[ConfigSeenAnnotationKey] = seen.Format(time.RFC3339Nano)
	}
	for k, v := range want {
		if p.Annotations[k] != v {
			t.Errorf("%s: annotation %s = %q, want %q", p.Name, k, p.Annotations[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, p.Annotations[ConfigSeenAnnotationKey]); err != nil {
		t.Errorf("%s: config.seen: %v", p.Name, err)
	}
	if !IsStatic(p) || IsMirror(p) {
		t.Errorf("%s: IsStatic %v IsMirror %v", p.Name, IsStatic(p), IsMirror(p))
	}
	tolerates := false
	for _, tol := range p.Spec.Tolerations {
		if tol.Key == "" && tol.Operator == corev1.TolerationOpExists && tol.Effect == corev1.TaintEffectNoExecute {
			tolerates = true
		}
	}
	if !tolerates {
		t.Errorf("%s: no NoExecute toleration: %v", p.Name, p.Spec.Tolerations)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("%s: phase %q", p.Name, p.Status.Phase)
	}
	// The API server's defaults (Config.Default) were applied.
	if p.Spec.RestartPolicy != corev1.RestartPolicyAlways || p.Spec.DNSPolicy != corev1.DNSClusterFirst ||
		p.Spec.TerminationGracePeriodSeconds == nil || p.Spec.Containers[0].TerminationMessagePath == "" {
		t.Errorf("%s: defaults missing: restartPolicy %q dnsPolicy %q", p.Name, p.Spec.RestartPolicy, p.Spec.DNSPolicy)
	}
	// Same file, same content, same node: same UID. Another file or node: another UID.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{NodeName: nodeName, Default: defaults.SetObjectDefaultsPod}).podFromFile(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != p.UID {
		t.Errorf("%s: UID not stable: %s then %s", p.Name, p.UID, again.UID)
	}
	other, _ := New(Config{NodeName: nodeName, Default: defaults.SetObjectDefaultsPod}).podFromFile(path+"2", data)
	node2, _ := New(Config{NodeName: "node2", Default: defaults.SetObjectDefaultsPod}).podFromFile(path, data)
	if other.UID == p.UID || node2.UID == p.UID {
		t.Errorf("%s: UID does not depend on file and node", p.Name)
	}
}

func TestInvalidFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                []string // in the event and the log line
	}{
		{name: "bad YAML", file: "bad.yaml", content: "apiVersion: v1\nkind: Pod\nmetadata: [name: x\n",
			want: []string{"couldn't parse"}},
		{name: "unknown field", file: "cadvisor.yaml", content: `apiVersion: v1
kind: Pod
metadata: {name: cadvisor}
spec:
  containers: [{name: c, image: cadvisor}]
  volumes:
  - name: varrun
    source:
      hostDir: {path: /var/run}
`, want: []string{`unknown field "spec.volumes[0].source"`}},
		{name: "duplicate field", file: "dup.yaml", content: podYAML("dup", "nginx") + "  restartPolicy: Never\n  restartPolicy: Always\n",
			want: []string{`"restartPolicy" already set`}},
		{name: "failing validation", file: "noimage.yaml", content: podYAML("noimage", `""`),
			want: []string{"invalid pod", "spec.containers[0].image"}},
		{name: "no name", file: "noname.json", content: `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","image":"x"}]}}`,
			want: []string{"name is needed"}},
		{name: "not a pod", file: "deploy.yaml", content: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			want: []string{`kind "Deployment" of apiVersion "apps/v1"`}},
		{name: "no kind", file: "nokind.yaml", content: "metadata: {name: d}\nspec: {containers: [{name: c, image: x}]}\n",
			want: []string{`kind "" of apiVersion ""`}},
		{name: "two documents", file: "two.yaml", content: podYAML("one", "x") + "---\n" + podYAML("two", "x"),
			want: []string{"holds 2 YAML documents"}},
		{name: "secret reference", file: "secret.yaml", content: podYAML("secret", "x") +
			"    env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
			want: []string{"static pods may not reference secrets"}},
		{name: "service account", file: "sa.yaml", content: podYAML("sa", "x") + "  serviceAccountName: builder\n",
			want: []string{"static pods may not reference serviceaccounts"}},
		{name: "duplicate pod", file: "zz-web.yaml", content: podYAML("web", "busybox"),
			want: []string{"pod default/web-node1 is already defined by", "good.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := run(t, false, map[string]string{"good.yaml": podYAML("web", "nginx"), tc.file: tc.content})
			pods := byName(t, h.next(), "default/web-node1")
			if img := pods["default/web-node1"].Spec.Containers[0].Image; img != "nginx" {
				t.Errorf("the valid file's pod has image %q", img)
			}
			path := filepath.Join(h.dir, tc.file)
			ev := h.events()
			t.Logf("events: %q", ev)
			if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning "+ReasonInvalidManifest+" ") || !strings.Contains(ev[0], path) {
				t.Fatalf("events = %q, want one Warning %s naming %s", ev, ReasonInvalidManifest, path)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, "Invalid static pod file") || !strings.Contains(logs, path) {
				t.Errorf("log does not name the file:\n%s", logs)
			}
			for _, w := range tc.want {
				if !strings.Contains(ev[0], w) {
					t.Errorf("event %q does not contain %q", ev[0], w)
				}
				if !strings.Contains(logs, strings.ReplaceAll(w, `"`, `\"`)) && !strings.Contains(logs, w) {
					t.Errorf("log does not contain %q:\n%s", w, logs)
				}
			}
			// The same content is not reported again on the next rescans.
			h.none()
			h.none()
			if ev := h.events(); len(ev) != 0 {
				t.Errorf("reported again: %q", ev)
			}
		})
	}
}

// TestInvalidEdit: a running static pod's file made invalid drops its pod (upstream's relist
// does so), with an event; fixing the file brings the pod back.
func TestInvalidEdit(t *testing.T) {
	h := run(t, true, map[string]string{"web.yaml": podYAML("web", "nginx"), "db.yaml": podYAML("db", "postgres")})
	byName(t, h.next(), "default/db-node1", "default/web-node1")
	h.write("web.yaml", podYAML("web", "nginx")+"  bogus: true\n")
	byName(t, h.next(), "default/db-node1")
	if ev := h.events(); len(ev) != 1 || !strings.Contains(ev[0], `unknown field "spec.bogus"`) {
		t.Errorf("events = %q", ev)
	}
	h.write("web.yaml", podYAML("web", "nginx"))
	byName(t, h.next(), "default/db-node1", "default/web-node1")
}

// TestEmptyFile: an empty file (being written) gives no pod and no warning.
func TestEmptyFile(t *testing.T) {
	h := run(t, false, map[string]string{"empty.yaml": "", "blank.json": "\n  \n"})
	byName(t, h.next())
	if ev := h.events(); len(ev) != 0 {
		t.Errorf("events = %q", ev)
	}
}

// TestMissingFolder: a folder that does not exist holds no pods; once made, its pods appear;
// a folder removed takes its pods with it.
func TestMissingFolder(t *testing.T) {
	for _, inotify := range []bool{true, false} {
		t.Run(map[bool]string{true: "inotify", false: "rescan"}[inotify], func(t *testing.T) {
			h := runWith(t, inotify, 200*time.Millisecond, map[string]string{"web.yaml": podYAML("web", "nginx")})
			byName(t, h.next(), "default/web-node1")
			if err := os.RemoveAll(h.dir); err != nil {
				t.Fatal(err)
			}
			if !inotify {
				h.rescan()
			}
			byName(t, h.next())
			if err := os.Mkdir(h.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			h.write("db.yaml", podYAML("db", "postgres"))
			if !inotify {
				h.rescan()
			}
			byName(t, h.next(), "default/db-node1")
			// Watched again: a change shows (with inotify, or the short rescan).
			h.remove("db.yaml")
			if !inotify {
				h.rescan()
			}
			byName(t, h.next())
		})
	}
}

func TestRunArguments(t *testing.T) {
	ctx := context.Background()
	if err := New(Config{NodeName: nodeName}).Run(ctx, func([]*corev1.Pod) {}); err == nil {
		t.Error("Run without a folder: no error")
	}
	if err := New(Config{Dir: t.TempDir(), NodeName: nodeName}).Run(ctx, nil); err == nil {
		t.Error("Run without update: no error")
	}
}

func TestIsStaticIsMirror(t *testing.T) {
	for _, tc := range []struct {
		name           string
		annotations    map[string]string
		static, mirror bool
	}{
		{"api pod", nil, false, false},
		{"static pod", map[string]string{ConfigSourceAnnotationKey: FileSource, ConfigHashAnnotationKey: "h"}, true, false},
		{"mirror pod", map[string]string{ConfigSourceAnnotationKey: FileSource, ConfigMirrorAnnotationKey: "h"}, false, true},
		{"other source", map[string]string{ConfigSourceAnnotationKey: "api"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
			if IsStatic(p) != tc.static || IsMirror(p) != tc.mirror {
				t.Errorf("IsStatic %v IsMirror %v, want %v %v", IsStatic(p), IsMirror(p), tc.static, tc.mirror)
			}
		})
	}
	if IsStatic(nil) || IsMirror(nil) {
		t.Error("nil pod is static or mirror")
	}
}

func TestTolerationNotDuplicated(t *testing.T) {
	h := run(t, false, map[string]string{"t.yaml": podYAML("t", "x") +
		"  tolerations: [{operator: Exists, effect: NoExecute, tolerationSeconds: 5}, {key: k, operator: Exists}]\n"})
	p := byName(t, h.next(), "default/t-node1")["default/t-node1"]
	if len(p.Spec.Tolerations) != 2 || p.Spec.Tolerations[0].TolerationSeconds != nil || p.Spec.Tolerations[1].Key != "k" {
		t.Errorf("tolerations = %+v", p.Spec.Tolerations)
	}
}

// TestNameLowerCased: the node name suffix is lower-cased, as upstream's generatePodName does.
func TestNameLowerCased(t *testing.T) {
	p, err := New(Config{NodeName: "Node-A"}).podFromFile("/m/web.yaml", []byte(podYAML("web", "nginx")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "web-node-a" || p.Spec.NodeName != "Node-A" {
		t.Errorf("name %q nodeName %q", p.Name, p.Spec.NodeName)
	}
}

// TestDuplicateResolved: of two files defining the same pod, the first (by name) runs; when it
// goes, the other's pod takes its place.
func TestDuplicateResolved(t *testing.T) {
	h := run(t, false, map[string]string{"a.yaml": podYAML("web", "nginx"), "b.yaml": podYAML("web", "busybox")})
	p := byName(t, h.next(), "default/web-node1")["default/web-node1"]
	if p.Spec.Containers[0].Image != "nginx" {
		t.Errorf("image %q, want the first file's", p.Spec.Containers[0].Image)
	}
	if ev := h.events(); len(ev) != 1 || !strings.Contains(ev[0], "b.yaml") {
		t.Errorf("events = %q", ev)
	}
	h.none()
	h.remove("a.yaml")
	h.rescan()
	p = byName(t, h.next(), "default/web-node1")["default/web-node1"]
	if p.Spec.Containers[0].Image != "busybox" {
		t.Errorf("image %q, want the second file's", p.Spec.Containers[0].Image)
	}
	if ev := h.events(); len(ev) != 0 {
		t.Errorf("events = %q", ev)
	}
}

// TestInPlaceWrite: a file rewritten in place (truncated, then written, as shells and most
// editors do) is read once it settles: one update, no warning for the empty moment between.
func TestInPlaceWrite(t *testing.T) {
	h := run(t, true, map[string]string{"web.yaml": podYAML("web", "nginx")})
	before := byName(t, h.next(), "default/web-node1")["default/web-node1"]
	f, err := os.OpenFile(filepath.Join(h.dir, "web.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	content := podYAML("web", "nginx:1.27")
	for i := 0; i < len(content); i += 16 { // in pieces
		if _, err := f.WriteString(content[i:min(i+16, len(content))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after := byName(t, h.next(), "default/web-node1")["default/web-node1"]
	if after.UID == before.UID || after.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("after rewrite: UID %s (was %s) image %q", after.UID, before.UID, after.Spec.Containers[0].Image)
	}
	h.none()
	if ev := h.events(); len(ev) != 0 {
		t.Errorf("events = %q", ev)
	}
}
