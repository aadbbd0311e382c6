package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// published is one call of the Publisher.
type published struct {
	Change   *parley.Change
	Audience parley.Audience
	Joined   []string // GroupMembersChanged
	Left     []string
	Group    string // GroupMembersChanged, GroupDestroyed
	Kind     string // "publish", "members", "destroyed"
}

// publisher records what the engine publishes, in call order.
type publisher struct {
	mu    sync.Mutex
	calls []published
}

func (p *publisher) Publish(c *parley.Change, a parley.Audience) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, published{Kind: "publish", Change: c, Audience: a})
}

func (p *publisher) GroupMembersChanged(groupID string, joined, left []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, published{Kind: "members", Group: groupID, Joined: joined, Left: left})
}

func (p *publisher) GroupDestroyed(groupID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, published{Kind: "destroyed", Group: groupID})
}

// take returns the calls so far and forgets them.
func (p *publisher) take() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.calls
	p.calls = nil
	return out
}

// changes returns the published changes of kind, in order, and forgets
// every call.
func (p *publisher) changes(kind string) []published {
	var out []published
	for _, c := range p.take() {
		if c.Kind == "publish" && c.Change.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

func setupPub(t *testing.T, mod func(*chat.Config)) (*env, *publisher) {
	t.Helper()
	pub := &publisher{}
	e := setup(t, func(c *chat.Config) {
		c.Publisher = pub
		if mod != nil {
			mod(c)
		}
	})
	return e, pub
}

func dataOf(t *testing.T, c *parley.Change) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.Data, &m); err != nil {
		t.Fatalf("change data %s: %v", c.Data, err)
	}
	return m
}

func (e *env) sync(t *testing.T, p chat.SyncParams) chat.SyncResult {
	t.Helper()
	res, err := e.eng.Sync(context.Background(), p)
	if err != nil {
		t.Fatalf("Sync(%+v): %v", p, err)
	}
	return res
}

func seqsOf(cs []*parley.Change) []uint64 {
	var out []uint64
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

func TestC2CMessageIsLoggedAndPushed(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	ctx := context.Background()
	origin := parley.Origin{ClientIP: "10.0.0.1", OptPlatform: "iOS", SessionID: "s1"}

	r1, err := e.eng.SendC2C(ctx, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("hi"), SyncOtherMachine: parley.SyncToSender, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	calls := pub.take()
	if len(calls) != 2 {
		t.Fatalf("published %d calls, want the message and bob's unread count: %+v", len(calls), calls)
	}
	msg, unread := calls[0], calls[1]
	if msg.Change.Kind != parley.ChangeMessage || msg.Change.Seq != 1 || msg.Change.Conversation != parley.C2CConversation("alice", "bob") {
		t.Errorf("message change = %+v", msg.Change)
	}
	if want := (parley.Audience{Users: []string{"bob", "alice"}, SkipSession: "s1"}); !slices.Equal(msg.Audience.Users, want.Users) || msg.Audience.SkipSession != want.SkipSession {
		t.Errorf("audience = %+v, want %+v", msg.Audience, want)
	}
	d := dataOf(t, msg.Change)
	if d["ConversationType"] != "C2C" || d["From_Account"] != "alice" || d["To_Account"] != "bob" || d["MsgKey"] != r1.MsgKey || d["MsgId"] != r1.MsgID {
		t.Errorf("message data = %s", msg.Change.Data)
	}
	if unread.Change.Kind != parley.ChangeUnread || unread.Change.Seq != 0 || unread.Change.Only != "bob" || !slices.Equal(unread.Audience.Users, []string{"bob"}) {
		t.Errorf("unread push = %+v %+v", unread.Change, unread.Audience)
	}
	if u := dataOf(t, unread.Change); u["Peer_Account"] != "alice" || u["UnreadMsgNum"] != 1.0 || u["AllC2CUnreadMsgNum"] != 1.0 {
		t.Errorf("unread data = %s", unread.Change.Data)
	}

	// Without SyncOtherMachine 1 the sender's devices are not pushed it.
	e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 2, Body: textBody("again")})
	msgs := pub.changes(parley.ChangeMessage)
	if len(msgs) != 1 || msgs[0].Change.Seq != 2 || !slices.Equal(msgs[0].Audience.Users, []string{"bob"}) {
		t.Fatalf("second message published as %+v", msgs)
	}

	// Both sides sync the same two changes, byte for byte as pushed.
	for _, who := range []struct{ user, peer string }{{"alice", "bob"}, {"bob", "alice"}} {
		res := e.sync(t, chat.SyncParams{User: who.user, Peer: who.peer})
		if !slices.Equal(seqsOf(res.Changes), []uint64{1, 2}) || res.Head != 2 || !res.Complete {
			t.Fatalf("%s syncs %v head %d complete %v", who.user, seqsOf(res.Changes), res.Head, res.Complete)
		}
		if !bytes.Equal(res.Changes[0].Data, msg.Change.Data) {
			t.Errorf("synced %s, pushed %s", res.Changes[0].Data, msg.Change.Data)
		}
	}
	res := e.sync(t, chat.SyncParams{User: "bob", Peer: "alice", AfterSeq: 1, Limit: 1})
	if !slices.Equal(seqsOf(res.Changes), []uint64{2}) || !res.Complete {
		t.Errorf("page after 1: %v complete %v", seqsOf(res.Changes), res.Complete)
	}
	res = e.sync(t, chat.SyncParams{User: "bob", Peer: "alice", Limit: 1})
	if !slices.Equal(seqsOf(res.Changes), []uint64{1}) || res.Complete {
		t.Errorf("first page of 1: %v complete %v", seqsOf(res.Changes), res.Complete)
	}

	// Both sides have the conversation in their list.
	for _, who := range []struct {
		user, peer string
		unread     int
	}{{"alice", "bob", 0}, {"bob", "alice", 2}} {
		list, err := e.eng.Conversations(ctx, who.user)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Peer != who.peer || list[0].Seq != 2 || list[0].Unread != who.unread {
			t.Errorf("%s's conversations = %+v", who.user, list)
		}
	}
}

