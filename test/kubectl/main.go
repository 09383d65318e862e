// Command kubectl is kubectl built from k8s.io/kubectl at the module's client-go version, so
// the end-to-end tests also run the kubectl of the API version kubeshim serves.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
