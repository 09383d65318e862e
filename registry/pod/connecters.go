package pod

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
)

// DefaultContainerAnnotation names the container pods/log, exec and attach use when the
// request names none and the pod has several (kubectl reads it too).
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// KubeletStorages returns pods/log, pods/exec, pods/attach and pods/portforward: the
// subresources the API server serves by reaching the kubelet of the pod's node, as
// kube-apiserver does. pods reads pods (the pods storage).
func KubeletStorages(pods rest.Getter, kubelet ConnectionInfoGetter) map[string]rest.Storage {
	return map[string]rest.Storage{
		"pods/log":         &LogREST{pods: pods, kubelet: kubelet},
		"pods/exec":        &ExecREST{pods: pods, kubelet: kubelet},
		"pods/attach":      &AttachREST{pods: pods, kubelet: kubelet},
		"pods/portforward": &PortForwardREST{pods: pods, kubelet: kubelet},
	}
}

// upgradeMethods: GET for WebSocket clients (kubectl 1.30+), POST for SPDY.
var upgradeMethods = []string{http.MethodGet, http.MethodPost}

// LogREST is pods/log: the container's log, streamed from the kubelet.
type LogREST struct {
	pods    rest.Getter
	kubelet ConnectionInfoGetter
}

var (
	_ rest.GetterWithOptions = &LogREST{}
	_ rest.StorageMetadata   = &LogREST{}
)

// New returns an empty Pod: the log subresource has no kind of its own.
func (r *LogREST) New() runtime.Object { return &corev1.Pod{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *LogREST) Destroy() {}

// ProducesMIMETypes adds text/plain to what pods/log produces.
func (r *LogREST) ProducesMIMETypes(string) []string { return []string{"text/plain"} }

// ProducesObject says the log is a string.
func (r *LogREST) ProducesObject(string) any { return "" }

// NewGetOptions returns the options the query decodes into.
func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

// Get returns a stream of the log from the pod's kubelet; a pod no node runs yet has an
// empty log, as upstream.
func (r *LogREST) Get(ctx context.Context, name string, options runtime.Object) (runtime.Object, error) {
	opts, ok := options.(*corev1.PodLogOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", options)
	}
	opts = opts.DeepCopy()
	if opts.Stream == nil {
		all := corev1.LogStreamAll
		opts.Stream = &all
	}
	if errs := ValidatePodLogOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), name, errs)
	}
	location, transport, err := LogLocation(ctx, r.pods, r.kubelet, name, opts)
	if err != nil {
		return nil, err
	}
	return &genericrest.LocationStreamer{
		Location:        location,
		Transport:       transport,
		ContentType:     "text/plain",
		Flush:           opts.Follow,
		ResponseChecker: kubeletResponseChecker{resource: corev1.Resource("pods/log"), name: name},
		RedirectChecker: genericrest.PreventRedirects,
	}, nil
}

// ValidatePodLogOptions checks the options of pods/log as upstream does (stream selection
// enabled).
func ValidatePodLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*opts.TailLines, field.NewPath("tailLines"))...)
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
	switch {
	case opts.Stream == nil:
		errs = append(errs, field.Required(field.NewPath("stream"), "must be specified"))
	case *opts.Stream != corev1.LogStreamStdout && *opts.Stream != corev1.LogStreamStderr && *opts.Stream != corev1.LogStreamAll:
		errs = append(errs, field.NotSupported(field.NewPath("stream"), *opts.Stream,
			[]string{corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll}))
	case *opts.Stream != corev1.LogStreamAll && opts.TailLines != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
	}
	return errs
}

// LogLocation returns the kubelet URL of the log of the pod's container and the transport to
// reach it; a nil URL for a pod not yet on a node.
func LogLocation(ctx context.Context, pods rest.Getter, kubelet ConnectionInfoGetter, name string, opts *corev1.PodLogOptions) (*url.URL, http.RoundTripper, error) {
	pod, err := getPod(ctx, pods, name)
	if err != nil {
		return nil, nil, err
	}
	container, err := resolveContainer(pod, opts.Container)
	if err != nil {
		return nil, nil, err
	}
	if pod.Spec.NodeName == "" {
		return nil, nil, nil
	}
	if !opts.Previous {
		if err := checkContainerStarted(pod, container); err != nil {
			return nil, nil, err
		}
	}
	info, err := nodeConnection(ctx, kubelet, pod)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	if opts.Stream != nil && *opts.Stream != corev1.LogStreamAll {
		q.Set("stream", *opts.Stream)
	}
	return kubeletURL(info, "/containerLogs/"+pod.Namespace+"/"+pod.Name+"/"+container, q), info.Transport, nil
}