func TestC2CMessageHiddenFromSender(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("psst"), SyncOtherMachine: parley.SyncNotToSender})
	msgs := pub.changes(parley.ChangeMessage)
	if len(msgs) != 1 || msgs[0].Change.Except != "alice" || !slices.Equal(msgs[0].Audience.Users, []string{"bob"}) {
		t.Fatalf("published %+v", msgs)
	}
	res := e.sync(t, chat.SyncParams{User: "alice", Peer: "bob"})
	if len(res.Changes) != 0 || res.Head != 1 || !res.Complete {
		t.Errorf("alice syncs %v head %d complete %v; want nothing, head 1", seqsOf(res.Changes), res.Head, res.Complete)
	}
	if res := e.sync(t, chat.SyncParams{User: "bob", Peer: "alice"}); len(res.Changes) != 1 {
		t.Errorf("bob syncs %v", seqsOf(res.Changes))
	}
	list, err := e.eng.Conversations(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("alice's conversations = %+v, want none: the message is hidden from her", list)
	}
}

func TestOnlineOnlyIsPushedNotLogged(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	zero := 0
	e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("typing"), LifeTime: &zero})
	calls := pub.take()
	if len(calls) != 1 || calls[0].Change.Kind != parley.ChangeMessage || calls[0].Change.Seq != 0 {
		t.Fatalf("published %+v, want one message with seq 0 and no unread push", calls)
	}
	if d := dataOf(t, calls[0].Change); d["OnlineOnlyFlag"] != 1.0 {
		t.Errorf("data = %s", calls[0].Change.Data)
	}
	if res := e.sync(t, chat.SyncParams{User: "bob", Peer: "alice"}); len(res.Changes) != 0 || res.Head != 0 {
		t.Errorf("bob syncs %v head %d, want nothing", seqsOf(res.Changes), res.Head)
	}
	if n := e.total(t, "bob"); n != 0 {
		t.Errorf("bob's unread = %d, want 0", n)
	}
}

