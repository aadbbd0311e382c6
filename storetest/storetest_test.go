package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/storetest"
)

func openSQLite(t *testing.T) parley.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db")})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mutantEnv names the mutant a child process runs the suite against.
const mutantEnv = "PARLEY_STORETEST_MUTANT"

// A mutant is a correct store with one behaviour bent the way a backend
// could plausibly get it wrong. The suite must fail against each, in the
// subtests named in caughtBy.
type mutant struct {
	name     string
	wrap     func(parley.Store) parley.Store
	run      string   // -test.run pattern below TestSuiteCatchesBugs, to keep the child quick
	caughtBy []string // subtests that must fail
}

func mutants() []mutant {
	return append([]mutant{
		{"MessageListOldestFirst", func(s parley.Store) parley.Store { return listOldestFirst{s} },
			"Direct/MessageList", []string{"Direct/MessageList/OrderAndVisibility"}},
		{"MessageListIgnoresCursor", func(s parley.Store) parley.Store { return listIgnoresCursor{s} },
			"Direct/MessageList", []string{"Direct/MessageList/Filters", "Direct/MessageList/PagesWithCursor"}},
		{"MessageGetDuplicateIgnoresSince", func(s parley.Store) parley.Store { return duplicateIgnoresSince{s} },
			"Direct/MessageGetDuplicate", []string{"Direct/MessageGetDuplicate/MatchesEveryKeyFieldAndSince"}},
		{"MessageGetByKeyEitherDirection", func(s parley.Store) parley.Store { return byKeyEitherDirection{s} },
			"Direct/MessageGetByKey", []string{"Direct/MessageGetByKey/PerDirectionAndExact"}},
		{"AccountUpsertAlwaysCreated", func(s parley.Store) parley.Store { return upsertAlwaysCreated{s} },
			"Direct/AccountUpsert", []string{"Direct/AccountUpsert/CreatesThenUpdatesNickAndFace"}},
		{"ConversationUnreadTotalOffByOne", func(s parley.Store) parley.Store { return unreadTotalOffByOne{s} },
			"Direct/ConversationUnreadTotal", []string{"Direct/ConversationUnreadTotal/SumsOwnersConversations"}},
		{"ConversationMarkReadNoRecount", func(s parley.Store) parley.Store { return markReadNoRecount{s} },
			"Direct/ConversationMarkRead", []string{"Direct/ConversationMarkRead/MovesForwardAndRecounts"}},
		{"EventClaimDueIgnoresLimit", func(s parley.Store) parley.Store { return claimIgnoresLimit{s} },
			"Direct/EventClaimDue", []string{"Direct/EventClaimDue/Limit"}},
		{"EventClaimDueNewestFirst", func(s parley.Store) parley.Store { return claimNewestFirst{s} },
			"Direct/EventClaimDue", []string{"Direct/EventClaimDue/DueUnleasedInSeqOrder"}},
		{"EventListIgnoresAfterSeq", func(s parley.Store) parley.Store { return listIgnoresAfterSeq{s} },
			"Direct/EventList", []string{"Direct/EventList/Filters", "Direct/EventList/DefaultLimit"}},
		{"EventNextDueNever", func(s parley.Store) parley.Store { return nextDueNever{s} },
			"Direct/EventNextDue", []string{"Direct/EventNextDue/EarliestPendingUnleased"}},
		{"EventClaimDueIgnoresConversation", func(s parley.Store) parley.Store { return claimIgnoresConversation{s} },
			"Direct/EventClaimDue", []string{
				"Direct/EventClaimDue/LeasedEventHoldsBackItsConversation",
				"Direct/EventClaimDue/WaitingEventHoldsBackItsConversation",
			}},
		{"EventReleaseDoesNothing", func(s parley.Store) parley.Store { return releaseNothing{s} },
			"Direct/EventRelease", []string{"Direct/EventRelease/MakesClaimedClaimableAtOnce"}},
		{"EventReleaseReleasesEveryLease", func(s parley.Store) parley.Store { return releaseEveryLease{s} },
			"Direct/EventRelease", []string{"Direct/EventRelease/MakesClaimedClaimableAtOnce"}},
		{"GroupInsertReplaces", func(s parley.Store) parley.Store { return groupInsertReplaces{s} },
			"Direct/GroupInsert", []string{"Direct/GroupInsert/ConflictKeepsFirst"}},
		{"GroupNextMsgSeqStuck", func(s parley.Store) parley.Store { return nextMsgSeqStuck{s} },
			"Direct/GroupMessageInsert", []string{"Direct/GroupMessageInsert/AssignsSeqsAndAdvancesGroup"}},
		{"GroupDeleteLeavesExtensions", func(s parley.Store) parley.Store { return deleteLeavesExtensions{s} },
			"Direct/GroupDelete", []string{"Direct/GroupDelete/RemovesOnlyItsGroup", "Direct/GroupDelete/IDCanBeReused"}},
		{"GroupMemberCountNaive", func(s parley.Store) parley.Store { return newNaiveMemberCount(s) },
			"Direct/GroupMember(Add|Delete)", []string{"Direct/GroupMemberAdd/AddsOnlyNewInOrderGiven", "Direct/GroupMemberDelete/RemovesOnlyMembers"}},
		{"GroupMemberAddReturnsAll", func(s parley.Store) parley.Store { return memberAddReturnsAll{s} },
			"Direct/GroupMemberAdd", []string{"Direct/GroupMemberAdd/AddsOnlyNewInOrderGiven"}},
		{"GroupMemberListByUserID", func(s parley.Store) parley.Store { return memberListByUserID{s} },
			"Direct/GroupMemberList", []string{"Direct/GroupMemberList/JoinOrderAndPages"}},
		{"GroupMemberListIgnoresOffset", func(s parley.Store) parley.Store { return memberListIgnoresOffset{s} },
			"Direct/GroupMemberList", []string{"Direct/GroupMemberList/JoinOrderAndPages"}},
		{"GroupMemberTouchAddsNonMember", func(s parley.Store) parley.Store { return touchAddsNonMember{s} },
			"Direct/GroupMemberTouch", []string{"Direct/GroupMemberTouch/SetsLastSendMsgTime"}},
		{"GroupMessageGetDuplicateIgnoresSince", func(s parley.Store) parley.Store { return groupDuplicateIgnoresSince{s} },
			"Direct/GroupMessageGetDuplicate", []string{"Direct/GroupMessageGetDuplicate/MatchesEveryKeyFieldAndSince"}},
		{"GroupMessageGetDuplicateIgnoresBodyCRC", func(s parley.Store) parley.Store {
			return groupDuplicateByList{s, func(m *parley.GroupMessage, p parley.GroupMessageGetDuplicateParams) bool {
				return m.From == p.From && m.Random == p.Random && m.MsgTime >= p.Since
			}, false}
		}, "Direct/GroupMessageGetDuplicate", []string{"Direct/GroupMessageGetDuplicate/MatchesEveryKeyFieldAndSince"}},
		{"GroupMessageGetDuplicateOldest", func(s parley.Store) parley.Store {
			return groupDuplicateByList{s, func(m *parley.GroupMessage, p parley.GroupMessageGetDuplicateParams) bool {
				return m.From == p.From && m.Random == p.Random && m.BodyCRC == p.BodyCRC && m.MsgTime >= p.Since
			}, true}
		}, "Direct/GroupMessageGetDuplicate", []string{"Direct/GroupMessageGetDuplicate/MatchesEveryKeyFieldAndSince"}},
		{"GroupMessageListOldestFirst", func(s parley.Store) parley.Store { return groupListOldestFirst{s} },
			"Direct/GroupMessageList", []string{"Direct/GroupMessageList/NewestFirstBelowMaxSeq"}},
		{"GroupMessageListIgnoresMaxSeq", func(s parley.Store) parley.Store { return groupListIgnoresMaxSeq{s} },
			"Direct/GroupMessageList", []string{"Direct/GroupMessageList/NewestFirstBelowMaxSeq"}},
		{"ExtensionWriteMiscounts", func(s parley.Store) parley.Store { return newExtensionMiscount(s) },
			"Direct/ExtensionWrite", []string{"Direct/ExtensionWrite/PutDeleteClearAndState"}},
		{"ExtensionClearKeepsClearSeq", func(s parley.Store) parley.Store { return clearByDeleting{s} },
			"Direct/ExtensionWrite", []string{"Direct/ExtensionWrite/PutDeleteClearAndState"}},
		{"ExtensionListByKeyOnly", func(s parley.Store) parley.Store { return extensionListByKey{s} },
			"Direct/ExtensionList", []string{"Direct/ExtensionList/BySeqThenKeyFromStartSeq"}},
		{"ExtensionListIgnoresStartSeq", func(s parley.Store) parley.Store { return extensionListIgnoresStartSeq{s} },
			"Direct/ExtensionList", []string{"Direct/ExtensionList/BySeqThenKeyFromStartSeq"}},
		{"ExtensionGetKeysReturnsAll", func(s parley.Store) parley.Store { return getKeysReturnsAll{s} },
			"Direct/ExtensionGetKeys", []string{"Direct/ExtensionGetKeys/ExactKeysOfTarget"}},
		{"InTxWithoutTransaction", func(s parley.Store) parley.Store { return noTransaction{s} },
			"Tx", []string{
				"Tx/ErrorRollsBackAndIsReturned", "Tx/ErrorRollsBackOnlyItsOwnChanges",
				"Tx/GroupSeqsGaplessInCommitOrder", "Tx/GroupErrorRollsBackWithoutBurningSeq",
			}},
		{"InTxSwallowsError", func(s parley.Store) parley.Store { return swallowsError{s} },
			"Tx", []string{
				"Tx/ErrorRollsBackAndIsReturned", "Tx/ErrorRollsBackOnlyItsOwnChanges",
				"Tx/GroupSeqsGaplessInCommitOrder", "Tx/GroupErrorRollsBackWithoutBurningSeq",
			}},
		{"InTxIgnoresContext", func(s parley.Store) parley.Store { return ignoresContext{s} },
			"Tx", []string{"Tx/CancelledContextWritesNothing"}},
		{"InTxReadsOutsideTx", func(s parley.Store) parley.Store { return readsOutside{s} },
			"Tx", []string{"Tx/ReadsSeeOwnWrites", "Tx/GroupReadsSeeOwnWrites"}},
		{"ChangeListIgnoresViewer", func(s parley.Store) parley.Store { return changeListIgnoresViewer{s} },
			"Direct/ChangeList", []string{"Direct/ChangeList/VisibleToViewer", "Direct/ChangeList/PagesByAfterSeqAndLimit"}},
		{"ChangeListIgnoresAfterSeq", func(s parley.Store) parley.Store { return changeListIgnoresAfterSeq{s} },
			"Direct/ChangeList", []string{"Direct/ChangeList/VisibleToViewer", "Direct/ChangeList/PagesByAfterSeqAndLimit"}},
		{"ChangeListIgnoresLimit", func(s parley.Store) parley.Store { return changeListIgnoresLimit{s} },
			"Direct/ChangeList", []string{"Direct/ChangeList/PagesByAfterSeqAndLimit"}},
		{"ChangeHeadOneBehind", func(s parley.Store) parley.Store { return changeHeadOneBehind{s} },
			"Direct/Change(Head|Append)", []string{"Direct/ChangeHead/NewestOrZero", "Direct/ChangeAppend/SeqsGaplessPerConversation"}},
		{"ChangeAppendStoreWideSeq", func(s parley.Store) parley.Store { return newStoreWideSeq(s) },
			"Direct/ChangeAppend", []string{"Direct/ChangeAppend/SeqsGaplessPerConversation"}},
		{"ConversationSummaryKeyInArgumentOrder", func(s parley.Store) parley.Store { return summaryKeyInArgumentOrder{s} },
			"Direct/ConversationSummaryList", []string{"Direct/ConversationSummaryList/C2CAndGroupsInOrder"}},
		{"GroupDeleteLeavesChanges", func(s parley.Store) parley.Store { return deleteLeavesChanges{s} },
			"Direct/GroupDelete", []string{"Direct/GroupDelete/RemovesOnlyItsGroup", "Direct/GroupDelete/IDCanBeReused"}},
		{"GroupMemberMarkReadUncapped", func(s parley.Store) parley.Store { return markReadUncapped{s} },
			"Direct/GroupMemberMarkRead", []string{"Direct/GroupMemberMarkRead/ForwardOnlyCappedAtNewest"}},
		{"GroupIDsByMemberFirstOnly", func(s parley.Store) parley.Store { return groupIDsFirstOnly{s} },
			"Direct/GroupIDsByMember", []string{"Direct/GroupIDsByMember/CurrentMembershipsOnly"}},
		{"AfterCommitRunsAtOnce", func(s parley.Store) parley.Store { return hooksAtOnce{s} },
			"Tx/Hooks.*", []string{
				"Tx/HooksRunAfterCommitInOrderAdded", "Tx/HooksOfFailedFnDoNotRun",
				"Tx/HooksRunInCommitOrder", "Tx/HooksOfRerunFnRunOnce",
			}},
		{"StoreIsCommitHooker", func(s parley.Store) parley.Store { return storeHooks{s} },
			"Tx/StoreIsNotCommitHooker", []string{"Tx/StoreIsNotCommitHooker"}},
	}, attemptMutants()...)
}

