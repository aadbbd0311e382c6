package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// The attempt log and the outbox's admin side: listing with filters,
// replay, recovery.

func attemptTests() []querierTest {
	return []querierTest{
		{"AttemptInsert/ListedInOrderWithEveryField", testAttemptInsert},
		{"AttemptInsert/SameAttemptTwice", testAttemptInsertTwice},
		{"AttemptInsert/ManyInOneCall", testAttemptInsertMany},
		{"EventList/NewestFirstPages", testEventListNewest},
		{"EventList/CreatedBetween", testEventListCreated},
		{"EventList/Failed", testEventListFailed},
		{"EventReplay/DeliveredAndDeadBecomePending", testEventReplayDone},
		{"EventReplay/KeepsConversationOrder", testEventReplayOrder},
		{"EventReplay/PendingMadeDue", testEventReplayPending},
		{"EventRecover/DeadAndFailedOfTheRange", testEventRecover},
	}
}

func insertAttempts(t *testing.T, q parley.Querier, as ...parley.Attempt) {
	t.Helper()
	if err := q.AttemptInsert(t.Context(), as); err != nil {
		t.Fatalf("AttemptInsert(%d attempts): %v", len(as), err)
	}
}

func assertAttempts(t *testing.T, q parley.Querier, eventID string, want ...parley.Attempt) {
	t.Helper()
	got, err := q.AttemptList(t.Context(), eventID)
	if err != nil {
		t.Fatalf("AttemptList(%s): %v", eventID, err)
	}
	if len(got) != len(want) {
		t.Fatalf("AttemptList(%s) = %d attempts, want %d:\n got %+v\nwant %+v", eventID, len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.EventSeq != w.EventSeq || g.Attempt != w.Attempt || !g.StartedAt.Equal(w.StartedAt) ||
			g.Status != w.Status || g.Latency != w.Latency || g.Response != w.Response || g.Error != w.Error {
			t.Errorf("AttemptList(%s)[%d]\n got %+v\nwant %+v", eventID, i, g, w)
		}
	}
}

func testAttemptInsert(t *testing.T, q parley.Querier) {
	e1 := insertEvent(t, q, newEvent("e1", t0()))
	e2 := insertEvent(t, q, newEvent("e2", t0()))
	assertAttempts(t, q, e1.ID)

	a1 := parley.Attempt{
		EventSeq: e1.Seq, Attempt: 1, StartedAt: t0().Add(1500 * time.Millisecond),
		Latency: 2 * time.Second, Error: "callback timed out after 2s",
	}
	a2 := parley.Attempt{
		EventSeq: e1.Seq, Attempt: 2, StartedAt: t0().Add(time.Minute), Status: 500,
		Latency: 1234 * time.Microsecond, Response: `{"error":"bo\u00eete \\xff"}` + "\n",
		Error: `callback answered HTTP 500, want 200: "oops"`,
	}
	a3 := parley.Attempt{
		EventSeq: e1.Seq, Attempt: 3, StartedAt: t0().Add(time.Hour), Status: 200,
		Latency: 7 * time.Millisecond, Response: `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`,
	}
	b1 := parley.Attempt{EventSeq: e2.Seq, Attempt: 1, StartedAt: t0(), Status: 429, Latency: time.Microsecond, Response: "slow down", Error: "HTTP 429"}
	// One call may hold attempts of several events, in any order.
	insertAttempts(t, q, a3, b1, a1)
	insertAttempts(t, q, a2)
	insertAttempts(t, q)

	assertAttempts(t, q, e1.ID, a1, a2, a3)
	assertAttempts(t, q, e2.ID, b1)
	assertAttempts(t, q, "evt_unknown")
}

func testAttemptInsertTwice(t *testing.T, q parley.Querier) {
	e := insertEvent(t, q, newEvent("e", t0()))
	first := parley.Attempt{EventSeq: e.Seq, Attempt: 1, StartedAt: t0(), Status: 502, Latency: time.Millisecond, Error: "HTTP 502"}
	insertAttempts(t, q, first)
	// The same attempt again is dropped, not an error that would fail the
	// outcomes written with it.
	again := first
	again.Error = "written twice"
	insertAttempts(t, q, again)
	assertAttempts(t, q, e.ID, first)
	// Attempt 1 made again later (its lease ran out while it was in
	// flight) is a second attempt, and kept.
	later := parley.Attempt{EventSeq: e.Seq, Attempt: 1, StartedAt: t0().Add(time.Minute), Status: 200, Latency: time.Millisecond}
	insertAttempts(t, q, later)
	assertAttempts(t, q, e.ID, first, later)
}

func testAttemptInsertMany(t *testing.T, q parley.Querier) {
	// A busy flush: one attempt for each of many events, and a few more
	// of one event, in one call of an awkward size.
	var events []*parley.Event
	var all []parley.Attempt
	for i := range 83 {
		e := insertEvent(t, q, alone(newEvent(fmt.Sprint(i), t0())))
		events = append(events, e)
		all = append(all, parley.Attempt{EventSeq: e.Seq, Attempt: 1, StartedAt: t0().Add(time.Duration(i) * time.Millisecond),
			Status: 200 + i, Latency: time.Duration(i+1) * time.Microsecond, Response: fmt.Sprint("answer ", i)})
	}
	for n := 2; n <= 8; n++ {
		all = append(all, parley.Attempt{EventSeq: events[0].Seq, Attempt: n, StartedAt: t0().Add(time.Duration(n) * time.Second), Error: fmt.Sprint("error ", n)})
	}
	insertAttempts(t, q, all...)
	assertAttempts(t, q, events[0].ID, append([]parley.Attempt{all[0]}, all[83:]...)...)
	for i, e := range events[1:] {
		assertAttempts(t, q, e.ID, all[i+1])
	}
}

func listEvents(t *testing.T, q parley.Querier, p parley.EventListParams) []string {
	t.Helper()
	got, err := q.EventList(t.Context(), p)
	if err != nil {
		t.Fatalf("EventList(%+v): %v", p, err)
	}
	for _, e := range got {
		assertEvent(t, e, getEvent(t, q, e.ID))
	}
	return eventIDs(got)
}

func assertList(t *testing.T, q parley.Querier, p parley.EventListParams, want ...*parley.Event) {
	t.Helper()
	if got := listEvents(t, q, p); !slices.Equal(got, eventIDs(want)) {
		t.Errorf("EventList(%+v)\n got %q\nwant %q", p, got, eventIDs(want))
	}
}

func testEventListNewest(t *testing.T, q parley.Querier) {
	var es []*parley.Event
	for i := range 7 {
		es = append(es, insertEvent(t, q, alone(newEvent(fmt.Sprint(i), t0()))))
	}
	markDelivered(t, q, t0(), es[1], es[4])

	// Page by page, each page's last Seq the cursor of the next.
	var got []string
	p := parley.EventListParams{Newest: true, Limit: 3}
	for range 4 {
		page := listEvents(t, q, p)
		got = append(got, page...)
		if len(page) < p.Limit {
			break
		}
		last := getEvent(t, q, page[len(page)-1])
		p.BeforeSeq = last.Seq
	}
	want := eventIDs([]*parley.Event{es[6], es[5], es[4], es[3], es[2], es[1], es[0]})
	if !slices.Equal(got, want) {
		t.Errorf("newest first, pages of 3:\n got %q\nwant %q", got, want)
	}

	assertList(t, q, parley.EventListParams{Newest: true, BeforeSeq: es[4].Seq, State: parley.EventPending, Limit: 2}, es[3], es[2])
	assertList(t, q, parley.EventListParams{Newest: true, State: parley.EventDelivered}, es[4], es[1])
	assertList(t, q, parley.EventListParams{Newest: true, BeforeSeq: es[0].Seq})
	// Both bounds: the Seqs strictly between them.
	assertList(t, q, parley.EventListParams{Newest: true, AfterSeq: es[1].Seq, BeforeSeq: es[5].Seq}, es[4], es[3], es[2])
	assertList(t, q, parley.EventListParams{AfterSeq: es[1].Seq, BeforeSeq: es[5].Seq}, es[2], es[3], es[4])
}

func testEventListCreated(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	at := func(name string, created time.Duration) *parley.Event {
		e := alone(newEvent(name, t0()))
		e.CreatedAt = t0().Add(created)
		return insertEvent(t, q, e)
	}
	// Created out of Seq order, as concurrent requests commit.
	p1 := at("p1 pending", 0)
	d1 := at("d1 delivered", 2*time.Second)
	x1 := at("x1 dead", time.Second)
	f1 := at("f1 failed", 3*time.Second)
	p2 := at("p2 pending", 5*time.Second)
	x2 := at("x2 dead", 4*time.Second)
	d2 := at("d2 delivered", 6*time.Second)
	markDelivered(t, q, t0(), d1, d2)
	for _, e := range []*parley.Event{x1, x2} {
		if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: e.ID, Attempts: 3, LastError: "HTTP 500", At: t0()}); err != nil {
			t.Fatalf("EventMarkDead: %v", err)
		}
	}
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: f1.ID, Attempts: 1, NextAttemptAt: t0().Add(time.Hour), LastError: "HTTP 503"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}

	s := func(d time.Duration) time.Time { return t0().Add(d) }
	tests := []struct {
		p    parley.EventListParams
		want []*parley.Event
	}{
		// The bounds are inclusive, to the millisecond.
		{parley.EventListParams{Since: s(time.Second), Until: s(4 * time.Second)}, []*parley.Event{d1, x1, f1, x2}},
		{parley.EventListParams{Since: s(time.Second + time.Millisecond), Until: s(4*time.Second - time.Millisecond)}, []*parley.Event{d1, f1}},
		{parley.EventListParams{Since: s(5 * time.Second)}, []*parley.Event{p2, d2}},
		{parley.EventListParams{Until: s(time.Second)}, []*parley.Event{p1, x1}},
		{parley.EventListParams{Since: s(7 * time.Second)}, nil},
		{parley.EventListParams{Since: s(time.Second), Newest: true, Limit: 3}, []*parley.Event{d2, x2, p2}},
		{parley.EventListParams{Since: s(time.Second), Newest: true, BeforeSeq: p2.Seq}, []*parley.Event{f1, x1, d1}},
		// Every state's way to its events, with a time range.
		{parley.EventListParams{State: parley.EventPending, Since: s(time.Second)}, []*parley.Event{f1, p2}},
		{parley.EventListParams{State: parley.EventPending, Until: s(4 * time.Second), Newest: true}, []*parley.Event{f1, p1}},
		{parley.EventListParams{State: parley.EventFailed, Since: s(3 * time.Second), Until: s(3 * time.Second)}, []*parley.Event{f1}},
		{parley.EventListParams{State: parley.EventFailed, Since: s(4 * time.Second)}, nil},
		{parley.EventListParams{State: parley.EventDelivered, Since: s(3 * time.Second)}, []*parley.Event{d2}},
		{parley.EventListParams{State: parley.EventDelivered, Until: s(3 * time.Second)}, []*parley.Event{d1}},
		{parley.EventListParams{State: parley.EventDead}, []*parley.Event{x1, x2}},
		{parley.EventListParams{State: parley.EventDead, Newest: true}, []*parley.Event{x2, x1}},
		{parley.EventListParams{State: parley.EventDead, Since: s(2 * time.Second)}, []*parley.Event{x2}},
		{parley.EventListParams{State: parley.EventDead, Until: s(2 * time.Second), Command: parley.CommandC2CAfterSendMsg}, []*parley.Event{x1}},
		{parley.EventListParams{State: parley.EventDead, Command: parley.CommandGroupAfterSendMsg}, nil},
	}
	for _, tc := range tests {
		assertList(t, q, tc.p, tc.want...)
	}
}