func TestClientRecallWindow(t *testing.T) {
	e, pub := setupPub(t, func(c *chat.Config) { c.ClientRecallWindow = time.Minute })
	e.importUsers(t, "alice", "bob")
	ctx := context.Background()
	r := e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("oops")})
	old := e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 2, MsgSeq: seq(7), Body: textBody("old")})
	pub.take()

	// bob cannot recall alice's message: as bob's, it does not exist.
	err := e.eng.Recall(ctx, chat.RecallParams{From: "alice", To: "bob", MsgKey: r.MsgKey, Operator: "bob"})
	wantCode(t, err, parley.ErrRecallNotFound)

	e.clock.Advance(59 * time.Second)
	if err := e.eng.Recall(ctx, chat.RecallParams{From: "alice", To: "bob", MsgKey: r.MsgKey, Operator: "alice", Origin: parley.Origin{SessionID: "s9"}}); err != nil {
		t.Fatalf("recall within the window: %v", err)
	}
	calls := pub.take()
	if len(calls) != 2 || calls[0].Change.Kind != parley.ChangeRecall || calls[0].Change.Seq != 3 || calls[0].Audience.SkipSession != "s9" {
		t.Fatalf("published %+v, want the recall (seq 3) then bob's unread", calls)
	}
	if d := dataOf(t, calls[0].Change); d["MsgKey"] != r.MsgKey || d["Operator_Account"] != "alice" {
		t.Errorf("recall data = %s", calls[0].Change.Data)
	}
	if u := dataOf(t, calls[1].Change); calls[1].Change.Kind != parley.ChangeUnread || u["UnreadMsgNum"] != 1.0 {
		t.Errorf("unread push = %+v %s", calls[1].Change, calls[1].Change.Data)
	}

	e.clock.Advance(2 * time.Second)
	err = e.eng.Recall(ctx, chat.RecallParams{From: "alice", To: "bob", MsgKey: old.MsgKey, Operator: "alice"})
	wantCode(t, err, parley.ErrRecallTimeLimit)
	// The App admin has no window.
	if err := e.eng.Recall(ctx, chat.RecallParams{From: "alice", To: "bob", MsgKey: old.MsgKey}); err != nil {
		t.Fatalf("admin recall: %v", err)
	}
}

