package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	return []mutant{
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
		{"InTxWithoutTransaction", func(s parley.Store) parley.Store { return noTransaction{s} },
			"Tx", []string{"Tx/ErrorRollsBackAndIsReturned", "Tx/ErrorRollsBackOnlyItsOwnChanges"}},
		{"InTxSwallowsError", func(s parley.Store) parley.Store { return swallowsError{s} },
			"Tx", []string{"Tx/ErrorRollsBackAndIsReturned", "Tx/ErrorRollsBackOnlyItsOwnChanges"}},
		{"InTxIgnoresContext", func(s parley.Store) parley.Store { return ignoresContext{s} },
			"Tx", []string{"Tx/CancelledContextWritesNothing"}},
		{"InTxReadsOutsideTx", func(s parley.Store) parley.Store { return readsOutside{s} },
			"Tx", []string{"Tx/ReadsSeeOwnWrites"}},
	}
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
