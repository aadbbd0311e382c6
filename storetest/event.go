package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

func eventTests() []querierTest {
	return []querierTest{
		{"EventInsert/SetsSeqAndDefaults", testEventInsert},
		{"EventInsert/DuplicateIDFails", testEventInsertDuplicate},
		{"EventGet/KeepsEveryField", testEventGet},
		{"EventClaimDue/DueUnleasedInSeqOrder", testEventClaimDue},
		{"EventClaimDue/Limit", testEventClaimDueLimit},
		{"EventClaimDue/LeasedEventHoldsBackItsConversation", testEventClaimDueLeaseHoldsBack},
		{"EventClaimDue/WaitingEventHoldsBackItsConversation", testEventClaimDueWaitingHoldsBack},
		{"EventClaimDue/DeadEventLetsTheNextGo", testEventClaimDueDeadHead},
		{"EventRelease/MakesClaimedClaimableAtOnce", testEventRelease},
		{"EventRelease/IgnoresEventsNotLeased", testEventReleaseNotLeased},
		{"EventMarkDelivered/EndsDelivery", testEventMarkDelivered},
		{"EventRetry/ClearsLeaseAndReschedules", testEventRetry},
		{"EventMarkDead/EndsDelivery", testEventMarkDead},
		{"EventReleaseLeases/MakesLeasedClaimable", testEventReleaseLeases},
		{"EventNextDue/EarliestPendingUnleased", testEventNextDue},
		{"EventStats/CountsPendingAndOldest", testEventStats},
		{"EventList/Filters", testEventList},
		{"EventList/DefaultLimit", testEventListDefaultLimit},
	}
}

// newEvent returns an after-send event due at due. Its ID is made from
// name, so tests give their events distinct names.
func newEvent(name string, due time.Time) *parley.Event {
	return &parley.Event{
		ID:            "evt_" + name,
		Command:       parley.CommandC2CAfterSendMsg,
		Conversation:  parley.C2CConversation("alice", "bob"),
		Body:          []byte(fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","Name":%q}`, name)),
		Origin:        parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST},
		CreatedAt:     t0(),
		NextAttemptAt: due,
	}
}

// alone puts e in a conversation of its own, so that no other event of
// the test holds it back or is held back by it.
func alone(e *parley.Event) *parley.Event {
	e.Conversation = parley.GroupConversation("solo " + e.ID)
	return e
}

func insertEvent(t *testing.T, q parley.Querier, e *parley.Event) *parley.Event {
	t.Helper()
	if err := q.EventInsert(t.Context(), e); err != nil {
		t.Fatalf("EventInsert(%s): %v", e.ID, err)
	}
	return e
}

func getEvent(t *testing.T, q parley.Querier, id string) *parley.Event {
	t.Helper()
	e, err := q.EventGet(t.Context(), id)
	if err != nil {
		t.Fatalf("EventGet(%s): %v", id, err)
	}
	return e
}

func claim(t *testing.T, q parley.Querier, now, leaseUntil time.Time, limit int) []*parley.Event {
	t.Helper()
	es, err := q.EventClaimDue(t.Context(), parley.EventClaimDueParams{Now: now, LeaseUntil: leaseUntil, Limit: limit})
	if err != nil {
		t.Fatalf("EventClaimDue(now %v, lease until %v, limit %d): %v", now, leaseUntil, limit, err)
	}
	return es
}

// assertClaim claims at now with a lease of 30 s and checks the claimed
// events, in order.
func assertClaim(t *testing.T, q parley.Querier, now time.Time, limit int, want ...*parley.Event) {
	t.Helper()
	got := claim(t, q, now, now.Add(30*time.Second), limit)
	if !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Fatalf("EventClaimDue(now %v, limit %d)\n got %q\nwant %q", now.Sub(t0()), limit, eventIDs(got), eventIDs(want))
	}
	for i := range got {
		assertEvent(t, got[i], want[i])
	}
}