// checkContainerStarted refuses the log of a container that has not run yet, with the error
// the kubelet gives, so the answer does not depend on reaching the node.
func checkContainerStarted(pod *corev1.Pod, container string) error {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, st := range list {
			if st.Name != container {
				continue
			}
			waiting := st.State.Waiting
			if waiting == nil || st.State.Running != nil || st.State.Terminated != nil || st.LastTerminationState.Terminated != nil {
				return nil
			}
			reason := waiting.Reason
			switch reason {
			case "ErrImagePull":
				reason = "image can't be pulled"
			case "ImagePullBackOff":
				reason = "trying and failing to pull image"
			}
			return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, reason))
		}
	}
	return nil
}

// ExecREST is pods/exec: a command run in a container, streamed through the kubelet.
type ExecREST struct {
	pods    rest.Getter
	kubelet ConnectionInfoGetter
}

var _ rest.Connecter = &ExecREST{}

// New returns empty PodExecOptions, the kind discovery lists for pods/exec.
func (r *ExecREST) New() runtime.Object { return &corev1.PodExecOptions{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *ExecREST) Destroy() {}

// NewConnectOptions returns the options the query decodes into.
func (r *ExecREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodExecOptions{}, false, ""
}

// ConnectMethods are GET (WebSocket) and POST (SPDY).
func (r *ExecREST) ConnectMethods() []string { return upgradeMethods }

// Connect proxies the upgraded connection to the kubelet's /exec.
func (r *ExecREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodExecOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", options)
	}
	location, transport, err := ExecLocation(ctx, r.pods, r.kubelet, name, opts)
	if err != nil {
		return nil, err
	}
	return newUpgradeProxy(location, transport, responder), nil
}

// ExecLocation returns the kubelet URL that runs opts.Command in the pod's container.
func ExecLocation(ctx context.Context, pods rest.Getter, kubelet ConnectionInfoGetter, name string, opts *corev1.PodExecOptions) (*url.URL, http.RoundTripper, error) {
	q := streamQuery(opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY)
	for _, c := range opts.Command {
		q.Add("command", c)
	}
	return streamLocation(ctx, pods, kubelet, name, opts.Container, "exec", q)
}

// AttachREST is pods/attach: the streams of a running container, through the kubelet.
type AttachREST struct {
	pods    rest.Getter
	kubelet ConnectionInfoGetter
}

var _ rest.Connecter = &AttachREST{}

// New returns empty PodAttachOptions, the kind discovery lists for pods/attach.
func (r *AttachREST) New() runtime.Object { return &corev1.PodAttachOptions{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *AttachREST) Destroy() {}

// NewConnectOptions returns the options the query decodes into.
func (r *AttachREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodAttachOptions{}, false, ""
}

// ConnectMethods are GET (WebSocket) and POST (SPDY).
func (r *AttachREST) ConnectMethods() []string { return upgradeMethods }

// Connect proxies the upgraded connection to the kubelet's /attach.
func (r *AttachREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodAttachOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", options)
	}
	location, transport, err := AttachLocation(ctx, r.pods, r.kubelet, name, opts)
	if err != nil {
		return nil, err
	}
	return newUpgradeProxy(location, transport, responder), nil
}

// AttachLocation returns the kubelet URL that attaches to the pod's container.
func AttachLocation(ctx context.Context, pods rest.Getter, kubelet ConnectionInfoGetter, name string, opts *corev1.PodAttachOptions) (*url.URL, http.RoundTripper, error) {
	q := streamQuery(opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY)
	return streamLocation(ctx, pods, kubelet, name, opts.Container, "attach", q)
}

// PortForwardREST is pods/portforward: connections to the pod's ports, through the kubelet.
type PortForwardREST struct {
	pods    rest.Getter
	kubelet ConnectionInfoGetter
}

var _ rest.Connecter = &PortForwardREST{}

// New returns empty PodPortForwardOptions, the kind discovery lists for pods/portforward.
func (r *PortForwardREST) New() runtime.Object { return &corev1.PodPortForwardOptions{} }

// Destroy does nothing: the pods resource owns the storage.
func (r *PortForwardREST) Destroy() {}

// NewConnectOptions returns the options the query decodes into.
func (r *PortForwardREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodPortForwardOptions{}, false, ""
}

// ConnectMethods are GET (WebSocket) and POST (SPDY).
func (r *PortForwardREST) ConnectMethods() []string { return upgradeMethods }

