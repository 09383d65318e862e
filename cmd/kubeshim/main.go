// Command kubeshim is Kubernetes for one machine in one binary.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"github.com/kubeshim/kubeshim/kubelet/crilog"
)

func main() {
	// Run by a shim as the container logger (kubeshim-logger was not found): its arguments
	// are key/value pairs in any order, which cobra cannot parse.
	if crilog.IsLoggerInvocation(os.Args[1:]) {
		crilog.RunLogger()
	}
	os.Exit(cli.Run(newRootCommand()))
}
