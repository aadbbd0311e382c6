// Package hub knows who is online and fans committed changes out to them.
//
// A client connection is a [Session], registered with [Hub.Register] over a
// [Transport] (the ws package adapts a WebSocket; hubtest has an in-memory
// one). The hub implements chat.Publisher: the engine calls [Hub.Publish]
// after each commit with the change and its [parley.Audience], and
// [Hub.GroupMembersChanged] and [Hub.GroupDestroyed] when group membership
// changes. A change goes to every session of the Audience's Users, and of
// every online member of its GroupID, that the change is visible to
// (parley.Change.VisibleTo), except the session named by SkipSession. The
// hub keeps group memberships for online users only: the caller loads a
// user's groups from the store after Register and hands them to
// [Hub.Subscribe].
//
// Each session has a bounded queue (QueueMessages, QueueBytes) that pushes
// and replies ([Session.Send]) share. A session whose queue would overflow
// is a slow consumer: it is closed with [CloseSlowConsumer] at once, and
// nobody else waits for it.
//
// # Concurrency
//
// The hub runs Shards dispatcher goroutines and one pinger. A session has a
// writer goroutine only while its queue holds something to write (a
// message or a due ping); the writer exits when the queue is drained and
// drops its buffer, so an idle session costs a small struct and no
// goroutine. Closing a slow consumer runs on a goroutine of its own, since
// closing a transport may block.
//
// Publish hashes the change's Conversation to a shard, appends to the
// shard's queue under the shard's mutex, and wakes its dispatcher if the
// queue was empty. It never blocks: a full queue (DispatchQueue publishes)
// drops the publish. GroupMembersChanged and GroupDestroyed go into the
// queue of the group's conversation (parley.GroupConversation) the same
// way, never dropped, so they are applied in order with that group's
// changes. A dispatcher takes its whole queue at once and, for each
// publish, copies the recipient sessions under Hub.mu's read lock, then
// encodes the change once and appends the message to each recipient's
// queue under that session's mutex.
//
// Locks, in the order they may be taken (a goroutine holding one may take
// only those below it):
//
//  1. Hub.mu (RWMutex): users, groups, the per-user membership logs,
//     sessions' registration fields, the ping buckets. Dispatchers and the
//     pinger take it for reading, briefly; Register, Subscribe, session
//     close and membership changes for writing.
//  2. Session.mu: one session's queue, its closed, writing and ping flags,
//     its Done channel.
//
// A shard's mutex is a leaf, never held with another lock. No lock is
// held while a Transport method runs or while Encode runs.
//
// # Lifecycle
//
// New starts the dispatchers and the pinger. Register adds a session;
// Subscribe gives it its user's groups. A session ends by Session.Close
// (its owner's choice: the connection ended), by a Write or Ping error, by
// overflow (CloseSlowConsumer), by its user opening a session too many
// (the oldest goes, CloseTooManySessions), or by Hub.Close. Ending marks
// the session closed and drops its queue first, then unregisters it, then
// closes its transport, which makes a blocked Write return; the writer
// then sees the mark and exits. When a user's last session ends, its group
// memberships are forgotten.
//
// Hub.Close marks the hub closed (later Publishes are ignored, later
// Registers get a closed session), stops the dispatchers and the pinger
// and waits for them, closes every session with CloseGoingAway, and waits
// for every writer and closer goroutine. Nothing of the hub runs after it
// returns.
//
// # Invariants
//
//   - Order: the changes of one conversation reach each session in the
//     order of the Publish calls. Publish is called in commit order; one
//     conversation's changes all go through one shard's FIFO queue, one
//     dispatcher handles them one at a time, each session's queue is FIFO,
//     and one writer at most drains it. Replies queued by Send take their
//     place among the pushes the same way. Changes of different
//     conversations have no order between them.
//   - No gaps without a cause: a session that is pushed change n of a
//     conversation and is still open was pushed every change before n that
//     it was a recipient of, unless DispatchQueue dropped some (counted in
//     Stats.DroppedPublishes). Clients detect gaps by Seq and sync.
//   - Publish never blocks, and no session can slow a dispatcher: a push
//     is an append under a mutex that no one holds across I/O; a full queue
//     closes the session.
//   - At most one writer goroutine per session, and none while the
//     session's queue is empty and no ping is due.
//   - Membership: an online user's groups are those of the lists given to
//     Subscribe, with every membership change the hub applied while the
//     user was online applied on top, in order. A change applied between a
//     session's Register and its first Subscribe is applied again after
//     that Subscribe's list, because the list, loaded by the caller after
//     Register, may predate the change; a change applied before Register
//     needs no such care, since it committed before the list was loaded.
//     Membership changes are applied in order with the publishes of the
//     group's conversation, so a member is pushed exactly the changes
//     committed while it was a member (and online).
//   - Every session that is registered is in exactly one ping bucket, and
//     is pinged once per PingInterval, give or take a slot.
package hub
