package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	gwebsocket "github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientportforward "k8s.io/client-go/tools/portforward"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// Protocols served, besides those of k8s.io/cri-streaming (SPDY channel.k8s.io v1–v4 and the
// WebSocket channel.k8s.io / base64 / v4 variants, SPDY portforward.k8s.io):
//   - exec/attach over WebSocket "v5.channel.k8s.io" (kubectl ≥ 1.30 through an API server that
//     passes WebSockets on): served here, the CLOSE signal ending stdin;
//   - port-forward over WebSocket "SPDY/3.1+portforward.k8s.io" (SPDY tunnelled in WebSocket
//     frames, kubectl ≥ 1.31): the WebSocket is wrapped as a connection and the SPDY
//     port-forward server of cri-streaming runs on it.
const (
	protocolV5            = "v5.channel.k8s.io"
	writeStatusDeadline   = 10 * time.Second
	nonZeroExitCodeReason = metav1.StatusReason(remotecommand.NonZeroExitCodeReason)
)

// exec serves /exec/{podNamespace}/{podID}[/{uid}]/{containerName}?command=…&input=1&output=1&error=1&tty=1.
func (s *Server) exec(w http.ResponseWriter, req *http.Request) {
	opts, containerID, ok := s.prepareRemoteCommand(w, req)
	if !ok {
		return
	}
	cmd := req.URL.Query()["command"]
	run := func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		return s.cfg.Streaming.Exec(ctx, containerID, cmd, in, out, errw, tty, resize)
	}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(req) {
		s.serveV5(w, req, opts, run)
		return
	}
	remotecommand.ServeExec(w, req, requested(opts, run), "", "", containerID, cmd, opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// attach serves /attach/{podNamespace}/{podID}[/{uid}]/{containerName}?input=1&output=1&error=1&tty=1.
func (s *Server) attach(w http.ResponseWriter, req *http.Request) {
	opts, containerID, ok := s.prepareRemoteCommand(w, req)
	if !ok {
		return
	}
	run := func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		return s.cfg.Streaming.Attach(ctx, containerID, in, out, errw, tty, resize)
	}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(req) {
		s.serveV5(w, req, opts, run)
		return
	}
	remotecommand.ServeAttach(w, req, requested(opts, run), "", "", containerID, opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// prepareRemoteCommand parses the stream options and resolves the container; it answers the
// request itself when it cannot go on.
func (s *Server) prepareRemoteCommand(w http.ResponseWriter, req *http.Request) (*remotecommand.Options, string, bool) {
	if s.cfg.Streaming == nil || s.cfg.Resolve == nil {
		http.Error(w, "streaming is not available on this node", http.StatusNotImplemented)
		return nil, "", false
	}
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, "", false
	}
	vars := mux.Vars(req)
	containerID, _, err := s.cfg.Resolve(vars["podNamespace"], vars["podID"], vars["uid"], vars["containerName"])
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return nil, "", false
	}
	return opts, containerID, true
}

type runFunc func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error

// requested passes run only the streams the client asked for: cri-streaming's WebSocket
// session hands out placeholders for the others.
func requested(opts *remotecommand.Options, run runFunc) remoteCommand {
	return func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		if !opts.Stdin {
			in = nil
		}
		if !opts.Stdout {
			out = nil
		}
		if !opts.Stderr {
			errw = nil
		}
		return run(ctx, in, out, errw, tty, resize)
	}
}

// remoteCommand adapts a runFunc to cri-streaming's Executor and Attacher.
type remoteCommand runFunc

func (f remoteCommand) ExecInContainer(ctx context.Context, _, _, _ string, _ []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	return f(ctx, in, out, errw, tty, resize)
}

func (f remoteCommand) AttachContainer(ctx context.Context, _, _, _ string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return f(ctx, in, out, errw, tty, resize)
}