// TestSuiteCatchesBugs proves the suite's tests can fail: each mutant runs
// the suite in a child process (a failing suite would fail this test
// otherwise) and the child must fail where expected.
func TestSuiteCatchesBugs(t *testing.T) {
	if name := os.Getenv(mutantEnv); name != "" {
		for _, m := range mutants() {
			if m.name == name {
				storetest.Run(t, func(t *testing.T) parley.Store { return m.wrap(openSQLite(t)) })
				return
			}
		}
		t.Fatalf("unknown mutant %q", name)
	}
	failLine := regexp.MustCompile(`--- FAIL: TestSuiteCatchesBugs/(\S+)`)
	for _, m := range mutants() {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestSuiteCatchesBugs$"
			for _, part := range strings.Split(m.run, "/") {
				pattern += "/^" + part + "$"
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m.name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against mutant %s\n%s", m.name, out)
			}
			var failed []string
			for _, match := range failLine.FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, match[1])
			}
			for _, want := range m.caughtBy {
				if !slices.Contains(failed, want) {
					t.Errorf("mutant %s: %s did not fail; failed: %q", m.name, want, failed)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

// TestRun is the suite against the real sqlite store: the control for the
// mutants above.
func TestRun(t *testing.T) {
	storetest.Run(t, openSQLite)
}

type listOldestFirst struct{ parley.Store }

func (s listOldestFirst) MessageList(ctx context.Context, p parley.MessageListParams) ([]*parley.Message, error) {
	ms, err := s.Store.MessageList(ctx, p)
	slices.Reverse(ms)
	return ms, err
}

type listIgnoresCursor struct{ parley.Store }

func (s listIgnoresCursor) MessageList(ctx context.Context, p parley.MessageListParams) ([]*parley.Message, error) {
	p.Before = nil
	return s.Store.MessageList(ctx, p)
}

type duplicateIgnoresSince struct{ parley.Store }

func (s duplicateIgnoresSince) MessageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (*parley.Message, error) {
	p.Since = 0
	return s.Store.MessageGetDuplicate(ctx, p)
}

type byKeyEitherDirection struct{ parley.Store }

func (s byKeyEitherDirection) MessageGetByKey(ctx context.Context, p parley.MessageGetByKeyParams) (*parley.Message, error) {
	m, err := s.Store.MessageGetByKey(ctx, p)
	if err != nil {
		p.From, p.To = p.To, p.From
		return s.Store.MessageGetByKey(ctx, p)
	}
	return m, nil
}

type upsertAlwaysCreated struct{ parley.Store }

func (s upsertAlwaysCreated) AccountUpsert(ctx context.Context, a parley.Account) (bool, error) {
	_, err := s.Store.AccountUpsert(ctx, a)
	return true, err
}

type unreadTotalOffByOne struct{ parley.Store }

func (s unreadTotalOffByOne) ConversationUnreadTotal(ctx context.Context, owner string) (int, error) {
	n, err := s.Store.ConversationUnreadTotal(ctx, owner)
	if n > 0 {
		n++
	}
	return n, err
}

// markReadNoRecount moves the read time but keeps the old count.
type markReadNoRecount struct{ parley.Store }

func (s markReadNoRecount) ConversationMarkRead(ctx context.Context, p parley.ConversationMarkReadParams) (parley.Conversation, error) {
	before, err := s.Store.ConversationGet(ctx, p.Owner, p.Peer)
	if err != nil {
		return before, err
	}
	c, err := s.Store.ConversationMarkRead(ctx, p)
	if err != nil {
		return c, err
	}
	if err := s.Store.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: p.Owner, Peer: p.Peer, Delta: before.Unread - c.Unread}); err != nil {
		return c, err
	}
	return s.Store.ConversationGet(ctx, p.Owner, p.Peer)
}

