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