func eventIDs(es []*parley.Event) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func assertEvent(t *testing.T, got, want *parley.Event) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no event, want %+v", want)
	}
	ok := got.Seq == want.Seq && got.ID == want.ID && got.Command == want.Command &&
		got.Conversation == want.Conversation && string(got.Body) == string(want.Body) &&
		got.Origin == want.Origin && got.CreatedAt.Equal(want.CreatedAt) && got.State == want.State &&
		got.Attempts == want.Attempts && got.NextAttemptAt.Equal(want.NextAttemptAt) &&
		got.LastError == want.LastError && got.DeliveredAt.Equal(want.DeliveredAt)
	if !ok {
		t.Errorf("event\n got %s\nwant %s", formatEvent(got), formatEvent(want))
	}
}

func formatEvent(e *parley.Event) string {
	return fmt.Sprintf("{Seq:%d ID:%s Command:%s Conversation:%q Body:%s Origin:%+v CreatedAt:%v State:%s Attempts:%d NextAttemptAt:%v LastError:%q DeliveredAt:%v}",
		e.Seq, e.ID, e.Command, e.Conversation, e.Body, e.Origin, e.CreatedAt.UTC(), e.State, e.Attempts, e.NextAttemptAt.UTC(), e.LastError, e.DeliveredAt.UTC())
}

func testEventInsert(t *testing.T, q parley.Querier) {
	before := time.Now().Truncate(time.Millisecond)
	var prev int64
	var events []*parley.Event
	for i := range 5 {
		e := newEvent(fmt.Sprint(i), time.Time{})
		if i == 3 {
			e.NextAttemptAt = t0().Add(time.Hour)
		}
		if i == 4 {
			e.State = parley.EventDead // the outbox takes every event as pending
		}
		insertEvent(t, q, e)
		if e.Seq <= prev {
			t.Fatalf("event %d: Seq %d after %d; want increasing", i, e.Seq, prev)
		}
		prev = e.Seq
		events = append(events, e)
	}
	after := time.Now()

	for i, e := range events {
		if e.State != parley.EventPending {
			t.Errorf("event %d: State after insert = %q, want pending", i, e.State)
		}
		if i == 3 {
			if !e.NextAttemptAt.Equal(t0().Add(time.Hour)) {
				t.Errorf("event 3: NextAttemptAt = %v, want %v as given", e.NextAttemptAt, t0().Add(time.Hour))
			}
		} else if e.NextAttemptAt.Before(before) || e.NextAttemptAt.After(after) {
			t.Errorf("event %d: zero NextAttemptAt became %v, want now (between %v and %v)", i, e.NextAttemptAt, before, after)
		}
		stored := getEvent(t, q, e.ID)
		want := *e
		want.State = parley.EventPending
		// What the store keeps is what it reported on insert.
		assertEvent(t, stored, &want)
	}
}

func testEventInsertDuplicate(t *testing.T, q parley.Querier) {
	first := insertEvent(t, q, newEvent("first", t0()))
	dup := newEvent("second", t0())
	dup.ID = first.ID
	if err := q.EventInsert(t.Context(), dup); err == nil {
		t.Fatalf("EventInsert with a used ID succeeded; IDs must be unique")
	}
	got, err := q.EventList(t.Context(), parley.EventListParams{})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("EventList after the failed insert = %q, want only the first", eventIDs(got))
	}
	assertEvent(t, got[0], first)
}

func testEventGet(t *testing.T, q parley.Querier) {
	e := newEvent("full", t0().Add(1500*time.Millisecond))
	e.Command = parley.CommandC2CAfterWithdraw
	e.Conversation = parley.C2CConversation("zed", "amy")
	e.Body = []byte(`{"CallbackCommand":"C2C.CallbackAfterMsgWithDraw","From_Account":"zed","To_Account":"amy","MsgKey":"1_2_3","UnreadMsgNum":0}`)
	e.Origin = parley.Origin{ClientIP: "2001:db8::1", OptPlatform: "Web"}
	e.CreatedAt = t0().Add(-time.Minute)
	insertEvent(t, q, e)
	other := insertEvent(t, q, newEvent("other", t0()))

	assertEvent(t, getEvent(t, q, e.ID), e)
	assertEvent(t, getEvent(t, q, other.ID), other)
	for _, id := range []string{"evt_unknown", "", e.ID + "x", e.ID[:len(e.ID)-1]} {
		if got, err := q.EventGet(t.Context(), id); !errors.Is(err, parley.ErrNotFound) {
			t.Errorf("EventGet(%q) = %v, %v; want ErrNotFound", id, got, err)
		}
	}
}

