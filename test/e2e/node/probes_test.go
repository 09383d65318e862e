package node

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// Seed step 11: the seed's exec probe, "a file was written in the last 5 minutes", keeps the pod
// Ready while the writer writes; once the writer stops (its folder goes), the liveness probe
// fails and the container is restarted: RESTARTS grows and describe shows Unhealthy.
func TestSeedExecProbe(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	ks[1].OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: alerts
spec:
  containers:
  - name: writer
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c"]
    args:
    - |
      mkdir -p /tmp/alerts
      for i in 1 2 3 4 5 6; do date > /tmp/alerts/last; sleep 1; done
      rm -rf /tmp/alerts
      while true; do sleep 1; done
    readinessProbe:
      exec:
        command: ["sh", "-c", "find /tmp/alerts -mmin -5 | grep ."]
      periodSeconds: 1
    livenessProbe:
      exec:
        command: ["sh", "-c", "find /tmp/alerts -mmin -5 | grep ."]
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
`, "create", "-n", ns, "-f", "-")
	for _, k := range ks {
		waitPod(t, k, ns, "alerts", 30*time.Second, "Ready 1/1", func(r map[string]string) bool {
			return r["READY"] == "1/1" && r["STATUS"] == "Running"
		})
	}
	row := waitPod(t, ks[0], ns, "alerts", 60*time.Second, "restarted by its liveness probe", func(r map[string]string) bool {
		return restarts(r["RESTARTS"]) >= 1
	})
	if row["RESTARTS"] == "" {
		t.Fatal("no RESTARTS column")
	}
	for _, k := range ks {
		var out string
		e2eutil.Eventually(t, 20*time.Second, "describe to show the failed probes", func() bool {
			out = k.OK(t, "describe", "pod", "alerts", "-n", ns)
			return strings.Contains(out, "Unhealthy") && strings.Contains(out, "Liveness probe failed") &&
				strings.Contains(out, "failed liveness probe, will be restarted")
		}, func() string { return out })
		if !strings.Contains(out, "Liveness:") || !strings.Contains(out, "Readiness:") {
			t.Errorf("%s: describe does not show the probes:\n%s", k.Name(), out)
		}
	}
	// The restarted container writes again and becomes Ready again.
	waitPod(t, ks[1], ns, "alerts", 30*time.Second, "Ready again", func(r map[string]string) bool { return r["READY"] == "1/1" })
}

// HTTP and TCP readiness probes hold READY at 0/1 until the server answers, then 1/1.
func TestHTTPAndTCPReadiness(t *testing.T) {
	k := kubectls(t)[0]
	ns := namespace(t)
	k.OKIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: slow-http
spec:
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/ready && sleep 4 && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: slow-tcp
spec:
  containers:
  - name: tcp
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && sleep 4 && exec httpd -f -p 9000 -h /www"]
    readinessProbe:
      tcpSocket: {port: 9000}
      periodSeconds: 1
`, "create", "-n", ns, "-f", "-")
	for _, name := range []string{"slow-http", "slow-tcp"} {
		waitPod(t, k, ns, name, 30*time.Second, "Running but not ready", func(r map[string]string) bool {
			return r["STATUS"] == "Running" && r["READY"] == "0/1"
		})
	}
	for _, name := range []string{"slow-http", "slow-tcp"} {
		waitPod(t, k, ns, name, 30*time.Second, "ready", func(r map[string]string) bool { return r["READY"] == "1/1" })
		if p := getPod(t, ns, name); p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("%s restarted: a readiness probe must never kill", name)
		}
	}
}