// serveV5 serves an exec or attach over WebSocket with the v5.channel.k8s.io protocol: channels
// 0 stdin, 1 stdout, 2 stderr, 3 status (a JSON metav1.Status, carrying the exit code),
// 4 resize (JSON TerminalSize events), 255 CLOSE (ends a channel: stdin's EOF).
func (s *Server) serveV5(w http.ResponseWriter, req *http.Request, opts *remotecommand.Options, run runFunc) {
	channels := make([]wsstream.ChannelType, 5)
	channels[remotecommand.StreamStdIn] = channelIf(opts.Stdin, wsstream.ReadChannel)
	channels[remotecommand.StreamStdOut] = channelIf(opts.Stdout, wsstream.WriteChannel)
	channels[remotecommand.StreamStdErr] = channelIf(opts.Stderr, wsstream.WriteChannel)
	channels[remotecommand.StreamErr] = wsstream.WriteChannel
	channels[remotecommand.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		protocolV5: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, streams, err := conn.Open(w, req)
	if err != nil {
		klog.V(2).InfoS("Upgrading to a WebSocket stream", "path", req.URL.Path, "err", err)
		return
	}
	defer conn.Close()
	// An empty frame on the lowest writable channel tells the client the session is up.
	first := remotecommand.StreamErr
	switch {
	case opts.Stdout:
		first = remotecommand.StreamStdOut
	case opts.Stderr:
		first = remotecommand.StreamStdErr
	}
	if _, err := streams[first].Write([]byte{}); err != nil {
		klog.V(2).InfoS("Starting a WebSocket stream", "path", req.URL.Path, "err", err)
		return
	}
	var in io.Reader
	var out, errw io.WriteCloser
	if opts.Stdin {
		in = streams[remotecommand.StreamStdIn]
	}
	if opts.Stdout {
		out = streams[remotecommand.StreamStdOut]
	}
	if opts.Stderr {
		errw = streams[remotecommand.StreamStdErr]
	}
	var resize chan remotecommand.TerminalSize
	if opts.TTY {
		resize = make(chan remotecommand.TerminalSize)
		go decodeResizes(req.Context(), streams[remotecommand.StreamResize], resize)
	}
	runErr := run(req.Context(), in, out, errw, opts.TTY, resize)
	status := statusOf(runErr)
	if runErr != nil && status.Reason != nonZeroExitCodeReason {
		klog.V(2).InfoS("Stream session failed", "path", req.URL.Path, "err", runErr)
	}
	data, err := json.Marshal(status)
	if err != nil {
		return
	}
	conn.SetWriteDeadline(writeStatusDeadline)
	if _, err := streams[remotecommand.StreamErr].Write(data); err != nil {
		klog.V(2).InfoS("Writing a stream's status", "path", req.URL.Path, "err", err)
	}
}

func channelIf(on bool, t wsstream.ChannelType) wsstream.ChannelType {
	if on {
		return t
	}
	return wsstream.IgnoreChannel
}

// decodeResizes sends the terminal sizes read from r to ch, and closes ch when r ends.
func decodeResizes(ctx context.Context, r io.Reader, ch chan<- remotecommand.TerminalSize) {
	defer close(ch)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case ch <- size:
		case <-ctx.Done():
			return
		}
	}
}

// statusOf is the status a remote command session ends with: Success, a NonZeroExitCode
// failure carrying the exit code as kubectl reads it, or an internal error.
func statusOf(err error) *metav1.Status {
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	if err == nil {
		st.Status = metav1.StatusSuccess
		return st
	}
	st.Status = metav1.StatusFailure
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		st.Reason = nonZeroExitCodeReason
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type: metav1.CauseType(remotecommand.ExitCodeCauseType), Message: strconv.Itoa(exitErr.ExitStatus()),
		}}}
		return st
	}
	st.Code = http.StatusInternalServerError
	st.Reason = metav1.StatusReasonInternalError
	st.Message = fmt.Sprintf("Internal error occurred: %v", err)
	st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: err.Error()}}}
	return st
}