func testEventClaimDue(t *testing.T, q parley.Querier) {
	e1 := insertEvent(t, q, alone(newEvent("e1 due -1s", t0().Add(-time.Second))))
	e2 := insertEvent(t, q, alone(newEvent("e2 due +1h", t0().Add(time.Hour))))
	e3 := insertEvent(t, q, alone(newEvent("e3 due -2s", t0().Add(-2*time.Second))))
	e4 := insertEvent(t, q, alone(newEvent("e4 due now", t0())))

	assertClaim(t, q, t0().Add(-3*time.Second), 10) // nothing due yet

	// Seq order, not due order: e3 is older in time but newer in the outbox.
	got := claim(t, q, t0(), t0().Add(30*time.Second), 2)
	if !slices.Equal(eventIDs(got), eventIDs([]*parley.Event{e1, e3})) {
		t.Fatalf("first claim = %q, want e1, e3", eventIDs(got))
	}
	for i, want := range []*parley.Event{e1, e3} {
		assertEvent(t, got[i], want) // a claim returns the whole event, still pending
	}

	// Leased events stay out while their lease lives; e4 was not claimed.
	got = claim(t, q, t0().Add(time.Second), t0().Add(31*time.Second), 10)
	if !slices.Equal(eventIDs(got), eventIDs([]*parley.Event{e4})) {
		t.Fatalf("second claim = %q, want e4", eventIDs(got))
	}
	assertClaim(t, q, t0().Add(10*time.Second), 10)
	if got := claim(t, q, t0().Add(29*time.Second), t0().Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("claim just before the leases end = %q, want none", eventIDs(got))
	}

	// e1 and e3's lease has passed, e4's has not.
	got = claim(t, q, t0().Add(30500*time.Millisecond), t0().Add(40*time.Second), 10)
	if !slices.Equal(eventIDs(got), eventIDs([]*parley.Event{e1, e3})) {
		t.Fatalf("claim after the first lease = %q, want e1, e3", eventIDs(got))
	}
	// All leases over and e2 due: everything, in Seq order.
	assertClaim(t, q, t0().Add(2*time.Hour), 10, e1, e2, e3, e4)
	// Claiming changes nothing but the lease.
	for _, e := range []*parley.Event{e1, e2, e3, e4} {
		assertEvent(t, getEvent(t, q, e.ID), e)
	}
}

func testEventClaimDueLimit(t *testing.T, q parley.Querier) {
	var es []*parley.Event
	for i := range 7 {
		es = append(es, insertEvent(t, q, alone(newEvent(fmt.Sprint(i), t0()))))
	}
	assertClaim(t, q, t0(), 1, es[0])
	assertClaim(t, q, t0(), 3, es[1:4]...)
	assertClaim(t, q, t0(), 10, es[4:]...)
	assertClaim(t, q, t0(), 10)
}

