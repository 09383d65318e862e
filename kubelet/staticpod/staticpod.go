// Package staticpod runs static pods: pods the kubelet reads from files in its manifest folder
// (--pod-manifest-path) rather than from the API server, as upstream's file config source does
// (pkg/kubelet/config/file.go). It also keeps a mirror pod in the API for each of them (Mirrors),
// so that `kubectl get pods` shows what runs, as upstream's mirror client does.
//
// A file's pod is named NAME-NODENAME, bound to the node, defaulted to the namespace "default",
// given a UID that is a hash of the node, the file's path and its (defaulted) content — so an
// unchanged file keeps its UID and an edited one gets a new one, which replaces the pod — and
// the annotations kubernetes.io/config.hash (that UID), kubernetes.io/config.source ("file")
// and kubernetes.io/config.seen (when the kubelet first saw that version).
package staticpod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Annotations the kubelet puts on static pods and their mirrors (upstream pkg/kubelet/types).
const (
	// ConfigSourceAnnotationKey names where a pod came from; static pods say FileSource.
	ConfigSourceAnnotationKey = "kubernetes.io/config.source"
	// ConfigHashAnnotationKey holds a static pod's hash, which is also its UID.
	ConfigHashAnnotationKey = "kubernetes.io/config.hash"
	// ConfigSeenAnnotationKey holds when the kubelet first saw this version of the pod
	// (RFC 3339 with nanoseconds).
	ConfigSeenAnnotationKey = "kubernetes.io/config.seen"
	// ConfigMirrorAnnotationKey marks a mirror pod; its value is the static pod's hash.
	ConfigMirrorAnnotationKey = corev1.MirrorPodAnnotationKey
	// FileSource is the config.source of a pod read from the manifest folder.
	FileSource = "file"
	// ReasonInvalidManifest is the reason of the Warning event on the Node for a manifest
	// file that cannot be run.
	ReasonInvalidManifest = "InvalidStaticPod"
)

const (
	defaultInterval = 2 * time.Second
	// settle is how long the folder must be quiet after an inotify event before it is read,
	// so a file written in several steps is read once, complete.
	settle = 100 * time.Millisecond
	// maxFileSize is the largest manifest read, as upstream (10 MiB).
	maxFileSize = 10 << 20
)

// Config configures a Source.
type Config struct {
	// Dir is the manifest folder (--pod-manifest-path). A missing folder holds no pods; it is
	// read again every Interval.
	Dir string
	// NodeName is the node's name: static pods are bound to it and named NAME-NODENAME.
	NodeName string
	// Client is not used by Source (mirror pods are Mirrors' job, see NewMirrors); it may be nil.
	Client kubernetes.Interface
	// Recorder gets a Warning event on the Node for every invalid file; nil records none.
	Recorder record.EventRecorder
	// Clock is the time source (config.seen, rescans); nil is the real clock.
	Clock clock.Clock
	// Interval is how often the folder is read again in full (default 2 s). Changes are
	// normally seen at once through inotify; the rescan catches anything it misses.
	Interval time.Duration
	// Default applies the API server's defaults to a decoded pod (kubeshim's
	// apis/defaults.SetObjectDefaultsPod). It must not add what admission adds on the API
	// side (a service account name, for one): static pods may not reference API objects.
	Default func(*corev1.Pod)
	// Validate validates a pod as the API server does on create (kubeshim's apis/validation).
	Validate func(*corev1.Pod) error
}

// Source reads static pods from a folder.
type Source struct {
	cfg     Config
	clock   clock.Clock
	nodeRef *corev1.ObjectReference
	// files caches the last read of each file by path: same bytes, same result, no second
	// log line or event for the same invalid content.
	files map[string]*fileEntry
	// noInotify turns inotify off (tests of the rescan).
	noInotify bool
}

type fileEntry struct {
	data []byte
	pod  *corev1.Pod // nil when err is set or the file is empty
	err  error
	// dupOf is the file that defines the same pod, when this one lost to it in the last
	// scan (reported then).
	dupOf string
}

