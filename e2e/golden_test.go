package e2e_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

func readSeed(t *testing.T, command string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "seeds", command+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// msgElement keeps Tencent's key order (MsgType, then MsgContent) when
// marshalled; a map would sort the keys.
type msgElement struct {
	MsgType    string
	MsgContent map[string]any
}

func textBody(text string) []msgElement {
	return []msgElement{{MsgType: "TIMTextElem", MsgContent: map[string]any{"Text": text}}}
}

// waitCommand waits until the receiver holds n requests of command and
// returns those, in arrival order.
func waitCommand(t *testing.T, rcv *parleytest.Receiver, command string, n int) []parleytest.Request {
	t.Helper()
	var out []parleytest.Request
	rcv.WaitUntil(t, 10*time.Second, func(reqs []parleytest.Request) bool {
		out = out[:0]
		for _, r := range reqs {
			if r.Query.Get("CallbackCommand") == command {
				out = append(out, r)
			}
		}
		return len(out) >= n
	})
	return out
}

// setupSeedConversation starts a server whose clock can be set, with a
// receiver as callback URL, imports jared and Jonh, and leaves Jonh with
// seven unread messages from jared.
func setupSeedConversation(t *testing.T, token string) (*parleytest.Server, *parleytest.Receiver, *parleytest.Clock) {
	t.Helper()
	rcv := parleytest.NewReceiver(t)
	clk := parleytest.NewClock(time.Unix(1557481000, 0))
	srv := parleytest.Start(t, server.Options{
		CallbackURL:   rcv.URL,
		CallbackToken: token,
		Now:           clk.Now,
	})
	for _, id := range []string{"jared", "Jonh"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	for i := range 7 {
		clk.Set(time.Unix(1557481000+int64(i), 0))
		mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
			"From_Account": "jared", "To_Account": "Jonh", "MsgRandom": 1000 + i, "MsgBody": textBody("hi"),
		}))
	}
	waitCommand(t, rcv, parley.CommandC2CAfterSendMsg, 7)
	// The tests set the clock forward past the webhooks' leases next: an
	// event whose outcome is not yet written would be sent again.
	srv.WaitOutboxDrained(t, 10*time.Second)
	return srv, rcv, clk
}

func mustOK(t *testing.T, answer map[string]any) map[string]any {
	t.Helper()
	if answer["ActionStatus"] != "OK" || answer["ErrorCode"] != json.Number("0") {
		t.Fatalf("answer is not OK: %v", answer)
	}
	return answer
}

// findWebhook returns the first recorded webhook of command whose body has
// MsgKey key.
func findWebhook(t *testing.T, reqs []parleytest.Request, command, key string) parleytest.Request {
	t.Helper()
	for _, r := range reqs {
		var b struct{ CallbackCommand, MsgKey string }
		if json.Unmarshal(r.Body, &b) == nil && b.CallbackCommand == command && b.MsgKey == key {
			return r
		}
	}
	t.Fatalf("no %s webhook with MsgKey %s among %d requests", command, key, len(reqs))
	return parleytest.Request{}
}

