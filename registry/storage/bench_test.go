package storage

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	apistorage "k8s.io/apiserver/pkg/storage"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
)

// benchSetup returns a pods view without transformer, as kubeshim runs it.
func benchSetup(b *testing.B, opts Options) (context.Context, *Store, *Backend) {
	return testSetup(b, withOptions(opts), withTransformer(nil))
}

func BenchmarkCreate(b *testing.B) {
	ctx, s, _ := benchSetup(b, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pod := labeledPod("ns", "pod-"+strconv.Itoa(i), map[string]string{"app": "bench"})
		if err := s.Create(ctx, podKey(pod.Namespace, pod.Name), pod, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	ctx, s, _ := benchSetup(b, Options{})
	const pods = 1000
	for i := range pods {
		pod := labeledPod("ns", "pod-"+strconv.Itoa(i), nil)
		if err := s.Create(ctx, podKey(pod.Namespace, pod.Name), pod, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		out := &example.Pod{}
		i := 0
		for pb.Next() {
			if err := s.Get(ctx, podKey("ns", "pod-"+strconv.Itoa(i%pods)), apistorage.GetOptions{}, out); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkGuaranteedUpdate(b *testing.B) {
	ctx, s, _ := benchSetup(b, Options{})
	key := podKey("ns", "counter")
	if err := s.Create(ctx, key, labeledPod("ns", "counter", nil), nil, 0); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := s.GuaranteedUpdate(ctx, key, &example.Pod{}, false, nil, apistorage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
				pod := obj.(*example.Pod)
				pod.Annotations = map[string]string{"n": strconv.FormatInt(n.Add(1), 10)}
				return pod, nil
			}), nil)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStoreList runs the upstream list benchmark (cluster, node and
// namespace scoped lists of realistic pods, with and without pagination).
func BenchmarkStoreList(b *testing.B) {
	ctx, s, _ := benchSetup(b, Options{})
	data := storagetesting.PrepareBenchmarkData(50, 100, 100)
	if err := storagetesting.PrecreateBenchmarkPods(ctx, s, data); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	storagetesting.RunBenchmarkStoreList(ctx, b, s, data, false)
}

func BenchmarkStoreStats(b *testing.B) {
	ctx, s, _ := benchSetup(b, Options{})
	data := storagetesting.PrepareBenchmarkData(10, 100, 10)
	if err := storagetesting.PrecreateBenchmarkPods(ctx, s, data); err != nil {
		b.Fatal(err)
	}
	storagetesting.RunBenchmarkStoreStats(ctx, b, s)
}

// BenchmarkWatchFanout measures a write delivered to N watchers: each
// iteration is one update, done when every watcher has received it.
func BenchmarkWatchFanout(b *testing.B) {
	for _, watchers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			ctx, s, _ := benchSetup(b, Options{})
			key := podKey("ns", "pod")
			if err := s.Create(ctx, key, labeledPod("ns", "pod", nil), nil, 0); err != nil {
				b.Fatal(err)
			}
			ws := make([]watch.Interface, watchers)
			for i := range ws {
				w, err := s.Watch(ctx, "/pods/", apistorage.ListOptions{Predicate: apistorage.Everything, Recursive: true, ResourceVersion: "0"})
				if err != nil {
					b.Fatal(err)
				}
				<-w.ResultChan() // initial ADDED
				ws[i] = w
				defer w.Stop()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := s.GuaranteedUpdate(ctx, key, &example.Pod{}, false, nil, apistorage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
					pod := obj.(*example.Pod)
					pod.Annotations = map[string]string{"i": strconv.Itoa(i)}
					return pod, nil
				}), nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, w := range ws {
					if ev := <-w.ResultChan(); ev.Type != watch.Modified {
						b.Fatalf("unexpected event %v", ev.Type)
					}
				}
			}
		})
	}
}
