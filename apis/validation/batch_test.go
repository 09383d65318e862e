package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(j *batchv1.Job)
		wants  []want
	}{
		{name: "valid", mutate: func(*batchv1.Job) {}},
		{name: "valid OnFailure", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }},
		{name: "valid indexed", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](5)
			j.Spec.Parallelism = ptr.To[int32](5)
		}},
		{name: "valid manual selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels = map[string]string{"app": "pi"}
		}},
		{name: "restartPolicy Always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			wants: []want{req("spec.template.spec.restartPolicy").withMsg(`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`)}},
		{name: "restartPolicy unknown", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Sometimes" },
			wants: []want{unsup("spec.template.spec.restartPolicy").withMsg(`spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"`)}},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) },
			wants: []want{inv("spec.parallelism").withMsg("spec.parallelism: Invalid value: -1: must be greater than or equal to 0")}},
		{name: "negative completions", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](-1) },
			wants: []want{inv("spec.completions")}},
		{name: "negative backoffLimit", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) },
			wants: []want{inv("spec.backoffLimit")}},
		{name: "negative activeDeadlineSeconds", mutate: func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1) },
			wants: []want{inv("spec.activeDeadlineSeconds")}},
		{name: "negative ttlSecondsAfterFinished", mutate: func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) },
			wants: []want{inv("spec.ttlSecondsAfterFinished")}},
		{name: "completionMode unsupported", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Sharded")) },
			wants: []want{unsup("spec.completionMode").withMsg(`spec.completionMode: Unsupported value: "Sharded": supported values: "NonIndexed", "Indexed"`)}},
		{name: "indexed without completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, wants: []want{req("spec.completions").withMsg("spec.completions: Required value: when completion mode is Indexed")}},
		{name: "backoffLimitPerIndex needs indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			wants: []want{inv("spec.backoffLimitPerIndex").withMsg("spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode")}},
		{name: "maxFailedIndexes needs backoffLimitPerIndex", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.MaxFailedIndexes = ptr.To[int32](1)
		}, wants: []want{req("spec.backoffLimitPerIndex")}},
		{name: "indexed name too long for pod hostnames", mutate: func(j *batchv1.Job) {
			name := strings.Repeat("a", 62)
			j.Name = name
			j.Spec.Template.Labels[LegacyJobNameLabel] = name
			j.Spec.Template.Labels[batchv1.JobNameLabel] = name
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
		}, wants: []want{inv("metadata.name")}},
		{name: "selector missing", mutate: func(j *batchv1.Job) { j.Spec.Selector = nil },
			wants: []want{req("spec.selector")}},
		{name: "selector does not match template", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels = map[string]string{"app": "other"}
		}, wants: []want{inv("spec.template.metadata.labels").withMsg(selectorMismatch)}},
		{name: "generated labels missing", mutate: func(j *batchv1.Job) {
			delete(j.Spec.Template.Labels, batchv1.JobNameLabel)
		}, wants: []want{req("spec.template.metadata.labels[batch.kubernetes.io/job-name]").withMsg("spec.template.metadata.labels[batch.kubernetes.io/job-name]: Required value: must be 'pi'")}},
		{name: "generated selector tampered", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels["app"] = "pi"
		}, wants: []want{inv("spec.selector").withMsg("spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"pi\"}}: `selector` not auto-generated")}},
		{name: "uid missing with generated selector", mutate: func(j *batchv1.Job) { j.UID = "" },
			wants: []want{req("metadata.uid")}},
		{name: "template validated", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "" },
			wants: []want{req("spec.template.spec.containers[0].image").withMsg("spec.template.spec.containers[0].image: Required value")}},
		{name: "podFailurePolicy needs Never", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{}
		}, wants: []want{inv("spec.template.spec.restartPolicy")}},
		{name: "podReplacementPolicy unsupported", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.PodReplacementPolicy("Never"))
		}, wants: []want{unsup("spec.podReplacementPolicy")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(j)
			expectErrs(t, ValidateJob(j), tc.wants...)
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(j *batchv1.Job)
		mutate func(j *batchv1.Job)
		wants  []want
	}{
		{name: "parallelism and suspend may change", mutate: func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To[int32](3)
			j.Spec.Suspend = ptr.To(true)
		}},
		{name: "selector immutable", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: jobUID, "x": "y"}}
			j.Spec.Template.Labels["x"] = "y"
		}, wants: []want{inv("spec.selector")}},
		{name: "template immutable", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:2" },
			wants: []want{inv("spec.template").withPrefix("spec.template: Invalid value:")}},
		{name: "completions immutable for NonIndexed", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](2) },
			wants: []want{inv("spec.completions").withMsg("spec.completions: Invalid value: 2: field is immutable")}},
		{name: "completionMode immutable", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, wants: []want{inv("spec.completionMode")}},
		{name: "indexed completions change with parallelism",
			old: func(j *batchv1.Job) {
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Spec.Completions = ptr.To[int32](3)
				j.Spec.Parallelism = ptr.To[int32](3)
			},
			mutate: func(j *batchv1.Job) {
				j.Spec.Completions = ptr.To[int32](5)
				j.Spec.Parallelism = ptr.To[int32](5)
			}},
		{name: "indexed completions alone",
			old: func(j *batchv1.Job) {
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Spec.Completions = ptr.To[int32](3)
				j.Spec.Parallelism = ptr.To[int32](3)
			},
			mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](5) },
			wants:  []want{inv("spec.completions").withMsg("spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism")}},
		{name: "suspended unstarted job may change node selector",
			old:    func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) },
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }},
		{name: "started job may not change node selector",
			old: func(j *batchv1.Job) {
				j.Spec.Suspend = ptr.To(true)
				j.Status.StartTime = &metav1.Time{}
			},
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
			wants:  []want{inv("spec.template")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validJob()
			if tc.old != nil {
				tc.old(old)
			}
			j := old.DeepCopy()
			tc.mutate(j)
			expectErrs(t, ValidateJobUpdate(j, old), tc.wants...)
		})
	}
}

