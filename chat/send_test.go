package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

func TestNewValidates(t *testing.T) {
	if _, err := chat.New(chat.Config{}); err == nil {
		t.Error("New without a Store succeeded")
	}
	if _, err := chat.New(chat.Config{Store: openStore(t), Admin: "bad admin"}); err == nil {
		t.Error("New with an invalid Admin succeeded")
	}
}

func TestSendC2CErrors(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "alice", "bob")
	neg := -1
	tests := []struct {
		name string
		p    chat.SendParams
		code int
	}{
		{"sender not imported", chat.SendParams{From: "carol", To: "bob", Body: textBody("x")}, parley.ErrFromAccountInvalid},
		{"sender invalid", chat.SendParams{From: "a b", To: "bob", Body: textBody("x")}, parley.ErrFromAccountInvalid},
		{"recipient not imported", chat.SendParams{From: "alice", To: "carol", Body: textBody("x")}, parley.ErrToAccountInvalid},
		{"recipient empty", chat.SendParams{From: "alice", To: "", Body: textBody("x")}, parley.ErrToAccountInvalid},
		{"body not array", chat.SendParams{From: "alice", To: "bob", Body: json.RawMessage(`{}`)}, parley.ErrMsgBodyNotArray},
		{"body invalid", chat.SendParams{From: "alice", To: "bob", Body: json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{}}]`)}, parley.ErrMsgBodyInvalid},
		{"body too large", chat.SendParams{From: "alice", To: "bob", Body: textBody(strings.Repeat("x", 13000))}, parley.ErrMsgBodyTooLarge},
		{"negative lifetime", chat.SendParams{From: "alice", To: "bob", Body: textBody("x"), LifeTime: &neg}, parley.ErrMsgLifeTimeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.SendC2C(context.Background(), tt.p)
			wantCode(t, err, tt.code)
		})
	}
	if got := e.messages(t, "bob", "alice"); len(got) != 0 {
		t.Errorf("stored %d messages after failed sends, want 0", len(got))
	}
	if got := e.events(t, ""); len(got) != 0 {
		t.Errorf("enqueued %d events after failed sends, want 0", len(got))
	}
}

func TestSendC2CStoresAndEmits(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "alice", "bob")
	origin := parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST}
	in := json.RawMessage(`[ {"MsgType":"TIMTextElem", "MsgContent":{"Text":"hi <you> & me"}} ]`)
	res := e.send(t, chat.SendParams{From: "alice", To: "bob", MsgSeq: seq(48374), MsgRandom: 2837546, Body: in, CloudCustomData: "ccd", Origin: origin})

	if want := t0.Unix(); res.MsgTime != want {
		t.Errorf("MsgTime = %d, want %d", res.MsgTime, want)
	}
	if want := fmt.Sprintf("48374_2837546_%d", t0.Unix()); res.MsgKey != want {
		t.Errorf("MsgKey = %q, want %q", res.MsgKey, want)
	}
	if !regexp.MustCompile(fmt.Sprintf(`^[1-9][0-9]{17}-%d-2837546$`, t0.Unix())).MatchString(res.MsgID) {
		t.Errorf("MsgID = %q, want {18 digits}-{MsgTime}-{MsgRandom}", res.MsgID)
	}

	ms := e.messages(t, "bob", "alice")
	if len(ms) != 1 {
		t.Fatalf("stored %d messages, want 1", len(ms))
	}
	m := ms[0]
	compact := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi <you> & me"}}]`
	if string(m.Body) != compact || m.CloudCustomData != "ccd" || m.MsgKey != res.MsgKey || m.MsgID != res.MsgID || m.LifeTime != parley.DefaultLifeTime || m.OnlineOnly {
		t.Errorf("stored %+v", m)
	}

	evs := e.events(t, parley.CommandC2CAfterSendMsg)
	if len(evs) != 1 {
		t.Fatalf("%d after-send events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Origin != origin || ev.Conversation != parley.C2CConversation("bob", "alice") || !strings.HasPrefix(ev.ID, "evt_") || !ev.CreatedAt.Equal(t0) {
		t.Errorf("event %+v", ev)
	}
	want := fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"alice","To_Account":"bob","MsgSeq":48374,"MsgRandom":2837546,`+
		`"MsgTime":%d,"MsgKey":%q,"OnlineOnlyFlag":0,"SendMsgResult":0,"ErrorInfo":"send msg succeed","UnreadMsgNum":1,"MsgBody":%s,"CloudCustomData":"ccd"}`,
		t0.Unix(), res.MsgKey, compact)
	if string(ev.Body) != want {
		t.Errorf("event body\n got %s\nwant %s", ev.Body, want)
	}
	if got := e.notified.Load(); got != 1 {
		t.Errorf("OnEvents called %d times, want 1", got)
	}
}

func TestSendC2CDefaults(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "bob")

	// The admin sends without being imported first, as Tencent's admin
	// account exists from the start.
	res := e.send(t, chat.SendParams{To: "bob", Body: textBody("from admin")})
	ms := e.messages(t, "bob", "admin")
	if len(ms) != 1 || ms[0].From != "admin" || ms[0].MsgKey != res.MsgKey {
		t.Fatalf("bob's messages from admin = %+v", ms)
	}
	st, err := e.eng.AccountCheck(context.Background(), []string{"admin"})
	if err != nil || !st[0].Imported {
		t.Fatalf("admin after sending: %+v, %v", st, err)
	}

	// MsgLifeTime: clamped above 7 days, 0 means online only.
	big, zero := 10_000_000, 0
	e.clock.Advance(time.Second) // so the next message is the newest
	e.send(t, chat.SendParams{From: "admin", To: "bob", Body: textBody("long"), LifeTime: &big})
	if got := e.messages(t, "bob", "admin")[0].LifeTime; got != parley.MaxMsgLifeTime {
		t.Errorf("LifeTime = %d, want %d", got, parley.MaxMsgLifeTime)
	}
	e.send(t, chat.SendParams{To: "bob", Body: textBody("online"), LifeTime: &zero})
	e.send(t, chat.SendParams{To: "bob", Body: textBody("online too"), OnlineOnly: true})
	if got := len(e.messages(t, "bob", "admin")); got != 2 {
		t.Errorf("%d stored messages, want 2 (online-only ones are not stored)", got)
	}
	if got := e.total(t, "bob"); got != 2 {
		t.Errorf("unread = %d, want 2 (online-only ones are not counted)", got)
	}
	evs := e.afterSend(t)
	if len(evs) != 4 || evs[2].OnlineOnlyFlag != 1 || evs[3].OnlineOnlyFlag != 1 || evs[0].OnlineOnlyFlag != 0 {
		t.Errorf("after-send events = %+v, want 4 with OnlineOnlyFlag 0,0,1,1", evs)
	}
	if evs[3].UnreadMsgNum != 2 {
		t.Errorf("online-only event UnreadMsgNum = %d, want 2", evs[3].UnreadMsgNum)
	}
}

func TestUnreadAcrossConversations(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b", "c", "d")
	send := func(from, to string, noUnread bool) int {
		e.send(t, chat.SendParams{From: from, To: to, Body: textBody(from + "→" + to), NoUnread: noUnread})
		evs := e.afterSend(t)
		return evs[len(evs)-1].UnreadMsgNum
	}
	steps := []struct {
		from, to string
		noUnread bool
		want     int // the recipient's total after the send, as the event says
	}{
		{"a", "d", false, 1},
		{"a", "d", false, 2},
		{"b", "d", false, 3},
		{"c", "d", true, 3},
		{"c", "d", false, 4},
		{"d", "a", false, 1},
		{"b", "a", false, 2},
		{"b", "a", true, 2},
	}
	for i, s := range steps {
		if got := send(s.from, s.to, s.noUnread); got != s.want {
			t.Fatalf("step %d %s→%s: UnreadMsgNum = %d, want %d", i, s.from, s.to, got, s.want)
		}
	}
	got := e.unread(t, "d", "a", "b", "c", "nobody", "bad id")
	want := chat.UnreadResult{
		Total:  4,
		Peers:  []chat.PeerUnread{{Peer: "a", Unread: 2}, {Peer: "b", Unread: 1}, {Peer: "c", Unread: 1}},
		Errors: []chat.PeerError{{Peer: "nobody", Code: parley.ErrAccountNotImported}, {Peer: "bad id", Code: parley.ErrAccountNotImported}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Unread(d) = %+v, want %+v", got, want)
	}
	if got := e.total(t, "a"); got != 2 {
		t.Errorf("a's total = %d, want 2", got)
	}
	if got := e.total(t, "b"); got != 0 {
		t.Errorf("b's total = %d, want 0", got)
	}
}

func TestUnreadErrors(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a")
	_, err := e.eng.Unread(context.Background(), chat.UnreadParams{To: "nobody"})
	wantCode(t, err, parley.ErrToAccountInvalid)
	_, err = e.eng.Unread(context.Background(), chat.UnreadParams{To: "a", Peers: strings.Fields("1 2 3 4 5 6 7 8 9 10 11")})
	wantCode(t, err, parley.ErrTooManyAccounts)
	if got := e.unread(t, "a", strings.Fields("1 2 3 4 5 6 7 8 9 10")...); len(got.Errors) != 10 || got.Total != 0 {
		t.Errorf("Unread with 10 unknown peers = %+v", got)
	}
}

func TestSetReadPartial(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b", "c")
	var times []int64
	for range 5 {
		times = append(times, e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("x")}).MsgTime)
		e.clock.Advance(time.Second)
	}
	e.send(t, chat.SendParams{From: "c", To: "b", Body: textBody("y")})

	if err := e.eng.SetRead(context.Background(), chat.SetReadParams{Report: "b", Peer: "a", ReadTime: times[2]}); err != nil {
		t.Fatal(err)
	}
	if got := e.unread(t, "b", "a", "c"); got.Total != 3 || got.Peers[0].Unread != 2 || got.Peers[1].Unread != 1 {
		t.Errorf("after reading a up to the 3rd message: %+v, want total 3, a 2, c 1", got)
	}
	// Read time never goes back.
	if err := e.eng.SetRead(context.Background(), chat.SetReadParams{Report: "b", Peer: "a", ReadTime: times[0]}); err != nil {
		t.Fatal(err)
	}
	if got := e.total(t, "b"); got != 3 {
		t.Errorf("after an older read time: total %d, want 3", got)
	}
	// Zero means now: everything from a so far is read, and a message in
	// a later second is unread again.
	if err := e.eng.SetRead(context.Background(), chat.SetReadParams{Report: "b", Peer: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("after reading a up to now: total %d, want 1", got)
	}
	e.clock.Advance(time.Second)
	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("later")})
	if got := e.unread(t, "b", "a"); got.Total != 2 || got.Peers[0].Unread != 1 {
		t.Errorf("after a newer message: %+v, want total 2, a 1", got)
	}

	for _, tt := range []struct {
		p    chat.SetReadParams
		code int
	}{
		{chat.SetReadParams{Report: "x", Peer: "a"}, parley.ErrFromAccountInvalid},
		{chat.SetReadParams{Report: "b", Peer: "x"}, parley.ErrToAccountInvalid},
		{chat.SetReadParams{Report: "b", Peer: "a", ReadTime: -5}, parley.ErrFormat},
	} {
		wantCode(t, e.eng.SetRead(context.Background(), tt.p), tt.code)
	}
}

func TestSendAfterReadTimeNotCounted(t *testing.T) {
	// A message no newer than the read time is read by definition; counting
	// it would leave a count that marking read later disagrees with.
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	future := t0.Unix() + 100
	if err := e.eng.SetRead(context.Background(), chat.SetReadParams{Report: "b", Peer: "a", ReadTime: future}); err != nil {
		t.Fatal(err)
	}
	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("x")})
	if got := e.total(t, "b"); got != 0 {
		t.Errorf("unread = %d, want 0", got)
	}
}

func TestDuplicateSuppression(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b", "c")
	p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(7), MsgRandom: 99, Body: textBody("hello"), CloudCustomData: "x"}
	first := e.send(t, p)

	e.clock.Advance(parley.DuplicateWindow - time.Second)
	pretty := p
	pretty.Body = json.RawMessage(`[ {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}} ]`)
	if got := e.send(t, pretty); got != first {
		t.Errorf("duplicate within 120 s = %+v, want the original %+v", got, first)
	}
	if got := len(e.messages(t, "b", "a")); got != 1 {
		t.Errorf("stored %d messages after a duplicate, want 1", got)
	}
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events after a duplicate, want 1", got)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("unread after a duplicate = %d, want 1", got)
	}

	// Any part of the key differing makes a new message.
	for _, change := range []func(*chat.SendParams){
		func(p *chat.SendParams) { p.MsgSeq = seq(8) },
		func(p *chat.SendParams) { p.MsgRandom = 100 },
		func(p *chat.SendParams) { p.Body = textBody("hello!") },
		func(p *chat.SendParams) { p.CloudCustomData = "y" },
		func(p *chat.SendParams) { p.To = "c" },
	} {
		q := p
		change(&q)
		if got := e.send(t, q); got.MsgKey == first.MsgKey && got.MsgID == first.MsgID {
			t.Errorf("%+v was taken for a duplicate", q)
		}
	}
	if got := len(e.messages(t, "b", "a")); got != 5 {
		t.Errorf("stored %d messages from a to b, want 5", got)
	}

	// Outside the window the same request is a new message.
	e.clock.Advance(2 * time.Second)
	later := e.send(t, p)
	if later.MsgKey == first.MsgKey || later.MsgTime != first.MsgTime+121 {
		t.Errorf("resend after 121 s = %+v, want a new message", later)
	}
}

func TestDuplicateSuppressionConcurrent(t *testing.T) {
	var calls sync.WaitGroup
	gate := make(chan struct{})
	rec := &recorder{reply: func([]byte) (parley.CallbackReply, error) {
		calls.Done()
		<-gate // every sender is past the first duplicate check
		return parley.CallbackReply{ActionStatus: "OK"}, nil
	}}
	e := setup(t, func(c *chat.Config) { c.Caller = rec })
	e.importUsers(t, "a", "b")
	const n = 8
	calls.Add(n)
	results := make([]chat.SendResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("same")})
		})
	}
	calls.Wait()
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("send %d = %+v, want %+v like send 0", i, results[i], results[0])
		}
	}
	if got := len(e.messages(t, "b", "a")); got != 1 {
		t.Errorf("stored %d messages, want 1", got)
	}
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1", got)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("unread = %d, want 1", got)
	}
}

func TestBeforeCallback(t *testing.T) {
	callErr := errors.New("timeout")
	reply := func(r parley.CallbackReply, err error) func([]byte) (parley.CallbackReply, error) {
		return func([]byte) (parley.CallbackReply, error) { return r, err }
	}
	tests := []struct {
		name   string
		reply  func([]byte) (parley.CallbackReply, error)
		reject bool
		code   int  // the sender's error; 0 = success
		stored bool // message stored, counted and after-send event enqueued
	}{
		{"allow", reply(parley.CallbackReply{ActionStatus: "OK"}, nil), false, 0, true},
		{"block", reply(parley.CallbackReply{ActionStatus: "OK", ErrorCode: 1}, nil), false, parley.ErrBlockedByCallback, false},
		{"drop silently", reply(parley.CallbackReply{ActionStatus: "OK", ErrorCode: 2}, nil), false, 0, false},
		{"custom code low", reply(parley.CallbackReply{ActionStatus: "FAIL", ErrorCode: 120001, ErrorInfo: "no minors"}, nil), false, 120001, false},
		{"custom code high", reply(parley.CallbackReply{ActionStatus: "FAIL", ErrorCode: 130000, ErrorInfo: "quota"}, nil), true, 130000, false},
		{"call failed, deliver", reply(parley.CallbackReply{}, callErr), false, 0, true},
		{"call failed, reject", reply(parley.CallbackReply{}, callErr), true, parley.ErrBeforeCallbackFailed, false},
		{"undocumented code, deliver", reply(parley.CallbackReply{ErrorCode: 3}, nil), false, 0, true},
		{"undocumented code, reject", reply(parley.CallbackReply{ErrorCode: 130001}, nil), true, parley.ErrBeforeCallbackFailed, false},
		{"invalid rewrite, deliver", reply(parley.CallbackReply{MsgBody: json.RawMessage(`[{"MsgType":"TIMFaceElem","MsgContent":{}}]`)}, nil), false, 0, true},
		{"invalid rewrite, reject", reply(parley.CallbackReply{MsgBody: json.RawMessage(`{"x":1}`)}, nil), true, parley.ErrBeforeCallbackFailed, false},
		{"allow under reject policy", reply(parley.CallbackReply{ActionStatus: "OK"}, nil), true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{reply: tt.reply}
			e := setup(t, func(c *chat.Config) { c.Caller = rec; c.RejectOnCallbackFailure = tt.reject })
			e.importUsers(t, "a", "b")
			origin := parley.Origin{ClientIP: "198.51.100.1", OptPlatform: "RESTAPI"}
			res, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", MsgSeq: seq(5), MsgRandom: 6, Body: textBody("hi"), CloudCustomData: "c", Origin: origin})
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				if res.MsgKey != fmt.Sprintf("5_6_%d", t0.Unix()) || res.MsgTime != t0.Unix() || res.MsgID == "" {
					t.Errorf("result = %+v", res)
				}
			} else {
				pe := wantCode(t, err, tt.code)
				if parley.IsCustomCallbackCode(tt.code) {
					want, _ := tt.reply(nil)
					if pe.Info != want.ErrorInfo {
						t.Errorf("Info = %q, want the callback's %q", pe.Info, want.ErrorInfo)
					}
				}
			}

			calls := rec.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d callback calls, want 1", len(calls))
			}
			if calls[0].Command != parley.CommandC2CBeforeSendMsg || calls[0].Origin != origin {
				t.Errorf("call = %+v", calls[0])
			}
			wantReq := fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"a","To_Account":"b","MsgSeq":5,"MsgRandom":6,"MsgTime":%d,`+
				`"MsgKey":"5_6_%d","OnlineOnlyFlag":0,"MsgBody":%s,"CloudCustomData":"c"}`, t0.Unix(), t0.Unix(), textBody("hi"))
			if string(calls[0].Body) != wantReq {
				t.Errorf("callback body\n got %s\nwant %s", calls[0].Body, wantReq)
			}

			wantN := 0
			if tt.stored {
				wantN = 1
			}
			if got := len(e.messages(t, "b", "a")); got != wantN {
				t.Errorf("%d messages stored, want %d", got, wantN)
			}
			if got := len(e.afterSend(t)); got != wantN {
				t.Errorf("%d after-send events, want %d", got, wantN)
			}
			if got := e.total(t, "b"); got != wantN {
				t.Errorf("unread = %d, want %d", got, wantN)
			}
			if tt.stored && string(e.messages(t, "b", "a")[0].Body) != string(textBody("hi")) {
				t.Errorf("stored body changed without a valid rewrite")
			}
		})
	}
}

