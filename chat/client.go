package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley"
)

// Publisher pushes committed changes to the sessions online. hub.Hub
// implements it. Its methods are called on the store's writer, in commit
// order (see parley.CommitHooker), so they must be quick and must not
// block: they hand the work to the publisher's own goroutines.
type Publisher interface {
	// Publish pushes c to the online sessions of a. c.Seq is 0 for what is
	// pushed but not logged: online-only messages and unread counts.
	Publish(c *parley.Change, a parley.Audience)
	// GroupMembersChanged says who joined and who left a group, so that
	// the publisher knows whom the group's changes go to.
	GroupMembersChanged(groupID string, joined, left []string)
	// GroupDestroyed says a group is gone with all its members.
	GroupDestroyed(groupID string)
}

// DefaultClientRecallWindow is how long after sending a client may recall
// its own message: Tencent's default of two minutes.
const DefaultClientRecallWindow = 2 * time.Minute

// DefaultSyncLimit and MaxSyncLimit bound a page of Sync by changes, and
// MaxSyncBytes by the size of their data: a page holds at least one
// change, and stops before the one that would take it past MaxSyncBytes,
// so an answer stays well under a client's frame limit.
const (
	DefaultSyncLimit = 100
	MaxSyncLimit     = 500
	MaxSyncBytes     = 256 << 10
)

// SyncParams asks for the changes of one conversation of User after
// AfterSeq: a C2C conversation with Peer, or a group (GroupID set).
type SyncParams struct {
	User     string
	Peer     string
	GroupID  string
	AfterSeq uint64
	Limit    int // zero means DefaultSyncLimit; more than MaxSyncLimit is MaxSyncLimit
}

// SyncResult is one page of changes that User sees, in Seq order. Head is
// the conversation's newest Seq when the page was read; Complete says the
// page reaches it, so the client is up to date at Head (changes User does
// not see leave Seq gaps that Head covers).
type SyncResult struct {
	Changes  []*parley.Change
	Head     uint64
	Complete bool
}

// GroupReadParams marks User's messages of a group read up to MsgSeq (zero
// means the newest).
type GroupReadParams struct {
	GroupID string
	User    string
	MsgSeq  uint64
	Origin  parley.Origin
}

// Login is a client's login as User: the account is imported if it is not
// (Tencent's SDK login registers a new UserID the same way), and the IDs of
// the groups it is a member of are returned, for its session to be pushed
// their changes.
func (e *Engine) Login(ctx context.Context, user string) (groupIDs []string, err error) {
	if err := ValidateUserID(user); err != nil {
		return nil, err
	}
	found, err := e.store.AccountGetMany(ctx, []string{user})
	if err != nil {
		return nil, fmt.Errorf("chat: get the account: %w", err)
	}
	if len(found) == 0 {
		// AccountUpsert keeps the account if a racing login imported it
		// first; Nick and FaceURL are empty either way.
		if _, err := e.store.AccountUpsert(ctx, parley.Account{UserID: user, CreatedAt: e.now()}); err != nil {
			return nil, fmt.Errorf("chat: import the account: %w", err)
		}
	}
	groupIDs, err = e.store.GroupIDsByMember(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("chat: list the user's groups: %w", err)
	}
	return groupIDs, nil
}

// Conversations lists User's conversations with where each change log
// stands and the user's read position in it.
func (e *Engine) Conversations(ctx context.Context, user string) ([]parley.ConversationSummary, error) {
	if err := ValidateUserID(user); err != nil {
		return nil, err
	}
	list, err := e.store.ConversationSummaryList(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("chat: list conversations: %w", err)
	}
	return list, nil
}