func TestValidateJobStatusUpdate(t *testing.T) {
	complete := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	old := validJob()
	old.Status = batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{complete}}

	j := old.DeepCopy()
	j.Status.Ready = ptr.To[int32](0)
	expectErrs(t, ValidateJobStatusUpdate(j, old))

	j = old.DeepCopy()
	j.Status.Active = -1
	expectErrs(t, ValidateJobStatusUpdate(j, old), inv("status.active"))

	j = old.DeepCopy()
	j.Status.Conditions = nil
	expectErrs(t, ValidateJobStatusUpdate(j, old), inv("status.conditions").withMsg("status.conditions: Invalid value: cannot disable the terminal Complete=True condition"))

	j = old.DeepCopy()
	j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}, Failed: []types.UID{"a", ""}}
	expectErrs(t, ValidateJobStatusUpdate(j, old), dup("status.uncountedTerminatedPods.failed[0]"), inv("status.uncountedTerminatedPods.failed[1]"))
}

func TestValidateCronJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(cj *batchv1.CronJob)
		wants  []want
	}{
		{name: "valid", mutate: func(*batchv1.CronJob) {}},
		{name: "valid descriptor and time zone", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "@hourly"
			cj.Spec.TimeZone = ptr.To("Europe/Paris")
		}},
		{name: "schedule missing", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" },
			wants: []want{req("spec.schedule")}},
		{name: "schedule unparsable", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every minute" },
			wants: []want{inv("spec.schedule").withMsg(`spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]`)}},
		{name: "schedule out of range", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" },
			wants: []want{inv("spec.schedule").withMsg(`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`)}},
		{name: "TZ in schedule", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" },
			wants: []want{inv("spec.schedule").withMsg(`spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`)}},
		{name: "unknown time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") },
			wants: []want{inv("spec.timeZone")}},
		{name: "Local time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") },
			wants: []want{inv("spec.timeZone")}},
		{name: "concurrencyPolicy unsupported", mutate: func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" },
			wants: []want{unsup("spec.concurrencyPolicy").withMsg(`spec.concurrencyPolicy: Unsupported value: "Queue": supported values: "Allow", "Forbid", "Replace"`)}},
		{name: "concurrencyPolicy not defaulted", mutate: func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "" },
			wants: []want{req("spec.concurrencyPolicy")}},
		{name: "job template restartPolicy Always", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, wants: []want{req("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{name: "job template with selector", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, wants: []want{inv("spec.jobTemplate.spec.selector")}},
		{name: "negative history limit", mutate: func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) },
			wants: []want{inv("spec.failedJobsHistoryLimit")}},
		{name: "negative startingDeadlineSeconds", mutate: func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1) },
			wants: []want{inv("spec.startingDeadlineSeconds")}},
		{name: "name over 52 characters", mutate: func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("c", 53) },
			wants: []want{inv("metadata.name").withPrefix(`metadata.name: Invalid value: "ccc`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := validCronJob()
			tc.mutate(cj)
			expectErrs(t, ValidateCronJob(cj), tc.wants...)
		})
	}
}

