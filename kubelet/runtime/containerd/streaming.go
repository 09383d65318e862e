package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerdclient "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containernetworking/plugins/pkg/ns"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// This file gives the kubelet's server (kubelet/server) what it needs for exec, attach and
// port-forward: Exec and Attach stream a container's process, PortForward connects to a port
// inside a pod's network namespace.

const (
	// execOutputGrace is how long Exec waits, after its process exited, for the output copiers
	// to drain; a background child that keeps the output open does not hold the session.
	execOutputGrace = 2 * time.Second
	// attachPollInterval is how often Attach looks for new log content.
	attachPollInterval = 100 * time.Millisecond
	// portForwardDialTimeout bounds the connection to the pod's port.
	portForwardDialTimeout = 10 * time.Second
)

// ErrAttachStdin is returned by Attach when stdin is requested: kubeshim's containers write
// their output through a logger binary and have no stdin pipe a client could attach to.
var ErrAttachStdin = errors.New("attaching to the stdin of a container is not supported by kubeshim yet " +
	"(containers run without a stdin pipe); attach without -i, or use exec")

// Exec runs cmd in the running container containerID with the container's environment, working
// directory and user, copying stdin to the process and its output to stdout and stderr. With tty
// the process gets a terminal (stderr is unused) sized by the events on resize. It returns once
// the process exited and its output was copied: nil for exit code 0, a k8s.io/utils/exec
// CodeExitError carrying any other code (what the streaming server reports to kubectl), another
// error when the process could not run. When ctx ends the process is killed.
func (r *Runtime) Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ctx = r.ctx(ctx)
	if len(cmd) == 0 {
		return errors.New("exec: no command")
	}
	c, err := r.client.LoadContainer(ctx, containerID)
	if err != nil {
		return notFound(err, "exec in container %s", containerID)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return fmt.Errorf("exec in container %s: %w", containerID, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return notFound(err, "exec in container %s: container is not running", containerID)
	}
	if spec.Process == nil {
		return fmt.Errorf("exec in container %s: its spec has no process", containerID)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = tty
	pspec.Env = append([]string(nil), spec.Process.Env...)
	if tty {
		pspec.Env = setEnv(pspec.Env, "TERM", "xterm")
	}

	// The streams cio copies; nil ones get no FIFO.
	var in io.Reader
	stdinDone := make(chan struct{})
	if stdin != nil {
		in = &eofNotifier{r: stdin, done: stdinDone}
	}
	var out, errw io.Writer
	if stdout != nil {
		out = stdout
	}
	if stderr != nil && !tty {
		errw = stderr
	}
	opts := []cio.Opt{cio.WithStreams(in, out, errw), cio.WithFIFODir(filepath.Join(r.cfg.RootDir, "fifo"))}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + newID()[:16]
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return fmt.Errorf("exec in container %s: %w", containerID, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, containerdclient.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			klog.V(2).InfoS("Deleting an exec process", "containerID", containerID, "err", err)
		}
	}()
	exitCh, err := proc.Wait(ctx)
	if err != nil {
		return fmt.Errorf("exec in container %s: %w", containerID, err)
	}
	if err := proc.Start(ctx); err != nil {
		return fmt.Errorf("exec in container %s: %w", containerID, err)
	}
	if stdin != nil && !tty {
		// cio closes its end of the stdin FIFO when stdin ends; the shim keeps the process's stdin
		// open until told to close it. A terminal is not closed (that hangs the session up, as
		// CRI runtimes do not either): its client ends input with the terminal's EOF character.
		go func() {
			select {
			case <-stdinDone:
				if err := proc.CloseIO(context.WithoutCancel(ctx), containerdclient.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) {
					klog.V(4).InfoS("Closing the stdin of an exec process", "containerID", containerID, "err", err)
				}
			case <-exitCh:
			}
		}()
	}
	resizeDone := make(chan struct{})
	defer close(resizeDone)
	if tty && resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-resize:
					if !ok {
						return
					}
					if size.Width == 0 || size.Height == 0 {
						continue
					}
					if err := proc.Resize(ctx, uint32(size.Width), uint32(size.Height)); err != nil {
						klog.V(4).InfoS("Resizing an exec terminal", "containerID", containerID, "err", err)
					}
				case <-resizeDone:
					return
				}
			}
		}()
	}

	var st containerdclient.ExitStatus
	select {
	case st = <-exitCh:
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		select {
		case <-exitCh:
		case <-time.After(5 * time.Second):
		}
		return fmt.Errorf("exec in container %s: %w", containerID, ctx.Err())
	}
	drained := make(chan struct{})
	go func() {
		proc.IO().Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(execOutputGrace):
		klog.V(2).InfoS("Exec output still open after the process exited; closing it", "containerID", containerID)
	}
	code, _, err := st.Result()
	if err != nil {
		return fmt.Errorf("exec in container %s: %w", containerID, err)
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: int(code)}
	}
	return nil
}