func TestBeforeCallbackRewrite(t *testing.T) {
	rewritten := json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}, {"MsgType":"TIMFaceElem","MsgContent":{"Index":2}}]`)
	compact := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}},{"MsgType":"TIMFaceElem","MsgContent":{"Index":2}}]`
	cloud := "rewritten data"
	tests := []struct {
		name      string
		reply     parley.CallbackReply
		wantBody  string
		wantCloud string
	}{
		{"body and data", parley.CallbackReply{MsgBody: rewritten, CloudCustomData: &cloud}, compact, cloud},
		{"body only", parley.CallbackReply{MsgBody: rewritten}, compact, "orig"},
		{"data only", parley.CallbackReply{CloudCustomData: &cloud}, string(textBody("bad word")), cloud},
		{"data cleared", parley.CallbackReply{MsgBody: json.RawMessage("null"), CloudCustomData: new(string)}, string(textBody("bad word")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{reply: func([]byte) (parley.CallbackReply, error) { return tt.reply, nil }}
			e := setup(t, func(c *chat.Config) { c.Caller = rec })
			e.importUsers(t, "a", "b")
			p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 2, Body: textBody("bad word"), CloudCustomData: "orig"}
			res := e.send(t, p)

			ms := e.messages(t, "b", "a")
			if len(ms) != 1 || string(ms[0].Body) != tt.wantBody || ms[0].CloudCustomData != tt.wantCloud {
				t.Fatalf("stored %+v, want body %s and data %q", ms[0], tt.wantBody, tt.wantCloud)
			}
			evs := e.afterSend(t)
			if len(evs) != 1 || string(evs[0].MsgBody) != tt.wantBody || evs[0].CloudCustomData != tt.wantCloud {
				t.Fatalf("after-send events %+v, want the rewritten message", evs)
			}
			// Dedup keys on what the sender sent, so a retry is still caught.
			if again := e.send(t, p); again != res {
				t.Errorf("retry = %+v, want the original %+v", again, res)
			}
			if got := len(rec.Calls()); got != 1 {
				t.Errorf("%d callback calls, want 1 (the retry is a duplicate)", got)
			}
		})
	}
}

