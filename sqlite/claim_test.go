package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

// modelEvent is a pending event as the model of the outbox sees it.
type modelEvent struct {
	seq    int64
	id     string
	conv   string
	due    time.Time
	leased bool
}

// outboxModel is the outbox's claim rules written the plain way: pending
// events in seq order, each claimable if due, unleased, and every earlier
// pending event of its conversation is claimable.
type outboxModel struct{ pending []*modelEvent }

func (m *outboxModel) claimable(now time.Time) []*modelEvent {
	blocked := make(map[string]bool)
	var out []*modelEvent
	for _, e := range m.pending {
		if blocked[e.conv] || e.leased || e.due.After(now) {
			blocked[e.conv] = true
			continue
		}
		out = append(out, e)
	}
	return out
}

// nextDue is the earliest due time of an unleased event that is first in
// its conversation: nothing else can become claimable by time passing.
func (m *outboxModel) nextDue() (time.Time, bool) {
	seen := make(map[string]bool)
	var at time.Time
	ok := false
	for _, e := range m.pending {
		if seen[e.conv] {
			continue
		}
		seen[e.conv] = true
		if !e.leased && (!ok || e.due.Before(at)) {
			at, ok = e.due, true
		}
	}
	return at, ok
}

func (m *outboxModel) remove(id string) {
	m.pending = slices.DeleteFunc(m.pending, func(e *modelEvent) bool { return e.id == id })
}

func (m *outboxModel) find(id string) *modelEvent {
	i := slices.IndexFunc(m.pending, func(e *modelEvent) bool { return e.id == id })
	return m.pending[i]
}

// TestClaimAndNextDueFollowTheModel drives the outbox through seeded
// random runs of inserts, claims, deliveries, retries, dead letters and
// releases over a few conversations, and after every step checks
// EventClaimDue and EventNextDue against outboxModel. Leases never expire
// in a run (they are always given up explicitly), which makes NextDue
// exact: an event is claimable now exactly when NextDue is not after now,
// so a worker that sleeps until NextDue after an empty claim never spins.
//
// Long runs go inside one InTx, on the write connection, where a step
// costs no fsync; short runs go through the store, whose reads use the
// read pool.
func TestClaimAndNextDueFollowTheModel(t *testing.T) {
	tests := []struct {
		name  string
		inTx  bool
		steps int
	}{
		{"in one transaction", true, 1000},
		{"through the store", false, 150},
	}
	for _, tc := range tests {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed %d", tc.name, seed), func(t *testing.T) {
				t.Parallel()
				db := open(t, sqlite.Config{})
				rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
				var err error
				if tc.inTx {
					err = db.InTx(t.Context(), func(tx parley.Querier) error {
						return runOutboxModel(t.Context(), tx, rng, tc.steps)
					})
				} else {
					err = runOutboxModel(t.Context(), db, rng, tc.steps)
				}
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// runOutboxModel runs steps random operations on q and checks q against
// the model after each. It returns the first difference as an error: it
// may run inside an InTx fn, where t.Fatal must not be called.
func runOutboxModel(ctx context.Context, q parley.Querier, rng *rand.Rand, steps int) error {
	now := time.UnixMilli(1_700_000_000_000)
	never := now.Add(1000 * time.Hour) // no lease passes in the run
	convs := []string{parley.C2CConversation("a", "b"), parley.C2CConversation("a", "c"),
		parley.GroupConversation("g"), parley.GroupConversation("h")}
	var model outboxModel
	var held []string // claimed, not yet resolved
	inserted := 0

	for step := range steps {
		switch op := rng.IntN(10); {
		case op < 4 && len(model.pending) < 40: // a backlog, but a short one: each step reads all of it
			inserted++
			e := &parley.Event{ID: fmt.Sprint("evt_", inserted), Command: parley.CommandGroupAfterSendMsg,
				Conversation: convs[rng.IntN(len(convs))], Body: []byte(`{}`),
				NextAttemptAt: now.Add(time.Duration(rng.IntN(5000)-2000) * time.Millisecond)}
			if err := q.EventInsert(ctx, e); err != nil {
				return err
			}
			model.pending = append(model.pending, &modelEvent{seq: e.Seq, id: e.ID, conv: e.Conversation, due: e.NextAttemptAt})
		case op < 6:
			limit := 1 + rng.IntN(4)
			got, err := q.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: never, Limit: limit})
			if err != nil {
				return err
			}
			want := model.claimable(now)
			want = want[:min(limit, len(want))]
			wantIDs := make([]string, len(want))
			for i, e := range want {
				wantIDs[i] = e.id
				e.leased = true
			}
			if !slices.Equal(ids(got), wantIDs) {
				return fmt.Errorf("step %d: EventClaimDue(limit %d) = %q, want %q", step, limit, ids(got), wantIDs)
			}
			held = append(held, wantIDs...)
		case op < 9 && len(held) > 0:
			i := rng.IntN(len(held))
			id := held[i]
			held = slices.Delete(held, i, i+1)
			var err error
			switch rng.IntN(4) {
			case 0:
				err = q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{id}, At: now})
				model.remove(id)
			case 1:
				next := now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				err = q.EventRetry(ctx, parley.EventRetryParams{ID: id, Attempts: 1, NextAttemptAt: next, LastError: "x"})
				e := model.find(id)
				e.leased, e.due = false, next
			case 2:
				err = q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: id, Attempts: 1, LastError: "x", At: now})
				model.remove(id)
			default:
				err = q.EventRelease(ctx, []string{id})
				model.find(id).leased = false
			}
			if err != nil {
				return err
			}
		default:
			now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}

		at, ok, err := q.EventNextDue(ctx)
		if err != nil {
			return err
		}
		wantAt, wantOK := model.nextDue()
		if ok != wantOK || !at.Equal(wantAt) {
			return fmt.Errorf("step %d: EventNextDue = %v, %v; want %v, %v", step, at, ok, wantAt, wantOK)
		}
		if claimable := len(model.claimable(now)) > 0; claimable != (ok && !at.After(now)) {
			return fmt.Errorf("step %d: claimable now = %v, but EventNextDue = %v, %v (now %v)", step, claimable, at, ok, now)
		}
	}
	return nil
}