// setEnv sets name=value in env, replacing an existing entry.
func setEnv(env []string, name, value string) []string {
	for i, e := range env {
		if len(e) > len(name) && e[:len(name)+1] == name+"=" {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

// eofNotifier closes done when its reader ends (EOF or error).
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

// Attach streams the output of the running container containerID: kubeshim's containers write
// their output through the logger binary into their CRI log file, so Attach follows that file
// from its current end and writes each entry's content, without the CRI prefix, to stdout or
// stderr as the entry's stream says (everything to stdout when stderr is nil). It returns nil
// when the container exits (after the last output), or when ctx ends. stdin is not supported:
// a non-nil stdin gives ErrAttachStdin.
func (r *Runtime) Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ctx = r.ctx(ctx)
	if stdin != nil {
		return ErrAttachStdin
	}
	c, err := r.client.LoadContainer(ctx, containerID)
	if err != nil {
		return notFound(err, "attach to container %s", containerID)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", containerID, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return notFound(err, "attach to container %s: container is not running", containerID)
	}
	status, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", containerID, err)
	}
	if status.Status != containerdclient.Running {
		return fmt.Errorf("attach to container %s: container is not running (%s)", containerID, status.Status)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", containerID, err)
	}
	var out, errOut io.Writer = stdout, stderr
	if out == nil {
		out = io.Discard
	}
	if errOut == nil || tty {
		errOut = out
	}
	f := &logFollower{path: labels[labelLogPath], stdout: out, stderr: errOut}
	if err := f.open(true); err != nil {
		return fmt.Errorf("attach to container %s: %w", containerID, err)
	}
	defer f.close()
	ticker := time.NewTicker(attachPollInterval)
	defer ticker.Stop()
	for {
		if err := f.poll(); err != nil {
			return fmt.Errorf("attach to container %s: %w", containerID, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exitCh:
			// The logger may still be writing the last lines.
			time.Sleep(attachPollInterval)
			if err := f.poll(); err != nil {
				return fmt.Errorf("attach to container %s: %w", containerID, err)
			}
			f.flushPartial()
			return nil
		case <-ticker.C:
		}
	}
}

// logFollower reads new entries of a CRI log file as it grows, following a rotation (the
// path naming a new file) from the new file's start.
type logFollower struct {
	path           string
	stdout, stderr io.Writer
	f              *os.File
	rd             *bufio.Reader
	ino            uint64
	pending        []byte // an incomplete line (no newline yet)
}

func (l *logFollower) open(atEnd bool) error {
	f, err := os.Open(l.path)
	if err != nil {
		if os.IsNotExist(err) {
			// Not created yet, or rotated and not recreated yet: poll opens it from its start
			// once it appears.
			return nil
		}
		return err
	}
	if atEnd {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return err
		}
	}
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			l.ino = st.Ino
		}
	}
	l.f, l.rd, l.pending = f, bufio.NewReaderSize(f, 64*1024), nil
	return nil
}

