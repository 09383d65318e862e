// Package validation validates kubeshim's resources the way kube-apiserver does.
//
// kubeshim serves the versioned types of k8s.io/api directly, so this package is a
// smaller, versioned-type rewrite of upstream's pkg/apis/{core,apps,batch,coordination,
// autoscaling}/validation. Field paths, error types and messages follow upstream so that
// clients and tests comparing kube-apiserver's 422 responses see the same text, e.g.
//
//	spec.containers[0].image: Required value
//	spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template `labels`
//
// Like upstream, the validators expect objects that have already been defaulted
// (SetDefaults_* as the decoder applies them): an empty restartPolicy, dnsPolicy,
// imagePullPolicy, terminationMessagePolicy, port protocol or a nil
// terminationGracePeriodSeconds is reported as "Required value", as kube-apiserver would
// if its defaulting had not run.
//
// Every exported function returns a field.ErrorList; the REST strategies turn a non-empty
// list into a 422 Invalid status with apierrors.NewInvalid.
package validation
