package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apistorage "k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/value"
)

// Support for AllowUnsafeMalformedObjectDeletion: when a view handles corrupt
// objects (StoreConfig.HandleCorruptObjects), a stored value that cannot be
// transformed or decoded is reported as a corrupt object, which the generic
// registry can then delete unsafely, and a LIST collects up to
// maxCorruptObjectErrors of them instead of failing on the first one.

// maxCorruptObjectErrors caps the corrupt objects a LIST reports.
const maxCorruptObjectErrors = 100

var errTooManyCorruptObjects = errors.New("too many errors, the list is truncated")

const (
	untransformable = iota + 1
	undecodable
)

// corruptObjectError marks a value that could not be transformed or decoded.
type corruptObjectError struct {
	err      error
	errType  int
	revision int64
}

func (e *corruptObjectError) Unwrap() error { return e.err }

func (e *corruptObjectError) Error() string {
	what := "data from the storage is not transformable"
	if e.errType == undecodable {
		what = "object not decodable"
	}
	return fmt.Sprintf("%s revision=%d: %v", what, e.revision, e.err)
}

// corruptClassifyingTransformer marks every read failure of the wrapped
// transformer as a corrupt object.
type corruptClassifyingTransformer struct {
	value.Transformer
}

func (t *corruptClassifyingTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	out, stale, err := t.Transformer.TransformFromStorage(ctx, data, dataCtx)
	if err != nil {
		err = &corruptObjectError{err: err, errType: untransformable}
	}
	return out, stale, err
}

// decodeError classifies a decode failure of the value at revision rev.
func (s *Store) decodeError(err error, rev int64) error {
	if err == nil || !s.handleCorrupt {
		return err
	}
	return &corruptObjectError{err: err, errType: undecodable, revision: rev}
}

// readError converts a corrupt object error into the storage error the
// registry's unsafe deletion looks for.
func (s *Store) readError(key string, err error) error {
	var corrupt *corruptObjectError
	if s.handleCorrupt && errors.As(err, &corrupt) {
		return apistorage.NewCorruptObjError(key, corrupt)
	}
	return err
}

// listErrors collects the per-item errors of a LIST. Append reports whether
// the LIST must stop.
type listErrors struct {
	aggregate bool
	corrupt   []error
	abortErr  error
}

func (l *listErrors) Append(key string, err error) bool {
	var corrupt *corruptObjectError
	if !l.aggregate || !errors.As(err, &corrupt) {
		l.abortErr = err
		return true
	}
	l.corrupt = append(l.corrupt, apistorage.NewCorruptObjError(key, corrupt))
	if len(l.corrupt) >= maxCorruptObjectErrors {
		l.abortErr = errTooManyCorruptObjects
		return true
	}
	return false
}

// Err returns the LIST's error: the abort error alone, or an API status
// listing the corrupt objects (and the abort reason) as causes.
func (l *listErrors) Err(gr schema.GroupResource) error {
	if len(l.corrupt) == 0 {
		return l.abortErr
	}
	causes := make([]metav1.StatusCause, 0, len(l.corrupt)+1)
	for _, err := range l.corrupt {
		var storageErr *apistorage.StorageError
		if errors.As(err, &storageErr) {
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeUnexpectedServerResponse, Field: storageErr.Key, Message: err.Error()})
		}
	}
	switch {
	case errors.Is(l.abortErr, errTooManyCorruptObjects):
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeTooMany, Message: errTooManyCorruptObjects.Error()})
	case l.abortErr != nil:
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeUnexpectedServerResponse, Message: l.abortErr.Error()})
	}
	message := fmt.Sprintf("failed to read one or more %s from the storage: %v", gr.String(), l.corrupt[0])
	if len(l.corrupt) > 1 {
		message = fmt.Sprintf("%s (and %d more)", message, len(l.corrupt)-1)
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInternalServerError,
		Reason:  metav1.StatusReasonStoreReadError,
		Message: message,
		Details: &metav1.StatusDetails{Group: gr.Group, Kind: gr.Resource, Name: "list", Causes: causes},
	}}
}

// corruptObjectDeletedError is a watch's DELETED event whose old object is
// corrupt (it was deleted unsafely).
type corruptObjectDeletedError struct {
	err error
}

func (e *corruptObjectDeletedError) Error() string {
	return fmt.Sprintf("saw a DELETED event, but object data is corrupt - %v", e.err)
}

func (e *corruptObjectDeletedError) Unwrap() error { return e.err }

// watchError turns an error of a watch into the status sent to its client.
func watchError(err error) metav1.Status {
	var deleted *corruptObjectDeletedError
	if errors.As(err, &deleted) {
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusInternalServerError,
			Reason:  metav1.StatusReasonStoreReadError,
			Message: deleted.Error(),
		}
	}
	if apiStatus, ok := err.(apierrors.APIStatus); ok {
		return apiStatus.Status()
	}
	return apierrors.NewInternalError(err).Status()
}
