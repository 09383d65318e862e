package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
)

// curl runs the real curl against the cluster, as a user of the REST API would.
func curl(t *testing.T, c *cluster, withCert bool, args ...string) (body string, status string) {
	t.Helper()
	pki := filepath.Join(c.DataDir, "pki")
	base := []string{"-sS", "--cacert", filepath.Join(pki, "ca.crt"), "-o", "-", "-w", "\n%{http_code}"}
	if withCert {
		base = append(base, "--cert", filepath.Join(pki, "admin.crt"), "--key", filepath.Join(pki, "admin.key"))
	}
	out, err := exec.Command("curl", append(base, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndex(s, "\n")
	return s[:i+1], s[i+1:]
}

func serverURL(t *testing.T, c *cluster) string {
	t.Helper()
	return c.Config.Host
}

// A manifest POSTed to the REST API with curl, as JSON and as YAML, creates the pod.
func TestRESTPostWithCurl(t *testing.T) {
	c := shared
	ns := "rest-post"
	kubectls(t, c)[0].ok(t, "create", "namespace", ns)
	url := serverURL(t, c) + "/api/v1/namespaces/" + ns + "/pods"

	body, status := curl(t, c, true, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@"+testdata("busybox.json"), url)
	// kube-apiserver pretty-prints JSON for curl.
	if status != "201" || !regexp.MustCompile(`"name":\s*"busybox-json"`).MatchString(body) {
		t.Fatalf("POST JSON: %s %s", status, body)
	}
	yamlPod := strings.ReplaceAll(mustRead(t, testdata("busybox.yml")), "namespace: default", "namespace: "+ns)
	body, status = curl(t, c, true, "-X", "POST", "-H", "Content-Type: application/yaml", "--data-binary", yamlPod, url)
	if status != "201" || !regexp.MustCompile(`"name":\s*"busybox"`).MatchString(body) {
		t.Fatalf("POST YAML: %s %s", status, body)
	}
	body, status = curl(t, c, true, url)
	if status != "200" || !regexp.MustCompile(`"kind":\s*"PodList"`).MatchString(body) || !strings.Contains(body, "busybox-json") {
		t.Fatalf("GET pods: %s %s", status, body)
	}
	// The seed's hostDir manifest, POSTed with strict field validation, is refused.
	body, status = curl(t, c, true, "-X", "POST", "-H", "Content-Type: application/yaml",
		"--data-binary", "@"+testdata("cadvisor-hostdir.yml"), url+"?fieldValidation=Strict")
	if status != "400" || !strings.Contains(body, `unknown field \"spec.volumes[0].source\"`) {
		t.Fatalf("POST hostDir manifest: %s %s", status, body)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAnonymousRefused(t *testing.T) {
	for _, path := range []string{"/api/v1/pods", "/apis", "/version"} {
		body, status := curl(t, shared, false, serverURL(t, shared)+path)
		if status != "401" || !strings.Contains(body, "Unauthorized") {
			t.Errorf("anonymous GET %s: %s %s", path, status, body)
		}
	}
}

func TestHealthVersionMetrics(t *testing.T) {
	for _, path := range []string{"/livez", "/readyz", "/healthz"} {
		body, status := curl(t, shared, true, serverURL(t, shared)+path)
		if status != "200" || strings.TrimSpace(body) != "ok" {
			t.Errorf("GET %s: %s %q", path, status, body)
		}
	}
	body, status := curl(t, shared, true, serverURL(t, shared)+"/readyz?verbose")
	if status != "200" || !strings.Contains(body, "[+]poststarthook/kubeshim-bootstrap ok") {
		t.Errorf("readyz?verbose: %s %s", status, body)
	}
	body, status = curl(t, shared, true, serverURL(t, shared)+"/version")
	var v version.Info
	if err := json.Unmarshal([]byte(body), &v); err != nil || status != "200" {
		t.Fatalf("/version: %s %s %v", status, body, err)
	}
	if v.GitVersion != "v1.37.2+kubeshim.0.1.0" || v.Major != "1" || v.Minor != "37" {
		t.Errorf("/version = %+v", v)
	}
	body, status = curl(t, shared, true, serverURL(t, shared)+"/metrics")
	if status != "200" || !strings.Contains(body, "apiserver_request_total") {
		t.Errorf("/metrics: %s (%d bytes)", status, len(body))
	}
	for _, k := range kubectls(t, shared) {
		// kubectl 1.27 prints the whole version.Info, later ones the short form.
		out := k.ok(t, "version")
		if !regexp.MustCompile(`Server Version: (v1\.37\.2\+kubeshim\.0\.1\.0|version\.Info\{Major:"1", Minor:"37", GitVersion:"v1\.37\.2\+kubeshim\.0\.1\.0")`).MatchString(out) {
			t.Errorf("%s version:\n%s", k.name(), out)
		}
	}
	out, err := exec.Command(kubeshimBin, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "v1.37.2+kubeshim.0.1.0" {
		t.Errorf("kubeshim version: %q %v", out, err)
	}
}

func TestCertificateFilesArePrivate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(shared.DataDir, "pki", "*"))
	if err != nil || len(files) < 6 {
		t.Fatalf("pki files %v %v", files, err)
	}
	files = append(files, shared.Kubeconfig)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

// A second start on the same data directory reuses the CA and certificates, writes a
// working kubeconfig, and SIGTERM ends the server cleanly.
func TestRestartReusesPKIAndStopsOnSIGTERM(t *testing.T) {
	c, err := startCluster(nil)
	if err != nil {
		t.Fatal(err)
	}
	ca := mustRead(t, filepath.Join(c.DataDir, "pki", "ca.crt"))
	dir := c.DataDir
	if err := c.Stop(); err != nil { // Stop keeps the data dir for the restart
		t.Fatalf("first run did not exit cleanly on SIGTERM: %v\n%s", err, c.Logs.String())
	}
	if err := os.Remove(filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	again, err := startClusterIn(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.stop()
	if got := mustRead(t, filepath.Join(dir, "pki", "ca.crt")); got != ca {
		t.Errorf("CA changed across restarts")
	}
	kubectls(t, again)[0].ok(t, "get", "namespaces")
	cfg := rest.CopyConfig(again.Config)
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = nil, nil
	if !bytes.Contains(cfg.TLSClientConfig.CAData, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("kubeconfig does not embed the CA")
	}
}
