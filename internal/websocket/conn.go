package websocket

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const (
	defaultReadLimit = 64 << 10
	maxHeader        = 14 // 2 + 8 (64-bit length) + 4 (mask key)
	maxControl       = 125
	// closeTimeout bounds the write of a close frame, so that closing never
	// waits on a peer that stopped reading.
	closeTimeout = time.Second
	// growFloor is the first allocation for a message larger than itself:
	// a peer must send the bytes before we hold memory for them, so a
	// length header alone cannot make us allocate ReadLimit.
	growFloor = 16 << 10
)

// Conn is one WebSocket connection, made by Upgrade or Dial.
//
// One goroutine at a time may call ReadMessage. WriteMessage, WritePing,
// SetWriteDeadline, SetIdleTimeout, Close and CloseNow may be called from
// any goroutine, concurrently with each other and with ReadMessage.
type Conn struct {
	conn        net.Conn
	server      bool
	subprotocol string
	readLimit   int64
	idle        atomic.Int64 // time.Duration; see SetIdleTimeout

	// Reader state, touched only by the goroutine in ReadMessage.
	pending []byte // what the handshake's reader had buffered; read before conn
	hdr     [maxHeader]byte
	readErr error // sticky: once set, every ReadMessage returns it

	wmu       sync.Mutex // serialises frames on the wire
	whdr      [maxHeader]byte
	writeErr  error // sticky: a failed write may have left half a frame
	closeSent bool

	closing    atomic.Pointer[CloseError] // set by the first Close or CloseNow
	connClosed atomic.Bool
}

func newConn(conn net.Conn, server bool, subprotocol string, readLimit int64, pending []byte) *Conn {
	if readLimit == 0 {
		readLimit = defaultReadLimit
	}
	return &Conn{conn: conn, server: server, subprotocol: subprotocol, readLimit: readLimit, pending: pending}
}

// Subprotocol returns the negotiated subprotocol, or "" if none.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// LocalAddr returns this side's network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// SetIdleTimeout makes ReadMessage fail when no frame starts within d:
// before each frame header the read deadline is set to now+d, so any frame,
// a ping or pong included, keeps the connection alive. It takes effect at
// once. Zero (the default) means no timeout. A whole frame must arrive
// within d of its start.
func (c *Conn) SetIdleTimeout(d time.Duration) {
	c.idle.Store(int64(d))
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writes, the automatic pong
// included. A write that misses it fails, and so does every later write:
// the frame on the wire may be cut short. Close overrides it.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// ReadMessage returns the next text or binary message, reassembled from its
// fragments. It answers pings and close frames itself. Its error is always
// a *CloseError, and once it returned one it returns the same again.
//
// The returned slice is the caller's; the Conn keeps no reference to it.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	op, p, err := c.readMessage()
	if err != nil {
		c.readErr = err
		return 0, nil, err
	}
	return op, p, nil
}

type header struct {
	fin    bool
	op     Opcode
	masked bool
	key    [4]byte
	length int64
}

func (c *Conn) readMessage() (Opcode, []byte, error) {
	var (
		op      Opcode
		msg     []byte
		started bool
	)
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, nil, err
		}
		if h.op.control() {
			if err := c.control(h); err != nil {
				return 0, nil, err
			}
			continue
		}
		if h.op == OpContinuation && !started {
			return 0, nil, c.fail(CloseProtocolError, "continuation frame outside a message")
		}
		if h.op != OpContinuation && started {
			return 0, nil, c.fail(CloseProtocolError, "new message inside a fragmented one")
		}
		if !started {
			op, started = h.op, true
		}
		if h.length > c.readLimit-int64(len(msg)) {
			return 0, nil, c.fail(CloseTooBig, "message too big")
		}
		if msg, err = c.readData(msg, h); err != nil {
			return 0, nil, err
		}
		if h.fin {
			break
		}
	}
	if cap(msg) != len(msg) { // a fragmented message: give back exactly its size
		exact := make([]byte, len(msg))
		copy(exact, msg)
		msg = exact
	}
	if msg == nil {
		msg = []byte{}
	}
	if op == OpText && !utf8.Valid(msg) {
		return 0, nil, c.fail(CloseInvalidPayload, "text message is not valid UTF-8")
	}
	return op, msg, nil
}

