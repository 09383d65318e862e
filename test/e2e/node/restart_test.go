package node

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// An image no archive brought is pulled from a registry: here one the test serves.
func TestPullFromRegistry(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := e2eutil.ServeImage(l, filepath.Join(e2eutil.ImagesDir(), "busybox.tar"), "e2e/hello", "v1")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	image := reg.Addr + "/e2e/hello:v1"
	k.OK(t, "run", "pulled", "--image="+image, "--restart=Never", "-n", ns, "--", "sh", "-c", "echo pulled")
	waitPod(t, k, ns, "pulled", 60*time.Second, "Completed", func(r map[string]string) bool { return r["STATUS"] == "Completed" })
	if reg.Pulls.Load() == 0 {
		t.Error("the registry served no manifest")
	}
	s := getPod(t, ns, "pulled").Status.ContainerStatuses[0]
	if !strings.Contains(s.Image, "e2e/hello:v1") || s.ImageID == "" {
		t.Errorf("image %q imageID %q", s.Image, s.ImageID)
	}
	if !strings.Contains(k.OK(t, "get", "events", "-n", ns), "Successfully pulled image") {
		t.Error("no Pulled event")
	}
}

// Killing kubeshim and starting it again leaves running containers running: the kubelet
// adopts them (same container, no restart) and they keep serving throughout.
func TestKubeshimRestartKeepsContainers(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OK(t, "run", "survivor", "--image=nginx", "--image-pull-policy=IfNotPresent", "-n", ns)
	k.OK(t, "create", "deployment", "kept", "--image=busybox", "--replicas=2", "-n", ns, "--", "sleep", "3600")
	row := waitPod(t, k, ns, "survivor", 60*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	keptPods := func() string {
		out := k.OK(t, "get", "pods", "-n", ns, "-l", "app=kept", "-o", "jsonpath={range .items[*]}{.metadata.uid} {.status.phase} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}")
		return out
	}
	var keptBefore string
	e2eutil.Eventually(t, 60*time.Second, "the deployment's 2 pods Running", func() bool {
		keptBefore = keptPods()
		return strings.Count(keptBefore, " Running 0") == 2
	}, func() string { return keptBefore })
	url := "http://" + row["IP"] + "/"
	waitHTTP(t, url, "Welcome to nginx", 20*time.Second)
	before := getPod(t, ns, "survivor").Status.ContainerStatuses[0]

	cluster.Kill()
	// The container keeps serving while kubeshim is down.
	if body, err := httpGet(url); err != nil || !strings.Contains(body, "Welcome to nginx") {
		t.Errorf("with kubeshim down the pod does not answer: %v", err)
	}
	if err := cluster.Restart(); err != nil {
		t.Fatalf("restart kubeshim: %v", err)
	}
	// Give the kubelet time to look at the pod again; nothing may change.
	time.Sleep(5 * time.Second)
	row = waitPod(t, k, ns, "survivor", 30*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	after := getPod(t, ns, "survivor").Status.ContainerStatuses[0]
	if after.ContainerID != before.ContainerID || after.RestartCount != 0 || after.State.Running == nil ||
		!after.State.Running.StartedAt.Equal(&before.State.Running.StartedAt) {
		t.Errorf("container not adopted as it was:\nbefore %+v\nafter  %+v", before, after)
	}
	if row["IP"] != strings.TrimPrefix(strings.TrimSuffix(url, "/"), "http://") {
		t.Errorf("pod IP changed: %s → %s", url, row["IP"])
	}
	waitHTTP(t, url, "Welcome to nginx", 10*time.Second)
	// The Deployment, its ReplicaSet and its pods came back from the log, and nothing was
	// restarted or duplicated.
	if after := keptPods(); after != keptBefore {
		t.Errorf("the deployment's pods changed across the restart:\nbefore %s\nafter  %s", keptBefore, after)
	}
	if out := k.OK(t, "get", "replicasets", "-n", ns, "-o", "name"); strings.Count(out, "replicaset.apps/kept-") != 1 {
		t.Errorf("replicasets after the restart: %q", out)
	}
}