func TestRestrictedWords(t *testing.T) {
	rec := &recorder{}
	e := setup(t, func(c *chat.Config) {
		c.RestrictedWords = []string{"Forbidden Fruit", "", "  "}
		c.Caller = rec
	})
	e.importUsers(t, "a", "b")
	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("fine")})
	before := e.notified.Load()

	bad := json.RawMessage(`[{"MsgType":"TIMFaceElem","MsgContent":{"Index":1}},{"MsgType":"TIMTextElem","MsgContent":{"Text":"a FORBIDDEN fruit!"}}]`)
	res, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", MsgSeq: seq(3), MsgRandom: 4, Body: bad})
	wantCode(t, err, parley.ErrSensitiveText)
	if res != (chat.SendResult{}) {
		t.Errorf("result = %+v, want zero", res)
	}
	if got := len(e.messages(t, "b", "a")); got != 1 {
		t.Errorf("%d messages stored, want 1", got)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("unread = %d, want 1", got)
	}
	evs := e.afterSend(t)
	if len(evs) != 2 {
		t.Fatalf("%d after-send events, want 2", len(evs))
	}
	got := evs[1]
	if got.SendMsgResult != parley.ErrSensitiveText || got.ErrorInfo != parley.ErrorText(parley.ErrSensitiveText) || got.UnreadMsgNum != -1 ||
		got.MsgKey != fmt.Sprintf("3_4_%d", t0.Unix()) || string(got.MsgBody) != string(bad) {
		t.Errorf("failure event = %+v", got)
	}
	if n := e.notified.Load() - before; n != 1 {
		t.Errorf("OnEvents called %d times for the failure event, want 1", n)
	}

	// A relayed text is a text too.
	relay := json.RawMessage(`[{"MsgType":"TIMRelayElem","MsgContent":{"MsgNum":1,"MsgList":[{"From_Account":"x","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"forbidden fruit"}}]}]}}]`)
	_, err = e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", Body: relay})
	wantCode(t, err, parley.ErrSensitiveText)

	// Words in other elements are not text.
	e.send(t, chat.SendParams{From: "a", To: "b", Body: json.RawMessage(`[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"forbidden fruit"}}]`)})

	// ForbidAfterSendMsgCallback silences the failure event too.
	n := len(e.afterSend(t))
	_, err = e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", Body: bad, ForbidAfterCallback: true})
	wantCode(t, err, parley.ErrSensitiveText)
	if got := len(e.afterSend(t)); got != n {
		t.Errorf("%d after-send events, want %d", got, n)
	}

	// A rewrite is filtered too, and the event carries the rewrite.
	rewrite := textBody("now forbidden fruit")
	rec.mu.Lock()
	rec.reply = func([]byte) (parley.CallbackReply, error) { return parley.CallbackReply{MsgBody: rewrite}, nil }
	rec.mu.Unlock()
	_, err = e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", Body: textBody("innocent")})
	wantCode(t, err, parley.ErrSensitiveText)
	evs = e.afterSend(t)
	if last := evs[len(evs)-1]; string(last.MsgBody) != string(rewrite) || last.UnreadMsgNum != -1 {
		t.Errorf("failure event after rewrite = %+v", last)
	}
	// And a rewrite can clean a message up.
	rec.mu.Lock()
	rec.reply = func([]byte) (parley.CallbackReply, error) {
		return parley.CallbackReply{MsgBody: textBody("clean")}, nil
	}
	rec.mu.Unlock()
	e.clock.Advance(time.Second) // so the next message is the newest
	e.send(t, chat.SendParams{From: "a", To: "b", Body: bad})
	if ms := e.messages(t, "b", "a"); string(ms[0].Body) != string(textBody("clean")) {
		t.Errorf("newest stored body = %s, want the clean rewrite", ms[0].Body)
	}
}

