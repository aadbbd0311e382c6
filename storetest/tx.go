package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

var errBoom = errors.New("boom")

func txTests() []storeTest {
	return []storeTest{
		{"CommitIsVisible", testTxCommit},
		{"ErrorRollsBackAndIsReturned", testTxRollback},
		{"ErrorRollsBackOnlyItsOwnChanges", testTxRollbackConcurrent},
		{"ConcurrentCallsAllCommit", testTxConcurrent},
		{"ReadsSeeOwnWrites", testTxReadsOwnWrites},
		{"CancelledContextWritesNothing", testTxCancelled},
		{"GroupSeqsGaplessInCommitOrder", testTxGroupSeqsConcurrent},
		{"GroupErrorRollsBackWithoutBurningSeq", testTxGroupRollback},
		{"GroupReadsSeeOwnWrites", testTxGroupReadsOwnWrites},
		{"ChangeSeqsGaplessInCommitOrder", testTxChangeSeqsConcurrent},
		{"StoreIsNotCommitHooker", testStoreNotCommitHooker},
		{"HooksRunAfterCommitInOrderAdded", testHooksAfterCommit},
		{"HooksOfFailedFnDoNotRun", testHooksFailedFn},
		{"HooksRunInCommitOrder", testHooksCommitOrder},
		{"HooksOfRerunFnRunOnce", testHooksRerun},
	}
}

// writeAll makes one change of every kind, named after tag.
func writeAll(ctx context.Context, q parley.Querier, tag string) (*parley.Message, *parley.Event, error) {
	if _, err := q.AccountUpsert(ctx, parley.Account{UserID: "user-" + tag, Nick: tag, CreatedAt: t0()}); err != nil {
		return nil, nil, fmt.Errorf("AccountUpsert: %w", err)
	}
	m := newMessage("from-"+tag, "to-"+tag, 1, 1000)
	if err := q.MessageInsert(ctx, m); err != nil {
		return nil, nil, fmt.Errorf("MessageInsert: %w", err)
	}
	if err := q.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: "to-" + tag, Peer: "from-" + tag, Delta: 1}); err != nil {
		return nil, nil, fmt.Errorf("ConversationAddUnread: %w", err)
	}
	e := newEvent(tag, t0())
	if err := q.EventInsert(ctx, e); err != nil {
		return nil, nil, fmt.Errorf("EventInsert: %w", err)
	}
	if err := q.ChangeAppend(ctx, newChange(parley.C2CConversation(m.From, m.To), 1)); err != nil {
		return nil, nil, fmt.Errorf("ChangeAppend: %w", err)
	}
	return m, e, nil
}

// present reports which of writeAll(tag)'s changes are stored, as a
// readable list; "[]" means none, allPresent all.
func present(t *testing.T, q parley.Querier, tag string, m *parley.Message, e *parley.Event) string {
	t.Helper()
	ctx := t.Context()
	var found []string
	accounts, err := q.AccountGetMany(ctx, []string{"user-" + tag})
	if err != nil {
		t.Fatalf("AccountGetMany: %v", err)
	}
	if len(accounts) > 0 {
		found = append(found, "account")
	}
	switch _, err := q.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: m.From, To: m.To, MsgKey: m.MsgKey}); {
	case err == nil:
		found = append(found, "message")
	case !errors.Is(err, parley.ErrNotFound):
		t.Fatalf("MessageGetByKey: %v", err)
	}
	c, err := q.ConversationGet(ctx, "to-"+tag, "from-"+tag)
	if err != nil {
		t.Fatalf("ConversationGet: %v", err)
	}
	if c.Unread > 0 {
		found = append(found, "unread")
	}
	switch _, err := q.EventGet(ctx, e.ID); {
	case err == nil:
		found = append(found, "event")
	case !errors.Is(err, parley.ErrNotFound):
		t.Fatalf("EventGet: %v", err)
	}
	if changeHead(t, q, parley.C2CConversation(m.From, m.To)) > 0 {
		found = append(found, "change")
	}
	return fmt.Sprint(found)
}

const allPresent = "[account message unread event change]"

