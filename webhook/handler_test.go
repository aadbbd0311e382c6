package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/webhook"
	"github.com/parley-im/parley/webhook/webhooktest"
)

const appID = 1400000001

var (
	now        = time.Unix(1764688540, 0)
	clock      = func() time.Time { return now }
	testToken  = "xxxxyyyy"
	oldSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret  = "whsec_" + strings.Repeat("QUJD", 10) + "QUI="
	okResponse = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
)

// recorder collects the events the funcs of a Config receive.
type recorder struct {
	mu     sync.Mutex
	events []webhook.Event[json.RawMessage]
	fail   error // returned by the after funcs
	reply  webhook.BeforeSendReply
}

func (rec *recorder) calls() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.events)
}

func record[T any](rec *recorder) func(context.Context, webhook.Event[T]) error {
	return func(_ context.Context, ev webhook.Event[T]) error {
		body, err := json.Marshal(ev.Body)
		if err != nil {
			return err
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.events = append(rec.events, webhook.Event[json.RawMessage]{
			ID: ev.ID, Attempt: ev.Attempt, Command: ev.Command, SDKAppID: ev.SDKAppID,
			ClientIP: ev.ClientIP, OptPlatform: ev.OptPlatform, Body: body, Raw: ev.Raw,
		})
		return rec.fail
	}
}

func recordBefore[T any](rec *recorder) func(context.Context, webhook.Event[T]) webhook.BeforeSendReply {
	after := record[T](rec)
	return func(ctx context.Context, ev webhook.Event[T]) webhook.BeforeSendReply {
		after(ctx, ev)
		return rec.reply
	}
}

// setup returns a Handler with every func recording into rec; change
// configures it further.
func setup(t *testing.T, change func(*webhook.Config)) (*webhook.Handler, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := webhook.Config{
		SDKAppID:                 appID,
		Token:                    testToken,
		Secrets:                  []string{oldSecret},
		Now:                      clock,
		OnC2CBeforeSendMsg:       recordBefore[webhook.C2CBeforeSendMsg](rec),
		OnC2CAfterSendMsg:        record[webhook.C2CAfterSendMsg](rec),
		OnC2CAfterMsgWithdraw:    record[webhook.C2CAfterMsgWithdraw](rec),
		OnC2CAfterMsgExtension:   record[webhook.C2CAfterMsgExtension](rec),
		OnGroupBeforeSendMsg:     recordBefore[webhook.GroupBeforeSendMsg](rec),
		OnGroupAfterSendMsg:      record[webhook.GroupAfterSendMsg](rec),
		OnGroupAfterRecallMsg:    record[webhook.GroupAfterRecallMsg](rec),
		OnGroupAfterMsgExtension: record[webhook.GroupAfterMsgExtension](rec),
	}
	if change != nil {
		change(&cfg)
	}
	h, err := webhook.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func signedOpts() webhooktest.Options {
	return webhooktest.Options{
		SDKAppID: appID, Token: testToken, Secrets: []string{oldSecret},
		EventID: "evt_0001", Attempt: 2, ClientIP: "10.0.0.7", OptPlatform: "iOS", Time: now,
	}
}

func serve(h http.Handler, r *http.Request) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestHandlerDispatchesEveryCommand(t *testing.T) {
	for _, s := range readSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			h, rec := setup(t, nil)
			code, body := serve(h, webhooktest.NewRequest(s.command, s.body, signedOpts()))
			if code != http.StatusOK || body != okResponse {
				t.Fatalf("answer = %d %s, want 200 %s", code, body, okResponse)
			}
			if got := rec.calls(); got != 1 {
				t.Fatalf("funcs called %d times, want 1", got)
			}
			ev := rec.events[0]
			if ev.Command != s.command || ev.ID != "evt_0001" || ev.Attempt != 2 || ev.SDKAppID != appID ||
				ev.ClientIP != "10.0.0.7" || ev.OptPlatform != "iOS" {
				t.Errorf("event metadata = %+v", ev)
			}
			if string(ev.Raw) != string(s.body) {
				t.Errorf("Raw = %s, want %s", ev.Raw, s.body)
			}
			if string(ev.Body) != string(s.body) {
				t.Errorf("decoded body re-encodes to %s, want %s", ev.Body, s.body)
			}
		})
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	body := sampleBody(t, webhook.CommandC2CAfterSendMsg)
	tests := []struct {
		name   string
		change func(*webhook.Config)
		build  func() *http.Request
		status int
	}{
		{"GET", nil, func() *http.Request {
			r := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			r.Method = http.MethodGet
			return r
		}, http.StatusMethodNotAllowed},
		{"wrong SdkAppid", nil, func() *http.Request {
			o := signedOpts()
			o.SDKAppID = appID + 1
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusBadRequest},
		{"bad Sign", nil, func() *http.Request {
			o := signedOpts()
			o.Token = "another token"
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"no Sign", nil, func() *http.Request {
			o := signedOpts()
			o.Token = ""
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"stale RequestTime", func(c *webhook.Config) { c.Secrets = nil }, func() *http.Request {
			o := signedOpts()
			o.Secrets = nil
			o.Time = now.Add(-5*time.Minute - time.Second)
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"RequestTime from the future", func(c *webhook.Config) { c.Secrets = nil; c.SignWindow = time.Minute }, func() *http.Request {
			o := signedOpts()
			o.Secrets = nil
			o.Time = now.Add(61 * time.Second)
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"bad Standard Webhooks signature", nil, func() *http.Request {
			o := signedOpts()
			o.Secrets = []string{newSecret}
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"no Standard Webhooks headers", nil, func() *http.Request {
			o := signedOpts()
			o.Secrets = nil
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"expired webhook-timestamp", func(c *webhook.Config) { c.Token = "" }, func() *http.Request {
			o := signedOpts()
			o.Token = ""
			o.Time = now.Add(-6 * time.Minute)
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)
		}, http.StatusUnauthorized},
		{"webhook-timestamp changed after signing", nil, func() *http.Request {
			r := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			r.Header.Set(webhook.HeaderTimestamp, "1764688541")
			return r
		}, http.StatusUnauthorized},
		{"webhook-id changed after signing", nil, func() *http.Request {
			r := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			r.Header.Set(webhook.HeaderID, "evt_other")
			return r
		}, http.StatusUnauthorized},
		{"body tampered", nil, func() *http.Request {
			signed := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			tampered := strings.Replace(string(body), "red packet", "RED PACKET", 1)
			r := httptest.NewRequest(http.MethodPost, signed.URL.String(), strings.NewReader(tampered))
			r.Header = signed.Header
			return r
		}, http.StatusUnauthorized},
		{"CallbackCommand differs from the body's", nil, func() *http.Request {
			return webhooktest.NewRequest(webhook.CommandGroupAfterSendMsg, body, signedOpts())
		}, http.StatusBadRequest},
		{"no CallbackCommand", nil, func() *http.Request {
			r := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			q := r.URL.Query()
			q.Del("CallbackCommand")
			r.URL.RawQuery = q.Encode()
			return r
		}, http.StatusBadRequest},
		{"body not JSON", nil, func() *http.Request {
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, []byte("{"), signedOpts())
		}, http.StatusBadRequest},
		{"field of the wrong type", nil, func() *http.Request {
			b := []byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","MsgSeq":"48374"}`)
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, b, signedOpts())
		}, http.StatusBadRequest},
		{"bad X-Parley-Attempt", nil, func() *http.Request {
			r := webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
			r.Header.Set(webhook.HeaderAttempt, "zero")
			return r
		}, http.StatusBadRequest},
		{"body too large", func(c *webhook.Config) { c.MaxBodyBytes = 64 }, func() *http.Request {
			return webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, signedOpts())
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reasons []error
			h, rec := setup(t, func(c *webhook.Config) {
				c.OnError = func(_ *http.Request, err error) { reasons = append(reasons, err) }
				if tt.change != nil {
					tt.change(c)
				}
			})
			code, resp := serve(h, tt.build())
			if code != tt.status {
				t.Errorf("status = %d, want %d (reasons %v)", code, tt.status, reasons)
			}
			var reply struct{ ActionStatus string }
			if err := json.Unmarshal([]byte(resp), &reply); err != nil || reply.ActionStatus != "FAIL" {
				t.Errorf("body = %s, want a JSON FAIL answer", resp)
			}
			if got := rec.calls(); got != 0 {
				t.Errorf("funcs called %d times, want 0", got)
			}
			if len(reasons) != 1 {
				t.Errorf("OnError got %v, want one reason", reasons)
			}
			if code == http.StatusUnauthorized && !errors.Is(reasons[0], webhook.ErrSignature) {
				t.Errorf("reason %v does not wrap ErrSignature", reasons[0])
			}
		})
	}
}

func sampleBody(t *testing.T, name string) []byte {
	t.Helper()
	for _, s := range readSamples(t) {
		if s.name == name {
			return s.body
		}
	}
	t.Fatalf("no sample %s", name)
	return nil
}

func TestHandlerAcceptsEitherSecretDuringRotation(t *testing.T) {
	body := sampleBody(t, webhook.CommandC2CAfterSendMsg)
	tests := []struct {
		name     string
		receiver []string // the secrets the Handler holds
		sender   []string // the secrets parley signs with
		status   int
	}{
		{"sender rotated first", []string{oldSecret}, []string{newSecret, oldSecret}, http.StatusOK},
		{"receiver rotated first", []string{newSecret, oldSecret}, []string{oldSecret}, http.StatusOK},
		{"both rotated", []string{newSecret, oldSecret}, []string{newSecret}, http.StatusOK},
		{"old secret retired", []string{newSecret}, []string{oldSecret}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := setup(t, func(c *webhook.Config) { c.Token = ""; c.Secrets = tt.receiver })
			o := signedOpts()
			o.Token, o.Secrets = "", tt.sender
			if code, resp := serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o)); code != tt.status {
				t.Fatalf("status = %d %s, want %d", code, resp, tt.status)
			}
			want := 0
			if tt.status == http.StatusOK {
				want = 1
			}
			if got := rec.calls(); got != want {
				t.Errorf("funcs called %d times, want %d", got, want)
			}
		})
	}
}