func TestForbidCallbackControl(t *testing.T) {
	rec := &recorder{reply: func([]byte) (parley.CallbackReply, error) { return parley.CallbackReply{ErrorCode: 1}, nil }}
	e := setup(t, func(c *chat.Config) { c.Caller = rec })
	e.importUsers(t, "a", "b")

	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("1"), ForbidBeforeCallback: true})
	if got := len(rec.Calls()); got != 0 {
		t.Errorf("%d before-callbacks despite ForbidBeforeSendMsgCallback", got)
	}
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1", got)
	}
	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("2"), ForbidBeforeCallback: true, ForbidAfterCallback: true})
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events despite ForbidAfterSendMsgCallback, want 1", got)
	}
	if got := e.notified.Load(); got != 1 {
		t.Errorf("OnEvents called %d times, want 1", got)
	}
	if got := len(e.messages(t, "b", "a")); got != 2 {
		t.Errorf("%d messages stored, want 2", got)
	}
}

func TestCallbacksDisabled(t *testing.T) {
	rec := &recorder{reply: func([]byte) (parley.CallbackReply, error) { return parley.CallbackReply{ErrorCode: 1}, nil }}
	for _, name := range []string{"nil", "false"} {
		t.Run(name, func(t *testing.T) {
			e := setup(t, func(c *chat.Config) {
				c.Caller = rec
				c.RestrictedWords = []string{"bad"}
				c.CallbackEnabled = nil
				if name == "false" {
					c.CallbackEnabled = func(string) bool { return false }
				}
			})
			e.importUsers(t, "a", "b")
			r := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("x")})
			_, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", Body: textBody("bad")})
			wantCode(t, err, parley.ErrSensitiveText)
			if err := e.eng.Recall(context.Background(), chat.RecallParams{From: "a", To: "b", MsgKey: r.MsgKey}); err != nil {
				t.Fatal(err)
			}
			if got := e.events(t, ""); len(got) != 0 {
				t.Errorf("%d events enqueued, want 0", len(got))
			}
			if got := e.notified.Load(); got != 0 {
				t.Errorf("OnEvents called %d times, want 0", got)
			}
			if got := len(rec.Calls()); got != 0 {
				t.Errorf("%d before-callbacks, want 0", got)
			}
		})
	}
}