func TestGroupChangesAndMembers(t *testing.T) {
	e, pub := setupPub(t, func(c *chat.Config) { c.ClientRecallWindow = time.Minute })
	e.importUsers(t, "owner", "alice", "bob", "carol")
	ctx := context.Background()
	gid, err := e.eng.CreateGroup(ctx, chat.CreateGroupParams{Owner: "owner", Type: parley.GroupPublic, Name: "g", Members: []chat.MemberSpec{{UserID: "alice"}, {UserID: "bob"}}})
	if err != nil {
		t.Fatal(err)
	}
	calls := pub.take()
	if len(calls) != 1 || calls[0].Kind != "members" || calls[0].Group != gid || !slices.Equal(calls[0].Joined, []string{"owner", "alice", "bob"}) {
		t.Fatalf("create published %+v", calls)
	}
	groups, err := e.eng.Login(ctx, "alice")
	if err != nil || !slices.Equal(groups, []string{gid}) {
		t.Fatalf("Login(alice) = %v, %v", groups, err)
	}

	send := func(from string, p chat.SendGroupParams) chat.SendGroupResult {
		t.Helper()
		p.GroupID, p.From, p.Operator = gid, from, from
		if p.Body == nil {
			p.Body = textBody("hello")
		}
		res, err := e.eng.SendGroup(ctx, p)
		if err != nil {
			t.Fatalf("SendGroup: %v", err)
		}
		return res
	}
	send("alice", chat.SendGroupParams{Random: 1, Origin: parley.Origin{SessionID: "sa"}})
	msgs := pub.changes(parley.ChangeMessage)
	if len(msgs) != 1 || msgs[0].Change.Seq != 1 || msgs[0].Audience.GroupID != gid || msgs[0].Audience.SkipSession != "sa" {
		t.Fatalf("group message published %+v", msgs)
	}
	if d := dataOf(t, msgs[0].Change); d["ConversationType"] != "GROUP" || d["GroupId"] != gid || d["MsgSeq"] != 1.0 || d["MsgPriority"] != "Normal" {
		t.Errorf("group message data = %s", msgs[0].Change.Data)
	}
	send("alice", chat.SendGroupParams{Random: 2, OnlineOnly: true})
	if msgs := pub.changes(parley.ChangeMessage); len(msgs) != 1 || msgs[0].Change.Seq != 0 || msgs[0].Audience.GroupID != gid {
		t.Fatalf("online-only group message published %+v", msgs)
	}
	send("alice", chat.SendGroupParams{Random: 3, To: []string{"bob"}})
	if msgs := pub.changes(parley.ChangeMessage); len(msgs) != 1 || msgs[0].Change.Seq != 0 || msgs[0].Audience.GroupID != "" || !slices.Equal(msgs[0].Audience.Users, []string{"bob", "alice"}) {
		t.Fatalf("targeted group message published %+v", msgs)
	}
	send("bob", chat.SendGroupParams{Random: 4}) // MsgSeq 3

	// Client recalls: bob may not recall alice's message, the owner may;
	// nobody may once the window has passed.
	recall := func(op string, seqs ...uint64) []chat.RecallResult {
		t.Helper()
		res, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: gid, MsgSeqs: seqs, Operator: op, Client: true})
		if err != nil {
			t.Fatalf("RecallGroup by %s: %v", op, err)
		}
		return res
	}
	if res := recall("bob", 1, 3); res[0].Code != parley.ErrGroupNotPermitted || res[1].Code != 0 {
		t.Errorf("bob recalls 1 and 3: %+v", res)
	}
	if res := recall("owner", 1); res[0].Code != 0 {
		t.Errorf("owner recalls 1: %+v", res)
	}
	recalls := pub.changes(parley.ChangeRecall)
	if len(recalls) != 2 || recalls[0].Change.Seq != 3 || recalls[1].Change.Seq != 4 {
		t.Fatalf("recalls published %+v", recalls)
	}
	send("alice", chat.SendGroupParams{Random: 5}) // MsgSeq 4
	e.clock.Advance(61 * time.Second)
	if res := recall("alice", 4); res[0].Code != parley.ErrGroupRecallTimeLimit {
		t.Errorf("alice recalls an old message: %+v", res)
	}
	_, err = e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: gid, MsgSeqs: []uint64{4}, Operator: "carol", Client: true})
	wantCode(t, err, parley.ErrGroupNotPermitted)
	pub.take()

	// Read marks are the reader's own.
	readSeq, err := e.eng.SetGroupRead(ctx, chat.GroupReadParams{GroupID: gid, User: "bob", MsgSeq: 2})
	if err != nil || readSeq != 2 {
		t.Fatalf("SetGroupRead = %d, %v", readSeq, err)
	}
	reads := pub.changes(parley.ChangeRead)
	if len(reads) != 1 || reads[0].Change.Only != "bob" || !slices.Equal(reads[0].Audience.Users, []string{"bob"}) {
		t.Fatalf("read published %+v", reads)
	}
	_, err = e.eng.SetGroupRead(ctx, chat.GroupReadParams{GroupID: gid, User: "carol"})
	wantCode(t, err, parley.ErrGroupNotPermitted)

	aliceSees := e.sync(t, chat.SyncParams{User: "alice", GroupID: gid})
	bobSees := e.sync(t, chat.SyncParams{User: "bob", GroupID: gid})
	if !slices.Equal(seqsOf(aliceSees.Changes), []uint64{1, 2, 3, 4, 5}) || !slices.Equal(seqsOf(bobSees.Changes), []uint64{1, 2, 3, 4, 5, 6}) || aliceSees.Head != 6 {
		t.Errorf("alice syncs %v (head %d), bob %v", seqsOf(aliceSees.Changes), aliceSees.Head, seqsOf(bobSees.Changes))
	}
	_, err = e.eng.Sync(ctx, chat.SyncParams{User: "carol", GroupID: gid})
	wantCode(t, err, parley.ErrGroupNotPermitted)
	_, err = e.eng.Sync(ctx, chat.SyncParams{User: "carol", GroupID: "nope"})
	wantCode(t, err, parley.ErrGroupNotFound)

	list, err := e.eng.Conversations(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].GroupID != gid || list[0].Seq != 6 || list[0].LastMsgSeq != 4 || list[0].ReadMsgSeq != 2 {
		t.Errorf("bob's conversations = %+v", list)
	}

	if err := e.eng.DeleteGroupMembers(ctx, chat.DeleteMembersParams{GroupID: gid, UserIDs: []string{"bob", "carol"}}); err != nil {
		t.Fatal(err)
	}
	if calls := pub.take(); len(calls) != 1 || calls[0].Kind != "members" || !slices.Equal(calls[0].Left, []string{"bob"}) {
		t.Errorf("delete published %+v", calls)
	}
	if _, err := e.eng.AddGroupMembers(ctx, chat.AddMembersParams{GroupID: gid, UserIDs: []string{"carol", "alice"}}); err != nil {
		t.Fatal(err)
	}
	if calls := pub.take(); len(calls) != 1 || !slices.Equal(calls[0].Joined, []string{"carol"}) {
		t.Errorf("add published %+v", calls)
	}
	if err := e.eng.DestroyGroup(ctx, gid); err != nil {
		t.Fatal(err)
	}
	if calls := pub.take(); len(calls) != 1 || calls[0].Kind != "destroyed" || calls[0].Group != gid {
		t.Errorf("destroy published %+v", calls)
	}
}

