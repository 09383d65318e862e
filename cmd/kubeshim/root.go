package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubeshim/kubeshim/apiserver"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kubeshim",
		Short:         "Kubernetes for one machine, in one binary",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newUpCommand(), newVersionCommand(), newKubeletCommand(), newImagesCommand(), newLoggerCommand(), newKubeconfigCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Kubernetes version served and kubeshim's own",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), apiserver.GitVersion())
		},
	}
}
