package parley

import (
	"context"
	"time"
)

// Store is the storage seam. Every backend (sqlite now, postgres later)
// implements it and passes the conformance suite in storetest.
//
// Methods are named noun-then-verb and take one params struct where they
// take more than one value. A transaction has the same interface as the
// store itself: code written against Querier runs inside or outside InTx.
type Store interface {
	Querier

	// InTx runs fn in one write transaction and returns once that
	// transaction is durably committed (or has failed). If fn returns an
	// error its changes are rolled back and InTx returns that error.
	//
	// Backends may group-commit: several concurrent InTx calls can share one
	// database transaction, so fn must use only tx, must be quick, and must
	// not wait on anything but tx (no network I/O). A failed commit fails
	// every call in the group. A backend may call fn more than once (when
	// another fn of its group failed, the group is run again), so fn must
	// start from scratch each time: reset whatever it captures, and have no
	// effect outside tx.
	InTx(ctx context.Context, fn func(tx Querier) error) error

	Close() error
}

// Querier is what can be done inside or outside a transaction. Outside one,
// each write is its own durable transaction and reads see committed data.
type Querier interface {
	// AccountUpsert imports an account, or updates Nick and FaceURL of one
	// already imported (re-importing is not an error). It reports whether
	// the account is new.
	AccountUpsert(ctx context.Context, a Account) (created bool, err error)
	// AccountGetMany returns those of ids that are imported, in any order.
	AccountGetMany(ctx context.Context, ids []string) ([]Account, error)
	// AccountDelete removes an account and the conversations it owns. It
	// reports whether the account existed.
	AccountDelete(ctx context.Context, id string) (deleted bool, err error)

	// MessageInsert stores m and sets m.ID.
	MessageInsert(ctx context.Context, m *Message) error
	// MessageGetDuplicate finds a stored message with the same
	// duplicate-suppression key sent at or after p.Since, or ErrNotFound.
	MessageGetDuplicate(ctx context.Context, p MessageGetDuplicateParams) (*Message, error)
	// MessageGetByKey finds the message of the conversation p.From → p.To
	// with exactly p.MsgKey, or ErrNotFound.
	MessageGetByKey(ctx context.Context, p MessageGetByKeyParams) (*Message, error)
	// MessageList returns the messages between p.Owner and p.Peer, seen from
	// p.Owner's side, newest first: ordered by MsgTime, MsgSeq, ID, all
	// descending. See MessageListParams.
	MessageList(ctx context.Context, p MessageListParams) ([]*Message, error)
	// MessageRecall marks a message recalled.
	MessageRecall(ctx context.Context, id int64) error

	// ConversationGet returns Owner's view of the conversation with Peer; a
	// conversation never touched is the zero Conversation, not ErrNotFound.
	ConversationGet(ctx context.Context, owner, peer string) (Conversation, error)
	// ConversationAddUnread adds p.Delta (which may be negative; the result
	// never goes below 0) to Owner's unread count with Peer, creating
	// Owner's conversation with Peer if it has none (even for Delta 0).
	ConversationAddUnread(ctx context.Context, p ConversationAddUnreadParams) error
	// ConversationMarkRead moves Owner's read time with Peer forward to
	// p.ReadTime (never back) and recounts the unread messages from Peer:
	// those not recalled, not NoUnread, not online-only, with MsgTime after
	// the read time.
	ConversationMarkRead(ctx context.Context, p ConversationMarkReadParams) (Conversation, error)
	// ConversationUnreadTotal is Owner's unread count over all C2C
	// conversations.
	ConversationUnreadTotal(ctx context.Context, owner string) (int, error)

	// GroupInsert creates g. It fails with ErrConflict if a group with
	// g.ID exists. NextMsgSeq is set to 1 and MemberCount to 0 whatever g
	// says; members are added with GroupMemberAdd.
	GroupInsert(ctx context.Context, g *Group) error
	// GroupGet returns one group, or ErrNotFound.
	GroupGet(ctx context.Context, id string) (*Group, error)
	// GroupGetMany returns those of ids that exist, in any order.
	GroupGetMany(ctx context.Context, ids []string) ([]*Group, error)
	// GroupDelete removes a group with its members, its messages and their
	// extensions. It reports whether the group existed.
	GroupDelete(ctx context.Context, id string) (deleted bool, err error)

	// GroupMemberAdd adds those of p.Members not yet in the group (all of
	// the same GroupID) and keeps the group's MemberCount. It returns the
	// UserIDs it added, in the order given; members already in the group
	// are left as they are. ErrNotFound if the group does not exist.
	GroupMemberAdd(ctx context.Context, p GroupMemberAddParams) (added []string, err error)
	// GroupMemberGet returns one member, or ErrNotFound.
	GroupMemberGet(ctx context.Context, groupID, userID string) (*GroupMember, error)
	// GroupMemberList returns members in join order (JoinTime, then the
	// order they were added). See GroupMemberListParams.
	GroupMemberList(ctx context.Context, p GroupMemberListParams) ([]*GroupMember, error)
	// GroupMemberDelete removes those of p.UserIDs that are members and
	// keeps the group's MemberCount; it returns the UserIDs it removed.
	GroupMemberDelete(ctx context.Context, p GroupMemberDeleteParams) (deleted []string, err error)
	// GroupMemberTouch records that a member sent a message at p.At (its
	// LastSendMsgTime). A non-member is not an error: nothing changes.
	GroupMemberTouch(ctx context.Context, p GroupMemberTouchParams) error

	// GroupMessageInsert stores m with the group's NextMsgSeq as m.MsgSeq,
	// advances NextMsgSeq by 1 and sets the group's LastMsgTime to
	// m.MsgTime. Concurrent inserts get distinct, gapless seqs in commit
	// order. ErrNotFound if the group does not exist.
	GroupMessageInsert(ctx context.Context, m *GroupMessage) error
	// GroupMessageGet returns one message, or ErrNotFound.
	GroupMessageGet(ctx context.Context, groupID string, msgSeq uint64) (*GroupMessage, error)
	// GroupMessageGetDuplicate finds the newest stored message of the group
	// from p.From with p.Random and p.BodyCRC sent at or after p.Since, or
	// ErrNotFound.
	GroupMessageGetDuplicate(ctx context.Context, p GroupMessageGetDuplicateParams) (*GroupMessage, error)
	// GroupMessageList returns a group's messages with MsgSeq <= p.MaxSeq
	// (0 means no bound), newest (highest MsgSeq) first, at most p.Limit.
	GroupMessageList(ctx context.Context, p GroupMessageListParams) ([]*GroupMessage, error)
	// GroupMessageRecall marks a message recalled; ErrNotFound if it does
	// not exist.
	GroupMessageRecall(ctx context.Context, groupID string, msgSeq uint64) error

	// ExtensionStateGet returns the version state of target's extensions;
	// a target never written is the zero ExtensionState, not ErrNotFound.
	ExtensionStateGet(ctx context.Context, target string) (ExtensionState, error)
	// ExtensionGetKeys returns those of keys that target has, in any order.
	ExtensionGetKeys(ctx context.Context, target string, keys []string) ([]ExtensionKV, error)
	// ExtensionList returns target's KVs with Seq >= p.StartSeq ordered by
	// Seq then Key, at most p.Limit.
	ExtensionList(ctx context.Context, p ExtensionListParams) ([]ExtensionKV, error)
	// ExtensionWrite applies one operation to target: with p.Clear every
	// KV is removed and ClearSeq becomes p.Seq; then each of p.Put is
	// stored (replacing any KV of its key) with Seq p.Seq and each key of
	// p.Delete removed (absent keys are not an error). The state's Seq
	// becomes p.Seq and its Count follows the KVs. The caller checks
	// versions and limits: ExtensionWrite stores what it is told.
	ExtensionWrite(ctx context.Context, p ExtensionWriteParams) error

	// ChangeAppend appends c to the change log of c.Conversation with the
	// next Seq (1 for the first change, then the newest Seq + 1) and sets
	// c.Seq. Concurrent appends to one conversation get distinct, gapless
	// Seqs in commit order.
	ChangeAppend(ctx context.Context, c *Change) error
	// ChangeList returns a page of one conversation's change log; see
	// ChangeListParams.
	ChangeList(ctx context.Context, p ChangeListParams) ([]*Change, error)
	// ChangeHead returns the Seq of a conversation's newest change, 0 when
	// it has none.
	ChangeHead(ctx context.Context, conversation string) (uint64, error)
	// ConversationSummaryList returns every conversation of user, ordered
	// by Conversation: its C2C conversations (those ConversationGet would
	// find a row for, with user as Owner) and the groups it is a member of.
	ConversationSummaryList(ctx context.Context, user string) ([]ConversationSummary, error)
	// GroupMemberMarkRead moves a member's ReadMsgSeq forward to p.MsgSeq,
	// capped at the group's newest MsgSeq (it never moves back, even if it
	// was set beyond that), and returns the ReadMsgSeq it has now.
	// ErrNotFound if the user is not a member.
	GroupMemberMarkRead(ctx context.Context, p GroupMemberMarkReadParams) (uint64, error)
	// GroupIDsByMember returns the IDs of the groups user is a member of,
	// in any order.
	GroupIDsByMember(ctx context.Context, user string) ([]string, error)

	// EventInsert adds e to the outbox as pending and due at
	// e.NextAttemptAt (zero means now), and sets e.Seq.
	EventInsert(ctx context.Context, e *Event) error
	// EventClaimDue leases up to p.Limit pending events whose next attempt
	// is due at p.Now and that no live lease holds, in Seq order, keeping
	// each conversation in order: an event is claimable only if every
	// earlier pending event of its Conversation is claimable too (so it is
	// claimed in the same call, ahead of it). An earlier event that is
	// leased or waiting for a retry holds back the rest of its
	// conversation. Claimed events are not returned again until
	// p.LeaseUntil passes or their state changes.
	EventClaimDue(ctx context.Context, p EventClaimDueParams) ([]*Event, error)
	// EventRelease gives up the leases of events claimed but not attempted,
	// so that they are claimable again at once.
	EventRelease(ctx context.Context, ids []string) error
	// EventMarkDelivered marks events delivered at p.At, counts the attempt
	// that delivered each (its Attempts goes up by one, so that Attempts
	// is every attempt made, whatever the state) and releases them.
	EventMarkDelivered(ctx context.Context, p EventMarkDeliveredParams) error
	// EventRetry records a failed attempt and schedules the next one.
	EventRetry(ctx context.Context, p EventRetryParams) error
	// EventMarkDead records the last failed attempt and dead-letters it.
	EventMarkDead(ctx context.Context, p EventMarkDeadParams) error
	// EventReleaseLeases makes every leased pending event claimable again.
	// The one delivery worker of a single-node store calls it on start, so
	// events leased by a process that crashed are delivered at once.
	EventReleaseLeases(ctx context.Context) error
	// EventNextDue returns the earliest NextAttemptAt of pending, unleased
	// events that are first among the pending events of their
	// conversation (those EventClaimDue could claim once due); ok is false
	// when there are none. An event held back behind an earlier one is
	// left out: it becomes claimable only when that one's outcome is
	// written, and whoever writes it wakes the claimer.
	EventNextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// EventStats describes the outbox's backlog: how many events are
	// pending and when the oldest of them was created.
	EventStats(ctx context.Context) (EventStats, error)
	// EventGet returns one event by ID, or ErrNotFound.
	EventGet(ctx context.Context, id string) (*Event, error)
	// EventList returns events in Seq order (newest first with
	// p.Newest), filtered by p.
	EventList(ctx context.Context, p EventListParams) ([]*Event, error)
	// EventReplay makes one event due at p.At whatever its state, keeping
	// its ID (so receivers can drop duplicates), Seq and Attempts (its
	// attempts go on counting). A delivered or dead event becomes pending
	// again; a delivered one's LastError is cleared, since it came before
	// the attempt that delivered it. A pending event is only made due at
	// p.At; if it is leased (being attempted) the lease stands, and the
	// attempt's outcome decides what happens next. It returns the event
	// as it is now, or ErrNotFound. A replayed event keeps its Seq, so
	// claims keep it in order: it goes before every later pending event of
	// its conversation, which waits until it is delivered or dead again.
	EventReplay(ctx context.Context, p EventReplayParams) (*Event, error)
	// EventRecover makes every dead event, and every pending event whose
	// last attempt failed (LastError set), created between p.Since and
	// p.Until, due at p.At, as EventReplay does for each; both keep their
	// LastError. It returns how many events it changed.
	EventRecover(ctx context.Context, p EventRecoverParams) (int, error)

	// AttemptInsert records attempts. The delivery worker calls it in the
	// transaction that writes the attempts' outcomes, so an outcome is
	// never written without its attempt. An attempt with the EventSeq,
	// Attempt and StartedAt of one already recorded is dropped.
	AttemptInsert(ctx context.Context, attempts []Attempt) error
	// AttemptList returns the attempts of the event with ID eventID in
	// the order they were made (Attempt, then StartedAt); none when it
	// has none or there is no such event.
	AttemptList(ctx context.Context, eventID string) ([]Attempt, error)
}