func testEventListFailed(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	fresh := insertEvent(t, q, alone(newEvent("fresh", t0())))
	retrying := insertEvent(t, q, alone(newEvent("retrying", t0())))
	leased := insertEvent(t, q, alone(newEvent("leased", t0())))
	dead := insertEvent(t, q, alone(newEvent("dead", t0())))
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: retrying.ID, Attempts: 2, NextAttemptAt: t0().Add(time.Hour), LastError: "timeout"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: dead.ID, Attempts: 1, LastError: "HTTP 500", At: t0()}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: leased.ID, Attempts: 1, NextAttemptAt: t0(), LastError: "HTTP 502"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	// Claimed for its retry: still failed until an attempt succeeds.
	assertClaim(t, q, t0(), 10, fresh, getEvent(t, q, leased.ID))

	assertList(t, q, parley.EventListParams{State: parley.EventFailed}, retrying, leased)
	assertList(t, q, parley.EventListParams{State: parley.EventFailed, Newest: true, Limit: 1}, leased)
	assertList(t, q, parley.EventListParams{State: parley.EventPending}, fresh, retrying, leased)
	markDelivered(t, q, t0(), leased)
	assertList(t, q, parley.EventListParams{State: parley.EventFailed}, retrying)
}

func replay(t *testing.T, q parley.Querier, id string, at time.Time) *parley.Event {
	t.Helper()
	e, err := q.EventReplay(t.Context(), parley.EventReplayParams{ID: id, At: at})
	if err != nil {
		t.Fatalf("EventReplay(%s): %v", id, err)
	}
	assertEvent(t, e, getEvent(t, q, id))
	return e
}