// New returns a Source for cfg.
func New(cfg Config) *Source {
	if cfg.Interval <= 0 {
		cfg.Interval = defaultInterval
	}
	c := cfg.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	return &Source{
		cfg:   cfg,
		clock: c,
		// Upstream's kubelet refers to its Node by name, with the name as UID.
		nodeRef: &corev1.ObjectReference{Kind: "Node", Name: cfg.NodeName, UID: types.UID(cfg.NodeName)},
		files:   map[string]*fileEntry{},
	}
}

// IsStatic reports whether pod came from a manifest file (config.source "file"). A mirror pod
// read from the API carries the same annotation but is not the static pod: IsStatic is false
// for it.
func IsStatic(pod *corev1.Pod) bool {
	return pod != nil && pod.Annotations[ConfigSourceAnnotationKey] == FileSource && !IsMirror(pod)
}

// IsMirror reports whether an API pod is a mirror pod (it has the config.mirror annotation).
func IsMirror(pod *corev1.Pod) bool {
	if pod == nil {
		return false
	}
	_, ok := pod.Annotations[ConfigMirrorAnnotationKey]
	return ok
}

// Run reads the folder and calls update with the whole set of static pods (sorted by
// namespace/name; fresh copies the callee may keep) first once, then every time the set
// changes: a file added, changed (its pod gets a new UID) or removed, or a file that became
// invalid (its pod leaves the set, as upstream's periodic relist drops it). update runs on
// Run's goroutine: the folder is not read while it runs. Run returns nil once ctx ends, and
// update is not called after Run has returned. Call Run once per Source.
func (s *Source) Run(ctx context.Context, update func(pods []*corev1.Pod)) error {
	if s.cfg.Dir == "" {
		return errors.New("static pods: no manifest folder")
	}
	if update == nil {
		return errors.New("static pods: no update function")
	}
	logger := klog.FromContext(ctx).WithName("staticpod")
	ctx = klog.NewContext(ctx, logger)
	logger.V(1).Info("Watching static pod folder", "path", s.cfg.Dir, "interval", s.cfg.Interval)

	// The full rescan comes Interval after the last read, whatever caused it.
	rescan := s.clock.NewTimer(s.cfg.Interval)
	defer rescan.Stop()
	events := make(chan struct{}, 1)
	var w *dirWatch
	var watchDone chan struct{}
	stopWatch := func() {
		if w != nil {
			w.close()
			<-watchDone
			w, watchDone = nil, nil
		}
	}
	defer stopWatch()
	startWatch := func() {
		if w != nil || s.noInotify {
			return
		}
		nw, err := watchDir(s.cfg.Dir)
		if err != nil {
			logger.V(4).Info("No inotify watch on the static pod folder; rescanning only", "path", s.cfg.Dir, "err", err)
			return
		}
		w, watchDone = nw, make(chan struct{})
		go func(w *dirWatch, done chan struct{}) {
			defer close(done)
			w.run(events)
		}(w, watchDone)
	}

	var last []*corev1.Pod
	first := true
	scan := func() {
		defer rescan.Reset(s.cfg.Interval)
		pods := s.scan(ctx)
		if !first && podsEqual(last, pods) {
			return
		}
		first = false
		last = pods
		out := make([]*corev1.Pod, len(pods))
		for i, p := range pods {
			out[i] = p.DeepCopy()
		}
		logger.V(2).Info("Static pods changed", "count", len(out))
		update(out)
	}

	// Watch before reading, so no change between the two is lost.
	startWatch()
	scan()
	for {
		var done <-chan struct{}
		if watchDone != nil {
			done = watchDone
		}
		select {
		case <-ctx.Done():
			return nil
		case <-rescan.C():
			startWatch()
			scan()
		case <-events:
			// Let the folder settle: wait for a quiet spell before reading.
			if !s.settle(ctx, events) {
				return nil
			}
			scan()
		case <-done:
			// The watch ended (the folder was removed or renamed): watch again if it is
			// back, and read it either way.
			stopWatch()
			startWatch()
			scan()
		}
	}
}

// settle waits until no event came for the settle period; false when ctx ended.
func (s *Source) settle(ctx context.Context, events <-chan struct{}) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-events:
		case <-s.clock.After(settle):
			return true
		}
	}
}

