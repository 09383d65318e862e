package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultImagePullPolicy is the pull policy kube-apiserver gives a container (or an image volume)
// whose imagePullPolicy is empty: Always when the image reference's tag is "latest" — which is
// also what a reference with neither tag nor digest means — and IfNotPresent otherwise, including
// for references that do not parse (upstream ignores the parse error and sees no tag).
//
// References are parsed as upstream parses them (pkg/util/parsers.ParseImageName, i.e.
// github.com/distribution/reference.ParseNormalizedNamed): "busybox" and "busybox:latest" are
// Always; "busybox:1.36", "busybox@sha256:<64 hex>" and "registry:5000/img:v1" are IfNotPresent;
// "registry:5000/img" (a port, no tag) is Always; "busybox:latest@sha256:<64 hex>" keeps its
// "latest" tag and so is Always.
func DefaultImagePullPolicy(image string) corev1.PullPolicy {
	if tag, ok := imageTag(image); ok && tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// The reference grammar of github.com/distribution/reference, rebuilt from its definition:
//
//	reference  := name [ ":" tag ] [ "@" digest ]
//	name       := [domain '/'] path-component ['/' path-component]*
//	domain     := host [':' port]   host := domain-name | '[' ipv6 ']'
const (
	refAlphaNumeric  = `[a-z0-9]+`
	refSeparator     = `(?:[._]|__|[-]+)`
	refPathComponent = refAlphaNumeric + `(?:` + refSeparator + refAlphaNumeric + `)*`
	refDomainLabel   = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	refHost          = `(?:` + refDomainLabel + `(?:\.` + refDomainLabel + `)*` + `|\[(?:[a-fA-F0-9:]+)\])`
	refDomain        = refHost + `(?::[0-9]+)?`
	refName          = `(?:` + refDomain + `/)?` + refPathComponent + `(?:/` + refPathComponent + `)*`
	refTag           = `[\w][\w.-]{0,127}`
	refDigest        = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,}`

	// refNameMaxLength bounds the full name, domain included.
	refNameMaxLength = 255
	// defaultRegistry and the rest mirror ParseNormalizedNamed's docker.io normalisation.
	defaultRegistry       = "docker.io"
	legacyDefaultRegistry = "index.docker.io"
	officialRepoPrefix    = "library/"
)

var (
	referenceRegexp  = regexp.MustCompile(`^(` + refName + `)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)
	bareImageIDRegex = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// digestHexLength lists the digest algorithms a kubelet-side parser accepts (the ones Go's
	// crypto packages provide), with the exact number of lowercase hex digits each needs.
	digestHexLength = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}
	lowerHexRegex   = regexp.MustCompile(`^[a-f0-9]+$`)
)

// imageTag returns the tag a reference carries after normalisation: "latest" when it has
// neither tag nor digest, "" when it has only a digest. ok is false if the reference does
// not parse.
func imageTag(image string) (tag string, ok bool) {
	if bareImageIDRegex.MatchString(image) {
		// A bare 64-hex string is an image ID, which is not a valid repository name.
		return "", false
	}
	domain, remainder := splitRegistry(image)
	remote := remainder
	if i := strings.IndexByte(remainder, ':'); i >= 0 {
		remote = remainder[:i]
	}
	if strings.ToLower(remote) != remote {
		return "", false
	}
	m := referenceRegexp.FindStringSubmatch(domain + "/" + remainder)
	if m == nil || len(m[1]) > refNameMaxLength {
		return "", false
	}
	tag, digest := m[2], m[3]
	if digest != "" && !validDigest(digest) {
		return "", false
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return tag, true
}

// splitRegistry splits off the registry host the way docker does: the first path element is a
// registry only if it contains '.' or ':', is "localhost", or has upper-case letters; otherwise
// the image lives on docker.io, where single-element names are official ("library/") images.
func splitRegistry(name string) (domain, remainder string) {
	i := strings.IndexByte(name, '/')
	if i == -1 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, remainder = defaultRegistry, name
	} else {
		domain, remainder = name[:i], name[i+1:]
	}
	if domain == legacyDefaultRegistry {
		domain = defaultRegistry
	}
	if domain == defaultRegistry && !strings.ContainsRune(remainder, '/') {
		remainder = officialRepoPrefix + remainder
	}
	return domain, remainder
}

// validDigest reports whether "algorithm:hex" names a supported algorithm with a well-formed
// encoded value.
func validDigest(d string) bool {
	algorithm, encoded, found := strings.Cut(d, ":")
	if !found {
		return false
	}
	n, known := digestHexLength[algorithm]
	return known && len(encoded) == n && lowerHexRegex.MatchString(encoded)
}
