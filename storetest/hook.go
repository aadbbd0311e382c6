package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley"
)

// requireHooks skips t unless s hands its InTx fns a parley.CommitHooker:
// the capability is optional.
func requireHooks(t *testing.T, s parley.Store) {
	t.Helper()
	var ok bool
	if err := s.InTx(t.Context(), func(tx parley.Querier) error {
		_, ok = tx.(parley.CommitHooker)
		return nil
	}); err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if !ok {
		t.Skip("the store's transactions are not a parley.CommitHooker")
	}
}

// Outside a transaction there is nothing for a hook to wait for: a caller
// that finds AfterCommit on the store itself would be misled.
func testStoreNotCommitHooker(t *testing.T, s parley.Store) {
	if _, ok := s.(parley.CommitHooker); ok {
		t.Errorf("the store itself is a parley.CommitHooker; only the Querier given to an InTx fn may be")
	}
}

// hookLog records what hooks saw, from whatever goroutine runs them.
type hookLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *hookLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, fmt.Sprintf(format, args...))
}

func (l *hookLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func testHooksAfterCommit(t *testing.T, s parley.Store) {
	requireHooks(t, s)
	ctx := t.Context()
	conv := parley.C2CConversation("alice", "bob")
	var log hookLog
	err := s.InTx(ctx, func(tx parley.Querier) error {
		c := newChange(conv, 1)
		if err := tx.ChangeAppend(ctx, c); err != nil {
			return err
		}
		h := tx.(parley.CommitHooker)
		h.AfterCommit(func() {
			// Read outside the transaction: the change must be committed.
			head, err := s.ChangeHead(ctx, conv)
			log.add("first: committed head %d, %v", head, err)
		})
		h.AfterCommit(func() { log.add("second") })
		h.AfterCommit(func() { log.add("third: seq %d", c.Seq) })
		if got := log.get(); len(got) != 0 {
			return fmt.Errorf("hooks ran before fn returned: %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	// Before InTx returned, in the order added.
	want := []string{"first: committed head 1, <nil>", "second", "third: seq 1"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("hooks ran %q by the time InTx returned, want %q", got, want)
	}
}

func testHooksFailedFn(t *testing.T, s parley.Store) {
	requireHooks(t, s)
	ctx := t.Context()
	conv := parley.C2CConversation("alice", "bob")
	var log hookLog
	err := s.InTx(ctx, func(tx parley.Querier) error {
		if err := tx.ChangeAppend(ctx, newChange(conv, 1)); err != nil {
			return err
		}
		tx.(parley.CommitHooker).AfterCommit(func() { log.add("hook of a failed fn") })
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want the fn's error", err)
	}
	// A transaction that commits next must not run them either.
	err = s.InTx(ctx, func(tx parley.Querier) error {
		tx.(parley.CommitHooker).AfterCommit(func() { log.add("hook of the next fn") })
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if got, want := log.get(), []string{"hook of the next fn"}; !slices.Equal(got, want) {
		t.Errorf("hooks run = %q, want %q", got, want)
	}
	if head := changeHead(t, s, conv); head != 0 {
		t.Errorf("ChangeHead after the failed fn = %d, want 0", head)
	}
}

// hookRound is what runHookRound saw, by call.
type hookRound struct {
	log       hookLog // "conversation seq" as each hook ran
	early     hookLog // hooks that ran before their change was committed
	runs      []int   // fn runs
	hookRuns  []int   // hook runs
	hookSeq   []uint64
	committed []uint64 // the Seq the last run of fn appended
	errs      []error
}

// runHookRound runs n concurrent InTx calls. Call i appends a change to
// one of convs and registers a hook logging that change's conversation
// and Seq, and whether it was committed when the hook ran; every call
// with i%failEvery == failEvery-1 then fails.
func runHookRound(t *testing.T, s parley.Store, n, failEvery int, convs []string, tag string) *hookRound {
	t.Helper()
	ctx := t.Context()
	r := &hookRound{runs: make([]int, n), hookRuns: make([]int, n), hookSeq: make([]uint64, n),
		committed: make([]uint64, n), errs: make([]error, n)}
	var mu sync.Mutex // guards runs, hookRuns, hookSeq: hooks may run anywhere
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r.errs[i] = s.InTx(ctx, func(tx parley.Querier) error {
				mu.Lock()
				r.runs[i]++
				mu.Unlock()
				c := newChange(convs[i%len(convs)], i)
				c.Data = []byte(fmt.Sprintf(`{"tag":%q,"call":%d}`, tag, i))
				if err := tx.ChangeAppend(ctx, c); err != nil {
					return err
				}
				r.committed[i] = c.Seq
				tx.(parley.CommitHooker).AfterCommit(func() {
					head, err := s.ChangeHead(ctx, c.Conversation)
					if err != nil || head < c.Seq {
						r.early.add("call %d: hook ran with head %d, %v: before its change %d committed", i, head, err, c.Seq)
					}
					r.log.add("%s %d", c.Conversation, c.Seq)
					mu.Lock()
					r.hookRuns[i]++
					r.hookSeq[i] = c.Seq
					mu.Unlock()
				})
				if i%failEvery == failEvery-1 {
					return errBoom
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	return r
}

// check holds a round to the hook contract: a committed call's hook ran
// once, with its committed change; a failed call's never ran.
func (r *hookRound) check(t *testing.T, failEvery int) {
	t.Helper()
	for _, e := range r.early.get() {
		t.Error(e)
	}
	for i := range r.errs {
		if i%failEvery == failEvery-1 {
			if !errors.Is(r.errs[i], errBoom) {
				t.Errorf("call %d: InTx = %v, want its fn's error", i, r.errs[i])
			}
			if r.hookRuns[i] != 0 {
				t.Errorf("call %d failed, but its hook ran %d times", i, r.hookRuns[i])
			}
			continue
		}
		if r.errs[i] != nil {
			t.Fatalf("call %d: InTx = %v", i, r.errs[i])
		}
		if r.hookRuns[i] != 1 {
			t.Errorf("call %d: hook ran %d times (fn ran %d times), want once", i, r.hookRuns[i], r.runs[i])
		} else if r.hookSeq[i] != r.committed[i] {
			t.Errorf("call %d: hook saw Seq %d, but the committed run appended Seq %d", i, r.hookSeq[i], r.committed[i])
		}
	}
}

func testHooksCommitOrder(t *testing.T, s parley.Store) {
	requireHooks(t, s)
	const n, failEvery = 100, 7
	convs := []string{parley.C2CConversation("alice", "bob"), parley.GroupConversation("g"), parley.GroupConversation("h")}
	r := runHookRound(t, s, n, failEvery, convs, "order")
	r.check(t, failEvery)
	// Per conversation, the hooks published 1..N in that order: the
	// order a subscriber must see them in.
	got := make(map[string][]string)
	for _, e := range r.log.get() {
		for _, conv := range convs {
			if strings.HasPrefix(e, conv+" ") {
				got[conv] = append(got[conv], e)
			}
		}
	}
	total := 0
	for _, conv := range convs {
		head := changeHead(t, s, conv)
		var want []string
		for seq := uint64(1); seq <= head; seq++ {
			want = append(want, fmt.Sprintf("%s %d", conv, seq))
		}
		if !slices.Equal(got[conv], want) {
			t.Errorf("hooks of %q ran in the order %q, want %q", conv, got[conv], want)
		}
		total += len(want)
	}
	if entries := r.log.get(); len(entries) != total {
		t.Errorf("hook log has %d entries, want %d, one per committed change: %q", len(entries), total, entries)
	}
}

// A backend that runs an fn again (as InTx allows) rolls back the first
// run's hooks with its writes. Rounds go on until some fn has run twice,
// so that the case is seen, up to a bound: a backend that never re-runs
// fns has nothing more to show.
func testHooksRerun(t *testing.T, s parley.Store) {
	requireHooks(t, s)
	const n, failEvery = 40, 2
	convs := []string{parley.GroupConversation("g")}
	for round := range 10 {
		r := runHookRound(t, s, n, failEvery, convs, fmt.Sprint("round ", round))
		r.check(t, failEvery)
		if t.Failed() {
			t.Fatalf("round %d: see above", round)
		}
		for i, runs := range r.runs {
			if runs > 1 && i%failEvery != failEvery-1 {
				t.Logf("round %d: call %d ran %d times and its hook once", round, i, runs)
				return
			}
		}
	}
	t.Logf("no fn ran twice in 10 rounds of %d concurrent calls", n)
}
