package e2e

import (
	"strings"
	"testing"
)

func TestAPIResources(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, _ string) {
		_, rows := table(t, k.ok(t, "api-resources"))
		byName := map[string]map[string]string{}
		for _, r := range rows {
			byName[r["NAME"]+"."+r["APIVERSION"]] = r
		}
		want := []struct{ name, version, short, namespaced, kind string }{
			{"pods", "v1", "po", "true", "Pod"},
			{"namespaces", "v1", "ns", "false", "Namespace"},
			{"nodes", "v1", "no", "false", "Node"},
			{"events", "v1", "ev", "true", "Event"},
			{"configmaps", "v1", "cm", "true", "ConfigMap"},
			{"secrets", "v1", "", "true", "Secret"},
			{"serviceaccounts", "v1", "sa", "true", "ServiceAccount"},
			{"replicationcontrollers", "v1", "rc", "true", "ReplicationController"},
			{"deployments", "apps/v1", "deploy", "true", "Deployment"},
			{"replicasets", "apps/v1", "rs", "true", "ReplicaSet"},
			{"daemonsets", "apps/v1", "ds", "true", "DaemonSet"},
			{"jobs", "batch/v1", "", "true", "Job"},
			{"cronjobs", "batch/v1", "cj", "true", "CronJob"},
			{"leases", "coordination.k8s.io/v1", "", "true", "Lease"},
			{"poddisruptionbudgets", "policy/v1", "pdb", "true", "PodDisruptionBudget"},
		}
		for _, w := range want {
			r, ok := byName[w.name+"."+w.version]
			if !ok {
				t.Errorf("api-resources lacks %s %s", w.name, w.version)
				continue
			}
			if r["SHORTNAMES"] != w.short || r["NAMESPACED"] != w.namespaced || r["KIND"] != w.kind {
				t.Errorf("api-resources row for %s: %v", w.name, r)
			}
		}
	})
}

func TestShortNamesAndGetAll(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		k.ok(t, "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)
		k.ok(t, "run", "solo", "--image=busybox", "-n", ns)
		k.ok(t, "create", "configmap", "settings", "--from-literal=a=1", "-n", ns)
		for _, short := range []string{"deploy", "po", "cm"} {
			if out := k.ok(t, "get", short, "-n", ns, "-o", "name"); strings.TrimSpace(out) == "" {
				t.Errorf("get %s printed nothing", short)
			}
		}
		out := k.ok(t, "get", "all", "-n", ns)
		for _, want := range []string{"pod/solo", "deployment.apps/web"} {
			if !strings.Contains(out, want) {
				t.Errorf("get all lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "configmap") {
			t.Errorf("get all shows configmaps, which are not in the all category:\n%s", out)
		}
	})
}

func TestExplain(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, _ string) {
		out := k.ok(t, "explain", "pods.spec.restartPolicy")
		if !strings.Contains(out, "restartPolicy") || !strings.Contains(out, "Always") || !strings.Contains(out, "OnFailure") {
			t.Errorf("explain pods.spec.restartPolicy:\n%s", out)
		}
		out = k.ok(t, "explain", "deployment.spec.strategy")
		if !strings.Contains(out, "GROUP:") && !strings.Contains(out, "KIND:") || !strings.Contains(out, "rollingUpdate") {
			t.Errorf("explain deployment.spec.strategy:\n%s", out)
		}
	})
}

func TestCreateNamespace(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		name := ns + "-extra"
		if out := k.ok(t, "create", "namespace", name); strings.TrimSpace(out) != "namespace/"+name+" created" {
			t.Fatalf("create namespace printed %q", out)
		}
		_, rows := table(t, k.ok(t, "get", "namespace", name))
		if rows[0]["STATUS"] != "Active" {
			t.Errorf("namespace row %v", rows[0])
		}
		// A namespace that does not exist refuses content.
		r := k.run(t, "", "run", "x", "--image=busybox", "-n", ns+"-missing")
		if r.code == 0 || !strings.Contains(r.stderr, `namespaces "`+ns+`-missing" not found`) {
			t.Errorf("run in a missing namespace: exit %d, stderr %q", r.code, r.stderr)
		}
		// The system namespaces exist and may not be deleted.
		for _, sys := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			k.ok(t, "get", "namespace", sys)
		}
		r = k.run(t, "", "delete", "namespace", "kube-system")
		if r.code == 0 || !strings.Contains(r.stderr, "this namespace may not be deleted") {
			t.Errorf("delete kube-system: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// The seed's cadvisor manifest uses the long-gone source.hostDir: refused with the unknown
// field named and nothing stored; rewritten with hostPath it is accepted.
func TestCadvisorManifest(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		r := k.run(t, "", "create", "-f", testdata("cadvisor-hostdir.yml"), "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, `unknown field "spec.volumes[0].source"`) {
			t.Fatalf("hostDir manifest: exit %d, stderr %q", r.code, r.stderr)
		}
		r = k.run(t, "", "get", "pod", "cadvisor-agent", "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "NotFound") {
			t.Fatalf("refused pod was stored: exit %d stdout %q", r.code, r.stdout)
		}
		if out := k.ok(t, "create", "-f", testdata("cadvisor.yml"), "-n", ns); strings.TrimSpace(out) != "pod/cadvisor-agent created" {
			t.Fatalf("hostPath manifest printed %q", out)
		}
		p := getPod(t, k, ns, "cadvisor-agent")
		if p.Spec.Volumes[1].HostPath == nil || p.Spec.Volumes[1].HostPath.Path != "/var/lib/docker" || !p.Spec.Containers[0].VolumeMounts[1].ReadOnly {
			t.Errorf("volumes %+v mounts %+v", p.Spec.Volumes, p.Spec.Containers[0].VolumeMounts)
		}
		if port := p.Spec.Containers[0].Ports[0]; port.HostPort != 4194 || port.ContainerPort != 8080 {
			t.Errorf("port %+v", port)
		}
	})
}

func TestValidationMessages(t *testing.T) {
	forEachKubectl(t, func(t *testing.T, k kubectl, ns string) {
		bad := `apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
spec:
  containers:
  - name: c
  - name: c
    image: busybox
`
		r := k.run(t, "", "create", "-f", writeManifest(t, bad), "-n", ns)
		for _, want := range []string{`metadata.name: Invalid value: "Bad_Name"`, "spec.containers[0].image: Required value", `spec.containers[1].name: Duplicate value: "c"`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("invalid pod: stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if r.code == 0 {
			t.Errorf("invalid pod accepted")
		}
		mismatch := strings.Replace(webDeployment, "      labels:\n        app: web\n    spec:", "      labels:\n        app: other\n    spec:", 1)
		r = k.run(t, "", "create", "-f", writeManifest(t, mismatch), "-n", ns)
		if r.code == 0 || !strings.Contains(r.stderr, "spec.template.metadata.labels") || !strings.Contains(r.stderr, "`selector` does not match template `labels`") {
			t.Errorf("selector mismatch: exit %d stderr %q", r.code, r.stderr)
		}
	})
}
