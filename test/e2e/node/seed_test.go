package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// restarts is the count in a RESTARTS cell ("3 (5s ago)" → 3).
func restarts(cell string) int {
	n, _ := strconv.Atoi(strings.Fields(cell + " 0")[0])
	return n
}

// Seed step 2: busybox exits at once, so its pods show Completed and CrashLoopBackOff with
// RESTARTS growing under the back-off; deleting the deployment removes them for good.
func TestBusyboxDeploymentCrashLoops(t *testing.T) {
	ks := kubectls(t)
	oldest, newest := ks[0], ks[1]
	ns := namespace(t)
	out := newest.OK(t, "create", "deployment", "example", "--image=busybox", "--port=10000", "--replicas=5", "-n", ns)
	if !strings.Contains(out, "deployment.apps/example created") {
		t.Fatalf("create deployment printed %q", out)
	}
	seen := map[string]bool{}
	maxRestarts := 0
	var last string
	e2eutil.Eventually(t, 90*time.Second, "CrashLoopBackOff and Completed with RESTARTS ≥ 2", func() bool {
		for _, k := range []e2eutil.Kubectl{oldest, newest} {
			rows := podRows(t, k, ns)
			last = k.OK(t, "get", "pods", "-n", ns)
			if len(rows) != 5 {
				continue
			}
			for _, r := range rows {
				seen[r["STATUS"]] = true
				maxRestarts = max(maxRestarts, restarts(r["RESTARTS"]))
			}
		}
		return seen["CrashLoopBackOff"] && seen["Completed"] && maxRestarts >= 2
	}, func() string { return fmt.Sprintf("%s\nstatuses seen %v", last, seen) })
	for status := range seen {
		if !slices.Contains([]string{"Pending", "ContainerCreating", "Completed", "CrashLoopBackOff", "Running"}, status) {
			t.Errorf("unexpected STATUS %q (all seen: %v)", status, seen)
		}
	}
	// The back-off: the third start comes 10 s after the second exit at the earliest.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" &&
				!strings.Contains(s.State.Waiting.Message, "back-off 10s restarting failed") &&
				!strings.Contains(s.State.Waiting.Message, "back-off 20s restarting failed") &&
				!strings.Contains(s.State.Waiting.Message, "back-off 40s restarting failed") {
				t.Errorf("pod %s: CrashLoopBackOff message %q", p.Name, s.State.Waiting.Message)
			}
			if s.RestartCount > 0 && (s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.Reason != "Completed") {
				t.Errorf("pod %s: last state %+v", p.Name, s.LastTerminationState)
			}
		}
	}

	newest.OK(t, "delete", "deployment", "example", "-n", ns)
	e2eutil.Eventually(t, 90*time.Second, "the pods to be gone", func() bool {
		return len(podRows(t, newest, ns)) == 0
	}, func() string { return newest.OK(t, "get", "pods", "-n", ns) })
	time.Sleep(2 * time.Second)
	if rows := podRows(t, newest, ns); len(rows) != 0 {
		t.Errorf("pods came back: %v", rows)
	}
}

// Seed steps 3-5: nginx pods go ContainerCreating → Running 1/1 with an IP on the node that
// answers HTTP; a deleted replica is replaced by a new pod; the deployment's pods go with it.
func TestNginxDeploymentServes(t *testing.T) {
	ks := kubectls(t)
	oldest, newest := ks[0], ks[1]
	ns := namespace(t)
	oldest.OK(t, "create", "deployment", "multi-nginx", "--image=nginx", "--port=10001", "--replicas=3", "-n", ns)
	var rows []map[string]string
	e2eutil.Eventually(t, 60*time.Second, "3 nginx pods Running 1/1", func() bool {
		rows = podRows(t, newest, ns, "-o", "wide")
		if len(rows) != 3 {
			return false
		}
		for _, r := range rows {
			if r["STATUS"] != "Running" || r["READY"] != "1/1" {
				return false
			}
		}
		return true
	}, func() string { return newest.OK(t, "get", "pods", "-n", ns, "-o", "wide") })
	for _, r := range rows {
		if r["NODE"] != nodeName {
			t.Errorf("pod %s on node %q, want %s", r["NAME"], r["NODE"], nodeName)
		}
		if !strings.HasPrefix(r["IP"], "10.88.") {
			t.Errorf("pod %s IP %q not in 10.88.0.0/16", r["NAME"], r["IP"])
		}
		waitHTTP(t, "http://"+r["IP"]+"/", "Welcome to nginx", 20*time.Second)
	}
	// Seed step 4: delete a replica, a new one (new name, new UID) takes its place.
	victim := rows[0]["NAME"]
	oldUID := getPod(t, ns, victim).UID
	oldest.OK(t, "delete", "pod", victim, "-n", ns)
	e2eutil.Eventually(t, 60*time.Second, "a replacement pod", func() bool {
		rows = podRows(t, newest, ns)
		if len(rows) != 3 {
			return false
		}
		for _, r := range rows {
			if r["NAME"] == victim || r["STATUS"] != "Running" {
				return false
			}
		}
		return true
	}, func() string { return newest.OK(t, "get", "pods", "-n", ns) })
	for _, r := range rows {
		if getPod(t, ns, r["NAME"]).UID == oldUID {
			t.Errorf("pod %s kept the deleted pod's UID", r["NAME"])
		}
	}
	before := len(containerdIDs(t))
	newest.OK(t, "delete", "deployment", "multi-nginx", "-n", ns)
	e2eutil.Eventually(t, 60*time.Second, "the nginx pods to be gone", func() bool {
		return len(podRows(t, newest, ns)) == 0
	}, func() string { return newest.OK(t, "get", "pods", "-n", ns) })
	// Their containers are gone from containerd too.
	e2eutil.Eventually(t, 20*time.Second, "3 fewer containers in containerd", func() bool {
		return len(containerdIDs(t)) <= before-3
	}, func() string { return strings.Join(containerdIDs(t), " ") })
}

