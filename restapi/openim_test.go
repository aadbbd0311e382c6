package restapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

func (e *env) message(t *testing.T, from, to, key string) *parley.Message {
	t.Helper()
	m, err := e.store.MessageGetByKey(context.Background(), parley.MessageGetByKeyParams{From: from, To: to, MsgKey: key})
	if err != nil {
		t.Fatalf("MessageGetByKey(%s→%s %s): %v", from, to, key, err)
	}
	return m
}

func (e *env) unreadTotal(t *testing.T, owner string) int {
	t.Helper()
	n, err := e.store.ConversationUnreadTotal(context.Background(), owner)
	if err != nil {
		t.Fatalf("ConversationUnreadTotal: %v", err)
	}
	return n
}

func TestSendMsg(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")
	now := e.clock.Now().Unix()

	a := e.post(t, "openim", "sendmsg", map[string]any{
		"SyncOtherMachine":        1,
		"From_Account":            "alice",
		"To_Account":              "bob",
		"MsgLifeTime":             3600,
		"MsgSeq":                  uint32(4294967295),
		"MsgRandom":               uint32(4294967295),
		"MsgTimeStamp":            12345,
		"MsgBody":                 text("<hello & welcome>"),
		"CloudCustomData":         "ccd",
		"SupportMessageExtension": 1,
		"IsNeedReadReceipt":       1,
		"OnlineOnlyFlag":          0,
		"SendMsgControl":          []string{"NoLastMsg", "WithMuteNotifications"},
		"ForbidCallbackControl":   []string{},
		"OfflinePushInfo":         map[string]any{"PushFlag": 0, "Desc": "push", "ApnsInfo": map[string]any{"BadgeMode": 1}},
		"SomethingNew":            "ignored",
	}).ok(t)
	msgTime := num(t, a.Fields["MsgTime"])
	key := str(t, a.Fields["MsgKey"])
	if msgTime != now {
		t.Errorf("MsgTime = %d, want the server's %d (MsgTimeStamp is ignored)", msgTime, now)
	}
	if want := fmt.Sprintf("4294967295_4294967295_%d", now); key != want {
		t.Errorf("MsgKey = %q, want %q", key, want)
	}
	if str(t, a.Fields["MsgId"]) == "" {
		t.Errorf("MsgId is empty")
	}
	m := e.message(t, "alice", "bob", key)
	if m.MsgSeq != 4294967295 || m.MsgRandom != 4294967295 || m.CloudCustomData != "ccd" ||
		m.SyncOtherMachine != 1 || m.LifeTime != 3600 || m.OnlineOnly || m.NoUnread ||
		!m.NoLastMsg || !m.WithMuteNotifications || !m.SupportExtension || !m.NeedReadReceipt {
		t.Errorf("stored %+v", m)
	}
	var body []struct{ MsgContent struct{ Text string } }
	if err := json.Unmarshal(m.Body, &body); err != nil || len(body) != 1 || body[0].MsgContent.Text != "<hello & welcome>" {
		t.Errorf("stored body %s (%v)", m.Body, err)
	}
	if got := e.unreadTotal(t, "bob"); got != 1 {
		t.Errorf("bob unread = %d, want 1", got)
	}

	// The after-send event names the REST caller as its origin.
	evs := e.events(t, parley.CommandC2CAfterSendMsg)
	if len(evs) != 1 {
		t.Fatalf("%d after-send events, want 1", len(evs))
	}
	if want := (parley.Origin{ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}); evs[0].Origin != want {
		t.Errorf("origin = %+v, want %+v", evs[0].Origin, want)
	}

	// Defaults: the admin sends; null and 0 mean "not set".
	d := e.post(t, "openim", "sendmsg", `{"From_Account":null,"To_Account":"bob","MsgRandom":0,"SyncOtherMachine":0,"CloudCustomData":null,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"from the admin"}}]}`).ok(t)
	if m := e.message(t, admin, "bob", str(t, d.Fields["MsgKey"])); m.LifeTime != parley.MaxMsgLifeTime || m.SyncOtherMachine != 0 {
		t.Errorf("admin message stored %+v", m)
	}

	// NoUnread, online-only and ForbidAfterSendMsgCallback.
	e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 3, "MsgBody": text("quiet"),
		"SendMsgControl": []string{"NoUnread"}, "ForbidCallbackControl": []string{"ForbidAfterSendMsgCallback"},
	}).ok(t)
	if got := e.unreadTotal(t, "bob"); got != 2 {
		t.Errorf("bob unread after NoUnread = %d, want 2", got)
	}
	if got := len(e.events(t, parley.CommandC2CAfterSendMsg)); got != 2 {
		t.Errorf("%d after-send events, want 2 (one forbidden)", got)
	}
	before := e.snapshot(t)
	o := e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 4, "MsgBody": text("now or never"),
		"MsgLifeTime": 0, "ForbidCallbackControl": []string{"ForbidAfterSendMsgCallback", "ForbidBeforeSendMsgCallback"},
	}).ok(t)
	if str(t, o.Fields["MsgKey"]) == "" {
		t.Errorf("online-only send has no MsgKey")
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("an online-only message was stored")
	}
	// Over 7 days is clamped by the engine, not refused.
	c := e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 5, "MsgBody": text("long"), "MsgLifeTime": 99999999999,
	}).ok(t)
	if m := e.message(t, "alice", "bob", str(t, c.Fields["MsgKey"])); m.LifeTime != parley.MaxMsgLifeTime {
		t.Errorf("LifeTime = %d, want %d", m.LifeTime, parley.MaxMsgLifeTime)
	}
}

