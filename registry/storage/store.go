package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/features"
	apistorage "k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
)

// Messages of the 410 errors, identical to the etcd3 store's.
const (
	expiredListMessage     = "The resourceVersion for the provided list is too old."
	expiredWatchMessage    = "The resourceVersion for the provided watch is too old."
	continueExpiredMessage = "The provided continue parameter is too old " +
		"to display a consistent list result. You can start a new list without " +
		"the continue parameter."
	inconsistentContinueMessage = "The provided continue parameter is too old " +
		"to display a consistent list result. You can start a new list without " +
		"the continue parameter, or use the continue token in this response to " +
		"retrieve the remainder of the results. Continuing with the provided " +
		"token results in an inconsistent list - objects that were created, " +
		"modified, or deleted between the time the first chunk was returned " +
		"and now may show up in the list."
)

// StoreConfig describes one resource's view of a Backend.
type StoreConfig struct {
	// Codec encodes objects for storage and decodes them back.
	Codec runtime.Codec
	// Transformer optionally transforms encoded values (encryption at rest);
	// nil stores the encoded bytes as they are.
	Transformer value.Transformer
	// Prefix is prepended to every key (storagebackend.Config.Prefix,
	// "/registry" by default), as the etcd3 store does.
	Prefix string
	// ResourcePrefix is the prefix every key of the resource must have
	// ("/pods"); keys outside it are rejected.
	ResourcePrefix string
	// GroupResource names the resource in logs and errors.
	GroupResource schema.GroupResource
	// NewFunc returns an empty object of the resource (used for bookmarks).
	NewFunc func() runtime.Object
	// NewListFunc returns an empty list of the resource.
	NewListFunc func() runtime.Object
	// HandleCorruptObjects reports values that cannot be transformed or
	// decoded as corrupt objects (storage.NewCorruptObjError, aggregated in
	// LISTs) so that the registry can delete them unsafely, as the etcd3
	// store does when AllowUnsafeMalformedObjectDeletion is enabled.
	HandleCorruptObjects bool
}

// codecState is what turns stored bytes into objects; it is swapped as a whole.
type codecState struct {
	codec       runtime.Codec
	transformer value.Transformer
}

// authenticatedData binds a transformed value to its key, like etcd3's.
type authenticatedData string

func (d authenticatedData) AuthenticatedData() []byte { return []byte(d) }

// toStorage returns the bytes to store for encoded data. They are kept for
// the lifetime of the version, so spare capacity left by the encoder's buffer
// growth is trimmed.
func (c *codecState) toStorage(ctx context.Context, key string, data []byte) ([]byte, error) {
	if c.transformer != nil {
		var err error
		if data, err = c.transformer.TransformToStorage(ctx, data, authenticatedData(key)); err != nil {
			return nil, err
		}
	}
	if cap(data)-len(data) > len(data)/8 {
		data = bytes.Clone(data)
	}
	return data, nil
}

func (c *codecState) fromStorage(ctx context.Context, key string, data []byte) ([]byte, bool, error) {
	if c.transformer == nil {
		return data, false, nil
	}
	return c.transformer.TransformFromStorage(ctx, data, authenticatedData(key))
}

// Store is one resource's storage.Interface view over a Backend.
type Store struct {
	backend        *Backend
	codecs         atomic.Pointer[codecState]
	versioner      apistorage.Versioner
	pathPrefix     string
	resourcePrefix string
	groupResource  schema.GroupResource
	newFunc        func() runtime.Object
	newListFunc    func() runtime.Object

	sizeEstimation atomic.Bool
	handleCorrupt  bool

	mu        sync.Mutex
	watchers  map[*watcher]struct{}
	destroyed bool
	wg        sync.WaitGroup
}

var _ apistorage.Interface = (*Store)(nil)

