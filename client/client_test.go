package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

const wait = 5 * time.Second

var ctx = context.Background()

// next returns c's next event that is not an unread count (those come
// with every message and are checked where they matter).
func next(t testing.TB, c *client.Client) client.Event {
	t.Helper()
	for {
		e := parleytest.NextEvent(t, c, wait)
		if e.Kind != client.KindUnread {
			return e
		}
	}
}

// message returns c's next event, which must be a message.
func message(t testing.TB, c *client.Client) (client.Event, *client.Message) {
	t.Helper()
	e := next(t, c)
	m, err := e.Message()
	if err != nil {
		t.Fatalf("%s's next event: %v (%s)", c.UserID(), err, e.Data)
	}
	return e, m
}

func text(t testing.TB, m *client.Message) string {
	t.Helper()
	var body []struct {
		MsgContent struct{ Text string }
	}
	if err := json.Unmarshal(m.Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("MsgBody %s: %v", m.Body, err)
	}
	return body[0].MsgContent.Text
}

func send(t testing.TB, from *client.Client, to, msg string) client.SendC2CResult {
	t.Helper()
	res, err := from.SendC2C(ctx, client.SendC2CRequest{To: to, Body: client.TextBody(msg)})
	if err != nil {
		t.Fatalf("%s sends %q to %s: %v", from.UserID(), msg, to, err)
	}
	return res
}

// quiet checks that c has no event pending, by a round trip through the
// server after whatever was sent before: a ping's reply follows every push
// queued before it, and the orderer hands pushes on in order.
func quiet(t testing.TB, c *client.Client) {
	t.Helper()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-c.Events():
		if e.Kind != client.KindUnread {
			t.Fatalf("%s got an unexpected %s event seq %d: %s", c.UserID(), e.Kind, e.Seq, e.Data)
		}
	default:
	}
}

func TestTwoUsersChat(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")

	sent := send(t, alice, "bob", "hello bob")
	e, m := message(t, bob)
	if e.ConversationID != "C2Calice" || e.Seq != 1 || m.From != "alice" || m.To != "bob" || m.MsgKey != sent.MsgKey || m.MsgID != sent.MsgID || text(t, m) != "hello bob" {
		t.Fatalf("bob got %+v %+v", e, m)
	}
	u := parleytest.NextEvent(t, bob, wait)
	if unread, err := u.Unread(); err != nil || u.Seq != 0 || unread.Peer != "alice" || unread.UnreadMsgNum != 1 || unread.AllUnread != 1 {
		t.Fatalf("bob's unread event: %+v %+v %v", u, unread, err)
	}

	send(t, bob, "alice", "hi alice")
	send(t, bob, "alice", "how are you")
	for i, want := range []string{"hi alice", "how are you"} {
		e, m := message(t, alice)
		if e.ConversationID != "C2Cbob" || e.Seq != uint64(2+i) || text(t, m) != want {
			t.Fatalf("alice's message %d: %+v %q", i, e, text(t, m))
		}
	}

	if err := bob.MarkC2CRead(ctx, "alice", 0); err != nil {
		t.Fatal(err)
	}
	convs, err := bob.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 || convs[0].ConversationID != "C2Calice" || convs[0].Type != client.TypeC2C || convs[0].Peer != "alice" || convs[0].UnreadMsgNum != 0 || convs[0].Seq < 3 {
		t.Fatalf("bob's conversations: %+v", convs)
	}
	hist, err := alice.HistoryC2C(ctx, client.HistoryC2CRequest{Peer: "bob", MaxCnt: 10, MaxTime: time.Now().Unix() + 60})
	if err != nil || hist.Complete != 1 || len(hist.MsgList) != 3 {
		t.Fatalf("alice's history: %+v %v", hist, err)
	}
}

