package apiserver

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/kubeshim/kubeshim/apis"
	kadmission "github.com/kubeshim/kubeshim/apiserver/admission"
	"github.com/kubeshim/kubeshim/registry/configmap"
	"github.com/kubeshim/kubeshim/registry/cronjob"
	"github.com/kubeshim/kubeshim/registry/daemonset"
	"github.com/kubeshim/kubeshim/registry/deployment"
	"github.com/kubeshim/kubeshim/registry/event"
	eventsv1rest "github.com/kubeshim/kubeshim/registry/eventsv1"
	"github.com/kubeshim/kubeshim/registry/job"
	"github.com/kubeshim/kubeshim/registry/lease"
	"github.com/kubeshim/kubeshim/registry/namespace"
	"github.com/kubeshim/kubeshim/registry/node"
	"github.com/kubeshim/kubeshim/registry/pod"
	"github.com/kubeshim/kubeshim/registry/poddisruptionbudget"
	"github.com/kubeshim/kubeshim/registry/replicaset"
	"github.com/kubeshim/kubeshim/registry/replicationcontroller"
	"github.com/kubeshim/kubeshim/registry/resource"
	"github.com/kubeshim/kubeshim/registry/secret"
	"github.com/kubeshim/kubeshim/registry/serviceaccount"
)

// apiGroups are the groups to install: core/v1 on the legacy /api path, the rest under /apis.
type apiGroups struct {
	legacy genericapiserver.APIGroupInfo
	named  []*genericapiserver.APIGroupInfo
}

func (g *apiGroups) install(s *genericapiserver.GenericAPIServer) error {
	if err := s.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &g.legacy); err != nil {
		return fmt.Errorf("install core/v1: %w", err)
	}
	if err := s.InstallAPIGroups(g.named...); err != nil {
		return fmt.Errorf("install API groups: %w", err)
	}
	return nil
}

func newGroupInfo(gv schema.GroupVersion) genericapiserver.APIGroupInfo {
	info := genericapiserver.NewDefaultAPIGroupInfo(gv.Group, apis.Scheme, apis.ParameterCodec, apis.Codecs)
	info.VersionedResourcesStorageMap[gv.Version] = map[string]rest.Storage{}
	return info
}

// addDefinitions adds the storages of simple kinds to a group.
func addDefinitions(info *genericapiserver.APIGroupInfo, version string, optsGetter generic.RESTOptionsGetter, defs ...*resource.Definition) error {
	for _, d := range defs {
		_, storages, err := d.Storages(optsGetter)
		if err != nil {
			return err
		}
		addStorages(info, version, storages)
	}
	return nil
}

func addStorages(info *genericapiserver.APIGroupInfo, version string, storages map[string]rest.Storage) {
	for path, s := range storages {
		info.VersionedResourcesStorageMap[version][path] = s
	}
}

// buildAPIGroups creates every resource's storage. It also returns the namespace getter the
// NamespaceLifecycle admission plugin reads through.
// kubelet is how pods/log, exec, attach and portforward reach the nodes' kubelets.
func buildAPIGroups(optsGetter generic.RESTOptionsGetter, kubelet pod.KubeletClientConfig) (*apiGroups, kadmission.NamespaceGetter, error) {
	g := &apiGroups{legacy: newGroupInfo(corev1.SchemeGroupVersion)}

	nsREST, nsStorages, err := namespace.Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	addStorages(&g.legacy, "v1", nsStorages)
	podStorages, err := pod.Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	// pods/eviction checks the policy/v1 PodDisruptionBudgets.
	_, pdbStorages, err := poddisruptionbudget.Definition().Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	podStorages["pods/eviction"] = podStorages["pods/eviction"].(*pod.EvictionREST).WithDisruptionBudgets(pod.DisruptionBudgets{
		Budgets: pdbStorages["poddisruptionbudgets"].(*resource.REST),
		Status:  pdbStorages["poddisruptionbudgets/status"].(rest.Updater),
	})
	addStorages(&g.legacy, "v1", podStorages)
	nodeStore, nodeStorages, err := node.Definition().Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	addStorages(&g.legacy, "v1", nodeStorages)
	kubeletConn, err := pod.NewNodeConnectionInfoGetter(nodeStore, kubelet)
	if err != nil {
		return nil, nil, err
	}
	addStorages(&g.legacy, "v1", pod.KubeletStorages(podStorages["pods"].(rest.Getter), kubeletConn))
	eventStore, eventStorages, err := event.Definition().Storages(optsGetter)
	if err != nil {
		return nil, nil, err
	}
	addStorages(&g.legacy, "v1", eventStorages)
	if err := addDefinitions(&g.legacy, "v1", optsGetter,
		configmap.Definition(), secret.Definition(),
		serviceaccount.Definition(), replicationcontroller.Definition()); err != nil {
		return nil, nil, err
	}

	named := []struct {
		gv   schema.GroupVersion
		defs []*resource.Definition
	}{
		{appsv1.SchemeGroupVersion, []*resource.Definition{deployment.Definition(), replicaset.Definition(), daemonset.Definition()}},
		{batchv1.SchemeGroupVersion, []*resource.Definition{job.Definition(), cronjob.Definition()}},
		{coordinationv1.SchemeGroupVersion, []*resource.Definition{lease.Definition()}},
	}
	for _, n := range named {
		info := newGroupInfo(n.gv)
		if err := addDefinitions(&info, n.gv.Version, optsGetter, n.defs...); err != nil {
			return nil, nil, err
		}
		g.named = append(g.named, &info)
	}
	policy := newGroupInfo(policyv1.SchemeGroupVersion)
	addStorages(&policy, "v1", pdbStorages)
	g.named = append(g.named, &policy)
	// events.k8s.io/v1 Events live in the core events storage, as in kube-apiserver.
	events := newGroupInfo(eventsv1.SchemeGroupVersion)
	events.VersionedResourcesStorageMap["v1"]["events"] = eventsv1rest.NewREST(eventStore)
	g.named = append(g.named, &events)

	getNamespace := func(ctx context.Context, name string) (*corev1.Namespace, error) {
		obj, err := nsREST.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Namespace), nil
	}
	return g, getNamespace, nil
}
