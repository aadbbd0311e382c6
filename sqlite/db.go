package sqlite

import (
	"context"
	"time"

	"github.com/parley-im/parley"
)

// The Querier of the DB itself. Reads go to the read-only pool and see
// what is committed; each write is one InTx of its own, so it shares the
// writer and its group commits with every other write.

func (db *DB) AccountUpsert(ctx context.Context, a parley.Account) (created bool, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		created, err = q.AccountUpsert(ctx, a)
		return err
	})
	return created, err
}

func (db *DB) AccountGetMany(ctx context.Context, ids []string) ([]parley.Account, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.accountGetMany(ctx, ids)
}

func (db *DB) AccountDelete(ctx context.Context, id string) (deleted bool, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		deleted, err = q.AccountDelete(ctx, id)
		return err
	})
	return deleted, err
}

func (db *DB) MessageInsert(ctx context.Context, m *parley.Message) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.MessageInsert(ctx, m) })
}

func (db *DB) MessageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (*parley.Message, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.messageGetDuplicate(ctx, p)
}

func (db *DB) MessageGetByKey(ctx context.Context, p parley.MessageGetByKeyParams) (*parley.Message, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.messageGetByKey(ctx, p)
}

func (db *DB) MessageList(ctx context.Context, p parley.MessageListParams) ([]*parley.Message, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.messageList(ctx, p)
}

func (db *DB) MessageRecall(ctx context.Context, id int64) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.MessageRecall(ctx, id) })
}

func (db *DB) ConversationGet(ctx context.Context, owner, peer string) (parley.Conversation, error) {
	if db.closed.Load() {
		return parley.Conversation{}, ErrClosed
	}
	return db.r.conversationGet(ctx, owner, peer)
}

func (db *DB) ConversationAddUnread(ctx context.Context, p parley.ConversationAddUnreadParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.ConversationAddUnread(ctx, p) })
}

func (db *DB) ConversationMarkRead(ctx context.Context, p parley.ConversationMarkReadParams) (c parley.Conversation, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		c, err = q.ConversationMarkRead(ctx, p)
		return err
	})
	return c, err
}

func (db *DB) ConversationUnreadTotal(ctx context.Context, owner string) (int, error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	return db.r.conversationUnreadTotal(ctx, owner)
}

func (db *DB) GroupInsert(ctx context.Context, g *parley.Group) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.GroupInsert(ctx, g) })
}

func (db *DB) GroupGet(ctx context.Context, id string) (*parley.Group, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupGet(ctx, id)
}

func (db *DB) GroupGetMany(ctx context.Context, ids []string) ([]*parley.Group, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupGetMany(ctx, ids)
}

func (db *DB) GroupDelete(ctx context.Context, id string) (deleted bool, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		deleted, err = q.GroupDelete(ctx, id)
		return err
	})
	return deleted, err
}

func (db *DB) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) (added []string, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		added, err = q.GroupMemberAdd(ctx, p)
		return err
	})
	return added, err
}

func (db *DB) GroupMemberGet(ctx context.Context, groupID, userID string) (*parley.GroupMember, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupMemberGet(ctx, groupID, userID)
}

func (db *DB) GroupMemberList(ctx context.Context, p parley.GroupMemberListParams) ([]*parley.GroupMember, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupMemberList(ctx, p)
}

func (db *DB) GroupMemberDelete(ctx context.Context, p parley.GroupMemberDeleteParams) (deleted []string, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		deleted, err = q.GroupMemberDelete(ctx, p)
		return err
	})
	return deleted, err
}

func (db *DB) GroupMemberTouch(ctx context.Context, p parley.GroupMemberTouchParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.GroupMemberTouch(ctx, p) })
}

func (db *DB) GroupMessageInsert(ctx context.Context, m *parley.GroupMessage) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.GroupMessageInsert(ctx, m) })
}

func (db *DB) GroupMessageGet(ctx context.Context, groupID string, msgSeq uint64) (*parley.GroupMessage, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupMessageGet(ctx, groupID, msgSeq)
}

func (db *DB) GroupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupMessageGetDuplicate(ctx, p)
}

func (db *DB) GroupMessageList(ctx context.Context, p parley.GroupMessageListParams) ([]*parley.GroupMessage, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupMessageList(ctx, p)
}

func (db *DB) GroupMessageRecall(ctx context.Context, groupID string, msgSeq uint64) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.GroupMessageRecall(ctx, groupID, msgSeq) })
}

func (db *DB) ExtensionStateGet(ctx context.Context, target string) (parley.ExtensionState, error) {
	if db.closed.Load() {
		return parley.ExtensionState{}, ErrClosed
	}
	return db.r.extensionStateGet(ctx, target)
}

func (db *DB) ExtensionGetKeys(ctx context.Context, target string, keys []string) ([]parley.ExtensionKV, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.extensionGetKeys(ctx, target, keys)
}

func (db *DB) ExtensionList(ctx context.Context, p parley.ExtensionListParams) ([]parley.ExtensionKV, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.extensionList(ctx, p)
}

func (db *DB) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.ExtensionWrite(ctx, p) })
}

func (db *DB) EventInsert(ctx context.Context, e *parley.Event) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventInsert(ctx, e) })
}

func (db *DB) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) (es []*parley.Event, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		es, err = q.EventClaimDue(ctx, p)
		return err
	})
	return es, err
}

func (db *DB) EventRelease(ctx context.Context, ids []string) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventRelease(ctx, ids) })
}

func (db *DB) EventMarkDelivered(ctx context.Context, p parley.EventMarkDeliveredParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventMarkDelivered(ctx, p) })
}

func (db *DB) EventRetry(ctx context.Context, p parley.EventRetryParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventRetry(ctx, p) })
}

func (db *DB) EventMarkDead(ctx context.Context, p parley.EventMarkDeadParams) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventMarkDead(ctx, p) })
}

func (db *DB) EventReleaseLeases(ctx context.Context) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.EventReleaseLeases(ctx) })
}

func (db *DB) EventNextDue(ctx context.Context) (time.Time, bool, error) {
	if db.closed.Load() {
		return time.Time{}, false, ErrClosed
	}
	return db.r.eventNextDue(ctx)
}

func (db *DB) EventStats(ctx context.Context) (parley.EventStats, error) {
	if db.closed.Load() {
		return parley.EventStats{}, ErrClosed
	}
	return db.r.eventStats(ctx)
}

func (db *DB) EventGet(ctx context.Context, id string) (*parley.Event, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.eventGet(ctx, id)
}

func (db *DB) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.eventList(ctx, p)
}
