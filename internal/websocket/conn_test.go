package websocket_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/websocket"
)

func echo(c *websocket.Conn) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

func TestEcho(t *testing.T) {
	const limit = 2 << 20
	url := serve(t, websocket.UpgradeOptions{ReadLimit: limit}, echo)
	c := dial(t, url, websocket.DialOptions{ReadLimit: limit})
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		for _, op := range []websocket.Opcode{websocket.OpText, websocket.OpBinary} {
			want := bytes.Repeat([]byte("parley."), size/7+1)[:size]
			sent := bytes.Clone(want)
			if err := c.WriteMessage(op, sent); err != nil {
				t.Fatalf("%v %d: WriteMessage: %v", op, size, err)
			}
			if !bytes.Equal(sent, want) {
				t.Fatalf("%v %d: WriteMessage modified its argument", op, size)
			}
			gotOp, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%v %d: ReadMessage: %v", op, size, err)
			}
			if gotOp != op || !bytes.Equal(got, want) || got == nil {
				t.Fatalf("%v %d: got %v of %d bytes", op, size, gotOp, len(got))
			}
			if cap(got) != len(got) {
				t.Errorf("%v %d: message has cap %d, want its exact size", op, size, cap(got))
			}
		}
	}
}

// TestConcurrentWriters has several goroutines write on each side at once
// while the readers run: under the race detector, and with every message
// checked whole, frames must never interleave.
func TestConcurrentWriters(t *testing.T) {
	const writers, each = 4, 50
	msg := func(w, i int) []byte {
		return []byte(fmt.Sprintf("%d:%d:%s", w, i, bytes.Repeat([]byte{'x'}, 100+i*13)))
	}
	writeAll := func(c *websocket.Conn) error {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := c.WriteMessage(websocket.OpBinary, msg(w, i)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	readAll := func(c *websocket.Conn) error {
		next := make([]int, writers)
		for range writers * each {
			_, p, err := c.ReadMessage()
			if err != nil {
				return err
			}
			var w, i int
			if _, err := fmt.Sscanf(string(p), "%d:%d:", &w, &i); err != nil || w >= writers || i != next[w] || !bytes.Equal(p, msg(w, i)) {
				return fmt.Errorf("message %.20q... out of order or corrupt", p)
			}
			next[w]++
		}
		return nil
	}
	serverDone := make(chan error, 1)
	url := serve(t, websocket.UpgradeOptions{}, func(c *websocket.Conn) {
		werr := make(chan error, 1)
		go func() { werr <- writeAll(c) }()
		rerr := readAll(c)
		serverDone <- errors.Join(rerr, <-werr)
	})
	c := dial(t, url, websocket.DialOptions{})
	werr := make(chan error, 1)
	go func() { werr <- writeAll(c) }()
	if err := readAll(c); err != nil {
		t.Fatalf("client read: %v", err)
	}
	if err := recv(t, werr); err != nil {
		t.Fatalf("client write: %v", err)
	}
	if err := recv(t, serverDone); err != nil {
		t.Fatalf("server: %v", err)
	}
}

// The examples of RFC 6455 section 5.7, read by the side each is meant for.
func TestRFCExamplesDecode(t *testing.T) {
	t.Run("masked Hello to the server", func(t *testing.T) {
		url, conns := serveCh(t, websocket.UpgradeOptions{})
		conn, _ := rawClient(t, url, nil)
		c := recv(t, conns)
		conn.Write([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
		op, p, err := c.ReadMessage()
		if err != nil || op != websocket.OpText || string(p) != "Hello" {
			t.Fatalf("got %v %q %v, want text Hello", op, p, err)
		}
	})

	fromServer := [][]byte{
		{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, // unmasked text "Hello"
		{0x01, 0x03, 0x48, 0x65, 0x6c},             // fragmented: "Hel"
		{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, // a ping between fragments
		{0x80, 0x02, 0x6c, 0x6f},                   // ... "lo"
		append([]byte{0x82, 0x7e, 0x01, 0x00}, bytes.Repeat([]byte{0xa5}, 256)...),
		append([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, bytes.Repeat([]byte{0x5a}, 65536)...),
	}
	pong := make(chan rawFrame, 1)
	url := rawServer(t, "", bytes.Join(fromServer, nil), func(conn net.Conn, br *bufio.Reader) {
		f, _ := tryReadFrame(br) // a zero frame on error fails the test below
		pong <- f
		tryReadFrame(br) // hold the connection until the client closes
	})
	c := dial(t, url, websocket.DialOptions{})
	want := []struct {
		op websocket.Opcode
		p  []byte
	}{
		{websocket.OpText, []byte("Hello")},
		{websocket.OpText, []byte("Hello")},
		{websocket.OpBinary, bytes.Repeat([]byte{0xa5}, 256)},
		{websocket.OpBinary, bytes.Repeat([]byte{0x5a}, 65536)},
	}
	for i, w := range want {
		op, p, err := c.ReadMessage()
		if err != nil || op != w.op || !bytes.Equal(p, w.p) {
			t.Fatalf("message %d: got %v %.20q (%d bytes) %v, want %v %.20q", i, op, p, len(p), err, w.op, w.p)
		}
	}
	f := recv(t, pong)
	if !f.fin || f.op != 0xa || !f.masked || string(f.payload) != "Hello" {
		t.Errorf("answer to the ping: %+v, want a masked final pong with Hello", f)
	}
	c.Close(websocket.CloseNormal, "")
}

// The section 5.7 examples again, written by the package: byte-exact for
// the server, whose frames are unmasked.
func TestRFCExamplesEncode(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	conn, br := rawClient(t, url, nil)
	c := recv(t, conns)

	for _, tc := range []struct {
		p    []byte
		op   websocket.Opcode
		head []byte
	}{
		{[]byte("Hello"), websocket.OpText, []byte{0x81, 0x05}},
		{bytes.Repeat([]byte{1}, 256), websocket.OpBinary, []byte{0x82, 0x7e, 0x01, 0x00}},
		{bytes.Repeat([]byte{2}, 65536), websocket.OpBinary, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if err := c.WriteMessage(tc.op, tc.p); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(tc.head)+len(tc.p))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if want := append(bytes.Clone(tc.head), tc.p...); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: wire has % x..., want % x...", len(tc.p), got[:min(len(got), 12)], want[:min(len(want), 12)])
		}
	}

	// The server answers a ping from the reader: ReadMessage must be running.
	go c.ReadMessage()
	conn.Write([]byte{0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	got := make([]byte, 7)
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}; !bytes.Equal(got, want) {
		t.Errorf("pong on the wire % x, want % x", got, want)
	}
}

func TestClientFramesMasked(t *testing.T) {
	frames := make(chan rawFrame, 2)
	url := rawServer(t, "", nil, func(conn net.Conn, br *bufio.Reader) {
		for range 2 {
			f, _ := tryReadFrame(br)
			frames <- f
		}
	})
	c := dial(t, url, websocket.DialOptions{})
	p := []byte("Hello")
	c.WriteMessage(websocket.OpText, p)
	c.WriteMessage(websocket.OpText, p)
	a, b := recv(t, frames), recv(t, frames)
	for _, f := range []rawFrame{a, b} {
		if !f.fin || f.op != 1 || !f.masked || string(f.payload) != "Hello" {
			t.Errorf("frame %+v, want a masked final text frame with Hello", f)
		}
	}
	if string(p) != "Hello" {
		t.Errorf("WriteMessage changed its argument to %q", p)
	}
}

// TestServerViolations sends each protocol violation to a server; the
// server must answer with a close frame carrying the right code, close the
// connection, and report it.
func TestServerViolations(t *testing.T) {
	text := func(s string) []byte { return frame(true, 1, true, []byte(s)) }
	long := make([]byte, 126)
	for _, tc := range []struct {
		name  string
		bytes []byte
		code  int
	}{
		{"unmasked frame", frame(true, 1, false, []byte("hi")), websocket.CloseProtocolError},
		{"RSV1", append([]byte{0xc1}, text("hi")[1:]...), websocket.CloseProtocolError},
		{"RSV3", append([]byte{0x91}, text("hi")[1:]...), websocket.CloseProtocolError},
		{"reserved data opcode", frame(true, 3, true, nil), websocket.CloseProtocolError},
		{"reserved control opcode", frame(true, 0xb, true, nil), websocket.CloseProtocolError},
		{"fragmented ping", frame(false, 9, true, nil), websocket.CloseProtocolError},
		{"ping over 125 bytes", frame(true, 9, true, long), websocket.CloseProtocolError},
		{"close over 125 bytes", frame(true, 8, true, long), websocket.CloseProtocolError},
		{"continuation first", frame(true, 0, true, []byte("lo")), websocket.CloseProtocolError},
		{"text inside a fragmented message", append(frame(false, 1, true, []byte("Hel")), text("lo")...), websocket.CloseProtocolError},
		{"length over 63 bits", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x37, 0xfa, 0x21, 0x3d}, websocket.CloseProtocolError},
		{"message over the limit", []byte{0x82, 0xfe, 0x04, 0x01, 0x37, 0xfa, 0x21, 0x3d}, websocket.CloseTooBig},
		{"64-bit length over the limit", []byte{0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d}, websocket.CloseTooBig},
		{"fragments over the limit", append(frame(false, 2, true, make([]byte, 600)), frame(true, 0, true, make([]byte, 600))...), websocket.CloseTooBig},
		{"invalid UTF-8", text("caf\xe9"), websocket.CloseInvalidPayload},
		{"truncated UTF-8", append(frame(false, 1, true, []byte("caf")), frame(true, 0, true, []byte{0xc3})...), websocket.CloseInvalidPayload},
		{"close of 1 byte", frame(true, 8, true, []byte{3}), websocket.CloseProtocolError},
		{"close code 999", frame(true, 8, true, closePayload(999, "")), websocket.CloseProtocolError},
		{"close code 1005", frame(true, 8, true, closePayload(1005, "")), websocket.CloseProtocolError},
		{"close code 1006", frame(true, 8, true, closePayload(1006, "")), websocket.CloseProtocolError},
		{"close code 1015", frame(true, 8, true, closePayload(1015, "")), websocket.CloseProtocolError},
		{"close code 2000", frame(true, 8, true, closePayload(2000, "")), websocket.CloseProtocolError},
		{"close code 5000", frame(true, 8, true, closePayload(5000, "")), websocket.CloseProtocolError},
		{"close reason not UTF-8", frame(true, 8, true, closePayload(1000, "\xff")), websocket.CloseProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := serveCh(t, websocket.UpgradeOptions{ReadLimit: 1024})
			conn, br := rawClient(t, url, nil)
			c := recv(t, conns)
			conn.Write(tc.bytes)
			ce := readErr(t, c)
			if ce.Code != tc.code || !ce.Local {
				t.Errorf("server's error %+v, want a local close with %d", ce, tc.code)
			}
			if got := closeCode(t, readFrame(t, br)); got != tc.code {
				t.Errorf("close frame has code %d, want %d", got, tc.code)
			}
			// EOF, or a reset when the server left bytes of the bad frame unread.
			if f, err := tryReadFrame(br); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("after the close frame: %+v %v, want the connection closed", f, err)
			}
		})
	}
}

func TestClientViolations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
		code  int
	}{
		{"masked frame", frame(true, 1, true, []byte("hi")), websocket.CloseProtocolError},
		{"RSV2", []byte{0xa1, 0x00}, websocket.CloseProtocolError},
		{"invalid UTF-8", frame(true, 1, false, []byte{0xff}), websocket.CloseInvalidPayload},
		{"over the limit", frame(true, 2, false, make([]byte, 1025)), websocket.CloseTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan rawFrame, 1)
			url := rawServer(t, "", tc.bytes, func(conn net.Conn, br *bufio.Reader) {
				f, _ := tryReadFrame(br)
				closed <- f
			})
			c := dial(t, url, websocket.DialOptions{ReadLimit: 1024})
			if ce := readErr(t, c); ce.Code != tc.code || !ce.Local {
				t.Errorf("client's error %+v, want a local close with %d", ce, tc.code)
			}
			f := recv(t, closed)
			if got := closeCode(t, f); got != tc.code || !f.masked {
				t.Errorf("close frame has code %d (masked %v), want %d masked", got, f.masked, tc.code)
			}
		})
	}
}

