package chat_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// createGroupOK creates a group and fails the test if it cannot.
func (e *env) createGroupOK(t testing.TB, p chat.CreateGroupParams) string {
	t.Helper()
	if p.Name == "" {
		p.Name = "group"
	}
	id, err := e.eng.CreateGroup(context.Background(), p)
	if err != nil {
		t.Fatalf("CreateGroup(%+v): %v", p, err)
	}
	return id
}

// groupInfoOK answers get_group_info for one group that must exist.
func (e *env) groupInfoOK(t testing.TB, id string) chat.GroupInfo {
	t.Helper()
	infos, err := e.eng.GetGroupInfo(context.Background(), []string{id})
	if err != nil {
		t.Fatalf("GetGroupInfo(%q): %v", id, err)
	}
	if len(infos) != 1 || infos[0].Code != 0 {
		t.Fatalf("GetGroupInfo(%q) = %+v, want the group", id, infos)
	}
	return infos[0]
}

// memberRoles sums up members as "user:role" in the order given.
func memberRoles(ms []*parley.GroupMember) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, m.UserID+":"+m.Role)
	}
	return strings.Join(parts, " ")
}

func members(specs ...string) []chat.MemberSpec {
	var out []chat.MemberSpec
	for _, s := range specs {
		id, role, _ := strings.Cut(s, ":")
		out = append(out, chat.MemberSpec{UserID: id, Role: role})
	}
	return out
}

