package websocket_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/websocket"
)

// rfcKey is the masking key of the RFC 6455 section 5.7 examples.
var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame encodes one frame, masked with rfcKey when masked is set, in the
// simplest way, independently of the package's encoder.
func frame(fin bool, op byte, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, m|byte(n))
	case n <= 0xffff:
		out = append(out, m|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, rfcKey[:]...)
	for i, c := range payload {
		out = append(out, c^rfcKey[i%4])
	}
	return out
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

type rawFrame struct {
	fin     bool
	op      byte
	masked  bool
	payload []byte // unmasked
}

// readFrame decodes one frame from r, independently of the package.
func readFrame(t testing.TB, r io.Reader) rawFrame {
	t.Helper()
	f, err := tryReadFrame(r)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

func tryReadFrame(r io.Reader) (rawFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return rawFrame{}, err
	}
	f := rawFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// closeCode returns the code of a close frame, or 1005 for an empty one.
func closeCode(t testing.TB, f rawFrame) int {
	t.Helper()
	if f.op != 8 {
		t.Fatalf("got a %d frame, want a close frame", f.op)
	}
	if len(f.payload) < 2 {
		return websocket.CloseNoStatus
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

// serve starts a server that upgrades every request with opts and hands the
// Conn to handle, in the handler's goroutine. It returns the ws:// URL.
func serve(t testing.TB, opts websocket.UpgradeOptions, handle func(*websocket.Conn)) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetIdleTimeout(testIdle)
		handle(c)
	}))
	t.Cleanup(s.Close)
	return wsURL(s)
}

// serveCh starts a server whose upgraded Conns arrive on the returned
// channel, for the test to read and write; each stays open until the test
// ends.
func serveCh(t testing.TB, opts websocket.UpgradeOptions) (string, <-chan *websocket.Conn) {
	t.Helper()
	ch := make(chan *websocket.Conn, 1)
	done := make(chan struct{})
	url := serve(t, opts, func(c *websocket.Conn) {
		ch <- c
		<-done
	})
	t.Cleanup(func() { close(done) }) // runs before the server's Close
	return url, ch
}

func dial(t testing.TB, url string, opts websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetIdleTimeout(testIdle)
	return c
}

// testIdle is the idle timeout of the tests' Conns: a test that waits for
// a message or an error in vain fails in seconds instead of hanging.
const testIdle = 5 * time.Second

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func handshakeRequest(host string, extra string) string {
	return "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// rawClient performs the client handshake by hand, sending after the
// request whatever follows. It returns the TCP connection and a reader
// positioned after the 101 answer.
func rawClient(t testing.TB, url string, follow []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimPrefix(url, "ws://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append([]byte(handshakeRequest(host, "")), follow...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s", resp.Status)
	}
	return conn, br
}

// rawServer starts a server that answers the handshake by hand, sending
// follow right behind the 101, and then runs fn on the raw connection.
func rawServer(t testing.TB, header string, follow []byte, fn func(conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + websocket.AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n" + header + "\r\n"
		if _, err := conn.Write(append([]byte(answer), follow...)); err != nil {
			t.Error(err)
			return
		}
		if fn != nil {
			fn(conn, brw.Reader)
		}
	}))
	t.Cleanup(s.Close)
	return wsURL(s)
}

// readErr reads until ReadMessage fails and returns its *CloseError.
func readErr(t testing.TB, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	for {
		op, p, err := c.ReadMessage()
		if err == nil {
			t.Logf("skipping a %v message of %d bytes", op, len(p))
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("ReadMessage error %v (%T) is not a *CloseError", err, err)
		}
		return ce
	}
}

func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}