func TestHandlerWithoutVerification(t *testing.T) {
	h, rec := setup(t, func(c *webhook.Config) { c.Token, c.Secrets = "", nil })
	o := signedOpts()
	o.Token, o.Secrets = "", nil
	code, resp := serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterMsgWithdraw, sampleBody(t, webhook.CommandC2CAfterMsgWithdraw), o))
	if code != http.StatusOK || resp != okResponse {
		t.Errorf("answer = %d %s, want 200 %s", code, resp, okResponse)
	}
	if got := rec.calls(); got != 1 {
		t.Errorf("funcs called %d times, want 1", got)
	}
	// With no webhook-id the id comes from X-Parley-Event-Id.
	if got, want := rec.events[0].ID, "evt_0001"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
}

func TestNewHandlerRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  webhook.Config
	}{
		{"no SDKAppID", webhook.Config{}},
		{"secret without whsec_", webhook.Config{SDKAppID: 1, Secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}},
		{"secret not base64", webhook.Config{SDKAppID: 1, Secrets: []string{"whsec_!!!"}}},
		{"negative tolerance", webhook.Config{SDKAppID: 1, Secrets: []string{oldSecret}, Tolerance: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := webhook.NewHandler(tt.cfg); err == nil {
			t.Errorf("%s: NewHandler succeeded, want an error", tt.name)
		}
	}
}

func TestAfterCallbackErrorAsksForARetry(t *testing.T) {
	h, rec := setup(t, nil)
	rec.fail = errors.New("database down")
	r := webhooktest.NewRequest(webhook.CommandGroupAfterRecallMsg, sampleBody(t, webhook.CommandGroupAfterRecallMsg), signedOpts())
	code, resp := serve(h, r)
	if want := `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"Internal Server Error"}`; code != http.StatusInternalServerError || resp != want {
		t.Errorf("answer = %d %s, want 500 %s", code, resp, want)
	}
}

func TestUnknownCommands(t *testing.T) {
	body := []byte(`{"CallbackCommand":"State.StateChange","Info":{"To_Account":"a"}}`)
	t.Run("ignored", func(t *testing.T) {
		h, rec := setup(t, nil)
		if code, resp := serve(h, webhooktest.NewRequest("State.StateChange", body, signedOpts())); code != http.StatusOK || resp != okResponse {
			t.Errorf("answer = %d %s, want 200 %s", code, resp, okResponse)
		}
		if got := rec.calls(); got != 0 {
			t.Errorf("funcs called %d times, want 0", got)
		}
	})
	t.Run("OnUnknown", func(t *testing.T) {
		var got webhook.Event[json.RawMessage]
		h, _ := setup(t, func(c *webhook.Config) {
			c.OnUnknown = func(_ context.Context, ev webhook.Event[json.RawMessage]) error { got = ev; return nil }
		})
		if code, resp := serve(h, webhooktest.NewRequest("State.StateChange", body, signedOpts())); code != http.StatusOK || resp != okResponse {
			t.Errorf("answer = %d %s, want 200 %s", code, resp, okResponse)
		}
		if got.Command != "State.StateChange" || string(got.Body) != string(body) {
			t.Errorf("OnUnknown got %s %s, want State.StateChange %s", got.Command, got.Body, body)
		}
	})
}

func TestBeforeSendReplies(t *testing.T) {
	cloud := "rewritten"
	empty := ""
	tests := []struct {
		name    string
		command string
		reply   webhook.BeforeSendReply
		status  int
		want    string
	}{
		{"allow", webhook.CommandC2CBeforeSendMsg, webhook.Allow(), 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"zero value allows", webhook.CommandGroupBeforeSendMsg, webhook.BeforeSendReply{}, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"allow with a new body and custom data", webhook.CommandC2CBeforeSendMsg,
			webhook.AllowWith([]webhook.MsgElement{webhook.TextElem("***")}, &cloud), 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}],"CloudCustomData":"rewritten"}`},
		{"allow with custom data cleared", webhook.CommandGroupBeforeSendMsg, webhook.AllowWith(nil, &empty), 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":""}`},
		{"allow with a raw body", webhook.CommandGroupBeforeSendMsg,
			webhook.AllowWithRaw(json.RawMessage(`[{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"x"}}]`), nil), 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"x"}}]}`},
		{"block", webhook.CommandC2CBeforeSendMsg, webhook.Block(), 200, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"drop", webhook.CommandGroupBeforeSendMsg, webhook.Drop(), 200, `{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}`},
		{"C2C custom, lowest", webhook.CommandC2CBeforeSendMsg, webhook.Custom(120001, "no links"), 200, `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"no links"}`},
		{"C2C custom, highest", webhook.CommandC2CBeforeSendMsg, webhook.Custom(130000, "x"), 200, `{"ActionStatus":"OK","ErrorCode":130000,"ErrorInfo":"x"}`},
		{"group custom", webhook.CommandGroupBeforeSendMsg, webhook.Custom(10200, "muted"), 200, `{"ActionStatus":"OK","ErrorCode":10200,"ErrorInfo":"muted"}`},
		{"group code for C2C", webhook.CommandC2CBeforeSendMsg, webhook.Custom(10100, "x"), 500, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"Internal Server Error"}`},
		{"C2C code for a group", webhook.CommandGroupBeforeSendMsg, webhook.Custom(120001, "x"), 500, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"Internal Server Error"}`},
		{"below the C2C range", webhook.CommandC2CBeforeSendMsg, webhook.Custom(120000, "x"), 500, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"Internal Server Error"}`},
		{"raw body not JSON", webhook.CommandC2CBeforeSendMsg, webhook.AllowWithRaw(json.RawMessage(`[`), nil), 500, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"Internal Server Error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := setup(t, nil)
			rec.reply = tt.reply
			o := signedOpts()
			o.Attempt = 0
			code, resp := serve(h, webhooktest.NewRequest(tt.command, sampleBody(t, tt.command), o))
			if code != tt.status || resp != tt.want {
				t.Errorf("answer = %d %s\nwant %d %s", code, resp, tt.status, tt.want)
			}
			if got := rec.events[0].Attempt; got != 0 {
				t.Errorf("Attempt = %d, want 0 for a before-send call", got)
			}
		})
	}
}

