// Package apiserver assembles kubeshim's API server from k8s.io/apiserver's generic server
// and the REST storages of registry/.
package apiserver

import (
	"fmt"
	"net"
	"path/filepath"

	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// Options configures the API server.
type Options struct {
	// DataDir holds the PKI (DataDir/pki) and the admin kubeconfig (DataDir/kubeconfig).
	DataDir string
	// BindAddress is the address to serve on (default 127.0.0.1).
	BindAddress net.IP
	// SecurePort is the HTTPS port; 0 picks a free one.
	SecurePort int
	// Listener, if set, is used instead of BindAddress and SecurePort.
	Listener net.Listener
	// AdvertiseAddress is added to the serving certificate and used in the kubeconfig.
	AdvertiseAddress net.IP
	// Storage builds the storage of every resource: registry/storage's in-memory backend.
	// Ignored when Etcd is set.
	Storage generic.StorageDecorator
	// Etcd, if set, stores everything in an etcd cluster through k8s.io/apiserver's etcd3
	// storage instead.
	Etcd *storagebackend.TransportConfig
	// DefaultNotReadyTolerationSeconds and DefaultUnreachableTolerationSeconds are how long new
	// pods tolerate a not-ready or unreachable node before they are evicted (0: 300 s).
	DefaultNotReadyTolerationSeconds, DefaultUnreachableTolerationSeconds int64

	servingCert, servingKey string
}

func (o *Options) complete() error {
	if o.DataDir == "" {
		return fmt.Errorf("a data directory is required")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", o.DataDir, err)
	}
	o.DataDir = abs
	if o.BindAddress == nil {
		o.BindAddress = net.IPv4(127, 0, 0, 1)
	}
	if o.Etcd != nil {
		if len(o.Etcd.ServerList) == 0 {
			return fmt.Errorf("etcd storage needs at least one server")
		}
		o.Storage = generic.UndecoratedStorage
	}
	if o.Storage == nil {
		return fmt.Errorf("a storage backend is required")
	}
	return nil
}

// PKIDir is where the certificates live.
func (o *Options) PKIDir() string { return filepath.Join(o.DataDir, "pki") }

// KubeconfigPath is the admin kubeconfig written once the server is ready.
func (o *Options) KubeconfigPath() string { return filepath.Join(o.DataDir, "kubeconfig") }
