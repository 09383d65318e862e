package storage

// This file runs k8s.io/apiserver's storage conformance suite
// (k8s.io/apiserver/pkg/storage/testing), the one the etcd3 store and the
// watch cache pass, against the in-memory store, set up the way the etcd3
// store's own tests do (example API group, "test!" prefix transformer).
//
// Every Run* function of store_tests.go and watcher_tests.go runs below,
// including the transformer-based ones (the store applies the config's
// value.Transformer) and the AllowUnsafeMalformedObjectDeletion ones.
// Not run here:
//   - RunBenchmark* (store_benchmarks.go): benchmarks, not conformance tests;
//     bench_test.go runs RunBenchmarkStoreList and RunBenchmarkStoreStats.
//   - The cacher-only assertions of RunTestList (watchCacheEnabled,
//     expectCacherRequestsToEtcd) are off, as in the etcd3 store's tests.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/features"
	apistorage "k8s.io/apiserver/pkg/storage"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

const testTransformerPrefix = "test!"

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

func newPod() runtime.Object     { return &example.Pod{} }
func newPodList() runtime.Object { return &example.PodList{} }

type setup struct {
	handleCorrupt bool
	opts          Options
	codec         runtime.Codec
	transformer   value.Transformer
}

type setupOption func(*setup)

func withOptions(o Options) setupOption      { return func(s *setup) { s.opts = o } }
func withCorruptObjectHandling() setupOption { return func(s *setup) { s.handleCorrupt = true } }
func withCodec(c runtime.Codec) setupOption  { return func(s *setup) { s.codec = c } }
func withTransformer(tr value.Transformer) setupOption {
	return func(s *setup) { s.transformer = tr }
}

// testSetup returns a fresh backend and a pods view on it, like the etcd3
// store tests' testSetup.
func testSetup(t testing.TB, options ...setupOption) (context.Context, *Store, *Backend) {
	cfg := setup{
		codec:       apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion),
		transformer: storagetesting.NewPrefixTransformer([]byte(testTransformerPrefix), false),
	}
	for _, o := range options {
		o(&cfg)
	}
	var b *Backend
	if strings.HasPrefix(t.Name(), walSuitePrefix) {
		// TestWALSuite: the same tests over a write-ahead-logged backend,
		// snapshotting often so that snapshots are taken mid-test.
		var err error
		if b, err = OpenWAL(t.TempDir(), cfg.opts, WALOptions{SnapshotEvery: 50}); err != nil {
			t.Fatal(err)
		}
	} else {
		b = NewBackend(cfg.opts)
	}
	t.Cleanup(b.Close)
	s, err := b.NewStore(StoreConfig{
		Codec:                cfg.codec,
		Transformer:          cfg.transformer,
		Prefix:               "",
		ResourcePrefix:       "/pods/",
		GroupResource:        schema.GroupResource{Resource: "pods"},
		NewFunc:              newPod,
		NewListFunc:          newPodList,
		HandleCorruptObjects: cfg.handleCorrupt,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Destroy)
	return context.Background(), s, b
}

// forcePut writes a key outside any resource, bumping the revision, as the
// etcd3 tests do with a raw etcd put.
func forcePut(t testing.TB, b *Backend, key, val string) int64 {
	t.Helper()
	cur, _, err := b.get(key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.put(key, []byte(val), modRev(cur), 0)
	if err != nil || !res.succeeded {
		t.Fatalf("put %s: %v %+v", key, err, res)
	}
	return res.rev
}

func increaseRVFunc(b *Backend) storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		return forcePut(t, b, "/increaseRV", "ok")
	}
}