type claimIgnoresLimit struct{ parley.Store }

func (s claimIgnoresLimit) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	p.Limit *= 2
	return s.Store.EventClaimDue(ctx, p)
}

type claimNewestFirst struct{ parley.Store }

func (s claimNewestFirst) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	es, err := s.Store.EventClaimDue(ctx, p)
	slices.Reverse(es)
	return es, err
}

type listIgnoresAfterSeq struct{ parley.Store }

func (s listIgnoresAfterSeq) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	p.AfterSeq = 0
	return s.Store.EventList(ctx, p)
}

type nextDueNever struct{ parley.Store }

func (s nextDueNever) EventNextDue(ctx context.Context) (time.Time, bool, error) {
	_, _, err := s.Store.EventNextDue(ctx)
	return time.Time{}, false, err
}

// noTransaction runs fn straight on the store: every write commits at
// once, so nothing can be rolled back.
type noTransaction struct{ parley.Store }

func (s noTransaction) InTx(ctx context.Context, fn func(parley.Querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(s.Store)
}

type swallowsError struct{ parley.Store }

func (s swallowsError) InTx(ctx context.Context, fn func(parley.Querier) error) error {
	_ = s.Store.InTx(ctx, fn)
	return nil
}

type ignoresContext struct{ parley.Store }

func (s ignoresContext) InTx(ctx context.Context, fn func(parley.Querier) error) error {
	return s.Store.InTx(context.WithoutCancel(ctx), fn)
}

// readsOutside hands fn a Querier that writes in the transaction but reads
// committed data from outside it.
type readsOutside struct{ parley.Store }

func (s readsOutside) InTx(ctx context.Context, fn func(parley.Querier) error) error {
	return s.Store.InTx(ctx, func(tx parley.Querier) error {
		return fn(splitQuerier{Querier: s.Store, tx: tx})
	})
}

type splitQuerier struct {
	parley.Querier // reads
	tx             parley.Querier
}

func (q splitQuerier) AccountUpsert(ctx context.Context, a parley.Account) (bool, error) {
	return q.tx.AccountUpsert(ctx, a)
}
func (q splitQuerier) AccountDelete(ctx context.Context, id string) (bool, error) {
	return q.tx.AccountDelete(ctx, id)
}
func (q splitQuerier) MessageInsert(ctx context.Context, m *parley.Message) error {
	return q.tx.MessageInsert(ctx, m)
}
func (q splitQuerier) MessageRecall(ctx context.Context, id int64) error {
	return q.tx.MessageRecall(ctx, id)
}
func (q splitQuerier) ConversationAddUnread(ctx context.Context, p parley.ConversationAddUnreadParams) error {
	return q.tx.ConversationAddUnread(ctx, p)
}
func (q splitQuerier) ConversationMarkRead(ctx context.Context, p parley.ConversationMarkReadParams) (parley.Conversation, error) {
	return q.tx.ConversationMarkRead(ctx, p)
}
func (q splitQuerier) EventInsert(ctx context.Context, e *parley.Event) error {
	return q.tx.EventInsert(ctx, e)
}
func (q splitQuerier) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	return q.tx.EventClaimDue(ctx, p)
}
func (q splitQuerier) EventMarkDelivered(ctx context.Context, p parley.EventMarkDeliveredParams) error {
	return q.tx.EventMarkDelivered(ctx, p)
}
func (q splitQuerier) EventRetry(ctx context.Context, p parley.EventRetryParams) error {
	return q.tx.EventRetry(ctx, p)
}
func (q splitQuerier) EventMarkDead(ctx context.Context, p parley.EventMarkDeadParams) error {
	return q.tx.EventMarkDead(ctx, p)
}
func (q splitQuerier) EventReleaseLeases(ctx context.Context) error {
	return q.tx.EventReleaseLeases(ctx)
}
func (q splitQuerier) EventRelease(ctx context.Context, ids []string) error {
	return q.tx.EventRelease(ctx, ids)
}
func (q splitQuerier) GroupInsert(ctx context.Context, g *parley.Group) error {
	return q.tx.GroupInsert(ctx, g)
}
func (q splitQuerier) GroupDelete(ctx context.Context, id string) (bool, error) {
	return q.tx.GroupDelete(ctx, id)
}
func (q splitQuerier) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) ([]string, error) {
	return q.tx.GroupMemberAdd(ctx, p)
}
func (q splitQuerier) GroupMemberDelete(ctx context.Context, p parley.GroupMemberDeleteParams) ([]string, error) {
	return q.tx.GroupMemberDelete(ctx, p)
}
func (q splitQuerier) GroupMemberTouch(ctx context.Context, p parley.GroupMemberTouchParams) error {
	return q.tx.GroupMemberTouch(ctx, p)
}
func (q splitQuerier) GroupMessageInsert(ctx context.Context, m *parley.GroupMessage) error {
	return q.tx.GroupMessageInsert(ctx, m)
}
func (q splitQuerier) GroupMessageRecall(ctx context.Context, groupID string, msgSeq uint64) error {
	return q.tx.GroupMessageRecall(ctx, groupID, msgSeq)
}
func (q splitQuerier) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	return q.tx.ExtensionWrite(ctx, p)
}
func (q splitQuerier) ChangeAppend(ctx context.Context, c *parley.Change) error {
	return q.tx.ChangeAppend(ctx, c)
}
func (q splitQuerier) GroupMemberMarkRead(ctx context.Context, p parley.GroupMemberMarkReadParams) (uint64, error) {
	return q.tx.GroupMemberMarkRead(ctx, p)
}