// readHeader reads a frame header into c.hdr, checking each rule as soon as
// the bytes that break it are in.
func (c *Conn) readHeader() (header, error) {
	var h header
	if d := time.Duration(c.idle.Load()); d > 0 {
		c.conn.SetReadDeadline(time.Now().Add(d))
	}
	if err := c.readFull(c.hdr[:2]); err != nil {
		return h, c.ioError(err)
	}
	b0, b1 := c.hdr[0], c.hdr[1]
	h.fin, h.op = b0&0x80 != 0, Opcode(b0&0x0f)
	h.masked, h.length = b1&0x80 != 0, int64(b1&0x7f)
	switch {
	case b0&0x70 != 0:
		return h, c.fail(CloseProtocolError, "reserved bits set")
	case h.op > OpBinary && h.op < OpClose, h.op > OpPong:
		return h, c.fail(CloseProtocolError, "reserved opcode")
	case h.op.control() && !h.fin:
		return h, c.fail(CloseProtocolError, "fragmented control frame")
	case h.op.control() && h.length > maxControl:
		return h, c.fail(CloseProtocolError, "control frame too long")
	case c.server && !h.masked:
		return h, c.fail(CloseProtocolError, "client frame not masked")
	case !c.server && h.masked:
		return h, c.fail(CloseProtocolError, "server frame masked")
	}
	n := 0
	switch h.length {
	case 126:
		n = 2
	case 127:
		n = 8
	}
	if h.masked {
		n += 4
	}
	ext := c.hdr[2 : 2+n]
	if err := c.readFull(ext); err != nil {
		return h, c.ioError(err)
	}
	switch h.length {
	case 126:
		h.length, ext = int64(binary.BigEndian.Uint16(ext)), ext[2:]
	case 127:
		l := binary.BigEndian.Uint64(ext)
		if l>>63 != 0 {
			return h, c.fail(CloseProtocolError, "length over 63 bits")
		}
		h.length, ext = int64(l), ext[8:]
	}
	copy(h.key[:], ext)
	return h, nil
}

// readData appends the frame's payload to msg. It allocates as bytes
// arrive (doubling, from growFloor), never past the frame's end when the
// frame ends the message, nor past the read limit otherwise.
func (c *Conn) readData(msg []byte, h header) ([]byte, error) {
	end := len(msg) + int(h.length)
	limit := end
	if !h.fin {
		limit = int(c.readLimit)
	}
	pos := 0
	for len(msg) < end {
		if len(msg) == cap(msg) {
			grown := make([]byte, len(msg), min(max(2*cap(msg), growFloor), limit))
			copy(grown, msg)
			msg = grown
		}
		dst := msg[len(msg):min(cap(msg), end)]
		n, err := c.read(dst)
		if h.masked {
			pos = mask(h.key, pos, dst[:n])
		}
		msg = msg[:len(msg)+n]
		if err != nil && len(msg) < end {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, c.ioError(err)
		}
	}
	return msg, nil
}

// control handles a ping, pong or close frame read inside ReadMessage.
func (c *Conn) control(h header) error {
	p := make([]byte, h.length)
	if err := c.readFull(p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return c.ioError(err)
	}
	if h.masked {
		mask(h.key, 0, p)
	}
	switch h.op {
	case OpPing:
		// A failed pong is not the reader's failure: the write error is
		// sticky and the next read sees the connection's end anyway.
		c.wmu.Lock()
		c.writeFrameLocked(OpPong, p)
		c.wmu.Unlock()
	case OpClose:
		code, reason := CloseNoStatus, ""
		if len(p) == 1 {
			return c.fail(CloseProtocolError, "close frame of one byte")
		}
		if len(p) >= 2 {
			code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
			if !validCode(code) {
				return c.fail(CloseProtocolError, "invalid close code")
			}
			if !utf8.ValidString(reason) {
				return c.fail(CloseProtocolError, "close reason is not valid UTF-8")
			}
		}
		c.sendClose(code, "")
		c.closeConn()
		return &CloseError{Code: code, Reason: reason}
	}
	return nil // a pong: reading it re-armed the idle timeout, which is all it is for
}

// fail ends the connection on a violation by the peer.
func (c *Conn) fail(code int, reason string) error {
	c.sendClose(code, reason)
	c.closeConn()
	return &CloseError{Code: code, Reason: reason, Local: true}
}

// ioError turns a read error into the CloseError ReadMessage returns.
func (c *Conn) ioError(err error) error {
	if e := c.closing.Load(); e != nil {
		local := *e
		local.err = err
		return &local
	}
	return &CloseError{Code: CloseAbnormal, err: err}
}

func (c *Conn) read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil // let the handshake's bytes go
		}
		return n, nil
	}
	return c.conn.Read(p)
}

