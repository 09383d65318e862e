package defaults

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDefaultImagePullPolicy(t *testing.T) {
	sha256 := "sha256:" + strings.Repeat("ab", 32)
	sha512 := "sha512:" + strings.Repeat("0f", 64)
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		// No tag and no digest means :latest.
		{"busybox", corev1.PullAlways},
		{"busybox:latest", corev1.PullAlways},
		{"library/busybox", corev1.PullAlways},
		{"docker.io/library/busybox", corev1.PullAlways},
		{"index.docker.io/library/busybox:latest", corev1.PullAlways},
		{"a/b/c/d", corev1.PullAlways},
		{"my-org/my_app.v2", corev1.PullAlways},
		// Any other tag.
		{"busybox:1.36", corev1.PullIfNotPresent},
		{"busybox:Latest", corev1.PullIfNotPresent},
		{"busybox:latest-debug", corev1.PullIfNotPresent},
		{"quay.io/coreos/etcd:v3.5.0", corev1.PullIfNotPresent},
		// Digests: no tag, so no "latest"; a "latest" tag next to a digest still counts.
		{"busybox@" + sha256, corev1.PullIfNotPresent},
		{"busybox:1.36@" + sha256, corev1.PullIfNotPresent},
		{"busybox:latest@" + sha256, corev1.PullAlways},
		{"registry.example.com/team/app@" + sha512, corev1.PullIfNotPresent},
		// A registry port is not a tag.
		{"registry:5000/img", corev1.PullAlways},
		{"registry:5000/img:v1", corev1.PullIfNotPresent},
		{"registry:5000/img:latest", corev1.PullAlways},
		{"localhost/img", corev1.PullAlways},
		{"localhost:5000/ns/img:2", corev1.PullIfNotPresent},
		{"[::1]:5000/img", corev1.PullAlways},
		{"Example.COM/img", corev1.PullAlways}, // upper case is allowed in the registry host
		{"UPPER/img", corev1.PullAlways},       // ...and makes the first element a host
		// References that do not parse have no tag, hence IfNotPresent.
		{"", corev1.PullIfNotPresent},
		{"Busybox", corev1.PullIfNotPresent},
		{"docker.io/Library/busybox", corev1.PullIfNotPresent},
		{"busybox:", corev1.PullIfNotPresent},
		{"busybox:latest ", corev1.PullIfNotPresent},
		{"busybox@sha256:abc", corev1.PullIfNotPresent},                         // too short
		{"busybox@sha256:" + strings.Repeat("AB", 32), corev1.PullIfNotPresent}, // upper-case hex
		{"busybox@md5:" + strings.Repeat("ab", 16), corev1.PullIfNotPresent},    // unsupported algorithm
		{"busybox:latest@sha256:abc", corev1.PullIfNotPresent},
		{strings.Repeat("ab", 32), corev1.PullIfNotPresent}, // an image ID, not a name
		{"img/" + strings.Repeat("a", 250), corev1.PullIfNotPresent},
		{"-busybox", corev1.PullIfNotPresent},
		{"busy--box", corev1.PullAlways},
		{"busy..box", corev1.PullIfNotPresent},
	}
	for _, tc := range tests {
		if got := DefaultImagePullPolicy(tc.image); got != tc.want {
			t.Errorf("DefaultImagePullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
		}
	}
}