// NewStore returns a view of the keyspace for one resource.
func (b *Backend) NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Codec == nil {
		return nil, errors.New("codec is required")
	}
	switch {
	case cfg.ResourcePrefix == "":
		return nil, errors.New("resourcePrefix cannot be empty")
	case cfg.ResourcePrefix == "/":
		return nil, errors.New("resourcePrefix cannot be /")
	case !strings.HasPrefix(cfg.ResourcePrefix, "/"):
		return nil, errors.New("resourcePrefix needs to start from /")
	}
	pathPrefix := path.Join("/", cfg.Prefix)
	if !strings.HasSuffix(pathPrefix, "/") {
		pathPrefix += "/"
	}
	s := &Store{
		backend:        b,
		versioner:      apistorage.APIObjectVersioner{},
		pathPrefix:     pathPrefix,
		resourcePrefix: cfg.ResourcePrefix,
		groupResource:  cfg.GroupResource,
		newFunc:        cfg.NewFunc,
		newListFunc:    cfg.NewListFunc,
		watchers:       map[*watcher]struct{}{},
		handleCorrupt:  cfg.HandleCorruptObjects,
	}
	transformer := cfg.Transformer
	if transformer != nil && cfg.HandleCorruptObjects {
		transformer = &corruptClassifyingTransformer{Transformer: transformer}
	}
	s.codecs.Store(&codecState{codec: cfg.Codec, transformer: transformer})
	return s, nil
}

// Destroy terminates the view's watchers and waits for their goroutines.
// Further watches fail. It is idempotent.
func (s *Store) Destroy() {
	s.mu.Lock()
	s.destroyed = true
	watchers := make([]*watcher, 0, len(s.watchers))
	for w := range s.watchers {
		watchers = append(watchers, w)
	}
	s.mu.Unlock()
	for _, w := range watchers {
		w.Stop()
	}
	s.wg.Wait()
}

// Versioner implements storage.Interface.
func (s *Store) Versioner() apistorage.Versioner { return s.versioner }

// prepareKey validates key and maps it into the keyspace, as etcd3 does.
func (s *Store) prepareKey(key string, recursive bool) (string, error) {
	key, err := apistorage.PrepareKey(s.resourcePrefix, key, recursive)
	if err != nil {
		return "", err
	}
	return s.pathPrefix + strings.TrimPrefix(key, "/"), nil
}

// decode decodes stored (untransformed) data into out and sets its
// resourceVersion to rev.
func (s *Store) decode(codec runtime.Codec, data []byte, out runtime.Object, rev int64) error {
	if _, err := conversion.EnforcePtr(out); err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %w", err)
	}
	if _, _, err := codec.Decode(data, nil, out); err != nil {
		return s.decodeError(err, rev)
	}
	if err := s.versioner.UpdateObject(out, uint64(rev)); err != nil {
		klog.ErrorS(err, "Failed to update object version", "resource", s.groupResource)
	}
	return nil
}

// validateMinimumResourceVersion returns a "too large resource version" error
// when minimumResourceVersion is newer than actualRevision.
func (s *Store) validateMinimumResourceVersion(minimumResourceVersion string, actualRevision int64) error {
	if minimumResourceVersion == "" {
		return nil
	}
	minimumRV, err := s.versioner.ParseResourceVersion(minimumResourceVersion)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %v", err))
	}
	if minimumRV > uint64(actualRevision) {
		return apistorage.NewTooLargeResourceVersionError(minimumRV, uint64(actualRevision), 0)
	}
	return nil
}

// Get implements storage.Interface.
func (s *Store) Get(ctx context.Context, key string, opts apistorage.GetOptions, out runtime.Object) error {
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	cur, rev, err := s.backend.get(preparedKey)
	if err != nil {
		return err
	}
	if err := s.validateMinimumResourceVersion(opts.ResourceVersion, rev); err != nil {
		return err
	}
	if cur == nil {
		if opts.IgnoreNotFound {
			return runtime.SetZeroValue(out)
		}
		return apistorage.NewKeyNotFoundError(preparedKey, 0)
	}
	cs := s.codecs.Load()
	data, _, err := cs.fromStorage(ctx, preparedKey, cur.value)
	if err != nil {
		return s.readError(preparedKey, apistorage.NewInternalError(err))
	}
	return s.readError(preparedKey, s.decode(cs.codec, data, out, cur.modRev))
}

