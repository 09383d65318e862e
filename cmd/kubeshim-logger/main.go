// Command kubeshim-logger is containerd's binary logger for kubeshim's containers: the shim of
// each container runs it with the container's stdout and stderr, and it writes them to the
// container's log file in the CRI log format. It is a separate, small program because one runs
// per container: kubeshim itself would cost tens of megabytes each.
package main

import "github.com/kubeshim/kubeshim/kubelet/crilog"

func main() { crilog.RunLogger() }