func TestFragmentedMessages(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{ReadLimit: 100 << 10})
	conn, br := rawClient(t, url, nil)
	c := recv(t, conns)
	big := bytes.Repeat([]byte("0123456789abcdef"), 5<<10) // 80 KiB in fragments of 20 KiB
	var wire []byte
	wire = append(wire, frame(false, 1, true, []byte("caf\xc3"))...) // "café", é split
	wire = append(wire, frame(true, 9, true, []byte("ping"))...)
	wire = append(wire, frame(true, 0, true, []byte("\xa9"))...)
	for i := 0; i < len(big); i += 20 << 10 {
		op := byte(0)
		if i == 0 {
			op = 2
		}
		wire = append(wire, frame(i+20<<10 >= len(big), op, true, big[i:i+20<<10])...)
	}
	wire = append(wire, frame(false, 2, true, nil)...) // empty fragments make an empty message
	wire = append(wire, frame(true, 0, true, nil)...)
	conn.Write(wire)
	for _, want := range [][]byte{[]byte("café"), big, {}} {
		_, p, err := c.ReadMessage()
		if err != nil || !bytes.Equal(p, want) || cap(p) != len(p) {
			t.Fatalf("got %.20q (%d bytes, cap %d) %v, want %.20q (%d bytes)", p, len(p), cap(p), err, want, len(want))
		}
	}
	if f := readFrame(t, br); f.op != 0xa || string(f.payload) != "ping" {
		t.Errorf("got %+v, want a pong with ping", f)
	}
}

