package restapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

// checkingEngine is a fake engine for fuzzing the decoding: it checks that
// whatever the handler passes on is well formed and answers success. The
// fuzz tests are about the REST layer, not the engine or the store.
type checkingEngine struct {
	t testing.TB
}

func (c checkingEngine) id(field, id string, optional bool) {
	if optional && id == "" {
		return
	}
	if err := chat.ValidateUserID(id); err != nil {
		c.t.Errorf("%s %q passed on although invalid", field, id)
	}
}

func (c checkingEngine) msg(body []byte, lifeTime *int, sync int) {
	if len(body) == 0 || body[0] != '[' {
		c.t.Errorf("MsgBody %q passed on although not an array", body)
	}
	if lifeTime != nil && *lifeTime < 0 {
		c.t.Errorf("negative MsgLifeTime %d passed on", *lifeTime)
	}
	if sync < 0 || sync > 2 {
		c.t.Errorf("SyncOtherMachine %d passed on", sync)
	}
}

func (c checkingEngine) AccountImport(_ context.Context, a parley.Account) error {
	c.id("UserID", a.UserID, false)
	if len(a.Nick) > 500 || len(a.FaceURL) > 500 {
		c.t.Errorf("over-long profile passed on")
	}
	return nil
}

func (c checkingEngine) AccountImportMany(_ context.Context, as []parley.Account) ([]string, error) {
	if len(as) == 0 || len(as) > 100 {
		c.t.Errorf("%d accounts passed on", len(as))
	}
	for _, a := range as {
		c.id("UserID", a.UserID, false)
	}
	return nil, nil
}

func (c checkingEngine) AccountDelete(_ context.Context, ids []string) ([]chat.AccountResult, error) {
	out := make([]chat.AccountResult, len(ids))
	for i, id := range ids {
		out[i] = chat.AccountResult{UserID: id, Code: parley.ErrAccountNotImported}
	}
	return out, nil
}

func (c checkingEngine) AccountCheck(_ context.Context, ids []string) ([]chat.AccountStatus, error) {
	out := make([]chat.AccountStatus, len(ids))
	for i, id := range ids {
		out[i] = chat.AccountStatus{UserID: id, Imported: i%2 == 0}
	}
	return out, nil
}

func (c checkingEngine) SendC2C(_ context.Context, p chat.SendParams) (chat.SendResult, error) {
	c.id("From_Account", p.From, true)
	c.id("To_Account", p.To, false)
	c.msg(p.Body, p.LifeTime, p.SyncOtherMachine)
	if p.Origin.OptPlatform != "RESTAPI" {
		c.t.Errorf("origin %+v", p.Origin)
	}
	return chat.SendResult{MsgTime: 1, MsgKey: "1_2_1", MsgID: "id"}, nil
}

func (c checkingEngine) BatchSendC2C(_ context.Context, p chat.BatchSendParams) (chat.BatchSendResult, error) {
	c.id("From_Account", p.From, true)
	if len(p.To) == 0 || len(p.To) > 500 {
		c.t.Errorf("%d recipients passed on", len(p.To))
	}
	c.msg(p.Body, p.LifeTime, p.SyncOtherMachine)
	return chat.BatchSendResult{MsgKey: "1_2_1", MsgID: "id", Errors: []chat.BatchError{{To: "x", Code: 70107}}}, nil
}

func (c checkingEngine) Roam(_ context.Context, p chat.RoamParams) (chat.RoamResult, error) {
	c.id("Operator_Account", p.Operator, false)
	c.id("Peer_Account", p.Peer, false)
	if p.MaxCnt <= 0 || p.MinTime < 0 || p.MaxTime < 0 {
		c.t.Errorf("roam params %+v passed on", p)
	}
	m := &parley.Message{From: p.Operator, To: p.Peer, Body: []byte(`[]`), Recalled: true}
	return chat.RoamResult{Complete: true, Messages: []chat.RoamMessage{{Message: m}}}, nil
}

func (c checkingEngine) Recall(_ context.Context, p chat.RecallParams) error {
	c.id("From_Account", p.From, false)
	c.id("To_Account", p.To, false)
	if p.MsgKey == "" {
		c.t.Errorf("empty MsgKey passed on")
	}
	return nil
}

func (c checkingEngine) SetRead(_ context.Context, p chat.SetReadParams) error {
	c.id("Report_Account", p.Report, false)
	c.id("Peer_Account", p.Peer, false)
	if p.ReadTime < 0 {
		c.t.Errorf("negative ReadTime passed on")
	}
	return nil
}

