package job

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
)

const (
	// completionIndexEnvName is the variable Indexed Jobs' containers get their index in.
	completionIndexEnvName = "JOB_COMPLETION_INDEX"
	unknownCompletionIndex = -1
	// maxGeneratedNameLength leaves room for the API server's 5-character random suffix.
	maxGeneratedNameLength = 63 - 5
)

func isIndexedJob(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// interval is the closed range [first, last] of completion indexes.
type interval struct{ first, last int }

// intervals is an ordered list of disjoint, non-adjacent intervals, the form of
// status.completedIndexes ("1,3-5,7").
type intervals []interval

// parseIntervals reads a completedIndexes string, ignoring indexes >= completions.
func parseIntervals(logger klog.Logger, s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for part := range strings.SplitSeq(s, ",") {
		bounds := strings.Split(part, "-")
		first, err := strconv.Atoi(bounds[0])
		if err != nil {
			logger.Info("Corrupted indexes interval, ignoring", "interval", part, "err", err)
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(bounds) > 1 {
			if last, err = strconv.Atoi(bounds[1]); err != nil {
				logger.Info("Corrupted indexes interval, ignoring", "interval", part, "err", err)
				continue
			}
			last = min(last, completions-1)
		}
		if n := len(out); n > 0 && out[n-1].last == first-1 {
			out[n-1].last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

// with returns the intervals with the sorted indexes added.
func (is intervals) with(sorted []int) intervals {
	add := make(intervals, len(sorted))
	for i, ix := range sorted {
		add[i] = interval{ix, ix}
	}
	return is.merge(add)
}

func (is intervals) merge(other intervals) intervals {
	var out intervals
	push := func(iv interval) {
		if n := len(out); n > 0 && iv.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, iv.last)
			return
		}
		out = append(out, iv)
	}
	i, j := 0, 0
	for i < len(is) || j < len(other) {
		if j == len(other) || (i < len(is) && is[i].first < other[j].first) {
			push(is[i])
			i++
		} else {
			push(other[j])
			j++
		}
	}
	return out
}

func (is intervals) total() int {
	n := 0
	for _, iv := range is {
		n += iv.last - iv.first + 1
	}
	return n
}

func (is intervals) has(ix int) bool {
	for _, iv := range is {
		if ix < iv.first {
			return false
		}
		if ix <= iv.last {
			return true
		}
	}
	return false
}

// String formats as upstream: adjacent pairs "3,4", longer runs "3-5".
func (is intervals) String() string {
	var b strings.Builder
	for _, iv := range is {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		switch {
		case iv.last == iv.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(iv.last))
		case iv.last > iv.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.last))
		}
	}
	return b.String()
}

// completionIndex reads the pod's completion index annotation, or unknownCompletionIndex.
func completionIndex(pod *v1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return unknownCompletionIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownCompletionIndex
	}
	return i
}

// succeededIndexes returns the indexes in status.completedIndexes and those plus the
// indexes of succeeded pods not counted yet (still carrying the finalizer).
func succeededIndexes(logger klog.Logger, job *batchv1.Job, pods []*v1.Pod) (prev, cur intervals) {
	completions := int(*job.Spec.Completions)
	prev = parseIntervals(logger, job.Status.CompletedIndexes, completions)
	found := sets.New[int]()
	for _, p := range pods {
		ix := completionIndex(p)
		if p.Status.Phase == v1.PodSucceeded && ix != unknownCompletionIndex && ix < completions && hasTrackingFinalizer(p) {
			found.Insert(ix)
		}
	}
	return prev, prev.with(sets.List(found))
}

// podIndexes returns the indexes of pods.
func podIndexes(pods []*v1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p); ix != unknownCompletionIndex {
			out.Insert(ix)
		}
	}
	return out
}

// firstPendingIndexes returns up to count indexes below completions that neither succeeded
// nor have an active pod (nor, when only failed pods are replaced, a terminating one).
func firstPendingIndexes(jc *syncContext, count, completions int) []int {
	if count == 0 {
		return nil
	}
	taken := jc.succeededIndexes.with(sets.List(podIndexes(jc.activePods)))
	if onlyReplaceFailedPods(jc.job) {
		var terminating []*v1.Pod
		for _, p := range jc.pods {
			if p.DeletionTimestamp != nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
				terminating = append(terminating, p)
			}
		}
		taken = taken.with(sets.List(podIndexes(terminating)))
	}
	var out []int
	for ix := 0; ix < completions && len(out) < count; ix++ {
		if !taken.has(ix) {
			out = append(out, ix)
		}
	}
	return out
}

// duplicateIndexPodsForRemoval returns the active pods of an Indexed Job that must go: pods
// without a valid index or with one >= completions, and all but one pod of a repeated index
// (keeping the one upstream's ordering would delete last). The rest is returned as left.
func duplicateIndexPodsForRemoval(pods []*v1.Pod, completions int) (rm, left []*v1.Pod) {
	byIndex := map[int][]*v1.Pod{}
	for _, p := range pods {
		ix := completionIndex(p)
		if ix == unknownCompletionIndex || ix >= completions {
			rm = append(rm, p)
			continue
		}
		byIndex[ix] = append(byIndex[ix], p)
	}
	for _, ix := range slices.Sorted(maps.Keys(byIndex)) {
		group := byIndex[ix]
		if len(group) > 1 {
			sortActivePods(group)
		}
		rm = append(rm, group[:len(group)-1]...)
		left = append(left, group[len(group)-1])
	}
	return rm, left
}

// indexedTemplate returns the template of the pod for index: the completion index as an
// annotation and a label, the hostname JOB-INDEX.
func indexedTemplate(base *v1.PodTemplateSpec, jobName string, index int) *v1.PodTemplateSpec {
	t := base.DeepCopy()
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	t.Spec.Hostname = fmt.Sprintf("%s-%d", jobName, index)
	return t
}

// podGenerateNameWithIndex is "JOB-INDEX-", the job name cut so it fits.
func podGenerateNameWithIndex(jobName string, index int) string {
	suffix := "-" + strconv.Itoa(index) + "-"
	if len(jobName)+len(suffix) > maxGeneratedNameLength {
		jobName = jobName[:maxGeneratedNameLength-len(suffix)]
	}
	return jobName + suffix
}

// addCompletionIndexEnv gives every container JOB_COMPLETION_INDEX from the pod's
// completion-index label through the downward API, unless it sets the variable itself.
func addCompletionIndexEnv(t *v1.PodTemplateSpec) {
	add := func(c *v1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, v1.EnvVar{
			Name: completionIndexEnvName,
			ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{
				FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
			}},
		})
	}
	for i := range t.Spec.InitContainers {
		add(&t.Spec.InitContainers[i])
	}
	for i := range t.Spec.Containers {
		add(&t.Spec.Containers[i])
	}
}
