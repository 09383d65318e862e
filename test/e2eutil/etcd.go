package e2eutil

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Etcd is a private etcd (Debian's etcd-server, installed by `make deps`) on loopback.
type Etcd struct {
	// URL is its client URL.
	URL  string
	Logs *SyncBuffer
	cmd  *exec.Cmd
}

// StartEtcd runs etcd with its data in dataDir on free loopback ports and waits until it
// accepts connections.
func StartEtcd(dataDir string) (*Etcd, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd is not installed (make deps installs etcd-server): %w", err)
	}
	clientPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	e := &Etcd{URL: client, Logs: &SyncBuffer{}}
	e.cmd = exec.Command(bin, "--data-dir", dataDir, "--name", "e2e",
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer)
	e.cmd.Stdout, e.cmd.Stderr = e.Logs, e.Logs
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(client, "http://"))
		if err == nil {
			c.Close()
			return e, nil
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("etcd not serving after 20s: %v\n%s", err, e.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends etcd and waits for it.
func (e *Etcd) Stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	_ = e.cmd.Wait()
}