// Seed step 10: two containers of one pod talk over localhost and share an emptyDir.
func TestContainersShareLocalhostAndEmptyDir(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: pair
spec:
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: web
    image: nginx
    imagePullPolicy: IfNotPresent
    volumeMounts:
    - name: shared
      mountPath: /usr/share/nginx/html
  - name: producer
    image: busybox
    imagePullPolicy: IfNotPresent
    volumeMounts:
    - name: shared
      mountPath: /data
    command: ["sh", "-c"]
    args:
    - |
      echo "made by the producer" > /data/index.html
      while true; do
        wget -q -O /data/seen.txt http://localhost:80/index.html && echo ok >> /data/seen.txt
        sleep 1
      done
`, "apply", "-n", ns, "-f", "-")
	row := waitPod(t, k, ns, "pair", 60*time.Second, "Running 2/2", func(r map[string]string) bool {
		return r["STATUS"] == "Running" && r["READY"] == "2/2"
	})
	ip := row["IP"]
	// nginx serves what the producer wrote into the shared emptyDir…
	waitHTTP(t, "http://"+ip+"/index.html", "made by the producer", 20*time.Second)
	// …and the producer reached nginx over localhost.
	waitHTTP(t, "http://"+ip+"/seen.txt", "made by the producer\nok", 20*time.Second)
}

// Seed step 7: the cadvisor manifest rewritten with hostPath: read-only mounts are read-only,
// and hostPort 4194 reaches containerPort 8080.
func TestHostPathAndHostPort(t *testing.T) {
	k := kubectls(t)[0]
	ns := namespace(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k.OKIn(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: cadvisor
spec:
  containers:
  - name: cadvisor
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c"]
    args:
    - |
      mkdir -p /www
      cp /rootfs/hello.txt /www/index.html
      if touch /rootfs/written 2>/dev/null; then echo writable > /www/ro.txt; else echo read-only > /www/ro.txt; fi
      exec httpd -f -p 8080 -h /www
    ports:
    - containerPort: 8080
      hostPort: 4194
      protocol: TCP
    volumeMounts:
    - name: rootfs
      mountPath: /rootfs
      readOnly: true
  volumes:
  - name: rootfs
    hostPath:
      path: %s
`, hostDir), "create", "-n", ns, "-f", "-")
	waitPod(t, k, ns, "cadvisor", 60*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	url := "http://" + e2eutil.NodeIP + ":4194/"
	waitHTTP(t, url+"index.html", "from the host", 20*time.Second)
	waitHTTP(t, url+"ro.txt", "read-only", 5*time.Second)
	if _, err := os.Stat(filepath.Join(hostDir, "written")); err == nil {
		t.Error("the container wrote through a read-only hostPath mount")
	}
}