func TestCreateGroupErrors(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "owner", "m1", "m2")
	e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "taken", Owner: "owner"})
	e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "ownerless"})
	many := func(n int) []chat.MemberSpec {
		var out []chat.MemberSpec
		for i := range n {
			out = append(out, chat.MemberSpec{UserID: fmt.Sprintf("u%d", i)})
		}
		return out
	}
	ok := chat.CreateGroupParams{Type: parley.GroupPublic, Name: "n"}
	with := func(f func(*chat.CreateGroupParams)) chat.CreateGroupParams {
		p := ok
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    chat.CreateGroupParams
		code int
	}{
		{"unknown type", with(func(p *chat.CreateGroupParams) { p.Type = "Secret" }), parley.ErrGroupInvalidParam},
		{"type in lower case", with(func(p *chat.CreateGroupParams) { p.Type = "public" }), parley.ErrGroupInvalidParam},
		{"no type", with(func(p *chat.CreateGroupParams) { p.Type = "" }), parley.ErrGroupInvalidParam},
		{"no name", with(func(p *chat.CreateGroupParams) { p.Name = "" }), parley.ErrGroupInvalidParam},
		{"name 31 bytes", with(func(p *chat.CreateGroupParams) { p.Name = strings.Repeat("n", 31) }), parley.ErrGroupInvalidParam},
		{"name 11 runes of 3 bytes", with(func(p *chat.CreateGroupParams) { p.Name = strings.Repeat("群", 11) }), parley.ErrGroupInvalidParam},
		{"introduction 241 bytes", with(func(p *chat.CreateGroupParams) { p.Introduction = strings.Repeat("i", 241) }), parley.ErrGroupInvalidParam},
		{"notification 301 bytes", with(func(p *chat.CreateGroupParams) { p.Notification = strings.Repeat("i", 301) }), parley.ErrGroupInvalidParam},
		{"face url 101 bytes", with(func(p *chat.CreateGroupParams) { p.FaceURL = strings.Repeat("f", 101) }), parley.ErrGroupInvalidParam},
		{"max members above the type's", with(func(p *chat.CreateGroupParams) { p.MaxMemberCount = 2001 }), parley.ErrGroupInvalidParam},
		{"max members above Private's", with(func(p *chat.CreateGroupParams) { p.Type = parley.GroupWork; p.MaxMemberCount = 201 }), parley.ErrGroupInvalidParam},
		{"max members negative", with(func(p *chat.CreateGroupParams) { p.MaxMemberCount = -1 }), parley.ErrGroupInvalidParam},
		{"apply join option", with(func(p *chat.CreateGroupParams) { p.ApplyJoinOption = "DisableInvite" }), parley.ErrGroupInvalidParam},
		{"invite join option", with(func(p *chat.CreateGroupParams) { p.InviteJoinOption = "DisableApply" }), parley.ErrGroupInvalidParam},
		{"app data empty key", with(func(p *chat.CreateGroupParams) { p.AppDefinedData = []parley.AppDefinedItem{{Key: "", Value: "v"}} }), parley.ErrGroupInvalidParam},
		{"app data key 17 bytes", with(func(p *chat.CreateGroupParams) {
			p.AppDefinedData = []parley.AppDefinedItem{{Key: strings.Repeat("k", 17), Value: "v"}}
		}), parley.ErrGroupInvalidParam},
		{"app data value 4097 bytes", with(func(p *chat.CreateGroupParams) {
			p.AppDefinedData = []parley.AppDefinedItem{{Key: "k", Value: strings.Repeat("v", 4097)}}
		}), parley.ErrGroupInvalidParam},
		{"member role Owner", with(func(p *chat.CreateGroupParams) { p.Members = members("m1:Owner") }), parley.ErrGroupInvalidParam},
		{"member role unknown", with(func(p *chat.CreateGroupParams) { p.Members = members("m1:admin") }), parley.ErrGroupInvalidParam},

		{"custom id with the generated prefix", with(func(p *chat.CreateGroupParams) { p.GroupID = "@TGS#2ABCDEFGH" }), parley.ErrGroupIDInvalid},
		{"custom id 49 bytes", with(func(p *chat.CreateGroupParams) { p.GroupID = strings.Repeat("g", 49) }), parley.ErrGroupIDInvalid},
		{"custom id with a tab", with(func(p *chat.CreateGroupParams) { p.GroupID = "a\tb" }), parley.ErrGroupIDInvalid},
		{"custom id with DEL", with(func(p *chat.CreateGroupParams) { p.GroupID = "a\x7fb" }), parley.ErrGroupIDInvalid},
		{"custom id not ASCII", with(func(p *chat.CreateGroupParams) { p.GroupID = "grüppe" }), parley.ErrGroupIDInvalid},
		{"community id without @TGS#_", with(func(p *chat.CreateGroupParams) { p.Type = parley.GroupCommunity; p.GroupID = "club" }), parley.ErrGroupIDInvalid},
		{"community id with @TGS#2", with(func(p *chat.CreateGroupParams) { p.Type = parley.GroupCommunity; p.GroupID = "@TGS#2club" }), parley.ErrGroupIDInvalid},

		{"101 members", with(func(p *chat.CreateGroupParams) { p.Members = many(101) }), parley.ErrGroupTooManyAccounts},
		{"AVChatRoom with members", with(func(p *chat.CreateGroupParams) { p.Type = parley.GroupAVChatRoom; p.Members = members("m1") }), parley.ErrGroupNotPermitted},

		{"owner not imported", with(func(p *chat.CreateGroupParams) { p.Owner = "ghost" }), parley.ErrGroupUserNotExist},
		{"owner invalid", with(func(p *chat.CreateGroupParams) { p.Owner = "a b" }), parley.ErrGroupUserNotExist},
		{"member not imported", with(func(p *chat.CreateGroupParams) { p.Members = members("m1", "ghost") }), parley.ErrGroupUserNotExist},
		{"member invalid", with(func(p *chat.CreateGroupParams) { p.Members = members("m1", "") }), parley.ErrGroupUserNotExist},

		{"members beyond MaxMemberCount", with(func(p *chat.CreateGroupParams) {
			p.Owner, p.MaxMemberCount, p.Members = "owner", 2, members("m1", "m2")
		}), parley.ErrGroupFull},

		{"id taken", with(func(p *chat.CreateGroupParams) { p.GroupID = "taken"; p.Owner = "m1" }), parley.ErrGroupIDTaken},
		{"id taken, no owner", with(func(p *chat.CreateGroupParams) { p.GroupID = "taken" }), parley.ErrGroupIDTaken},
		{"id taken by an ownerless group", with(func(p *chat.CreateGroupParams) { p.GroupID = "ownerless" }), parley.ErrGroupIDTaken},
		{"id taken by the same owner", with(func(p *chat.CreateGroupParams) { p.GroupID = "taken"; p.Owner = "owner" }), parley.ErrGroupIDTakenByOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.CreateGroup(context.Background(), tt.p)
			wantCode(t, err, tt.code)
			if tt.p.GroupID == "" || tt.code == parley.ErrGroupIDTaken || tt.code == parley.ErrGroupIDTakenByOwner {
				return
			}
			if _, err := e.store.GroupGet(context.Background(), tt.p.GroupID); !errors.Is(err, parley.ErrNotFound) {
				t.Errorf("GroupGet(%q) after a failed create: %v, want ErrNotFound", tt.p.GroupID, err)
			}
		})
	}
	if got := e.groupInfoOK(t, "taken").Group.Owner; got != "owner" {
		t.Errorf("the taken group's owner = %q, want it untouched", got)
	}
}