// Frames may follow the handshake in the same packet, and net/http or
// Dial's reader will have buffered them.
func TestFramesRightBehindHandshake(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	rawClient(t, url, append(frame(true, 1, true, []byte("early")), frame(true, 2, true, []byte("bird"))...))
	c := recv(t, conns)
	for _, want := range []string{"early", "bird"} {
		if _, p, err := c.ReadMessage(); err != nil || string(p) != want {
			t.Fatalf("server got %q %v, want %q", p, err, want)
		}
	}

	url = rawServer(t, "", append(frame(true, 1, false, []byte("early")), frame(true, 2, false, []byte("bird"))...), func(conn net.Conn, br *bufio.Reader) {
		tryReadFrame(br)
	})
	cc := dial(t, url, websocket.DialOptions{})
	for _, want := range []string{"early", "bird"} {
		if _, p, err := cc.ReadMessage(); err != nil || string(p) != want {
			t.Fatalf("client got %q %v, want %q", p, err, want)
		}
	}
}

func TestCloseFromServer(t *testing.T) {
	serverErr := make(chan *websocket.CloseError, 1)
	url := serve(t, websocket.UpgradeOptions{}, func(c *websocket.Conn) {
		go c.Close(websocket.CloseGoingAway, "shutting down")
		serverErr <- readErr(t, c)
	})
	c := dial(t, url, websocket.DialOptions{})
	ce := readErr(t, c)
	if ce.Code != websocket.CloseGoingAway || ce.Reason != "shutting down" || ce.Local {
		t.Errorf("client got %+v, want the server's 1001 shutting down", ce)
	}
	if err := c.WriteMessage(websocket.OpText, []byte("late")); err == nil {
		t.Error("WriteMessage after the close handshake succeeded")
	}
	if sce := recv(t, serverErr); sce.Code != websocket.CloseGoingAway || !sce.Local {
		t.Errorf("server got %+v, want its own 1001", sce)
	}
	if _, _, err := c.ReadMessage(); err != error(ce) {
		t.Errorf("second ReadMessage: %v, want the same error again", err)
	}
}