// TestAfterSendMsgWebhookIsTheSeed replays seed 003 through the REST API and
// compares the delivered webhook with the seed's sample byte for byte.
func TestAfterSendMsgWebhookIsTheSeed(t *testing.T) {
	srv, rcv, clk := setupSeedConversation(t, "")
	clk.Set(time.Unix(1557481126, 0))
	answer := mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account":    "jared",
		"To_Account":      "Jonh",
		"MsgSeq":          48374,
		"MsgRandom":       2837546,
		"MsgLifeTime":     0, // online only: OnlineOnlyFlag 1, not counted as unread
		"MsgBody":         textBody("red packet"),
		"CloudCustomData": "your cloud custom data",
	}))
	if answer["MsgKey"] != "48374_2837546_1557481126" || answer["MsgTime"] != json.Number("1557481126") {
		t.Fatalf("sendmsg answer: %v", answer)
	}
	req := findWebhook(t, waitCommand(t, rcv, parley.CommandC2CAfterSendMsg, 8), parley.CommandC2CAfterSendMsg, "48374_2837546_1557481126")
	if want := readSeed(t, parley.CommandC2CAfterSendMsg); !bytes.Equal(req.Body, want) {
		t.Errorf("webhook body differs from seed 003\n got: %s\nwant: %s", req.Body, want)
	}
	q := req.Query
	for k, want := range map[string]string{
		"SdkAppid":        "", // checked below against the app
		"CallbackCommand": parley.CommandC2CAfterSendMsg,
		"contenttype":     "json",
		"ClientIP":        "127.0.0.1",
		"OptPlatform":     "RESTAPI",
	} {
		if want != "" && q.Get(k) != want {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if got, want := q.Get("SdkAppid"), formatUint(srv.App().SDKAppID); got != want {
		t.Errorf("query SdkAppid = %q, want %q", got, want)
	}
	if q.Has("Sign") || q.Has("RequestTime") {
		t.Errorf("Sign/RequestTime sent without a token: %v", q)
	}
	if req.Header.Get("X-Parley-Event-Id") == "" {
		t.Error("no X-Parley-Event-Id header")
	}
}

// TestAfterMsgWithdrawWebhookIsTheSeed replays seed 002: recalling one of
// eight unread messages leaves seven.
func TestAfterMsgWithdrawWebhookIsTheSeed(t *testing.T) {
	srv, rcv, clk := setupSeedConversation(t, "xxxxyyyy")
	clk.Set(time.Unix(1557481126, 0))
	mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "jared", "To_Account": "Jonh", "MsgSeq": 48374, "MsgRandom": 2837546, "MsgBody": textBody("oops"),
	}))
	unread := mustOK(t, srv.Post(t, "openim", "get_c2c_unread_msg_num", map[string]any{"To_Account": "Jonh"}))
	if unread["AllC2CUnreadMsgNum"] != json.Number("8") {
		t.Fatalf("unread before recall: %v", unread)
	}
	mustOK(t, srv.Post(t, "openim", "admin_msgwithdraw", map[string]any{
		"From_Account": "jared", "To_Account": "Jonh", "MsgKey": "48374_2837546_1557481126",
	}))
	req := findWebhook(t, waitCommand(t, rcv, parley.CommandC2CAfterWithdraw, 1), parley.CommandC2CAfterWithdraw, "48374_2837546_1557481126")
	if want := readSeed(t, parley.CommandC2CAfterWithdraw); !bytes.Equal(req.Body, want) {
		t.Errorf("webhook body differs from seed 002\n got: %s\nwant: %s", req.Body, want)
	}
	rt := req.Query.Get("RequestTime")
	if rt == "" || req.Query.Get("Sign") != delivery.Sign("xxxxyyyy", parseInt(t, rt)) {
		t.Errorf("Sign %q does not match RequestTime %q and the token", req.Query.Get("Sign"), rt)
	}
}

// TestBeforeSendMsgBody checks the before-send body: the after-send fields
// without the delivery outcome, and the rewrite reaching the after-send
// webhook.
func TestBeforeSendMsgBody(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		if r.Query.Get("CallbackCommand") == parley.CommandC2CBeforeSendMsg {
			return 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"rewritten"}}],"CloudCustomData":"new"}`
		}
		return 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
	})
	clk := parleytest.NewClock(time.Unix(1557481126, 0))
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, Now: clk.Now})
	for _, id := range []string{"jared", "Jonh"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "jared", "To_Account": "Jonh", "MsgSeq": 48374, "MsgRandom": 2837546,
		"MsgBody": textBody("red packet"), "CloudCustomData": "your cloud custom data",
	}))
	reqs := rcv.WaitFor(t, 2, 10*time.Second)
	before := reqs[0]
	if got := before.Query.Get("CallbackCommand"); got != parley.CommandC2CBeforeSendMsg {
		t.Fatalf("first webhook is %s, want the before-send callback", got)
	}
	want := `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,"MsgTime":1557481126,"MsgKey":"48374_2837546_1557481126","OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data"}`
	if string(before.Body) != want {
		t.Errorf("before-send body\n got: %s\nwant: %s", before.Body, want)
	}
	after := findWebhook(t, reqs, parley.CommandC2CAfterSendMsg, "48374_2837546_1557481126")
	var body parley.AfterSendMsg
	if err := json.Unmarshal(after.Body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body.MsgBody) != `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"rewritten"}}]` || body.CloudCustomData != "new" {
		t.Errorf("after-send did not carry the rewrite: %s", after.Body)
	}
}