// Create implements storage.Interface.
func (s *Store) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) error {
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	if version, err := s.versioner.ObjectResourceVersion(obj); err == nil && version != 0 {
		return apistorage.ErrResourceVersionSetOnCreate
	}
	if err := s.versioner.PrepareObjectForStorage(obj); err != nil {
		return fmt.Errorf("PrepareObjectForStorage failed: %w", err)
	}
	cs := s.codecs.Load()
	data, err := runtime.Encode(cs.codec, obj)
	if err != nil {
		return err
	}
	stored, err := cs.toStorage(ctx, preparedKey, data)
	if err != nil {
		return apistorage.NewInternalError(err)
	}
	res, err := s.backend.put(preparedKey, stored, 0, ttl)
	if err != nil {
		return err
	}
	if !res.succeeded {
		return apistorage.NewKeyExistsError(preparedKey, 0)
	}
	if out != nil {
		return s.decode(cs.codec, data, out, res.rev)
	}
	return nil
}

// objState is the state of a key an update or deletion starts from.
type objState struct {
	obj   runtime.Object
	meta  apistorage.ResponseMeta
	rev   int64
	data  []byte
	stale bool
}

// getState builds the objState of the live version cur of key (nil: absent).
// With expectTransformOrDecodeError it succeeds only if the stored value can
// not be transformed or decoded, leaving obj nil.
func (s *Store) getState(ctx context.Context, cur *version, key string, v reflect.Value, ignoreNotFound, expectTransformOrDecodeError bool) (*objState, error) {
	state := &objState{}
	if u, ok := v.Addr().Interface().(runtime.Unstructured); ok {
		state.obj = u.NewEmptyInstance()
	} else {
		state.obj = reflect.New(v.Type()).Interface().(runtime.Object)
	}
	if cur == nil {
		if !ignoreNotFound {
			return nil, apistorage.NewKeyNotFoundError(key, 0)
		}
		if err := runtime.SetZeroValue(state.obj); err != nil {
			return nil, err
		}
		return state, nil
	}
	state.rev = cur.modRev
	state.meta.ResourceVersion = uint64(cur.modRev)

	cs := s.codecs.Load()
	data, stale, err := cs.fromStorage(ctx, key, cur.value)
	if err != nil {
		if !expectTransformOrDecodeError {
			return nil, apistorage.NewInternalError(err)
		}
		state.obj = nil
		state.stale = true
		return state, nil
	}
	state.data = data
	state.stale = stale
	if err := s.decode(cs.codec, data, state.obj, state.rev); err != nil {
		if !expectTransformOrDecodeError {
			return nil, err
		}
		state.obj = nil
		return state, nil
	}
	if expectTransformOrDecodeError {
		return nil, apistorage.NewInvalidObjError(key, "unsafe deletion is not allowed because the object is decodable from storage")
	}
	return state, nil
}

// getStateFromObject builds an objState from a caller's cached copy of the
// object; it may be stale.
func (s *Store) getStateFromObject(obj runtime.Object) (*objState, error) {
	state := &objState{obj: obj}
	rv, err := s.versioner.ObjectResourceVersion(obj)
	if err != nil {
		return nil, fmt.Errorf("couldn't get resource version: %w", err)
	}
	state.rev = int64(rv)
	state.meta.ResourceVersion = rv
	// The serialized form excludes the resourceVersion, as stored data does.
	if err := s.versioner.PrepareObjectForStorage(obj); err != nil {
		return nil, fmt.Errorf("PrepareObjectForStorage failed: %w", err)
	}
	state.data, err = runtime.Encode(s.codecs.Load().codec, obj)
	if err != nil {
		return nil, err
	}
	if err := s.versioner.UpdateObject(state.obj, rv); err != nil {
		klog.ErrorS(err, "Failed to update object version", "resource", s.groupResource)
	}
	return state, nil
}

func (s *Store) currentState(ctx context.Context, key string, v reflect.Value, ignoreNotFound, expectTransformOrDecodeError bool) func() (*objState, error) {
	return func() (*objState, error) {
		cur, _, err := s.backend.get(key)
		if err != nil {
			return nil, err
		}
		return s.getState(ctx, cur, key, v, ignoreNotFound, expectTransformOrDecodeError)
	}
}