func TestExtensionChangeIsLogged(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	ctx := context.Background()
	r := e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("vote"), SupportExtension: true})
	pub.take()
	ref := chat.MessageRef{From: "alice", To: "bob", MsgKey: r.MsgKey}
	set := func(op string, kvs ...parley.ExtensionKV) chat.SetExtensionsResult {
		t.Helper()
		res, err := e.eng.SetExtensions(ctx, chat.SetExtensionsParams{Ref: ref, Operator: op, OperateType: parley.ExtensionSet, KVs: kvs})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	set("bob", parley.ExtensionKV{Key: "k", Value: "1"})
	// A stale Seq conflicts, applies nothing, and logs nothing.
	if res := set("alice", parley.ExtensionKV{Key: "k", Value: "2"}); res.Results[0].Code != parley.ErrExtensionConflict {
		t.Fatalf("stale write = %+v", res)
	}
	exts := pub.changes(parley.ChangeExtension)
	if len(exts) != 1 || exts[0].Change.Seq != 2 || !slices.Equal(exts[0].Audience.Users, []string{"alice", "bob"}) {
		t.Fatalf("extension published %+v", exts)
	}
	var d struct {
		MsgKey        string
		OperateType   int
		ExtensionList []parley.ExtensionKV
		Seq           uint64
	}
	if err := json.Unmarshal(exts[0].Change.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.MsgKey != r.MsgKey || d.OperateType != 1 || d.Seq != 1 || len(d.ExtensionList) != 1 || d.ExtensionList[0] != (parley.ExtensionKV{Key: "k", Value: "1", Seq: 1}) {
		t.Errorf("extension data = %s", exts[0].Change.Data)
	}
}

func TestC2CReadIsTheReadersOwn(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	ctx := context.Background()
	e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 1, Body: textBody("1")})
	e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: 2, Body: textBody("2")})
	pub.take()
	if err := e.eng.SetRead(ctx, chat.SetReadParams{Report: "bob", Peer: "alice", Origin: parley.Origin{SessionID: "b1"}}); err != nil {
		t.Fatal(err)
	}
	reads := pub.changes(parley.ChangeRead)
	if len(reads) != 1 || reads[0].Change.Seq != 3 || reads[0].Change.Only != "bob" || reads[0].Audience.SkipSession != "b1" {
		t.Fatalf("read published %+v", reads)
	}
	if d := dataOf(t, reads[0].Change); d["UnreadMsgNum"] != 0.0 || d["Peer_Account"] != "alice" {
		t.Errorf("read data = %s", reads[0].Change.Data)
	}
	if res := e.sync(t, chat.SyncParams{User: "alice", Peer: "bob"}); !slices.Equal(seqsOf(res.Changes), []uint64{1, 2}) || res.Head != 3 {
		t.Errorf("alice syncs %v head %d", seqsOf(res.Changes), res.Head)
	}
}

