package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley"
)

func groupTests() []querierTest {
	return []querierTest{
		{"GroupInsert/KeepsEveryField", testGroupInsertRoundTrip},
		{"GroupInsert/ConflictKeepsFirst", testGroupInsertConflict},
		{"GroupGet/ExactID", testGroupGet},
		{"GroupGetMany/ReturnsOnlyExisting", testGroupGetMany},
		{"GroupDelete/RemovesOnlyItsGroup", testGroupDelete},
		{"GroupDelete/IDCanBeReused", testGroupDeleteReuse},
	}
}

func groupMemberTests() []querierTest {
	return []querierTest{
		{"GroupMemberAdd/AddsOnlyNewInOrderGiven", testGroupMemberAdd},
		{"GroupMemberGet/KeepsEveryField", testGroupMemberGet},
		{"GroupMemberList/JoinOrderAndPages", testGroupMemberList},
		{"GroupMemberDelete/RemovesOnlyMembers", testGroupMemberDelete},
		{"GroupMemberTouch/SetsLastSendMsgTime", testGroupMemberTouch},
		{"GroupMemberMarkRead/ForwardOnlyCappedAtNewest", testGroupMemberMarkRead},
		{"GroupIDsByMember/CurrentMembershipsOnly", testGroupIDsByMember},
	}
}

// newGroup returns a group with the fields create_group always fills.
func newGroup(id string) *parley.Group {
	return &parley.Group{
		ID:              id,
		Type:            parley.GroupPublic,
		Owner:           "owner",
		Name:            "Group " + id,
		MaxMemberCount:  2000,
		ApplyJoinOption: "NeedPermission",
		CreateTime:      1_700_000_000,
		LastInfoTime:    1_700_000_000,
	}
}

// insertGroup inserts g and returns what the store must keep: g with a new
// group's NextMsgSeq and MemberCount.
func insertGroup(t *testing.T, q parley.Querier, g *parley.Group) *parley.Group {
	t.Helper()
	want := *g
	if err := q.GroupInsert(t.Context(), g); err != nil {
		t.Fatalf("GroupInsert(%q): %v", g.ID, err)
	}
	want.NextMsgSeq, want.MemberCount = 1, 0
	return &want
}

func getGroup(t *testing.T, q parley.Querier, id string) *parley.Group {
	t.Helper()
	g, err := q.GroupGet(t.Context(), id)
	if err != nil {
		t.Fatalf("GroupGet(%q): %v", id, err)
	}
	return g
}

func assertGroup(t *testing.T, got, want *parley.Group) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no group, want %+v", want)
	}
	g, w := *got, *want
	// Nothing tells a group created with an empty AppDefinedData from one
	// created without.
	if len(g.AppDefinedData) == 0 && len(w.AppDefinedData) == 0 {
		g.AppDefinedData, w.AppDefinedData = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("group %q\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func assertGroupNotFound(t *testing.T, q parley.Querier, id string) {
	t.Helper()
	if g, err := q.GroupGet(t.Context(), id); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("GroupGet(%q) = %+v, %v; want ErrNotFound", id, g, err)
	}
}

func testGroupInsertRoundTrip(t *testing.T, q parley.Querier) {
	allSet := &parley.Group{
		// The longest custom GroupId, with the characters SQL patterns and
		// string literals treat specially.
		ID:               `@TGS#_ %_\'";--` + strings.Repeat("x", parley.MaxGroupIDBytes-15),
		Type:             parley.GroupCommunity,
		Owner:            "alice",
		Name:             strings.Repeat("名", parley.MaxGroupNameBytes/3),
		Introduction:     strings.Repeat("i", parley.MaxIntroductionBytes),
		Notification:     strings.Repeat("ñ", parley.MaxNotificationBytes/2),
		FaceURL:          "https://example.com/face.png?size=64&v=2",
		MaxMemberCount:   100000,
		ApplyJoinOption:  "FreeAccess",
		InviteJoinOption: "DisableInvite",
		AppDefinedData: []parley.AppDefinedItem{
			{Key: "Tag", Value: "v1"},
			{Key: "Empty", Value: ""},
			{Key: "ünï", Value: `{"json":[1,2],"quote":"\""}`},
			{Key: "Big", Value: strings.Repeat("v", 4096)},
			{Key: "A", Value: "order is kept"},
		},
		SupportTopic: true,
		ShutUpAll:    true,
		CreateTime:   1_700_000_123,
		LastInfoTime: 1_700_000_456,
		// The store sets these for a new group, whatever they say.
		NextMsgSeq:  77,
		MemberCount: 5,
	}
	if len(allSet.ID) != parley.MaxGroupIDBytes {
		t.Fatalf("test group ID is %d bytes, want %d", len(allSet.ID), parley.MaxGroupIDBytes)
	}
	noneSet := &parley.Group{ID: "g", Type: parley.GroupPrivate, Name: "n", ApplyJoinOption: "DisableApply"}

	var wants []*parley.Group
	for _, g := range []*parley.Group{allSet, noneSet} {
		want := insertGroup(t, q, g)
		assertGroup(t, getGroup(t, q, g.ID), want)
		wants = append(wants, want)
	}
	got, err := q.GroupGetMany(t.Context(), []string{allSet.ID, noneSet.ID})
	if err != nil {
		t.Fatalf("GroupGetMany: %v", err)
	}
	assertGroups(t, got, wants)
}