func testEventMarkDelivered(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	e1 := insertEvent(t, q, newEvent("e1", t0()))
	e2 := insertEvent(t, q, newEvent("e2", t0()))
	e3 := insertEvent(t, q, newEvent("e3", t0()))
	claim(t, q, t0(), t0().Add(time.Minute), 10)

	at := t0().Add(1234 * time.Millisecond)
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{e1.ID, e3.ID}, At: at}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	for _, e := range []*parley.Event{e1, e3} {
		want := *e
		want.State = parley.EventDelivered
		want.DeliveredAt = at
		want.Attempts = 1 // the attempt that delivered it counts
		assertEvent(t, getEvent(t, q, e.ID), &want)
	}
	assertEvent(t, getEvent(t, q, e2.ID), e2)

	// Delivered events are never claimed again; e2's lease ran out.
	assertClaim(t, q, t0().Add(24*time.Hour), 10, e2)
	// An event delivered without having been claimed is done too.
	e4 := insertEvent(t, q, newEvent("e4", t0()))
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{e4.ID}, At: at}); err != nil {
		t.Fatalf("EventMarkDelivered(e4): %v", err)
	}
	assertClaim(t, q, t0().Add(48*time.Hour), 10, e2)
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: nil, At: at}); err != nil {
		t.Errorf("EventMarkDelivered(no IDs): %v", err)
	}
}

func testEventRetry(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	e := insertEvent(t, q, newEvent("e", t0()))
	// In a conversation of its own: e's retries must not hold it back.
	other := insertEvent(t, q, alone(newEvent("other", t0())))
	assertClaim(t, q, t0(), 1, e) // leased until t0()+30s

	next := t0().Add(5 * time.Second)
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: e.ID, Attempts: 1, NextAttemptAt: next, LastError: "HTTP 502"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	want := *e
	want.Attempts, want.NextAttemptAt, want.LastError = 1, next, "HTTP 502"
	assertEvent(t, getEvent(t, q, e.ID), &want)

	assertClaim(t, q, t0().Add(4*time.Second), 10, other)
	// Due again at next, well inside the lease the retry released.
	assertClaim(t, q, next, 10, &want)

	next2 := t0().Add(time.Hour)
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: e.ID, Attempts: 2, NextAttemptAt: next2, LastError: "timeout"}); err != nil {
		t.Fatalf("EventRetry 2: %v", err)
	}
	want.Attempts, want.NextAttemptAt, want.LastError = 2, next2, "timeout"
	assertEvent(t, getEvent(t, q, e.ID), &want)
	assertClaim(t, q, next2.Add(-time.Millisecond), 10, other)
	assertClaim(t, q, next2.Add(time.Minute), 10, &want, other)

	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: "evt_unknown", Attempts: 1, NextAttemptAt: next}); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("EventRetry(unknown) = %v, want ErrNotFound", err)
	}
}

func testEventMarkDead(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	e := insertEvent(t, q, newEvent("e", t0()))
	other := insertEvent(t, q, newEvent("other", t0()))
	assertClaim(t, q, t0(), 1, e)

	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: e.ID, Attempts: 8, LastError: "HTTP 500", At: t0().Add(time.Second)}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	want := *e
	want.State, want.Attempts, want.LastError = parley.EventDead, 8, "HTTP 500"
	got := getEvent(t, q, e.ID)
	// NextAttemptAt of a dead event means nothing; everything else is kept.
	want.NextAttemptAt = got.NextAttemptAt
	assertEvent(t, got, &want)

	assertClaim(t, q, t0().Add(365*24*time.Hour), 10, other)
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{other.ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	if at, ok, err := q.EventNextDue(ctx); err != nil || ok {
		t.Errorf("EventNextDue with only a dead and a delivered event = %v, %v, %v; want ok false", at, ok, err)
	}
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: "evt_unknown", Attempts: 1, At: t0()}); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("EventMarkDead(unknown) = %v, want ErrNotFound", err)
	}
}