func TestDedupHandsEachEventToTheFuncsOnce(t *testing.T) {
	dedup := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{Now: clock})
	h, rec := setup(t, func(c *webhook.Config) { c.Dedup = dedup })
	body := sampleBody(t, webhook.CommandC2CAfterSendMsg)
	send := func(id string) (int, string) {
		o := signedOpts()
		o.EventID = id
		return serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, body, o))
	}

	// A failed attempt is forgotten, so its retry reaches the func.
	rec.fail = errors.New("try later")
	if code, _ := send("evt_a"); code != http.StatusInternalServerError {
		t.Fatalf("failing attempt: status %d, want 500", code)
	}
	rec.fail = nil
	for i, id := range []string{"evt_a", "evt_a", "evt_b", "evt_a", "evt_b"} {
		if code, resp := send(id); code != http.StatusOK || resp != okResponse {
			t.Fatalf("request %d (%s): %d %s, want 200 %s", i, id, code, resp, okResponse)
		}
	}
	var ids []string
	for _, ev := range rec.events {
		ids = append(ids, ev.ID)
	}
	if got, want := strings.Join(ids, " "), "evt_a evt_a evt_b"; got != want {
		t.Errorf("funcs saw %s, want %s (the failed attempt, its retry, then evt_b)", got, want)
	}

	// Before-send calls are always answered, whatever their id.
	o := signedOpts()
	o.EventID = "evt_a"
	serve(h, webhooktest.NewRequest(webhook.CommandC2CBeforeSendMsg, sampleBody(t, webhook.CommandC2CBeforeSendMsg), o))
	if got := rec.calls(); got != 4 {
		t.Errorf("funcs called %d times after a before-send call, want 4", got)
	}
}

