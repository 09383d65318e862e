package apiserver

import (
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	basecompatibility "k8s.io/component-base/compatibility"
)

// KubernetesVersion is the Kubernetes version whose API kubeshim serves.
const KubernetesVersion = "1.37.2"

// Version is kubeshim's own version, set at build time (-ldflags -X).
var Version = "0.1.0"

// GitVersion is what /version reports: the served Kubernetes version with kubeshim's as build
// metadata, as k3s does ("v1.37.2+kubeshim.0.1.0"), so clients comparing versions see 1.37.
func GitVersion() string { return "v" + KubernetesVersion + "+kubeshim." + Version }

// effectiveVersion reports GitVersion in /version.
type effectiveVersion struct {
	basecompatibility.MutableEffectiveVersion
}

func newEffectiveVersion() effectiveVersion {
	return effectiveVersion{basecompatibility.NewEffectiveVersionFromString(KubernetesVersion, "", "")}
}

func (v effectiveVersion) Info() *apimachineryversion.Info {
	info := v.MutableEffectiveVersion.Info()
	info.GitVersion = GitVersion()
	return info
}