func testTxCommit(t *testing.T, s parley.Store) {
	ctx := t.Context()
	var m *parley.Message
	var e *parley.Event
	err := s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		m, e, err = writeAll(ctx, tx, "a")
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if m.ID == 0 || e.Seq == 0 {
		t.Errorf("after commit: message ID %d, event Seq %d; want both set", m.ID, e.Seq)
	}
	if got := present(t, s, "a", m, e); got != allPresent {
		t.Fatalf("after commit, stored: %s; want %s", got, allPresent)
	}
	stored, err := s.EventGet(ctx, e.ID)
	if err != nil {
		t.Fatalf("EventGet: %v", err)
	}
	assertEvent(t, stored, e)

	// A transaction that only reads commits too.
	var n int
	err = s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		n, err = tx.ConversationUnreadTotal(ctx, "to-a")
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("read-only InTx: unread %d, err %v; want 1, nil", n, err)
	}
}

func testTxRollback(t *testing.T, s parley.Store) {
	ctx := t.Context()
	// Rows that exist before: the failing transaction changes them, and
	// the changes must go.
	kept := insertMessage(t, s, newMessage("alice", "bob", 1, 1000))
	keptEvent := insertEvent(t, s, newEvent("kept", t0()))
	addUnread(t, s, "bob", "alice", 1)
	if _, err := s.AccountUpsert(ctx, parley.Account{UserID: "alice", Nick: "Alice", CreatedAt: t0()}); err != nil {
		t.Fatalf("AccountUpsert: %v", err)
	}

	var m *parley.Message
	var e *parley.Event
	ran := false
	err := s.InTx(ctx, func(tx parley.Querier) error {
		ran = true
		var err error
		if m, e, err = writeAll(ctx, tx, "a"); err != nil {
			return err
		}
		if _, err := tx.AccountUpsert(ctx, parley.Account{UserID: "alice", Nick: "Changed", CreatedAt: t0()}); err != nil {
			return err
		}
		if err := tx.MessageRecall(ctx, kept.ID); err != nil {
			return err
		}
		if _, err := tx.ConversationMarkRead(ctx, parley.ConversationMarkReadParams{Owner: "bob", Peer: "alice", ReadTime: 5000}); err != nil {
			return err
		}
		if _, err := tx.EventClaimDue(ctx, parley.EventClaimDueParams{Now: t0(), LeaseUntil: t0().Add(time.Hour), Limit: 10}); err != nil {
			return err
		}
		if err := tx.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{keptEvent.ID}, At: t0()}); err != nil {
			return err
		}
		if _, err := tx.AccountDelete(ctx, "alice"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !ran {
		t.Fatalf("fn did not run")
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want the fn's error", err)
	}
	if got := present(t, s, "a", m, e); got != "[]" {
		t.Errorf("after rollback, stored: %s; want nothing", got)
	}
	assertAccounts(t, s, []string{"alice"}, []parley.Account{{UserID: "alice", Nick: "Alice", CreatedAt: t0()}})
	got, err := s.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: "alice", To: "bob", MsgKey: kept.MsgKey})
	if err != nil {
		t.Fatalf("MessageGetByKey: %v", err)
	}
	assertMessage(t, got, kept)
	assertConversation(t, s, "bob", "alice", parley.Conversation{Owner: "bob", Peer: "alice", Unread: 1})
	assertEvent(t, getEvent(t, s, keptEvent.ID), keptEvent)
	// The claim was rolled back with the rest: the event is not leased.
	assertClaim(t, s, t0(), 10, keptEvent)
}

