package manager

// controllers are kubeshim's controllers, in start order, named as kube-controller-manager
// names them.
var controllers = []controller{}
