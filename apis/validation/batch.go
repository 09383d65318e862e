package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	// The CronJob time zone is checked with time.LoadLocation; embed the zone database so
	// the answer does not depend on the host having /usr/share/zoneinfo.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels the Job strategy puts on the pod template when it generates the selector.
const (
	LegacyJobControllerUIDLabel = "controller-uid"
	LegacyJobNameLabel          = "job-name"
)

const (
	maxParallelismForIndexedJob   = 100000
	maxFailedIndexesForIndexedJob = 100_000
	maxManagedByLength            = 63
)

var supportedPodReplacementPolicies = sets.New(batchv1.Failed, batchv1.TerminatingOrFailed)

// ValidateJob validates a job on create. Like upstream, it expects the strategy to have
// generated the selector (spec.selector matching controller-uid/job-name labels on the
// template, both legacy and batch.kubernetes.io/ ones) unless spec.manualSelector is true,
// and metadata.uid to be set.
func ValidateJob(j *batchv1.Job) field.ErrorList {
	allErrs := validateObjectMeta(&j.ObjectMeta, true, validateRCName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateGeneratedSelector(j, true)...)
	allErrs = append(allErrs, validateJobSpecWithSelector(&j.Spec, field.NewPath("spec"))...)
	if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion && j.Spec.Completions != nil && *j.Spec.Completions > 0 {
		hostname := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1)
		if errs := validation.IsDNS1123Label(hostname); len(errs) > 0 {
			allErrs = append(allErrs, field.Invalid(field.NewPath("metadata").Child("name"), j.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", hostname)))
		}
	}
	return allErrs
}

// validateGeneratedSelector checks the labels a generated selector relies on.
func validateGeneratedSelector(j *batchv1.Job, requirePrefixedLabels bool) field.ErrorList {
	allErrs := field.ErrorList{}
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return allErrs
	}
	if j.Spec.Selector == nil {
		return allErrs
	}
	if j.UID == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("metadata").Child("uid"), ""))
	}
	tmplMeta := field.NewPath("spec").Child("template").Child("metadata")
	expected := map[string]string{
		LegacyJobControllerUIDLabel: string(j.UID),
		LegacyJobNameLabel:          j.Name,
	}
	allErrs = append(allErrs, validateHasLabel(j.Spec.Template.ObjectMeta, tmplMeta, LegacyJobControllerUIDLabel, string(j.UID))...)
	allErrs = append(allErrs, validateHasLabel(j.Spec.Template.ObjectMeta, tmplMeta, LegacyJobNameLabel, j.Name)...)
	if requirePrefixedLabels {
		allErrs = append(allErrs, validateHasLabel(j.Spec.Template.ObjectMeta, tmplMeta, batchv1.ControllerUidLabel, string(j.UID))...)
		allErrs = append(allErrs, validateHasLabel(j.Spec.Template.ObjectMeta, tmplMeta, batchv1.JobNameLabel, j.Name)...)
		expected[batchv1.ControllerUidLabel] = string(j.UID)
		expected[batchv1.JobNameLabel] = j.Name
	}
	if selector, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !selector.Matches(labels.Set(expected)) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec").Child("selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return allErrs
}

func validateHasLabel(meta metav1.ObjectMeta, fldPath *field.Path, key, expected string) field.ErrorList {
	actual, found := meta.Labels[key]
	if !found {
		return field.ErrorList{field.Required(fldPath.Child("labels").Key(key), fmt.Sprintf("must be '%s'", expected))}
	}
	if actual != expected {
		return field.ErrorList{field.Invalid(fldPath.Child("labels").Key(key), meta.Labels, fmt.Sprintf("must be '%s'", expected))}
	}
	return nil
}

func validateJobSpecWithSelector(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateJobSpec(spec, fldPath)
	if spec.Selector == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	} else {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return allErrs
}

