package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// matchPodFailurePolicy matches a failed pod against the rules, first match wins. It returns
// the Job failure message of a FailJob rule, whether the failure counts against
// backoffLimit (not for Ignore), and the matched action. FailIndex counts as a failure:
// backoffLimitPerIndex is not implemented.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *v1.Pod) (*string, bool, *batchv1.PodFailurePolicyAction) {
	if policy == nil {
		return nil, true, nil
	}
	for i, rule := range policy.Rules {
		action := rule.Action
		switch {
		case rule.OnExitCodes != nil:
			cs := matchOnExitCodes(&pod.Status, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			switch action {
			case batchv1.PodFailurePolicyActionIgnore:
				return nil, false, &action
			case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
				return nil, true, &action
			case batchv1.PodFailurePolicyActionFailJob:
				msg := fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
					cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, action, i)
				return &msg, true, &action
			}
		case rule.OnPodConditions != nil:
			cond := matchOnPodConditions(&pod.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			switch action {
			case batchv1.PodFailurePolicyActionIgnore:
				return nil, false, &action
			case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
				return nil, true, &action
			case batchv1.PodFailurePolicyActionFailJob:
				msg := fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
					pod.Namespace, pod.Name, cond.Type, action, i)
				return &msg, true, &action
			}
		}
	}
	return nil, true, nil
}

func matchOnExitCodes(status *v1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *v1.ContainerStatus {
	if cs := matchingContainer(status.ContainerStatuses, req); cs != nil {
		return cs
	}
	return matchingContainer(status.InitContainerStatuses, req)
}

func matchingContainer(statuses []v1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *v1.ContainerStatus {
	for i := range statuses {
		cs := &statuses[i]
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		in := slices.Contains(req.Values, cs.State.Terminated.ExitCode)
		switch req.Operator {
		case batchv1.PodFailurePolicyOnExitCodesOpIn:
			if in {
				return cs
			}
		case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
			if !in {
				return cs
			}
		}
	}
	return nil
}

func matchOnPodConditions(status *v1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *v1.PodCondition {
	for i := range status.Conditions {
		c := &status.Conditions[i]
		for _, p := range patterns {
			if c.Type == p.Type && c.Status == p.Status {
				return c
			}
		}
	}
	return nil
}

// failJobMessage returns the message of the first failed pod matching a FailJob rule.
func failJobMessage(job *batchv1.Job, pods []*v1.Pod) *string {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if isPodFailed(p, job) {
			if msg, _, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); msg != nil {
				return msg
			}
		}
	}
	return nil
}

// matchSuccessPolicy reports whether the succeeded indexes meet a rule of an Indexed Job's
// successPolicy, with upstream's message.
func matchSuccessPolicy(logger klog.Logger, policy *batchv1.SuccessPolicy, completions int32, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		msg := fmt.Sprintf("Matched rules at index %d", i)
		if rule.SucceededIndexes != nil {
			required := parseIntervals(logger, *rule.SucceededIndexes, int(completions))
			if len(required) == 0 {
				continue
			}
			contained := 0
			for _, r := range required {
				for _, s := range succeeded {
					if n := min(r.last, s.last) - max(r.first, s.first) + 1; n > 0 {
						contained += n
					}
				}
			}
			if contained == required.total() || (rule.SucceededCount != nil && contained >= int(*rule.SucceededCount)) {
				return msg, true
			}
		} else if rule.SucceededCount != nil && succeeded.total() >= int(*rule.SucceededCount) {
			return msg, true
		}
	}
	return "", false
}
