package hub_test

import (
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubtest"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  hub.Config
		want string
	}{
		{"no Encode", hub.Config{}, "Encode"},
		{"negative QueueMessages", hub.Config{Encode: encode, QueueMessages: -1}, "QueueMessages"},
		{"negative QueueBytes", hub.Config{Encode: encode, QueueBytes: -1}, "QueueBytes"},
		{"negative MaxSessionsPerUser", hub.Config{Encode: encode, MaxSessionsPerUser: -1}, "MaxSessionsPerUser"},
		{"negative Shards", hub.Config{Encode: encode, Shards: -1}, "Shards"},
		{"negative DispatchQueue", hub.Config{Encode: encode, DispatchQueue: -1}, "DispatchQueue"},
		{"tiny PingInterval", hub.Config{Encode: encode, PingInterval: time.Millisecond}, "PingInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := hub.New(tt.cfg)
			if err == nil {
				h.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

func TestC2C(t *testing.T) {
	h := setup(t, hub.Config{})
	alice1 := register(h, "alice")
	alice2 := register(h, "alice") // a second device
	bob := register(h, "bob")
	carol := register(h, "carol")
	conv := parley.C2CConversation("alice", "bob")

	// alice1 sends to bob with SyncOtherMachine: bob and alice's other
	// device are pushed it, alice1 has its answer.
	h.Publish(change(conv, 1), parley.Audience{Users: []string{"bob", "alice"}, SkipSession: alice1.ID()})
	// A change of the same conversation that skips no one: once it has
	// arrived, so has anything before it.
	h.Publish(change(conv, 2), parley.Audience{Users: []string{"bob", "alice"}})
	for _, tt := range []struct {
		name string
		c    conn
		want []string
	}{
		{"alice1", alice1, []string{msg(conv, 2)}},
		{"alice2", alice2, []string{msg(conv, 1), msg(conv, 2)}},
		{"bob", bob, []string{msg(conv, 1), msg(conv, 2)}},
	} {
		got := tt.c.tr.AwaitMessages(t, len(tt.want))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s got %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := mark(t, h, "carol-only", 1, carol)[0]; len(got) != 0 {
		t.Errorf("carol, not in the audience, got %q", got)
	}
	if got, want := h.Sessions("alice"), []hub.SessionInfo{alice1.Info(), alice2.Info()}; !slices.Equal(got, want) {
		t.Errorf("Sessions(alice) = %v, want %v", got, want)
	}
	if got := h.Sessions("nobody"); len(got) != 0 {
		t.Errorf("Sessions(nobody) = %v", got)
	}
}

func TestVisibility(t *testing.T) {
	h := setup(t, hub.Config{})
	alice1, alice2 := register(h, "alice", "g"), register(h, "alice", "g")
	bob := register(h, "bob", "g")
	conv := parley.C2CConversation("alice", "bob")
	gconv := parley.GroupConversation("g")
	both := parley.Audience{Users: []string{"alice", "bob"}}

	onlyAlice := change(conv, 1)
	onlyAlice.Only = "alice" // a read mark
	h.Publish(onlyAlice, both)
	exceptAlice := change(conv, 2)
	exceptAlice.Except = "alice" // SyncOtherMachine 2
	h.Publish(exceptAlice, both)
	groupExcept := change(gconv, 1)
	groupExcept.Except = "bob"
	h.Publish(groupExcept, parley.Audience{GroupID: "g"})

	got := mark(t, h, conv, 1, alice1, alice2, bob)
	for i, want := range [][]string{{msg(conv, 1)}, {msg(conv, 1)}, {msg(conv, 2)}} {
		if mine := filter(got[i], conv); !slices.Equal(mine, want) {
			t.Errorf("session %d got %q of %s, want %q", i, mine, conv, want)
		}
	}
	got = mark(t, h, gconv, 1, alice1, alice2, bob)
	for i, want := range [][]string{{msg(gconv, 1)}, {msg(gconv, 1)}, nil} {
		if mine := filter(got[i], gconv); !slices.Equal(mine, want) {
			t.Errorf("session %d got %q of %s, want %q", i, mine, gconv, want)
		}
	}
}

// filter keeps the messages of one conversation.
// Markers (Seq 1000 and up) are left out.
func filter(msgs []string, conversation string) []string {
	var kept []string
	for _, m := range msgs {
		seq, err := strconv.ParseUint(strings.TrimPrefix(m, conversation+"#"), 10, 64)
		if err == nil && strings.HasPrefix(m, conversation+"#") && seq < 1000 {
			kept = append(kept, m)
		}
	}
	return kept
}

// A user named twice, or named and a member of the group, is pushed a
// change once.
func TestNoDuplicates(t *testing.T) {
	h := setup(t, hub.Config{})
	many := make([]string, 20) // more than the short-list scan handles
	for i := range many {
		many[i] = "u" + string(rune('a'+i))
	}
	bob := register(h, "bob", "g")
	ua := register(h, "ua", "g")
	gconv := parley.GroupConversation("g")
	h.Publish(change(gconv, 1), parley.Audience{Users: []string{"bob", "bob"}, GroupID: "g"})
	h.Publish(change(gconv, 2), parley.Audience{Users: append(many, "bob", "ua", "bob"), GroupID: "g"})
	want := []string{msg(gconv, 1), msg(gconv, 2)}
	for _, c := range []conn{bob, ua} {
		if got := mark(t, h, gconv, 1, c)[0]; !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", c.Info().User, got, want)
		}
	}
}

func TestGroupMembership(t *testing.T) {
	h := setup(t, hub.Config{})
	alice := register(h, "alice", "g", "other")
	bob := register(h, "bob", "g")
	carol := register(h, "carol")
	gconv := parley.GroupConversation("g")
	all := []conn{alice, bob, carol}

	h.Publish(change(gconv, 1), parley.Audience{GroupID: "g"})
	got := mark(t, h, gconv, 1, all...)
	wantEach := [][]string{{msg(gconv, 1)}, {msg(gconv, 1)}, nil}
	for i := range all {
		if !slices.Equal(got[i], wantEach[i]) {
			t.Errorf("%s got %q, want %q", all[i].Info().User, got[i], wantEach[i])
		}
	}

	// carol joins, bob leaves, and dave (offline) joins: ignored.
	h.GroupMembersChanged("g", []string{"carol", "dave"}, []string{"bob"})
	h.Publish(change(gconv, 2), parley.Audience{GroupID: "g"})
	got = mark(t, h, gconv, 2, all...)
	// The change has been applied: dave comes online after it, with no
	// groups loaded (the store would have g; this checks the hub ignored
	// the join).
	dave := register(h, "dave")
	wantEach = [][]string{{msg(gconv, 1), msg(gconv, 2)}, {msg(gconv, 1)}, {msg(gconv, 2)}}
	for i := range all {
		if mine := filter(got[i], gconv); !slices.Equal(mine, wantEach[i]) {
			t.Errorf("after join/leave %s got %q, want %q", all[i].Info().User, mine, wantEach[i])
		}
	}
	if st := h.Stats(); st.Groups != 2 || st.Users != 4 || st.Sessions != 4 {
		t.Errorf("Stats = %+v, want 2 groups, 4 users, 4 sessions", st)
	}

	h.GroupDestroyed("g")
	h.Publish(change(gconv, 3), parley.Audience{GroupID: "g"})
	for i, got := range mark(t, h, gconv, 3, append(all, dave)...) {
		if slices.Contains(got, msg(gconv, 3)) {
			t.Errorf("session %d got a change of a destroyed group", i)
		}
	}
	if st := h.Stats(); st.Groups != 1 {
		t.Errorf("Stats.Groups = %d after destroy, want 1", st.Groups)
	}
	if got := dave.tr.Messages(); len(filter(got, gconv)) != 0 {
		t.Errorf("dave, who joined while offline, got %q", got)
	}
}

// Membership changes that reach the hub between Register and Subscribe win
// over the list the caller loaded before them.
func TestSubscribeAfterMembershipChanges(t *testing.T) {
	h := setup(t, hub.Config{})
	c1 := conn{tr: hubtest.New()}
	c1.Session = h.Register(hub.SessionInfo{User: "dave"}, c1.tr)
	// While dave's groups load: dave leaves g2 and joins g3.
	h.GroupMembersChanged("g2", nil, []string{"dave"})
	h.GroupMembersChanged("g3", []string{"dave"}, nil)
	// Markers through both groups' conversations make sure the hub has
	// applied the changes before Subscribe.
	mark(t, h, parley.GroupConversation("g2"), 1, c1)
	mark(t, h, parley.GroupConversation("g3"), 1, c1)
	h.Subscribe(c1.Session, []string{"g1", "g2"}) // loaded before the changes

	for _, g := range []string{"g1", "g2", "g3"} {
		h.Publish(change(parley.GroupConversation(g), 1), parley.Audience{GroupID: g})
	}
	assertGroups(t, h, c1, map[string]bool{"g1": true, "g2": false, "g3": true}, 2)

	// A second device: dave leaves g3 while its list loads.
	c2 := conn{tr: hubtest.New()}
	c2.Session = h.Register(hub.SessionInfo{User: "dave"}, c2.tr)
	h.GroupMembersChanged("g3", nil, []string{"dave"})
	mark(t, h, parley.GroupConversation("g3"), 3, c2)
	h.Subscribe(c2.Session, []string{"g1", "g3"})
	for _, g := range []string{"g1", "g2", "g3"} {
		h.Publish(change(parley.GroupConversation(g), 4), parley.Audience{GroupID: g})
	}
	assertGroups(t, h, c2, map[string]bool{"g1": true, "g2": false, "g3": false}, 5)

	// When the last session closes, the memberships go with it.
	c1.Close(1000, "bye")
	c2.Close(1000, "bye")
	if st := h.Stats(); st.Groups != 0 || st.Users != 0 || st.Sessions != 0 {
		t.Errorf("Stats = %+v after dave left, want nothing", st)
	}
	c3 := register(h, "dave")
	h.Publish(change(parley.GroupConversation("g1"), 6), parley.Audience{GroupID: "g1"})
	assertGroups(t, h, c3, map[string]bool{"g1": false}, 7)
}

// assertGroups checks c's memberships: after a marker through each
// group's conversation, c has been pushed a change of the group (other
// than a marker) iff want[group].
func assertGroups(t *testing.T, h *hub.Hub, c conn, want map[string]bool, markerN uint64) {
	t.Helper()
	for g, member := range want {
		conv := parley.GroupConversation(g)
		before := filter(mark(t, h, conv, markerN, c)[0], conv)
		got := false
		for _, m := range before {
			if _, seq := decode(t, m); seq < 1000 {
				got = true
			}
		}
		if got != member {
			t.Errorf("%s: pushed changes of %s: %v, want %v (messages %q)", c.ID(), g, got, member, before)
		}
	}
}

func TestSendKeepsOrderWithPushes(t *testing.T) {
	h := setup(t, hub.Config{})
	alice := register(h, "alice")
	conv := parley.C2CConversation("alice", "bob")
	var want []string
	for i := uint64(1); i <= 50; i++ {
		h.Publish(change(conv, i), parley.Audience{Users: []string{"alice"}})
		want = append(want, msg(conv, i))
	}
	// Once a push has arrived, a reply sent now goes after it.
	alice.tr.AwaitMessages(t, 50)
	if !alice.Send([]byte("reply")) {
		t.Fatal("Send on an open session returned false")
	}
	h.Publish(change(conv, 51), parley.Audience{Users: []string{"alice"}})
	want = append(want, "reply", msg(conv, 51))
	if got := alice.tr.AwaitMessages(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	alice.Close(1000, "bye")
	if alice.Send([]byte("late")) {
		t.Error("Send on a closed session returned true")
	}
	if code, reason, _ := alice.tr.Closed(); code != 1000 || reason != "bye" {
		t.Errorf("closed with %d %q, want 1000 bye", code, reason)
	}
}

func TestSendOverflow(t *testing.T) {
	h := setup(t, hub.Config{QueueMessages: 4})
	alice := register(h, "alice")
	alice.tr.Block()
	sent := 0
	for alice.Send([]byte("x")) {
		sent++
		if sent > 6 { // 4 queued and 1 in the blocked Write at most
			t.Fatalf("Send accepted %d messages with QueueMessages 4", sent)
		}
	}
	code, reason := alice.tr.AwaitClosed(t)
	if code != hub.CloseSlowConsumer || !strings.Contains(reason, "slow consumer: 4 messages queued") {
		t.Errorf("closed with %d %q", code, reason)
	}
	<-alice.Done()
	if st := h.Stats(); st.SlowConsumers != 1 || st.Sessions != 0 {
		t.Errorf("Stats = %+v, want 1 slow consumer and no session", st)
	}
}

func TestQueueBytes(t *testing.T) {
	h := setup(t, hub.Config{QueueBytes: 100})
	alice := register(h, "alice")
	alice.tr.Block()
	// A message bigger than QueueBytes is queued when the queue is empty.
	if !alice.Send(make([]byte, 500)) {
		t.Fatal("a big message into an empty queue was refused")
	}
	for i := 0; alice.Send(make([]byte, 40)); i++ {
		if i > 4 {
			t.Fatal("QueueBytes 100 took more than 4 messages of 40 bytes")
		}
	}
	code, reason := alice.tr.AwaitClosed(t)
	if code != hub.CloseSlowConsumer || !strings.Contains(reason, "bytes queued") {
		t.Errorf("closed with %d %q", code, reason)
	}
}

func TestSlowConsumerIsCutOff(t *testing.T) {
	h := setup(t, hub.Config{QueueMessages: 16})
	slow := register(h, "slow", "g")
	slow.tr.Block() // stops reading
	fast := []conn{register(h, "fast1", "g"), register(h, "fast2", "g"), register(h, "fast1", "g")}
	gconv := parley.GroupConversation("g")
	// Each change reaches the fast sessions while the slow one holds its
	// writer, before the next is published: a burst beyond QueueMessages
	// would overflow a fast session too, if its writer was not scheduled.
	const n = 200
	var want []string
	for i := uint64(1); i <= n; i++ {
		h.Publish(change(gconv, i), parley.Audience{GroupID: "g"})
		want = append(want, msg(gconv, i))
		for _, c := range fast {
			c.tr.AwaitMessages(t, int(i))
		}
	}
	for _, c := range fast {
		if got := c.tr.Messages(); !slices.Equal(got, want) {
			t.Errorf("%s got %d messages, not the %d in order", c.ID(), len(got), n)
		}
	}
	code, reason := slow.tr.AwaitClosed(t)
	if code != hub.CloseSlowConsumer || reason != "slow consumer: 16 messages queued" {
		t.Errorf("slow consumer closed with %d %q", code, reason)
	}
	select {
	case <-slow.Done():
	default:
		t.Error("Done is open after the cut-off")
	}
	eventually(t, "the slow session unregistered", func() bool { return h.Stats().Sessions == 3 })
	st := h.Stats()
	if st.SlowConsumers != 1 || st.Users != 2 || st.DroppedPublishes != 0 {
		t.Errorf("Stats = %+v, want 1 slow consumer, 2 users, none dropped", st)
	}
	if st.Pushed < 3*n {
		t.Errorf("Stats.Pushed = %d, want at least %d", st.Pushed, 3*n)
	}
}

func TestWriteErrorClosesSession(t *testing.T) {
	h := setup(t, hub.Config{})
	alice := register(h, "alice")
	bob := register(h, "bob")
	alice.tr.Fail(errors.New("connection reset"))
	conv := parley.C2CConversation("alice", "bob")
	h.Publish(change(conv, 1), parley.Audience{Users: []string{"alice", "bob"}})
	<-alice.Done()
	if code, _ := alice.tr.AwaitClosed(t); code != 1011 {
		t.Errorf("closed with %d, want 1011", code)
	}
	bob.tr.AwaitMessages(t, 1)
	eventually(t, "alice unregistered", func() bool { return len(h.Sessions("alice")) == 0 })
}

func TestMaxSessionsPerUser(t *testing.T) {
	h := setup(t, hub.Config{MaxSessionsPerUser: 2})
	first, second := register(h, "alice"), register(h, "alice")
	third := register(h, "alice")
	code, reason := first.tr.AwaitClosed(t)
	if code != hub.CloseTooManySessions || !strings.Contains(reason, "too many sessions") {
		t.Errorf("oldest session closed with %d %q", code, reason)
	}
	<-first.Done()
	if got, want := h.Sessions("alice"), []hub.SessionInfo{second.Info(), third.Info()}; len(got) != len(want) {
		t.Errorf("Sessions = %v, want 2", got)
	}
	if _, _, closed := second.tr.Closed(); closed {
		t.Error("the second session was closed too")
	}
	conv := parley.C2CConversation("alice", "bob")
	h.Publish(change(conv, 1), parley.Audience{Users: []string{"alice"}})
	second.tr.AwaitMessages(t, 1)
	third.tr.AwaitMessages(t, 1)
	if got := first.tr.Messages(); len(got) != 0 {
		t.Errorf("the closed session got %q", got)
	}
	if st := h.Stats(); st.Sessions != 2 || st.Users != 1 {
		t.Errorf("Stats = %+v, want 2 sessions of 1 user", st)
	}
}

func TestSessionIDs(t *testing.T) {
	h1, h2 := setup(t, hub.Config{}), setup(t, hub.Config{})
	seen := make(map[string]bool)
	for _, h := range []*hub.Hub{h1, h2} {
		for range 100 {
			id := register(h, "u").ID()
			if seen[id] {
				t.Fatalf("ID %q given twice", id)
			}
			if len(id) > 12 {
				t.Errorf("ID %q is longer than 12", id)
			}
			seen[id] = true
		}
	}
}

func TestDoneAndDoubleClose(t *testing.T) {
	h := setup(t, hub.Config{})
	a := register(h, "a")
	done := a.Done()
	select {
	case <-done:
		t.Fatal("Done closed on an open session")
	default:
	}
	a.Close(4000, "first")
	a.Close(4001, "second")
	<-done
	<-a.Done()
	if code, reason, _ := a.tr.Closed(); code != 4000 || reason != "first" {
		t.Errorf("closed with %d %q, want the first Close's", code, reason)
	}
	b := register(h, "b")
	b.Close(1000, "")
	<-b.Done() // asked for only after the close
}

func TestPingsAreSpread(t *testing.T) {
	// 200ms cut into 10 slots of 20ms; ten sessions registered in a row
	// fall into ten buckets.
	clk := newClock(time.Unix(1_700_000_000, 0))
	h := setup(t, hub.Config{PingInterval: 200 * time.Millisecond, Now: clk.Now})
	var conns []conn
	for range 10 {
		conns = append(conns, register(h, "u"))
	}
	pings := func() (total int, each []int) {
		for _, c := range conns {
			each = append(each, c.tr.Pings())
			total += c.tr.Pings()
		}
		return total, each
	}
	clk.Advance(20 * time.Millisecond) // one slot: one bucket
	eventually(t, "the first ping", func() bool { total, _ := pings(); return total >= 1 })
	if total, each := pings(); total != 1 {
		t.Errorf("after one slot: %d pings (%v), want 1", total, each)
	}
	clk.Advance(180 * time.Millisecond) // the rest of the interval
	eventually(t, "a ping each", func() bool { total, _ := pings(); return total >= 10 })
	if _, each := pings(); slices.Max(each) != 1 {
		t.Errorf("after one interval: pings %v, want one each", each)
	}
	// A clock three intervals ahead (a late tick) pings everyone once,
	// not three times.
	clk.Advance(600 * time.Millisecond)
	eventually(t, "a second ping each", func() bool { total, _ := pings(); return total >= 20 })
	if _, each := pings(); slices.Min(each) != 2 || slices.Max(each) != 2 {
		t.Errorf("after a jump of three intervals: pings %v, want two each", each)
	}
}

func TestPingsOnRealClock(t *testing.T) {
	h := setup(t, hub.Config{PingInterval: 20 * time.Millisecond})
	a := register(h, "a")
	a.tr.Await(t, "3 pings", func() bool { return a.tr.Pings() >= 3 })
	// A failing ping closes the session.
	a.tr.Fail(errors.New("gone"))
	<-a.Done()
}

func TestStatsCountsDroppedPublishes(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := setup(t, hub.Config{
		Shards:        1,
		DispatchQueue: 2,
		Encode: func(c *parley.Change) []byte {
			if c.Seq == 1 {
				entered <- struct{}{}
				<-release // holds the dispatcher
			}
			return encode(c)
		},
	})
	a := register(h, "a")
	conv := parley.C2CConversation("a", "b")
	aud := parley.Audience{Users: []string{"a"}}
	h.Publish(change(conv, 1), aud)
	<-entered                       // the dispatcher holds change 1
	h.Publish(change(conv, 2), aud) // queued
	h.Publish(change(conv, 3), aud) // queued
	h.Publish(change(conv, 4), aud) // dropped
	h.Publish(change(conv, 5), aud) // dropped
	// Membership changes are not dropped however full the queue is.
	h.GroupMembersChanged("g", []string{"a"}, nil)
	close(release)
	got := a.tr.AwaitMessages(t, 3)
	if want := []string{msg(conv, 1), msg(conv, 2), msg(conv, 3)}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	gconv := parley.GroupConversation("g")
	h.Publish(change(gconv, 1), parley.Audience{GroupID: "g"})
	if got := a.tr.AwaitMessages(t, 4); got[3] != msg(gconv, 1) {
		t.Errorf("after joining g while the queue was full, got %q", got[3:])
	}
	st := h.Stats()
	if st.DroppedPublishes != 2 || st.Pushed != 4 || st.Groups != 1 {
		t.Errorf("Stats = %+v, want 2 dropped, 4 pushed, 1 group", st)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	h, err := hub.New(hub.Config{Encode: encode, PingInterval: 10 * time.Millisecond, QueueMessages: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var conns []conn
	for i := range 20 {
		c := register(h, "u"+string(rune('a'+i%5)), "g")
		if i%4 == 0 {
			c.tr.Block() // a writer stuck in Write when Close comes
		}
		conns = append(conns, c)
	}
	gconv := parley.GroupConversation("g")
	for i := uint64(1); i <= 100; i++ {
		h.Publish(change(gconv, i), parley.Audience{GroupID: "g"})
	}
	conns[1].tr.AwaitMessages(t, 100)
	h.Close()
	h.Close() // idempotent

	for _, c := range conns {
		code, _, closed := c.tr.Closed()
		if !closed || code != hub.CloseGoingAway {
			t.Errorf("%s: closed %v with %d, want %d", c.ID(), closed, code, hub.CloseGoingAway)
		}
		<-c.Done()
	}
	if st := h.Stats(); st.Sessions != 0 || st.Users != 0 || st.Groups != 0 {
		t.Errorf("Stats after Close = %+v", st)
	}
	eventually(t, "the hub's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })

	// After Close: Register hands back a closed session, the rest is ignored.
	late := register(h, "late", "g")
	if code, _, closed := late.tr.Closed(); !closed || code != hub.CloseGoingAway {
		t.Errorf("Register after Close: transport closed %v with %d", closed, code)
	}
	<-late.Done()
	if late.Send([]byte("x")) {
		t.Error("Send after Close returned true")
	}
	h.Publish(change(gconv, 101), parley.Audience{GroupID: "g"})
	h.GroupMembersChanged("g", []string{"late"}, nil)
	h.GroupDestroyed("g")
	if runtime.NumGoroutine() > before {
		t.Errorf("%d goroutines after using a closed hub, want at most %d", runtime.NumGoroutine(), before)
	}
}

// What piles up while a transport is busy goes out in batches, in order,
// when the transport takes batches: a busy session costs a write per
// batch, not per message.
func TestQueuedMessagesGoInBatches(t *testing.T) {
	h := setup(t, hub.Config{})
	alice := register(h, "alice")
	alice.tr.Block()
	const n = 150
	for i := range n {
		if !alice.Send([]byte(strconv.Itoa(i))) {
			t.Fatalf("Send %d refused", i)
		}
	}
	alice.tr.Unblock()
	alice.tr.Await(t, "every message", func() bool { return len(alice.tr.Messages()) == n })
	for i, m := range alice.tr.Messages() {
		if m != strconv.Itoa(i) {
			t.Fatalf("message %d is %q", i, m)
		}
	}
	batches := alice.tr.Batches()
	written := 0
	for _, b := range batches {
		if b < 2 || b > 64 {
			t.Errorf("a batch of %d messages; want 2 to 64", b)
		}
		written += b
	}
	// The first message may have been taken alone, into the blocked Write.
	if written < n-1 || len(batches) > 4 {
		t.Errorf("batches %v: %d messages in %d batches, want at least %d in at most 4", batches, written, len(batches), n-1)
	}
}
