// Package kubeconfig writes and reads the kubeconfig files kubeshim hands to
// kubectl and client-go programs.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeshim/kubeshim/internal/atomicfile"
)

// Write writes to path a kubeconfig with one cluster, one user and one
// context, all called name, with current-context set to it. The CA
// certificate and the client certificate and key are embedded as data, so the
// file keeps working when copied to another machine. The file is written with
// mode 0600 atomically (a temporary file renamed over path); its directory is
// created with mode 0700 if missing.
func Write(path, name, serverURL string, caPEM, certPEM, keyPEM []byte) error {
	switch {
	case name == "":
		return fmt.Errorf("write kubeconfig %s: empty name", path)
	case len(caPEM) == 0 || len(certPEM) == 0 || len(keyPEM) == 0:
		return fmt.Errorf("write kubeconfig %s: CA, client certificate and key are all required", path)
	}
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL
	cluster.CertificateAuthorityData = caPEM
	cfg.Clusters[name] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	cfg.AuthInfos[name] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = name
	kctx.AuthInfo = name
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name

	if err := clientcmd.Validate(*cfg); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: encode: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}

// Load reads the kubeconfig at path and returns the client configuration of
// its current context. Relative file references in it are resolved against
// the file's directory, as kubectl does. Unlike client-go's deferred loader it
// never falls back to the in-cluster configuration: an empty or incomplete
// file is an error.
func Load(path string) (*rest.Config, error) {
	if path == "" {
		return nil, errors.New("load kubeconfig: empty path")
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	if err := clientcmd.ResolveLocalPaths(cfg); err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return restCfg, nil
}

// writeFileAtomic writes data to path with mode 0600, atomically.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o600)
}