func TestCloseFromClient(t *testing.T) {
	serverErr := make(chan *websocket.CloseError, 1)
	url := serve(t, websocket.UpgradeOptions{}, func(c *websocket.Conn) { serverErr <- readErr(t, c) })
	c := dial(t, url, websocket.DialOptions{})
	if err := c.Close(4001, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4002, "again"); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.WriteMessage(websocket.OpText, []byte("late")); err == nil {
		t.Error("WriteMessage after Close succeeded")
	}
	if ce := recv(t, serverErr); ce.Code != 4001 || ce.Reason != "bye" || ce.Local {
		t.Errorf("server got %+v, want the client's 4001 bye", ce)
	}
	if ce := readErr(t, c); ce.Code != 4001 || !ce.Local || !errors.Is(ce, net.ErrClosed) {
		t.Errorf("client's own read: %+v (%v), want its 4001, local, net.ErrClosed", ce, ce)
	}
}

// The server echoes a close frame and then closes the TCP connection.
func TestCloseEcho(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		code    int
		reason  string
	}{
		{closePayload(1000, "done"), 1000, "done"},
		{nil, websocket.CloseNoStatus, ""},
		{closePayload(4999, ""), 4999, ""},
	} {
		url, conns := serveCh(t, websocket.UpgradeOptions{})
		conn, br := rawClient(t, url, nil)
		c := recv(t, conns)
		conn.Write(frame(true, 8, true, tc.payload))
		if ce := readErr(t, c); ce.Code != tc.code || ce.Reason != tc.reason || ce.Local {
			t.Errorf("server got %+v, want %d %q from the peer", ce, tc.code, tc.reason)
		}
		if got := closeCode(t, readFrame(t, br)); got != tc.code {
			t.Errorf("echo has code %d, want %d", got, tc.code)
		}
		if _, err := tryReadFrame(br); err != io.EOF {
			t.Errorf("after the echo: %v, want EOF", err)
		}
	}
}