// readFull is io.ReadFull over c.read; io.EOF means nothing was read.
func (c *Conn) readFull(p []byte) error {
	for got := 0; got < len(p); {
		n, err := c.read(p[got:])
		got += n
		if err != nil && got < len(p) {
			if err == io.EOF && got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// mask XORs b with key, b starting at offset pos of the payload, and
// returns the offset after b.
func mask(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return pos + len(b)
}

// WriteMessage sends p as one unfragmented text or binary frame. Text must
// be valid UTF-8 (the peer closes with 1007 otherwise). p is not modified.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return errors.New("websocket: WriteMessage takes OpText or OpBinary, not " + op.String())
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(op, p)
}

// WriteMessages sends each of msgs as one unfragmented frame of op, in
// order, in as few system calls as it can: a server writes them all with
// one writev, which is what lets a busy session's queued pushes cost one
// write instead of one each. It is safe for concurrent use as WriteMessage
// is; an error leaves how many of msgs went out unknown.
func (c *Conn) WriteMessages(op Opcode, msgs [][]byte) error {
	if op != OpText && op != OpBinary {
		return errors.New("websocket: WriteMessages takes OpText or OpBinary, not " + op.String())
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.server || len(msgs) == 1 {
		// A client masks each frame into a copy anyway.
		for _, p := range msgs {
			if err := c.writeFrameLocked(op, p); err != nil {
				return err
			}
		}
		return nil
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrCloseSent
	}
	headers := make([]byte, len(msgs)*maxHeader)
	bufs := make(net.Buffers, 0, 2*len(msgs))
	for i, p := range msgs {
		h := headers[i*maxHeader : (i+1)*maxHeader]
		n := putHeader(h, op, len(p), false)
		bufs = append(bufs, h[:n], p)
	}
	if _, err := bufs.WriteTo(c.conn); err != nil {
		c.writeErr = err
		return err
	}
	return nil
}

// WritePing sends a ping; the peer answers with a pong carrying p, which
// ReadMessage consumes. p is at most 125 bytes.
func (c *Conn) WritePing(p []byte) error {
	if len(p) > maxControl {
		return errors.New("websocket: ping payload over 125 bytes")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(OpPing, p)
}

func (c *Conn) writeFrameLocked(op Opcode, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrCloseSent
	}
	var err error
	if c.server {
		n := putHeader(c.whdr[:], op, len(p), false)
		bufs := net.Buffers{c.whdr[:n], p}
		_, err = bufs.WriteTo(c.conn)
	} else {
		frame := make([]byte, maxHeader+len(p))
		n := putHeader(frame, op, len(p), true)
		var key [4]byte
		rand.Read(key[:])
		copy(frame[n-4:], key[:])
		mask(key, 0, frame[n:n+copy(frame[n:], p)])
		_, err = c.conn.Write(frame[:n+len(p)])
	}
	if err != nil {
		c.writeErr = err
	}
	if op == OpClose {
		c.closeSent = true
	}
	return err
}

// putHeader writes a final frame's header into b and returns its length,
// the mask key's 4 bytes (left for the caller to fill) included.
func putHeader(b []byte, op Opcode, length int, masked bool) int {
	b[0] = 0x80 | byte(op)
	var m byte
	if masked {
		m = 0x80
	}
	n := 2
	switch {
	case length <= 125:
		b[1] = m | byte(length)
	case length <= 0xffff:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:], uint16(length))
		n = 4
	default:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:], uint64(length))
		n = 10
	}
	if masked {
		n += 4
	}
	return n
}

// Close sends a close frame with code and reason, once, then closes the
// network connection. The frame's write is bounded by one second, which
// also cuts short any write blocked at the time. A code that may not be
// sent (CloseNoStatus, CloseAbnormal, anything invalid) sends a close frame
// without a code; the reason is cut to 123 bytes. Close is idempotent and
// safe to call concurrently; it returns the error of closing the network
// connection the first time and nil afterwards. A failure to send the
// frame is not reported: the peer is gone either way.
func (c *Conn) Close(code int, reason string) error {
	c.closing.CompareAndSwap(nil, &CloseError{Code: code, Reason: reason, Local: true})
	c.sendClose(code, reason)
	return c.closeConn()
}

// CloseNow closes the network connection without a close frame.
func (c *Conn) CloseNow() error {
	c.closing.CompareAndSwap(nil, &CloseError{Code: CloseAbnormal, Local: true})
	return c.closeConn()
}

func (c *Conn) sendClose(code int, reason string) {
	// The deadline goes first, outside the lock, so that a writer stuck on
	// a peer that stopped reading lets go of the lock within closeTimeout.
	c.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.writeErr != nil {
		return
	}
	c.writeFrameLocked(OpClose, closePayload(code, reason))
}

func closePayload(code int, reason string) []byte {
	if !validCode(code) {
		return nil
	}
	reason = strings.ToValidUTF8(reason, "")
	if len(reason) > maxControl-2 {
		reason = reason[:maxControl-2]
		for !utf8.ValidString(reason) { // cut inside a rune: drop its start
			reason = reason[:len(reason)-1]
		}
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return append(p, reason...)
}

func (c *Conn) closeConn() error {
	if !c.connClosed.CompareAndSwap(false, true) {
		return nil
	}
	return c.conn.Close()
}
