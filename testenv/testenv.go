package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/apiserver"
	"github.com/kubeshim/kubeshim/controllers/manager"
	"github.com/kubeshim/kubeshim/kubelet/simnode"
	"github.com/kubeshim/kubeshim/registry/storage"
)

// DefaultNodeName is the name of the simulated node when Options.NodeName is empty.
const DefaultNodeName = "testenv-node"

const (
	// defaultStartTimeout bounds Start when its context has no deadline.
	defaultStartTimeout = 30 * time.Second
	// stopTimeout bounds how long Stop waits for each component (the API server's own
	// graceful shutdown is bounded at 5 s).
	stopTimeout = 20 * time.Second
	// drainGrace is how long Stop lets requests in flight finish before it closes the
	// connections still open.
	drainGrace = 10 * time.Millisecond
	// pollInterval is how often Start asks whether the server is ready.
	pollInterval = 2 * time.Millisecond
)

// Options configures an environment. The zero value runs the API server alone.
type Options struct {
	// Controllers runs kubeshim's controllers: those ControllerSelection selects, all of
	// them by default.
	Controllers bool
	// ControllerSelection picks controllers as `kubeshim up --controllers` does: "*" for
	// all, a name to add one, "-name" to leave one out (names: manager.Names()). Empty
	// means all. Ignored unless Controllers is set.
	ControllerSelection []string
	// SimulatedNode registers a Ready node whose pods go Running without containers.
	SimulatedNode bool
	// NodeName names the simulated node (DefaultNodeName if empty).
	NodeName string
	// DataDir holds the certificates and the admin kubeconfig. Empty means a temporary
	// directory that Stop removes; a directory given here is left in place.
	DataDir string
	// HistorySize is how many recent writes the in-memory store keeps for watches to resume
	// from (storage.DefaultHistorySize if zero).
	HistorySize int
	// StartTimeout bounds Start when its context has no deadline (30 s if zero).
	StartTimeout time.Duration
}

// Env is a running environment.
type Env struct {
	// Config is an admin client configuration (user kubeshim-admin, group system:masters)
	// for the server's HTTPS endpoint. Each caller may modify its own copy
	// (rest.CopyConfig).
	Config *rest.Config
	// URL is the https URL of the API server.
	URL string
	// DataDir holds the certificates (DataDir/pki) and the admin kubeconfig.
	DataDir string
	// KubeconfigPath is an admin kubeconfig for the server, for kubectl and tools that read
	// one (KUBECONFIG).
	KubeconfigPath string
	// NodeName is the simulated node's name; empty without Options.SimulatedNode.
	NodeName string

	server    *apiserver.Server
	backend   *storage.Backend
	listener  *trackingListener
	removeDir bool

	// configs are the client configurations handed out, whose idle connections Stop closes
	// before it stops the server (which otherwise waits a second for them to go).
	configs []*rest.Config

	admin      kubernetes.Interface
	ready      bool
	stopServer context.CancelFunc
	serverDone chan error
	// components run on the server (controllers, simulated node), stopped in reverse order.
	components []*component

	mu       sync.Mutex // guards configs
	stopOnce sync.Once
	stopErr  error
}

// component is a goroutine of the environment that stops with its context.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