// MessageGetDuplicateParams is sendmsg's duplicate-suppression key:
// sender, recipient, MsgSeq, MsgRandom and the CRC of the content.
type MessageGetDuplicateParams struct {
	From      string
	To        string
	MsgSeq    uint32
	MsgRandom uint32
	BodyCRC   uint32
	Since     int64 // Unix seconds; older messages are not duplicates
}

type MessageGetByKeyParams struct {
	From   string
	To     string
	MsgKey string
}

// MessageListParams selects a page of one conversation's history.
type MessageListParams struct {
	Owner   string // whose view: messages From Owner with SyncOtherMachine 2 are hidden
	Peer    string
	MinTime int64 // inclusive, Unix seconds
	MaxTime int64 // inclusive, Unix seconds
	// Before, when set, keeps only messages strictly older than it in
	// (MsgTime, MsgSeq, ID) order: the cursor of the previous page.
	Before *MessageCursor
	Limit  int
}

// MessageCursor is a position in history order.
type MessageCursor struct {
	MsgTime int64
	MsgSeq  uint32
	ID      int64
}

// Conversation is one side's view of a C2C conversation.
type Conversation struct {
	Owner    string
	Peer     string
	ReadTime int64 // messages from Peer with MsgTime <= ReadTime are read
	Unread   int
}