func TestCreateGroupTypes(t *testing.T) {
	e := setup(t, nil)
	tests := []struct {
		typ        string
		wantType   string
		idPrefix   string
		maxMembers int
		applyJoin  string
	}{
		{parley.GroupPrivate, parley.GroupPrivate, "@TGS#1", 200, "DisableApply"},
		{parley.GroupWork, parley.GroupPrivate, "@TGS#1", 200, "DisableApply"},
		{parley.GroupPublic, parley.GroupPublic, "@TGS#2", 2000, "NeedPermission"},
		{parley.GroupChatRoom, parley.GroupChatRoom, "@TGS#3", 10000, "FreeAccess"},
		{parley.GroupMeeting, parley.GroupChatRoom, "@TGS#3", 10000, "FreeAccess"},
		{parley.GroupAVChatRoom, parley.GroupAVChatRoom, "@TGS#a", 0, "FreeAccess"},
		{parley.GroupCommunity, parley.GroupCommunity, "@TGS#_", 100000, "FreeAccess"},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			id := e.createGroupOK(t, chat.CreateGroupParams{Type: tt.typ, Name: "n"})
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(tt.idPrefix) + `[A-Z0-9]{8}$`).MatchString(id) {
				t.Errorf("GroupId = %q, want %s and 8 of [A-Z0-9]", id, tt.idPrefix)
			}
			if ids[id] {
				t.Errorf("GroupId %q drawn twice", id)
			}
			ids[id] = true
			g := e.groupInfoOK(t, id).Group
			if g.Type != tt.wantType || g.MaxMemberCount != tt.maxMembers || g.ApplyJoinOption != tt.applyJoin || g.InviteJoinOption != "" {
				t.Errorf("group = %+v, want Type %s, MaxMemberCount %d, ApplyJoinOption %s, InviteJoinOption empty", g, tt.wantType, tt.maxMembers, tt.applyJoin)
			}
			if g.Owner != "" || g.MemberCount != 0 || g.NextMsgSeq != 1 || g.CreateTime != t0.Unix() {
				t.Errorf("group = %+v, want no owner nor members, NextMsgSeq 1, CreateTime %d", g, t0.Unix())
			}
		})
	}

	// Chosen values win over the defaults; an AVChatRoom takes any limit.
	id := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, Name: "n", MaxMemberCount: 2000, ApplyJoinOption: "FreeAccess", InviteJoinOption: "DisableInvite"})
	if g := e.groupInfoOK(t, id).Group; g.MaxMemberCount != 2000 || g.ApplyJoinOption != "FreeAccess" || g.InviteJoinOption != "DisableInvite" {
		t.Errorf("group = %+v", g)
	}
	id = e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom, Name: "n", MaxMemberCount: 1_000_000})
	if g := e.groupInfoOK(t, id).Group; g.MaxMemberCount != 1_000_000 {
		t.Errorf("AVChatRoom MaxMemberCount = %d, want 1000000", g.MaxMemberCount)
	}
	// Custom ids: printable ASCII up to 48 bytes, and a Community's with
	// the Community prefix.
	for _, c := range []struct{ typ, id string }{
		{parley.GroupPublic, " ~!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}"},
		{parley.GroupPrivate, strings.Repeat("x", 48)},
		{parley.GroupCommunity, "@TGS#_my-club"},
		{parley.GroupPublic, "@TGS"},
	} {
		if got := e.createGroupOK(t, chat.CreateGroupParams{Type: c.typ, GroupID: c.id, Name: "n"}); got != c.id {
			t.Errorf("CreateGroup with GroupId %q answered %q", c.id, got)
		}
	}
}