// Start starts an environment and returns once it serves. ctx bounds the start only (and
// passes its logger on): the environment runs until Stop, which the caller must call, also
// when ctx ends. On error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	if opts.Controllers {
		if err := manager.Validate(opts.ControllerSelection); err != nil {
			return nil, fmt.Errorf("testenv: controller selection: %w", err)
		}
	}
	if opts.SimulatedNode && opts.NodeName == "" {
		opts.NodeName = DefaultNodeName
	}
	if _, ok := ctx.Deadline(); !ok {
		timeout := opts.StartTimeout
		if timeout <= 0 {
			timeout = defaultStartTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// The environment's goroutines keep ctx's values (its logger) but not its end.
	runCtx := context.WithoutCancel(ctx)

	e := &Env{DataDir: opts.DataDir}
	defer func() {
		if err != nil {
			if stopErr := e.stop(); stopErr != nil {
				klog.FromContext(ctx).Error(stopErr, "testenv: clean-up after a failed start")
			}
		}
	}()
	if e.DataDir == "" {
		if e.DataDir, err = os.MkdirTemp("", "kubeshim-testenv-"); err != nil {
			return nil, fmt.Errorf("testenv: data directory: %w", err)
		}
		e.removeDir = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testenv: listen: %w", err)
	}
	e.listener = newTrackingListener(ln)
	e.backend = storage.NewBackend(storage.Options{HistorySize: opts.HistorySize})
	e.server, err = apiserver.New(apiserver.Options{
		DataDir:     e.DataDir,
		BindAddress: net.IPv4(127, 0, 0, 1),
		Listener:    e.listener,
		Storage:     e.backend.Decorator(),
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: API server: %w", err)
	}
	e.URL = e.server.ServerURL()
	e.KubeconfigPath = filepath.Join(e.DataDir, "kubeconfig")
	if e.Config, err = e.clientConfig("admin", apiserver.AdminUser, []string{"system:masters"}); err != nil {
		return nil, fmt.Errorf("testenv: admin client: %w", err)
	}
	admin, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, fmt.Errorf("testenv: admin client: %w", err)
	}
	e.admin = admin

	serverCtx, stopServer := context.WithCancel(runCtx)
	e.stopServer = stopServer
	e.serverDone = make(chan error, 1)
	go func() { e.serverDone <- e.server.Run(serverCtx) }()
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	e.ready = true

	if opts.Controllers {
		if err := e.startControllers(runCtx, opts.ControllerSelection); err != nil {
			return nil, err
		}
	}
	if opts.SimulatedNode {
		if err := e.startNode(ctx, runCtx, admin, opts.NodeName); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// StartT starts an environment for a test or benchmark, stops it when tb ends (failing tb
// if something of it did not stop), and fails tb at once if it cannot start.
func StartT(tb testing.TB, opts Options) *Env {
	tb.Helper()
	e, err := Start(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start test environment: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Stop(); err != nil {
			tb.Errorf("stop test environment: %v", err)
		}
	})
	return e
}

// ClientConfig returns a client configuration for another identity: a client certificate
// from the environment's CA with user as its common name and groups as its organizations
// (name names the certificate's files under DataDir/pki). Only members of system:masters,
// system:nodes and kubeshim:controllers are authorized; everybody else gets 403.
func (e *Env) ClientConfig(name, user string, groups ...string) (*rest.Config, error) {
	cfg, err := e.clientConfig(name, user, groups)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	return cfg, nil
}

// clientConfig issues a client configuration and remembers it for closeIdleConnections.
func (e *Env) clientConfig(name, user string, groups []string) (*rest.Config, error) {
	cfg, err := e.server.ClientConfig(name, user, groups)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.configs = append(e.configs, rest.CopyConfig(cfg))
	e.mu.Unlock()
	return cfg, nil
}

// closeIdleConnections closes the idle connections of the (cached, shared) transports of
// the configurations handed out: the server's shutdown waits for open connections.
func (e *Env) closeIdleConnections() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, cfg := range e.configs {
		if rt, err := rest.TransportFor(cfg); err == nil {
			utilnet.CloseIdleConnectionsFor(rt)
		}
	}
}

// Stop stops the simulated node, the controllers and the API server, frees the port and
// removes the temporary data directory. It waits for every goroutine of the environment to
// end and returns the errors they ended with. Calling it again returns the same result.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() { e.stopErr = e.stop() })
	return e.stopErr
}