func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	nonneg := func(v *int32, name string) {
		if v != nil {
			allErrs = append(allErrs, validateNonnegativeField(int64(*v), fldPath.Child(name))...)
		}
	}
	nonneg(spec.Parallelism, "parallelism")
	nonneg(spec.Completions, "completions")
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegativeField(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	nonneg(spec.BackoffLimit, "backoffLimit")
	nonneg(spec.TTLSecondsAfterFinished, "ttlSecondsAfterFinished")
	nonneg(spec.BackoffLimitPerIndex, "backoffLimitPerIndex")
	if spec.MaxFailedIndexes != nil {
		nonneg(spec.MaxFailedIndexes, "maxFailedIndexes")
		if spec.BackoffLimitPerIndex == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if spec.ManagedBy != nil {
		allErrs = append(allErrs, validation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			allErrs = append(allErrs, field.TooLong(fldPath.Child("managedBy"), "", maxManagedByLength))
		}
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		if *spec.CompletionMode != batchv1.NonIndexedCompletion && *spec.CompletionMode != batchv1.IndexedCompletion {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("completionMode"), spec.CompletionMode,
				[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
		if indexed {
			if spec.Completions == nil {
				allErrs = append(allErrs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
			}
			if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
			}
			if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
			}
			if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes,
					fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
			}
		}
	}
	if !indexed {
		if spec.BackoffLimitPerIndex != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
		if spec.SuccessPolicy != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		}
	}
	if spec.PodReplacementPolicy != nil {
		p := fldPath.Child("podReplacementPolicy")
		if spec.PodFailurePolicy != nil {
			if *spec.PodReplacementPolicy != batchv1.Failed {
				allErrs = append(allErrs, field.NotSupported(p, *spec.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		} else if !supportedPodReplacementPolicies.Has(*spec.PodReplacementPolicy) {
			allErrs = append(allErrs, field.NotSupported(p, *spec.PodReplacementPolicy, sets.List(supportedPodReplacementPolicies)))
		}
	}

	tp := fldPath.Child("template")
	allErrs = append(allErrs, ValidatePodTemplateSpec(&spec.Template, tp)...)
	rp := spec.Template.Spec.RestartPolicy
	switch {
	case rp == corev1.RestartPolicyAlways || rp == "":
		allErrs = append(allErrs, field.Required(tp.Child("spec", "restartPolicy"),
			fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp,
			[]corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		allErrs = append(allErrs, field.Invalid(tp.Child("spec", "restartPolicy"), rp,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return allErrs
}

// ValidateJobUpdate validates a job update: selector, template (unless the job is
// suspended and never started, when scheduling directives may change), completions,
// completionMode and the failure policies are immutable.
func ValidateJobUpdate(j, oldJ *batchv1.Job) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&j.ObjectMeta, &oldJ.ObjectMeta, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	spec, oldSpec := &j.Spec, &oldJ.Spec
	allErrs = append(allErrs, validateJobSpecWithSelector(spec, specPath)...)
	allErrs = append(allErrs, validateJobCompletionsUpdate(spec, oldSpec, specPath.Child("completions"))...)
	allErrs = append(allErrs, validateImmutableField(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)
	suspendedNotStarted := oldSpec.Suspend != nil && *oldSpec.Suspend && oldJ.Status.StartTime == nil
	allErrs = append(allErrs, validateJobTemplateUpdate(spec, oldSpec, suspendedNotStarted, specPath.Child("template"))...)
	allErrs = append(allErrs, validateImmutableField(spec.CompletionMode, oldSpec.CompletionMode, specPath.Child("completionMode"))...)
	allErrs = append(allErrs, validateImmutableField(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	allErrs = append(allErrs, validateImmutableField(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	allErrs = append(allErrs, validateImmutableField(spec.ManagedBy, oldSpec.ManagedBy, specPath.Child("managedBy"))...)
	allErrs = append(allErrs, validateImmutableField(spec.SuccessPolicy, oldSpec.SuccessPolicy, specPath.Child("successPolicy"))...)
	return allErrs
}

// validateJobCompletionsUpdate: completions is immutable except for Indexed jobs, where it
// may change together with parallelism (elastic indexed jobs).
func validateJobCompletionsUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		return validateImmutableField(spec.Completions, oldSpec.Completions, fldPath)
	}
	if spec.Completions == nil || (oldSpec.Completions != nil && *spec.Completions == *oldSpec.Completions) {
		return nil
	}
	if spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
		return field.ErrorList{field.Invalid(fldPath, spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", fldPath.Root().Child("parallelism").String()))}
	}
	return nil
}

func validateJobTemplateUpdate(spec, oldSpec *batchv1.JobSpec, mutableScheduling bool, fldPath *field.Path) field.ErrorList {
	oldTemplate := &oldSpec.Template
	if mutableScheduling {
		tmpl := &spec.Template
		oldTemplate = oldSpec.Template.DeepCopy()
		switch {
		case tmpl.Spec.Affinity == nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = nil
			if *oldTemplate.Spec.Affinity == (corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		case tmpl.Spec.Affinity != nil && oldTemplate.Spec.Affinity == nil:
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: tmpl.Spec.Affinity.NodeAffinity}
		case tmpl.Spec.Affinity != nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = tmpl.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = tmpl.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = tmpl.Spec.Tolerations
		oldTemplate.Annotations = tmpl.Annotations
		oldTemplate.Labels = tmpl.Labels
		oldTemplate.Spec.SchedulingGates = tmpl.Spec.SchedulingGates
	}
	return validateImmutableField(&spec.Template, oldTemplate, fldPath)
}

// ValidateJobStatusUpdate validates a write to jobs/status.
func ValidateJobStatusUpdate(j, oldJ *batchv1.Job) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&j.ObjectMeta, &oldJ.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("status")
	s := j.Status
	allErrs = append(allErrs, validateNonnegativeField(int64(s.Active), p.Child("active"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.Succeeded), p.Child("succeeded"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.Failed), p.Child("failed"))...)
	if s.Ready != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*s.Ready), p.Child("ready"))...)
	}
	if s.Terminating != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*s.Terminating), p.Child("terminating"))...)
	}
	if u := s.UncountedTerminatedPods; u != nil {
		up := p.Child("uncountedTerminatedPods")
		seen := sets.New[types.UID]()
		check := func(uids []types.UID, name string) {
			for i, uid := range uids {
				ip := up.Child(name).Index(i)
				switch {
				case uid == "":
					allErrs = append(allErrs, field.Invalid(ip, uid, "must not be empty"))
				case seen.Has(uid):
					allErrs = append(allErrs, field.Duplicate(ip, uid))
				default:
					seen.Insert(uid)
				}
			}
		}
		check(u.Succeeded, "succeeded")
		check(u.Failed, "failed")
	}
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if jobConditionTrue(oldJ.Status.Conditions, t) && !jobConditionTrue(s.Conditions, t) {
			allErrs = append(allErrs, field.Invalid(p.Child("conditions"), field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	return allErrs
}

func jobConditionTrue(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// ValidateCronJob validates a cron job on create.
func ValidateCronJob(cj *batchv1.CronJob) field.ErrorList {
	allErrs := validateObjectMeta(&cj.ObjectMeta, true, validateRCName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateCronJobSpec(&cj.Spec, nil, field.NewPath("spec"))...)
	// The controller appends an 11-character suffix to make Job names (63 max).
	if len(cj.Name) > validation.DNS1035LabelMaxLength-11 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("metadata").Child("name"), cj.Name, "must be no more than 52 characters"))
	}
	return allErrs
}

// ValidateCronJobUpdate validates a cron job update (no name length rule, as upstream).
func ValidateCronJobUpdate(cj, oldCJ *batchv1.CronJob) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cj.ObjectMeta, &oldCJ.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateCronJobSpec(&cj.Spec, &oldCJ.Spec, field.NewPath("spec"))...)
}

func validateCronJobSpec(spec, oldSpec *batchv1.CronJobSpec, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(spec.Schedule) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("schedule"), ""))
	} else {
		allowTZ := oldSpec != nil && strings.Contains(oldSpec.Schedule, "TZ")
		allErrs = append(allErrs, validateScheduleFormat(spec.Schedule, allowTZ, spec.TimeZone, fldPath.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegativeField(*spec.StartingDeadlineSeconds, fldPath.Child("startingDeadlineSeconds"))...)
	}
	if oldSpec == nil || !equalStringPtr(oldSpec.TimeZone, spec.TimeZone) {
		allErrs = append(allErrs, validateTimeZone(spec.TimeZone, fldPath.Child("timeZone"))...)
	}
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("concurrencyPolicy"), ""))
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("concurrencyPolicy"), spec.ConcurrencyPolicy,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	jtPath := fldPath.Child("jobTemplate")
	allErrs = append(allErrs, validateJobSpec(&spec.JobTemplate.Spec, jtPath.Child("spec"))...)
	if spec.JobTemplate.Spec.Selector != nil {
		allErrs = append(allErrs, field.Invalid(jtPath.Child("spec", "selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if spec.JobTemplate.Spec.ManualSelector != nil && *spec.JobTemplate.Spec.ManualSelector {
		allErrs = append(allErrs, field.NotSupported(jtPath.Child("spec", "manualSelector"), spec.JobTemplate.Spec.ManualSelector, []string{"nil", "false"}))
	}
	if spec.SuccessfulJobsHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*spec.SuccessfulJobsHistoryLimit), fldPath.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*spec.FailedJobsHistoryLimit), fldPath.Child("failedJobsHistoryLimit"))...)
	}
	return allErrs
}

func validateScheduleFormat(schedule string, allowTZ bool, timeZone *string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if err := parseCronSchedule(schedule); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		allErrs = append(allErrs, field.Invalid(fldPath, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		allErrs = append(allErrs, field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return allErrs
}

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if len(*tz) == 0 {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	allErrs := field.ErrorList{}
	if strings.EqualFold(*tz, "Local") {
		allErrs = append(allErrs, field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, tz, err.Error()))
	}
	return allErrs
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