func testTxRollbackConcurrent(t *testing.T, s parley.Store) {
	const n = 100
	ctx := t.Context()
	msgs := make([]*parley.Message, n)
	events := make([]*parley.Event, n)
	fnErrs := make([]error, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InTx(ctx, func(tx parley.Querier) error {
				m, e, err := writeAll(ctx, tx, fmt.Sprint(i))
				if err != nil {
					return err
				}
				msgs[i], events[i] = m, e
				if i%2 == 1 {
					fnErrs[i] = fmt.Errorf("tx %d: %w", i, errBoom)
					return fnErrs[i]
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	for i := range n {
		if msgs[i] == nil {
			t.Fatalf("tx %d: fn did not finish its writes; InTx returned %v", i, errs[i])
		}
		got := present(t, s, fmt.Sprint(i), msgs[i], events[i])
		if i%2 == 1 {
			if !errors.Is(errs[i], fnErrs[i]) {
				t.Errorf("tx %d: InTx = %v, want its own fn's error %v", i, errs[i], fnErrs[i])
			}
			if got != "[]" {
				t.Errorf("tx %d failed but stored: %s", i, got)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("tx %d: InTx = %v, want nil", i, errs[i])
		}
		if got != allPresent {
			t.Errorf("tx %d committed but stored: %s; want %s", i, got, allPresent)
		}
	}
}

func testTxConcurrent(t *testing.T, s parley.Store) {
	const n = 200
	ctx := t.Context()
	msgs := make([]*parley.Message, n)
	events := make([]*parley.Event, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InTx(ctx, func(tx parley.Querier) error {
				var err error
				msgs[i], events[i], err = writeAll(ctx, tx, fmt.Sprint(i))
				if err != nil {
					return err
				}
				// Every transaction also bumps one shared counter: no
				// increment may be lost.
				return tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: "shared", Peer: "counter", Delta: 1})
			})
		})
	}
	close(start)
	wg.Wait()

	seqs := make(map[int64]int)
	ids := make(map[int64]int)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("tx %d: InTx = %v", i, errs[i])
		}
		if got := present(t, s, fmt.Sprint(i), msgs[i], events[i]); got != allPresent {
			t.Errorf("tx %d: stored %s; want %s", i, got, allPresent)
		}
		if j, dup := seqs[events[i].Seq]; dup {
			t.Errorf("tx %d and %d: both events have Seq %d", j, i, events[i].Seq)
		}
		seqs[events[i].Seq] = i
		if j, dup := ids[msgs[i].ID]; dup {
			t.Errorf("tx %d and %d: both messages have ID %d", j, i, msgs[i].ID)
		}
		ids[msgs[i].ID] = i
	}
	assertConversation(t, s, "shared", "counter", parley.Conversation{Owner: "shared", Peer: "counter", Unread: n})

	// The outbox lists them in Seq order, each once.
	listed, err := s.EventList(ctx, parley.EventListParams{Limit: n + 1})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	if len(listed) != n {
		t.Fatalf("EventList: %d events, want %d", len(listed), n)
	}
	if !slices.IsSortedFunc(listed, func(a, b *parley.Event) int { return cmp.Compare(a.Seq, b.Seq) }) {
		t.Errorf("EventList not in Seq order")
	}
}