func testEventReplayDone(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	delivered := insertEvent(t, q, alone(newEvent("delivered", t0())))
	dead := insertEvent(t, q, alone(newEvent("dead", t0())))
	assertClaim(t, q, t0(), 10, delivered, dead)
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: delivered.ID, Attempts: 1, NextAttemptAt: t0(), LastError: "HTTP 500"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	markDelivered(t, q, t0().Add(time.Second), delivered)
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: dead.ID, Attempts: 8, LastError: "HTTP 404", At: t0()}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}

	at := t0().Add(time.Hour)
	got := replay(t, q, delivered.ID, at)
	want := *delivered
	// Its attempts go on counting; the error before its delivery is gone.
	want.Attempts, want.NextAttemptAt, want.LastError = 2, at, ""
	assertEvent(t, got, &want)

	got = replay(t, q, dead.ID, at)
	wantDead := *dead
	wantDead.Attempts, wantDead.NextAttemptAt, wantDead.LastError = 8, at, "HTTP 404"
	assertEvent(t, got, &wantDead)

	// Pending again: due at the replay's time, not before.
	assertClaim(t, q, at.Add(-time.Millisecond), 10)
	assertList(t, q, parley.EventListParams{State: parley.EventDead})
	assertList(t, q, parley.EventListParams{State: parley.EventFailed}, &wantDead)
	assertClaim(t, q, at, 10, &want, &wantDead)

	for _, id := range []string{"evt_unknown", ""} {
		if e, err := q.EventReplay(ctx, parley.EventReplayParams{ID: id, At: at}); !errors.Is(err, parley.ErrNotFound) {
			t.Errorf("EventReplay(%q) = %v, %v; want ErrNotFound", id, e, err)
		}
	}
}