func TestCallbackEnabledPerCommand(t *testing.T) {
	e := setup(t, func(c *chat.Config) {
		c.CallbackEnabled = func(cmd string) bool { return cmd == parley.CommandC2CAfterWithdraw }
	})
	e.importUsers(t, "a", "b")
	r := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("x")})
	if err := e.eng.Recall(context.Background(), chat.RecallParams{From: "a", To: "b", MsgKey: r.MsgKey}); err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, "")
	if len(evs) != 1 || evs[0].Command != parley.CommandC2CAfterWithdraw {
		t.Errorf("events = %+v, want one after-recall event", evs)
	}
}

func TestBatchSendC2C(t *testing.T) {
	rec := &recorder{}
	e := setup(t, func(c *chat.Config) { c.Caller = rec; c.RestrictedWords = []string{"bad"} })
	e.importUsers(t, "a", "b", "c", "d")
	ctx := context.Background()

	res, err := e.eng.BatchSendC2C(ctx, chat.BatchSendParams{From: "a", To: []string{"b", "x", "c", "b", "bad id", "d"}, MsgSeq: seq(9), MsgRandom: 10, Body: textBody("all")})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("9_10_%d", t0.Unix()); res.MsgKey != want || res.MsgID == "" {
		t.Errorf("result = %+v, want MsgKey %s", res, want)
	}
	wantErrs := []chat.BatchError{{To: "x", Code: parley.ErrAccountNotImported}, {To: "bad id", Code: parley.ErrAccountNotImported}}
	if fmt.Sprint(res.Errors) != fmt.Sprint(wantErrs) {
		t.Errorf("Errors = %+v, want %+v", res.Errors, wantErrs)
	}
	for _, to := range []string{"b", "c", "d"} {
		ms := e.messages(t, to, "a")
		if len(ms) != 1 || ms[0].MsgKey != res.MsgKey || ms[0].MsgID != res.MsgID {
			t.Errorf("%s's messages = %+v, want one with the shared key", to, ms)
		}
		if got := e.total(t, to); got != 1 {
			t.Errorf("%s's unread = %d, want 1", to, got)
		}
	}
	if got := e.events(t, ""); len(got) != 0 {
		t.Errorf("batchsendmsg enqueued %d events", len(got))
	}
	if got := len(rec.Calls()); got != 0 {
		t.Errorf("batchsendmsg made %d callbacks", got)
	}
	if e.notified.Load() != 0 {
		t.Error("batchsendmsg called OnEvents")
	}

	// NoUnread and online-only.
	zero := 0
	if _, err := e.eng.BatchSendC2C(ctx, chat.BatchSendParams{From: "a", To: []string{"b"}, Body: textBody("quiet"), NoUnread: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.BatchSendC2C(ctx, chat.BatchSendParams{From: "a", To: []string{"b"}, Body: textBody("live"), LifeTime: &zero}); err != nil {
		t.Fatal(err)
	}
	if got, n := e.total(t, "b"), len(e.messages(t, "b", "a")); got != 1 || n != 2 {
		t.Errorf("b: unread %d, %d messages; want 1 and 2", got, n)
	}
	// The admin is the default sender.
	if _, err := e.eng.BatchSendC2C(ctx, chat.BatchSendParams{To: []string{"c"}, Body: textBody("hi")}); err != nil {
		t.Fatal(err)
	}
	if got := len(e.messages(t, "c", "admin")); got != 1 {
		t.Errorf("c has %d messages from admin, want 1", got)
	}

	many := make([]string, chat.MaxBatchRecipients+1)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	neg := -1
	for _, tt := range []struct {
		name string
		p    chat.BatchSendParams
		code int
	}{
		{"no recipients", chat.BatchSendParams{From: "a", Body: textBody("x")}, parley.ErrBatchToEmpty},
		{"501 recipients", chat.BatchSendParams{From: "a", To: many, Body: textBody("x")}, parley.ErrTooManyTargets},
		{"sender not imported", chat.BatchSendParams{From: "x", To: []string{"b"}, Body: textBody("x")}, parley.ErrFromAccountInvalid},
		{"sender invalid", chat.BatchSendParams{From: "x\n", To: []string{"b"}, Body: textBody("x")}, parley.ErrFromAccountInvalid},
		{"body invalid", chat.BatchSendParams{From: "a", To: []string{"b"}, Body: json.RawMessage(`[{}]`)}, parley.ErrMsgBodyInvalid},
		{"body too large", chat.BatchSendParams{From: "a", To: []string{"b"}, Body: textBody(strings.Repeat("y", 12289))}, parley.ErrBatchBodyTooLarge},
		{"restricted", chat.BatchSendParams{From: "a", To: []string{"b"}, Body: textBody("so BAD")}, parley.ErrSensitiveText},
		{"negative lifetime", chat.BatchSendParams{From: "a", To: []string{"b"}, Body: textBody("x"), LifeTime: &neg}, parley.ErrMsgLifeTimeInvalid},
	} {
		_, err := e.eng.BatchSendC2C(ctx, tt.p)
		t.Run(tt.name, func(t *testing.T) { wantCode(t, err, tt.code) })
	}
	if got := len(e.messages(t, "b", "a")); got != 2 {
		t.Errorf("b has %d messages from a after failed batches, want 2", got)
	}
	many = many[:chat.MaxBatchRecipients]
	res, err = e.eng.BatchSendC2C(ctx, chat.BatchSendParams{From: "a", To: many, Body: textBody("x")})
	if err != nil || len(res.Errors) != chat.MaxBatchRecipients {
		t.Errorf("500 unknown recipients: %d errors, %v", len(res.Errors), err)
	}
}

func TestRecall(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b", "c")
	ctx := context.Background()
	origin := parley.Origin{ClientIP: "203.0.113.9", OptPlatform: "RESTAPI"}
	m1 := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("1")})
	m2 := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("2"), NoUnread: true})
	e.clock.Advance(time.Second)
	m3 := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("3")})
	e.send(t, chat.SendParams{From: "c", To: "b", Body: textBody("4")})
	if got := e.total(t, "b"); got != 3 {
		t.Fatalf("unread = %d, want 3", got)
	}

	recall := func(key string) parley.AfterMsgWithdraw {
		t.Helper()
		if err := e.eng.Recall(ctx, chat.RecallParams{From: "a", To: "b", MsgKey: key, Origin: origin}); err != nil {
			t.Fatalf("Recall(%s): %v", key, err)
		}
		evs := e.events(t, parley.CommandC2CAfterWithdraw)
		ev := evs[len(evs)-1]
		if ev.Origin != origin || ev.Conversation != parley.C2CConversation("a", "b") {
			t.Errorf("event %+v", ev)
		}
		var b parley.AfterMsgWithdraw
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	if got, want := recall(m1.MsgKey), (parley.AfterMsgWithdraw{CallbackCommand: parley.CommandC2CAfterWithdraw, FromAccount: "a", ToAccount: "b", MsgKey: m1.MsgKey, UnreadMsgNum: 2}); got != want {
		t.Errorf("recall of an unread message: event %+v, want %+v", got, want)
	}
	// A NoUnread message never counted.
	if got := recall(m2.MsgKey).UnreadMsgNum; got != 2 {
		t.Errorf("recall of a NoUnread message: UnreadMsgNum %d, want 2", got)
	}
	// A message already read does not count any more.
	if err := e.eng.SetRead(ctx, chat.SetReadParams{Report: "b", Peer: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := recall(m3.MsgKey).UnreadMsgNum; got != 1 {
		t.Errorf("recall of a read message: UnreadMsgNum %d, want 1", got)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("unread = %d, want 1", got)
	}
	if got := e.notified.Load(); got != 7 { // 4 sends, 3 recalls
		t.Errorf("OnEvents called %d times, want 7", got)
	}
	// Recalled messages stay in history, marked.
	for _, m := range e.messages(t, "b", "a") {
		if !m.Recalled {
			t.Errorf("message %s not marked recalled", m.MsgKey)
		}
	}

	e.clock.Advance(30 * 24 * time.Hour) // no time limit for the admin
	m5 := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("5")})
	e.clock.Advance(30 * 24 * time.Hour)
	recall(m5.MsgKey)

	for _, tt := range []struct {
		name string
		p    chat.RecallParams
		code int
	}{
		{"sender unknown", chat.RecallParams{From: "x", To: "b", MsgKey: m1.MsgKey}, parley.ErrFromAccountInvalid},
		{"recipient unknown", chat.RecallParams{From: "a", To: "x", MsgKey: m1.MsgKey}, parley.ErrToAccountInvalid},
		{"no key", chat.RecallParams{From: "a", To: "b"}, parley.ErrMsgKeyInvalid},
		{"unknown key", chat.RecallParams{From: "a", To: "b", MsgKey: "1_2_3"}, parley.ErrRecallNotFound},
		{"wrong direction", chat.RecallParams{From: "b", To: "a", MsgKey: m1.MsgKey}, parley.ErrRecallNotFound},
		{"already recalled", chat.RecallParams{From: "a", To: "b", MsgKey: m1.MsgKey}, parley.ErrAlreadyRecalled},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, e.eng.Recall(ctx, tt.p), tt.code) })
	}
}