// Concurrent senders in one conversation: the changes are published in
// Seq order, because the store runs the hooks in commit order.
func TestPublishOrderFollowsCommitOrder(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := "alice", "bob"
			if s%2 == 1 {
				from, to = to, from
			}
			for i := range each {
				if _, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: from, To: to, MsgRandom: uint32(s*1000 + i), Body: textBody(fmt.Sprint(s, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	msgs := pub.changes(parley.ChangeMessage)
	if len(msgs) != senders*each {
		t.Fatalf("published %d messages, want %d", len(msgs), senders*each)
	}
	for i, m := range msgs {
		if m.Change.Seq != uint64(i+1) {
			t.Fatalf("publish %d has seq %d, want %d", i, m.Change.Seq, i+1)
		}
	}
}

func TestLoginImportsTheAccount(t *testing.T) {
	e, _ := setupPub(t, nil)
	ctx := context.Background()
	e.importUsers(t, "alice")
	if err := e.eng.AccountImport(ctx, parley.Account{UserID: "alice", Nick: "Alice"}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "newcomer"} {
		groups, err := e.eng.Login(ctx, user)
		if err != nil || len(groups) != 0 {
			t.Fatalf("Login(%s) = %v, %v", user, groups, err)
		}
	}
	got, err := e.store.AccountGetMany(ctx, []string{"alice", "newcomer"})
	if err != nil || len(got) != 2 {
		t.Fatalf("accounts = %+v, %v", got, err)
	}
	for _, a := range got {
		if a.UserID == "alice" && a.Nick != "Alice" {
			t.Errorf("login changed alice's nick to %q", a.Nick)
		}
	}
	_, err = e.eng.Login(ctx, "bad user")
	if err == nil {
		t.Fatal("Login with an invalid UserID succeeded")
	}
}

// The hand-built message data is what encoding/json would write.
func TestChangeDataIsEncodingJSON(t *testing.T) {
	e, pub := setupPub(t, nil)
	e.importUsers(t, "al\"ice", "bob<>")
	e.send(t, chat.SendParams{From: "al\"ice", To: "bob<>", MsgRandom: 4294967295, MsgSeq: seq(4294967295), Body: textBody("é\u2028<x>\x01"), CloudCustomData: "{\"a\":\"\\u00e9\"}", SupportExtension: true})
	msgs := pub.changes(parley.ChangeMessage)
	if len(msgs) != 1 {
		t.Fatalf("published %+v", msgs)
	}
	var generic map[string]any
	if err := json.Unmarshal(msgs[0].Change.Data, &generic); err != nil {
		t.Fatalf("data %s: %v", msgs[0].Change.Data, err)
	}
	type data struct {
		ConversationType        string
		From                    string `json:"From_Account"`
		To                      string `json:"To_Account"`
		MsgSeq                  uint32
		MsgRandom               uint32
		MsgTime                 int64
		MsgKey                  string
		MsgID                   string `json:"MsgId"`
		MsgBody                 json.RawMessage
		CloudCustomData         string
		OnlineOnlyFlag          int
		SupportMessageExtension int
		IsNeedReadReceipt       int
	}
	var d data
	if err := json.Unmarshal(msgs[0].Change.Data, &d); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	if got := msgs[0].Change.Data; !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
		t.Errorf("data\n got %s\nwant %s", got, want.Bytes())
	}

	// The unread count pushed to the recipient, hand-built too.
	e.send(t, chat.SendParams{From: "al\"ice", To: "bob<>", MsgRandom: 7, Body: textBody("again")})
	unread := pub.changes(parley.ChangeUnread)
	if len(unread) != 1 {
		t.Fatalf("unread pushes %+v", unread)
	}
	var u struct {
		Peer         string `json:"Peer_Account"`
		UnreadMsgNum int
		AllUnread    int `json:"AllC2CUnreadMsgNum"`
	}
	if err := json.Unmarshal(unread[0].Change.Data, &u); err != nil {
		t.Fatal(err)
	}
	want.Reset()
	if err := enc.Encode(u); err != nil {
		t.Fatal(err)
	}
	if got := unread[0].Change.Data; !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) || u.UnreadMsgNum != 2 || u.Peer != "al\"ice" {
		t.Errorf("unread data\n got %s\nwant %s", got, want.Bytes())
	}
}

// A page of Sync stops at MaxSyncBytes of data, whatever its Limit, so a
// client's answer frame stays bounded; paging on gets the rest.
func TestSyncPageIsBoundedInBytes(t *testing.T) {
	e, _ := setupPub(t, nil)
	e.importUsers(t, "alice", "bob")
	big := strings.Repeat("x", 11*1024)
	const n = 30
	for i := range n {
		e.send(t, chat.SendParams{From: "alice", To: "bob", MsgRandom: uint32(i), Body: textBody(big)})
	}
	var after uint64
	pages := 0
	for {
		res := e.sync(t, chat.SyncParams{User: "bob", Peer: "alice", AfterSeq: after, Limit: chat.MaxSyncLimit})
		pages++
		size := 0
		for _, c := range res.Changes {
			if c.Seq != after+1 {
				t.Fatalf("page %d: seq %d after %d", pages, c.Seq, after)
			}
			after = c.Seq
			size += len(c.Data)
		}
		if size > chat.MaxSyncBytes {
			t.Fatalf("page %d holds %d bytes of changes, more than %d", pages, size, chat.MaxSyncBytes)
		}
		if res.Complete {
			break
		}
	}
	if after != n || pages < 2 {
		t.Errorf("synced %d changes in %d pages, want %d in at least 2", after, pages, n)
	}
}