// Delete implements storage.Interface.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, preconditions *apistorage.Preconditions,
	validateDeletion apistorage.ValidateObjectFunc, cachedExistingObject runtime.Object, opts apistorage.DeleteOptions) error {
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(out)
	if err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %w", err)
	}
	expectTransformOrDecodeError := opts.ExpectTransformOrDecodeError &&
		utilfeature.DefaultFeatureGate.Enabled(features.AllowUnsafeMalformedObjectDeletion)
	getCurrentState := s.currentState(ctx, preparedKey, v, false, expectTransformOrDecodeError)

	var origState *objState
	var origStateIsCurrent bool
	if cachedExistingObject != nil && !expectTransformOrDecodeError {
		origState, err = s.getStateFromObject(cachedExistingObject)
	} else {
		origState, err = getCurrentState()
		origStateIsCurrent = true
	}
	if err != nil {
		return err
	}

	// retryWithCurrent re-reads the key after a check failed on possibly stale
	// data; it reports whether to retry, or the error to return.
	retryWithCurrent := func(checkErr error) (bool, error) {
		if origStateIsCurrent {
			return false, checkErr
		}
		cachedRev := origState.rev
		origState, err = getCurrentState()
		if err != nil {
			return false, err
		}
		origStateIsCurrent = true
		if cachedRev == origState.rev {
			return false, checkErr
		}
		return true, nil
	}

	for {
		if preconditions != nil {
			if err := preconditions.Check(preparedKey, origState.obj); err != nil {
				retry, err := retryWithCurrent(err)
				if retry {
					continue
				}
				return err
			}
		}
		if err := validateDeletion(ctx, origState.obj); err != nil {
			retry, err := retryWithCurrent(err)
			if retry {
				continue
			}
			return err
		}

		res, err := s.backend.del(preparedKey, origState.rev)
		if err != nil {
			return err
		}
		if !res.succeeded {
			klog.V(4).InfoS("Deletion failed because of a conflict, retrying", "key", preparedKey)
			origState, err = s.getState(ctx, res.current, preparedKey, v, false, expectTransformOrDecodeError)
			if err != nil {
				return err
			}
			origStateIsCurrent = true
			continue
		}
		if !expectTransformOrDecodeError {
			return s.decode(s.codecs.Load().codec, origState.data, out, res.rev)
		}
		return nil
	}
}

// GuaranteedUpdate implements storage.Interface.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, destination runtime.Object, ignoreNotFound bool,
	preconditions *apistorage.Preconditions, tryUpdate apistorage.UpdateFunc, cachedExistingObject runtime.Object) error {
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(destination)
	if err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %w", err)
	}
	getCurrentState := s.currentState(ctx, preparedKey, v, ignoreNotFound, false)

	var origState *objState
	var origStateIsCurrent bool
	if cachedExistingObject != nil {
		origState, err = s.getStateFromObject(cachedExistingObject)
	} else {
		origState, err = getCurrentState()
		origStateIsCurrent = true
	}
	if err != nil {
		return err
	}

	for {
		if err := preconditions.Check(preparedKey, origState.obj); err != nil {
			if origStateIsCurrent {
				return err
			}
			// The cached object may be stale: retry with the current one.
			if origState, err = getCurrentState(); err != nil {
				return err
			}
			origStateIsCurrent = true
			continue
		}

		ret, ttl, err := s.updateState(origState, tryUpdate)
		if err != nil {
			if origStateIsCurrent {
				return err
			}
			cachedRev, cachedUpdateErr := origState.rev, err
			if origState, err = getCurrentState(); err != nil {
				return err
			}
			origStateIsCurrent = true
			if cachedRev == origState.rev {
				return cachedUpdateErr
			}
			continue
		}

		cs := s.codecs.Load()
		data, err := runtime.Encode(cs.codec, ret)
		if err != nil {
			return err
		}
		if !origState.stale && bytes.Equal(data, origState.data) {
			// No change: if we worked from a cached object, confirm against
			// the stored data before skipping the write.
			if !origStateIsCurrent {
				if origState, err = getCurrentState(); err != nil {
					return err
				}
				origStateIsCurrent = true
				if !bytes.Equal(data, origState.data) {
					continue
				}
			}
			if !origState.stale {
				return s.decode(cs.codec, origState.data, destination, origState.rev)
			}
		}

		stored, err := cs.toStorage(ctx, preparedKey, data)
		if err != nil {
			return apistorage.NewInternalError(err)
		}
		res, err := s.backend.put(preparedKey, stored, origState.rev, ttl)
		if err != nil {
			return err
		}
		if !res.succeeded {
			klog.V(4).InfoS("GuaranteedUpdate failed because of a conflict, retrying", "key", preparedKey)
			if err := ctx.Err(); err != nil {
				return err
			}
			origState, err = s.getState(ctx, res.current, preparedKey, v, ignoreNotFound, false)
			if err != nil {
				return err
			}
			origStateIsCurrent = true
			continue
		}
		return s.decode(cs.codec, data, destination, res.rev)
	}
}

