package parley

import "encoding/json"

// Change kinds: what a Change tells the clients of a conversation.
const (
	ChangeMessage   = "message"   // a new message
	ChangeRecall    = "recall"    // a message was recalled
	ChangeExtension = "extension" // a message's extensions changed
	ChangeRead      = "read"      // a user's read position moved (seen by that user only)

	// ChangeUnread tells a user its unread count with a peer changed. It
	// is pushed live only, never appended: a client that was offline gets
	// the counts from its conversation list.
	ChangeUnread = "unread"
)

// Change is one entry of a conversation's change log: what online clients
// are pushed live and what a client that was offline syncs later. Every
// change that clients see (a message, a recall, an extension write, a read
// mark) is appended in the transaction of the change itself, so the log
// has no gaps and holds nothing that did not commit.
//
// A conversation is a C2C pair (C2CConversation) or a group
// (GroupConversation); its Seq counts from 1 with no gaps in commit order.
// Online-only messages are never appended: they are pushed with Seq 0.
type Change struct {
	Conversation string
	Seq          uint64
	Kind         string
	// Only, when set, is the one user who sees the change (a read mark).
	// Except, when set, is the one user who does not (a message sent with
	// SyncOtherMachine 2 is hidden from its sender). At most one is set.
	Only   string
	Except string
	// Time is when the change was made, by the engine's clock, in Unix
	// milliseconds. The store keeps what it is given.
	Time int64
	// Data is the change's JSON object exactly as clients receive it, live
	// or synced.
	Data json.RawMessage
}

// VisibleTo reports whether user sees c.
func (c *Change) VisibleTo(user string) bool {
	switch {
	case c.Only != "":
		return c.Only == user
	case c.Except != "":
		return c.Except != user
	}
	return true
}

// Audience says which online sessions are pushed a change.
type Audience struct {
	// Users are pushed the change on every session (C2C: the recipient,
	// and the sender when its other devices are to see it).
	Users []string
	// GroupID, when set, pushes the change to every online member of the
	// group as well.
	GroupID string
	// SkipSession is the ID of the session that made the change: it has
	// its answer and is not pushed the change too. "" skips none.
	SkipSession string
}

// ChangeListParams selects changes of one conversation with Seq > AfterSeq
// that Viewer sees, in Seq order, at most Limit (zero means 100).
type ChangeListParams struct {
	Conversation string
	AfterSeq     uint64
	Viewer       string // "" means every change, whoever sees it
	Limit        int
}

// ConversationSummary is one conversation in a user's list: where its
// change log stands and how much of it the user has read.
type ConversationSummary struct {
	// Conversation is C2CConversation(user, Peer) or
	// GroupConversation(GroupID); exactly one of Peer and GroupID is set.
	Conversation string
	Peer         string
	GroupID      string
	// Seq is the Seq of the conversation's newest change (0 if none).
	Seq uint64
	// C2C: the user's unread count and read time with Peer.
	Unread   int
	ReadTime int64
	// Group: the newest MsgSeq (NextMsgSeq - 1) and the user's ReadMsgSeq.
	LastMsgSeq uint64
	ReadMsgSeq uint64
}

// GroupMemberMarkReadParams moves a member's read position forward to
// MsgSeq (never back, never past the group's newest message).
type GroupMemberMarkReadParams struct {
	GroupID string
	UserID  string
	MsgSeq  uint64
}

// CommitHooker is an optional capability of the Querier a Store passes to
// an InTx fn: AfterCommit(f) asks for f to run once the transaction has
// durably committed, before InTx returns. The hooks of one transaction run
// in the order they were added, and transactions' hooks run in commit
// order, one at a time, so whatever f publishes is published in commit
// order. f must be quick, must not block and must not use the store (on a
// single-writer store that would deadlock): it runs on the store's writer.
// Hooks added by an fn run that was rolled back (a run that is repeated,
// see Store.InTx) are dropped, as are all hooks of a transaction that
// fails. A hook that panics does so in the caller of InTx, after the
// commit: the change stands.
type CommitHooker interface {
	AfterCommit(f func())
}