func TestCreateGroupMembers(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "owner", "a", "b", "c")
	appData := []parley.AppDefinedItem{{Key: "k1", Value: ""}, {Key: strings.Repeat("k", 16), Value: strings.Repeat("v", 4096)}}
	id := e.createGroupOK(t, chat.CreateGroupParams{
		Type:           parley.GroupPrivate,
		Name:           strings.Repeat("n", 30),
		Owner:          "owner",
		Introduction:   strings.Repeat("i", 240),
		Notification:   strings.Repeat("n", 300),
		FaceURL:        strings.Repeat("f", 100),
		MaxMemberCount: 4,
		AppDefinedData: appData,
		Members: []chat.MemberSpec{
			{UserID: "a", Role: parley.RoleAdmin, AppMemberDefinedData: []parley.AppDefinedItem{{Key: "m", Value: "1"}}},
			{UserID: "owner", Role: parley.RoleMember}, // the owner repeated: ignored
			{UserID: "b"},
			{UserID: "a", Role: parley.RoleMember}, // a repeat: ignored
			{UserID: "c", Role: parley.RoleMember},
		},
	})
	info := e.groupInfoOK(t, id)
	g := info.Group
	if g.Owner != "owner" || g.MemberCount != 4 || g.Name != strings.Repeat("n", 30) || g.FaceURL != strings.Repeat("f", 100) {
		t.Errorf("group = %+v", g)
	}
	if fmt.Sprint(g.AppDefinedData) != fmt.Sprint(appData) {
		t.Errorf("AppDefinedData = %v, want %v", g.AppDefinedData, appData)
	}
	if got, want := memberRoles(info.Members), "owner:Owner a:Admin b:Member c:Member"; got != want {
		t.Errorf("members = %s, want %s", got, want)
	}
	for _, m := range info.Members {
		if m.JoinTime != t0.Unix() || m.MsgFlag != parley.MsgFlagAcceptAndNotify || m.GroupID != id {
			t.Errorf("member %+v, want JoinTime %d, MsgFlag AcceptAndNotify", m, t0.Unix())
		}
		if wantData := m.UserID == "a"; (len(m.AppMemberDefinedData) == 1) != wantData {
			t.Errorf("member %s AppMemberDefinedData = %v", m.UserID, m.AppMemberDefinedData)
		}
	}

	// The App admin is an account from the start: it may own a group
	// without having been imported.
	id = e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, Owner: "admin", Members: members("a")})
	if got, want := memberRoles(e.groupInfoOK(t, id).Members), "admin:Owner a:Member"; got != want {
		t.Errorf("members = %s, want %s", got, want)
	}
	// An AVChatRoom may have an owner, just no MemberList.
	id = e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom, Owner: "owner"})
	if got, want := memberRoles(e.groupInfoOK(t, id).Members), "owner:Owner"; got != want {
		t.Errorf("AVChatRoom members = %s, want %s", got, want)
	}
}

func TestCreateGroupIDCollision(t *testing.T) {
	var draws atomic.Int64
	// The first four draws repeat, so the second group's first id is the
	// first group's; later draws differ.
	e := setup(t, func(c *chat.Config) {
		c.Rand = func() uint32 {
			n := draws.Add(1)
			if n <= 4 {
				return 12345
			}
			return uint32(n)
		}
	})
	first := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	second := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	if first == second {
		t.Fatalf("both groups got %q", first)
	}
	if got := draws.Load(); got != 6 {
		t.Errorf("%d draws, want 6: two per id, one retry", got)
	}

	// A Rand that never changes can give no free id: an internal error,
	// not an answer blaming the request.
	stuck := setup(t, func(c *chat.Config) { c.Rand = func() uint32 { return 7 } })
	stuck.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	_, err := stuck.eng.CreateGroup(context.Background(), chat.CreateGroupParams{Type: parley.GroupPublic, Name: "n"})
	if err == nil || parley.ErrorCode(err) != parley.ErrInternal {
		t.Errorf("CreateGroup with a stuck Rand: %v, want an internal error", err)
	}
}