func TestGroupChat(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")
	carol := srv.Dial(t, "carol")
	dave := srv.Dial(t, "dave")
	created := srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Public", "Name": "tea",
		"MemberList": []map[string]any{{"Member_Account": "bob"}, {"Member_Account": "carol"}},
	})
	parleytest.OK(t, created)
	group := created["GroupId"].(string)

	res, err := alice.SendGroup(ctx, client.SendGroupRequest{GroupID: group, Body: client.TextBody("tea at five")})
	if err != nil || res.MsgSeq != 1 {
		t.Fatalf("SendGroup: %+v %v", res, err)
	}
	for _, c := range []*client.Client{bob, carol} {
		e, m := message(t, c)
		if e.ConversationID != client.GroupConversationID(group) || m.GroupID != group || m.From != "alice" || m.MsgSeq != 1 || text(t, m) != "tea at five" {
			t.Fatalf("%s got %+v %+v", c.UserID(), e, m)
		}
	}

	// Not a member: no push, no history, no sending.
	if _, err := dave.HistoryGroup(ctx, client.HistoryGroupRequest{GroupID: group, ReqMsgNumber: 10}); !isCode(err, parley.ErrGroupNotPermitted) {
		t.Errorf("dave reads the history: %v, want 10007", err)
	}
	if _, err := dave.SendGroup(ctx, client.SendGroupRequest{GroupID: group, Body: client.TextBody("let me in")}); !isCode(err, parley.ErrGroupNotPermitted) {
		t.Errorf("dave sends: %v, want 10007", err)
	}
	quiet(t, dave)

	hist, err := bob.HistoryGroup(ctx, client.HistoryGroupRequest{GroupID: group, ReqMsgNumber: 10})
	if err != nil || len(hist.RspMsgList) != 1 || hist.RspMsgList[0].From != "alice" {
		t.Fatalf("bob's group history: %+v %v", hist, err)
	}

	// A member added while online is pushed the group from then on.
	parleytest.OK(t, srv.Post(t, "group_open_http_svc", "add_group_member", map[string]any{"GroupId": group, "MemberList": []map[string]any{{"Member_Account": "dave"}}}))
	if _, err := carol.SendGroup(ctx, client.SendGroupRequest{GroupID: group, Body: client.TextBody("welcome dave")}); err != nil {
		t.Fatal(err)
	}
	if e, m := message(t, dave); m.From != "carol" || e.Seq == 0 || text(t, m) != "welcome dave" {
		t.Fatalf("dave got %+v %+v", e, m)
	}

	// Reading marks move the user's other sessions along.
	bobToo := srv.Dial(t, "bob")
	read, err := bob.MarkGroupRead(ctx, group, 0)
	if err != nil || read != 2 {
		t.Fatalf("MarkGroupRead: %d %v, want 2", read, err)
	}
	e := next(t, bobToo)
	if r, err := e.Read(); err != nil || r.GroupID != group || r.ReadMsgSeq != 2 || e.ConversationID != client.GroupConversationID(group) {
		t.Fatalf("bob's other session got %+v %+v %v", e, r, err)
	}
	convs, err := bobToo.Conversations(ctx)
	if err != nil || len(convs) != 1 || convs[0].GroupID != group || convs[0].LastMsgSeq != 2 || convs[0].ReadMsgSeq != 2 || convs[0].UnreadMsgNum != 0 {
		t.Fatalf("bob's conversations: %+v %v", convs, err)
	}
}

// TestMultiDevice: SyncOtherMachine 1 (the client default) copies a
// message to the sender's other devices, 2 keeps it from them.
func TestMultiDevice(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	bob := srv.Dial(t, "bob")
	phone := srv.DialConfig(t, srv.ClientConfig("alice", "iOS"))
	laptop := srv.DialConfig(t, srv.ClientConfig("alice", "Windows"))

	sent := send(t, phone, "bob", "sent from the phone")
	e, m := message(t, laptop)
	if e.ConversationID != "C2Cbob" || m.From != "alice" || m.To != "bob" || m.MsgKey != sent.MsgKey {
		t.Fatalf("the laptop got %+v %+v", e, m)
	}
	if _, m := message(t, bob); m.MsgKey != sent.MsgKey {
		t.Fatalf("bob got %+v", m)
	}

	if _, err := phone.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody("only bob sees this"), SyncOtherMachine: parley.SyncNotToSender}); err != nil {
		t.Fatal(err)
	}
	if _, m := message(t, bob); text(t, m) != "only bob sees this" {
		t.Fatalf("bob got %q", text(t, m))
	}
	send(t, phone, "bob", "and this again")
	// The hidden message leaves a gap in the laptop's log, covered by
	// sync: its next message is the third.
	if e, m := message(t, laptop); text(t, m) != "and this again" || e.Seq != 3 {
		t.Fatalf("the laptop got %+v %q, want the third message", e, text(t, m))
	}
	quiet(t, laptop)
}

