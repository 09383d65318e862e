package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/gorilla/mux"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
)

// ParseLogOptions reads the query of /containerLogs into PodLogOptions as upstream's kubelet
// does (the legacy "tail" parameter included, "all" meaning no limit) and validates them. A
// query that does not parse is a *QueryError with code 400, invalid options one with code 422.
func ParseLogOptions(query url.Values) (*corev1.PodLogOptions, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if tail := q.Get("tail"); tail != "" {
		q["tailLines"] = []string{tail}
		if tail == "all" {
			delete(q, "tailLines")
		}
	}
	opts := &corev1.PodLogOptions{}
	bad := func(name string, err error) (*corev1.PodLogOptions, error) {
		return nil, &QueryError{Code: http.StatusBadRequest, Err: fmt.Errorf("unable to decode query parameter %q: %w", name, err)}
	}
	for name, out := range map[string]*bool{"follow": &opts.Follow, "previous": &opts.Previous,
		"timestamps": &opts.Timestamps, "insecureSkipTLSVerifyBackend": &opts.InsecureSkipTLSVerifyBackend} {
		if v, ok := q[name]; ok {
			if err := runtime.Convert_Slice_string_To_bool(&v, out, nil); err != nil {
				return bad(name, err)
			}
		}
	}
	for name, out := range map[string]**int64{"tailLines": &opts.TailLines, "sinceSeconds": &opts.SinceSeconds,
		"limitBytes": &opts.LimitBytes} {
		if v, ok := q[name]; ok {
			if err := runtime.Convert_Slice_string_To_Pointer_int64(&v, out, nil); err != nil {
				return bad(name, err)
			}
		}
	}
	if v, ok := q["sinceTime"]; ok {
		if err := metav1.Convert_Slice_string_To_Pointer_v1_Time(&v, &opts.SinceTime, nil); err != nil {
			return bad("sinceTime", err)
		}
	}
	opts.Container = q.Get("container")
	if v := q.Get("stream"); v != "" {
		opts.Stream = &v
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		return nil, &QueryError{Code: http.StatusUnprocessableEntity, Err: fmt.Errorf("invalid request: %w", errs.ToAggregate())}
	}
	return opts, nil
}

// validateLogOptions checks what upstream's ValidatePodLogOptions checks.
func validateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if opts.Stream != nil {
		switch *opts.Stream {
		case corev1.LogStreamStdout, corev1.LogStreamStderr:
			if opts.TailLines != nil {
				errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
			}
		case corev1.LogStreamAll:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), *opts.Stream,
				[]string{corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll}))
		}
	}
	return errs
}

// QueryError is a request that cannot be served as asked, with its HTTP status code.
type QueryError struct {
	Code int
	Err  error
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// getContainerLogs serves /containerLogs/{podNamespace}/{podID}/{containerName}.
func (s *Server) getContainerLogs(w http.ResponseWriter, req *http.Request) {
	vars := mux.Vars(req)
	namespace, podName, container := vars["podNamespace"], vars["podID"], vars["containerName"]
	opts, err := ParseLogOptions(req.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), err.(*QueryError).Code)
		return
	}
	pod := s.findPod(namespace, podName)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %q does not exist", podName), http.StatusNotFound)
		return
	}
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, podName), http.StatusNotFound)
		return
	}
	if s.cfg.Logs == nil {
		http.Error(w, "container logs are not available on this node", http.StatusNotImplemented)
		return
	}
	lw := &logWriter{w: w}
	if opts.Follow {
		lw.flusher, _ = w.(http.Flusher)
	}
	var stdout, stderr io.Writer = lw, lw
	if opts.Stream != nil {
		switch *opts.Stream {
		case corev1.LogStreamStdout:
			stderr = io.Discard
		case corev1.LogStreamStderr:
			stdout = io.Discard
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.cfg.Logs.ContainerLogs(req.Context(), namespace, podName, container, opts, stdout, stderr); err != nil {
		if lw.started() {
			// The status went out with the first bytes; the client sees the stream end.
			klog.V(2).InfoS("Streaming container logs", "pod", klog.KRef(namespace, podName), "container", container, "err", err)
			return
		}
		writeError(w, err, http.StatusBadRequest)
		return
	}
}

// logWriter writes log content to the response, flushing after each write when following,
// safely from the stdout and stderr writers at once.
type logWriter struct {
	mu      sync.Mutex
	w       io.Writer
	flusher http.Flusher
	wrote   bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	l.wrote = true
	n, err := l.w.Write(p)
	if err == nil && l.flusher != nil {
		l.flusher.Flush()
	}
	return n, err
}

func (l *logWriter) started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wrote
}