type ConversationAddUnreadParams struct {
	Owner string
	Peer  string
	Delta int
}

type ConversationMarkReadParams struct {
	Owner    string
	Peer     string
	ReadTime int64
}

type GroupMemberAddParams struct {
	GroupID string
	Members []GroupMember
}

// GroupMemberListParams selects members of one group: those of UserIDs
// when it is not empty (in join order), else the page of Limit members
// (zero means all) after skipping Offset.
type GroupMemberListParams struct {
	GroupID string
	UserIDs []string
	Offset  int
	Limit   int
}

type GroupMemberDeleteParams struct {
	GroupID string
	UserIDs []string
}

type GroupMemberTouchParams struct {
	GroupID string
	UserID  string
	At      int64 // Unix seconds
}

// GroupMessageGetDuplicateParams is send_group_msg's duplicate-suppression
// key: group, sender, Random and the CRC of the content.
type GroupMessageGetDuplicateParams struct {
	GroupID string
	From    string
	Random  uint32
	BodyCRC uint32
	Since   int64 // Unix seconds; older messages are not duplicates
}

type GroupMessageListParams struct {
	GroupID string
	MaxSeq  uint64 // inclusive; 0 means the newest
	Limit   int
}

type ExtensionListParams struct {
	Target   string
	StartSeq uint64
	Limit    int
}