func TestRecallConcurrent(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	r := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("x")})
	e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("y")})
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = e.eng.Recall(context.Background(), chat.RecallParams{From: "a", To: "b", MsgKey: r.MsgKey})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, parley.ErrAlreadyRecalled)
	}
	if ok != 1 {
		t.Errorf("%d recalls succeeded, want 1", ok)
	}
	if got := e.total(t, "b"); got != 1 {
		t.Errorf("unread = %d, want 1", got)
	}
	if got := len(e.events(t, parley.CommandC2CAfterWithdraw)); got != 1 {
		t.Errorf("%d after-recall events, want 1", got)
	}
}

func BenchmarkSendC2C(b *testing.B) {
	e := setup(b, func(c *chat.Config) { c.Now = time.Now })
	const users = 64
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprint("user", i)
	}
	e.importUsers(b, ids...)
	body := textBody("a benchmark message of a typical length, about sixty bytes")
	var next sync.Mutex
	n := 0
	b.SetParallelism(16) // senders wait on group commit, not on the CPU
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		me := n
		n++
		next.Unlock()
		i := 0
		for pb.Next() {
			from, to := ids[me%users], ids[(me+1+i)%users]
			if from == to {
				to = ids[(me+2+i)%users]
			}
			i++
			if _, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: from, To: to, MsgRandom: uint32(i), Body: body}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// TestSendC2CAccountChecks: without a before-send callback the accounts are
