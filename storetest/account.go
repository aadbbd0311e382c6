package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// t0() is the suite's clock: millisecond-aligned, so every backend can keep
// it exactly. A function, so the package holds no variables.
func t0() time.Time { return time.UnixMilli(1_700_000_000_000) }

func accountTests() []querierTest {
	return []querierTest{
		{"AccountUpsert/CreatesThenUpdatesNickAndFace", testAccountUpsert},
		{"AccountGetMany/ReturnsOnlyImported", testAccountGetMany},
		{"AccountDelete/RemovesAccountAndOwnedConversations", testAccountDelete},
	}
}

func testAccountUpsert(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	first := parley.Account{UserID: "alice", Nick: "Alice", FaceURL: "https://example.com/a.png", CreatedAt: t0()}
	created, err := q.AccountUpsert(ctx, first)
	if err != nil {
		t.Fatalf("AccountUpsert(new): %v", err)
	}
	if !created {
		t.Errorf("AccountUpsert(new) created = false, want true")
	}
	assertAccounts(t, q, []string{"alice"}, []parley.Account{first})

	again := parley.Account{UserID: "alice", Nick: "Alice B.", FaceURL: "https://example.com/b.png", CreatedAt: t0().Add(time.Hour)}
	created, err = q.AccountUpsert(ctx, again)
	if err != nil {
		t.Fatalf("AccountUpsert(again): %v", err)
	}
	if created {
		t.Errorf("AccountUpsert(again) created = true, want false")
	}
	// Re-importing updates Nick and FaceURL only: the account keeps the
	// time it was first imported.
	want := parley.Account{UserID: "alice", Nick: "Alice B.", FaceURL: "https://example.com/b.png", CreatedAt: t0()}
	assertAccounts(t, q, []string{"alice"}, []parley.Account{want})

	// Clearing the profile is an update like any other.
	created, err = q.AccountUpsert(ctx, parley.Account{UserID: "alice", CreatedAt: t0()})
	if err != nil || created {
		t.Fatalf("AccountUpsert(clear) = %v, %v; want false, nil", created, err)
	}
	assertAccounts(t, q, []string{"alice"}, []parley.Account{{UserID: "alice", CreatedAt: t0()}})
}

func testAccountGetMany(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	accounts := []parley.Account{
		{UserID: "alice", Nick: "Alice", CreatedAt: t0()},
		{UserID: "bob", FaceURL: "https://example.com/bob.png", CreatedAt: t0().Add(time.Second)},
		{UserID: "carol", Nick: "Carol", CreatedAt: t0().Add(2 * time.Second)},
		// The longest UserID Tencent accepts, in multi-byte UTF-8.
		{UserID: strings.Repeat("é", parley.MaxUserIDBytes/2), Nick: "Long", CreatedAt: t0()},
	}
	for _, a := range accounts {
		if _, err := q.AccountUpsert(ctx, a); err != nil {
			t.Fatalf("AccountUpsert(%q): %v", a.UserID, err)
		}
	}
	tests := []struct {
		name string
		ids  []string
		want []parley.Account
	}{
		{"none asked", nil, nil},
		{"one", []string{"bob"}, accounts[1:2]},
		{"all", []string{"carol", accounts[3].UserID, "alice", "bob"}, accounts},
		{"unknown skipped", []string{"dave", "alice", "erin"}, accounts[:1]},
		{"only unknown", []string{"dave"}, nil},
		{"case matters", []string{"Alice", "BOB"}, nil},
		// Pairs are sendmsg's shape: sender and recipient.
		{"pair", []string{"alice", "carol"}, []parley.Account{accounts[0], accounts[2]}},
		{"pair, one unknown", []string{"dave", "bob"}, accounts[1:2]},
		{"pair, same twice", []string{"bob", "bob"}, accounts[1:2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assertAccounts(t, q, tc.ids, tc.want) })
	}
}

func testAccountDelete(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	for _, id := range []string{"alice", "bob", "carol"} {
		if _, err := q.AccountUpsert(ctx, parley.Account{UserID: id, CreatedAt: t0()}); err != nil {
			t.Fatalf("AccountUpsert(%q): %v", id, err)
		}
	}
	addUnread(t, q, "alice", "bob", 2)
	addUnread(t, q, "alice", "carol", 3)
	addUnread(t, q, "bob", "alice", 4)
	markRead(t, q, "carol", "alice", 50)

	deleted, err := q.AccountDelete(ctx, "alice")
	if err != nil {
		t.Fatalf("AccountDelete(alice): %v", err)
	}
	if !deleted {
		t.Errorf("AccountDelete(alice) deleted = false, want true")
	}
	assertAccounts(t, q, []string{"alice", "bob", "carol"}, []parley.Account{
		{UserID: "bob", CreatedAt: t0()}, {UserID: "carol", CreatedAt: t0()},
	})

	// alice's own conversations are gone ...
	assertConversation(t, q, "alice", "bob", parley.Conversation{})
	assertConversation(t, q, "alice", "carol", parley.Conversation{})
	assertUnreadTotal(t, q, "alice", 0)
	// ... the other sides are not hers to lose.
	assertConversation(t, q, "bob", "alice", parley.Conversation{Owner: "bob", Peer: "alice", Unread: 4})
	assertConversation(t, q, "carol", "alice", parley.Conversation{Owner: "carol", Peer: "alice", ReadTime: 50})

	deleted, err = q.AccountDelete(ctx, "alice")
	if err != nil {
		t.Fatalf("AccountDelete(alice) again: %v", err)
	}
	if deleted {
		t.Errorf("AccountDelete(alice) again deleted = true, want false")
	}
	deleted, err = q.AccountDelete(ctx, "nobody")
	if err != nil || deleted {
		t.Errorf("AccountDelete(nobody) = %v, %v; want false, nil", deleted, err)
	}

	// A deleted account can be imported again, as new.
	created, err := q.AccountUpsert(ctx, parley.Account{UserID: "alice", Nick: "Back", CreatedAt: t0().Add(time.Hour)})
	if err != nil || !created {
		t.Fatalf("AccountUpsert(alice) after delete = %v, %v; want true, nil", created, err)
	}
	assertAccounts(t, q, []string{"alice"}, []parley.Account{{UserID: "alice", Nick: "Back", CreatedAt: t0().Add(time.Hour)}})
}

// assertAccounts checks AccountGetMany(ids) returns want, in any order.
func assertAccounts(t *testing.T, q parley.Querier, ids []string, want []parley.Account) {
	t.Helper()
	got, err := q.AccountGetMany(t.Context(), ids)
	if err != nil {
		t.Fatalf("AccountGetMany(%q): %v", ids, err)
	}
	byID := func(a, b parley.Account) int { return strings.Compare(a.UserID, b.UserID) }
	got = slices.SortedFunc(slices.Values(got), byID)
	want = slices.SortedFunc(slices.Values(want), byID)
	if !slices.EqualFunc(got, want, accountEqual) {
		t.Errorf("AccountGetMany(%q)\n got %v\nwant %v", ids, got, want)
	}
}

func accountEqual(a, b parley.Account) bool {
	return a.UserID == b.UserID && a.Nick == b.Nick && a.FaceURL == b.FaceURL && a.CreatedAt.Equal(b.CreatedAt)
}
