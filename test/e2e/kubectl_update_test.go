package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.24
        ports:
        - containerPort: 80
`

func getDeployment(t *testing.T, k kubectl, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(k.ok(t, "get", "deployment", name, "-n", ns, "-o", "json")), &d); err != nil {
		t.Fatalf("decode deployment %s: %v", name, err)
	}
	return &d
}

func writeManifest(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyClientSide(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		m := writeManifest(t, webDeployment)
		if out := k.ok(t, "apply", "-f", m, "-n", ns); strings.TrimSpace(out) != "deployment.apps/web created" {
			t.Fatalf("first apply printed %q", out)
		}
		if out := k.ok(t, "apply", "-f", m, "-n", ns); strings.TrimSpace(out) != "deployment.apps/web unchanged" {
			t.Fatalf("second apply printed %q", out)
		}
		changed := writeManifest(t, strings.Replace(strings.Replace(webDeployment, "replicas: 2", "replicas: 3", 1), "nginx:1.24", "nginx:1.25", 1))
		if out := k.ok(t, "apply", "-f", changed, "-n", ns); strings.TrimSpace(out) != "deployment.apps/web configured" {
			t.Fatalf("changed apply printed %q", out)
		}
		d := getDeployment(t, k, ns, "web")
		if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.25" {
			t.Errorf("after apply: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		}
		if d.Generation != 2 {
			t.Errorf("generation %d after one spec change, want 2", d.Generation)
		}
		if !strings.Contains(d.Annotations["kubectl.kubernetes.io/last-applied-configuration"], `"nginx:1.25"`) {
			t.Errorf("last-applied-configuration %q", d.Annotations["kubectl.kubernetes.io/last-applied-configuration"])
		}
		// Upstream's Deployment defaults.
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
			d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" ||
			*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
			t.Errorf("deployment defaults: %+v", d.Spec)
		}
	})
}

func TestApplyServerSide(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		m := writeManifest(t, webDeployment)
		if out := k.ok(t, "apply", "--server-side", "-f", m, "-n", ns); strings.TrimSpace(out) != "deployment.apps/web serverside-applied" {
			t.Fatalf("first server-side apply printed %q", out)
		}
		changed := writeManifest(t, strings.Replace(webDeployment, "replicas: 2", "replicas: 4", 1))
		if out := k.ok(t, "apply", "--server-side", "-f", changed, "-n", ns); strings.TrimSpace(out) != "deployment.apps/web serverside-applied" {
			t.Fatalf("second server-side apply printed %q", out)
		}
		var d appsv1.Deployment
		if err := json.Unmarshal([]byte(k.ok(t, "get", "deployment", "web", "-n", ns, "-o", "json", "--show-managed-fields")), &d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 4 {
			t.Errorf("replicas %d, want 4", *d.Spec.Replicas)
		}
		var applied bool
		for _, mf := range d.ManagedFields {
			if mf.Manager == "kubectl" && mf.Operation == "Apply" && strings.Contains(string(mf.FieldsV1.Raw), `"f:replicas"`) {
				applied = true
			}
		}
		if !applied {
			t.Errorf("no Apply managed fields for kubectl owning spec.replicas: %+v", d.ManagedFields)
		}
		// Another manager changing an owned field conflicts, as upstream.
		other := writeManifest(t, strings.Replace(webDeployment, "replicas: 2", "replicas: 7", 1))
		r := k.run(t, "", "apply", "--server-side", "--field-manager", "other", "-f", other, "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "conflict") || !strings.Contains(r.stderr, ".spec.replicas") {
			t.Errorf("conflicting apply: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestPatch(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "apply", "-f", writeManifest(t, webDeployment), "-n", ns)
		// Strategic merge: containers merge by name.
		out := k.ok(t, "patch", "deployment", "web", "-n", ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`)
		if strings.TrimSpace(out) != "deployment.apps/web patched" {
			t.Fatalf("strategic patch printed %q", out)
		}
		d := getDeployment(t, k, ns, "web")
		if c := d.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Image != "nginx:1.26" || len(c[0].Ports) != 1 {
			t.Errorf("after strategic patch: %+v", c)
		}
		k.ok(t, "patch", "deployment", "web", "-n", ns, "--type", "merge", "-p", `{"metadata":{"labels":{"tier":"front"}}}`)
		k.ok(t, "patch", "deployment", "web", "-n", ns, "--type", "json", "-p", `[{"op":"replace","path":"/spec/replicas","value":6}]`)
		d = getDeployment(t, k, ns, "web")
		if d.Labels["tier"] != "front" || d.Labels["app"] != "web" || *d.Spec.Replicas != 6 {
			t.Errorf("after merge and json patches: labels %v replicas %d", d.Labels, *d.Spec.Replicas)
		}
		// A patch that breaks validation is refused with the field named.
		r := k.run(t, "", "patch", "deployment", "web", "-n", ns, "--type", "json", "-p", `[{"op":"replace","path":"/spec/replicas","value":-1}]`)
		if r.code == 0 || !strings.Contains(r.stderr, "spec.replicas") {
			t.Errorf("invalid patch: exit %d, stderr %q", r.code, r.stderr)
		}
		// A no-op patch says so.
		if out := k.ok(t, "patch", "deployment", "web", "-n", ns, "--type", "merge", "-p", `{"metadata":{"labels":{"tier":"front"}}}`); !strings.Contains(out, "(no change)") {
			t.Errorf("no-op patch printed %q", out)
		}
	})
}

