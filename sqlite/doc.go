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
// The tx an fn gets is a parley.CommitHooker. Its AfterCommit records a
// hook on the fn's request; once COMMIT has returned, the writer runs the
// group's hooks request by request in batch order (the order the fns ran,
// so commit order), each request's in the order added, and answers each
// request after its own hooks. A rolled-back run of an fn takes its hooks
// with it: run clears them before every run of the fn (the savepoint pass
// after a failed optimistic one), a failed fn's are dropped with its
// savepoint or its lone transaction, and a failed group's are all
// dropped. A hook that panics is recovered on the writer and re-raised in
// its InTx caller; the commit stands and the other hooks still run. The
// DB itself is not a CommitHooker: a write made outside InTx has no fn to
// add a hook from.
//
// Every statement is prepared once, on the connection that runs it: the
// writer's on the write connection at Open, the readers' on the pool. The
// one exception is EventList's, written per call from its filters: an
// operator's listing, not a busy path.
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
//   - Claims keep each conversation in order. EventClaimDue walks pending
//     events in Seq order and takes an event only if it is due, unleased,
//     and no earlier pending event of its conversation is blocked (leased,
//     or not yet due): one NOT EXISTS seek into the partial index of
//     pending events by (conversation, seq). The earlier events are then
//     claimable too and come first in the walk, so they are claimed in the
//     same call, ahead of it; LIMIT cuts the walk in Seq order, so it can
//     cut a conversation short but never leave a gap in it. Delivered and
//     dead events leave the index and hold nothing back.
//   - EventNextDue reports the earliest NextAttemptAt of an unleased event
//     that is the first pending event of its conversation: an event behind
//     an earlier one becomes claimable only once the earlier one is, so it
//     is not due for waking purposes, and a worker that sleeps until
//     NextDue after an empty claim does not spin on it. It is exact except
//     for leases, as before ordered claims: a lease that has run out (its
//     holder died) still counts as held, and an event held back by a live
//     lease is not reported at all. Both wake the worker late, never early:
//     the first waits for the worker's idle bound, and the second is freed
//     when the lease's holder records its attempt, which is the holder's
//     own cue to claim again. The walk goes in due order and stops at the
//     first such event; when every head is leased it reads the whole
//     backlog, as a claim does.
//   - Replay and recovery change an event's state, due time and (for a
//     delivered event replayed) LastError, never its Seq: a replayed
//     event is again the first pending event of its conversation, so
//     claims take it before the later ones, which wait for it as for any
//     earlier event. Recovery reads only the partial indexes of dead and
//     pending events, so it costs the writer the size of those, not of
//     the history.
//   - The attempt log is keyed by (event seq, attempt, started at), so an
//     event's attempts are adjacent and in order, and AttemptInsert
//     writes a whole flush of attempts in one statement.
//   - A group's MsgSeq is taken from groups.next_msg_seq by one
//     UPDATE ... RETURNING that also advances it, in the same transaction
//     as the message's insert. fns run one at a time on the writer, so
//     concurrent senders get distinct seqs in commit order, and a rolled-
//     back fn (or savepoint) gives its seq back with its insert: the
//     committed seqs of a group are 1..N without gaps.
//   - A conversation's change Seq is taken by the INSERT that appends the
//     change, as the conversation's newest Seq + 1 (one backwards seek in
//     the changes key), on the one writer: concurrent appends get
//     distinct seqs in commit order, and a rolled-back append gives its
//     seq back with its row, so the committed seqs of a conversation are
//     1..N without gaps. GroupDelete deletes the group's log in its
//     transaction, so a group created again with the same ID starts at 1;
//     a C2C log outlives the accounts of the pair.
//   - Commit hooks run after COMMIT has returned and before InTx does, so
//     whatever a hook publishes is durable, and publishing is in commit
//     order: per conversation, hooks see change Seqs 1..N in order.
//   - GroupMemberMarkRead moves a member's read_msg_seq forward only, and
//     to at most the group's newest MsgSeq as of the mark: one UPDATE ...
//     RETURNING reads the group's next_msg_seq and writes the member.
//   - A group's member_count moves with every member inserted or deleted,
//     by the rows the statements report, in the same transaction.
//   - An extension state's count is recounted from the target's KVs after
//     every write, in the same transaction, so it is the number of keys
//     that exist whatever the write held (replaced keys, absent deletes, a
//     key named twice).
//   - A group's extension targets are the range [prefix, prefix with its
//     last byte + 1) of parley.GroupExtensionPrefix, compared byte by byte:
//     GroupDelete removes exactly them, with no LIKE to take '%' or '_' in
//     a GroupId as wildcards or to fold case.
//   - An owner's unread total is a row of its own, kept by triggers on
//     conversations in the same transaction as each change, so it always
//     equals the sum of the owner's conversations and costs one row to read.
//   - Times are stored as integers: Unix milliseconds for accounts and
//     events, MsgTime and the group times in seconds as given. A zero time
//     is stored as 0 and read back as the zero time.
//   - Lists stored in a column (AppDefinedData, a group message's To and
//     AtInfo) are JSON text, read back as written: nil stays nil and an
//     empty list stays empty.
package sqlite