// Sync returns a page of changes of one of User's conversations. A group
// is synced only by its members (10007 otherwise; 10010 if it does not
// exist).
func (e *Engine) Sync(ctx context.Context, p SyncParams) (SyncResult, error) {
	limit := p.Limit
	switch {
	case limit < 0:
		return SyncResult{}, parley.Errorf(parley.ErrFormat, "Limit %d is negative", limit)
	case limit == 0:
		limit = DefaultSyncLimit
	case limit > MaxSyncLimit:
		limit = MaxSyncLimit
	}
	var conversation string
	switch {
	case p.GroupID != "" && p.Peer != "":
		return SyncResult{}, parley.Errorf(parley.ErrFormat, "a conversation is either with a peer or a group, not both")
	case p.GroupID != "":
		if err := checkGroupID(p.GroupID); err != nil {
			return SyncResult{}, err
		}
		if _, err := groupIn(ctx, e.store, p.GroupID); err != nil {
			return SyncResult{}, err
		}
		if err := requireMember(ctx, e.store, p.GroupID, p.User); err != nil {
			return SyncResult{}, err
		}
		conversation = parley.GroupConversation(p.GroupID)
	default:
		if err := ValidateUserID(p.Peer); err != nil {
			return SyncResult{}, parley.Errorf(parley.ErrToAccountInvalid, "peer: %s", err.(*parley.Error).Info)
		}
		conversation = parley.C2CConversation(p.User, p.Peer)
	}
	// The head is read first: the page may then reach past it, never
	// stop short of it unseen.
	head, err := e.store.ChangeHead(ctx, conversation)
	if err != nil {
		return SyncResult{}, fmt.Errorf("chat: read the change log's head: %w", err)
	}
	// One more than the page, to know whether another page follows.
	changes, err := e.store.ChangeList(ctx, parley.ChangeListParams{Conversation: conversation, AfterSeq: p.AfterSeq, Viewer: p.User, Limit: limit + 1})
	if err != nil {
		return SyncResult{}, fmt.Errorf("chat: list changes: %w", err)
	}
	res := SyncResult{Changes: changes, Head: head, Complete: len(changes) <= limit}
	if !res.Complete {
		res.Changes = changes[:limit]
	}
	size := 0
	for i, c := range res.Changes {
		size += len(c.Data)
		if i > 0 && size > MaxSyncBytes {
			res.Changes, res.Complete = res.Changes[:i], false
			break
		}
	}
	if n := len(res.Changes); n > 0 && res.Changes[n-1].Seq > res.Head {
		res.Head = res.Changes[n-1].Seq
	}
	return res, nil
}

// requireMember answers 10007 unless user is a member of the group.
func requireMember(ctx context.Context, q parley.Querier, groupID, user string) error {
	_, err := q.GroupMemberGet(ctx, groupID, user)
	if errors.Is(err, parley.ErrNotFound) {
		return parley.Errorf(parley.ErrGroupNotPermitted, "%q is not a member of group %q", user, groupID)
	}
	if err != nil {
		return fmt.Errorf("chat: get the membership: %w", err)
	}
	return nil
}

// SetGroupRead marks a member's messages of a group read and returns its
// read MsgSeq now. Its other sessions are pushed a ChangeRead.
func (e *Engine) SetGroupRead(ctx context.Context, p GroupReadParams) (uint64, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return 0, err
	}
	var (
		readSeq uint64
		refused error
	)
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		readSeq, refused = 0, nil
		ps.reset()
		g, err := groupIn(ctx, tx, p.GroupID)
		if refusal(err) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		upTo := p.MsgSeq
		if upTo == 0 {
			upTo = g.NextMsgSeq - 1
		}
		readSeq, err = tx.GroupMemberMarkRead(ctx, parley.GroupMemberMarkReadParams{GroupID: g.ID, UserID: p.User, MsgSeq: upTo})
		if errors.Is(err, parley.ErrNotFound) {
			refused = parley.Errorf(parley.ErrGroupNotPermitted, "%q is not a member of group %q", p.User, g.ID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("chat: mark the group read: %w", err)
		}
		data, err := marshal(groupReadData{ConversationType: conversationGroup, GroupID: g.ID, Report: p.User, ReadMsgSeq: readSeq})
		if err != nil {
			return err
		}
		now := e.now()
		c := &parley.Change{Conversation: parley.GroupConversation(g.ID), Kind: parley.ChangeRead, Only: p.User, Time: now.UnixMilli(), Data: data}
		if err := tx.ChangeAppend(ctx, c); err != nil {
			return fmt.Errorf("chat: append the read change: %w", err)
		}
		ps.add(tx, c, parley.Audience{Users: []string{p.User}, SkipSession: p.Origin.SessionID})
		return nil
	})
	if err != nil {
		return 0, err
	}
	if refused != nil {
		return 0, refused
	}
	ps.flush()
	return readSeq, nil
}