func testEventReleaseLeases(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	e1 := insertEvent(t, q, newEvent("e1", t0()))
	e2 := insertEvent(t, q, newEvent("e2", t0()))
	e3 := insertEvent(t, q, newEvent("e3 later", t0().Add(time.Hour)))
	e4 := insertEvent(t, q, newEvent("e4 delivered", t0()))
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{e4.ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	// A crashed process held these leases for a day.
	if got := claim(t, q, t0(), t0().Add(24*time.Hour), 10); !slices.Equal(eventIDs(got), eventIDs([]*parley.Event{e1, e2})) {
		t.Fatalf("claim = %q, want e1, e2", eventIDs(got))
	}
	assertClaim(t, q, t0().Add(time.Minute), 10)

	if err := q.EventReleaseLeases(ctx); err != nil {
		t.Fatalf("EventReleaseLeases: %v", err)
	}
	assertClaim(t, q, t0().Add(time.Minute), 10, e1, e2)
	assertClaim(t, q, t0().Add(time.Minute), 10)
	// Releasing does not make anything due early or bring back what is
	// done: e3 waits for its time, e4 stays delivered.
	if err := q.EventReleaseLeases(ctx); err != nil {
		t.Fatalf("EventReleaseLeases again: %v", err)
	}
	assertClaim(t, q, t0().Add(time.Minute), 10, e1, e2)
	assertClaim(t, q, t0().Add(2*time.Hour), 10, e1, e2, e3)
}

func testEventNextDue(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	nextDue := func() (time.Time, bool) {
		t.Helper()
		at, ok, err := q.EventNextDue(ctx)
		if err != nil {
			t.Fatalf("EventNextDue: %v", err)
		}
		return at, ok
	}
	assertNextDue := func(want time.Time) {
		t.Helper()
		if at, ok := nextDue(); !ok || !at.Equal(want) {
			t.Fatalf("EventNextDue = %v, %v; want %v, true", at, ok, want)
		}
	}
	if at, ok := nextDue(); ok {
		t.Fatalf("EventNextDue on an empty outbox = %v, true; want ok false", at)
	}

	late := insertEvent(t, q, alone(newEvent("late", t0().Add(10*time.Second))))
	assertNextDue(t0().Add(10 * time.Second))
	early := insertEvent(t, q, alone(newEvent("early", t0().Add(5*time.Second))))
	assertNextDue(t0().Add(5 * time.Second))

	// A leased event is in flight: the next due one is the other.
	assertClaim(t, q, t0().Add(6*time.Second), 1, early)
	assertNextDue(t0().Add(10 * time.Second))

	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{late.ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	if at, ok := nextDue(); ok {
		t.Fatalf("EventNextDue with only a leased event = %v, true; want ok false", at)
	}

	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: early.ID, Attempts: 1, NextAttemptAt: t0().Add(time.Minute), LastError: "x"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	assertNextDue(t0().Add(time.Minute))
	// Overdue events count as due at their own time, not now.
	insertEvent(t, q, newEvent("overdue", t0().Add(-time.Hour)))
	assertNextDue(t0().Add(-time.Hour))
}

func testEventStats(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	assertStats := func(want parley.EventStats) {
		t.Helper()
		got, err := q.EventStats(ctx)
		if err != nil {
			t.Fatalf("EventStats: %v", err)
		}
		if got.Pending != want.Pending || !got.OldestPending.Equal(want.OldestPending) {
			t.Fatalf("EventStats = %+v, want %+v", got, want)
		}
	}
	assertStats(parley.EventStats{})

	// Created out of Seq order: the oldest is by CreatedAt, not by Seq.
	created := func(name string, at time.Time) *parley.Event {
		e := alone(newEvent(name, t0()))
		e.CreatedAt = at
		return insertEvent(t, q, e)
	}
	newer := created("newer", t0().Add(time.Minute))
	older := created("older", t0().Add(-time.Minute))
	leased := created("leased", t0().Add(2*time.Minute))
	assertStats(parley.EventStats{Pending: 3, OldestPending: t0().Add(-time.Minute)})

	// A leased event is still pending; one delivered or dead is not.
	assertClaim(t, q, t0(), 3, newer, older, leased)
	assertStats(parley.EventStats{Pending: 3, OldestPending: t0().Add(-time.Minute)})
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{older.ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	assertStats(parley.EventStats{Pending: 2, OldestPending: t0().Add(time.Minute)})
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: newer.ID, Attempts: 1, LastError: "x", At: t0()}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	assertStats(parley.EventStats{Pending: 1, OldestPending: t0().Add(2 * time.Minute)})
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: leased.ID, Attempts: 1, NextAttemptAt: t0().Add(time.Hour), LastError: "x"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	assertStats(parley.EventStats{Pending: 1, OldestPending: t0().Add(2 * time.Minute)})
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{leased.ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	assertStats(parley.EventStats{})
}

func testEventList(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	cmds := []string{parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw}
	var es []*parley.Event
	for i := range 6 {
		e := newEvent(fmt.Sprint(i), t0())
		e.Command = cmds[i%2]
		es = append(es, insertEvent(t, q, e))
	}
	if err := q.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{es[1].ID}, At: t0()}); err != nil {
		t.Fatalf("EventMarkDelivered: %v", err)
	}
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: es[2].ID, Attempts: 1, LastError: "x", At: t0()}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	pick := func(idx ...int) []string {
		var ids []string
		for _, i := range idx {
			ids = append(ids, es[i].ID)
		}
		return ids
	}
	tests := []struct {
		name string
		p    parley.EventListParams
		want []string
	}{
		{"no filter", parley.EventListParams{}, pick(0, 1, 2, 3, 4, 5)},
		{"pending", parley.EventListParams{State: parley.EventPending}, pick(0, 3, 4, 5)},
		{"delivered", parley.EventListParams{State: parley.EventDelivered}, pick(1)},
		{"dead", parley.EventListParams{State: parley.EventDead}, pick(2)},
		{"command", parley.EventListParams{Command: parley.CommandC2CAfterWithdraw}, pick(1, 3, 5)},
		{"unknown command", parley.EventListParams{Command: "C2C.Nothing"}, nil},
		{"state and command", parley.EventListParams{State: parley.EventPending, Command: parley.CommandC2CAfterWithdraw}, pick(3, 5)},
		{"after seq", parley.EventListParams{AfterSeq: es[2].Seq}, pick(3, 4, 5)},
		{"after the last", parley.EventListParams{AfterSeq: es[5].Seq}, nil},
		{"limit", parley.EventListParams{Limit: 2}, pick(0, 1)},
		{"everything", parley.EventListParams{State: parley.EventPending, Command: parley.CommandC2CAfterSendMsg, AfterSeq: es[0].Seq, Limit: 1}, pick(4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.EventList(ctx, tc.p)
			if err != nil {
				t.Fatalf("EventList(%+v): %v", tc.p, err)
			}
			if !slices.Equal(eventIDs(got), tc.want) {
				t.Fatalf("EventList(%+v)\n got %q\nwant %q", tc.p, eventIDs(got), tc.want)
			}
			for _, e := range got {
				want := getEvent(t, q, e.ID)
				assertEvent(t, e, want)
			}
		})
	}
}