func TestGetGroupInfo(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "o", "m")
	a := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "a", Owner: "o", Members: members("m")})
	b := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupChatRoom, GroupID: "b"})
	infos, err := e.eng.GetGroupInfo(context.Background(), []string{a, "missing", "bad\x00id", b, a, ""})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		s := fmt.Sprintf("%q:%d", in.GroupID, in.Code)
		if in.Code == 0 {
			s += fmt.Sprintf(":%s:[%s]", in.Group.Type, memberRoles(in.Members))
		} else if in.Info == "" || in.Group != nil {
			t.Errorf("failed info %+v, want an Info and no group", in)
		}
		got = append(got, s)
	}
	want := []string{`"a":0:Public:[o:Owner m:Member]`, `"missing":10010`, `"bad\x00id":10015`, `"b":0:ChatRoom:[]`, `"a":0:Public:[o:Owner m:Member]`, `"":10015`}
	if !slices.Equal(got, want) {
		t.Errorf("GetGroupInfo =\n%q\nwant\n%q", got, want)
	}

	_, err = e.eng.GetGroupInfo(context.Background(), nil)
	wantCode(t, err, parley.ErrGroupInvalidParam)
	_, err = e.eng.GetGroupInfo(context.Background(), make([]string, chat.MaxGroupInfoIDs+1))
	wantCode(t, err, parley.ErrGroupTooManyAccounts)
}

func TestAddGroupMembers(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "o", "a", "b", "c", "d", "e")
	id := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Owner: "o", MaxMemberCount: 4, Members: members("a")})
	e.clock.Advance(5 * time.Second)
	res, err := e.eng.AddGroupMembers(context.Background(), chat.AddMembersParams{
		GroupID: id,
		UserIDs: []string{"a", "b", "ghost", "bad id", "o", "b", "c", "d", "e"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.MemberResult{
		{UserID: "a", Result: chat.MemberWasMember},
		{UserID: "b", Result: chat.MemberAdded},
		{UserID: "ghost", Result: chat.MemberAddFailed},
		{UserID: "bad id", Result: chat.MemberAddFailed},
		{UserID: "o", Result: chat.MemberWasMember},
		{UserID: "b", Result: chat.MemberWasMember}, // added just before, by this call
		{UserID: "c", Result: chat.MemberAdded},
		{UserID: "d", Result: chat.MemberAddFailed}, // the group is full: o, a, b, c
		{UserID: "e", Result: chat.MemberAddFailed},
	}
	if !slices.Equal(res, want) {
		t.Errorf("results = %v, want %v", res, want)
	}
	info := e.groupInfoOK(t, id)
	if got, want := memberRoles(info.Members), "o:Owner a:Member b:Member c:Member"; got != want {
		t.Errorf("members = %s, want %s", got, want)
	}
	if info.Group.MemberCount != 4 {
		t.Errorf("MemberCount = %d, want 4", info.Group.MemberCount)
	}
	if got := info.Members[3].JoinTime; got != t0.Unix()+5 {
		t.Errorf("c's JoinTime = %d, want %d", got, t0.Unix()+5)
	}

	// The App admin may be added without having been imported; Silence
	// changes nothing, as there are no notifications yet.
	open := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	res, err = e.eng.AddGroupMembers(context.Background(), chat.AddMembersParams{GroupID: open, UserIDs: []string{"admin", "e"}, Silence: true})
	if err != nil || !slices.Equal(res, []chat.MemberResult{{UserID: "admin", Result: chat.MemberAdded}, {UserID: "e", Result: chat.MemberAdded}}) {
		t.Errorf("AddGroupMembers(admin, e) = %v, %v", res, err)
	}

	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom})
	tooMany := make([]string, parley.MaxAddMembers+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("u%d", i)
	}
	tests := []struct {
		name string
		p    chat.AddMembersParams
		code int
	}{
		{"malformed GroupId", chat.AddMembersParams{GroupID: "a\nb", UserIDs: []string{"a"}}, parley.ErrGroupIDInvalid},
		{"no such group", chat.AddMembersParams{GroupID: "nope", UserIDs: []string{"a"}}, parley.ErrGroupNotFound},
		{"no members", chat.AddMembersParams{GroupID: id}, parley.ErrGroupInvalidParam},
		{"301 members", chat.AddMembersParams{GroupID: id, UserIDs: tooMany}, parley.ErrGroupTooManyAccounts},
		{"AVChatRoom", chat.AddMembersParams{GroupID: av, UserIDs: []string{"a"}}, parley.ErrGroupNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.AddGroupMembers(context.Background(), tt.p)
			wantCode(t, err, tt.code)
		})
	}
	if got := e.groupInfoOK(t, av).Group.MemberCount; got != 0 {
		t.Errorf("AVChatRoom MemberCount = %d, want 0", got)
	}
}

