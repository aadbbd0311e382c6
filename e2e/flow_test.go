package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

func importUsers(t *testing.T, srv *parleytest.Server, ids ...string) {
	t.Helper()
	for _, id := range ids {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
}

func afterSendBodies(t *testing.T, reqs []parleytest.Request) []parley.AfterSendMsg {
	t.Helper()
	var out []parley.AfterSendMsg
	for _, r := range reqs {
		if r.Query.Get("CallbackCommand") != parley.CommandC2CAfterSendMsg {
			continue
		}
		var b parley.AfterSendMsg
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("after-send body %s: %v", r.Body, err)
		}
		out = append(out, b)
	}
	return out
}

// TestWalkthrough is the README's five minutes: import two users, send, see
// the webhook, read the history, recall, see the recall webhook.
func TestWalkthrough(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL})
	importUsers(t, srv, "alice", "bob")

	sent := mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 4294967295, "MsgBody": textBody("hello bob"),
	}))
	key, _ := sent["MsgKey"].(string)
	if key == "" || sent["MsgId"] == nil || sent["MsgTime"] == nil {
		t.Fatalf("sendmsg answer lacks MsgKey/MsgId/MsgTime: %v", sent)
	}
	after := afterSendBodies(t, waitCommand(t, rcv, parley.CommandC2CAfterSendMsg, 1))
	if len(after) != 1 || after[0].MsgKey != key || after[0].UnreadMsgNum != 1 || after[0].SendMsgResult != 0 || after[0].MsgRandom != 4294967295 {
		t.Fatalf("after-send webhook: %+v", after)
	}

	roam := mustOK(t, srv.Post(t, "openim", "admin_getroammsg", map[string]any{
		"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 10, "MinTime": 0, "MaxTime": 4102444800,
	}))
	list, _ := roam["MsgList"].([]any)
	if roam["Complete"] != json.Number("1") || len(list) != 1 {
		t.Fatalf("roam: %v", roam)
	}
	if m := list[0].(map[string]any); m["MsgKey"] != key || m["MsgFlagBits"] != json.Number("0") || m["From_Account"] != "alice" {
		t.Fatalf("roam message: %v", m)
	}

	mustOK(t, srv.Post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgKey": key}))
	withdrawn := waitCommand(t, rcv, parley.CommandC2CAfterWithdraw, 1)[0]
	var wd parley.AfterMsgWithdraw
	if err := json.Unmarshal(withdrawn.Body, &wd); err != nil || wd.MsgKey != key || wd.UnreadMsgNum != 0 {
		t.Fatalf("withdraw webhook %s (%v)", withdrawn.Body, err)
	}
	again := srv.Post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgKey": key})
	if again["ErrorCode"] != json.Number("20023") {
		t.Errorf("second recall: %v, want 20023", again)
	}
	roam = mustOK(t, srv.Post(t, "openim", "admin_getroammsg", map[string]any{
		"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 10, "MinTime": 0, "MaxTime": 4102444800,
	}))
	if m := roam["MsgList"].([]any)[0].(map[string]any); m["MsgFlagBits"] != json.Number("8") {
		t.Errorf("recalled message flag: %v", m)
	}
}

// TestRestrictedWords: the message is refused with 80001, stored nowhere,
// and the after-send webhook still fires with SendMsgResult 80001 and
// UnreadMsgNum -1.
func TestRestrictedWords(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, RestrictedWords: []string{"red packet"}})
	importUsers(t, srv, "alice", "bob")
	got := srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": textBody("free RED PACKET here"),
	})
	if got["ActionStatus"] != "FAIL" || got["ErrorCode"] != json.Number("80001") {
		t.Fatalf("sendmsg with a restricted word: %v", got)
	}
	after := afterSendBodies(t, waitCommand(t, rcv, parley.CommandC2CAfterSendMsg, 1))
	if len(after) != 1 || after[0].SendMsgResult != 80001 || after[0].UnreadMsgNum != -1 || after[0].ErrorInfo == "" {
		t.Fatalf("after-send webhook for a refused message: %+v", after)
	}
	unread := mustOK(t, srv.Post(t, "openim", "get_c2c_unread_msg_num", map[string]any{"To_Account": "bob"}))
	if unread["AllC2CUnreadMsgNum"] != json.Number("0") {
		t.Errorf("refused message counted as unread: %v", unread)
	}
	roam := mustOK(t, srv.Post(t, "openim", "admin_getroammsg", map[string]any{
		"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 10, "MinTime": 0, "MaxTime": 4102444800,
	}))
	if roam["MsgCnt"] != json.Number("0") {
		t.Errorf("refused message stored: %v", roam)
	}
}