func TestCloseReasonCut(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	_, br := rawClient(t, url, nil)
	c := recv(t, conns)
	c.Close(websocket.CloseNormal, string(bytes.Repeat([]byte("é"), 100))) // 200 bytes
	f := readFrame(t, br)
	if len(f.payload) > 125 || !utf8.Valid(f.payload[2:]) {
		t.Errorf("close payload of %d bytes, reason valid UTF-8 %v", len(f.payload), utf8.Valid(f.payload[2:]))
	}
}

func TestCloseNow(t *testing.T) {
	serverErr := make(chan *websocket.CloseError, 1)
	url := serve(t, websocket.UpgradeOptions{}, func(c *websocket.Conn) { serverErr <- readErr(t, c) })
	c := dial(t, url, websocket.DialOptions{})
	done := make(chan *websocket.CloseError, 1)
	go func() { done <- readErr(t, c) }()
	c.CloseNow()
	if ce := recv(t, done); ce.Code != websocket.CloseAbnormal || !ce.Local || !errors.Is(ce, net.ErrClosed) {
		t.Errorf("local read after CloseNow: %+v %v, want 1006, local, net.ErrClosed", ce, ce)
	}
	if ce := recv(t, serverErr); ce.Code != websocket.CloseAbnormal || ce.Local || !errors.Is(ce, io.EOF) {
		t.Errorf("peer's read: %+v %v, want 1006 wrapping EOF", ce, ce)
	}
}

