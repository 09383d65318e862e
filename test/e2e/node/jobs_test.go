package node

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeshim/kubeshim/test/e2eutil"
)

// Seed step 12: a Job runs to completion and `kubectl wait` returns; its logs are there; a Job
// whose command fails ends Failed once its backoffLimit is spent.
func TestJobs(t *testing.T) {
	ks := kubectls(t)
	ns := namespace(t)
	out := ks[1].OK(t, "create", "job", "pi", "--image=busybox", "-n", ns, "--", "sh", "-c", "echo done")
	if !strings.Contains(out, "job.batch/pi created") {
		t.Errorf("create job printed %q", out)
	}
	for _, k := range ks {
		out := k.OK(t, "wait", "--for=condition=complete", "job/pi", "-n", ns, "--timeout=90s")
		if !strings.Contains(out, "job.batch/pi condition met") {
			t.Errorf("%s wait printed %q", k.Name(), out)
		}
		if logs := k.OK(t, "logs", "job/pi", "-n", ns); logs != "done\n" {
			t.Errorf("%s logs job/pi: %q", k.Name(), logs)
		}
	}
	_, rows := e2eutil.Table(t, ks[0].OK(t, "get", "job", "pi", "-n", ns))
	if rows[0]["COMPLETIONS"] != "1/1" {
		t.Errorf("job row %v", rows[0])
	}
	_, pods := e2eutil.Table(t, ks[1].OK(t, "get", "pods", "-n", ns, "-l", "job-name=pi"))
	if len(pods) != 1 || pods[0]["STATUS"] != "Completed" {
		t.Errorf("the job's pods: %v", pods)
	}

	ks[1].OKIn(t, `apiVersion: batch/v1
kind: Job
metadata:
  name: doomed
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo failing; exit 1"]
`, "create", "-n", ns, "-f", "-")
	out = ks[1].OK(t, "wait", "--for=condition=failed", "job/doomed", "-n", ns, "--timeout=90s")
	if !strings.Contains(out, "condition met") {
		t.Errorf("wait for failed printed %q", out)
	}
	desc := ks[1].OK(t, "describe", "job", "doomed", "-n", ns)
	if !strings.Contains(desc, "BackoffLimitExceeded") {
		t.Errorf("describe job doomed lacks BackoffLimitExceeded:\n%s", desc)
	}
	_, pods = e2eutil.Table(t, ks[1].OK(t, "get", "pods", "-n", ns, "-l", "job-name=doomed"))
	if len(pods) != 2 {
		t.Errorf("a job with backoffLimit 1 ran %d pods, want 2: %v", len(pods), pods)
	}
}

// A CronJob fires on its schedule and its Job completes.
func TestCronJobFires(t *testing.T) {
	k := kubectls(t)[1]
	ns := namespace(t)
	k.OK(t, "create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "-n", ns, "--", "sh", "-c", "echo tick")
	var jobs string
	e2eutil.Eventually(t, 100*time.Second, "the CronJob's first Job to complete", func() bool {
		jobs = k.OK(t, "get", "jobs", "-n", ns)
		if !strings.Contains(jobs, "tick-") {
			return false
		}
		_, rows := e2eutil.Table(t, jobs)
		return rows[0]["COMPLETIONS"] == "1/1"
	}, func() string { return jobs })
	_, rows := e2eutil.Table(t, k.OK(t, "get", "cronjob", "tick", "-n", ns))
	if rows[0]["LAST SCHEDULE"] == "<none>" || rows[0]["SCHEDULE"] != "*/1 * * * *" {
		t.Errorf("cronjob row %v", rows[0])
	}
}