// compactStorage mirrors the etcd3 compactor: it records the compaction with a
// write (which bumps the revision) and compacts at the given revision.
func compactStorage(b *Backend) storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		rv, err := apistorage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		forcePut(t, b, "/compact_rev_key", resourceVersion)
		if err := b.Compact(int64(rv)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStorageInvariants verifies the stored value of key: transformed,
// decodable, without resourceVersion and selfLink.
func checkStorageInvariants(b *Backend, codec runtime.Codec) storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		cur, _, err := b.get(key)
		if err != nil {
			t.Fatal(err)
		}
		if cur == nil {
			t.Fatalf("expecting non empty result on key: %s", key)
		}
		if !strings.HasPrefix(string(cur.value), testTransformerPrefix) {
			t.Fatalf("stored value of %s is not transformed: %q", key, cur.value)
		}
		decoded, err := runtime.Decode(codec, cur.value[len(testTransformerPrefix):])
		if err != nil {
			t.Fatalf("expecting successful decode of object from %v\n%v", err, string(cur.value))
		}
		obj := decoded.(*example.Pod)
		if obj.ResourceVersion != "" {
			t.Errorf("stored object should have empty resource version")
		}
		if obj.SelfLink != "" {
			t.Errorf("stored output should have empty selfLink")
		}
	}
}

// storeWithPrefixTransformer implements storagetesting.InterfaceWithPrefixTransformer.
type storeWithPrefixTransformer struct {
	*Store
}

func (s *storeWithPrefixTransformer) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	orig := s.codecs.Load()
	transformer := *orig.transformer.(*storagetesting.PrefixTransformer)
	s.codecs.Store(&codecState{codec: orig.codec, transformer: modifier(&transformer)})
	return func() { s.codecs.Store(orig) }
}

// storeWithTransformerOverride implements storagetesting.InterfaceWithTransformerOverride.
type storeWithTransformerOverride struct {
	*Store
}

func (s *storeWithTransformerOverride) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	orig := s.codecs.Load()
	s.codecs.Store(&codecState{codec: orig.codec, transformer: modifier(orig.transformer)})
	return func() { s.codecs.Store(orig) }
}

// failingTransformer fails TransformFromStorage while fail is set.
type failingTransformer struct {
	value.Transformer
	fail atomic.Bool
}

func (f *failingTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	if f.fail.Load() {
		return nil, false, errors.New("synthetic error")
	}
	return f.Transformer.TransformFromStorage(ctx, data, dataCtx)
}

// failingCodec fails Decode while fail is set.
type failingCodec struct {
	runtime.Codec
	fail atomic.Bool
}

func (f *failingCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if f.fail.Load() {
		return nil, nil, errors.New("synthetic error")
	}
	return f.Codec.Decode(data, defaults, into)
}

func TestCreate(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestCreate(ctx, t, store, checkStorageInvariants(b, store.codecs.Load().codec))
}

func TestCreateWithTTL(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestCreateWithTTL(ctx, t, store)
}

func TestCreateWithKeyExist(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestCreateWithKeyExist(ctx, t, store)
}

// TestGet is not parallel: its object has a 1s TTL, and its parallel
// subtests must not queue behind the slow parallel watch tests.
func TestGet(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGet(ctx, t, store)
}

func TestUnconditionalDelete(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestUnconditionalDelete(ctx, t, store)
}

func TestConditionalDelete(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestConditionalDelete(ctx, t, store)
}

func TestDeleteSuggestions(t *testing.T) {
	t.Parallel()
	for name, run := range map[string]func(context.Context, *testing.T, apistorage.Interface){
		"DeleteWithSuggestion":                    storagetesting.RunTestDeleteWithSuggestion,
		"DeleteWithSuggestionAndConflict":         storagetesting.RunTestDeleteWithSuggestionAndConflict,
		"DeleteWithConflict":                      storagetesting.RunTestDeleteWithConflict,
		"DeleteWithSuggestionOfDeletedObject":     storagetesting.RunTestDeleteWithSuggestionOfDeletedObject,
		"ValidateDeletionWithSuggestion":          storagetesting.RunTestValidateDeletionWithSuggestion,
		"ValidateDeletionWithOnlySuggestionValid": storagetesting.RunTestValidateDeletionWithOnlySuggestionValid,
		"PreconditionalDeleteWithSuggestion":      storagetesting.RunTestPreconditionalDeleteWithSuggestion,
		"PreconditionalDeleteWithSuggestionPass":  storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, store, _ := testSetup(t)
			run(ctx, t, store)
		})
	}
}