func TestEdit(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "apply", "-f", writeManifest(t, webDeployment), "-n", ns)
		// kubectl reads KUBE_EDITOR (KUBECTL_EDITOR is set too, for kubectls that read it).
		editor := "sed -i -e 's/replicas: 2/replicas: 5/'"
		k.Env = []string{"KUBE_EDITOR=" + editor, "KUBECTL_EDITOR=" + editor}
		if out := k.ok(t, "edit", "deployment", "web", "-n", ns); strings.TrimSpace(out) != "deployment.apps/web edited" {
			t.Fatalf("edit printed %q", out)
		}
		if d := getDeployment(t, k, ns, "web"); *d.Spec.Replicas != 5 {
			t.Errorf("replicas %d after edit, want 5", *d.Spec.Replicas)
		}
	})
}

func TestLabelAnnotateScale(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "run", "p", "--image=busybox", "-n", ns)
		if out := k.ok(t, "label", "pod", "p", "tier=db", "-n", ns); strings.TrimSpace(out) != "pod/p labeled" {
			t.Fatalf("label printed %q", out)
		}
		r := k.run(t, "", "label", "pod", "p", "tier=cache", "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "'tier' already has a value (db), and --overwrite is false") {
			t.Errorf("label without --overwrite: exit %d, stderr %q", r.code, r.stderr)
		}
		k.ok(t, "label", "pod", "p", "tier=cache", "--overwrite", "-n", ns)
		// kubectl 1.27 itself prints "annotate" (its own wording, fixed in later releases).
		if out := k.ok(t, "annotate", "pod", "p", "note=hello world", "-n", ns); strings.TrimSpace(out) != "pod/p annotated" && strings.TrimSpace(out) != "pod/p annotate" {
			t.Fatalf("annotate printed %q", out)
		}
		p := getPod(t, k, ns, "p")
		if p.Labels["tier"] != "cache" || p.Annotations["note"] != "hello world" {
			t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
		}
		k.ok(t, "label", "pod", "p", "tier-", "-n", ns)
		if p := getPod(t, k, ns, "p"); p.Labels["tier"] != "" {
			t.Errorf("label not removed: %v", p.Labels)
		}

		if out := k.ok(t, "create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80", "-n", ns); strings.TrimSpace(out) != "deployment.apps/web created" {
			t.Fatalf("create deployment printed %q", out)
		}
		header, rows := table(t, k.ok(t, "get", "deployments", "-n", ns))
		if strings.Join(header, ",") != "NAME,READY,UP-TO-DATE,AVAILABLE,AGE" || rows[0]["READY"] != "0/3" || rows[0]["UP-TO-DATE"] != "0" || rows[0]["AVAILABLE"] != "0" {
			t.Fatalf("get deployments: %v %v", header, rows)
		}
		if out := k.ok(t, "scale", "deployment", "web", "--replicas=5", "-n", ns); strings.TrimSpace(out) != "deployment.apps/web scaled" {
			t.Fatalf("scale printed %q", out)
		}
		if d := getDeployment(t, k, ns, "web"); *d.Spec.Replicas != 5 || d.Generation != 2 {
			t.Errorf("after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
		}
		r = k.run(t, "", "scale", "deployment", "web", "--replicas=5", "--current-replicas=3", "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "Expected replicas to be 3, was 5") {
			t.Errorf("scale with a wrong --current-replicas: exit %d, stderr %q", r.code, r.stderr)
		}
		_, rows = table(t, k.ok(t, "get", "deployments", "-o", "wide", "-n", ns))
		if rows[0]["CONTAINERS"] != "nginx" || rows[0]["IMAGES"] != "nginx" || rows[0]["SELECTOR"] != "app=web" {
			t.Errorf("wide deployment row %v", rows[0])
		}
	})
}