// checked inside the transaction, with one before it; the answers are the
// same either way, a refused send writes nothing, and refusals in a group
// of concurrent sends leave the others whole.
func TestSendC2CAccountChecks(t *testing.T) {
	allow := callerFunc(func(context.Context, string, []byte, parley.Origin) (parley.CallbackReply, error) {
		return parley.CallbackReply{ActionStatus: "OK"}, nil
	})
	for _, withCallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("callback=%v", withCallback), func(t *testing.T) {
			e := setup(t, func(c *chat.Config) {
				c.RestrictedWords = []string{"forbidden"}
				if withCallback {
					c.Caller = allow
				}
			})
			e.importUsers(t, "alice", "bob")
			tests := []struct {
				p    chat.SendParams
				code int
			}{
				{chat.SendParams{From: "carol", To: "bob", Body: textBody("x")}, parley.ErrFromAccountInvalid},
				{chat.SendParams{From: "alice", To: "carol", Body: textBody("x")}, parley.ErrToAccountInvalid},
				{chat.SendParams{From: "alice", To: "carol", Body: textBody("forbidden")}, parley.ErrToAccountInvalid},
				{chat.SendParams{From: "alice", To: "carol", MsgSeq: seq(7), Body: textBody("x")}, parley.ErrToAccountInvalid},
			}
			for _, tt := range tests {
				_, err := e.eng.SendC2C(t.Context(), tt.p)
				wantCode(t, err, tt.code)
			}

			var wg sync.WaitGroup
			errs := make([]error, 40)
			for i := range errs {
				wg.Go(func() {
					to := "bob"
					if i%2 == 1 {
						to = "nobody"
					}
					_, errs[i] = e.eng.SendC2C(t.Context(), chat.SendParams{From: "alice", To: to, MsgRandom: uint32(i), Body: textBody("hi")})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if i%2 == 1 {
					wantCode(t, err, parley.ErrToAccountInvalid)
				} else if err != nil {
					t.Errorf("send %d to bob: %v", i, err)
				}
			}
			if got := len(e.messages(t, "bob", "alice")); got != 20 {
				t.Errorf("bob has %d messages, want 20", got)
			}
			if got := len(e.afterSend(t)); got != 20 {
				t.Errorf("%d after-send events, want 20 (none for refused sends)", got)
			}
			if got := e.unread(t, "bob").Total; got != 20 {
				t.Errorf("bob's unread = %d, want 20", got)
			}
		})
	}
}
