package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeshim/kubeshim/certs"
	"github.com/kubeshim/kubeshim/kubeconfig"
)

// newKubeconfigCommand makes credentials from the cluster CA of a data directory.
func newKubeconfigCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "kubeconfig", Short: "Make kubeconfigs and certificates from the cluster CA"}
	var dataDir, outDir, server string
	var nodeIPs []net.IP
	node := &cobra.Command{
		Use:   "node NAME",
		Short: "Credentials for a node to join: OUT/kubeconfig (system:node:NAME), OUT/kubelet.crt|key, OUT/ca.crt",
		Long: `Write the credentials a node needs to join this control plane with
	kubeshim kubelet --node-name NAME --kubeconfig OUT/kubeconfig \
	  --tls-cert-file OUT/kubelet.crt --tls-private-key-file OUT/kubelet.key --client-ca-file OUT/ca.crt
The kubeconfig's identity is system:node:NAME in group system:nodes; kubelet.crt serves the
node's kubelet API for --node-ip; the API server reaches it with its kubelet client certificate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			pki := filepath.Join(dataDir, "pki")
			if _, err := os.Stat(filepath.Join(pki, "ca.crt")); err != nil {
				return fmt.Errorf("no cluster CA in %s (is --data-dir the control plane's?): %w", pki, err)
			}
			ca, err := certs.LoadOrCreateCA(pki)
			if err != nil {
				return fmt.Errorf("cluster CA in %s: %w", pki, err)
			}
			if server == "" {
				admin, err := clientcmd.LoadFromFile(filepath.Join(dataDir, "kubeconfig"))
				if err != nil {
					return fmt.Errorf("--server not given and no admin kubeconfig to take it from: %w", err)
				}
				for _, c := range admin.Clusters {
					server = c.Server
				}
			}
			if outDir == "" {
				outDir = filepath.Join(dataDir, "nodes", name)
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			certFile, keyFile, err := ca.LoadOrCreateClient(outDir, "node-client", "system:node:"+name, []string{"system:nodes"})
			if err != nil {
				return fmt.Errorf("node client certificate: %w", err)
			}
			ips := append([]net.IP{net.IPv4(127, 0, 0, 1)}, nodeIPs...)
			if _, _, err := ca.LoadOrCreateServing(outDir, "kubelet", []string{name, "localhost"}, ips); err != nil {
				return fmt.Errorf("kubelet serving certificate: %w", err)
			}
			caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(outDir, "ca.crt"), caPEM, 0o644); err != nil {
				return err
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			if err := kubeconfig.Write(filepath.Join(outDir, "kubeconfig"), "kubeshim", server, caPEM, certPEM, keyPEM); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), outDir)
			return nil
		},
	}
	f := node.Flags()
	f.StringVar(&dataDir, "data-dir", "/var/lib/kubeshim", "the control plane's data directory (its CA)")
	f.StringVar(&outDir, "out-dir", "", "where to write the credentials (default DATA/nodes/NAME)")
	f.StringVar(&server, "server", "", "API server URL for the node (default: the admin kubeconfig's)")
	f.IPSliceVar(&nodeIPs, "node-ip", nil, "IP addresses the node's kubelet API serves on (for its certificate)")
	cmd.AddCommand(node)
	return cmd
}