// Seed step 7: an image that cannot be pulled shows ErrImagePull, then ImagePullBackOff.
func TestImagePullErrors(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	ks[1].OK(t, "run", "nope", "--image=kubeshim-e2e/no-such-image:v1", "-n", ns)
	seen := map[string]bool{}
	var last string
	e2eutil.Eventually(t, 60*time.Second, "ErrImagePull then ImagePullBackOff", func() bool {
		for _, k := range ks {
			last = k.OK(t, "get", "pod", "nope", "-n", ns)
			_, rows := e2eutil.Table(t, last)
			seen[rows[0]["STATUS"]] = true
		}
		return seen["ErrImagePull"] && seen["ImagePullBackOff"]
	}, func() string { return fmt.Sprintf("%s\nseen %v\n%s", last, seen, describe(t, ns, "nope")) })
	pod := getPod(t, ns, "nope")
	if pod.Status.Phase != "Pending" {
		t.Errorf("phase %s, want Pending", pod.Status.Phase)
	}
	events := ks[1].OK(t, "get", "events", "-n", ns)
	for _, want := range []string{"Failed to pull image \"kubeshim-e2e/no-such-image:v1\"", "Back-off pulling image"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
}

// Seed step 11: restartPolicy OnFailure and Never end in Completed / Error with the phases
// Succeeded / Failed; a memory hog over its limit is OOMKilled.
func TestRestartPoliciesAndOOM(t *testing.T) {
	ks := kubectls(t)
	k := ks[1]
	ns := namespace(t)
	k.OK(t, "run", "onfailure-ok", "--image=busybox", "--image-pull-policy=IfNotPresent", "--restart=OnFailure", "-n", ns, "--", "sh", "-c", "exit 0")
	k.OK(t, "run", "never-fails", "--image=busybox", "--image-pull-policy=IfNotPresent", "--restart=Never", "-n", ns, "--", "sh", "-c", "exit 3")
	k.OK(t, "run", "onfailure-retries", "--image=busybox", "--image-pull-policy=IfNotPresent", "--restart=OnFailure", "-n", ns, "--", "sh", "-c", "exit 1")
	k.OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "tail /dev/zero"]
    resources:
      limits:
        memory: 24Mi
`, "create", "-n", ns, "-f", "-")
	for _, tc := range []struct{ name, status, phase string }{
		{"onfailure-ok", "Completed", "Succeeded"},
		{"never-fails", "Error", "Failed"},
		{"hog", "OOMKilled", "Failed"},
	} {
		for _, kc := range ks {
			waitPod(t, kc, ns, tc.name, 60*time.Second, tc.status, func(r map[string]string) bool { return r["STATUS"] == tc.status })
		}
		if p := getPod(t, ns, tc.name); string(p.Status.Phase) != tc.phase {
			t.Errorf("pod %s phase %s, want %s", tc.name, p.Status.Phase, tc.phase)
		}
	}
	if s := getPod(t, ns, "never-fails").Status.ContainerStatuses[0]; s.State.Terminated == nil || s.State.Terminated.ExitCode != 3 || s.RestartCount != 0 {
		t.Errorf("never-fails: %+v", s)
	}
	// OnFailure with a failure restarts under the back-off.
	waitPod(t, k, ns, "onfailure-retries", 60*time.Second, "restarted", func(r map[string]string) bool {
		return restarts(r["RESTARTS"]) >= 1
	})
}

// Seed step 5: delete sends SIGTERM, which the container sees, then removes the pod; a
// container that ignores SIGTERM is killed when the grace period ends.
func TestDeleteSendsSIGTERM(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	hostDir := t.TempDir()
	k.OKIn(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: polite
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo got SIGTERM > /out/term; exit 0' TERM; echo started > /out/started; while true; do sleep 0.2; done"]
    volumeMounts: [{name: out, mountPath: /out}]
  volumes:
  - name: out
    hostPath: {path: %s}
---
apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"]
`, hostDir), "create", "-n", ns, "-f", "-")
	for _, name := range []string{"polite", "stubborn"} {
		waitPod(t, k, ns, name, 60*time.Second, "Running", func(r map[string]string) bool { return r["STATUS"] == "Running" })
	}
	e2eutil.Eventually(t, 10*time.Second, "the container to start", func() bool {
		_, err := os.Stat(filepath.Join(hostDir, "started"))
		return err == nil
	}, nil)
	start := time.Now()
	out := k.OK(t, "delete", "pod", "polite", "-n", ns)
	if !strings.Contains(out, `pod "polite" deleted`) {
		t.Errorf("delete printed %q", out)
	}
	got, err := os.ReadFile(filepath.Join(hostDir, "term"))
	if err != nil || string(got) != "got SIGTERM\n" {
		t.Errorf("the container did not see SIGTERM: %q %v", got, err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("a container that exits on SIGTERM took %v to delete", d)
	}
	start = time.Now()
	k.OK(t, "delete", "pod", "stubborn", "-n", ns)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("a container that ignores SIGTERM was gone after %v, before its 2 s grace period", d)
	}
	if r := k.Run(t, "", "get", "pod", "stubborn", "-n", ns); r.Code == 0 || !strings.Contains(r.Stderr, "NotFound") {
		t.Errorf("pod still there: %+v", r)
	}
}
