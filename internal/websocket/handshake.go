package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// acceptGUID is the fixed GUID of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value answering a
// Sec-WebSocket-Key: base64(SHA-1(key + the RFC 6455 GUID)).
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// UpgradeOptions configures Upgrade. The zero value is ready to use.
type UpgradeOptions struct {
	// Subprotocols are the server's, in preference order: the first of
	// them that the client offers is chosen. None offered in common (or
	// none here) means no Sec-WebSocket-Protocol in the answer.
	Subprotocols []string
	// CheckOrigin refuses a handshake (403) when it returns false. Nil
	// accepts any origin: parley authenticates in-band with a UserSig, so
	// a cross-origin page gains nothing a script could not do anyway.
	CheckOrigin func(*http.Request) bool
	// ReadLimit is the largest message ReadMessage accepts, in bytes. Zero
	// means 64 KiB.
	ReadLimit int64
}

// Upgrade answers a WebSocket handshake and takes the connection over from
// net/http. On a bad handshake it answers with a plain-text HTTP error (405
// for a method other than GET, 426 with Sec-WebSocket-Version: 13 for a
// missing or wrong version, 403 for a refused origin, 400 otherwise) and
// returns an error; the handler must not write after that.
//
// To hold the least memory, call ReadMessage from a goroutine of your own
// and return from the handler: while the handler runs, net/http keeps the
// connection's 4 KiB read and write buffers.
func Upgrade(w http.ResponseWriter, r *http.Request, opts UpgradeOptions) (*Conn, error) {
	refuse := func(status int, msg string) (*Conn, error) {
		http.Error(w, msg, status)
		return nil, errors.New("websocket: handshake refused: " + msg)
	}
	if opts.ReadLimit < 0 {
		return refuse(http.StatusInternalServerError, "negative ReadLimit")
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return refuse(http.StatusMethodNotAllowed, "a WebSocket handshake is a GET")
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return refuse(http.StatusBadRequest, "a WebSocket handshake needs HTTP/1.1")
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		return refuse(http.StatusBadRequest, "not a WebSocket handshake: Connection: Upgrade and Upgrade: websocket are required")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: 13 is the one supported")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key is not the base64 of 16 bytes")
	}
	if opts.CheckOrigin != nil && !opts.CheckOrigin(r) {
		return refuse(http.StatusForbidden, "origin not allowed")
	}
	offered := tokens(r.Header, "Sec-WebSocket-Protocol")
	var chosen string
	for _, p := range opts.Subprotocols {
		if slices.Contains(offered, p) {
			chosen = p
			break
		}
	}

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return refuse(http.StatusInternalServerError, "cannot take the connection over: "+err.Error())
	}
	// net/http's read and write timeouts stay set on a hijacked conn;
	// from here on the caller's deadlines (SetIdleTimeout, write
	// deadlines) are the only ones.
	conn.SetDeadline(time.Time{})
	// A client may send frames right behind its handshake. Keep only those
	// bytes, not net/http's reader, nor its writer, which holds nothing.
	var pending []byte
	if n := brw.Reader.Buffered(); n > 0 {
		p, _ := brw.Reader.Peek(n)
		pending = bytes.Clone(p)
	}
	answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + AcceptKey(key) + "\r\n"
	if chosen != "" {
		answer += "Sec-WebSocket-Protocol: " + chosen + "\r\n"
	}
	if _, err := io.WriteString(conn, answer+"\r\n"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: writing the handshake answer: %w", err)
	}
	return newConn(conn, true, chosen, opts.ReadLimit, pending), nil
}

// tokens returns the comma-separated elements of every value of header name.
func tokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.Trim(t, " \t"); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func hasToken(h http.Header, name, token string) bool {
	return slices.ContainsFunc(tokens(h, name), func(t string) bool { return strings.EqualFold(t, token) })
}

// DialOptions configures Dial. The zero value is ready to use.
type DialOptions struct {
	// Header holds extra request headers (Origin, ...). The handshake's
	// own headers override any of the same name.
	Header http.Header
	// Subprotocols are offered in this order.
	Subprotocols []string
	// TLSConfig is used for wss://. Nil means the defaults, with
	// ServerName taken from the URL when it is empty.
	TLSConfig *tls.Config
	// ReadLimit is the largest message ReadMessage accepts, in bytes. Zero
	// means 64 KiB.
	ReadLimit int64
	// NetDialContext opens the TCP connection. Nil means a net.Dialer's.
	// A benchmark can bind many source addresses through it.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// HandshakeError is Dial's error when the server answered the handshake with
// something other than 101 Switching Protocols.
type HandshakeError struct {
	StatusCode int
	Status     string // "403 Forbidden"
	Body       string // at most the first 512 bytes
}

func (e *HandshakeError) Error() string {
	s := "websocket: handshake answered " + e.Status
	if e.Body != "" {
		s += ": " + strconv.Quote(e.Body)
	}
	return s
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as their equivalents). ctx bounds the connection and
// the handshake, not the Conn's later life. An answer other than 101 is a
// *HandshakeError.
func Dial(ctx context.Context, rawURL string, opts DialOptions) (*Conn, error) {
	if opts.ReadLimit < 0 {
		return nil, errors.New("websocket: negative ReadLimit")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, fmt.Errorf("websocket: URL scheme %q is not ws or wss", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dial := opts.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	c, err := handshake(ctx, conn, u, secure, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func handshake(ctx context.Context, conn net.Conn, u *url.URL, secure bool, opts DialOptions) (*Conn, error) {
	// Deadlines, not goroutines, make the handshake's I/O honour ctx.
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ctxErr := func(err error) error {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Only ctx sets deadlines here, but the connection's timer can
			// beat ctx's own by a hair.
			<-ctx.Done()
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("websocket: handshake: %w", err)
	}
	if secure {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, ctxErr(err)
		}
		conn = tc
	}

	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{
		Method: http.MethodGet, URL: u, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: opts.Header.Clone(),
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Del("Sec-WebSocket-Extensions")
	req.Header.Del("Sec-WebSocket-Protocol")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if err := req.Write(conn); err != nil {
		return nil, ctxErr(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, ctxErr(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &HandshakeError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(body)}
	}
	switch {
	case !hasToken(resp.Header, "Upgrade", "websocket"):
		return nil, errors.New("websocket: handshake: answer lacks Upgrade: websocket")
	case !hasToken(resp.Header, "Connection", "upgrade"):
		return nil, errors.New("websocket: handshake: answer lacks Connection: Upgrade")
	case resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return nil, errors.New("websocket: handshake: wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, errors.New("websocket: handshake: server chose an extension, none was offered")
	}
	proto := resp.Header.Get("Sec-WebSocket-Protocol")
	if proto != "" && !slices.Contains(opts.Subprotocols, proto) {
		return nil, fmt.Errorf("websocket: handshake: server chose subprotocol %q, which was not offered", proto)
	}
	if !stop() { // ctx ended: its deadline may land after the reset below
		return nil, ctxErr(ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	var pending []byte
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		pending = bytes.Clone(p)
	}
	return newConn(conn, false, proto, opts.ReadLimit, pending), nil
}