func testGroupInsertConflict(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	first := insertGroup(t, q, newGroup("g"))
	addMembers(t, q, "g", newMember("g", "alice", 100), newMember("g", "bob", 100))
	m := insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1000))
	ext := parley.GroupExtensionTarget("g", m.MsgSeq)
	writeExtension(t, q, parley.ExtensionWriteParams{Target: ext, Seq: 1, Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}})

	second := &parley.Group{
		ID: "g", Type: parley.GroupAVChatRoom, Owner: "mallory", Name: "Second",
		ApplyJoinOption: "FreeAccess", CreateTime: 1_800_000_000, LastInfoTime: 1_800_000_000,
		AppDefinedData: []parley.AppDefinedItem{{Key: "k", Value: "v"}},
	}
	if err := q.GroupInsert(ctx, second); !errors.Is(err, parley.ErrConflict) {
		t.Fatalf("GroupInsert of a taken ID = %v, want ErrConflict", err)
	}

	want := *first
	want.NextMsgSeq, want.LastMsgTime, want.MemberCount = 2, 1000, 2
	assertGroup(t, getGroup(t, q, "g"), &want)
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"}, "alice", "bob")
	assertGroupMessageGet(t, q, m)
	assertExtensionState(t, q, ext, parley.ExtensionState{Seq: 1, Count: 1})

	// GroupIds are case-sensitive: "G" is another group.
	upper := insertGroup(t, q, newGroup("G"))
	assertGroup(t, getGroup(t, q, "G"), upper)
	assertGroup(t, getGroup(t, q, "g"), &want)
}

func testGroupGet(t *testing.T, q parley.Querier) {
	g := insertGroup(t, q, newGroup("g1"))
	other := newGroup("g1x")
	other.Name = "other"
	gx := insertGroup(t, q, other)
	assertGroup(t, getGroup(t, q, "g1"), g)
	assertGroup(t, getGroup(t, q, "g1x"), gx)
	for _, id := range []string{"", "g", "G1", "g1 ", " g1", "g%", "g_", "g1x1", "nope"} {
		assertGroupNotFound(t, q, id)
	}
}

func testGroupGetMany(t *testing.T, q parley.Querier) {
	var groups []*parley.Group
	for i, id := range []string{"a", "b", "c", "a%", "@TGS#2ABCDEFGH"} {
		g := newGroup(id)
		g.Name = fmt.Sprintf("group %d", i)
		g.CreateTime += int64(i)
		groups = append(groups, insertGroup(t, q, g))
	}
	pick := func(idx ...int) []*parley.Group {
		var out []*parley.Group
		for _, i := range idx {
			out = append(out, groups[i])
		}
		return out
	}
	tests := []struct {
		name string
		ids  []string
		want []*parley.Group
	}{
		{"none asked", nil, nil},
		{"one", []string{"b"}, pick(1)},
		{"all", []string{"@TGS#2ABCDEFGH", "c", "a%", "b", "a"}, pick(0, 1, 2, 3, 4)},
		{"unknown skipped", []string{"x", "c", "y"}, pick(2)},
		{"only unknown", []string{"x"}, nil},
		{"no patterns", []string{"a_", "%", "A"}, nil},
		{"same twice", []string{"a", "a"}, pick(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.GroupGetMany(t.Context(), tc.ids)
			if err != nil {
				t.Fatalf("GroupGetMany(%q): %v", tc.ids, err)
			}
			assertGroups(t, got, tc.want)
		})
	}
}