// fakeCaller answers the before-send callback.
type fakeCaller struct {
	mu      sync.Mutex
	reply   parley.CallbackReply
	origins []parley.Origin
}

func (c *fakeCaller) Call(_ context.Context, _ string, _ []byte, origin parley.Origin) (parley.CallbackReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.origins = append(c.origins, origin)
	return c.reply, nil
}

func TestSendMsgBeforeCallbackCustomCode(t *testing.T) {
	caller := &fakeCaller{reply: parley.CallbackReply{ActionStatus: "OK", ErrorCode: 120042, ErrorInfo: "not on my watch"}}
	e := setup(t, func(o *options) { o.caller = caller })
	e.importAccounts(t, "alice", "bob")
	before := e.snapshot(t)

	a := e.post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("hi")})
	a.wantCode(t, 120042)
	if a.Info != "not on my watch" {
		t.Errorf("ErrorInfo = %q, want the callback's", a.Info)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("a blocked message changed the store")
	}
	if want := []parley.Origin{{ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}}; len(caller.origins) != 1 || caller.origins[0] != want[0] {
		t.Errorf("callback origins = %+v, want %+v", caller.origins, want)
	}

	// ForbidBeforeSendMsgCallback skips it for this message only.
	e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 2, "MsgBody": text("hi"),
		"ForbidCallbackControl": []string{"ForbidBeforeSendMsgCallback"},
	}).ok(t)
	if len(caller.origins) != 1 {
		t.Errorf("the forbidden callback was made")
	}
	caller.reply = parley.CallbackReply{ActionStatus: "OK", ErrorCode: 1, ErrorInfo: "no"}
	e.post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": 3, "MsgBody": text("hi")}).
		wantCode(t, parley.ErrBlockedByCallback)
}

func TestBatchSendMsg(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol")
	a := e.post(t, "openim", "batchsendmsg", map[string]any{
		"From_Account": "alice", "To_Account": []string{"bob", "ghost", "carol", "bob"},
		"MsgRandom": uint32(4294967295), "MsgBody": text("to all"), "SendMsgControl": []string{"NoUnread"},
		"SyncOtherMachine": 2, "MsgLifeTime": 60, "CloudCustomData": "c", "IsNeedReadReceipt": 1,
	}).ok(t)
	if got := strings.Join(a.Keys, ","); got != "MsgKey,MsgId,ErrorList" {
		t.Errorf("fields = %s", got)
	}
	key := str(t, a.Fields["MsgKey"])
	str(t, a.Fields["MsgId"])
	errs := list(t, a.Fields["ErrorList"])
	if len(errs) != 1 || str(t, errs[0]["To_Account"]) != "ghost" || num(t, errs[0]["ErrorCode"]) != parley.ErrAccountNotImported {
		t.Errorf("ErrorList = %v", errs)
	}
	for _, to := range []string{"bob", "carol"} {
		m := e.message(t, "alice", to, key)
		if !m.NoUnread || m.SyncOtherMachine != 2 || m.LifeTime != 60 || m.CloudCustomData != "c" || !m.NeedReadReceipt {
			t.Errorf("stored for %s: %+v", to, m)
		}
	}
	if got := len(e.events(t, "")); got != 0 {
		t.Errorf("batchsendmsg enqueued %d events; it triggers no callbacks", got)
	}

	b := e.post(t, "openim", "batchsendmsg", map[string]any{"To_Account": []string{"bob"}, "MsgRandom": 1, "MsgBody": text("x")}).ok(t)
	if got, ok := b.Fields["ErrorList"].([]any); !ok || len(got) != 0 {
		t.Errorf("ErrorList = %#v, want []", b.Fields["ErrorList"])
	}
	if !strings.Contains(string(b.Raw), `"ErrorList":[]`) {
		t.Errorf("answer %s lacks an empty ErrorList", b.Raw)
	}
}

