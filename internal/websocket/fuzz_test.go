package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/websocket"
)

// streamConn is a net.Conn whose peer is a fixed byte stream: reads drain
// it, then return io.EOF; writes are kept.
type streamConn struct {
	r       io.Reader
	written bytes.Buffer
	closed  bool
}

func (c *streamConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *streamConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.written.Write(p)
}

func (c *streamConn) Close() error                     { c.closed = true; return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// hijacker is a ResponseWriter that Upgrade can take over: the connection
// is conn, and net/http's reader holds buffered.
type hijacker struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	buffered []byte
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	br := bufio.NewReader(bytes.NewReader(h.buffered))
	br.Peek(len(h.buffered))
	return h.conn, bufio.NewReadWriter(br, bufio.NewWriter(h.conn)), nil
}

func upgradeRequest() *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", testKey)
	return r
}

// fuzzServer returns a server-side Conn whose peer sends stream, the first
// split bytes of it buffered by net/http with the handshake.
func fuzzServer(t *testing.T, stream []byte, split int, limit int64) *websocket.Conn {
	split = min(split, len(stream))
	w := &hijacker{ResponseRecorder: httptest.NewRecorder(), conn: &streamConn{r: bytes.NewReader(stream[split:])}, buffered: stream[:split]}
	c, err := websocket.Upgrade(w, upgradeRequest(), websocket.UpgradeOptions{ReadLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fuzzClient returns a client-side Conn whose server sends stream after a
// correct 101, the first split bytes of it in the same read.
func fuzzClient(t *testing.T, stream []byte, split int, limit int64) *websocket.Conn {
	split = min(split, len(stream))
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		br := bufio.NewReader(server)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			websocket.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		go io.Copy(io.Discard, br) // the client's pongs and close frames
		if _, err := server.Write(append([]byte(answer), stream[:split]...)); err != nil {
			return
		}
		server.Write(stream[split:])
	}()
	c, err := websocket.Dial(context.Background(), "ws://fuzz/", websocket.DialOptions{
		ReadLimit:      limit,
		NetDialContext: func(context.Context, string, string) (net.Conn, error) { return client, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzReadMessage feeds arbitrary bytes to a server-side and a client-side
// Conn as the peer's stream: no panic, no message over the limit, no
// invalid text, and every error a *CloseError.
func FuzzReadMessage(f *testing.F) {
	masked := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	seeds := [][]byte{
		{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
		{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
		{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f},
		{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
		append([]byte{0x82, 0x7e, 0x01, 0x00}, make([]byte, 256)...),
		append([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 65536)...),
		masked(frame(false, 1, true, []byte("caf\xc3")), frame(true, 9, true, nil), frame(true, 0, true, []byte{0xa9})),
		frame(true, 1, true, []byte("caf\xe9")),
		{0xc1, 0x80, 0, 0, 0, 0},
		frame(true, 3, true, nil),
		frame(false, 9, true, nil),
		frame(true, 9, true, make([]byte, 126)),
		frame(true, 0, true, []byte("lo")),
		masked(frame(false, 1, true, []byte("Hel")), frame(true, 1, true, []byte("lo"))),
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		{0x82, 0xfe, 0x04, 0x01, 0, 0, 0, 0},
		masked(frame(false, 2, true, make([]byte, 600)), frame(true, 0, true, make([]byte, 600))),
		frame(true, 8, true, []byte{3}),
		frame(true, 8, true, closePayload(999, "")),
		frame(true, 8, true, closePayload(1000, "\xff")),
		frame(true, 8, true, closePayload(1000, "bye")),
		frame(true, 8, true, nil),
	}
	for _, s := range seeds {
		f.Add(s, uint16(0))
		f.Add(s, uint16(3))
	}
	const limit = 1024
	f.Fuzz(func(t *testing.T, stream []byte, split uint16) {
		for _, side := range []string{"server", "client"} {
			var c *websocket.Conn
			if side == "server" {
				c = fuzzServer(t, stream, int(split), limit)
			} else {
				c = fuzzClient(t, stream, int(split), limit)
			}
			for {
				op, p, err := c.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("%s: error %v (%T) is not a *CloseError", side, err, err)
					}
					break
				}
				if op != websocket.OpText && op != websocket.OpBinary {
					t.Fatalf("%s: message with opcode %v", side, op)
				}
				if len(p) > limit {
					t.Fatalf("%s: message of %d bytes over the limit", side, len(p))
				}
				if op == websocket.OpText && !utf8.Valid(p) {
					t.Fatalf("%s: text message %q is not UTF-8", side, p)
				}
			}
			c.CloseNow()
		}
	})
}

// FuzzUpgrade runs Upgrade on arbitrary handshake header values: it must
// accept exactly the valid handshakes and answer them correctly.
func FuzzUpgrade(f *testing.F) {
	f.Add("GET", "Upgrade", "websocket", "13", testKey, "chat, parley.v1")
	f.Add("GET", "keep-alive, Upgrade", "WebSocket", "13", "AAAAAAAAAAAAAAAAAAAAAA==", "")
	f.Add("GET", "Upgrade", "websocket", "8", testKey, "")
	f.Add("POST", "Upgrade", "websocket", "13", testKey, "")
	f.Add("GET", "Upgrade", "websocket", "13", "short", "")
	f.Fuzz(func(t *testing.T, method, connection, upgrade, version, key, protocols string) {
		r := upgradeRequest()
		r.Method = method
		for name, v := range map[string]string{"Connection": connection, "Upgrade": upgrade, "Sec-WebSocket-Version": version, "Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": protocols} {
			r.Header.Set(name, v)
		}
		conn := &streamConn{r: bytes.NewReader(nil)}
		w := &hijacker{ResponseRecorder: httptest.NewRecorder(), conn: conn}
		c, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{Subprotocols: []string{"parley.v1"}})
		if err != nil {
			if c != nil || w.Code < 400 || conn.written.Len() != 0 {
				t.Fatalf("refused with %d, Conn %v, %d bytes on the connection", w.Code, c, conn.written.Len())
			}
			return
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(&conn.written), nil)
		if rerr != nil {
			t.Fatalf("the 101 answer does not parse: %v", rerr)
		}
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != websocket.AcceptKey(key) {
			t.Fatalf("answered %s with accept %q for key %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), key)
		}
		if method != "GET" || version != "13" || !strings.Contains(strings.ToLower(connection), "upgrade") || !strings.Contains(strings.ToLower(upgrade), "websocket") {
			t.Fatalf("accepted method %q Connection %q Upgrade %q version %q", method, connection, upgrade, version)
		}
		if p := c.Subprotocol(); p != "" && (p != "parley.v1" || !strings.Contains(protocols, p)) {
			t.Fatalf("subprotocol %q for offer %q", c.Subprotocol(), protocols)
		}
	})
}