// assertGroups checks got holds want's groups, in any order.
func assertGroups(t *testing.T, got, want []*parley.Group) {
	t.Helper()
	byID := func(a, b *parley.Group) int { return strings.Compare(a.ID, b.ID) }
	got = slices.SortedFunc(slices.Values(got), byID)
	want = slices.SortedFunc(slices.Values(want), byID)
	ids := func(gs []*parley.Group) []string {
		out := make([]string, len(gs))
		for i, g := range gs {
			out[i] = g.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("groups\n got %q\nwant %q", ids(got), ids(want))
	}
	for i := range got {
		assertGroup(t, got[i], want[i])
	}
}

// groupSnapshot is everything the store holds for one group.
type groupSnapshot struct {
	group      *parley.Group
	members    []*parley.GroupMember
	messages   []*parley.GroupMessage
	extensions map[uint64]extensionSnapshot // by MsgSeq
	changes    []*parley.Change             // the group conversation's log
	head       uint64
}

type extensionSnapshot struct {
	state parley.ExtensionState
	kvs   []parley.ExtensionKV
}

// populateGroup creates group id with members, messages and extensions
// that differ from every other group's, and returns what it stored.
func populateGroup(t *testing.T, q parley.Querier, id string) groupSnapshot {
	t.Helper()
	g := newGroup(id)
	g.Name = "Group " + id
	insertGroup(t, q, g)
	addMembers(t, q, id, newMember(id, "alice", 100), newMember(id, "bob", 101), newMember(id, "member of "+id, 102))
	for i := range 3 {
		insertGroupMessage(t, q, newGroupMessage(id, "alice", i, 1000+int64(i)))
	}
	for seq := uint64(1); seq <= 2; seq++ {
		writeExtension(t, q, parley.ExtensionWriteParams{
			Target: parley.GroupExtensionTarget(id, seq),
			Seq:    1,
			Put:    []parley.ExtensionKV{{Key: "k", Value: id}, {Key: "group", Value: id}},
		})
	}
	markGroupRead(t, q, id, "alice", 2)
	for i := range 3 {
		c := newChange(parley.GroupConversation(id), i)
		c.Data = json.RawMessage(fmt.Sprintf(`{"GroupId":%q,"n":%d}`, id, i))
		if i == 2 {
			c.Kind, c.Only = parley.ChangeRead, "alice"
		}
		appendChange(t, q, c)
	}
	return snapshotGroup(t, q, id)
}

func snapshotGroup(t *testing.T, q parley.Querier, id string) groupSnapshot {
	t.Helper()
	ctx := t.Context()
	var s groupSnapshot
	switch g, err := q.GroupGet(ctx, id); {
	case err == nil:
		s.group = g
	case !errors.Is(err, parley.ErrNotFound):
		t.Fatalf("GroupGet(%q): %v", id, err)
	}
	var err error
	if s.members, err = q.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: id}); err != nil {
		t.Fatalf("GroupMemberList(%q): %v", id, err)
	}
	if s.messages, err = q.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: id, Limit: 100}); err != nil {
		t.Fatalf("GroupMessageList(%q): %v", id, err)
	}
	// Looked up by seq, not through the messages found: extensions must
	// go with their messages.
	s.extensions = make(map[uint64]extensionSnapshot)
	for seq := uint64(1); seq <= 4; seq++ {
		target := parley.GroupExtensionTarget(id, seq)
		st := extensionState(t, q, target)
		kvs := listExtensions(t, q, parley.ExtensionListParams{Target: target, Limit: 1000})
		if st != (parley.ExtensionState{}) || len(kvs) > 0 {
			s.extensions[seq] = extensionSnapshot{st, kvs}
		}
	}
	s.changes = listChanges(t, q, parley.ChangeListParams{Conversation: parley.GroupConversation(id), Limit: 1000})
	s.head = changeHead(t, q, parley.GroupConversation(id))
	return s
}

func assertSnapshot(t *testing.T, id string, got, want groupSnapshot) {
	t.Helper()
	switch {
	case want.group == nil && got.group != nil:
		t.Errorf("group %q: GroupGet found %+v, want none", id, got.group)
	case want.group != nil && got.group == nil:
		t.Errorf("group %q: GroupGet found none", id)
	case want.group != nil:
		assertGroup(t, got.group, want.group)
	}
	if !slices.Equal(memberIDs(got.members), memberIDs(want.members)) {
		t.Errorf("group %q: members %q, want %q", id, memberIDs(got.members), memberIDs(want.members))
	} else {
		for i := range got.members {
			assertMember(t, got.members[i], want.members[i])
		}
	}
	if !slices.Equal(groupMessageSeqs(got.messages), groupMessageSeqs(want.messages)) {
		t.Errorf("group %q: messages %v, want %v", id, groupMessageSeqs(got.messages), groupMessageSeqs(want.messages))
	} else {
		for i := range got.messages {
			assertGroupMessage(t, got.messages[i], want.messages[i])
		}
	}
	if !reflect.DeepEqual(got.extensions, want.extensions) {
		t.Errorf("group %q: extensions by MsgSeq\n got %+v\nwant %+v", id, got.extensions, want.extensions)
	}
	if !sameChanges(got.changes, want.changes) || got.head != want.head {
		t.Errorf("group %q: change log with head %d:%s\nwant head %d:%s", id, got.head, formatChanges(got.changes),
			want.head, formatChanges(want.changes))
	}
}