// The unsafe-deletion tests change a feature gate, so they don't run in parallel.
func TestDeleteExpectingTransformOrDecodeError(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	t.Run("ConflictAndMissingExpectedDecodeError", func(t *testing.T) {
		codec := &failingCodec{Codec: apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)}
		ctx, store, _ := testSetup(t, withCodec(codec))
		storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(ctx, t, store, codec.fail.Store)
	})
	t.Run("ExpectedTransformError", func(t *testing.T) {
		transformer := &failingTransformer{Transformer: storagetesting.NewPrefixTransformer([]byte(testTransformerPrefix), false)}
		ctx, store, _ := testSetup(t, withTransformer(transformer))
		storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, store, transformer.fail.Store)
	})
	t.Run("ExpectedDecodeError", func(t *testing.T) {
		codec := &failingCodec{Codec: apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)}
		ctx, store, _ := testSetup(t, withCodec(codec))
		storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, store, codec.fail.Store)
	})
	t.Run("SuggestionAndMissingExpectedTransformOrDecodeError", func(t *testing.T) {
		ctx, store, _ := testSetup(t)
		storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, store)
	})
}

func TestGetListWithErrorAggregation(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	ctx, store, _ := testSetup(t, withCorruptObjectHandling())
	corruptErr := &corruptObjectError{err: fmt.Errorf("bits flipped"), errType: untransformable}
	storagetesting.RunTestGetListWithErrorAggregation(ctx, t, &storeWithTransformerOverride{store}, corruptErr)
}

func TestWatchWithUnsafeDelete(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	ctx, store, _ := testSetup(t, withCorruptObjectHandling())
	corruptErr := &corruptObjectError{err: fmt.Errorf("bits flipped"), errType: untransformable}
	storagetesting.RunTestWatchWithUnsafeDelete(ctx, t, &storeWithTransformerOverride{store}, corruptErr)
}

func TestGetListWithoutErrorAggregation(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, false)
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGetListWithoutErrorAggregation(ctx, t, &storeWithTransformerOverride{store}, fmt.Errorf("bits flipped"))
}

func TestList(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestList(ctx, t, store, compactStorage(b), false, nil)
}

func TestConsistentList(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestConsistentList(ctx, t, store, increaseRVFunc(b), false, true, false)
}

func TestGetListNonRecursive(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestGetListNonRecursive(ctx, t, increaseRVFunc(b), store)
}

func TestGetListRecursivePrefix(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGetListRecursivePrefix(ctx, t, store)
}

func TestListContinuation(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListContinuation(ctx, t, store, nil)
}

func TestListPaginationRareObject(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListPaginationRareObject(ctx, t, store, nil)
}

func TestListContinuationWithFilter(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListContinuationWithFilter(ctx, t, store, nil)
}

func TestListInconsistentContinuation(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestListInconsistentContinuation(ctx, t, store, compactStorage(b))
}

func TestListResourceVersionMatch(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListResourceVersionMatch(ctx, t, &storeWithPrefixTransformer{store})
}

func TestGuaranteedUpdate(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestGuaranteedUpdate(ctx, t, &storeWithPrefixTransformer{store}, checkStorageInvariants(b, store.codecs.Load().codec))
}

func TestGuaranteedUpdateWithTTL(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateWithTTL(ctx, t, store)
}

func TestGuaranteedUpdateChecksStoredData(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateChecksStoredData(ctx, t, &storeWithPrefixTransformer{store})
}

func TestGuaranteedUpdateWithConflict(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateWithConflict(ctx, t, store)
}

func TestGuaranteedUpdateWithSuggestionAndConflict(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict(ctx, t, store)
}

func TestTransformationFailure(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestTransformationFailure(ctx, t, &storeWithPrefixTransformer{store})
}

func TestStats(t *testing.T) {
	t.Parallel()
	for _, sizeEnabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("SizeBasedListCostEstimate=%v", sizeEnabled), func(t *testing.T) {
			ctx, store, _ := testSetup(t)
			if sizeEnabled {
				if err := store.EnableResourceSizeEstimation(func(context.Context) ([]string, error) { return nil, nil }); err != nil {
					t.Fatal(err)
				}
			}
			cs := store.codecs.Load()
			storagetesting.RunTestStats(ctx, t, store, cs.codec, cs.transformer, sizeEnabled)
		})
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListPaging(ctx, t, store)
}