type ExtensionWriteParams struct {
	Target string
	Seq    uint64 // the operation's Seq: the state's Seq + 1
	Clear  bool
	Put    []ExtensionKV // their Seq is ignored: p.Seq is stored
	Delete []string
}

type EventClaimDueParams struct {
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
}

type EventMarkDeliveredParams struct {
	IDs []string
	At  time.Time
}

type EventRetryParams struct {
	ID            string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}

type EventMarkDeadParams struct {
	ID        string
	Attempts  int
	LastError string
	At        time.Time
}

// EventStats is the outbox's backlog.
type EventStats struct {
	Pending int
	// OldestPending is the CreatedAt of the oldest pending event; zero
	// when none is pending.
	OldestPending time.Time
}

// EventListParams filters EventList. Zero fields do not filter.
type EventListParams struct {
	// State is EventPending, EventDelivered, EventDead, or EventFailed for
	// the pending events whose last attempt failed.
	State   EventState
	Command string
	// Since and Until keep the events with Since <= CreatedAt <= Until.
	Since time.Time
	Until time.Time
	// Newest lists newest first (Seq descending) instead of oldest first.
	Newest   bool
	AfterSeq int64 // only events with Seq > AfterSeq
	// BeforeSeq keeps only events with Seq < BeforeSeq: the cursor of
	// the next page when listing newest first.
	BeforeSeq int64
	Limit     int // zero means 100
}

// EventReplayParams names the event EventReplay makes due, and when.
type EventReplayParams struct {
	ID string
	At time.Time
}

// EventRecoverParams selects the events EventRecover makes due at At: the
// dead ones and those waiting for a retry, created between Since and Until
// (both inclusive; a zero Since or Until means no bound on that side).
type EventRecoverParams struct {
	Since time.Time
	Until time.Time
	At    time.Time
}
