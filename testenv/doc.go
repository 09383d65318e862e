// Package testenv runs kubeshim's API server inside a Go test process, as envtest does for
// kube-apiserver and etcd, but with no binaries to download and no child processes: the
// server, its in-memory storage and, on request, kubeshim's controllers and a simulated node
// run as goroutines of the test and are gone again after Env.Stop.
//
// A test starts an environment, talks to it with any client through Env.Config (an admin
// identity, in group system:masters, over HTTPS on a free port of 127.0.0.1) and stops it:
//
//	env := testenv.StartT(t, testenv.Options{Controllers: true, SimulatedNode: true})
//	client := kubernetes.NewForConfigOrDie(env.Config)
//
// StartT stops the environment when the test ends; Start leaves that to the caller.
//
// What runs:
//   - The API server of `kubeshim up`: every resource kubeshim serves, x509 authentication
//     from a CA made for the environment, admission, and the namespaces every cluster has
//     (default, kube-system, kube-public, kube-node-lease). Storage is in memory and is
//     discarded by Stop, as is the data directory (certificates and kubeconfig) unless
//     Options.DataDir names one.
//   - With Options.Controllers, kubeshim's controllers (Deployment, ReplicaSet, scheduler,
//     namespace, garbage collector, service account, …; Options.ControllerSelection picks
//     some), with the identities `kubeshim up` gives them.
//   - With Options.SimulatedNode, one Ready Node (Options.NodeName) whose pods become Running
//     and Ready at once, with IPs but no containers, and whose deleted pods go at once.
//     Pods reach it through the scheduler (Options.Controllers) or a spec.nodeName of their
//     own.
//
// Start returns once the server reports ready on /readyz (and the simulated node is
// registered); BenchmarkStart measures how long that takes. Stop stops
// the node, the controllers and the server in that order, closes the listener, and removes
// the temporary data directory; no goroutine of the environment outlives it.
package testenv