func testTxReadsOwnWrites(t *testing.T, s parley.Store) {
	ctx := t.Context()
	insertMessage(t, s, newMessage("bob", "alice", 1, 900))
	addUnread(t, s, "alice", "carol", 2)

	err := s.InTx(ctx, func(tx parley.Querier) error {
		if _, err := tx.AccountUpsert(ctx, parley.Account{UserID: "alice", Nick: "A", CreatedAt: t0()}); err != nil {
			return err
		}
		if got, err := tx.AccountGetMany(ctx, []string{"alice"}); err != nil || len(got) != 1 || got[0].Nick != "A" {
			return fmt.Errorf("AccountGetMany in tx = %v, %v; want alice", got, err)
		}

		m := newMessage("bob", "alice", 2, 1000)
		if err := tx.MessageInsert(ctx, m); err != nil {
			return err
		}
		if got, err := tx.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: "bob", To: "alice", MsgKey: m.MsgKey}); err != nil || got.ID != m.ID {
			return fmt.Errorf("MessageGetByKey in tx = %v, %v; want message %d", got, err, m.ID)
		}
		dup := parley.MessageGetDuplicateParams{From: "bob", To: "alice", MsgSeq: 2, MsgRandom: m.MsgRandom, BodyCRC: m.BodyCRC, Since: 1000}
		if got, err := tx.MessageGetDuplicate(ctx, dup); err != nil || got.ID != m.ID {
			return fmt.Errorf("MessageGetDuplicate in tx = %v, %v; want message %d", got, err, m.ID)
		}
		list, err := tx.MessageList(ctx, parley.MessageListParams{Owner: "alice", Peer: "bob", MinTime: 0, MaxTime: 2000, Limit: 10})
		if err != nil || len(list) != 2 || list[0].ID != m.ID {
			return fmt.Errorf("MessageList in tx = %d messages, %v; want 2, newest %d", len(list), err, m.ID)
		}

		if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: "alice", Peer: "bob", Delta: 1}); err != nil {
			return err
		}
		if n, err := tx.ConversationUnreadTotal(ctx, "alice"); err != nil || n != 3 {
			return fmt.Errorf("ConversationUnreadTotal in tx = %d, %v; want 3", n, err)
		}
		if c, err := tx.ConversationMarkRead(ctx, parley.ConversationMarkReadParams{Owner: "alice", Peer: "bob", ReadTime: 950}); err != nil || c.Unread != 1 {
			return fmt.Errorf("ConversationMarkRead in tx = %+v, %v; want the new message unread", c, err)
		}
		if c, err := tx.ConversationGet(ctx, "alice", "bob"); err != nil || c.ReadTime != 950 || c.Unread != 1 {
			return fmt.Errorf("ConversationGet in tx = %+v, %v; want read time 950, unread 1", c, err)
		}

		e := newEvent("own", t0())
		if err := tx.EventInsert(ctx, e); err != nil {
			return err
		}
		if got, err := tx.EventGet(ctx, e.ID); err != nil || got.Seq != e.Seq {
			return fmt.Errorf("EventGet in tx = %v, %v; want seq %d", got, err, e.Seq)
		}
		if at, ok, err := tx.EventNextDue(ctx); err != nil || !ok || !at.Equal(t0()) {
			return fmt.Errorf("EventNextDue in tx = %v, %v, %v; want %v", at, ok, err, t0())
		}
		if es, err := tx.EventList(ctx, parley.EventListParams{}); err != nil || len(es) != 1 {
			return fmt.Errorf("EventList in tx = %d events, %v; want 1", len(es), err)
		}
		if es, err := tx.EventClaimDue(ctx, parley.EventClaimDueParams{Now: t0(), LeaseUntil: t0().Add(30 * time.Second), Limit: 10}); err != nil || len(es) != 1 {
			return fmt.Errorf("EventClaimDue in tx = %d events, %v; want 1", len(es), err)
		}
		if es, err := tx.EventClaimDue(ctx, parley.EventClaimDueParams{Now: t0(), LeaseUntil: t0().Add(30 * time.Second), Limit: 10}); err != nil || len(es) != 0 {
			return fmt.Errorf("second EventClaimDue in tx = %d events, %v; want none, the first holds the lease", len(es), err)
		}
		if _, ok, err := tx.EventNextDue(ctx); err != nil || ok {
			return fmt.Errorf("EventNextDue in tx after the claim: ok %v, %v; want none", ok, err)
		}
		if _, err := tx.AccountDelete(ctx, "alice"); err != nil {
			return err
		}
		if c, err := tx.ConversationGet(ctx, "alice", "bob"); err != nil || c != (parley.Conversation{}) {
			return fmt.Errorf("ConversationGet in tx after AccountDelete = %+v, %v; want zero", c, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func testTxCancelled(t *testing.T, s parley.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var ran atomic.Bool
	err := s.InTx(ctx, func(tx parley.Querier) error {
		ran.Store(true)
		_, _, err := writeAll(context.Background(), tx, "c")
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InTx with a cancelled context = %v, want context.Canceled", err)
	}
	if ran.Load() {
		t.Errorf("fn ran although the context was cancelled before the call")
	}
	// What writeAll(tx, "c") would have written.
	m, e := newMessage("from-c", "to-c", 1, 1000), newEvent("c", t0())
	if got := present(t, s, "c", m, e); got != "[]" {
		t.Errorf("stored after a cancelled InTx: %s", got)
	}
}

func testTxGroupSeqsConcurrent(t *testing.T, s parley.Store) {
	const n = 120
	ctx := t.Context()
	insertGroup(t, s, newGroup("g"))
	msgs := make([]*parley.GroupMessage, n)
	events := make([]*parley.Event, n)
	fnErrs := make([]error, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InTx(ctx, func(tx parley.Querier) error {
				m := newGroupMessage("g", fmt.Sprint("user", i), i, 1000+int64(i))
				if err := tx.GroupMessageInsert(ctx, m); err != nil {
					return err
				}
				// The event's Seq is the commit order to hold the
				// message's MsgSeq to.
				e := newEvent(fmt.Sprint("g", i), t0())
				if err := tx.EventInsert(ctx, e); err != nil {
					return err
				}
				msgs[i], events[i] = m, e
				if i%3 == 2 {
					fnErrs[i] = fmt.Errorf("tx %d: %w", i, errBoom)
					return fnErrs[i]
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	var committed []int
	for i := range n {
		if i%3 == 2 {
			if !errors.Is(errs[i], fnErrs[i]) {
				t.Errorf("tx %d: InTx = %v, want its own fn's error %v", i, errs[i], fnErrs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("tx %d: InTx = %v", i, errs[i])
		}
		committed = append(committed, i)
	}
	slices.SortFunc(committed, func(a, b int) int { return cmp.Compare(events[a].Seq, events[b].Seq) })
	for k, i := range committed {
		if want := uint64(k + 1); msgs[i].MsgSeq != want {
			t.Fatalf("tx %d, committed %d of %d: MsgSeq = %d, want %d (seqs must be 1..%d in commit order)", i, k+1, len(committed), msgs[i].MsgSeq, want, len(committed))
		}
		assertGroupMessageGet(t, s, msgs[i])
	}
	list, err := s.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: "g", Limit: n + 1})
	if err != nil {
		t.Fatalf("GroupMessageList: %v", err)
	}
	if len(list) != len(committed) {
		t.Errorf("GroupMessageList: %d messages, want the %d committed", len(list), len(committed))
	}
	last := msgs[committed[len(committed)-1]]
	g := getGroup(t, s, "g")
	if g.NextMsgSeq != uint64(len(committed)+1) || g.LastMsgTime != last.MsgTime {
		t.Errorf("group after the inserts: NextMsgSeq %d, LastMsgTime %d; want %d and the last committed message's %d",
			g.NextMsgSeq, g.LastMsgTime, len(committed)+1, last.MsgTime)
	}
}

func testTxGroupRollback(t *testing.T, s parley.Store) {
	ctx := t.Context()
	insertGroup(t, s, newGroup("g"))
	addMembers(t, s, "g", newMember("g", "alice", 1))
	insertGroupMessage(t, s, newGroupMessage("g", "alice", 1, 1000))
	writeExtension(t, s, parley.ExtensionWriteParams{Target: parley.GroupExtensionTarget("g", 1), Seq: 1, Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}})
	appendChange(t, s, newChange(parley.GroupConversation("g"), 1))
	before := snapshotGroup(t, s, "g")
	doomed := populateGroup(t, s, "doomed")

	ran := false
	err := s.InTx(ctx, func(tx parley.Querier) error {
		ran = true
		m := newGroupMessage("g", "bob", 2, 2000)
		if err := tx.GroupMessageInsert(ctx, m); err != nil {
			return err
		}
		if m.MsgSeq != 2 {
			return fmt.Errorf("MsgSeq in the transaction = %d, want 2", m.MsgSeq)
		}
		c := newChange(parley.GroupConversation("g"), 2)
		if err := tx.ChangeAppend(ctx, c); err != nil {
			return err
		}
		if c.Seq != 2 {
			return fmt.Errorf("change Seq in the transaction = %d, want 2", c.Seq)
		}
		if seq, err := tx.GroupMemberMarkRead(ctx, parley.GroupMemberMarkReadParams{GroupID: "g", UserID: "alice", MsgSeq: 2}); err != nil || seq != 2 {
			return fmt.Errorf("GroupMemberMarkRead in the transaction = %d, %v; want 2", seq, err)
		}
		if _, err := tx.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: "g", Members: []parley.GroupMember{newMember("g", "bob", 2)}}); err != nil {
			return err
		}
		if err := tx.GroupMemberTouch(ctx, parley.GroupMemberTouchParams{GroupID: "g", UserID: "alice", At: 2000}); err != nil {
			return err
		}
		if _, err := tx.GroupMemberDelete(ctx, parley.GroupMemberDeleteParams{GroupID: "g", UserIDs: []string{"alice"}}); err != nil {
			return err
		}
		if err := tx.GroupMessageRecall(ctx, "g", 1); err != nil {
			return err
		}
		if err := tx.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: parley.GroupExtensionTarget("g", 1), Seq: 2, Clear: true}); err != nil {
			return err
		}
		if err := tx.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: parley.GroupExtensionTarget("g", 2), Seq: 1, Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}}); err != nil {
			return err
		}
		if err := tx.GroupInsert(ctx, newGroup("h")); err != nil {
			return err
		}
		if err := tx.GroupMessageInsert(ctx, newGroupMessage("h", "bob", 3, 2000)); err != nil {
			return err
		}
		if _, err := tx.GroupDelete(ctx, "doomed"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !ran {
		t.Fatalf("fn did not run")
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want the fn's error", err)
	}
	assertSnapshot(t, "g", snapshotGroup(t, s, "g"), before)
	assertSnapshot(t, "doomed", snapshotGroup(t, s, "doomed"), doomed)
	assertGroupNotFound(t, s, "h")
	assertGroupMessageNotFound(t, s, "h", 1)
	assertExtensionState(t, s, parley.GroupExtensionTarget("g", 2), parley.ExtensionState{})

	// The rolled-back message's seq was never used: the next message gets
	// it, and likewise the change's.
	if m := insertGroupMessage(t, s, newGroupMessage("g", "carol", 4, 3000)); m.MsgSeq != 2 {
		t.Errorf("MsgSeq after a rolled-back insert = %d, want 2", m.MsgSeq)
	}
	if c := appendChange(t, s, newChange(parley.GroupConversation("g"), 3)); c.Seq != 2 {
		t.Errorf("change Seq after a rolled-back append = %d, want 2", c.Seq)
	}
	if g := getGroup(t, s, "g"); g.NextMsgSeq != 3 || g.LastMsgTime != 3000 {
		t.Errorf("group: NextMsgSeq %d, LastMsgTime %d; want 3, 3000", g.NextMsgSeq, g.LastMsgTime)
	}
	// The group created in the rolled-back transaction can be created now.
	insertGroup(t, s, newGroup("h"))
	if m := insertGroupMessage(t, s, newGroupMessage("h", "bob", 5, 3000)); m.MsgSeq != 1 {
		t.Errorf("first message of h = MsgSeq %d, want 1", m.MsgSeq)
	}
}

// groupReadsInTx makes group, member, message and extension writes in tx
// and checks that tx's reads see each of them at once.
func groupReadsInTx(ctx context.Context, tx parley.Querier) error {
	if err := tx.GroupInsert(ctx, newGroup("g")); err != nil {
		return err
	}
	if g, err := tx.GroupGet(ctx, "g"); err != nil || g.NextMsgSeq != 1 {
		return fmt.Errorf("GroupGet in tx = %+v, %v; want the new group", g, err)
	}
	if gs, err := tx.GroupGetMany(ctx, []string{"g", "h"}); err != nil || len(gs) != 1 {
		return fmt.Errorf("GroupGetMany in tx = %d groups, %v; want 1", len(gs), err)
	}
	added, err := tx.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: "g", Members: []parley.GroupMember{newMember("g", "alice", 1), newMember("g", "bob", 2)}})
	if err != nil || !slices.Equal(added, []string{"alice", "bob"}) {
		return fmt.Errorf("GroupMemberAdd in tx = %q, %v; want alice, bob", added, err)
	}
	if g, err := tx.GroupGet(ctx, "g"); err != nil || g.MemberCount != 2 {
		return fmt.Errorf("GroupGet in tx after adding members = %+v, %v; want MemberCount 2", g, err)
	}
	if ms, err := tx.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: "g"}); err != nil || !slices.Equal(memberIDs(ms), []string{"alice", "bob"}) {
		return fmt.Errorf("GroupMemberList in tx = %d members, %v; want alice, bob", len(ms), err)
	}
	if err := tx.GroupMemberTouch(ctx, parley.GroupMemberTouchParams{GroupID: "g", UserID: "alice", At: 500}); err != nil {
		return err
	}
	if m, err := tx.GroupMemberGet(ctx, "g", "alice"); err != nil || m.LastSendMsgTime != 500 {
		return fmt.Errorf("GroupMemberGet in tx after touch = %+v, %v; want LastSendMsgTime 500", m, err)
	}
	if deleted, err := tx.GroupMemberDelete(ctx, parley.GroupMemberDeleteParams{GroupID: "g", UserIDs: []string{"bob"}}); err != nil || !slices.Equal(deleted, []string{"bob"}) {
		return fmt.Errorf("GroupMemberDelete in tx = %q, %v; want bob", deleted, err)
	}
	if m, err := tx.GroupMemberGet(ctx, "g", "bob"); !errors.Is(err, parley.ErrNotFound) {
		return fmt.Errorf("GroupMemberGet in tx after delete = %+v, %v; want ErrNotFound", m, err)
	}

	m1, m2 := newGroupMessage("g", "alice", 1, 1000), newGroupMessage("g", "alice", 2, 1001)
	for _, m := range []*parley.GroupMessage{m1, m2} {
		if err := tx.GroupMessageInsert(ctx, m); err != nil {
			return err
		}
	}
	if m1.MsgSeq != 1 || m2.MsgSeq != 2 {
		return fmt.Errorf("two inserts in one tx got MsgSeq %d and %d, want 1 and 2", m1.MsgSeq, m2.MsgSeq)
	}
	if g, err := tx.GroupGet(ctx, "g"); err != nil || g.NextMsgSeq != 3 || g.LastMsgTime != 1001 || g.MemberCount != 1 {
		return fmt.Errorf("GroupGet in tx after the inserts = %+v, %v; want NextMsgSeq 3, LastMsgTime 1001, MemberCount 1", g, err)
	}
	if m, err := tx.GroupMessageGet(ctx, "g", 2); err != nil || m.MsgID != m2.MsgID {
		return fmt.Errorf("GroupMessageGet in tx = %+v, %v; want %s", m, err, m2.MsgID)
	}
	dup := parley.GroupMessageGetDuplicateParams{GroupID: "g", From: "alice", Random: m1.Random, BodyCRC: m1.BodyCRC, Since: 1000}
	if m, err := tx.GroupMessageGetDuplicate(ctx, dup); err != nil || m.MsgSeq != 1 {
		return fmt.Errorf("GroupMessageGetDuplicate in tx = %+v, %v; want MsgSeq 1", m, err)
	}
	if ms, err := tx.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: "g", Limit: 10}); err != nil || !slices.Equal(groupMessageSeqs(ms), []uint64{2, 1}) {
		return fmt.Errorf("GroupMessageList in tx = %v, %v; want seqs 2, 1", groupMessageSeqs(ms), err)
	}
	if seq, err := tx.GroupMemberMarkRead(ctx, parley.GroupMemberMarkReadParams{GroupID: "g", UserID: "alice", MsgSeq: 5}); err != nil || seq != 2 {
		return fmt.Errorf("GroupMemberMarkRead in tx = %d, %v; want 2, the newest MsgSeq", seq, err)
	}
	if m, err := tx.GroupMemberGet(ctx, "g", "alice"); err != nil || m.ReadMsgSeq != 2 {
		return fmt.Errorf("GroupMemberGet in tx after GroupMemberMarkRead = %+v, %v; want ReadMsgSeq 2", m, err)
	}
	if ids, err := tx.GroupIDsByMember(ctx, "alice"); err != nil || !slices.Equal(ids, []string{"g"}) {
		return fmt.Errorf("GroupIDsByMember in tx = %q, %v; want g", ids, err)
	}
	conv := parley.GroupConversation("g")
	for want := uint64(1); want <= 2; want++ {
		c := newChange(conv, int(want))
		if err := tx.ChangeAppend(ctx, c); err != nil {
			return err
		}
		if c.Seq != want {
			return fmt.Errorf("ChangeAppend in tx: Seq %d, want %d", c.Seq, want)
		}
	}
	if head, err := tx.ChangeHead(ctx, conv); err != nil || head != 2 {
		return fmt.Errorf("ChangeHead in tx = %d, %v; want 2", head, err)
	}
	if cs, err := tx.ChangeList(ctx, parley.ChangeListParams{Conversation: conv}); err != nil || !slices.Equal(changeSeqs(cs), []uint64{1, 2}) {
		return fmt.Errorf("ChangeList in tx = seqs %v, %v; want 1, 2", changeSeqs(cs), err)
	}
	if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: "alice", Peer: "bob"}); err != nil {
		return err
	}
	want := []parley.ConversationSummary{
		{Conversation: parley.C2CConversation("alice", "bob"), Peer: "bob"},
		{Conversation: conv, GroupID: "g", Seq: 2, LastMsgSeq: 2, ReadMsgSeq: 2},
	}
	if ss, err := tx.ConversationSummaryList(ctx, "alice"); err != nil || !slices.Equal(ss, want) {
		return fmt.Errorf("ConversationSummaryList in tx = %+v, %v; want %+v", ss, err, want)
	}
	if err := tx.GroupMessageRecall(ctx, "g", 1); err != nil {
		return err
	}
	if m, err := tx.GroupMessageGet(ctx, "g", 1); err != nil || !m.Recalled {
		return fmt.Errorf("GroupMessageGet in tx after recall = %+v, %v; want recalled", m, err)
	}

	target := parley.GroupExtensionTarget("g", 2)
	kv := parley.ExtensionKV{Key: "k", Value: "v", Seq: 1}
	if err := tx.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: target, Seq: 1, Put: []parley.ExtensionKV{kv}}); err != nil {
		return err
	}
	if st, err := tx.ExtensionStateGet(ctx, target); err != nil || st != (parley.ExtensionState{Seq: 1, Count: 1}) {
		return fmt.Errorf("ExtensionStateGet in tx = %+v, %v; want Seq 1, Count 1", st, err)
	}
	if kvs, err := tx.ExtensionGetKeys(ctx, target, []string{"k"}); err != nil || !slices.Equal(kvs, []parley.ExtensionKV{kv}) {
		return fmt.Errorf("ExtensionGetKeys in tx = %v, %v; want %v", kvs, err, kv)
	}
	if kvs, err := tx.ExtensionList(ctx, parley.ExtensionListParams{Target: target, Limit: 10}); err != nil || !slices.Equal(kvs, []parley.ExtensionKV{kv}) {
		return fmt.Errorf("ExtensionList in tx = %v, %v; want %v", kvs, err, kv)
	}

	if deleted, err := tx.GroupDelete(ctx, "g"); err != nil || !deleted {
		return fmt.Errorf("GroupDelete in tx = %v, %v; want true", deleted, err)
	}
	if g, err := tx.GroupGet(ctx, "g"); !errors.Is(err, parley.ErrNotFound) {
		return fmt.Errorf("GroupGet in tx after delete = %+v, %v; want ErrNotFound", g, err)
	}
	if st, err := tx.ExtensionStateGet(ctx, target); err != nil || st != (parley.ExtensionState{}) {
		return fmt.Errorf("ExtensionStateGet in tx after GroupDelete = %+v, %v; want zero", st, err)
	}
	if head, err := tx.ChangeHead(ctx, conv); err != nil || head != 0 {
		return fmt.Errorf("ChangeHead in tx after GroupDelete = %d, %v; want 0", head, err)
	}

	e := newEvent("own", t0())
	if err := tx.EventInsert(ctx, e); err != nil {
		return err
	}
	claimDue := parley.EventClaimDueParams{Now: t0(), LeaseUntil: t0().Add(time.Hour), Limit: 10}
	if es, err := tx.EventClaimDue(ctx, claimDue); err != nil || len(es) != 1 {
		return fmt.Errorf("EventClaimDue in tx = %d events, %v; want 1", len(es), err)
	}
	if err := tx.EventRelease(ctx, []string{e.ID}); err != nil {
		return err
	}
	if es, err := tx.EventClaimDue(ctx, claimDue); err != nil || len(es) != 1 {
		return fmt.Errorf("EventClaimDue in tx after EventRelease = %d events, %v; want 1", len(es), err)
	}
	return nil
}