// TestBeforeSendAnswers drives C2C.CallbackBeforeSendMsg over real HTTP:
// each ErrorCode, a timeout under both policies, and ForbidCallbackControl.
func TestBeforeSendAnswers(t *testing.T) {
	// The app backend decides by the message text.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b parley.BeforeSendMsg
		json.NewDecoder(r.Body).Decode(&b)
		if r.URL.Query().Get("CallbackCommand") != parley.CommandC2CBeforeSendMsg {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
			return
		}
		text := string(b.MsgBody)
		switch {
		case strings.Contains(text, "slow"):
			<-r.Context().Done() // longer than the callback timeout
		case strings.Contains(text, "block"):
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"no"}`)
		case strings.Contains(text, "silent"):
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}`)
		case strings.Contains(text, "custom"):
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":120123,"ErrorInfo":"frozen account"}`)
		case strings.Contains(text, "weird"):
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":7,"ErrorInfo":""}`)
		case strings.Contains(text, "html"):
			fmt.Fprint(w, `<html>oops</html>`)
		default:
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}
	}))
	t.Cleanup(backend.Close)

	for _, policy := range []string{"deliver", "reject"} {
		t.Run(policy, func(t *testing.T) {
			srv := parleytest.Start(t, server.Options{
				CallbackURL:      backend.URL,
				CallbackTimeout:  300 * time.Millisecond,
				BeforeSendPolicy: policy,
			})
			importUsers(t, srv, "alice", "bob")
			failed := 0
			if policy == "reject" {
				failed = 80003
			}
			tests := []struct {
				text     string
				forbid   bool
				wantCode int
				stored   bool
			}{
				{"fine", false, 0, true},
				{"block me", false, 20006, false},
				{"silent drop", false, 0, false},
				{"custom code", false, 120123, false},
				{"slow answer", false, failed, failed == 0},
				{"weird code", false, failed, failed == 0},
				{"html answer", false, failed, failed == 0},
				{"block but forbidden", true, 0, true},
			}
			for i, tt := range tests {
				req := map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": i, "MsgBody": textBody(tt.text)}
				if tt.forbid {
					req["ForbidCallbackControl"] = []string{"ForbidBeforeSendMsgCallback"}
				}
				got := srv.Post(t, "openim", "sendmsg", req)
				if got["ErrorCode"] != json.Number(fmt.Sprint(tt.wantCode)) {
					t.Errorf("%q: answer %v, want code %d", tt.text, got, tt.wantCode)
				}
				if tt.wantCode == 120123 && got["ErrorInfo"] != "frozen account" {
					t.Errorf("custom code ErrorInfo = %v, want the backend's", got["ErrorInfo"])
				}
				roam := mustOK(t, srv.Post(t, "openim", "admin_getroammsg", map[string]any{
					"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 100, "MinTime": 0, "MaxTime": 4102444800,
				}))
				found := strings.Contains(fmt.Sprint(roam["MsgList"]), tt.text)
				if found != tt.stored {
					t.Errorf("%q: stored = %v, want %v", tt.text, found, tt.stored)
				}
			}
		})
	}
}

// TestFailedWebhookIsRetriedWithTheSameEventID: the receiver fails twice,
// then answers; the event arrives three times with one id.
func TestFailedWebhookIsRetriedWithTheSameEventID(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	var calls atomic.Int32
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		if r.Query.Get("CallbackCommand") == parley.CommandC2CAfterSendMsg && calls.Add(1) <= 2 {
			return http.StatusInternalServerError, "busy"
		}
		return 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
	})
	srv := parleytest.Start(t, server.Options{
		CallbackURL:   rcv.URL,
		RetrySchedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
	})
	importUsers(t, srv, "alice", "bob")
	mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": 9, "MsgBody": textBody("x")}))
	reqs := waitCommand(t, rcv, parley.CommandC2CAfterSendMsg, 3)
	id := reqs[0].Header.Get("X-Parley-Event-Id")
	for i, r := range reqs {
		if r.Header.Get("X-Parley-Event-Id") != id {
			t.Errorf("attempt %d has event id %q, want %q", i+1, r.Header.Get("X-Parley-Event-Id"), id)
		}
		if got := r.Header.Get("X-Parley-Attempt"); got != fmt.Sprint(i+1) {
			t.Errorf("attempt header %q, want %d", got, i+1)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		e, err := srv.Store().EventGet(t.Context(), id)
		return err == nil && e.State == parley.EventDelivered
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(5 * time.Millisecond) // a poll interval, not a wait for an event
	}
}