// TestOnlineOnly: an online-only message reaches the sessions online at
// that moment, and nothing else: no log, no unread count, no sync.
func TestOnlineOnly(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")
	srv.Dial(t, "carol").Close() // imported, then offline

	if _, err := alice.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody("typing..."), OnlineOnly: true}); err != nil {
		t.Fatal(err)
	}
	e, m := message(t, bob)
	if e.Seq != 0 || !m.OnlineOnly || text(t, m) != "typing..." || e.ConversationID != "C2Calice" {
		t.Fatalf("bob got %+v %+v", e, m)
	}
	quiet(t, bob)
	convs, err := bob.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range convs {
		if c.UnreadMsgNum != 0 || c.Seq != 0 {
			t.Errorf("bob's conversation after an online-only message: %+v", c)
		}
	}

	// carol is offline: the online-only message between two stored ones
	// never reaches her, not even when she syncs.
	send(t, alice, "carol", "first")
	if _, err := alice.SendC2C(ctx, client.SendC2CRequest{To: "carol", Body: client.TextBody("typing..."), OnlineOnly: true}); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "carol", "second")
	cfg := srv.ClientConfig("carol", "Web")
	cfg.Cursors = map[string]uint64{}
	carol := srv.DialConfig(t, cfg)
	for _, want := range []string{"first", "second"} {
		if _, m := message(t, carol); text(t, m) != want {
			t.Fatalf("carol got %q, want %q", text(t, m), want)
		}
	}
	quiet(t, carol)
	convs, err = carol.Conversations(ctx)
	if err != nil || len(convs) != 1 || convs[0].UnreadMsgNum != 2 {
		t.Fatalf("carol's conversations: %+v %v, want 2 unread", convs, err)
	}
}

func TestRecallWindow(t *testing.T) {
	clock := parleytest.NewClock(time.Now())
	srv := parleytest.Start(t, server.Options{Now: clock.Now})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")

	sent := send(t, alice, "bob", "oops")
	message(t, bob)
	clock.Advance(time.Minute)
	if err := alice.RecallC2C(ctx, "bob", sent.MsgKey); err != nil {
		t.Fatalf("recall within the window: %v", err)
	}
	e := next(t, bob)
	if r, err := e.Recall(); err != nil || r.MsgKey != sent.MsgKey || r.Operator != "alice" || e.ConversationID != "C2Calice" {
		t.Fatalf("bob got %+v %+v %v", e, r, err)
	}

	late := send(t, alice, "bob", "too late")
	message(t, bob)
	clock.Advance(chat2Minutes + time.Second)
	if err := alice.RecallC2C(ctx, "bob", late.MsgKey); !isCode(err, parley.ErrRecallTimeLimit) {
		t.Fatalf("recall after the window: %v, want 20016", err)
	}
	if err := bob.RecallC2C(ctx, "bob", late.MsgKey); err == nil {
		t.Fatalf("bob recalled alice's message")
	}

	created := srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Public", "Name": "g", "MemberList": []map[string]any{{"Member_Account": "bob"}},
	})
	group := created["GroupId"].(string)
	res, err := bob.SendGroup(ctx, client.SendGroupRequest{GroupID: group, Body: client.TextBody("recall me")})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(chat2Minutes + time.Second)
	rets, err := bob.RecallGroup(ctx, group, res.MsgSeq)
	if err != nil || len(rets) != 1 || rets[0].RetCode != parley.ErrGroupRecallTimeLimit {
		t.Fatalf("group recall after the window: %+v %v, want RetCode 10031", rets, err)
	}
	res, err = bob.SendGroup(ctx, client.SendGroupRequest{GroupID: group, Body: client.TextBody("recall me now")})
	if err != nil {
		t.Fatal(err)
	}
	rets, err = bob.RecallGroup(ctx, group, res.MsgSeq)
	if err != nil || len(rets) != 1 || rets[0].RetCode != 0 {
		t.Fatalf("group recall within the window: %+v %v", rets, err)
	}
}