func testEventListDefaultLimit(t *testing.T, q parley.Querier) {
	var ids []string
	for i := range 105 {
		ids = append(ids, insertEvent(t, q, newEvent(fmt.Sprint(i), t0())).ID)
	}
	got, err := q.EventList(t.Context(), parley.EventListParams{})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	if !slices.Equal(eventIDs(got), ids[:100]) {
		t.Fatalf("EventList with zero Limit returned %d events, want the first 100 of 105", len(got))
	}
	got, err = q.EventList(t.Context(), parley.EventListParams{AfterSeq: got[99].Seq})
	if err != nil {
		t.Fatalf("EventList(after 100): %v", err)
	}
	if !slices.Equal(eventIDs(got), ids[100:]) {
		t.Fatalf("EventList after the first 100 = %d events, want the last 5", len(got))
	}
}

// inConversation inserts an event of conv due at due.
func inConversation(t *testing.T, q parley.Querier, conv, name string, due time.Time) *parley.Event {
	t.Helper()
	e := newEvent(name, due)
	e.Conversation = conv
	return insertEvent(t, q, e)
}

func markDelivered(t *testing.T, q parley.Querier, at time.Time, es ...*parley.Event) {
	t.Helper()
	if err := q.EventMarkDelivered(t.Context(), parley.EventMarkDeliveredParams{IDs: eventIDs(es), At: at}); err != nil {
		t.Fatalf("EventMarkDelivered(%q): %v", eventIDs(es), err)
	}
}

