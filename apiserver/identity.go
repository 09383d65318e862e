package apiserver

import (
	"fmt"
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
)

// ClientConfig returns a client config for an in-process component with its own identity: a
// client certificate (CN user, O groups) from the cluster CA, over the server's HTTPS
// endpoint, as kube-controller-manager and kube-scheduler connect to kube-apiserver.
func (s *Server) ClientConfig(name, user string, groups []string) (*rest.Config, error) {
	certFile, keyFile, err := s.ca.LoadOrCreateClient(s.opts.PKIDir(), name, user, groups)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", user, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", keyFile, err)
	}
	return &rest.Config{
		Host:      s.serverURL,
		UserAgent: user,
		QPS:       200,
		Burst:     400,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   s.ca.CertPEM,
			CertData: certPEM,
			KeyData:  keyPEM,
		},
	}, nil
}

// AddPostStartHook runs hook once the server serves (and the bootstrap is done, if the hook
// waits for readiness itself); hookCtx.Context ends at shutdown.
func (s *Server) AddPostStartHook(name string, hook genericapiserver.PostStartHookFunc) error {
	return s.generic.AddPostStartHook(name, hook)
}
