package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
	"github.com/kubeshim/kubeshim/test/images"
)

// seedManifest is the seed's busybox.yml, as written.
const seedManifest = `apiVersion: v1
kind: Pod
metadata:
  name: busybox
  namespace: default
spec:
  containers:
  - image: busybox
    command:
      - sleep
      - "3600"
    name: busybox
`

// Seed step 6: `kubectl create -f busybox.yml` runs; `kubectl run` makes a pod. busybox:latest
// is pulled with policy Always, and offline the kubelet falls back to the imported copy with a
// Warning event that says so.
func TestSeedManifestAndRun(t *testing.T) {
	ks := kubectls(t)
	k := ks[0]
	file := filepath.Join(t.TempDir(), "busybox.yml")
	if err := os.WriteFile(file, []byte(seedManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out := k.OK(t, "create", "-f", file)
	if !strings.Contains(out, `pod/busybox created`) {
		t.Errorf("create printed %q", out)
	}
	defer k.OK(t, "delete", "pod", "busybox", "-n", "default", "--grace-period=1")
	for _, kc := range ks {
		row := waitPod(t, kc, "default", "busybox", 60*time.Second, "Running 1/1", func(r map[string]string) bool {
			return r["STATUS"] == "Running" && r["READY"] == "1/1"
		})
		if row["RESTARTS"] != "0" {
			t.Errorf("RESTARTS %q", row["RESTARTS"])
		}
	}
	events := k.OK(t, "get", "events", "-n", "default", "--field-selector", "involvedObject.name=busybox")
	if !strings.Contains(events, "PullFallback") || !strings.Contains(events, "using the local copy") {
		t.Errorf("no Warning event about the offline fallback:\n%s", events)
	}

	ns := namespace(t)
	ks[1].OK(t, "run", "sleeper", "--image=busybox", "-n", ns, "--", "sleep", "3600")
	waitPod(t, ks[1], ns, "sleeper", 60*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
}

// `kubeshim images import FILE` loads an archive into the running node; a pod then runs the
// image with pull policy Never.
func TestImagesImport(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	img, err := images.Busybox(images.DefaultHost())
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "docker.io/library/e2e-imported:v1"
	img.Config = ocispec.ImageConfig{Cmd: []string{"sh", "-c", "echo imported"}, Env: img.Config.Env}
	archive := filepath.Join(t.TempDir(), "imported.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := images.WriteArchive(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Before the import the image is missing: ErrImageNeverPull.
	k.OK(t, "run", "before", "--image=e2e-imported:v1", "--image-pull-policy=Never", "--restart=Never", "-n", ns)
	waitPod(t, k, ns, "before", 30*time.Second, "ErrImageNeverPull", func(r map[string]string) bool { return r["STATUS"] == "ErrImageNeverPull" })

	out, err := exec.Command(cluster.Bin, "images", "import", "--data-dir", cluster.DataDir, archive).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imported docker.io/library/e2e-imported:v1") {
		t.Fatalf("kubeshim images import: %v\n%s", err, out)
	}
	k.OK(t, "run", "after", "--image=e2e-imported:v1", "--image-pull-policy=Never", "--restart=Never", "-n", ns)
	waitPod(t, k, ns, "after", 30*time.Second, "Completed", func(r map[string]string) bool { return r["STATUS"] == "Completed" })
}

// A pod whose container cannot be configured (a missing ConfigMap) ends in a clear status and
// event, and the kubelet goes on with the other pods.
func TestBadSpecsEndInStatus(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: needs-config
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    env:
    - name: SETTING
      valueFrom:
        configMapKeyRef: {name: settings, key: level}
---
apiVersion: v1
kind: Pod
metadata:
  name: needs-volume
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
  volumes:
  - name: cfg
    configMap: {name: absent}
`, "create", "-n", ns, "-f", "-")
	waitPod(t, k, ns, "needs-config", 30*time.Second, "CreateContainerConfigError", func(r map[string]string) bool {
		return r["STATUS"] == "CreateContainerConfigError"
	})
	waitPod(t, k, ns, "needs-volume", 30*time.Second, "ContainerCreating", func(r map[string]string) bool {
		return r["STATUS"] == "ContainerCreating"
	})
	var events string
	e2eutil.Eventually(t, 20*time.Second, "events naming the missing objects", func() bool {
		events = k.OK(t, "get", "events", "-n", ns)
		return strings.Contains(events, `configmap "settings" not found`) &&
			strings.Contains(events, `MountVolume.SetUp failed for volume "cfg"`)
	}, func() string { return events })
	// Once the ConfigMaps exist, both run.
	k.OK(t, "create", "configmap", "settings", "--from-literal=level=3", "-n", ns)
	k.OK(t, "create", "configmap", "absent", "--from-literal=a=b", "-n", ns)
	for _, name := range []string{"needs-config", "needs-volume"} {
		waitPod(t, k, ns, name, 30*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	}
}
