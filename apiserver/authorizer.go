package apiserver

import (
	"context"
	"slices"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Groups whose members may do everything. system:masters is the cluster admin group, as in
// kube-apiserver; kubeshim's own components (controllers, kubelets) get their group too.
var privilegedGroups = []string{user.SystemPrivilegedGroup, user.NodesGroup, ControllersGroup}

// ControllersGroup is the group of the client certificates of kubeshim's controllers.
const ControllersGroup = "kubeshim:controllers"

// groupAuthorizer allows members of the privileged groups and has no opinion otherwise, so
// everybody else is denied with 403.
type groupAuthorizer struct{}

var (
	_ authorizer.Authorizer   = groupAuthorizer{}
	_ authorizer.RuleResolver = groupAuthorizer{}
)

func (groupAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if u := a.GetUser(); u != nil && privileged(u) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (g groupAuthorizer) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(g.Authorize(ctx, a))
}

func (groupAuthorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func (groupAuthorizer) RulesFor(_ context.Context, u user.Info, _ string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if !privileged(u) {
		return nil, nil, false, nil
	}
	return []authorizer.ResourceRuleInfo{&authorizer.DefaultResourceRuleInfo{
			Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
		}},
		[]authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{
			Verbs: []string{"*"}, NonResourceURLs: []string{"*"},
		}}, false, nil
}

func privileged(u user.Info) bool {
	for _, g := range u.GetGroups() {
		if slices.Contains(privilegedGroups, g) {
			return true
		}
	}
	return false
}