func testTxGroupReadsOwnWrites(t *testing.T, s parley.Store) {
	ctx := t.Context()
	if err := s.InTx(ctx, func(tx parley.Querier) error { return groupReadsInTx(ctx, tx) }); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func testTxChangeSeqsConcurrent(t *testing.T, s parley.Store) {
	const n = 90
	ctx := t.Context()
	// Every call appends to a, the even ones to b as well.
	a, b := parley.C2CConversation("alice", "bob"), parley.GroupConversation("g")
	changes := make([][]*parley.Change, n)
	events := make([]*parley.Event, n)
	fnErrs := make([]error, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InTx(ctx, func(tx parley.Querier) error {
				cs := []*parley.Change{newChange(a, i)}
				if i%2 == 0 {
					cs = append(cs, newChange(b, i))
				}
				for _, c := range cs {
					if err := tx.ChangeAppend(ctx, c); err != nil {
						return err
					}
				}
				// The event's Seq is the commit order to hold the
				// changes' Seqs to.
				e := newEvent(fmt.Sprint("c", i), t0())
				if err := tx.EventInsert(ctx, e); err != nil {
					return err
				}
				changes[i], events[i] = cs, e
				if i%3 == 2 {
					fnErrs[i] = fmt.Errorf("tx %d: %w", i, errBoom)
					return fnErrs[i]
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	var committed []int
	for i := range n {
		if i%3 == 2 {
			if !errors.Is(errs[i], fnErrs[i]) {
				t.Errorf("tx %d: InTx = %v, want its own fn's error %v", i, errs[i], fnErrs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("tx %d: InTx = %v", i, errs[i])
		}
		committed = append(committed, i)
	}
	slices.SortFunc(committed, func(x, y int) int { return cmp.Compare(events[x].Seq, events[y].Seq) })
	want := map[string][]*parley.Change{}
	for _, i := range committed {
		for _, c := range changes[i] {
			if w := uint64(len(want[c.Conversation]) + 1); c.Seq != w {
				t.Fatalf("tx %d: change of %q has Seq %d, want %d (seqs must be 1..N in commit order)", i, c.Conversation, c.Seq, w)
			}
			want[c.Conversation] = append(want[c.Conversation], c)
		}
	}
	for _, conv := range []string{a, b} {
		assertChangeList(t, s, parley.ChangeListParams{Conversation: conv, Limit: n}, want[conv]...)
		if got := changeHead(t, s, conv); got != uint64(len(want[conv])) {
			t.Errorf("ChangeHead(%q) = %d, want %d", conv, got, len(want[conv]))
		}
	}
}