func TestNamespaceScopedList(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestNamespaceScopedList(ctx, t, store)
}

func TestCompactRevision(t *testing.T) {
	t.Parallel()
	ctx, store, b := testSetup(t)
	storagetesting.RunTestCompactRevision(ctx, t, store, increaseRVFunc(b), compactStorage(b))
}

func TestKeySchema(t *testing.T) {
	t.Parallel()
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestKeySchema(ctx, t, store)
}

func TestWatchSuite(t *testing.T) {
	t.Parallel()
	for name, run := range map[string]func(context.Context, *testing.T, apistorage.Interface){
		"Watch":                                            storagetesting.RunTestWatch,
		"ClusterScopedWatch":                               storagetesting.RunTestClusterScopedWatch,
		"NamespaceScopedWatch":                             storagetesting.RunTestNamespaceScopedWatch,
		"DeleteTriggerWatch":                               storagetesting.RunTestDeleteTriggerWatch,
		"WatchFromNonZero":                                 storagetesting.RunTestWatchFromNonZero,
		"DelayedWatchDelivery":                             storagetesting.RunTestDelayedWatchDelivery,
		"WatchContextCancel":                               storagetesting.RunTestWatchContextCancel,
		"WatcherTimeout":                                   storagetesting.RunTestWatcherTimeout,
		"WatchDeleteEventObjectHaveLatestRV":               storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV,
		"WatchInitializationSignal":                        storagetesting.RunTestWatchInitializationSignal,
		"SendInitialEventsBackwardCompatibility":           storagetesting.RunSendInitialEventsBackwardCompatibility,
		"OptionalWatchBookmarksWithCorrectResourceVersion": storagetesting.RunTestOptionalWatchBookmarksWithCorrectResourceVersion,
		// This store sends bookmarks itself (the etcd3 store leaves them to the watch cache).
		"WatchDispatchBookmarkEvents": func(ctx context.Context, t *testing.T, s apistorage.Interface) {
			storagetesting.RunTestWatchDispatchBookmarkEvents(ctx, t, s, true)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, store, _ := testSetup(t)
			run(ctx, t, store)
		})
	}
	t.Run("WatchFromZero", func(t *testing.T) {
		t.Parallel()
		ctx, store, b := testSetup(t)
		storagetesting.RunTestWatchFromZero(ctx, t, store, compactStorage(b))
	})
	t.Run("WatchError", func(t *testing.T) {
		t.Parallel()
		ctx, store, _ := testSetup(t)
		storagetesting.RunTestWatchError(ctx, t, &storeWithPrefixTransformer{store})
	})
	t.Run("ProgressNotify", func(t *testing.T) {
		t.Parallel()
		ctx, store, b := testSetup(t, withOptions(Options{ProgressNotifyInterval: time.Second}))
		storagetesting.RunOptionalTestProgressNotify(ctx, t, store, increaseRVFunc(b))
	})
	t.Run("WatchErrorIsBlockingFurtherEvents", func(t *testing.T) {
		t.Parallel()
		ctx, store, _ := testSetup(t)
		storagetesting.RunWatchErrorIsBlockingFurtherEvents(ctx, t, &storeWithPrefixTransformer{store})
	})
}

// The watch-list tests enable the WatchList feature gate themselves, so they
// don't run in parallel with other tests.
func TestWatchSemantics(t *testing.T) {
	for _, concurrentDecode := range []bool{false, true} {
		t.Run(fmt.Sprintf("ConcurrentWatchObjectDecode=%v", concurrentDecode), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ConcurrentWatchObjectDecode, concurrentDecode)
			ctx, store, _ := testSetup(t)
			storagetesting.RunWatchSemantics(ctx, t, store)
		})
	}
}

func TestWatchSemanticInitialEventsExtended(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunWatchSemanticInitialEventsExtended(ctx, t, store)
}

func TestWatchListMatchSingle(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunWatchListMatchSingle(ctx, t, store)
}