// soloMark joins an event's conversation to its ID in claimIgnoresConversation.
const soloMark = "\x00solo:"

// claimIgnoresConversation stores every event in a conversation of its
// own, so claims keep Seq order but not conversation order, and hands the
// conversation given back to readers.
type claimIgnoresConversation struct{ parley.Store }

func (s claimIgnoresConversation) EventInsert(ctx context.Context, e *parley.Event) error {
	stored := *e
	stored.Conversation = e.Conversation + soloMark + e.ID
	err := s.Store.EventInsert(ctx, &stored)
	stored.Conversation = e.Conversation
	*e = stored
	return err
}

func (s claimIgnoresConversation) EventGet(ctx context.Context, id string) (*parley.Event, error) {
	e, err := s.Store.EventGet(ctx, id)
	return unsolo(e), err
}

func (s claimIgnoresConversation) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	es, err := s.Store.EventList(ctx, p)
	for _, e := range es {
		unsolo(e)
	}
	return es, err
}

func (s claimIgnoresConversation) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	es, err := s.Store.EventClaimDue(ctx, p)
	for _, e := range es {
		unsolo(e)
	}
	return es, err
}

func unsolo(e *parley.Event) *parley.Event {
	if e != nil {
		e.Conversation, _, _ = strings.Cut(e.Conversation, soloMark)
	}
	return e
}

