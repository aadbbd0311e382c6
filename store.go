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
	// never goes below 0) to Owner's unread count with Peer.
	ConversationAddUnread(ctx context.Context, p ConversationAddUnreadParams) error
	// ConversationMarkRead moves Owner's read time with Peer forward to
	// p.ReadTime (never back) and recounts the unread messages from Peer:
	// those not recalled, not NoUnread, not online-only, with MsgTime after
	// the read time.
	ConversationMarkRead(ctx context.Context, p ConversationMarkReadParams) (Conversation, error)
	// ConversationUnreadTotal is Owner's unread count over all C2C
	// conversations.
	ConversationUnreadTotal(ctx context.Context, owner string) (int, error)

	// EventInsert adds e to the outbox as pending and due at
	// e.NextAttemptAt (zero means now), and sets e.Seq.
	EventInsert(ctx context.Context, e *Event) error
	// EventClaimDue leases up to p.Limit pending events whose next attempt
	// is due at p.Now and that no live lease holds, in Seq order. Claimed
	// events are not returned again until p.LeaseUntil passes or their
	// state changes.
	EventClaimDue(ctx context.Context, p EventClaimDueParams) ([]*Event, error)
	// EventMarkDelivered marks events delivered at p.At and releases them.
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
	// events; ok is false when there are none.
	EventNextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// EventGet returns one event by ID, or ErrNotFound.
	EventGet(ctx context.Context, id string) (*Event, error)
	// EventList returns events in Seq order, filtered by p.
	EventList(ctx context.Context, p EventListParams) ([]*Event, error)
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

// EventListParams filters EventList. Zero fields do not filter.
type EventListParams struct {
	State    EventState
	Command  string
	AfterSeq int64 // only events with Seq > AfterSeq
	Limit    int   // zero means 100
}