func TestDeleteGroupMembers(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "o", "a", "b", "c")
	id := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, Owner: "o", Members: members("a", "b", "c")})
	ownerless := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, Members: members("a")})
	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom, Owner: "o"})

	tests := []struct {
		name string
		p    chat.DeleteMembersParams
		code int
	}{
		{"malformed GroupId", chat.DeleteMembersParams{GroupID: strings.Repeat("g", 49), UserIDs: []string{"a"}}, parley.ErrGroupIDInvalid},
		{"no such group", chat.DeleteMembersParams{GroupID: "nope", UserIDs: []string{"a"}}, parley.ErrGroupNotFound},
		{"nobody", chat.DeleteMembersParams{GroupID: id}, parley.ErrGroupInvalidParam},
		{"101", chat.DeleteMembersParams{GroupID: id, UserIDs: make([]string, parley.MaxDeleteMembers+1)}, parley.ErrGroupTooManyAccounts},
		{"the owner, with others", chat.DeleteMembersParams{GroupID: id, UserIDs: []string{"a", "o"}}, parley.ErrGroupNotPermitted},
		{"AVChatRoom", chat.DeleteMembersParams{GroupID: av, UserIDs: []string{"a"}}, parley.ErrGroupNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, e.eng.DeleteGroupMembers(context.Background(), tt.p), tt.code)
		})
	}
	if got, want := memberRoles(e.groupInfoOK(t, id).Members), "o:Owner a:Member b:Member c:Member"; got != want {
		t.Fatalf("members after refused deletes = %s, want %s", got, want)
	}

	err := e.eng.DeleteGroupMembers(context.Background(), chat.DeleteMembersParams{GroupID: id, UserIDs: []string{"a", "ghost", "bad id", "c", "a"}, Reason: "spam"})
	if err != nil {
		t.Fatal(err)
	}
	info := e.groupInfoOK(t, id)
	if got, want := memberRoles(info.Members), "o:Owner b:Member"; got != want || info.Group.MemberCount != 2 {
		t.Errorf("members = %s (count %d), want %s (2)", got, info.Group.MemberCount, want)
	}
	// A group without owner has nobody who cannot be removed.
	if err := e.eng.DeleteGroupMembers(context.Background(), chat.DeleteMembersParams{GroupID: ownerless, UserIDs: []string{"a"}}); err != nil {
		t.Errorf("delete from an ownerless group: %v", err)
	}
	if got := e.groupInfoOK(t, ownerless).Group.MemberCount; got != 0 {
		t.Errorf("MemberCount = %d, want 0", got)
	}
}

