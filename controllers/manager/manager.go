// Package manager runs kubeshim's controllers, as kube-controller-manager and kube-scheduler
// do: shared informers over a client with the component's own identity, one event recorder
// per controller, every controller stopped with the context.
package manager

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Options configures the controllers.
type Options struct {
	// Controllers selects the controllers as kube-controller-manager's --controllers does:
	// "*" for all, a name to add one, "-name" to leave one out. Empty means "*".
	Controllers []string
	// ControllerManager is the client config of the controllers' identity.
	ControllerManager *rest.Config
	// Scheduler is the client config of the scheduler's identity.
	Scheduler *rest.Config
	// Workers is the number of workers per controller (default 2).
	Workers int
	// ClusterCIDR is the pods' range the nodeipam controller gives each Node a part of
	// (NodeCIDRMaskSize bits, default 24); empty leaves nodeipam out.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// NodeMonitorGracePeriod is how long a node may go silent before it is unhealthy (40 s).
	NodeMonitorGracePeriod time.Duration
}

// clients is what a controller is built from.
type clients struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	recorder  record.EventRecorder
	opts      Options
}

// runner is a built controller.
type runner interface {
	Run(ctx context.Context, workers int)
}

// controller describes one controller: its name, the component it records events as, whether
// it runs with the scheduler's identity, and how to build it.
type controller struct {
	name      string
	component string
	scheduler bool
	// workers overrides Options.Workers for this controller.
	workers int
	build   func(c clients) (runner, error)
}

// Names lists every controller kubeshim has, in start order.
func Names() []string {
	var out []string
	for _, c := range controllers {
		out = append(out, c.name)
	}
	return out
}

// Enabled reports whether the --controllers selection enables name, a controller kubeshim has.
func Enabled(selection []string, name string) bool {
	if !slices.Contains(Names(), name) {
		return false
	}
	if len(selection) == 0 {
		selection = []string{"*"}
	}
	if slices.Contains(selection, "-"+name) {
		return false
	}
	return slices.Contains(selection, name) || slices.Contains(selection, "*")
}

// Validate checks a --controllers selection.
func Validate(selection []string) error {
	for _, s := range selection {
		name := s
		if len(s) > 0 && s[0] == '-' {
			name = s[1:]
		}
		if s != "*" && !slices.Contains(Names(), name) {
			return fmt.Errorf("unknown controller %q (known: %v)", s, Names())
		}
	}
	return nil
}

// Run builds the selected controllers, starts their informers and runs them until ctx ends.
func Run(ctx context.Context, opts Options) error {
	logger := klog.FromContext(ctx)
	workers := opts.Workers
	if workers <= 0 {
		workers = 2
	}
	cm, err := newClients(ctx, opts.ControllerManager)
	if err != nil {
		return fmt.Errorf("controller-manager clients: %w", err)
	}
	cm.opts = opts
	sched, err := newClients(ctx, opts.Scheduler)
	if err != nil {
		return fmt.Errorf("scheduler clients: %w", err)
	}
	var broadcasters []record.EventBroadcaster
	defer func() {
		for _, b := range broadcasters {
			b.Shutdown()
		}
	}()

	type built struct {
		runner
		workers int
	}
	var runners []built
	var names []string
	for _, c := range controllers {
		if !Enabled(opts.Controllers, c.name) || (c.name == "nodeipam" && opts.ClusterCIDR == "") {
			continue
		}
		base := cm
		if c.scheduler {
			base = sched
		}
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: base.client.CoreV1().Events("")})
		broadcasters = append(broadcasters, broadcaster)
		base.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: c.component})
		r, err := c.build(base)
		if err != nil {
			return fmt.Errorf("build %s controller: %w", c.name, err)
		}
		n := workers
		if c.workers > 0 {
			n = c.workers
		}
		runners = append(runners, built{runner: r, workers: n})
		names = append(names, c.name)
	}
	cm.factory.Start(ctx.Done())
	sched.factory.Start(ctx.Done())
	defer cm.factory.Shutdown()
	defer sched.factory.Shutdown()
	logger.Info("Starting controllers", "controllers", names)

	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx, r.workers)
		}()
	}
	wg.Wait()
	return nil
}

func newClients(ctx context.Context, cfg *rest.Config) (clients, error) {
	if cfg == nil {
		return clients{}, fmt.Errorf("no client config")
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	return clients{
		client:    client,
		factory:   informers.NewSharedInformerFactory(client, 0),
		metadata:  md,
		discovery: client.Discovery(),
	}, nil
}