func (c checkingEngine) Unread(_ context.Context, p chat.UnreadParams) (chat.UnreadResult, error) {
	c.id("To_Account", p.To, false)
	if len(p.Peers) > 10 {
		c.t.Errorf("%d peers passed on", len(p.Peers))
	}
	res := chat.UnreadResult{Total: 3}
	for _, peer := range p.Peers {
		res.Peers = append(res.Peers, chat.PeerUnread{Peer: peer, Unread: 1})
	}
	return res, nil
}

var fuzzCommands = []string{
	"openim/sendmsg", "openim/batchsendmsg", "openim/admin_getroammsg", "openim/admin_msgwithdraw",
	"openim/admin_set_msg_read", "openim/get_c2c_unread_msg_num",
	"im_open_login_svc/account_import", "im_open_login_svc/multiaccount_import",
	"im_open_login_svc/account_delete", "im_open_login_svc/account_check",
}

func fuzzTarget(f *testing.F) func(t *testing.T, resource string, body []byte) {
	now := time.Unix(1_750_000_000, 0)
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 3600, Time: now})
	if err != nil {
		f.Fatal(err)
	}
	q := url.Values{"sdkappid": {fmt.Sprint(appID)}, "identifier": {admin}, "usersig": {sig}, "contenttype": {"json"}}.Encode()
	return func(t *testing.T, resource string, body []byte) {
		h, err := restapi.New(restapi.Config{
			Engine: checkingEngine{t}, SDKAppID: appID, SecretKey: secret, Admin: admin,
			Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v4/"+resource+"?"+q, strings.NewReader(string(body)))
		req.RemoteAddr = "192.0.2.7:4321"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("HTTP %d %s", rec.Code, rec.Header().Get("Content-Type"))
		}
		a, err := parseAnswer(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("invalid envelope: %v; answer %s", err, rec.Body.Bytes())
		}
		if a.Code == parley.ErrInternal {
			t.Fatalf("internal error (a recovered panic?) for %s %q: %s", resource, body, a.Info)
		}
	}
}

var sendMsgSeeds = []string{
	`{"To_Account":"bob","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`,
	`{"SyncOtherMachine":2,"From_Account":"alice","To_Account":"bob","MsgLifeTime":0,"MsgSeq":4294967295,"MsgRandom":4294967295,"MsgBody":[],"CloudCustomData":"x","SupportMessageExtension":1,"IsNeedReadReceipt":0,"OnlineOnlyFlag":1,"ForbidCallbackControl":["ForbidBeforeSendMsgCallback"],"SendMsgControl":["NoUnread","NoLastMsg"],"OfflinePushInfo":{"PushFlag":0},"MsgTimeStamp":1}`,
	`{"To_Account":"bob","MsgRandom":"1","MsgBody":{}}`,
	`{"To_Account":null,"MsgRandom":-0,"MsgSeq":1e3,"MsgBody":[1]}`,
	`{"To_Account":"b\u0000b","MsgRandom":1.0,"MsgLifeTime":-9223372036854775808,"MsgBody":[]}`,
	`{"MsgRandom":18446744073709551616,"SyncOtherMachine":9223372036854775807}`,
	`[]`, ``, `null`, `{"To_Account":"bob"`, "{\"To_Account\":\"\xff\"}",
}

// FuzzDecodeSendMsg: no sendmsg body makes the handler panic or answer
// anything but a valid envelope, and nothing malformed reaches the engine.
func FuzzDecodeSendMsg(f *testing.F) {
	for _, s := range sendMsgSeeds {
		f.Add([]byte(s))
	}
	target := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		target(t, "openim/sendmsg", body)
	})
}

// FuzzHandler does the same for every command.
func FuzzHandler(f *testing.F) {
	seeds := append([]string{
		`{"To_Account":["bob","carol"],"MsgRandom":1,"MsgBody":[]}`,
		`{"Operator_Account":"a","Peer_Account":"b","MaxCnt":1,"MinTime":0,"MaxTime":5,"LastMsgKey":"k"}`,
		`{"From_Account":"a","To_Account":"b","MsgKey":"1_2_3"}`,
		`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":"17"}`,
		`{"To_Account":"a","Peer_Account":["b","c"]}`,
		`{"UserID":"a","Nick":"n","FaceUrl":"f"}`,
		`{"Identifier":"a"}`,
		`{"Accounts":["a","b c"]}`,
		`{"AccountList":[{"UserID":"a","Nick":5}]}`,
		`{"DeleteItem":[{"UserID":"a"}]}`,
		`{"CheckItem":[{"UserID":"a"},{"UserID":""}]}`,
	}, sendMsgSeeds...)
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	target := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target(t, fuzzCommands[int(which)%len(fuzzCommands)], body)
	})
}