const chat2Minutes = 2 * time.Minute

// TestExtensionConflict: clients' extension writes are compare-and-set
// per KV; the loser gets 23001 and the KV as it is.
func TestExtensionConflict(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")
	sent, err := alice.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody("vote"), SupportExtension: true})
	if err != nil {
		t.Fatal(err)
	}
	message(t, bob)
	ref := client.MessageRef{From: "alice", To: "bob", MsgKey: sent.MsgKey}

	got, err := alice.SetExtensions(ctx, ref, parley.ExtensionSet, []parley.ExtensionKV{{Key: "like", Value: "alice", Seq: 0}})
	if err != nil || len(got) != 1 || got[0].ErrorCode != 0 || got[0].Extension.Seq != 1 {
		t.Fatalf("alice's write: %+v %v", got, err)
	}
	e := next(t, bob)
	if x, err := e.Extension(); err != nil || x.Operator != "alice" || len(x.KVs) != 1 || x.KVs[0].Value != "alice" || x.Seq != 1 {
		t.Fatalf("bob got %+v %+v %v", e, x, err)
	}

	// bob writes from a stale read: conflict, nothing applied.
	got, err = bob.SetExtensions(ctx, ref, parley.ExtensionSet, []parley.ExtensionKV{{Key: "like", Value: "bob", Seq: 0}})
	if err != nil || len(got) != 1 || got[0].ErrorCode != parley.ErrExtensionConflict || got[0].Extension != (parley.ExtensionKV{Key: "like", Value: "alice", Seq: 1}) {
		t.Fatalf("bob's stale write: %+v %v, want 23001 with alice's KV", got, err)
	}
	page, err := bob.GetExtensions(ctx, ref, 0)
	if err != nil || page.LatestSeq != 1 || len(page.ExtensionList) != 1 || page.ExtensionList[0].Value != "alice" {
		t.Fatalf("extensions after the conflict: %+v %v", page, err)
	}
	// With the current Seq bob's write goes through.
	got, err = bob.SetExtensions(ctx, ref, parley.ExtensionSet, []parley.ExtensionKV{{Key: "like", Value: "bob", Seq: 1}})
	if err != nil || got[0].ErrorCode != 0 || got[0].Extension.Seq != 2 {
		t.Fatalf("bob's write: %+v %v", got, err)
	}
}

// TestReconnectSync: a client that comes back with its cursors gets
// exactly what it missed, in order, then the live changes, none twice.
func TestReconnectSync(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")
	send(t, alice, "bob", "before")
	message(t, bob)
	bob.Close()
	cursors := bob.Cursors()
	if cursors["C2Calice"] != 1 {
		t.Fatalf("bob's cursors %v, want C2Calice at 1", cursors)
	}

	// Missed: 50 messages, a recall of the 10th, an extension write on the
	// 20th.
	var keys []string
	for i := range 50 {
		res, err := alice.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody(fmt.Sprint("missed ", i)), SupportExtension: true})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, res.MsgKey)
	}
	if err := alice.RecallC2C(ctx, "bob", keys[9]); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetExtensions(ctx, client.MessageRef{To: "bob", MsgKey: keys[19]}, parley.ExtensionSet, []parley.ExtensionKV{{Key: "pin", Value: "1"}}); err != nil {
		t.Fatal(err)
	}

	// Back, while alice keeps sending: the live pushes that overtake the
	// sync must neither be lost nor doubled.
	live := make(chan error, 1)
	go func() {
		for i := range 20 {
			if _, err := alice.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody(fmt.Sprint("live ", i))}); err != nil {
				live <- err
				return
			}
		}
		live <- nil
	}()
	cfg := srv.ClientConfig("bob", "Web")
	cfg.Cursors = cursors
	back := srv.DialConfig(t, cfg)

	seq := uint64(1)
	for i := range 50 {
		e, m := message(t, back)
		seq++
		if e.Seq != seq || m.MsgKey != keys[i] {
			t.Fatalf("missed message %d: seq %d key %s, want seq %d key %s", i, e.Seq, m.MsgKey, seq, keys[i])
		}
	}
	e := next(t, back)
	seq++
	if r, err := e.Recall(); err != nil || e.Seq != seq || r.MsgKey != keys[9] {
		t.Fatalf("want the recall, seq %d: %+v %v", seq, e, err)
	}
	e = next(t, back)
	seq++
	if x, err := e.Extension(); err != nil || e.Seq != seq || x.MsgKey != keys[19] || x.KVs[0].Key != "pin" {
		t.Fatalf("want the extension write, seq %d: %+v %v", seq, e, err)
	}
	if err := <-live; err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		e, m := message(t, back)
		seq++
		if e.Seq != seq || text(t, m) != fmt.Sprint("live ", i) {
			t.Fatalf("live message %d: seq %d %q, want seq %d", i, e.Seq, text(t, m), seq)
		}
	}
	quiet(t, back)
	if got := back.Cursors()["C2Calice"]; got != seq {
		t.Errorf("cursor %d, want %d", got, seq)
	}
}