func deleteGroup(t *testing.T, q parley.Querier, id string) bool {
	t.Helper()
	deleted, err := q.GroupDelete(t.Context(), id)
	if err != nil {
		t.Fatalf("GroupDelete(%q): %v", id, err)
	}
	return deleted
}

func testGroupDelete(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	// Each id is a prefix of, or a LIKE pattern matching, another; case
	// differs in one.
	ids := []string{"g", "g1", "G", "g%", "g_", `g\`, `g\_`, "gg"}
	stored := make(map[string]groupSnapshot)
	for _, id := range ids {
		stored[id] = populateGroup(t, q, id)
	}
	c2c := parley.C2CExtensionTarget(1)
	writeExtension(t, q, parley.ExtensionWriteParams{Target: c2c, Seq: 1, Put: []parley.ExtensionKV{{Key: "k", Value: "c2c"}}})
	// A C2C log of a user named like the group stays.
	c2cChange := appendChange(t, q, newChange(parley.C2CConversation("g", "alice"), 1))

	gone := make(map[string]bool)
	for _, id := range []string{"g%", "g_", `g\`, "g"} {
		if !deleteGroup(t, q, id) {
			t.Errorf("GroupDelete(%q) deleted = false, want true", id)
		}
		gone[id] = true
		for _, other := range ids {
			want := stored[other]
			if gone[other] {
				want = groupSnapshot{extensions: map[uint64]extensionSnapshot{}}
			}
			assertSnapshot(t, other, snapshotGroup(t, q, other), want)
		}
		if t.Failed() {
			t.Fatalf("after GroupDelete(%q): see above", id)
		}
	}
	for _, id := range []string{"g", "g%"} {
		for _, user := range []string{"alice", "member of " + id} {
			if m, err := q.GroupMemberGet(ctx, id, user); !errors.Is(err, parley.ErrNotFound) {
				t.Errorf("GroupMemberGet(%q, %q) after delete = %+v, %v; want ErrNotFound", id, user, m, err)
			}
		}
		if m, err := q.GroupMessageGet(ctx, id, 1); !errors.Is(err, parley.ErrNotFound) {
			t.Errorf("GroupMessageGet(%q, 1) after delete = %+v, %v; want ErrNotFound", id, m, err)
		}
	}
	assertExtensionState(t, q, c2c, parley.ExtensionState{Seq: 1, Count: 1})
	assertChangeList(t, q, parley.ChangeListParams{Conversation: c2cChange.Conversation}, c2cChange)

	if deleteGroup(t, q, "g") {
		t.Errorf("GroupDelete(g) again deleted = true, want false")
	}
	if deleteGroup(t, q, "nope") {
		t.Errorf("GroupDelete(nope) deleted = true, want false")
	}
}

// A deleted group leaves nothing behind for a new group of the same ID.
func testGroupDeleteReuse(t *testing.T, q parley.Querier) {
	populateGroup(t, q, "g")
	if !deleteGroup(t, q, "g") {
		t.Fatalf("GroupDelete(g) deleted = false, want true")
	}
	g := newGroup("g")
	g.Name = "Reborn"
	want := insertGroup(t, q, g)
	assertGroup(t, getGroup(t, q, "g"), want)
	assertSnapshot(t, "g", snapshotGroup(t, q, "g"), groupSnapshot{group: want, extensions: map[uint64]extensionSnapshot{}})

	m := insertGroupMessage(t, q, newGroupMessage("g", "carol", 9, 2000))
	if m.MsgSeq != 1 {
		t.Errorf("first message of the new group got MsgSeq %d, want 1", m.MsgSeq)
	}
	if c := appendChange(t, q, newChange(parley.GroupConversation("g"), 9)); c.Seq != 1 {
		t.Errorf("first change of the new group got Seq %d, want 1", c.Seq)
	}
	assertExtensionState(t, q, parley.GroupExtensionTarget("g", 1), parley.ExtensionState{})
	if got := addMembers(t, q, "g", newMember("g", "alice", 500)); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("GroupMemberAdd(alice) to the new group added %q, want alice", got)
	}
}

// newMember returns a plain member as add_group_member makes one.
func newMember(groupID, userID string, joinTime int64) parley.GroupMember {
	return parley.GroupMember{
		GroupID:  groupID,
		UserID:   userID,
		Role:     parley.RoleMember,
		JoinTime: joinTime,
		MsgFlag:  parley.MsgFlagAcceptAndNotify,
	}
}

func addMembers(t *testing.T, q parley.Querier, groupID string, members ...parley.GroupMember) []string {
	t.Helper()
	added, err := q.GroupMemberAdd(t.Context(), parley.GroupMemberAddParams{GroupID: groupID, Members: members})
	if err != nil {
		t.Fatalf("GroupMemberAdd(%q, %d members): %v", groupID, len(members), err)
	}
	return added
}

func getMember(t *testing.T, q parley.Querier, groupID, userID string) *parley.GroupMember {
	t.Helper()
	m, err := q.GroupMemberGet(t.Context(), groupID, userID)
	if err != nil {
		t.Fatalf("GroupMemberGet(%q, %q): %v", groupID, userID, err)
	}
	return m
}

func assertMember(t *testing.T, got, want *parley.GroupMember) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no member, want %+v", want)
	}
	g, w := *got, *want
	if len(g.AppMemberDefinedData) == 0 && len(w.AppMemberDefinedData) == 0 {
		g.AppMemberDefinedData, w.AppMemberDefinedData = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("member\n got %+v\nwant %+v", g, w)
	}
}

func assertMemberNotFound(t *testing.T, q parley.Querier, groupID, userID string) {
	t.Helper()
	if m, err := q.GroupMemberGet(t.Context(), groupID, userID); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("GroupMemberGet(%q, %q) = %+v, %v; want ErrNotFound", groupID, userID, m, err)
	}
}

func memberIDs(ms []*parley.GroupMember) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out
}

func assertMemberIDs(t *testing.T, q parley.Querier, p parley.GroupMemberListParams, want ...string) []*parley.GroupMember {
	t.Helper()
	got, err := q.GroupMemberList(t.Context(), p)
	if err != nil {
		t.Fatalf("GroupMemberList(%+v): %v", p, err)
	}
	if !slices.Equal(memberIDs(got), want) {
		t.Errorf("GroupMemberList(%+v)\n got %q\nwant %q", p, memberIDs(got), want)
	}
	return got
}

func assertMemberCount(t *testing.T, q parley.Querier, groupID string, want int) {
	t.Helper()
	if got := getGroup(t, q, groupID).MemberCount; got != want {
		t.Errorf("group %q: MemberCount = %d, want %d", groupID, got, want)
	}
}

func testGroupMemberAdd(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("h"))

	twice := newMember("g", "amy", 100)
	twice.Role = parley.RoleAdmin
	added := addMembers(t, q, "g", newMember("g", "zed", 100), newMember("g", "amy", 100), newMember("g", "bob", 50), twice)
	if want := []string{"zed", "amy", "bob"}; !slices.Equal(added, want) {
		t.Errorf("GroupMemberAdd(zed, amy, bob, amy) added %q, want %q", added, want)
	}
	assertMemberCount(t, q, "g", 3)
	// The first of a user given twice is the one added.
	amy := newMember("g", "amy", 100)
	assertMember(t, getMember(t, q, "g", "amy"), &amy)

	changed := newMember("g", "zed", 200)
	changed.Role, changed.NameCard = parley.RoleAdmin, "changed"
	added = addMembers(t, q, "g", newMember("g", "carl", 10), changed, newMember("g", "bob", 50), newMember("g", "ada", 10))
	if want := []string{"carl", "ada"}; !slices.Equal(added, want) {
		t.Errorf("GroupMemberAdd(carl, zed, bob, ada) added %q, want %q", added, want)
	}
	assertMemberCount(t, q, "g", 5)
	// A member already in the group is left as it was.
	zed := newMember("g", "zed", 100)
	assertMember(t, getMember(t, q, "g", "zed"), &zed)

	if added := addMembers(t, q, "g", newMember("g", "zed", 100), newMember("g", "ada", 10)); len(added) != 0 {
		t.Errorf("GroupMemberAdd of members only added %q, want none", added)
	}
	assertMemberCount(t, q, "g", 5)

	// Membership is per group.
	if added := addMembers(t, q, "h", newMember("h", "zed", 300)); !slices.Equal(added, []string{"zed"}) {
		t.Errorf("GroupMemberAdd(h, zed) added %q, want zed", added)
	}
	assertMemberCount(t, q, "h", 1)
	assertMemberCount(t, q, "g", 5)
	zedInH := newMember("h", "zed", 300)
	assertMember(t, getMember(t, q, "h", "zed"), &zedInH)

	added, err := q.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: "nope", Members: []parley.GroupMember{newMember("nope", "amy", 1)}})
	if !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("GroupMemberAdd to a missing group = %q, %v; want ErrNotFound", added, err)
	}
	assertMemberNotFound(t, q, "nope", "amy")
}

func testGroupMemberGet(t *testing.T, q parley.Querier) {
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("g1"))
	full := parley.GroupMember{
		GroupID:              "g",
		UserID:               strings.Repeat("é", parley.MaxUserIDBytes/2),
		Role:                 parley.RoleOwner,
		JoinTime:             1_700_000_123,
		NameCard:             "Boss ✓",
		MsgFlag:              "AcceptNotNotify",
		ShutUpUntil:          1_800_000_000,
		LastSendMsgTime:      1_700_000_200,
		ReadMsgSeq:           1 << 40,
		AppMemberDefinedData: []parley.AppDefinedItem{{Key: "z", Value: "1"}, {Key: "a", Value: ""}, {Key: "m", Value: `"quoted"`}},
	}
	bare := parley.GroupMember{GroupID: "g", UserID: "bare"}
	other := newMember("g1", "other", 5)
	addMembers(t, q, "g", full, bare)
	addMembers(t, q, "g1", other)

	assertMember(t, getMember(t, q, "g", full.UserID), &full)
	assertMember(t, getMember(t, q, "g", "bare"), &bare)
	assertMember(t, getMember(t, q, "g1", "other"), &other)
	for _, k := range [][2]string{{"g", "other"}, {"g1", "bare"}, {"g", "Bare"}, {"g", "bar"}, {"G", "bare"}, {"", "bare"}, {"nope", "bare"}, {"g", ""}} {
		assertMemberNotFound(t, q, k[0], k[1])
	}
}

func testGroupMemberList(t *testing.T, q parley.Querier) {
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("g1"))
	insertGroup(t, q, newGroup("G"))
	mia := newMember("g", "mia", 50)
	mia.Role, mia.NameCard = parley.RoleAdmin, "Mia"
	addMembers(t, q, "g", newMember("g", "zed", 100), newMember("g", "amy", 100), mia)
	addMembers(t, q, "g", newMember("g", "bob", 100), newMember("g", "kai", 10), newMember("g", "amy", 1))
	addMembers(t, q, "g1", newMember("g1", "aaa", 1))
	addMembers(t, q, "G", newMember("G", "zed", 1))
	// Join order: JoinTime, then the order added.
	order := []string{"kai", "mia", "zed", "amy", "bob"}
	byID := map[string]parley.GroupMember{
		"kai": newMember("g", "kai", 10), "mia": mia, "zed": newMember("g", "zed", 100),
		"amy": newMember("g", "amy", 100), "bob": newMember("g", "bob", 100),
	}

	list := func(p parley.GroupMemberListParams) parley.GroupMemberListParams { p.GroupID = "g"; return p }
	tests := []struct {
		name string
		p    parley.GroupMemberListParams
		want []string
	}{
		{"all", list(parley.GroupMemberListParams{}), order},
		{"limit", list(parley.GroupMemberListParams{Limit: 2}), order[:2]},
		{"offset and limit", list(parley.GroupMemberListParams{Offset: 2, Limit: 2}), order[2:4]},
		{"last page short", list(parley.GroupMemberListParams{Offset: 4, Limit: 2}), order[4:]},
		{"offset past the end", list(parley.GroupMemberListParams{Offset: 5, Limit: 2}), nil},
		{"offset without limit", list(parley.GroupMemberListParams{Offset: 3}), order[3:]},
		{"limit above the count", list(parley.GroupMemberListParams{Limit: 200}), order},
		{"user ids in join order", list(parley.GroupMemberListParams{UserIDs: []string{"bob", "nobody", "zed", "aaa", "kai"}}), []string{"kai", "zed", "bob"}},
		{"user ids ignore the page", list(parley.GroupMemberListParams{UserIDs: []string{"bob", "zed", "kai"}, Offset: 1, Limit: 1}), []string{"kai", "zed", "bob"}},
		{"user ids given twice", list(parley.GroupMemberListParams{UserIDs: []string{"bob", "mia", "bob"}}), []string{"mia", "bob"}},
		{"user ids none members", list(parley.GroupMemberListParams{UserIDs: []string{"aaa", "Amy", "%"}}), nil},
		{"other group", parley.GroupMemberListParams{GroupID: "g1"}, []string{"aaa"}},
		{"other case", parley.GroupMemberListParams{GroupID: "G"}, []string{"zed"}},
		{"no such group", parley.GroupMemberListParams{GroupID: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := assertMemberIDs(t, q, tc.p, tc.want...)
			if tc.p.GroupID != "g" || t.Failed() {
				return
			}
			for _, m := range got {
				want := byID[m.UserID]
				assertMember(t, m, &want)
			}
		})
	}
}

func testGroupMemberDelete(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("h"))
	addMembers(t, q, "g", newMember("g", "amy", 1), newMember("g", "bob", 2), newMember("g", "carl", 3), newMember("g", "dan", 4))
	addMembers(t, q, "h", newMember("h", "amy", 1), newMember("h", "bob", 2))

	del := func(groupID string, userIDs ...string) []string {
		t.Helper()
		deleted, err := q.GroupMemberDelete(ctx, parley.GroupMemberDeleteParams{GroupID: groupID, UserIDs: userIDs})
		if err != nil {
			t.Fatalf("GroupMemberDelete(%q, %q): %v", groupID, userIDs, err)
		}
		return slices.Sorted(slices.Values(deleted))
	}

	if got, want := del("g", "dan", "nobody", "bob", "dan", "Bob"), []string{"bob", "dan"}; !slices.Equal(got, want) {
		t.Errorf("GroupMemberDelete(dan, nobody, bob, dan, Bob) deleted %q, want %q", got, want)
	}
	assertMemberCount(t, q, "g", 2)
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"}, "amy", "carl")
	assertMemberNotFound(t, q, "g", "bob")
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "h"}, "amy", "bob")
	assertMemberCount(t, q, "h", 2)

	if got := del("g", "bob", "dan"); len(got) != 0 {
		t.Errorf("GroupMemberDelete of non-members deleted %q, want none", got)
	}
	assertMemberCount(t, q, "g", 2)

	if got := del("h", "amy"); !slices.Equal(got, []string{"amy"}) {
		t.Errorf("GroupMemberDelete(h, amy) deleted %q, want amy", got)
	}
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"}, "amy", "carl")
	assertMemberCount(t, q, "g", 2)
	assertMemberCount(t, q, "h", 1)

	// A member removed and added again joins anew, after the others.
	if added := addMembers(t, q, "g", newMember("g", "bob", 3)); !slices.Equal(added, []string{"bob"}) {
		t.Errorf("GroupMemberAdd(bob) after his removal added %q, want bob", added)
	}
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"}, "amy", "carl", "bob")
	assertMemberCount(t, q, "g", 3)

	if got := del("g", "amy", "carl", "bob"); !slices.Equal(got, []string{"amy", "bob", "carl"}) {
		t.Errorf("GroupMemberDelete(everyone) deleted %q", got)
	}
	assertMemberCount(t, q, "g", 0)
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"})
}

func testGroupMemberTouch(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("h"))
	amy := newMember("g", "amy", 1)
	amy.Role, amy.NameCard, amy.ShutUpUntil, amy.ReadMsgSeq = parley.RoleAdmin, "Amy", 99, 7
	bob := newMember("g", "bob", 2)
	amyInH := newMember("h", "amy", 3)
	addMembers(t, q, "g", amy, bob)
	addMembers(t, q, "h", amyInH)

	touch := func(groupID, userID string, at int64) {
		t.Helper()
		if err := q.GroupMemberTouch(ctx, parley.GroupMemberTouchParams{GroupID: groupID, UserID: userID, At: at}); err != nil {
			t.Fatalf("GroupMemberTouch(%q, %q, %d): %v", groupID, userID, at, err)
		}
	}
	touch("g", "amy", 1000)
	amy.LastSendMsgTime = 1000
	assertMember(t, getMember(t, q, "g", "amy"), &amy)
	assertMember(t, getMember(t, q, "g", "bob"), &bob)
	assertMember(t, getMember(t, q, "h", "amy"), &amyInH)

	touch("g", "amy", 2000)
	amy.LastSendMsgTime = 2000
	assertMember(t, getMember(t, q, "g", "amy"), &amy)

	// Non-members: nothing happens, and nobody joins.
	touch("g", "nobody", 3000)
	touch("nope", "amy", 3000)
	assertMemberNotFound(t, q, "g", "nobody")
	assertMemberNotFound(t, q, "nope", "amy")
	assertMemberCount(t, q, "g", 2)
	assertMemberIDs(t, q, parley.GroupMemberListParams{GroupID: "g"}, "amy", "bob")
	assertMember(t, getMember(t, q, "g", "amy"), &amy)
}

func markGroupRead(t *testing.T, q parley.Querier, groupID, userID string, msgSeq uint64) uint64 {
	t.Helper()
	seq, err := q.GroupMemberMarkRead(t.Context(), parley.GroupMemberMarkReadParams{GroupID: groupID, UserID: userID, MsgSeq: msgSeq})
	if err != nil {
		t.Fatalf("GroupMemberMarkRead(%q, %q, %d): %v", groupID, userID, msgSeq, err)
	}
	return seq
}

func testGroupMemberMarkRead(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("h"))
	insertGroup(t, q, newGroup("empty"))
	alice, bob := newMember("g", "alice", 1), newMember("g", "bob", 2)
	addMembers(t, q, "g", alice, bob)
	aliceInH := newMember("h", "alice", 3)
	addMembers(t, q, "h", aliceInH)
	addMembers(t, q, "empty", newMember("empty", "alice", 4))
	for i := range 5 {
		insertGroupMessage(t, q, newGroupMessage("g", "bob", i, 1000+int64(i)))
	}
	insertGroupMessage(t, q, newGroupMessage("h", "bob", 0, 1000))

	steps := []struct {
		name         string
		msgSeq, want uint64
	}{
		{"forward", 3, 3},
		{"never back", 2, 3},
		{"same again", 3, 3},
		{"capped at the newest", 10, 5},
		{"zero is not a reset", 0, 5},
	}
	for _, st := range steps {
		if got := markGroupRead(t, q, "g", "alice", st.msgSeq); got != st.want {
			t.Errorf("%s: GroupMemberMarkRead(g, alice, %d) = %d, want %d", st.name, st.msgSeq, got, st.want)
		}
		alice.ReadMsgSeq = st.want
		assertMember(t, getMember(t, q, "g", "alice"), &alice)
	}
	// The cap follows the group as messages come.
	insertGroupMessage(t, q, newGroupMessage("g", "bob", 5, 2000))
	if got := markGroupRead(t, q, "g", "alice", math.MaxUint64); got != 6 {
		t.Errorf("GroupMemberMarkRead(g, alice, MaxUint64) after a sixth message = %d, want 6", got)
	}
	if got := markGroupRead(t, q, "empty", "alice", 3); got != 0 {
		t.Errorf("GroupMemberMarkRead in a group without messages = %d, want 0", got)
	}

	// Nobody else moved.
	assertMember(t, getMember(t, q, "g", "bob"), &bob)
	assertMember(t, getMember(t, q, "h", "alice"), &aliceInH)

	for _, p := range []parley.GroupMemberMarkReadParams{
		{GroupID: "g", UserID: "carol", MsgSeq: 1},
		{GroupID: "nope", UserID: "alice", MsgSeq: 1},
		{GroupID: "G", UserID: "alice", MsgSeq: 1},
	} {
		if seq, err := q.GroupMemberMarkRead(ctx, p); !errors.Is(err, parley.ErrNotFound) {
			t.Errorf("GroupMemberMarkRead(%+v) = %d, %v; want ErrNotFound", p, seq, err)
		}
	}
	assertMemberNotFound(t, q, "g", "carol")
	assertMemberCount(t, q, "g", 2)
}

func assertGroupIDs(t *testing.T, q parley.Querier, user string, want ...string) {
	t.Helper()
	got, err := q.GroupIDsByMember(t.Context(), user)
	if err != nil {
		t.Fatalf("GroupIDsByMember(%q): %v", user, err)
	}
	slices.Sort(got) // in any order
	if !slices.Equal(got, want) {
		t.Errorf("GroupIDsByMember(%q) = %q, want %q", user, got, want)
	}
}

func testGroupIDsByMember(t *testing.T, q parley.Querier) {
	for _, id := range []string{"g", "g%", "G", "h"} {
		insertGroup(t, q, newGroup(id))
	}
	addMembers(t, q, "g", newMember("g", "alice", 1), newMember("g", "bob", 2))
	addMembers(t, q, "g%", newMember("g%", "alice", 1))
	addMembers(t, q, "G", newMember("G", "alice", 1), newMember("G", "ali", 2))
	addMembers(t, q, "h", newMember("h", "bob", 1))
	assertGroupIDs(t, q, "alice", "G", "g", "g%")
	assertGroupIDs(t, q, "bob", "g", "h")
	assertGroupIDs(t, q, "ali", "G")
	assertGroupIDs(t, q, "carol")

	if _, err := q.GroupMemberDelete(t.Context(), parley.GroupMemberDeleteParams{GroupID: "g%", UserIDs: []string{"alice"}}); err != nil {
		t.Fatalf("GroupMemberDelete: %v", err)
	}
	deleteGroup(t, q, "g")
	assertGroupIDs(t, q, "alice", "G")
	assertGroupIDs(t, q, "bob", "h")
}
