package storetest

import (
	"testing"

	"github.com/parley-im/parley"
)

func conversationTests() []querierTest {
	return []querierTest{
		{"ConversationGet/UntouchedIsZero", testConversationGetZero},
		{"ConversationAddUnread/NeverBelowZero", testConversationAddUnread},
		{"ConversationMarkRead/MovesForwardAndRecounts", testConversationMarkRead},
		{"ConversationMarkRead/UntouchedConversation", testConversationMarkReadNew},
		{"ConversationUnreadTotal/SumsOwnersConversations", testConversationUnreadTotal},
	}
}

func addUnread(t *testing.T, q parley.Querier, owner, peer string, delta int) {
	t.Helper()
	if err := q.ConversationAddUnread(t.Context(), parley.ConversationAddUnreadParams{Owner: owner, Peer: peer, Delta: delta}); err != nil {
		t.Fatalf("ConversationAddUnread(%s, %s, %d): %v", owner, peer, delta, err)
	}
}

func markRead(t *testing.T, q parley.Querier, owner, peer string, readTime int64) parley.Conversation {
	t.Helper()
	c, err := q.ConversationMarkRead(t.Context(), parley.ConversationMarkReadParams{Owner: owner, Peer: peer, ReadTime: readTime})
	if err != nil {
		t.Fatalf("ConversationMarkRead(%s, %s, %d): %v", owner, peer, readTime, err)
	}
	return c
}

func assertConversation(t *testing.T, q parley.Querier, owner, peer string, want parley.Conversation) {
	t.Helper()
	got, err := q.ConversationGet(t.Context(), owner, peer)
	if err != nil {
		t.Fatalf("ConversationGet(%s, %s): %v", owner, peer, err)
	}
	if got != want {
		t.Errorf("ConversationGet(%s, %s) = %+v, want %+v", owner, peer, got, want)
	}
}

func assertUnreadTotal(t *testing.T, q parley.Querier, owner string, want int) {
	t.Helper()
	got, err := q.ConversationUnreadTotal(t.Context(), owner)
	if err != nil {
		t.Fatalf("ConversationUnreadTotal(%s): %v", owner, err)
	}
	if got != want {
		t.Errorf("ConversationUnreadTotal(%s) = %d, want %d", owner, got, want)
	}
}

func testConversationGetZero(t *testing.T, q parley.Querier) {
	assertConversation(t, q, "alice", "bob", parley.Conversation{})
	addUnread(t, q, "bob", "alice", 1)
	// bob's side exists now; alice's still does not.
	assertConversation(t, q, "alice", "bob", parley.Conversation{})
	assertConversation(t, q, "bob", "alice", parley.Conversation{Owner: "bob", Peer: "alice", Unread: 1})
}

func testConversationAddUnread(t *testing.T, q parley.Querier) {
	conv := func(unread int) parley.Conversation {
		return parley.Conversation{Owner: "alice", Peer: "bob", Unread: unread}
	}
	steps := []struct {
		delta int
		want  int
	}{
		{3, 3},
		{1, 4},
		{-1, 3},
		{0, 3},
		{-10, 0}, // clamped at 0 ...
		{2, 2},   // ... and counting resumes from 0, not from -8
		{-2, 0},
		{-1, 0},
		{1, 1},
	}
	for _, s := range steps {
		addUnread(t, q, "alice", "bob", s.delta)
		assertConversation(t, q, "alice", "bob", conv(s.want))
	}

	// A negative first touch creates nothing below 0 either.
	addUnread(t, q, "alice", "carol", -5)
	got, err := q.ConversationGet(t.Context(), "alice", "carol")
	if err != nil {
		t.Fatalf("ConversationGet: %v", err)
	}
	if got.Unread != 0 || got.ReadTime != 0 {
		t.Errorf("after AddUnread(-5) on an untouched conversation: %+v, want Unread 0, ReadTime 0", got)
	}
	addUnread(t, q, "alice", "carol", 1)
	assertConversation(t, q, "alice", "carol", parley.Conversation{Owner: "alice", Peer: "carol", Unread: 1})

	// The other side is a different conversation.
	assertConversation(t, q, "bob", "alice", parley.Conversation{})
}