type releaseNothing struct{ parley.Store }

func (s releaseNothing) EventRelease(ctx context.Context, ids []string) error { return nil }

type releaseEveryLease struct{ parley.Store }

func (s releaseEveryLease) EventRelease(ctx context.Context, ids []string) error {
	return s.Store.EventReleaseLeases(ctx)
}

// groupInsertReplaces overwrites a group whose ID is taken, as an INSERT
// OR REPLACE would.
type groupInsertReplaces struct{ parley.Store }

func (s groupInsertReplaces) GroupInsert(ctx context.Context, g *parley.Group) error {
	if _, err := s.Store.GroupDelete(ctx, g.ID); err != nil {
		return err
	}
	return s.Store.GroupInsert(ctx, g)
}

// nextMsgSeqStuck reports every group's NextMsgSeq as a new group's.
type nextMsgSeqStuck struct{ parley.Store }

func (s nextMsgSeqStuck) GroupGet(ctx context.Context, id string) (*parley.Group, error) {
	g, err := s.Store.GroupGet(ctx, id)
	if g != nil {
		g.NextMsgSeq = 1
	}
	return g, err
}

func (s nextMsgSeqStuck) GroupGetMany(ctx context.Context, ids []string) ([]*parley.Group, error) {
	gs, err := s.Store.GroupGetMany(ctx, ids)
	for _, g := range gs {
		g.NextMsgSeq = 1
	}
	return gs, err
}