// scan reads the folder: the pods of every valid manifest, sorted by namespace/name.
func (s *Source) scan(ctx context.Context) []*corev1.Pod {
	logger := klog.FromContext(ctx)
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !os.IsNotExist(err) {
			logger.Error(err, "Cannot read the static pod folder", "path", s.cfg.Dir)
		} else {
			logger.V(4).Info("Static pod folder does not exist", "path", s.cfg.Dir)
		}
		// As upstream: a folder that cannot be read holds no pods.
		s.files = map[string]*fileEntry{}
		return []*corev1.Pod{}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if isManifestName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)

	files := make(map[string]*fileEntry, len(names))
	byKey := map[string]string{} // namespace/name -> path that defined it
	pods := make([]*corev1.Pod, 0, len(names))
	for _, name := range names {
		path := filepath.Join(s.cfg.Dir, name)
		info, err := os.Stat(path)
		if err != nil {
			if !os.IsNotExist(err) {
				logger.Error(err, "Cannot stat static pod file", "path", path)
			}
			continue
		}
		if info.IsDir() {
			logger.V(4).Info("Not recursing into a folder of the static pod folder", "path", path)
			continue
		}
		if !info.Mode().IsRegular() {
			logger.V(4).Info("Ignoring a static pod path that is not a regular file", "path", path, "mode", info.Mode())
			continue
		}
		data, err := readFile(path)
		if err != nil {
			if !os.IsNotExist(err) {
				logger.Error(err, "Cannot read static pod file", "path", path)
			}
			continue
		}
		prev := s.files[path]
		entry := prev
		if prev == nil || !bytes.Equal(prev.data, data) {
			entry = s.parse(path, data, prev)
			switch {
			case entry.err != nil:
				s.invalid(ctx, path, entry.err)
			case entry.pod == nil:
				logger.V(2).Info("Static pod file is empty", "path", path)
			default:
				logger.V(2).Info("Read static pod", "path", path, "pod", klog.KObj(entry.pod), "podUID", entry.pod.UID)
			}
		}
		files[path] = entry
		if entry.pod == nil {
			continue
		}
		key := entry.pod.Namespace + "/" + entry.pod.Name
		if other, dup := byKey[key]; dup {
			// Upstream's store keeps one pod per name without a word; the first file (by
			// name) wins here, and the other is reported (once).
			if entry.dupOf != other {
				s.invalid(ctx, path, fmt.Errorf("pod %s is already defined by %s", key, other))
			}
			entry.dupOf = other
			continue
		}
		entry.dupOf = ""
		byKey[key] = path
		pods = append(pods, entry.pod)
	}
	s.files = files
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	return pods
}

// parse turns a file's bytes into its static pod; prev is the file's previous read, whose
// config.seen a pod with the same UID keeps.
func (s *Source) parse(path string, data []byte, prev *fileEntry) *fileEntry {
	entry := &fileEntry{data: data}
	if len(data) > maxFileSize {
		entry.err = fmt.Errorf("file is larger than %d bytes", maxFileSize)
		return entry
	}
	if len(bytes.TrimSpace(data)) == 0 {
		// Most likely being written; the next event or rescan reads it again.
		return entry
	}
	pod, err := s.podFromFile(path, data)
	if err != nil {
		entry.err = err
		return entry
	}
	seen := s.clock.Now().Format(time.RFC3339Nano)
	if prev != nil && prev.pod != nil && prev.pod.UID == pod.UID {
		seen = prev.pod.Annotations[ConfigSeenAnnotationKey]
	}
	pod.Annotations[ConfigSourceAnnotationKey] = FileSource
	pod.Annotations[ConfigSeenAnnotationKey] = seen
	entry.pod = pod
	return entry
}

// invalid logs and records (Warning event on the Node) a file that gives no pod.
func (s *Source) invalid(ctx context.Context, path string, err error) {
	klog.FromContext(ctx).Error(err, "Invalid static pod file", "path", path)
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.Eventf(s.nodeRef, corev1.EventTypeWarning, ReasonInvalidManifest,
			"Static pod file %s: %v", path, err)
	}
}

// isManifestName says whether a folder entry is read: *.yaml, *.yml and *.json files, not
// hidden ones (editors' and tools' temporary files start with a dot).
func isManifestName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than the limit, so that parse can tell a file that is too large.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

func podsEqual(a, b []*corev1.Pod) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !apiequality.Semantic.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