func testEventReplayOrder(t *testing.T, q parley.Querier) {
	a, b, _ := conversations()
	a1 := inConversation(t, q, a, "a1", t0())
	b1 := inConversation(t, q, b, "b1", t0())
	assertClaim(t, q, t0(), 10, a1, b1)
	markDelivered(t, q, t0(), a1, b1)
	a2 := inConversation(t, q, a, "a2", t0().Add(time.Minute))

	// a1 replayed goes first, ahead of the later a2, which waits for it.
	at := t0().Add(time.Minute)
	replayed := replay(t, q, a1.ID, at)
	assertClaim(t, q, at, 1, replayed)
	assertClaim(t, q, at, 10)
	markDelivered(t, q, at, replayed)
	assertClaim(t, q, at, 10, a2)
}

func testEventReplayPending(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	waiting := insertEvent(t, q, alone(newEvent("waiting", t0())))
	leased := insertEvent(t, q, alone(newEvent("leased", t0())))
	assertClaim(t, q, t0(), 1, waiting)
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: waiting.ID, Attempts: 1, NextAttemptAt: t0().Add(5 * time.Hour), LastError: "timeout"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	assertClaim(t, q, t0(), 1, leased) // leased until t0+30s

	at := t0().Add(time.Second)
	got := replay(t, q, waiting.ID, at)
	want := *waiting
	want.Attempts, want.NextAttemptAt, want.LastError = 1, at, "timeout"
	assertEvent(t, got, &want)
	// The lease of an event being attempted stands: no second attempt
	// alongside the first.
	replay(t, q, leased.ID, at)
	assertClaim(t, q, at, 10, &want)
	assertClaim(t, q, t0().Add(30500*time.Millisecond), 10, getEvent(t, q, leased.ID))
}