func TestGetGroupMembers(t *testing.T) {
	e := setup(t, nil)
	var ids []string
	for i := range 7 {
		ids = append(ids, fmt.Sprintf("u%d", i))
	}
	e.importUsers(t, ids...)
	id := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, Owner: "u0", Members: members(ids[1:]...)})
	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom})

	pages := []struct {
		limit, offset int
		want          string
	}{
		{0, 0, "u0 u1 u2 u3 u4 u5 u6"},
		{3, 0, "u0 u1 u2"},
		{3, 3, "u3 u4 u5"},
		{3, 6, "u6"},
		{3, 7, ""},
		{0, 5, "u5 u6"},
		{200, 0, "u0 u1 u2 u3 u4 u5 u6"},
	}
	for _, pg := range pages {
		res, err := e.eng.GetGroupMembers(context.Background(), chat.GetMembersParams{GroupID: id, Limit: pg.limit, Offset: pg.offset})
		if err != nil {
			t.Fatalf("Limit %d Offset %d: %v", pg.limit, pg.offset, err)
		}
		var got []string
		for _, m := range res.Members {
			got = append(got, m.UserID)
		}
		if strings.Join(got, " ") != pg.want || res.MemberNum != 7 {
			t.Errorf("Limit %d Offset %d = %v (MemberNum %d), want %s (7)", pg.limit, pg.offset, got, res.MemberNum, pg.want)
		}
	}

	tests := []struct {
		name string
		p    chat.GetMembersParams
		code int
	}{
		{"malformed GroupId", chat.GetMembersParams{GroupID: ""}, parley.ErrGroupIDInvalid},
		{"no such group", chat.GetMembersParams{GroupID: "nope"}, parley.ErrGroupNotFound},
		{"limit negative", chat.GetMembersParams{GroupID: id, Limit: -1}, parley.ErrGroupInvalidParam},
		{"limit 201", chat.GetMembersParams{GroupID: id, Limit: 201}, parley.ErrGroupInvalidParam},
		{"offset negative", chat.GetMembersParams{GroupID: id, Offset: -1}, parley.ErrGroupInvalidParam},
		{"AVChatRoom", chat.GetMembersParams{GroupID: av}, parley.ErrGroupNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.GetGroupMembers(context.Background(), tt.p)
			wantCode(t, err, tt.code)
		})
	}
}

func TestDestroyGroup(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "o", "m")
	ctx := context.Background()
	id := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "doomed", Owner: "o", Members: members("m")})
	other := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "other", Owner: "o", Members: members("m")})
	for _, g := range []string{id, other} {
		e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Random: 1, Body: textBody("hi")})
	}

	wantCode(t, e.eng.DestroyGroup(ctx, "bad\x01"), parley.ErrGroupIDInvalid)
	if err := e.eng.DestroyGroup(ctx, id); err != nil {
		t.Fatalf("DestroyGroup: %v", err)
	}
	if _, err := e.store.GroupMessageGet(ctx, id, 1); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("the destroyed group's message: %v, want ErrNotFound", err)
	}
	if _, err := e.store.GroupMemberGet(ctx, id, "m"); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("the destroyed group's member: %v, want ErrNotFound", err)
	}

	calls := []struct {
		name string
		call func() error
	}{
		{"DestroyGroup", func() error { return e.eng.DestroyGroup(ctx, id) }},
		{"AddGroupMembers", func() error {
			_, err := e.eng.AddGroupMembers(ctx, chat.AddMembersParams{GroupID: id, UserIDs: []string{"o"}})
			return err
		}},
		{"DeleteGroupMembers", func() error {
			return e.eng.DeleteGroupMembers(ctx, chat.DeleteMembersParams{GroupID: id, UserIDs: []string{"m"}})
		}},
		{"GetGroupMembers", func() error {
			_, err := e.eng.GetGroupMembers(ctx, chat.GetMembersParams{GroupID: id})
			return err
		}},
		{"SendGroup", func() error {
			_, err := e.eng.SendGroup(ctx, chat.SendGroupParams{GroupID: id, Random: 2, Body: textBody("hi")})
			return err
		}},
		{"RecallGroup", func() error {
			_, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: id, MsgSeqs: []uint64{1}})
			return err
		}},
		{"GroupHistory", func() error {
			_, err := e.eng.GroupHistory(ctx, chat.GroupHistoryParams{GroupID: id, Number: 1})
			return err
		}},
		{"GetGroupInfo", func() error {
			infos, err := e.eng.GetGroupInfo(ctx, []string{id})
			if err != nil {
				return err
			}
			return &parley.Error{Code: infos[0].Code}
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.call(), parley.ErrGroupNotFound)
		})
	}

	// The other group is untouched, and the id is free again, for a new
	// group whose MsgSeqs start over.
	if got := e.groupInfoOK(t, other).Group.MemberCount; got != 2 {
		t.Errorf("the other group's MemberCount = %d, want 2", got)
	}
	if _, err := e.store.GroupMessageGet(ctx, other, 1); err != nil {
		t.Errorf("the other group's message: %v", err)
	}
	again := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: id, Owner: "o"})
	if res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: again, From: "o", Random: 1, Body: textBody("hi")}); res.MsgSeq != 1 {
		t.Errorf("the new group's first MsgSeq = %d, want 1", res.MsgSeq)
	}
}
