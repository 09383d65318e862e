package pod

import (
	"fmt"
	"net/url"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/kubeshim/kubeshim/apis"
)

// The API server decodes the query of pods/log, exec, attach and portforward into these
// option kinds through the scheme's parameter codec, which needs a conversion from url.Values
// for each (upstream generates them: Convert_url_Values_To_v1_PodExecOptions and friends).
// They are registered in kubeshim's scheme when this package is loaded, so every server that
// serves the pod subresources can decode their options.
func init() {
	utilruntime.Must(AddQueryConversions(apis.Scheme))
}

// AddQueryConversions registers the url.Values conversions of the pod subresources' option
// kinds (PodLogOptions, PodExecOptions, PodAttachOptions, PodPortForwardOptions) in s, with
// the query parameter names and value syntax upstream's generated conversions accept: the
// json names of the fields; booleans true unless "0" or "false"; numbers and times from the
// first value; command repeated; ports repeated or comma separated.
func AddQueryConversions(s *runtime.Scheme) error {
	conversions := []struct {
		out any
		fn  func(url.Values, any) error
	}{
		{(*corev1.PodLogOptions)(nil), func(v url.Values, out any) error { return logOptionsFromQuery(v, out.(*corev1.PodLogOptions)) }},
		{(*corev1.PodExecOptions)(nil), func(v url.Values, out any) error { return execOptionsFromQuery(v, out.(*corev1.PodExecOptions)) }},
		{(*corev1.PodAttachOptions)(nil), func(v url.Values, out any) error { return attachOptionsFromQuery(v, out.(*corev1.PodAttachOptions)) }},
		{(*corev1.PodPortForwardOptions)(nil), func(v url.Values, out any) error {
			return portForwardOptionsFromQuery(v, out.(*corev1.PodPortForwardOptions))
		}},
	}
	for _, c := range conversions {
		fn := c.fn
		err := s.AddConversionFunc((*url.Values)(nil), c.out, func(a, b any, _ conversion.Scope) error {
			return fn(*a.(*url.Values), b)
		})
		if err != nil {
			return fmt.Errorf("register query conversion to %T: %w", c.out, err)
		}
	}
	return nil
}

func logOptionsFromQuery(q url.Values, out *corev1.PodLogOptions) error {
	*out = corev1.PodLogOptions{TypeMeta: out.TypeMeta}
	out.Container = first(q, "container")
	out.Follow = queryBool(q, "follow")
	out.Previous = queryBool(q, "previous")
	out.Timestamps = queryBool(q, "timestamps")
	out.InsecureSkipTLSVerifyBackend = queryBool(q, "insecureSkipTLSVerifyBackend")
	var err error
	if out.SinceSeconds, err = queryInt64(q, "sinceSeconds"); err != nil {
		return err
	}
	if out.TailLines, err = queryInt64(q, "tailLines"); err != nil {
		return err
	}
	if out.LimitBytes, err = queryInt64(q, "limitBytes"); err != nil {
		return err
	}
	if values, ok := q["sinceTime"]; ok && len(values) > 0 {
		if err := metav1.Convert_Slice_string_To_Pointer_v1_Time(&values, &out.SinceTime, nil); err != nil {
			return fmt.Errorf("sinceTime: %w", err)
		}
	}
	if values, ok := q["stream"]; ok && len(values) > 0 {
		stream := values[0]
		out.Stream = &stream
	}
	return nil
}

func execOptionsFromQuery(q url.Values, out *corev1.PodExecOptions) error {
	*out = corev1.PodExecOptions{
		TypeMeta:  out.TypeMeta,
		Stdin:     queryBool(q, "stdin"),
		Stdout:    queryBool(q, "stdout"),
		Stderr:    queryBool(q, "stderr"),
		TTY:       queryBool(q, "tty"),
		Container: first(q, "container"),
		Command:   slices.Clone(q["command"]),
	}
	return nil
}

func attachOptionsFromQuery(q url.Values, out *corev1.PodAttachOptions) error {
	*out = corev1.PodAttachOptions{
		TypeMeta:  out.TypeMeta,
		Stdin:     queryBool(q, "stdin"),
		Stdout:    queryBool(q, "stdout"),
		Stderr:    queryBool(q, "stderr"),
		TTY:       queryBool(q, "tty"),
		Container: first(q, "container"),
	}
	return nil
}

func portForwardOptionsFromQuery(q url.Values, out *corev1.PodPortForwardOptions) error {
	*out = corev1.PodPortForwardOptions{TypeMeta: out.TypeMeta}
	if values, ok := q["ports"]; ok && len(values) > 0 {
		if err := metav1.Convert_Slice_string_To_Slice_int32(&values, &out.Ports, nil); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	return nil
}

func first(q url.Values, key string) string {
	if values := q[key]; len(values) > 0 {
		return values[0]
	}
	return ""
}

func queryBool(q url.Values, key string) bool {
	values := q[key]
	var b bool
	// Never fails: anything but "0" and "false" is true, as upstream's conversions read it.
	_ = runtime.Convert_Slice_string_To_bool(&values, &b, nil)
	return b
}

func queryInt64(q url.Values, key string) (*int64, error) {
	values, ok := q[key]
	if !ok || len(values) == 0 {
		return nil, nil
	}
	var n *int64
	if err := runtime.Convert_Slice_string_To_Pointer_int64(&values, &n, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}
