package resource

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/kubeshim/kubeshim/apis"
)

// OptionsGetter gives every resource its storage: the decorator (registry/storage's
// in-memory backend, or k8s.io/apiserver's etcd3 one with Etcd set), the codec of the group
// version it is stored in, and the keys kube-apiserver uses ("/registry/pods/…").
type OptionsGetter struct {
	Decorator generic.StorageDecorator
	// Etcd, if set, is the etcd cluster the etcd3 storage talks to.
	Etcd *storagebackend.TransportConfig
}

var _ generic.RESTOptionsGetter = OptionsGetter{}

// GetRESTOptions implements generic.RESTOptionsGetter.
func (g OptionsGetter) GetRESTOptions(gr schema.GroupResource, _ runtime.Object) (generic.RESTOptions, error) {
	versions := apis.Scheme.PrioritizedVersionsForGroup(gr.Group)
	if len(versions) == 0 {
		return generic.RESTOptions{}, fmt.Errorf("no version of group %q for %s", gr.Group, gr)
	}
	gv := versions[0]
	cfg := storagebackend.NewDefaultConfig("/registry", apis.Codecs.LegacyCodec(gv))
	cfg.EncodeVersioner = runtime.NewMultiGroupVersioner(gv, schema.GroupKind{Group: gv.Group})
	if g.Etcd != nil {
		cfg.Transport = *g.Etcd
	}
	return generic.RESTOptions{
		StorageConfig:           cfg.ForResource(gr),
		Decorator:               g.Decorator,
		EnableGarbageCollection: true,
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "/" + gr.Resource,
	}, nil
}
