// Package ws is parley's client protocol server: GET /v1/ws, a WebSocket
// on which a client logs in with its UserSig, then sends requests and
// receives replies and live pushes, each one JSON text frame
// (docs/protocol.md documents every frame). Requests are decoded and run
// by restapi.ClientOps, with the REST endpoints' rules and codes, through
// the same chat engine; pushes come from the hub, to which a connection
// is one hub.Transport.
//
// # Concurrency
//
// ServeHTTP upgrades and returns at once: each connection then has one
// goroutine, its reader, which logs the client in, then hands over to a
// fresh reader (whose stack has not grown through the login) that runs
// the client's requests one at a time, in order. Everything the server writes to a logged-in
// connection (replies, pushes, own frames, pings) goes through the
// session's hub queue, written by the hub's writer goroutine for the
// session, which exists only while the queue is not empty. Before login,
// and for the last words (a failed login's reply, a kick), the reader
// writes directly; the WebSocket connection serialises concurrent
// writers. A login timer, and the closer a transport starts (Close must
// not block the hub), are the only other goroutines, and are short-lived.
//
// Publisher is called on the store's writer: it takes its lock only to
// find the session to tell, and never blocks.
//
// Locks: Server.mu guards the set of pending connections and
// Publisher.mu the map of sessions; neither is held while calling the hub,
// a Session or a connection, so they order with nothing.
//
// # Lifecycle
//
// A connection is pending until it logs in (LoginTimeout), then a hub
// session until the client closes, goes idle (IdleTimeout, 4002), breaks
// the protocol, or the hub closes it (slow consumer 4008, too many
// sessions 4009, shutdown 1001). Shutdown is Close (no new connections,
// pending ones closed with 1001), then Hub.Close (every session closed),
// then Wait for every reader and closer to return, before the store is
// closed.
//
// An idle logged-in connection holds its reader goroutine (blocked in
// ReadMessage, with a small stack), the WebSocket Conn (no buffers), a
// transport, the hub's Session, and an entry in the Publisher's map;
// nothing else: no HTTP server goroutine, no bufio buffers, no timers.
//
// # Invariants
//
//   - Every request gets exactly one reply, in request order, and a
//     reply is never overtaken by a push queued after it.
//   - The acting user of every request is the session's user; a
//     From_Account naming anyone else is refused (90008).
//   - Every change a session made is told to it by an own frame, queued
//     before the push of any later change of the conversation.
//   - A connection is closed with a kick frame first whenever the client
//     can still read it: ErrorCode is the close code that follows.
package ws