func TestDedupRefusesADuplicateInFlight(t *testing.T) {
	dedup := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{Now: clock})
	entered, release := make(chan struct{}), make(chan struct{})
	h, _ := setup(t, func(c *webhook.Config) {
		c.Dedup = dedup
		c.OnC2CAfterMsgWithdraw = func(context.Context, webhook.Event[webhook.C2CAfterMsgWithdraw]) error {
			close(entered)
			<-release
			return nil
		}
	})
	body := sampleBody(t, webhook.CommandC2CAfterMsgWithdraw)
	first := make(chan int)
	go func() {
		code, _ := serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterMsgWithdraw, body, signedOpts()))
		first <- code
	}()
	<-entered
	if code, _ := serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterMsgWithdraw, body, signedOpts())); code != http.StatusConflict {
		t.Errorf("duplicate while the first is in flight: status %d, want 409", code)
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first: status %d, want 200", code)
	}
	if code, _ := serve(h, webhooktest.NewRequest(webhook.CommandC2CAfterMsgWithdraw, body, signedOpts())); code != http.StatusOK {
		t.Errorf("duplicate after the first: status %d, want 200", code)
	}
}

// TestStandardWebhooksVector checks the signature against the Standard
// Webhooks reference libraries' test vector.
func TestStandardWebhooksVector(t *testing.T) {
	got, err := webhook.SignStandard(oldSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("SignStandard = %s, want %s", got, want)
	}
}