// deleteLeavesExtensions deletes a group but writes its messages'
// extensions back afterwards.
type deleteLeavesExtensions struct{ parley.Store }

func (s deleteLeavesExtensions) GroupDelete(ctx context.Context, id string) (bool, error) {
	ms, err := s.Store.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: id, Limit: 10000})
	if err != nil {
		return false, err
	}
	var keep []parley.ExtensionWriteParams
	for _, m := range ms {
		target := parley.GroupExtensionTarget(id, m.MsgSeq)
		st, err := s.Store.ExtensionStateGet(ctx, target)
		if err != nil {
			return false, err
		}
		kvs, err := s.Store.ExtensionList(ctx, parley.ExtensionListParams{Target: target, Limit: 10000})
		if err != nil {
			return false, err
		}
		if st.Seq > 0 {
			keep = append(keep, parley.ExtensionWriteParams{Target: target, Seq: st.Seq, Put: kvs})
		}
	}
	deleted, err := s.Store.GroupDelete(ctx, id)
	if err != nil {
		return deleted, err
	}
	for _, p := range keep {
		if err := s.Store.ExtensionWrite(ctx, p); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// naiveMemberCount keeps MemberCount as a counter moved by the size of
// each request, duplicates and non-members included.
type naiveMemberCount struct {
	parley.Store
	mu     *sync.Mutex
	counts map[string]int
}

func newNaiveMemberCount(s parley.Store) naiveMemberCount {
	return naiveMemberCount{Store: s, mu: new(sync.Mutex), counts: make(map[string]int)}
}

func (s naiveMemberCount) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) ([]string, error) {
	added, err := s.Store.GroupMemberAdd(ctx, p)
	if err == nil {
		s.mu.Lock()
		s.counts[p.GroupID] += len(p.Members)
		s.mu.Unlock()
	}
	return added, err
}

func (s naiveMemberCount) GroupMemberDelete(ctx context.Context, p parley.GroupMemberDeleteParams) ([]string, error) {
	deleted, err := s.Store.GroupMemberDelete(ctx, p)
	if err == nil {
		s.mu.Lock()
		s.counts[p.GroupID] -= len(p.UserIDs)
		s.mu.Unlock()
	}
	return deleted, err
}

func (s naiveMemberCount) GroupGet(ctx context.Context, id string) (*parley.Group, error) {
	g, err := s.Store.GroupGet(ctx, id)
	if g != nil {
		s.mu.Lock()
		g.MemberCount = s.counts[id]
		s.mu.Unlock()
	}
	return g, err
}

type memberAddReturnsAll struct{ parley.Store }

func (s memberAddReturnsAll) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) ([]string, error) {
	_, err := s.Store.GroupMemberAdd(ctx, p)
	var all []string
	for _, m := range p.Members {
		all = append(all, m.UserID)
	}
	return all, err
}