// unreadFixture stores bob's messages to alice of every kind the recount
// must skip, and messages around them that it must not count.
func unreadFixture(t *testing.T, q parley.Querier) {
	t.Helper()
	recalled := newMessage("bob", "alice", 2, 101)
	noUnread := newMessage("bob", "alice", 3, 102)
	noUnread.NoUnread = true
	onlineOnly := newMessage("bob", "alice", 4, 103)
	onlineOnly.OnlineOnly = true
	onlineOnly.LifeTime = 0
	for _, m := range []*parley.Message{
		newMessage("bob", "alice", 1, 100),
		recalled,
		noUnread,
		onlineOnly,
		newMessage("bob", "alice", 5, 104),
		newMessage("bob", "alice", 6, 105),
		newMessage("bob", "alice", 7, 105),
		newMessage("alice", "bob", 1, 106),   // alice's own
		newMessage("carol", "alice", 1, 107), // another conversation
		newMessage("bob", "carol", 1, 108),   // bob to someone else
	} {
		insertMessage(t, q, m)
	}
	if err := q.MessageRecall(t.Context(), recalled.ID); err != nil {
		t.Fatalf("MessageRecall: %v", err)
	}
}

func testConversationMarkRead(t *testing.T, q parley.Querier) {
	unreadFixture(t, q)
	addUnread(t, q, "alice", "bob", 9) // stale on purpose: MarkRead recounts
	addUnread(t, q, "alice", "carol", 1)
	addUnread(t, q, "bob", "alice", 1)

	conv := func(readTime int64, unread int) parley.Conversation {
		return parley.Conversation{Owner: "alice", Peer: "bob", ReadTime: readTime, Unread: unread}
	}
	steps := []struct {
		name     string
		readTime int64
		want     parley.Conversation
	}{
		{"before everything", 50, conv(50, 4)},
		{"the first message read", 100, conv(100, 3)},
		{"skipped kinds count nothing", 103, conv(103, 3)},
		{"read time is inclusive", 104, conv(104, 2)},
		{"never moves back", 60, conv(104, 2)},
		{"same time again", 104, conv(104, 2)},
		{"everything read", 105, conv(105, 0)},
		{"past the last message", 200, conv(200, 0)},
		{"back again", 0, conv(200, 0)},
	}
	for _, s := range steps {
		got := markRead(t, q, "alice", "bob", s.readTime)
		if got != s.want {
			t.Errorf("%s: ConversationMarkRead(alice, bob, %d) = %+v, want %+v", s.name, s.readTime, got, s.want)
		}
		assertConversation(t, q, "alice", "bob", s.want)
	}

	// A recount after moving back still counts from the kept read time.
	addUnread(t, q, "alice", "bob", 5)
	if got := markRead(t, q, "alice", "bob", 10); got != conv(200, 0) {
		t.Errorf("MarkRead back after AddUnread = %+v, want %+v", got, conv(200, 0))
	}

	// Nobody else's conversation moved.
	assertConversation(t, q, "alice", "carol", parley.Conversation{Owner: "alice", Peer: "carol", Unread: 1})
	assertConversation(t, q, "bob", "alice", parley.Conversation{Owner: "bob", Peer: "alice", Unread: 1})
}

func testConversationMarkReadNew(t *testing.T, q parley.Querier) {
	unreadFixture(t, q)
	want := parley.Conversation{Owner: "alice", Peer: "bob", ReadTime: 100, Unread: 3}
	if got := markRead(t, q, "alice", "bob", 100); got != want {
		t.Errorf("ConversationMarkRead on an untouched conversation = %+v, want %+v", got, want)
	}
	assertConversation(t, q, "alice", "bob", want)

	// bob's side: alice's one message to him, after read time 0.
	want = parley.Conversation{Owner: "bob", Peer: "alice", ReadTime: 0, Unread: 1}
	if got := markRead(t, q, "bob", "alice", 0); got != want {
		t.Errorf("ConversationMarkRead(bob, alice, 0) = %+v, want %+v", got, want)
	}
}

func testConversationUnreadTotal(t *testing.T, q parley.Querier) {
	assertUnreadTotal(t, q, "alice", 0)
	addUnread(t, q, "alice", "bob", 3)
	addUnread(t, q, "alice", "carol", 2)
	addUnread(t, q, "alice", "dave", 1)
	addUnread(t, q, "alice", "dave", -1)
	addUnread(t, q, "bob", "alice", 7)
	addUnread(t, q, "carol", "bob", 11)
	assertUnreadTotal(t, q, "alice", 5)
	assertUnreadTotal(t, q, "bob", 7)
	assertUnreadTotal(t, q, "carol", 11)
	assertUnreadTotal(t, q, "erin", 0)

	markRead(t, q, "alice", "bob", 1000) // no messages after it: 0
	assertUnreadTotal(t, q, "alice", 2)
}
