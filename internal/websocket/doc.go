// Package websocket implements RFC 6455 WebSocket connections, server
// (Upgrade) and client (Dial), for parley's real-time clients.
//
// The standard library has none, and the common libraries keep buffers
// and goroutines per connection that parley cannot afford: it aims at
// 100,000 idle connections on one node at under 10 KiB each.
//
// Supported: the opening handshake over HTTP/1.1 (ws:// and wss://),
// subprotocol negotiation, text and binary messages with fragmented
// messages reassembled on read, ping/pong, the close handshake, message
// size limits, an idle timeout, and every check RFC 6455 asks of an
// endpoint (masking direction, reserved bits and opcodes, control frame
// rules, fragment sequencing, UTF-8 of text and close reasons, close codes).
//
// Not supported, on purpose: extensions (permessage-deflate keeps a
// compression window per connection, tens of KiB, the budget several times
// over; chat messages are small), WebSockets over HTTP/2 (RFC 8441), Dial
// through an HTTP proxy, and sending fragmented messages (every message
// goes as one frame; the peer may fragment what it sends). A length header
// is not required to use the shortest form.
//
// # Memory while idle
//
// An idle Conn holds its network connection, one struct of 176
// bytes and nothing else: no bufio reader or writer, no goroutine but the
// caller's reader, blocked in ReadMessage on a 2-byte read straight from
// the socket. Frame headers are read into an array inside the Conn. A
// message's payload is allocated when it arrives, at its exact size, and
// handed to the caller; for a frame larger than 16 KiB the buffer grows
// as bytes arrive, so a length header alone never makes the Conn allocate
// the read limit. Writes go straight to the socket: the server writes a
// frame's header and payload with one writev; the client, which must
// mask, copies the frame once. Bytes that net/http (or Dial) buffered past
// the handshake are copied out and their reader dropped.
//
// While an HTTP handler runs, net/http keeps its own 4 KiB read and write
// buffers for the connection, and the handler's goroutine has a deep
// stack. The cheapest shape is to Upgrade in the handler, start the reader
// in a new goroutine, and return. BenchmarkIdleConn measures both shapes:
// about 3.5 KiB of heap and stack per idle connection with the reader in
// its own goroutine, 15.7 KiB with the reader in the handler (2,000
// connections, both ends in one process, 0.7 KiB of it the bare TCP pair).
//
// # Concurrency
//
// One goroutine at a time reads (ReadMessage); it owns the read state and
// needs no lock. Every frame written, including the pong and close frames
// the reader sends on its own, is written under one mutex, so writes from
// any number of goroutines never interleave. A ping's pong is written by
// the reader: a peer that sends pings but does not read blocks its own
// pongs, and the reader with them, until the write deadline if one is set.
// Close sets a one-second write deadline before taking the mutex, so a
// writer stuck on a peer that stopped reading lets go.
//
// # Lifecycle
//
// Upgrade or Dial returns an open Conn. It ends in one of these ways, and
// ReadMessage then returns a *CloseError, the same one on every later call:
//   - the peer sends a close frame: it is echoed (unless this side sent one
//     first), the network connection is closed, Code is the peer's;
//   - the peer breaks the protocol: a close frame with the code goes out,
//     the connection is closed, Local is true;
//   - Close or CloseNow is called: Local is true;
//   - the connection drops, or the idle timeout passes: Code is
//     CloseAbnormal and the I/O error is wrapped. The network connection is
//     left open so that the caller can still Close with a reason (for
//     example "idle timeout").
//
// The owner of a Conn calls Close or CloseNow when done with it, whichever
// way it ended; both are idempotent.
//
// # Invariants
//
//   - At most one close frame is sent, and no frame after it.
//   - A write that failed fails every later write: it may have left half a
//     frame on the wire.
//   - ReadMessage returns only whole text or binary messages no larger than
//     the read limit, and text only as valid UTF-8.
//   - Nothing the Conn holds outlives a message: between messages it holds
//     no payload buffer.
package websocket
