// Package sqlite is parley's embedded storage: a parley.Store on one SQLite
// file, through modernc.org/sqlite (pure Go, no cgo). The file is in WAL
// mode with synchronous=FULL, so a write is on disk before it is
// acknowledged, and writes are group-committed so that durability costs one
// fsync per group, not one per call.
//
// # Concurrency
//
// One writer goroutine owns the one write connection; nothing else writes.
// InTx does not touch the database: it queues its fn for the writer and
// waits. The writer takes the first waiting request, then drains whatever
// else is already queued, up to Config.MaxBatch, and runs the group as one
// transaction:
//
//	BEGIN IMMEDIATE
//	fn1; fn2; ...
//	COMMIT                                   (one fsync of the WAL)
//
// then answers every waiter. That optimistic pass is the common case; a
// savepoint per fn would cost two statements each on the one writer. If an
// fn fails (or panics), the writer rolls the transaction back and runs the
// whole group again, each fn in its own savepoint:
//
//	BEGIN IMMEDIATE
//	SAVEPOINT fn; fn1; RELEASE fn           (fn failed: ROLLBACK TO fn; RELEASE fn)
//	SAVEPOINT fn; fn2; RELEASE fn
//	...
//	COMMIT
//
// so an fn may run twice, as parley.Store.InTx allows. A group of one runs
// without a savepoint; if its fn fails the whole transaction is rolled
// back. While a group commits,
// the next one queues up, so the busier the store, the larger the groups:
// batching adapts to load without a timer and adds no latency when idle.
//
// A request whose context is done when the writer reaches it is answered
// with the context's error and its fn never runs. A caller whose context
// ends while its request is still queued returns at once, and the writer
// skips the request; once fn has started, InTx waits for the commit, so its
// answer always says what happened. Statements on the write connection run
// under a context that is never cancelled: SQLite rolls back the whole
// transaction when a writing statement is interrupted, which would undo
// every other fn of the group.
//
// Writes made outside InTx (s.MessageInsert and so on) are InTx calls of
// one statement each: they queue for the same writer and share its groups.
// Reads made outside InTx go to a separate pool of read-only connections
// (Config.MaxReaders); WAL lets them read the last committed state while the
// writer writes, so reads never wait for the writer and never see a group's
// uncommitted changes. Reads made inside InTx run on the write connection
// and see the group's changes so far, their own included.
//
// Every statement is prepared once, on the connection that runs it: the
// writer's on the write connection at Open, the readers' on the pool.
//
// # Lifecycle
//
// Open checks Config, opens the write connection, switches the file to WAL,
// migrates the schema (see below), prepares the statements, opens the read
// pool and starts the writer. Close stops new calls (they return ErrClosed),
// lets the writer commit everything already queued, waits for it to return,
// and closes the connections; the last connection to close checkpoints the
// WAL into the main file. A second Close returns ErrClosed.
//
// The schema is versioned with PRAGMA user_version. The migrations are an
// ordered list of SQL steps; Open applies those the file has not seen, each
// in one transaction with its version bump. A file whose version is newer
// than this build knows is refused rather than guessed at.
//
// # Invariants
//
//   - InTx returns nil only after COMMIT has returned, and with
//     synchronous=FULL that means the WAL is synced: an acknowledged fn
//     survives a crash or power loss.
//   - An fn's changes commit whole or not at all, and only its own: a failed
//     fn is rolled back to its savepoint while the others of its group go
//     on. A failed BEGIN, savepoint or COMMIT fails every call of the group,
//     none of which committed.
//   - fn runs on the writer goroutine, one at a time, so each fn sees every
//     earlier fn's writes and its reads inside InTx are consistent with its
//     writes. fn must use only its tx, be quick, and not wait on anything
//     else: while it runs, no other write can. Calling the DB (not the tx)
//     to write from inside fn deadlocks.
//   - A tx is valid only while its fn runs; using it afterwards is an error.
//     A panic in fn rolls back its changes and is re-raised in the caller of
//     InTx; the writer carries on.
//   - Event Seq is the outbox's commit order: the writer assigns it in the
//     order fns run, and AUTOINCREMENT never reuses a value.
//   - An owner's unread total is a row of its own, kept by triggers on
//     conversations in the same transaction as each change, so it always
//     equals the sum of the owner's conversations and costs one row to read.
//   - Times are stored as integers: Unix milliseconds for accounts and
//     events, MsgTime in seconds as given. A zero time is stored as 0 and
//     read back as the zero time.
package sqlite