func TestCloseUnblocksWriter(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	_, br := rawClient(t, url, nil)
	c := recv(t, conns)
	written := make(chan error, 1)
	go func() { written <- c.WriteMessage(websocket.OpBinary, make([]byte, 64<<20)) }()
	// Once the frame starts arriving the writer holds the lock; the client
	// reads no more, so the writer blocks with it.
	if _, err := br.ReadByte(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(websocket.CloseNormal, "") }()
	recv(t, closed)
	if err := recv(t, written); err == nil {
		t.Error("a 64 MiB write to a peer that does not read succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestIdleTimeout(t *testing.T) {
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	_, br := rawClient(t, url, nil)
	c := recv(t, conns)
	c.SetIdleTimeout(50 * time.Millisecond)
	ce := readErr(t, c)
	if ce.Code != websocket.CloseAbnormal || !errors.Is(ce, os.ErrDeadlineExceeded) {
		t.Fatalf("got %+v %v, want 1006 wrapping a deadline", ce, ce)
	}
	c.Close(websocket.ClosePolicyViolation, "idle")
	if got := closeCode(t, readFrame(t, br)); got != websocket.ClosePolicyViolation {
		t.Errorf("close code %d after the idle timeout, want 1008", got)
	}
}

// Control frames alone keep a connection alive: pings every d/10 for three
// times d.
func TestIdleTimeoutKeptByPings(t *testing.T) {
	const d = 300 * time.Millisecond
	url, conns := serveCh(t, websocket.UpgradeOptions{})
	conn, _ := rawClient(t, url, nil)
	c := recv(t, conns)
	c.SetIdleTimeout(d)
	got := make(chan error, 1)
	go func() {
		_, p, err := c.ReadMessage()
		if err == nil && string(p) != "still here" {
			err = fmt.Errorf("got %q", p)
		}
		got <- err
	}()
	tick := time.NewTicker(d / 10)
	defer tick.Stop()
	for end := time.Now().Add(3 * d); time.Now().Before(end); <-tick.C {
		conn.Write(frame(true, 9, true, nil))
	}
	conn.Write(frame(true, 1, true, []byte("still here")))
	if err := recv(t, got); err != nil {
		t.Fatal(err)
	}
}

func TestWriteArguments(t *testing.T) {
	url, _ := serveCh(t, websocket.UpgradeOptions{})
	c := dial(t, url, websocket.DialOptions{})
	if err := c.WriteMessage(websocket.OpPing, nil); err == nil {
		t.Error("WriteMessage accepted a ping")
	}
	if err := c.WritePing(make([]byte, 126)); err == nil {
		t.Error("WritePing accepted 126 bytes")
	}
	if err := c.WritePing(make([]byte, 125)); err != nil {
		t.Errorf("WritePing of 125 bytes: %v", err)
	}
}

// WriteMessages sends its messages as separate frames, in order, whatever
// their sizes; from a server they go in one writev.
func TestWriteMessages(t *testing.T) {
	const limit = 1 << 20
	url, conns := serveCh(t, websocket.UpgradeOptions{ReadLimit: limit})
	c := dial(t, url, websocket.DialOptions{ReadLimit: limit})
	srv := <-conns
	sizes := []int{0, 1, 125, 126, 70000, 3}
	var msgs [][]byte
	for i, size := range sizes {
		msgs = append(msgs, bytes.Repeat([]byte{'a' + byte(i)}, size))
	}
	for _, w := range []*websocket.Conn{srv, c} { // server: one writev; client: masked frame by frame
		if err := w.WriteMessages(websocket.OpText, msgs); err != nil {
			t.Fatalf("WriteMessages: %v", err)
		}
		r := c
		if w == c {
			r = srv
		}
		for i, want := range msgs {
			op, got, err := r.ReadMessage()
			if err != nil || op != websocket.OpText || !bytes.Equal(got, want) {
				t.Fatalf("message %d: %v %d bytes, err %v; want %d bytes", i, op, len(got), err, len(want))
			}
		}
	}
	if err := srv.WriteMessages(websocket.OpPing, msgs); err == nil {
		t.Error("WriteMessages took OpPing")
	}
}