func TestRoamRecallRead(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")
	start := e.clock.Now()
	var keys []string
	for i, dir := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"alice", "bob"}} {
		e.clock.Set(start.Add(time.Duration(i) * time.Second))
		a := e.post(t, "openim", "sendmsg", map[string]any{
			"From_Account": dir[0], "To_Account": dir[1], "MsgSeq": 10 + i, "MsgRandom": 20 + i,
			"MsgBody": text(fmt.Sprint("message ", i)), "CloudCustomData": fmt.Sprint("cd", i),
		}).ok(t)
		keys = append(keys, str(t, a.Fields["MsgKey"]))
	}
	if got := e.unreadTotal(t, "bob"); got != 2 {
		t.Fatalf("bob unread = %d, want 2", got)
	}

	// Recall the middle one; recalling again is 20023.
	e.post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "bob", "To_Account": "alice", "MsgKey": keys[1]}).ok(t)
	e.post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "bob", "To_Account": "alice", "MsgKey": keys[1]}).
		wantCode(t, parley.ErrAlreadyRecalled)
	if evs := e.events(t, parley.CommandC2CAfterWithdraw); len(evs) != 1 || evs[0].Origin.OptPlatform != "RESTAPI" || evs[0].Origin.ClientIP != "127.0.0.1" {
		t.Errorf("after-withdraw events = %+v", evs)
	}
	// Recalling an unread message lowers the count.
	e.post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgKey": keys[0]}).ok(t)
	if got := e.unreadTotal(t, "bob"); got != 1 {
		t.Errorf("bob unread after recall = %d, want 1", got)
	}

	// bob reads everything up to the first second (MsgReadTime as a string).
	e.post(t, "openim", "admin_set_msg_read", map[string]any{"Report_Account": "bob", "Peer_Account": "alice", "MsgReadTime": fmt.Sprint(start.Unix())}).ok(t)

	page := func(body map[string]any) answer {
		t.Helper()
		a := e.post(t, "openim", "admin_getroammsg", body).ok(t)
		if got := strings.Join(a.Keys, ","); got != "Complete,MsgCnt,LastMsgTime,LastMsgKey,MsgList" {
			t.Fatalf("fields = %s", got)
		}
		return a
	}
	first := page(map[string]any{"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 2, "MinTime": 0, "MaxTime": start.Unix() + 100})
	if num(t, first.Fields["Complete"]) != 0 || num(t, first.Fields["MsgCnt"]) != 2 {
		t.Fatalf("first page: %s", first.Raw)
	}
	msgs := list(t, first.Fields["MsgList"])
	if str(t, msgs[0]["MsgKey"]) != keys[1] || str(t, msgs[1]["MsgKey"]) != keys[2] {
		t.Errorf("first page keys %v %v, want %s %s (oldest first)", msgs[0]["MsgKey"], msgs[1]["MsgKey"], keys[1], keys[2])
	}
	recalled := msgs[0]
	if num(t, recalled["MsgFlagBits"]) != parley.MsgFlagRecalled || len(recalled["MsgBody"].([]any)) != 0 || str(t, recalled["CloudCustomData"]) != "" {
		t.Errorf("recalled message = %v", recalled)
	}
	last := msgs[1]
	if num(t, last["MsgFlagBits"]) != 0 || num(t, last["IsPeerRead"]) != 0 || num(t, last["MsgSeq"]) != 12 ||
		num(t, last["MsgRandom"]) != 22 || num(t, last["MsgTimeStamp"]) != start.Unix()+2 ||
		str(t, last["From_Account"]) != "alice" || str(t, last["To_Account"]) != "bob" || str(t, last["CloudCustomData"]) != "cd2" {
		t.Errorf("last message = %v", last)
	}
	if !strings.Contains(string(first.Raw), `{"From_Account":"alice","To_Account":"bob","MsgSeq":12,"MsgRandom":22,"MsgTimeStamp":`) {
		t.Errorf("MsgList item key order: %s", first.Raw)
	}
	if got := num(t, first.Fields["LastMsgTime"]); got != start.Unix()+1 || str(t, first.Fields["LastMsgKey"]) != keys[1] {
		t.Errorf("cursor = %d %v", got, first.Fields["LastMsgKey"])
	}

	// The older request form, continuing from the cursor.
	second := page(map[string]any{"From_Account": "alice", "To_Account": "bob", "MaxCnt": 2, "MinTime": 0,
		"MaxTime": num(t, first.Fields["LastMsgTime"]), "LastMsgKey": first.Fields["LastMsgKey"]})
	if num(t, second.Fields["Complete"]) != 1 || num(t, second.Fields["MsgCnt"]) != 1 {
		t.Fatalf("second page: %s", second.Raw)
	}
	only := list(t, second.Fields["MsgList"])[0]
	if str(t, only["MsgKey"]) != keys[0] || num(t, only["IsPeerRead"]) != 1 || num(t, only["MsgFlagBits"]) != 8 {
		t.Errorf("second page message = %v", only)
	}

	// An empty range: complete, nothing, and MsgList still an array.
	empty := page(map[string]any{"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 5, "MinTime": 0, "MaxTime": 10})
	if num(t, empty.Fields["Complete"]) != 1 || num(t, empty.Fields["MsgCnt"]) != 0 || !strings.Contains(string(empty.Raw), `"MsgList":[]`) {
		t.Errorf("empty page: %s", empty.Raw)
	}
}

func TestUnreadAndSetRead(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol")
	start := e.clock.Now()
	e.sendText(t, "alice", "bob", 1, "one")
	e.sendText(t, "alice", "bob", 2, "two")
	e.clock.Set(start.Add(time.Second))
	e.sendText(t, "carol", "bob", 3, "three")

	total := e.post(t, "openim", "get_c2c_unread_msg_num", map[string]any{"To_Account": "bob"}).ok(t)
	if got := strings.Join(total.Keys, ","); got != "AllC2CUnreadMsgNum" || num(t, total.Fields["AllC2CUnreadMsgNum"]) != 3 {
		t.Errorf("without peers: %s", total.Raw)
	}

	peers := e.post(t, "openim", "get_c2c_unread_msg_num", map[string]any{"To_Account": "bob", "Peer_Account": []string{"alice", "carol"}}).ok(t)
	if got := strings.Join(peers.Keys, ","); got != "AllC2CUnreadMsgNum,C2CUnreadMsgNumList" {
		t.Errorf("with known peers, fields = %s", got)
	}
	counts := list(t, peers.Fields["C2CUnreadMsgNumList"])
	if len(counts) != 2 || str(t, counts[0]["Peer_Account"]) != "alice" || num(t, counts[0]["C2CUnreadMsgNum"]) != 2 ||
		str(t, counts[1]["Peer_Account"]) != "carol" || num(t, counts[1]["C2CUnreadMsgNum"]) != 1 {
		t.Errorf("C2CUnreadMsgNumList = %v", counts)
	}

	withGhost := e.post(t, "openim", "get_c2c_unread_msg_num", map[string]any{"To_Account": "bob", "Peer_Account": []string{"ghost", "alice"}}).ok(t)
	errs := list(t, withGhost.Fields["ErrorList"])
	if len(errs) != 1 || str(t, errs[0]["Peer_Account"]) != "ghost" || num(t, errs[0]["ErrorCode"]) != parley.ErrAccountNotImported {
		t.Errorf("ErrorList = %v", errs)
	}
	if got := list(t, withGhost.Fields["C2CUnreadMsgNumList"]); len(got) != 1 {
		t.Errorf("C2CUnreadMsgNumList = %v", got)
	}

	// MsgReadTime as an integer, then absent (now).
	e.post(t, "openim", "admin_set_msg_read", map[string]any{"Report_Account": "bob", "Peer_Account": "alice", "MsgReadTime": start.Unix()}).ok(t)
	if got := e.unreadTotal(t, "bob"); got != 1 {
		t.Errorf("after reading alice: %d, want 1", got)
	}
	e.post(t, "openim", "admin_set_msg_read", map[string]any{"Report_Account": "bob", "Peer_Account": "carol", "MsgReadTime": ""}).ok(t)
	if got := e.unreadTotal(t, "bob"); got != 0 {
		t.Errorf("after reading carol: %d, want 0", got)
	}
}
