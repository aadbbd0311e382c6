package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/webhook"
)

// received is what the app backend of TestReceiverPackage saw, by command.
type received struct {
	mu       sync.Mutex
	commands []string
	afterC2C []webhook.Event[webhook.C2CAfterSendMsg]
	exts     []webhook.Event[webhook.GroupAfterMsgExtension]
	recalls  []webhook.Event[webhook.GroupAfterRecallMsg]
	refused  []error
	arrived  chan struct{}
}

func (r *received) add(command string, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, command)
	f()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds over what was received.
func (r *received) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("waiting for %s: received %v, refused %v", what, r.commands, r.refused)
		}
	}
}

// TestReceiverPackage is an app backend written with the webhook package,
// receiving parley's real webhooks: the Sign and the Standard Webhooks
// signature are verified (also mid-rotation, the backend knowing only the
// old secret), the before-send answers written as typed replies take
// effect, and the after-callbacks arrive decoded, in order.
func TestReceiverPackage(t *testing.T) {
	oldSecret, newSecret := newSecret(t), newSecret(t)
	t.Run("app secret", func(t *testing.T) {
		testReceiverPackage(t, nil, nil)
	})
	t.Run("rotation", func(t *testing.T) {
		testReceiverPackage(t, []string{newSecret, oldSecret}, []string{oldSecret})
	})
}

// testReceiverPackage runs parley with serverSecrets (nil: the app's own)
// against a backend verifying with backendSecrets (nil: the app's own).
func testReceiverPackage(t *testing.T, serverSecrets, backendSecrets []string) {
	rec := &received{arrived: make(chan struct{}, 1)}
	var srv *parleytest.Server
	cfg := webhook.Config{
		Token: "app-token",
		Dedup: webhook.NewMemoryDedup(webhook.MemoryDedupConfig{}),
		OnError: func(r *http.Request, err error) {
			rec.mu.Lock()
			rec.refused = append(rec.refused, err)
			rec.mu.Unlock()
		},
		OnC2CBeforeSendMsg: func(_ context.Context, ev webhook.Event[webhook.C2CBeforeSendMsg]) webhook.BeforeSendReply {
			rec.add(ev.Command, func() {})
			if strings.Contains(string(ev.Body.MsgBody), "darn") {
				return webhook.AllowWith([]webhook.MsgElement{webhook.TextElem("****")}, nil)
			}
			return webhook.Allow()
		},
		OnC2CAfterSendMsg: func(_ context.Context, ev webhook.Event[webhook.C2CAfterSendMsg]) error {
			rec.add(ev.Command, func() { rec.afterC2C = append(rec.afterC2C, ev) })
			return nil
		},
		OnGroupBeforeSendMsg: func(_ context.Context, ev webhook.Event[webhook.GroupBeforeSendMsg]) webhook.BeforeSendReply {
			rec.add(ev.Command, func() {})
			if strings.Contains(string(ev.Body.MsgBody), "spam") {
				return webhook.Block()
			}
			return webhook.Allow()
		},
		OnGroupAfterSendMsg: func(_ context.Context, ev webhook.Event[webhook.GroupAfterSendMsg]) error {
			rec.add(ev.Command, func() {})
			return nil
		},
		OnGroupAfterMsgExtension: func(_ context.Context, ev webhook.Event[webhook.GroupAfterMsgExtension]) error {
			rec.add(ev.Command, func() { rec.exts = append(rec.exts, ev) })
			return nil
		},
		OnGroupAfterRecallMsg: func(_ context.Context, ev webhook.Event[webhook.GroupAfterRecallMsg]) error {
			rec.add(ev.Command, func() { rec.recalls = append(rec.recalls, ev) })
			return nil
		},
	}
	// The handler needs the SDKAppID, which the server generates: serve
	// through a variable set once both exist.
	var handler http.Handler
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(backend.Close)
	srv = parleytest.Start(t, server.Options{CallbackURL: backend.URL + "/im", CallbackToken: "app-token", WebhookSecrets: serverSecrets})
	cfg.SDKAppID = srv.App().SDKAppID
	cfg.Secrets = backendSecrets
	if cfg.Secrets == nil {
		cfg.Secrets = []string{srv.App().WebhookSecret}
	}
	h, err := webhook.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	handler = h

	for _, id := range []string{"alice", "bob"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": textBody("darn it"),
	}))
	rec.waitFor(t, "the after-send", func() bool { return len(rec.afterC2C) == 1 })
	after := rec.afterC2C[0]
	if got := string(after.Body.MsgBody); got != `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"****"}}]` {
		t.Errorf("after-send body %s: the typed rewrite did not take effect", got)
	}
	if after.Body.FromAccount != "alice" || after.Body.UnreadMsgNum != 1 || after.OptPlatform != parley.OptPlatformREST || after.ID == "" || after.Attempt != 1 {
		t.Errorf("after-send event: %+v", after)
	}

	mustOK(t, srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Public", "GroupId": "g", "Name": "g",
		"MemberList": []map[string]any{{"Member_Account": "bob"}},
	}))
	mustFail(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
		"GroupId": "g", "From_Account": "bob", "Random": 1, "MsgBody": textBody("buy spam"),
	}), parley.ErrGroupBlockedCallback)
	mustOK(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
		"GroupId": "g", "From_Account": "bob", "Random": 2, "MsgBody": textBody("lunch?"), "SupportMessageExtension": 1,
	}))
	for _, v := range []string{"yes", "no"} {
		mustOK(t, srv.Post(t, "openim_msg_ext_http_svc", "group_set_key_values", map[string]any{
			"GroupId": "g", "MsgSeq": 1, "OperateType": 1, "ExtensionList": []map[string]any{{"Key": "alice", "Value": v, "Seq": 0}},
		}))
	}
	mustOK(t, srv.Post(t, "group_open_http_svc", "group_msg_recall", map[string]any{"GroupId": "g", "MsgSeqList": []map[string]any{{"MsgSeq": 1}}}))
	rec.waitFor(t, "the recall", func() bool { return len(rec.recalls) == 1 })
	if len(rec.exts) != 2 || rec.exts[0].Body.Seq != 1 || rec.exts[1].Body.Seq != 2 || rec.exts[1].Body.ExtensionList[0].Value != "no" {
		t.Errorf("extension events: %+v", rec.exts)
	}
	if got := rec.recalls[0].Body; got.GroupID != "g" || len(got.MsgSeqList) != 1 || got.MsgSeqList[0].MsgSeq != 1 {
		t.Errorf("recall event: %+v", got)
	}
	// One conversation, the group: its events arrived in commit order.
	var group []string
	for _, c := range rec.commands {
		if strings.HasPrefix(c, "Group.") {
			group = append(group, c)
		}
	}
	want := []string{
		webhook.CommandGroupBeforeSendMsg, // blocked
		webhook.CommandGroupBeforeSendMsg,
		webhook.CommandGroupAfterSendMsg,
		webhook.CommandGroupAfterMsgExtension,
		webhook.CommandGroupAfterMsgExtension,
		webhook.CommandGroupAfterRecallMsg,
	}
	if strings.Join(group, " ") != strings.Join(want, " ") {
		t.Errorf("group commands in arrival order:\n got %v\nwant %v", group, want)
	}
	if len(rec.refused) != 0 {
		t.Errorf("the handler refused parley's requests: %v", rec.refused)
	}
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