func release(t *testing.T, q parley.Querier, ids ...string) {
	t.Helper()
	if err := q.EventRelease(t.Context(), ids); err != nil {
		t.Fatalf("EventRelease(%q): %v", ids, err)
	}
}

// The conversations of the EventClaimDue and EventRelease tests; the third
// one's name extends the second's.
func conversations() (a, b, c string) {
	return parley.C2CConversation("alice", "bob"), parley.GroupConversation("g"), parley.GroupConversation("g1")
}

func testEventClaimDueLeaseHoldsBack(t *testing.T, q parley.Querier) {
	a, b, c := conversations()
	a1 := inConversation(t, q, a, "a1", t0())
	b1 := inConversation(t, q, b, "b1", t0())
	a2 := inConversation(t, q, a, "a2", t0())
	b2 := inConversation(t, q, b, "b2", t0())
	a3 := inConversation(t, q, a, "a3", t0())
	c1 := inConversation(t, q, c, "c1", t0())

	// The Limit may cut a conversation short; what it leaves waits.
	assertClaim(t, q, t0(), 1, a1)
	// a1's lease holds back a2 and a3, and they take no place under the
	// Limit: the rest of the outbox goes on.
	assertClaim(t, q, t0(), 2, b1, b2)
	assertClaim(t, q, t0(), 10, c1)
	assertClaim(t, q, t0().Add(time.Second), 10)

	// a1 delivered: the next of its conversation go, in order.
	markDelivered(t, q, t0().Add(time.Second), a1)
	assertClaim(t, q, t0().Add(2*time.Second), 10, a2, a3) // leased until t0+32s

	// b2 is acknowledged before b1, whose attempt is still going: b1's
	// lease ends first, and b1 alone comes back.
	markDelivered(t, q, t0().Add(3*time.Second), b2)
	assertClaim(t, q, t0().Add(30500*time.Millisecond), 10, b1, c1)
	// Expired leases: the earliest of a conversation comes back with the
	// rest behind it, in one claim.
	markDelivered(t, q, t0().Add(31*time.Second), b1)
	a4 := inConversation(t, q, a, "a4", t0())
	assertClaim(t, q, t0().Add(33*time.Second), 10, a2, a3, a4)
}

func testEventClaimDueWaitingHoldsBack(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	a, b, c := conversations()
	a1 := inConversation(t, q, a, "a1", t0())
	b1 := inConversation(t, q, b, "b1 due in an hour", t0().Add(time.Hour))
	a2 := inConversation(t, q, a, "a2", t0())
	b2 := inConversation(t, q, b, "b2", t0())
	c1 := inConversation(t, q, c, "c1", t0())

	assertClaim(t, q, t0(), 1, a1)
	next := t0().Add(time.Minute)
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: a1.ID, Attempts: 1, NextAttemptAt: next, LastError: "HTTP 503"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	retried := *a1
	retried.Attempts, retried.NextAttemptAt, retried.LastError = 1, next, "HTTP 503"
	// a1 waits for its retry, its lease gone, and a2 waits behind it; b1
	// is not due yet, and b2 waits behind it.
	assertClaim(t, q, t0().Add(time.Second), 10, c1)
	markDelivered(t, q, t0().Add(time.Second), c1)
	assertClaim(t, q, next.Add(-time.Millisecond), 10)

	assertClaim(t, q, next, 10, &retried, a2)
	// Every lease over and b1 due: both conversations, in Seq order.
	assertClaim(t, q, t0().Add(time.Hour), 10, &retried, b1, a2, b2)
}