// stop tears down whatever part of the environment exists.
func (e *Env) stop() error {
	var errs []error
	for i := len(e.components) - 1; i >= 0; i-- {
		c := e.components[i]
		c.cancel()
		if err := waitDone(c.done, c.name); err != nil {
			errs = append(errs, err)
		}
	}
	e.components = nil
	if e.stopServer != nil {
		if !e.ready {
			// The generic server exits the process (klog.Fatal) when a post-start hook
			// fails, as the bootstrap does when shutdown interrupts it: let it finish.
			ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			if err := e.waitReady(ctx); err != nil {
				klog.V(2).InfoS("testenv: stopping a server that did not become ready", "err", err)
			}
			cancel()
		}
		e.closeIdleConnections()
		e.stopServer()
		// Requests in flight get drainGrace to finish; then the connections still open
		// (clients that keep theirs after the server's GOAWAY, watches nobody stopped) are
		// closed rather than waited for.
		select {
		case err := <-e.serverDone:
			e.serverDone <- err
		case <-time.After(drainGrace):
			if n := e.listener.closeConns(); n > 0 {
				klog.V(2).InfoS("testenv: closed connections still open at shutdown", "count", n)
			}
		}
		if err := waitDone(e.serverDone, "API server"); err != nil {
			errs = append(errs, err)
		}
		e.stopServer = nil
	}
	if e.listener != nil {
		// The server closes it when it ran; otherwise it is ours to close.
		if err := e.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener: %w", err))
		}
		e.listener = nil
	}
	if e.backend != nil {
		e.backend.Close()
		e.backend = nil
	}
	if e.removeDir && e.DataDir != "" {
		if err := os.RemoveAll(e.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("remove data directory: %w", err))
		}
		e.removeDir = false
	}
	if len(errs) > 0 {
		return fmt.Errorf("testenv: stop: %w", errors.Join(errs...))
	}
	return nil
}

// waitDone waits for a component's end; its context has been cancelled, so a context error
// is how it ends normally.
func waitDone(done <-chan error, name string) error {
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s still running %v after it was told to stop", name, stopTimeout)
	}
}

// waitReady polls /readyz until the server is ready: listening, its post-start hooks done
// (the bootstrap namespaces exist) and its informers synced.
func (e *Env) waitReady(ctx context.Context) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last error
	for {
		body, err := e.admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("/readyz: %q", body)
		}
		last = err
		select {
		case err := <-e.serverDone:
			e.serverDone <- err // for stop
			return fmt.Errorf("testenv: API server stopped before it was ready: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("testenv: API server not ready: %w (last: %v)", ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// startControllers runs the controllers with the identities `kubeshim up` gives them: the
// controller manager's and the scheduler's.
func (e *Env) startControllers(runCtx context.Context, selection []string) error {
	cm, err := e.clientConfig("controller-manager", "system:kube-controller-manager", []string{apiserver.ControllersGroup})
	if err != nil {
		return fmt.Errorf("testenv: controllers: %w", err)
	}
	sched, err := e.clientConfig("scheduler", "system:kube-scheduler", []string{apiserver.ControllersGroup})
	if err != nil {
		return fmt.Errorf("testenv: scheduler: %w", err)
	}
	e.run(runCtx, "controllers", func(ctx context.Context) error {
		return manager.Run(ctx, manager.Options{Controllers: selection, ControllerManager: cm, Scheduler: sched})
	})
	return nil
}

// startNode runs the simulated node as system:node:NAME and waits until it is registered.
func (e *Env) startNode(ctx, runCtx context.Context, admin kubernetes.Interface, name string) error {
	cfg, err := e.clientConfig("node-"+name, "system:node:"+name, []string{"system:nodes"})
	if err != nil {
		return fmt.Errorf("testenv: simulated node: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("testenv: simulated node client: %w", err)
	}
	e.NodeName = name
	node := simnode.New(client, name)
	c := e.run(runCtx, "simulated node "+name, node.Run)

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		_, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("testenv: simulated node %s: %w", name, err)
		}
		select {
		case err := <-c.done:
			c.done <- err // for stop
			return fmt.Errorf("testenv: simulated node %s stopped before it registered: %w", name, err)
		case <-ctx.Done():
			return fmt.Errorf("testenv: simulated node %s not registered: %w", name, ctx.Err())
		case <-ticker.C:
		}
	}
}

// run runs fn in a goroutine as a component of the environment, stopped by Stop.
func (e *Env) run(runCtx context.Context, name string, fn func(context.Context) error) *component {
	ctx, cancel := context.WithCancel(runCtx)
	c := &component{name: name, cancel: cancel, done: make(chan error, 1)}
	e.components = append(e.components, c)
	go func() { c.done <- fn(ctx) }()
	return c
}