func (s *Store) updateState(st *objState, userUpdate apistorage.UpdateFunc) (runtime.Object, uint64, error) {
	ret, ttlPtr, err := userUpdate(st.obj, st.meta)
	if err != nil {
		return nil, 0, err
	}
	if err := s.versioner.PrepareObjectForStorage(ret); err != nil {
		return nil, 0, fmt.Errorf("PrepareObjectForStorage failed: %w", err)
	}
	var ttl uint64
	if ttlPtr != nil {
		ttl = *ttlPtr
	}
	return ret, ttl, nil
}

// getNewItemFunc returns a constructor of list items; unstructured lists keep
// their apiVersion on the items.
func getNewItemFunc(listObj runtime.Object, v reflect.Value) func() runtime.Object {
	if ul, ok := listObj.(*unstructured.UnstructuredList); ok {
		if apiVersion := ul.GetAPIVersion(); len(apiVersion) > 0 {
			return func() runtime.Object {
				return &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion}}
			}
		}
	}
	elem := v.Type().Elem()
	return func() runtime.Object {
		return reflect.New(elem).Interface().(runtime.Object)
	}
}

// compactedListError is the 410 a list at a compacted revision gets; a
// continued list gets a token to go on from the latest revision instead.
func compactedListError(paging bool, continueKey, keyPrefix string) error {
	if !paging {
		return apierrors.NewResourceExpired(expiredListMessage)
	}
	newToken, err := apistorage.EncodeContinue(continueKey, keyPrefix, -1)
	if err != nil {
		utilruntime.HandleError(err)
		return apierrors.NewResourceExpired(continueExpiredMessage)
	}
	statusError := apierrors.NewResourceExpired(inconsistentContinueMessage)
	statusError.ErrStatus.ListMeta.Continue = newToken
	return statusError
}

