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
//
// The Tx tests hold InTx to its contract, and hold the Querier given to an
// fn to parley.CommitHooker's where it offers that capability; a store
// whose transactions do not have it skips those tests.
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
	all = append(all, groupTests()...)
	all = append(all, groupMemberTests()...)
	all = append(all, groupMessageTests()...)
	all = append(all, extensionTests()...)
	all = append(all, eventTests()...)
	all = append(all, attemptTests()...)
	all = append(all, changeTests()...)
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

func (q txQuerier) GroupInsert(ctx context.Context, g *parley.Group) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.GroupInsert(ctx, g) })
}

func (q txQuerier) GroupGet(ctx context.Context, id string) (g *parley.Group, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		g, err = tx.GroupGet(ctx, id)
		return err
	})
	return g, err
}

func (q txQuerier) GroupGetMany(ctx context.Context, ids []string) (gs []*parley.Group, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		gs, err = tx.GroupGetMany(ctx, ids)
		return err
	})
	return gs, err
}

func (q txQuerier) GroupDelete(ctx context.Context, id string) (deleted bool, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		deleted, err = tx.GroupDelete(ctx, id)
		return err
	})
	return deleted, err
}

func (q txQuerier) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) (added []string, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		added, err = tx.GroupMemberAdd(ctx, p)
		return err
	})
	return added, err
}

func (q txQuerier) GroupMemberGet(ctx context.Context, groupID, userID string) (m *parley.GroupMember, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, err = tx.GroupMemberGet(ctx, groupID, userID)
		return err
	})
	return m, err
}

func (q txQuerier) GroupMemberList(ctx context.Context, p parley.GroupMemberListParams) (ms []*parley.GroupMember, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		ms, err = tx.GroupMemberList(ctx, p)
		return err
	})
	return ms, err
}

func (q txQuerier) GroupMemberDelete(ctx context.Context, p parley.GroupMemberDeleteParams) (deleted []string, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		deleted, err = tx.GroupMemberDelete(ctx, p)
		return err
	})
	return deleted, err
}

func (q txQuerier) GroupMemberTouch(ctx context.Context, p parley.GroupMemberTouchParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.GroupMemberTouch(ctx, p) })
}

func (q txQuerier) GroupMessageInsert(ctx context.Context, m *parley.GroupMessage) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.GroupMessageInsert(ctx, m) })
}

func (q txQuerier) GroupMessageGet(ctx context.Context, groupID string, msgSeq uint64) (m *parley.GroupMessage, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, err = tx.GroupMessageGet(ctx, groupID, msgSeq)
		return err
	})
	return m, err
}

func (q txQuerier) GroupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (m *parley.GroupMessage, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, err = tx.GroupMessageGetDuplicate(ctx, p)
		return err
	})
	return m, err
}

func (q txQuerier) GroupMessageList(ctx context.Context, p parley.GroupMessageListParams) (ms []*parley.GroupMessage, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		ms, err = tx.GroupMessageList(ctx, p)
		return err
	})
	return ms, err
}

func (q txQuerier) GroupMessageRecall(ctx context.Context, groupID string, msgSeq uint64) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.GroupMessageRecall(ctx, groupID, msgSeq) })
}

func (q txQuerier) ExtensionStateGet(ctx context.Context, target string) (st parley.ExtensionState, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		st, err = tx.ExtensionStateGet(ctx, target)
		return err
	})
	return st, err
}

func (q txQuerier) ExtensionGetKeys(ctx context.Context, target string, keys []string) (kvs []parley.ExtensionKV, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		kvs, err = tx.ExtensionGetKeys(ctx, target, keys)
		return err
	})
	return kvs, err
}

func (q txQuerier) ExtensionList(ctx context.Context, p parley.ExtensionListParams) (kvs []parley.ExtensionKV, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		kvs, err = tx.ExtensionList(ctx, p)
		return err
	})
	return kvs, err
}

func (q txQuerier) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.ExtensionWrite(ctx, p) })
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

func (q txQuerier) EventRelease(ctx context.Context, ids []string) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.EventRelease(ctx, ids) })
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

func (q txQuerier) EventStats(ctx context.Context) (st parley.EventStats, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		st, err = tx.EventStats(ctx)
		return err
	})
	return st, err
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

func (q txQuerier) ChangeAppend(ctx context.Context, c *parley.Change) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.ChangeAppend(ctx, c) })
}

func (q txQuerier) ChangeList(ctx context.Context, p parley.ChangeListParams) (cs []*parley.Change, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		cs, err = tx.ChangeList(ctx, p)
		return err
	})
	return cs, err
}

func (q txQuerier) ChangeHead(ctx context.Context, conversation string) (seq uint64, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		seq, err = tx.ChangeHead(ctx, conversation)
		return err
	})
	return seq, err
}

func (q txQuerier) ConversationSummaryList(ctx context.Context, user string) (ss []parley.ConversationSummary, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		ss, err = tx.ConversationSummaryList(ctx, user)
		return err
	})
	return ss, err
}

func (q txQuerier) GroupMemberMarkRead(ctx context.Context, p parley.GroupMemberMarkReadParams) (seq uint64, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		seq, err = tx.GroupMemberMarkRead(ctx, p)
		return err
	})
	return seq, err
}

func (q txQuerier) GroupIDsByMember(ctx context.Context, user string) (ids []string, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		ids, err = tx.GroupIDsByMember(ctx, user)
		return err
	})
	return ids, err
}