func testEventClaimDueDeadHead(t *testing.T, q parley.Querier) {
	a, b, _ := conversations()
	a1 := inConversation(t, q, a, "a1", t0())
	a2 := inConversation(t, q, a, "a2", t0())
	a3 := inConversation(t, q, a, "a3", t0())
	b1 := inConversation(t, q, b, "b1", t0())

	assertClaim(t, q, t0(), 1, a1)
	assertClaim(t, q, t0(), 10, b1)
	if err := q.EventMarkDead(t.Context(), parley.EventMarkDeadParams{ID: a1.ID, Attempts: 8, LastError: "HTTP 500", At: t0()}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	// A dead event holds back nothing: replaying it is up to an operator.
	assertClaim(t, q, t0().Add(time.Second), 10, a2, a3)
}

func testEventRelease(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	a, b, c := conversations()
	a1 := inConversation(t, q, a, "a1", t0())
	a2 := inConversation(t, q, a, "a2", t0())
	b1 := inConversation(t, q, b, "b1", t0())
	c1 := inConversation(t, q, c, "c1", t0())
	if got := claim(t, q, t0(), t0().Add(time.Hour), 10); !slices.Equal(eventIDs(got), eventIDs([]*parley.Event{a1, a2, b1, c1})) {
		t.Fatalf("claim = %q, want a1, a2, b1, c1", eventIDs(got))
	}

	// Released at once, long before the lease would end; the others
	// stay leased.
	release(t, q, b1.ID)
	assertClaim(t, q, t0().Add(time.Second), 10, b1)
	// a2 is released, but a1's lease still holds it back.
	release(t, q, a2.ID)
	assertClaim(t, q, t0().Add(2*time.Second), 10)
	release(t, q, a1.ID)
	assertClaim(t, q, t0().Add(3*time.Second), 10, a1, a2)

	// Releasing is not an attempt: nothing but the lease changes.
	for _, e := range []*parley.Event{a1, a2, b1, c1} {
		assertEvent(t, getEvent(t, q, e.ID), e)
	}
	if at, ok, err := q.EventNextDue(ctx); err != nil || ok {
		t.Fatalf("EventNextDue with every event leased = %v, %v, %v; want ok false", at, ok, err)
	}
	release(t, q, c1.ID)
	if at, ok, err := q.EventNextDue(ctx); err != nil || !ok || !at.Equal(t0()) {
		t.Errorf("EventNextDue after releasing c1 = %v, %v, %v; want %v, true", at, ok, err, t0())
	}
	release(t, q)
	release(t, q, []string{}...)
	assertClaim(t, q, t0().Add(4*time.Second), 10, c1)
}

func testEventReleaseNotLeased(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	delivered := insertEvent(t, q, alone(newEvent("delivered", t0())))
	dead := insertEvent(t, q, alone(newEvent("dead", t0())))
	retrying := insertEvent(t, q, alone(newEvent("retrying", t0())))
	future := insertEvent(t, q, alone(newEvent("future", t0().Add(time.Hour))))
	assertClaim(t, q, t0(), 10, delivered, dead, retrying)

	markDelivered(t, q, t0().Add(time.Second), delivered)
	if err := q.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: dead.ID, Attempts: 3, LastError: "HTTP 500", At: t0().Add(time.Second)}); err != nil {
		t.Fatalf("EventMarkDead: %v", err)
	}
	if err := q.EventRetry(ctx, parley.EventRetryParams{ID: retrying.ID, Attempts: 1, NextAttemptAt: t0().Add(10 * time.Minute), LastError: "timeout"}); err != nil {
		t.Fatalf("EventRetry: %v", err)
	}
	var before []*parley.Event
	for _, e := range []*parley.Event{delivered, dead, retrying, future} {
		before = append(before, getEvent(t, q, e.ID))
	}

	release(t, q, delivered.ID, dead.ID, retrying.ID, future.ID, "evt_unknown")
	for _, e := range before {
		assertEvent(t, getEvent(t, q, e.ID), e)
	}
	// Nothing was leased, so nothing became claimable: the retry and the
	// future event wait for their time, the others are done.
	assertClaim(t, q, t0().Add(2*time.Second), 10)
	assertClaim(t, q, t0().Add(10*time.Minute), 10, before[2])
	assertClaim(t, q, t0().Add(2*time.Hour), 10, before[2], before[3])
}
