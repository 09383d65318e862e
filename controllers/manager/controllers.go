package manager

import (
	"fmt"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/controllers/cronjob"
	"github.com/kubeshim/kubeshim/controllers/daemonset"
	"github.com/kubeshim/kubeshim/controllers/deployment"
	"github.com/kubeshim/kubeshim/controllers/disruption"
	"github.com/kubeshim/kubeshim/controllers/garbagecollector"
	"github.com/kubeshim/kubeshim/controllers/job"
	"github.com/kubeshim/kubeshim/controllers/namespace"
	"github.com/kubeshim/kubeshim/controllers/nodeipam"
	"github.com/kubeshim/kubeshim/controllers/nodelifecycle"
	"github.com/kubeshim/kubeshim/controllers/replicaset"
	"github.com/kubeshim/kubeshim/controllers/scheduler"
	"github.com/kubeshim/kubeshim/controllers/serviceaccount"
	"github.com/kubeshim/kubeshim/controllers/ttlafterfinished"
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
	{name: "job", component: job.ComponentName, workers: 5, build: func(c clients) (runner, error) {
		return job.New(c.client, c.factory, c.recorder)
	}},
	{name: "ttl-after-finished", component: ttlafterfinished.ComponentName, workers: 5, build: func(c clients) (runner, error) {
		return ttlafterfinished.New(c.client, c.factory)
	}},
	{name: "daemonset", component: daemonset.ComponentName, workers: 2, build: func(c clients) (runner, error) {
		return daemonset.New(c.client, c.factory, c.recorder)
	}},
	{name: "disruption", component: "disruption-controller", workers: 1, build: func(c clients) (runner, error) {
		return disruption.New(c.client, c.factory, c.recorder)
	}},
	{name: "nodeipam", component: nodeipam.ComponentName, build: func(c clients) (runner, error) {
		cidrs, err := nodeipam.ParseCIDRs(c.opts.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("--cluster-cidr: %w", err)
		}
		return nodeipam.New(c.client, c.factory, c.recorder, nodeipam.Options{ClusterCIDRs: cidrs, NodeCIDRMaskSizeIPv4: c.opts.NodeCIDRMaskSize})
	}},
	{name: "nodelifecycle", component: nodelifecycle.ComponentName, workers: 1, build: func(c clients) (runner, error) {
		return nodelifecycle.New(c.client, c.factory, c.recorder, nodelifecycle.Options{NodeMonitorGracePeriod: c.opts.NodeMonitorGracePeriod})
	}},
	{name: "taint-eviction-controller", component: nodelifecycle.TaintEvictionComponentName, workers: 4, build: func(c clients) (runner, error) {
		return nodelifecycle.NewTaintEviction(c.client, c.factory, c.recorder, nil)
	}},
	{name: "cronjob", component: cronjob.ComponentName, workers: 5, build: func(c clients) (runner, error) {
		return cronjob.New(c.client, c.factory, c.recorder)
	}},
}