// TestInvisibleChangesLeaveGaps: a change bob does not see (alice's read
// mark) takes a seq; bob's next push skips it, his client syncs, and
// nothing is delivered twice or lost. A session's own changes take seqs
// too, and are never delivered to it.
func TestInvisibleChangesLeaveGaps(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	alice := srv.Dial(t, "alice")
	bob := srv.Dial(t, "bob")
	send(t, bob, "alice", "ping")
	if e, m := message(t, alice); e.Seq != 1 || text(t, m) != "ping" {
		t.Fatalf("alice got %+v %q", e, text(t, m))
	}
	if err := alice.MarkC2CRead(ctx, "bob", 0); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "pong")
	send(t, bob, "alice", "ping again")
	if e, m := message(t, bob); e.Seq != 3 || text(t, m) != "pong" {
		t.Fatalf("bob got %+v %q, want pong at seq 3 (1 is his own, 2 alice's read mark)", e, text(t, m))
	}
	if e, m := message(t, alice); e.Seq != 4 || text(t, m) != "ping again" {
		t.Fatalf("alice got %+v %q, want ping again at seq 4 (2 and 3 are her own)", e, text(t, m))
	}
	quiet(t, alice)
	quiet(t, bob)
	for _, c := range []*client.Client{alice, bob} {
		other := map[string]string{"alice": "bob", "bob": "alice"}[c.UserID()]
		if got := c.Cursors()["C2C"+other]; got != 4 {
			t.Errorf("%s's cursor %d, want 4", c.UserID(), got)
		}
	}
}

func TestDialErrors(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	cfg := srv.ClientConfig("alice", "Web")
	cfg.UserSig = srv.UserSig("bob")
	_, err := client.Dial(ctx, cfg)
	if !isCode(err, parley.ErrUserSigIdentifier) {
		t.Errorf("Dial with bob's sig as alice: %v, want 70013", err)
	}
	cfg = srv.ClientConfig("alice", "Web")
	cfg.URL = srv.URL() + "/nope"
	if _, err := client.Dial(ctx, cfg); err == nil {
		t.Errorf("Dial to a path that is not the endpoint succeeded")
	}
}

// TestCallsFailWhenKicked: calls in flight and after end with the kick.
func TestCallsFailWhenKicked(t *testing.T) {
	srv := parleytest.Start(t, server.Options{MaxSessionsPerUser: 1})
	first := srv.Dial(t, "alice")
	srv.Dial(t, "alice") // the second session evicts the first
	select {
	case <-first.Done():
	case <-time.After(wait):
		t.Fatal("the first session is still open")
	}
	var kick *client.KickError
	if _, err := first.Ping(ctx); !errors.As(err, &kick) || kick.Code != 4009 {
		t.Errorf("Ping after eviction: %v, want a kick 4009", err)
	}
	if _, ok := <-first.Events(); ok {
		t.Errorf("Events still open after the kick")
	}
}

func isCode(err error, code int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == code
}