// Connect proxies the upgraded connection to the kubelet's /portForward.
func (r *PortForwardREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodPortForwardOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", options)
	}
	location, transport, err := PortForwardLocation(ctx, r.pods, r.kubelet, name, opts)
	if err != nil {
		return nil, err
	}
	return newUpgradeProxy(location, transport, responder), nil
}

// PortForwardLocation returns the kubelet URL that forwards to the pod's ports.
func PortForwardLocation(ctx context.Context, pods rest.Getter, kubelet ConnectionInfoGetter, name string, opts *corev1.PodPortForwardOptions) (*url.URL, http.RoundTripper, error) {
	pod, err := getPod(ctx, pods, name)
	if err != nil {
		return nil, nil, err
	}
	info, err := nodeConnection(ctx, kubelet, pod)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{}
	for _, p := range opts.Ports {
		q.Add("port", strconv.Itoa(int(p)))
	}
	return kubeletURL(info, "/portForward/"+pod.Namespace+"/"+pod.Name, q), info.Transport, nil
}

// streamQuery encodes the streams of exec and attach as the kubelet reads them.
func streamQuery(stdin, stdout, stderr, tty bool) url.Values {
	q := url.Values{}
	for _, s := range []struct {
		key string
		on  bool
	}{{corev1.ExecStdinParam, stdin}, {corev1.ExecStdoutParam, stdout}, {corev1.ExecStderrParam, stderr}, {corev1.ExecTTYParam, tty}} {
		if s.on {
			q.Set(s.key, "1")
		}
	}
	return q
}

func streamLocation(ctx context.Context, pods rest.Getter, kubelet ConnectionInfoGetter, name, container, path string, q url.Values) (*url.URL, http.RoundTripper, error) {
	pod, err := getPod(ctx, pods, name)
	if err != nil {
		return nil, nil, err
	}
	container, err = resolveContainer(pod, container)
	if err != nil {
		return nil, nil, err
	}
	info, err := nodeConnection(ctx, kubelet, pod)
	if err != nil {
		return nil, nil, err
	}
	return kubeletURL(info, "/"+path+"/"+pod.Namespace+"/"+pod.Name+"/"+container, q), info.Transport, nil
}

func nodeConnection(ctx context.Context, kubelet ConnectionInfoGetter, pod *corev1.Pod) (*ConnectionInfo, error) {
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if kubelet == nil {
		return nil, apierrors.NewServiceUnavailable("the API server has no kubelet client configured")
	}
	return kubelet.GetConnectionInfo(ctx, pod.Spec.NodeName)
}

func kubeletURL(info *ConnectionInfo, path string, q url.Values) *url.URL {
	return &url.URL{
		Scheme:   info.Scheme,
		Host:     net.JoinHostPort(info.Hostname, info.Port),
		Path:     path,
		RawQuery: q.Encode(),
	}
}

func getPod(ctx context.Context, pods rest.Getter, name string) (*corev1.Pod, error) {
	obj, err := pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("unexpected object for pod %s: %T", name, obj)
	}
	return pod, nil
}

// resolveContainer returns the container a request is for: the one it names, which must
// exist; else the one the default-container annotation names; else the pod's only container.
func resolveContainer(pod *corev1.Pod, container string) (string, error) {
	if container != "" {
		if !hasContainer(pod, container) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
		}
		return container, nil
	}
	if def := pod.Annotations[DefaultContainerAnnotation]; def != "" && hasContainer(pod, def) {
		return def, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
	}
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// newUpgradeProxy proxies an upgraded (SPDY or WebSocket) connection to the kubelet unchanged;
// a request that is no upgrade is refused.
func newUpgradeProxy(location *url.URL, transport http.RoundTripper, responder rest.Responder) http.Handler {
	return proxy.NewUpgradeAwareHandler(location, transport, false, true, proxy.NewErrorResponder(responder))
}

// kubeletResponseChecker turns a kubelet's error response into an API error: a Status body is
// used as is; a text body becomes the message, as upstream's generic checker does.
type kubeletResponseChecker struct {
	resource schema.GroupResource
	name     string
}

// maxErrorBody bounds how much of a kubelet's error response is read.
const maxErrorBody = 50000

func (c kubeletResponseChecker) Check(resp *http.Response) error {
	if resp.StatusCode >= http.StatusOK && resp.StatusCode <= http.StatusPartialContent {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("read kubelet error response: %w", err))
	}
	var status metav1.Status
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		json.Unmarshal(body, &status) == nil && status.Kind == "Status" && status.Status == metav1.StatusFailure {
		if status.Code == 0 {
			status.Code = int32(resp.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: status}
	}
	text := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("%s", text))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", c.resource, c.name, text, 0, false)
}
