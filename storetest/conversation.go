package storetest

import (
	"fmt"
	"reflect"
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
		{"ConversationSummaryList/C2CAndGroupsInOrder", testConversationSummaryList},
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

func assertSummaries(t *testing.T, q parley.Querier, user string, want ...parley.ConversationSummary) {
	t.Helper()
	got, err := q.ConversationSummaryList(t.Context(), user)
	if err != nil {
		t.Fatalf("ConversationSummaryList(%q): %v", user, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConversationSummaryList(%q)\n got %s\nwant %s", user, formatSummaries(got), formatSummaries(want))
	}
}

func formatSummaries(ss []parley.ConversationSummary) string {
	var out string
	for _, s := range ss {
		out += fmt.Sprintf("\n\t%q %+v", s.Conversation, s)
	}
	return out
}

func testConversationSummaryList(t *testing.T, q parley.Querier) {
	// alice's conversations, made in an order that is not the list's.
	markRead(t, q, "alice", "carol", 500)
	// alice sent to bob: her side exists from the send, with nothing
	// unread; bob's has her message unread.
	addUnread(t, q, "alice", "bob", 0)
	addUnread(t, q, "bob", "alice", 1)
	// aaron sorts before alice, so the pair's key names him first.
	addUnread(t, q, "alice", "aaron", 2)
	aliceBob, aaronAlice := parley.C2CConversation("alice", "bob"), parley.C2CConversation("aaron", "alice")
	for i := range 2 {
		appendChange(t, q, newChange(aliceBob, i))
	}
	for i := range 3 {
		appendChange(t, q, newChange(aaronAlice, i))
	}
	// A log without a conversation row is nobody's conversation.
	appendChange(t, q, newChange(parley.C2CConversation("bob", "carol"), 0))

	for _, id := range []string{"g2", "g1", "g3"} {
		insertGroup(t, q, newGroup(id))
	}
	addMembers(t, q, "g2", newMember("g2", "alice", 100))
	addMembers(t, q, "g1", newMember("g1", "bob", 100), newMember("g1", "alice", 101))
	addMembers(t, q, "g3", newMember("g3", "bob", 100))
	for i := range 3 {
		insertGroupMessage(t, q, newGroupMessage("g1", "bob", i, 1000+int64(i)))
	}
	insertGroupMessage(t, q, newGroupMessage("g3", "bob", 9, 1000))
	markGroupRead(t, q, "g1", "alice", 2)
	for i := range 4 {
		appendChange(t, q, newChange(parley.GroupConversation("g1"), i))
	}
	appendChange(t, q, newChange(parley.GroupConversation("g3"), 0))

	g1 := parley.ConversationSummary{Conversation: parley.GroupConversation("g1"), GroupID: "g1", Seq: 4, LastMsgSeq: 3}
	aliceG1 := g1
	aliceG1.ReadMsgSeq = 2
	aliceG2 := parley.ConversationSummary{Conversation: parley.GroupConversation("g2"), GroupID: "g2"}
	assertSummaries(t, q, "alice",
		parley.ConversationSummary{Conversation: aaronAlice, Peer: "aaron", Seq: 3, Unread: 2},
		parley.ConversationSummary{Conversation: aliceBob, Peer: "bob", Seq: 2},
		parley.ConversationSummary{Conversation: parley.C2CConversation("alice", "carol"), Peer: "carol", ReadTime: 500},
		aliceG1,
		aliceG2,
	)
	assertSummaries(t, q, "bob",
		parley.ConversationSummary{Conversation: aliceBob, Peer: "alice", Seq: 2, Unread: 1},
		g1,
		parley.ConversationSummary{Conversation: parley.GroupConversation("g3"), GroupID: "g3", Seq: 1, LastMsgSeq: 1},
	)
	assertSummaries(t, q, "nobody")

	// Leaving a group or its deletion takes it off the list.
	if _, err := q.GroupMemberDelete(t.Context(), parley.GroupMemberDeleteParams{GroupID: "g2", UserIDs: []string{"alice"}}); err != nil {
		t.Fatalf("GroupMemberDelete: %v", err)
	}
	deleteGroup(t, q, "g1")
	assertSummaries(t, q, "alice",
		parley.ConversationSummary{Conversation: aaronAlice, Peer: "aaron", Seq: 3, Unread: 2},
		parley.ConversationSummary{Conversation: aliceBob, Peer: "bob", Seq: 2},
		parley.ConversationSummary{Conversation: parley.C2CConversation("alice", "carol"), Peer: "carol", ReadTime: 500},
	)
	assertSummaries(t, q, "bob",
		parley.ConversationSummary{Conversation: aliceBob, Peer: "alice", Seq: 2, Unread: 1},
		parley.ConversationSummary{Conversation: parley.GroupConversation("g3"), GroupID: "g3", Seq: 1, LastMsgSeq: 1},
	)
}