// portForward serves /portForward/{podNamespace}/{podID}[/{uid}]: SPDY (portforward.k8s.io),
// SPDY tunnelled over WebSocket, or cri-streaming's older WebSocket protocol (?port=N).
func (s *Server) portForward(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Streaming == nil || s.cfg.Resolve == nil {
		http.Error(w, "streaming is not available on this node", http.StatusNotImplemented)
		return
	}
	vars := mux.Vars(req)
	tunnel := wsstream.IsWebSocketRequestWithTunnelingProtocol(req)
	opts := &portforward.V4Options{}
	if !tunnel {
		var err error
		if opts, err = portforward.NewV4Options(req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	_, podUID, err := s.cfg.Resolve(vars["podNamespace"], vars["podID"], vars["uid"], "")
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	forwarder := portForwarder{rt: s.cfg.Streaming, uid: podUID}
	if tunnel {
		tw := &tunnelWriter{w: w, req: req, header: http.Header{}}
		req = spdyRequestOf(req)
		w = tw
	}
	portforward.ServePortForward(w, req, forwarder, "", string(podUID), opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, portforward.SupportedProtocols)
}

type portForwarder struct {
	rt  StreamingRuntime
	uid types.UID
}

func (p portForwarder) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	return p.rt.PortForward(ctx, p.uid, port, stream)
}

// spdyRequestOf turns a request for SPDY tunnelled over WebSocket into the SPDY upgrade request
// it carries: the sub-protocols "SPDY/3.1+portforward.k8s.io" become the SPDY protocol
// versions offered.
func spdyRequestOf(req *http.Request) *http.Request {
	clone := req.Clone(req.Context())
	var protocols []string
	for _, p := range gwebsocket.Subprotocols(req) {
		if strings.HasPrefix(p, portforward.WebsocketsSPDYTunnelingPrefix) && strings.HasSuffix(p, portforward.KubernetesSuffix) {
			protocols = append(protocols, strings.TrimPrefix(p, portforward.WebsocketsSPDYTunnelingPrefix))
		}
	}
	for _, h := range []string{wsstream.WebSocketProtocolHeader, "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", httpstream.HeaderUpgrade, httpstream.HeaderProtocolVersion} {
		clone.Header.Del(h)
	}
	clone.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	clone.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	for _, p := range protocols {
		clone.Header.Add(httpstream.HeaderProtocolVersion, p)
	}
	clone.Body = http.NoBody
	return clone
}

// tunnelWriter is the ResponseWriter the SPDY server writes to when SPDY is tunnelled over
// WebSocket: errors before the upgrade go to the real response; the 101 answer is not written
// but turns into the WebSocket upgrade (offering "SPDY/3.1+" and the negotiated protocol) when
// the SPDY server hijacks the connection, and the hijacked connection is the WebSocket's
// binary stream.
type tunnelWriter struct {
	w        http.ResponseWriter
	req      *http.Request
	header   http.Header
	mu       sync.Mutex
	upgraded bool
	wrote    bool
}

var _ http.Hijacker = (*tunnelWriter)(nil)

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if code == http.StatusSwitchingProtocols || t.wrote {
		return
	}
	t.wrote = true
	for k, v := range t.header {
		t.w.Header()[k] = v
	}
	t.w.WriteHeader(code)
}

func (t *tunnelWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	wrote := t.wrote
	t.mu.Unlock()
	if !wrote {
		t.WriteHeader(http.StatusOK)
	}
	return t.w.Write(p)
}

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.upgraded || t.wrote {
		return nil, nil, errors.New("connection already answered")
	}
	t.upgraded = true
	var protocols []string
	if p := strings.TrimSpace(t.header.Get(httpstream.HeaderProtocolVersion)); p != "" {
		protocols = []string{portforward.WebsocketsSPDYTunnelingPrefix + p}
	}
	upgrader := gwebsocket.Upgrader{
		Subprotocols: protocols,
		// Clients are authenticated by their certificates, not by origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := upgrader.Upgrade(t.w, t.req, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("upgrading to a WebSocket tunnel: %w", err)
	}
	conn := clientportforward.NewTunnelingConnection("kubelet-server", ws)
	return conn, bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn)), nil
}