// GetList implements storage.Interface.
func (s *Store) GetList(ctx context.Context, key string, opts apistorage.ListOptions, listObj runtime.Object) error {
	keyPrefix, err := s.prepareKey(key, opts.Recursive)
	if err != nil {
		return err
	}
	listPtr, err := meta.GetItemsPtr(listObj)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(listPtr)
	if err != nil || v.Kind() != reflect.Slice {
		return fmt.Errorf("need ptr to slice: %v", err)
	}
	newItemFunc := getNewItemFunc(listObj, v)

	withRev, continueKey, err := apistorage.ValidateListOptions(keyPrefix, s.versioner, opts)
	if err != nil {
		return err
	}
	snap, err := s.backend.snapshot()
	if err != nil {
		return err
	}
	if withRev == 0 {
		if err := s.validateMinimumResourceVersion(opts.ResourceVersion, snap.rev); err != nil {
			return err
		}
		withRev = snap.rev
	} else {
		if withRev < 0 || withRev > snap.rev {
			return apistorage.NewTooLargeResourceVersionError(uint64(withRev), uint64(snap.rev), 0)
		}
		if withRev < snap.compactRev {
			return compactedListError(len(opts.Predicate.Continue) > 0, continueKey, keyPrefix)
		}
	}

	pred := opts.Predicate
	limit := pred.Limit
	paging := limit > 0
	countRemaining := paging && pred.Empty()
	cs := s.codecs.Load()
	var (
		lastKey   string
		hasMore   bool
		remaining int64
		listErr   error
	)
	itemErrs := &listErrors{aggregate: s.handleCorrupt}
	process := func(rec *record) bool {
		ver := rec.at(withRev)
		if ver == nil {
			return true
		}
		if paging && int64(v.Len()) >= limit {
			hasMore = true
			if countRemaining {
				remaining++
				return true
			}
			return false
		}
		lastKey = rec.key
		if ctx.Err() != nil {
			listErr = apistorage.NewTimeoutError(rec.key, "request did not complete within requested timeout")
			return false
		}
		data, _, err := cs.fromStorage(ctx, rec.key, ver.value)
		if err != nil {
			return !itemErrs.Append(rec.key, apistorage.NewInternalError(fmt.Errorf("unable to transform key %q: %w", rec.key, err)))
		}
		obj, _, err := cs.codec.Decode(data, nil, newItemFunc())
		if err != nil {
			return !itemErrs.Append(rec.key, s.decodeError(err, ver.modRev))
		}
		if err := s.versioner.UpdateObject(obj, uint64(ver.modRev)); err != nil {
			klog.ErrorS(err, "Failed to update object version", "resource", s.groupResource)
		}
		if matched, err := pred.Matches(obj); err == nil && matched {
			v.Set(reflect.Append(v, reflect.ValueOf(obj).Elem()))
		}
		return true
	}
	if opts.Recursive {
		start := keyPrefix
		if continueKey != "" {
			start = continueKey
		}
		snap.ascend(keyPrefix, start, process)
	} else if rec := snap.get(keyPrefix); rec != nil {
		process(rec)
	}
	if listErr != nil {
		return listErr
	}
	if err := itemErrs.Err(s.groupResource); err != nil {
		return err
	}

	continueValue, remainingItemCount, err := apistorage.PrepareContinueToken(lastKey, keyPrefix, withRev, int64(v.Len())+remaining, hasMore, opts)
	if err != nil {
		return err
	}
	if v.IsNil() {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
	}
	if err := s.versioner.UpdateList(listObj, uint64(withRev), continueValue, remainingItemCount); err != nil {
		return err
	}
	pred.SetShardInfoOnList(listObj)
	return nil
}

// Stats implements storage.Interface: the number of objects of the resource
// and, once EnableResourceSizeEstimation was called, their average stored size.
func (s *Store) Stats(ctx context.Context) (apistorage.Stats, error) {
	prefix, err := s.prepareKey(s.resourcePrefix, true)
	if err != nil {
		return apistorage.Stats{}, err
	}
	snap, err := s.backend.snapshot()
	if err != nil {
		return apistorage.Stats{}, err
	}
	var count, size int64
	snap.ascend(prefix, prefix, func(r *record) bool {
		if v := r.at(snap.rev); v != nil {
			count++
			size += int64(len(v.value))
		}
		return true
	})
	stats := apistorage.Stats{ObjectCount: count}
	if s.sizeEstimation.Load() && count > 0 {
		stats.EstimatedAverageObjectSizeBytes = size / count
	}
	return stats, nil
}

// EnableResourceSizeEstimation implements storage.Interface. The sizes are
// read from the keyspace directly, so getKeys is only validated.
func (s *Store) EnableResourceSizeEstimation(getKeys apistorage.KeysFunc) error {
	if getKeys == nil {
		return errors.New("KeysFunc cannot be nil")
	}
	if !s.sizeEstimation.CompareAndSwap(false, true) {
		return errors.New("resourceSizeEstimator already enabled")
	}
	return nil
}

// ReadinessCheck implements storage.Interface.
func (s *Store) ReadinessCheck() error {
	s.backend.mu.RLock()
	closed := s.backend.closed
	s.backend.mu.RUnlock()
	if closed {
		return errBackendClosed
	}
	return nil
}

// GetCurrentResourceVersion implements storage.Interface: the global revision.
func (s *Store) GetCurrentResourceVersion(ctx context.Context) (uint64, error) {
	s.backend.mu.RLock()
	defer s.backend.mu.RUnlock()
	if s.backend.closed {
		return 0, errBackendClosed
	}
	return uint64(s.backend.rev), nil
}

// CompactRevision implements storage.Interface.
func (s *Store) CompactRevision() int64 {
	return s.backend.CompactRevision()
}

// RequestWatchProgress implements storage.Interface: every watcher of this view
// that asked for progress notifications gets one as soon as it is caught up.
func (s *Store) RequestWatchProgress(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.progressNotify {
			w.requestProgress()
		}
	}
	return nil
}