type memberListByUserID struct{ parley.Store }

func (s memberListByUserID) GroupMemberList(ctx context.Context, p parley.GroupMemberListParams) ([]*parley.GroupMember, error) {
	ms, err := s.Store.GroupMemberList(ctx, p)
	slices.SortStableFunc(ms, func(a, b *parley.GroupMember) int { return strings.Compare(a.UserID, b.UserID) })
	return ms, err
}

type memberListIgnoresOffset struct{ parley.Store }

func (s memberListIgnoresOffset) GroupMemberList(ctx context.Context, p parley.GroupMemberListParams) ([]*parley.GroupMember, error) {
	p.Offset = 0
	return s.Store.GroupMemberList(ctx, p)
}

// touchAddsNonMember upserts: touching a non-member makes it a member.
type touchAddsNonMember struct{ parley.Store }

func (s touchAddsNonMember) GroupMemberTouch(ctx context.Context, p parley.GroupMemberTouchParams) error {
	if _, err := s.Store.GroupMemberGet(ctx, p.GroupID, p.UserID); errors.Is(err, parley.ErrNotFound) {
		m := parley.GroupMember{GroupID: p.GroupID, UserID: p.UserID, Role: parley.RoleMember, LastSendMsgTime: p.At}
		_, err := s.Store.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: p.GroupID, Members: []parley.GroupMember{m}})
		return err
	}
	return s.Store.GroupMemberTouch(ctx, p)
}

type groupDuplicateIgnoresSince struct{ parley.Store }

func (s groupDuplicateIgnoresSince) GroupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	p.Since = 0
	return s.Store.GroupMessageGetDuplicate(ctx, p)
}

// groupDuplicateByList finds duplicates by scanning the group's history
// with a key of its own, newest first or, with oldest, oldest first.
type groupDuplicateByList struct {
	parley.Store
	match  func(*parley.GroupMessage, parley.GroupMessageGetDuplicateParams) bool
	oldest bool
}

func (s groupDuplicateByList) GroupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	ms, err := s.Store.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: p.GroupID, Limit: 10000})
	if err != nil {
		return nil, err
	}
	if s.oldest {
		slices.Reverse(ms)
	}
	for _, m := range ms {
		if s.match(m, p) {
			return m, nil
		}
	}
	return nil, parley.ErrNotFound
}

type groupListOldestFirst struct{ parley.Store }

func (s groupListOldestFirst) GroupMessageList(ctx context.Context, p parley.GroupMessageListParams) ([]*parley.GroupMessage, error) {
	ms, err := s.Store.GroupMessageList(ctx, p)
	slices.Reverse(ms)
	return ms, err
}

type groupListIgnoresMaxSeq struct{ parley.Store }

func (s groupListIgnoresMaxSeq) GroupMessageList(ctx context.Context, p parley.GroupMessageListParams) ([]*parley.GroupMessage, error) {
	p.MaxSeq = 0
	return s.Store.GroupMessageList(ctx, p)
}

// extensionMiscount keeps Count as a counter moved by the size of each
// operation, as if every put added a key and every delete removed one.
type extensionMiscount struct {
	parley.Store
	mu     *sync.Mutex
	counts map[string]int
}

func newExtensionMiscount(s parley.Store) extensionMiscount {
	return extensionMiscount{Store: s, mu: new(sync.Mutex), counts: make(map[string]int)}
}

func (s extensionMiscount) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	if err := s.Store.ExtensionWrite(ctx, p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Clear {
		s.counts[p.Target] = 0
	}
	s.counts[p.Target] += len(p.Put) - len(p.Delete)
	return nil
}

func (s extensionMiscount) ExtensionStateGet(ctx context.Context, target string) (parley.ExtensionState, error) {
	st, err := s.Store.ExtensionStateGet(ctx, target)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.counts[target]; ok {
		st.Count = n
	}
	return st, err
}

// clearByDeleting clears by deleting every key, which leaves ClearSeq as
// it was.
type clearByDeleting struct{ parley.Store }

func (s clearByDeleting) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	if p.Clear {
		kvs, err := s.Store.ExtensionList(ctx, parley.ExtensionListParams{Target: p.Target, Limit: 10000})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			p.Delete = append(p.Delete, kv.Key)
		}
		p.Clear = false
	}
	return s.Store.ExtensionWrite(ctx, p)
}

type extensionListByKey struct{ parley.Store }

func (s extensionListByKey) ExtensionList(ctx context.Context, p parley.ExtensionListParams) ([]parley.ExtensionKV, error) {
	kvs, err := s.Store.ExtensionList(ctx, p)
	slices.SortStableFunc(kvs, func(a, b parley.ExtensionKV) int { return strings.Compare(a.Key, b.Key) })
	return kvs, err
}

