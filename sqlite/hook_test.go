package sqlite_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

var errBoom = errors.New("boom")

// publisher records what hooks publish; hooks run on the writer, the test
// reads from its own goroutine.
type publisher struct {
	mu   sync.Mutex
	seqs []uint64
	runs map[string]int
}

func (p *publisher) publish(name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seqs = append(p.seqs, seq)
	if p.runs == nil {
		p.runs = make(map[string]int)
	}
	p.runs[name]++
}

func (p *publisher) ran(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs[name]
}

// appendAndPublish is an InTx fn that appends a change to conv and
// publishes its Seq after the commit, then fails if fail is set.
func appendAndPublish(t *testing.T, p *publisher, name, conv string, fail bool, runs *int) func(parley.Querier) error {
	return func(tx parley.Querier) error {
		*runs++
		c := &parley.Change{Conversation: conv, Kind: parley.ChangeMessage, Data: []byte(fmt.Sprintf(`{"name":%q}`, name))}
		if err := tx.ChangeAppend(t.Context(), c); err != nil {
			return err
		}
		tx.(parley.CommitHooker).AfterCommit(func() { p.publish(name, c.Seq) })
		if fail {
			return errBoom
		}
		return nil
	}
}

// TestAfterCommitAcrossRestart: a group in which fns fail is rolled back
// and run again with savepoints. The first pass's hooks go with it (their
// changes had other Seqs), the failed fns' hooks never run, and the rest
// run once, in commit order.
func TestAfterCommitAcrossRestart(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)
	before := db.Stats()

	const n = 20
	conv := parley.GroupConversation("g")
	var p publisher
	runs := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.InTx(t.Context(), appendAndPublish(t, &p, fmt.Sprint(i), conv, i%4 == 1, &runs[i]))
		})
		// Call 0, which succeeds, is first in the group, so that the
		// optimistic pass runs it before a failure stops the pass.
		if i == 0 {
			waitQueued(t, db, 1)
		}
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()

	if retries := db.Stats().Retries - before.Retries; retries != 1 {
		t.Fatalf("group retried %d times, want 1: the test needs the savepoint pass", retries)
	}
	reran := 0
	for i := range n {
		failed := i%4 == 1
		if failed != errors.Is(errs[i], errBoom) {
			t.Errorf("call %d: InTx = %v, want failed %v", i, errs[i], failed)
		}
		want := 1
		if failed {
			want = 0
		}
		if got := p.ran(fmt.Sprint(i)); got != want {
			t.Errorf("call %d (failed %v, fn ran %d times): hooks ran %d times, want %d", i, failed, runs[i], got, want)
		}
		if !failed && runs[i] > 1 {
			reran++
		}
	}
	if reran == 0 {
		t.Errorf("no committed fn ran twice: the restart was not exercised")
	}
	var want []uint64
	for seq := uint64(1); seq <= uint64(n-n/4); seq++ {
		want = append(want, seq)
	}
	if !slices.Equal(p.seqs, want) {
		t.Errorf("hooks published seqs %v, want %v", p.seqs, want)
	}
}

// TestAfterCommitHookPanics: a panicking hook is re-raised in its caller;
// its commit stands, its other hooks and its group's hooks run, and the
// writer goes on.
func TestAfterCommitHookPanics(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)
	conv := parley.C2CConversation("alice", "bob")
	var p publisher

	var wg sync.WaitGroup
	var recovered any
	wg.Go(func() {
		defer func() { recovered = recover() }()
		_ = db.InTx(t.Context(), func(tx parley.Querier) error {
			c := &parley.Change{Conversation: conv, Kind: parley.ChangeMessage, Data: []byte(`{}`)}
			if err := tx.ChangeAppend(t.Context(), c); err != nil {
				return err
			}
			h := tx.(parley.CommitHooker)
			h.AfterCommit(func() { p.publish("before", c.Seq) })
			h.AfterCommit(func() { panic("hook exploded") })
			h.AfterCommit(func() { p.publish("after", c.Seq) })
			return nil
		})
	})
	waitQueued(t, db, 1)
	var neighbourErr error
	neighbourRuns := 0
	wg.Go(func() {
		neighbourErr = db.InTx(t.Context(), appendAndPublish(t, &p, "neighbour", conv, false, &neighbourRuns))
	})
	waitQueued(t, db, 2)
	release()
	wg.Wait()

	if s := fmt.Sprint(recovered); !strings.Contains(s, "hook exploded") || !strings.Contains(s, "AfterCommit hook") {
		t.Errorf("InTx caller recovered %q, want the hook's panic", s)
	}
	if neighbourErr != nil {
		t.Errorf("neighbour: %v", neighbourErr)
	}
	if got, want := p.seqs, []uint64{1, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("hooks published %v, want %v: the panicking call's other hooks, then the neighbour's", got, want)
	}
	if head, err := db.ChangeHead(t.Context(), conv); err != nil || head != 2 {
		t.Errorf("ChangeHead = %d, %v; want 2: the commit stands", head, err)
	}
	if err := db.InTx(t.Context(), appendAndPublish(t, &p, "later", conv, false, new(int))); err != nil {
		t.Errorf("the writer does not work after a hook panicked: %v", err)
	}
	if p.ran("later") != 1 {
		t.Errorf("a later call's hook did not run")
	}
}

// TestAfterCommitFnPanics: the hooks of an fn that panics go with its
// changes, alone or in a group.
func TestAfterCommitFnPanics(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(fmt.Sprint("grouped=", grouped), func(t *testing.T) {
			db := open(t, sqlite.Config{})
			conv := parley.C2CConversation("alice", "bob")
			var p publisher
			release := func() {}
			if grouped {
				release = blockWriter(t, db)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				defer func() { _ = recover() }()
				_ = db.InTx(t.Context(), func(tx parley.Querier) error {
					if err := appendAndPublish(t, &p, "panicker", conv, false, new(int))(tx); err != nil {
						return err
					}
					panic("fn exploded")
				})
			})
			if grouped {
				waitQueued(t, db, 1)
				wg.Go(func() {
					if err := db.InTx(t.Context(), appendAndPublish(t, &p, "neighbour", conv, false, new(int))); err != nil {
						t.Errorf("neighbour: %v", err)
					}
				})
				waitQueued(t, db, 2)
			}
			release()
			wg.Wait()
			if got := p.ran("panicker"); got != 0 {
				t.Errorf("the panicking fn's hook ran %d times", got)
			}
			if grouped && p.ran("neighbour") != 1 {
				t.Errorf("the neighbour's hook ran %d times, want once", p.ran("neighbour"))
			}
		})
	}
}

func TestAfterCommitAfterFn(t *testing.T) {
	db := open(t, sqlite.Config{})
	var leaked parley.CommitHooker
	if err := db.InTx(t.Context(), func(tx parley.Querier) error {
		leaked = tx.(parley.CommitHooker)
		return nil
	}); err != nil {
		t.Fatalf("InTx: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("AfterCommit on a tx after its fn returned did not panic")
		}
	}()
	leaked.AfterCommit(func() { t.Errorf("a hook added after its fn returned ran") })
}
