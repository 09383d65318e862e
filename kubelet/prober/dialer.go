package prober

import (
	"net"
	"syscall"
)

// probeDialer returns the dialer of HTTP, TCP and gRPC probes. As upstream's, it sets SO_LINGER
// to 1 s so the many short probe connections do not pile up in TIME_WAIT.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
			})
		},
	}
}
