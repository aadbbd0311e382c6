// Package storetest is the conformance suite every parley.Store backend
// runs: sqlite today, PostgreSQL later. The contract it checks is the one
// written in the doc comments of parley.Store and parley.Querier.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store. Every subtest opens its own store, so subtests never see each
// other's rows, and subtests run in parallel.
//
// The Querier tests run twice: once against the store itself, where each
// write is its own transaction and reads see committed data, and once with
// every call wrapped in its own InTx, where reads and writes go through the
// transaction. A backend serving the two paths with different code (for
// example a read pool outside transactions and the write connection inside
// them) has both paths checked.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// Run runs the conformance suite. open must return a new, empty store and
// arrange for it to be closed when t ends (t.Cleanup). It is called once per
// subtest, from parallel subtests, so it must be safe to call concurrently.
func Run(t *testing.T, open func(t *testing.T) parley.Store) {
	t.Helper()
	modes := []struct {
		name string
		wrap func(parley.Store) parley.Querier
	}{
		{"Direct", func(s parley.Store) parley.Querier { return s }},
		{"InTx", func(s parley.Store) parley.Querier { return txQuerier{s} }},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range querierTests() {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, m.wrap(open(t)))
				})
			}
		})
	}
	t.Run("Tx", func(t *testing.T) {
		t.Parallel()
		for _, tc := range txTests() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, open(t))
			})
		}
	})
}

type querierTest struct {
	name string
	run  func(t *testing.T, q parley.Querier)
}

type storeTest struct {
	name string
	run  func(t *testing.T, s parley.Store)
}

func querierTests() []querierTest {
	var all []querierTest
	all = append(all, accountTests()...)
	all = append(all, messageTests()...)
	all = append(all, conversationTests()...)
	all = append(all, eventTests()...)
	return all
}

// txQuerier runs every call in its own InTx, so the Querier tests exercise
// the transaction's implementation of each method.
type txQuerier struct{ s parley.Store }

func (q txQuerier) AccountUpsert(ctx context.Context, a parley.Account) (created bool, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		created, err = tx.AccountUpsert(ctx, a)
		return err
	})
	return created, err
}

func (q txQuerier) AccountGetMany(ctx context.Context, ids []string) (accounts []parley.Account, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		accounts, err = tx.AccountGetMany(ctx, ids)
		return err
	})
	return accounts, err
}

func (q txQuerier) AccountDelete(ctx context.Context, id string) (deleted bool, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		deleted, err = tx.AccountDelete(ctx, id)
		return err
	})
	return deleted, err
}

func (q txQuerier) MessageInsert(ctx context.Context, m *parley.Message) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.MessageInsert(ctx, m) })
}

func (q txQuerier) MessageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (m *parley.Message, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, err = tx.MessageGetDuplicate(ctx, p)
		return err
	})
	return m, err
}

func (q txQuerier) MessageGetByKey(ctx context.Context, p parley.MessageGetByKeyParams) (m *parley.Message, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, err = tx.MessageGetByKey(ctx, p)
		return err
	})
	return m, err
}

func (q txQuerier) MessageList(ctx context.Context, p parley.MessageListParams) (ms []*parley.Message, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		ms, err = tx.MessageList(ctx, p)
		return err
	})
	return ms, err
}

func (q txQuerier) MessageRecall(ctx context.Context, id int64) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.MessageRecall(ctx, id) })
}

func (q txQuerier) ConversationGet(ctx context.Context, owner, peer string) (c parley.Conversation, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		c, err = tx.ConversationGet(ctx, owner, peer)
		return err
	})
	return c, err
}

func (q txQuerier) ConversationAddUnread(ctx context.Context, p parley.ConversationAddUnreadParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.ConversationAddUnread(ctx, p) })
}

func (q txQuerier) ConversationMarkRead(ctx context.Context, p parley.ConversationMarkReadParams) (c parley.Conversation, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		c, err = tx.ConversationMarkRead(ctx, p)
		return err
	})
	return c, err
}

func (q txQuerier) ConversationUnreadTotal(ctx context.Context, owner string) (n int, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		n, err = tx.ConversationUnreadTotal(ctx, owner)
		return err
	})
	return n, err
}

func (q txQuerier) EventInsert(ctx context.Context, e *parley.Event) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventInsert(ctx, e) })
}

func (q txQuerier) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) (es []*parley.Event, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		es, err = tx.EventClaimDue(ctx, p)
		return err
	})
	return es, err
}

func (q txQuerier) EventMarkDelivered(ctx context.Context, p parley.EventMarkDeliveredParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventMarkDelivered(ctx, p) })
}

func (q txQuerier) EventRetry(ctx context.Context, p parley.EventRetryParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventRetry(ctx, p) })
}

func (q txQuerier) EventMarkDead(ctx context.Context, p parley.EventMarkDeadParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventMarkDead(ctx, p) })
}

func (q txQuerier) EventReleaseLeases(ctx context.Context) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventReleaseLeases(ctx) })
}

func (q txQuerier) EventNextDue(ctx context.Context) (at time.Time, ok bool, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		at, ok, err = tx.EventNextDue(ctx)
		return err
	})
	return at, ok, err
}

func (q txQuerier) EventGet(ctx context.Context, id string) (e *parley.Event, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		e, err = tx.EventGet(ctx, id)
		return err
	})
	return e, err
}

func (q txQuerier) EventList(ctx context.Context, p parley.EventListParams) (es []*parley.Event, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		es, err = tx.EventList(ctx, p)
		return err
	})
	return es, err
}
