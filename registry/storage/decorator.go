package storage

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/registry/generic"
	apistorage "k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/tools/cache"
)

// Decorator returns a generic.StorageDecorator building each resource's
// storage.Interface on this backend, for generic.RESTOptions.Decorator. The
// codec, key prefix and (optional) transformer come from the resource's
// storagebackend config; its transport settings are ignored. The returned
// DestroyFunc stops the view's watchers and may be called more than once.
func (b *Backend) Decorator() generic.StorageDecorator {
	return func(
		config *storagebackend.ConfigForResource,
		resourcePrefix string,
		keyFunc func(obj runtime.Object) (string, error),
		newFunc func() runtime.Object,
		newListFunc func() runtime.Object,
		getAttrsFunc apistorage.AttrFunc,
		triggerFuncs apistorage.IndexerFuncs,
		indexers *cache.Indexers,
	) (apistorage.Interface, factory.DestroyFunc, error) {
		if config == nil {
			return nil, nil, fmt.Errorf("no storage config for resource prefix %q", resourcePrefix)
		}
		s, err := b.NewStore(StoreConfig{
			Codec:          config.Codec,
			Transformer:    config.Transformer,
			Prefix:         config.Prefix,
			ResourcePrefix: resourcePrefix,
			GroupResource:  config.GroupResource,
			NewFunc:        newFunc,
			NewListFunc:    newListFunc,
			// As the etcd3 storage factory does.
			HandleCorruptObjects: utilfeature.DefaultFeatureGate.Enabled(features.AllowUnsafeMalformedObjectDeletion),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("creating in-memory storage for %v: %w", config.GroupResource, err)
		}
		return s, s.Destroy, nil
	}
}