type extensionListIgnoresStartSeq struct{ parley.Store }

func (s extensionListIgnoresStartSeq) ExtensionList(ctx context.Context, p parley.ExtensionListParams) ([]parley.ExtensionKV, error) {
	p.StartSeq = 0
	return s.Store.ExtensionList(ctx, p)
}

type getKeysReturnsAll struct{ parley.Store }

func (s getKeysReturnsAll) ExtensionGetKeys(ctx context.Context, target string, keys []string) ([]parley.ExtensionKV, error) {
	return s.Store.ExtensionList(ctx, parley.ExtensionListParams{Target: target, Limit: 10000})
}

type changeListIgnoresViewer struct{ parley.Store }

func (s changeListIgnoresViewer) ChangeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	p.Viewer = ""
	return s.Store.ChangeList(ctx, p)
}

type changeListIgnoresAfterSeq struct{ parley.Store }

func (s changeListIgnoresAfterSeq) ChangeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	p.AfterSeq = 0
	return s.Store.ChangeList(ctx, p)
}

type changeListIgnoresLimit struct{ parley.Store }

func (s changeListIgnoresLimit) ChangeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	p.Limit = 0
	return s.Store.ChangeList(ctx, p)
}

type changeHeadOneBehind struct{ parley.Store }

func (s changeHeadOneBehind) ChangeHead(ctx context.Context, conversation string) (uint64, error) {
	seq, err := s.Store.ChangeHead(ctx, conversation)
	if seq > 0 {
		seq--
	}
	return seq, err
}

// storeWideSeq numbers changes across all conversations, as one sequence
// for the whole log would.
type storeWideSeq struct {
	parley.Store
	mu   *sync.Mutex
	next *uint64
}

func newStoreWideSeq(s parley.Store) storeWideSeq {
	return storeWideSeq{Store: s, mu: new(sync.Mutex), next: new(uint64)}
}

func (s storeWideSeq) ChangeAppend(ctx context.Context, c *parley.Change) error {
	if err := s.Store.ChangeAppend(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.next++
	c.Seq = *s.next
	return nil
}

// summaryKeyInArgumentOrder finds a C2C conversation's head under
// user + NUL + peer, not under the pair's key.
type summaryKeyInArgumentOrder struct{ parley.Store }

func (s summaryKeyInArgumentOrder) ConversationSummaryList(ctx context.Context, user string) ([]parley.ConversationSummary, error) {
	ss, err := s.Store.ConversationSummaryList(ctx, user)
	if err != nil {
		return nil, err
	}
	for i := range ss {
		if ss[i].Peer != "" {
			if ss[i].Seq, err = s.Store.ChangeHead(ctx, "c2c:"+user+"\x00"+ss[i].Peer); err != nil {
				return nil, err
			}
		}
	}
	return ss, nil
}

// deleteLeavesChanges deletes a group but writes its change log back.
type deleteLeavesChanges struct{ parley.Store }

func (s deleteLeavesChanges) GroupDelete(ctx context.Context, id string) (bool, error) {
	cs, err := s.Store.ChangeList(ctx, parley.ChangeListParams{Conversation: parley.GroupConversation(id), Limit: 10000})
	if err != nil {
		return false, err
	}
	deleted, err := s.Store.GroupDelete(ctx, id)
	if err != nil {
		return deleted, err
	}
	for _, c := range cs {
		if err := s.Store.ChangeAppend(ctx, c); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// markReadUncapped reports the MsgSeq asked for when it is past the
// newest message.
type markReadUncapped struct{ parley.Store }

func (s markReadUncapped) GroupMemberMarkRead(ctx context.Context, p parley.GroupMemberMarkReadParams) (uint64, error) {
	seq, err := s.Store.GroupMemberMarkRead(ctx, p)
	return max(seq, p.MsgSeq), err
}

type groupIDsFirstOnly struct{ parley.Store }

func (s groupIDsFirstOnly) GroupIDsByMember(ctx context.Context, user string) ([]string, error) {
	ids, err := s.Store.GroupIDsByMember(ctx, user)
	if len(ids) > 1 {
		ids = ids[:1]
	}
	return ids, err
}

// hooksAtOnce runs hooks when they are added: before the commit, and
// whether or not it happens.
type hooksAtOnce struct{ parley.Store }

type atOnceTx struct{ parley.Querier }

func (atOnceTx) AfterCommit(f func()) { f() }

func (s hooksAtOnce) InTx(ctx context.Context, fn func(parley.Querier) error) error {
	return s.Store.InTx(ctx, func(tx parley.Querier) error { return fn(atOnceTx{tx}) })
}

// storeHooks offers AfterCommit outside transactions too.
type storeHooks struct{ parley.Store }

func (storeHooks) AfterCommit(f func()) { f() }