func (l *logFollower) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// poll writes the complete lines appended since the last poll; it reopens the path when the
// file was rotated (after reading what the old one still had).
func (l *logFollower) poll() error {
	if l.f == nil {
		if err := l.open(false); err != nil || l.f == nil {
			return err
		}
	}
	if err := l.readLines(); err != nil {
		return err
	}
	fi, err := os.Stat(l.path)
	if err != nil {
		return nil // rotated, the new file not there yet
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino != l.ino {
		l.close()
		if err := l.open(false); err != nil {
			return err
		}
		return l.readLines()
	}
	return nil
}

func (l *logFollower) readLines() error {
	for {
		chunk, err := l.rd.ReadBytes('\n')
		if len(chunk) > 0 {
			l.pending = append(l.pending, chunk...)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line := l.pending[:len(l.pending)-1]
		l.pending = nil
		if err := l.writeEntry(string(line)); err != nil {
			return err
		}
	}
}

func (l *logFollower) flushPartial() {
	if len(l.pending) > 0 {
		_ = l.writeEntry(string(l.pending))
		l.pending = nil
	}
}

// writeEntry writes the content of one CRI log line to its stream.
func (l *logFollower) writeEntry(line string) error {
	stream, content, full, ok := splitCRILine(line)
	if !ok {
		return nil
	}
	if full {
		content += "\n"
	}
	w := l.stdout
	if stream == "stderr" {
		w = l.stderr
	}
	_, err := io.WriteString(w, content)
	return err
}

// splitCRILine splits "<time> <stream> <F|P> <content>" into its stream, content and whether
// the entry ends a line.
func splitCRILine(line string) (stream, content string, full, ok bool) {
	_, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", "", false, false
	}
	stream, rest, ok = strings.Cut(rest, " ")
	if !ok {
		return "", "", false, false
	}
	tag, content, _ := strings.Cut(rest, " ")
	return stream, content, tag != "P", true
}

// PortForward connects stream to 127.0.0.1:port inside the network namespace of the pod podUID
// (the host's for a hostNetwork pod), so ports a container binds to localhost are reachable
// too. It returns when either side closes.
func (r *Runtime) PortForward(ctx context.Context, podUID types.UID, port int32, stream io.ReadWriteCloser) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port forward to pod %s: invalid port %d", podUID, port)
	}
	rec, err := r.loadSandbox(podUID)
	if err != nil {
		return fmt.Errorf("port forward to pod %s: %w", podUID, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	var conn net.Conn
	dial := func() error {
		d := net.Dialer{Timeout: portForwardDialTimeout}
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	}
	if rec.NetNSPath == "" {
		err = dial()
	} else {
		// The socket belongs to the namespace it was made in, whichever thread uses it later.
		err = ns.WithNetNSPath(rec.NetNSPath, func(ns.NetNS) error { return dial() })
	}
	if err != nil {
		return fmt.Errorf("port forward to pod %s: dialing %s in its network namespace: %w", podUID, addr, err)
	}
	defer conn.Close()
	return pipeBoth(ctx, conn, stream)
}

// pipeBoth copies between conn and stream until the pod side ends (or ctx ends, or the client
// side fails); the end of the client's data half-closes the pod connection.
func pipeBoth(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	fromClient := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		}
		fromClient <- err
	}()
	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	select {
	case err := <-fromPod:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("copying from the pod: %w", err)
		}
		return nil
	case err := <-fromClient:
		if err != nil {
			conn.Close()
			<-fromPod
			return nil
		}
		// The client finished sending; the pod's answer may still be coming.
		select {
		case err := <-fromPod:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("copying from the pod: %w", err)
			}
		case <-ctx.Done():
		}
		return nil
	case <-ctx.Done():
		conn.Close()
		return ctx.Err()
	}
}