func testEventRecover(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	at := func(name string, created time.Duration) *parley.Event {
		e := alone(newEvent(name, t0()))
		e.CreatedAt = t0().Add(created)
		return insertEvent(t, q, e)
	}
	deadBefore := at("dead before", -time.Second)
	deadFirst := at("dead at since", 0)
	failed := at("failed", time.Second)
	fresh := at("fresh", time.Second)
	delivered := at("delivered", time.Second)
	deadLast := at("dead at until", time.Hour)
	failedAfter := at("failed after", time.Hour+time.Millisecond)
	for _, e := range []*parley.Event{deadBefore, deadFirst, deadLast} {
		if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: e.ID, Attempts: 8, LastError: "HTTP 500", At: t0()}); err != nil {
			t.Fatalf("EventMarkDead: %v", err)
		}
	}
	for _, e := range []*parley.Event{failed, failedAfter} {
		if err := q.EventRetry(ctx, parley.EventRetryParams{ID: e.ID, Attempts: 2, NextAttemptAt: t0().Add(10 * time.Hour), LastError: "timeout"}); err != nil {
			t.Fatalf("EventRetry: %v", err)
		}
	}
	markDelivered(t, q, t0(), delivered)
	untouched := map[string]*parley.Event{}
	for _, e := range []*parley.Event{deadBefore, fresh, delivered, failedAfter} {
		untouched[e.ID] = getEvent(t, q, e.ID)
	}

	due := t0().Add(2 * time.Hour)
	n, err := q.EventRecover(ctx, parley.EventRecoverParams{Since: t0(), Until: t0().Add(time.Hour), At: due})
	if err != nil {
		t.Fatalf("EventRecover: %v", err)
	}
	if n != 3 {
		t.Errorf("EventRecover = %d, want 3: two dead and one failed", n)
	}
	for _, e := range []*parley.Event{deadFirst, deadLast, failed} {
		got := getEvent(t, q, e.ID)
		if got.State != parley.EventPending || !got.NextAttemptAt.Equal(due) || got.LastError == "" || got.Attempts == 0 {
			t.Errorf("recovered %s = %s", e.ID, formatEvent(got))
		}
	}
	for _, want := range untouched {
		assertEvent(t, getEvent(t, q, want.ID), want)
	}

	// No Until: everything since; nothing left to recover in the range.
	n, err = q.EventRecover(ctx, parley.EventRecoverParams{Since: t0().Add(time.Hour), At: due})
	if err != nil || n != 2 {
		t.Errorf("EventRecover(since an hour, no until) = %d, %v; want 2 (dead at until, failed after)", n, err)
	}
	n, err = q.EventRecover(ctx, parley.EventRecoverParams{Since: t0().Add(2 * time.Hour), At: due})
	if err != nil || n != 0 {
		t.Errorf("EventRecover(since two hours) = %d, %v; want 0", n, err)
	}
}

// The txQuerier methods of the calls above.

func (q txQuerier) EventReplay(ctx context.Context, p parley.EventReplayParams) (e *parley.Event, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		e, err = tx.EventReplay(ctx, p)
		return err
	})
	return e, err
}

func (q txQuerier) EventRecover(ctx context.Context, p parley.EventRecoverParams) (n int, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		n, err = tx.EventRecover(ctx, p)
		return err
	})
	return n, err
}

func (q txQuerier) AttemptInsert(ctx context.Context, attempts []parley.Attempt) error {
	return q.s.InTx(ctx, func(tx parley.Querier) error { return tx.AttemptInsert(ctx, attempts) })
}

func (q txQuerier) AttemptList(ctx context.Context, eventID string) (as []parley.Attempt, err error) {
	err = q.s.InTx(ctx, func(tx parley.Querier) error {
		var err error
		as, err = tx.AttemptList(ctx, eventID)
		return err
	})
	return as, err
}