func TestValidateCronJobUpdate(t *testing.T) {
	old := validCronJob()
	old.Name = strings.Repeat("c", 53) // created before the limit: still updatable
	cj := old.DeepCopy()
	cj.Spec.Schedule = "0 3 * * MON-FRI"
	expectErrs(t, ValidateCronJobUpdate(cj, old))

	cj.Spec.Schedule = "0 3 * * 7"
	expectErrs(t, ValidateCronJobUpdate(cj, old), inv("spec.schedule"))

	// A legacy TZ= schedule stays updatable, but not together with timeZone.
	old.Spec.Schedule = "TZ=UTC 0 * * * *"
	cj = old.DeepCopy()
	expectErrs(t, ValidateCronJobUpdate(cj, old))
	cj.Spec.TimeZone = ptr.To("UTC")
	expectErrs(t, ValidateCronJobUpdate(cj, old), inv("spec.schedule"))
}

func TestParseCronSchedule(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
	}{
		{spec: "* * * * *"},
		{spec: "*/15 0-6,18-23 1,15 */2 1-5"},
		{spec: "0 0 ? JAN,jul sun"},
		{spec: "30 2 * * SAT"},
		{spec: "5/10 * * * *"},
		{spec: "@daily"},
		{spec: "@every 1h30m"},
		{spec: "CRON_TZ=Asia/Tokyo 0 9 * * *"},
		{spec: "", wantErr: "empty spec string"},
		{spec: "* * * *", wantErr: "expected exactly 5 fields, found 4: [* * * *]"},
		{spec: "* * * * * *", wantErr: "expected exactly 5 fields, found 6: [* * * * * *]"},
		{spec: "* 24 * * *", wantErr: "end of range (24) above maximum (23): 24"},
		{spec: "* * 0 * *", wantErr: "beginning of range (0) below minimum (1): 0"},
		{spec: "* * * 13 *", wantErr: "end of range (13) above maximum (12): 13"},
		{spec: "5-1 * * * *", wantErr: "beginning of range (5) beyond end of range (1): 5-1"},
		{spec: "*/0 * * * *", wantErr: "step of range should be a positive number: */0"},
		{spec: "1-2-3 * * * *", wantErr: "too many hyphens: 1-2-3"},
		{spec: "*/2/3 * * * *", wantErr: "too many slashes: */2/3"},
		{spec: "x * * * *", wantErr: `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`},
		{spec: "* * * FOO *", wantErr: `failed to parse int from FOO: strconv.Atoi: parsing "FOO": invalid syntax`},
		{spec: "@fortnightly", wantErr: "unrecognized descriptor: @fortnightly"},
		{spec: "@every forever", wantErr: `failed to parse duration @every forever: time: invalid duration "forever"`},
		{spec: "TZ=Nowhere/City 0 * * * *", wantErr: "provided bad location Nowhere/City: unknown time zone Nowhere/City"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			err := parseCronSchedule(tc.spec)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
