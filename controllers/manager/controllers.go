package manager

import (
	"fmt"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/deployment"
	"github.com/kubeshim/kubeshim/controllers/garbagecollector"
	"github.com/kubeshim/kubeshim/controllers/namespace"
	"github.com/kubeshim/kubeshim/controllers/replicaset"
	"github.com/kubeshim/kubeshim/controllers/scheduler"
	"github.com/kubeshim/kubeshim/controllers/serviceaccount"
)

// controllers are kubeshim's controllers, in start order, named as kube-controller-manager
// names them.
var controllers = []controller{
	{name: "scheduler", component: "default-scheduler", scheduler: true, workers: 1, build: func(c clients) (runner, error) {
		return scheduler.New(c.client, c.factory, c.recorder)
	}},
	{name: "deployment", component: "deployment-controller", workers: 5, build: func(c clients) (runner, error) {
		return deployment.New(c.client, c.factory, c.recorder)
	}},
	{name: "replicaset", component: "replicaset-controller", workers: 5, build: func(c clients) (runner, error) {
		return replicaset.New(c.client, c.factory, c.recorder)
	}},
	{name: "replicationcontroller", component: "replication-controller", workers: 5, build: func(c clients) (runner, error) {
		return replicaset.NewReplicationManager(c.client, c.factory, c.recorder)
	}},
	{name: "namespace", component: "namespace-controller", build: func(c clients) (runner, error) {
		return namespace.New(c.client, c.metadata, c.discovery, c.factory)
	}},
	{name: "garbagecollector", component: garbagecollector.ComponentName, workers: 10, build: func(c clients) (runner, error) {
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.discovery))
		resources, err := garbagecollector.DeletableResources(c.discovery)
		if err != nil {
			if len(resources) == 0 {
				return nil, fmt.Errorf("discover deletable resources: %w", err)
			}
			klog.ErrorS(err, "Some API groups could not be discovered; collecting the others")
		}
		return garbagecollector.New(c.metadata, mapper, resources, c.recorder)
	}},
	{name: "serviceaccount", component: "serviceaccount-controller", build: func(c clients) (runner, error) {
		return serviceaccount.New(c.client, c.factory)
	}},
}
