// Package client is a Go client of parley's client protocol
// (docs/protocol.md): it connects to /v1/ws, logs in with a UserSig, makes
// requests (send, recall, extensions, read marks, history) and delivers
// the server's pushes as Events, each exactly once and in order per
// conversation, across reconnects when given the Cursors of the previous
// connection. The tests and `parley bench` use it.
//
// # Concurrency
//
// A Client is safe for concurrent use: calls may be made from many
// goroutines at once, and are matched to their replies by id. Each Client
// runs two goroutines: a reader, which routes replies to their callers and
// queues pushes, and an orderer, which turns the queued pushes into Events
// (making `sync` calls of its own to fill gaps) and hands them to the
// Events channel. The reader never waits for the orderer nor for the
// application, so a reply is never stuck behind an unread Event; the queue
// between them is unbounded, so an application must keep reading Events.
//
// # Lifecycle
//
// Dial connects, logs in and reads the conversation list, then returns.
// The Client lives until Close, a kick from the server (Err returns a
// *KickError with its code) or a dropped connection; then every pending
// call fails with that error, the orderer stops, and the Events channel is
// closed once the Events already handed to it are read.
//
// # Invariants
//
//   - The cursor of a conversation is the seq of the last change handed to
//     Events. Events of one conversation leave in strictly increasing seq
//     order; a push at or below the cursor is a duplicate and dropped; a
//     push past the cursor + 1 is held until `sync` has filled the gap.
//     Pushes with seq 0 (online-only messages, unread counts) are not
//     logged and pass straight through.
//   - Cursors returns the cursors after the last Event handed to the
//     channel, so a Client dialled with them gets every later change, and
//     none twice.
//   - A conversation the client holds no cursor for starts at the Seq the
//     conversation list gave at Dial when Config.Cursors is nil. With
//     Cursors, a C2C conversation missing from them starts at 0 (it is new
//     since the previous connection: all of it was missed), a group at the
//     list's Seq (joined meanwhile: its past is history, HistoryGroup). A
//     group first met live starts at its first push, or at the session's
//     own first change in it.
//   - The session's own changes are never delivered to it: the server
//     tells their seqs with own frames, and the cursor moves past each
//     once the changes before it have come. An own frame always comes
//     before the reply to a sync that returns its change (the server runs
//     a session's requests one at a time), so a sync never hands one on.
//
// Cursors are snapshot after the last Event handed over; own changes past
// a gap that was not filled before Close are not in them, and come back
// once through the next connection's sync.
package client
