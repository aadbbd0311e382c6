package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

func textBody(s string) []map[string]any {
	return []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": s}}}
}

func importUsers(t *testing.T, srv *parleytest.Server, ids ...string) {
	t.Helper()
	for _, id := range ids {
		parleytest.OK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
}

// accountStatus asks srv whether id is imported.
func accountStatus(t *testing.T, c *parleytest.Client, id string) string {
	t.Helper()
	resp := c.Post(t, "im_open_login_svc", "account_check", map[string]any{"CheckItem": []map[string]any{{"UserID": id}}})
	parleytest.OK(t, resp)
	items, _ := resp["ResultItem"].([]any)
	if len(items) != 1 {
		t.Fatalf("account_check: ResultItem = %v", resp["ResultItem"])
	}
	status, _ := items[0].(map[string]any)["AccountStatus"].(string)
	return status
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts server.Options
		want string
	}{
		{"policy", server.Options{BeforeSendPolicy: "maybe"}, `before-send policy "maybe"`},
		{"command", server.Options{CallbackCommands: []string{"C2C.CallbackAfterSendMsg", "Group.CallbackAfterNewMember"}}, `unknown callback command "Group.CallbackAfterNewMember"`},
		{"url scheme", server.Options{CallbackURL: "ftp://example.com/hook"}, "scheme must be http or https"},
		{"url no scheme", server.Options{CallbackURL: "example.com/hook"}, "scheme must be http or https"},
		{"url no host", server.Options{CallbackURL: "http:///hook"}, "has no host"},
		{"negative timeout", server.Options{CallbackTimeout: -time.Second}, "negative"},
		{"retry schedule", server.Options{RetrySchedule: []time.Duration{time.Second, 0}}, "not a positive duration"},
		{"admin", server.Options{App: server.App{SDKAppID: 1400000001, SecretKey: "k", Admin: "has space"}}, "admin identifier"},
		{"webhook secret", server.Options{WebhookSecrets: []string{testSecret, "s3cret"}}, `webhook secret 2 of 2: webhook secret must start with "whsec_"`},
		{"app webhook secret", server.Options{App: server.App{WebhookSecret: "whsec_c2hvcnQ="}}, "the app's webhook secret: 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.DataDir = filepath.Join(t.TempDir(), "data")
			s, err := server.New(tt.opts)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestTwoServersSideBySide(t *testing.T) {
	a := parleytest.Start(t, server.Options{})
	b := parleytest.Start(t, server.Options{})
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers on %s", a.Addr())
	}
	if a.App().SDKAppID == b.App().SDKAppID && a.App().SecretKey == b.App().SecretKey {
		t.Fatal("both servers generated the same app")
	}
	for _, s := range []*parleytest.Server{a, b} {
		resp, err := http.Get(s.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Errorf("%s/healthz = %d %q, want 200 ok", s.URL(), resp.StatusCode, body)
		}
	}

	importUsers(t, a, "alice")
	if got := accountStatus(t, a.Client(), "alice"); got != "Imported" {
		t.Errorf("a: alice is %q, want Imported", got)
	}
	if got := accountStatus(t, b.Client(), "alice"); got != "NotImported" {
		t.Errorf("b: alice is %q, want NotImported: the servers share state", got)
	}

	// A's admin UserSig must not open B.
	cross := &parleytest.Client{URL: b.URL(), App: a.App()}
	resp := cross.Post(t, "im_open_login_svc", "account_check", map[string]any{"CheckItem": []map[string]any{{"UserID": "alice"}}})
	if got := parleytest.Int(t, resp, "ErrorCode"); got == 0 {
		t.Errorf("b accepted a's UserSig: %v", resp)
	}
}

func TestAdminAccountExists(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	if got := accountStatus(t, s.Client(), s.App().Admin); got != "Imported" {
		t.Errorf("admin %q is %q, want Imported", s.App().Admin, got)
	}
}

func TestAppOverrides(t *testing.T) {
	want := server.App{SDKAppID: 1400099999, SecretKey: strings.Repeat("ab", 32), Admin: "boss", WebhookSecret: testSecret}
	s := parleytest.Start(t, server.Options{App: want})
	if got := s.App(); got != want {
		t.Errorf("App() = %+v, want %+v", got, want)
	}
	parleytest.OK(t, s.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice"}))
	if _, err := os.Stat(filepath.Join(s.DataDir(), server.AppFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fully overridden app still wrote app.json (stat: %v)", err)
	}

	// WebhookSecrets stand in for the app's WebhookSecret.
	rotating := []string{newSecret(t), testSecret}
	ws := parleytest.Start(t, server.Options{App: server.App{SDKAppID: 1400099999, SecretKey: "k", Admin: "boss"}, WebhookSecrets: rotating})
	if got, want := ws.App().WebhookSecret, rotating[0]; got != want {
		t.Errorf("with WebhookSecrets: App().WebhookSecret = %q, want the first, %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(ws.DataDir(), server.AppFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an app overridden with WebhookSecrets still wrote app.json (stat: %v)", err)
	}

	// A partial override keeps the generated key.
	dir := t.TempDir()
	stored, _, err := server.LoadOrCreateApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := parleytest.Start(t, server.Options{DataDir: dir, App: server.App{SDKAppID: 1400012345}})
	if got, want := p.App(), (server.App{SDKAppID: 1400012345, SecretKey: stored.SecretKey, Admin: stored.Admin, WebhookSecret: stored.WebhookSecret}); got != want {
		t.Errorf("partial override: App() = %+v, want %+v", got, want)
	}
}

func TestRestartKeepsAppAndData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := func() *server.Server {
		s, err := server.New(server.Options{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := start()
	c := &parleytest.Client{URL: first.URL(), App: first.App()}
	parleytest.OK(t, c.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice"}))
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	second := start()
	defer second.Shutdown(context.Background())
	if second.App() != first.App() {
		t.Fatalf("app changed across restart: %+v, then %+v", first.App(), second.App())
	}
	c = &parleytest.Client{URL: second.URL(), App: second.App()}
	if got := accountStatus(t, c, "alice"); got != "Imported" {
		t.Errorf("after restart alice is %q, want Imported", got)
	}
}

func TestNonRESTPathsGetHealthOrEnvelope(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	resp, err := http.Post(s.URL()+"/no/such/path", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		ActionStatus string
		ErrorCode    int
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	if env.ActionStatus != "FAIL" || env.ErrorCode == 0 {
		t.Errorf("got %+v, want a Tencent error envelope", env)
	}
}

func TestShutdownIsIdempotentAndWorksWithoutStart(t *testing.T) {
	// With a callback URL, so there is a delivery worker to stop too.
	s, err := server.New(server.Options{DataDir: t.TempDir(), CallbackURL: "http://127.0.0.1:1/hook"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown #%d: %v", i+1, err)
		}
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}

func TestStartTwiceFails(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
}

func TestStartOnABusyAddressFails(t *testing.T) {
	busy := parleytest.Start(t, server.Options{})
	s, err := server.New(server.Options{Addr: busy.Addr(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if err := s.Start(); err == nil {
		t.Fatalf("Start on %s, which is in use, succeeded", busy.Addr())
	}
}

// TestShutdownLetsInFlightRequestsFinish holds a sendmsg open inside its
// before-send callback while Shutdown starts, then releases it: the caller
// must get its answer and Shutdown must return only after that.
func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	release := make(chan struct{})
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		if r.Query.Get("CallbackCommand") == parley.CommandC2CBeforeSendMsg {
			<-release
		}
		return http.StatusOK, parleytest.OKReply
	})
	s := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, CallbackTimeout: time.Minute})
	importUsers(t, s, "alice", "bob")
	client := s.Client()

	type answer struct {
		resp map[string]any
		err  error
	}
	sent := make(chan answer, 1)
	go func() {
		resp, err := client.Call(context.Background(), "openim", "sendmsg", map[string]any{
			"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": textBody("hello"),
		})
		sent <- answer{resp, err}
	}()
	rcv.WaitFor(t, 1, 10*time.Second) // the before-send callback is being held

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()

	// Wait until the listener is closed, so Shutdown is under way.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 10s after Shutdown began")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case a := <-sent:
		t.Fatalf("sendmsg answered (%v, %v) while its before-send callback was held", a.resp, a.err)
	default:
	}

	close(release)
	a := <-sent
	if a.err != nil {
		t.Fatalf("in-flight sendmsg failed: %v", a.err)
	}
	parleytest.OK(t, a.resp)
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestCallbackCommandsChooseWhatIsEnqueued(t *testing.T) {
	tests := []struct {
		name     string
		url      bool
		commands []string
		want     map[string]int // after-callback events in the outbox, by command
	}{
		{"all by default", true, nil, map[string]int{parley.CommandC2CAfterSendMsg: 1, parley.CommandC2CAfterWithdraw: 1}},
		{"withdraw only", true, []string{parley.CommandC2CAfterWithdraw}, map[string]int{parley.CommandC2CAfterWithdraw: 1}},
		{"none", true, []string{}, map[string]int{}},
		{"no callback url", false, nil, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := parleytest.NewReceiver(t)
			opts := server.Options{CallbackCommands: tt.commands}
			if tt.url {
				opts.CallbackURL = rcv.URL
			}
			s := parleytest.Start(t, opts)
			importUsers(t, s, "alice", "bob")
			sent := s.Post(t, "openim", "sendmsg", map[string]any{
				"From_Account": "alice", "To_Account": "bob", "MsgRandom": 7, "MsgBody": textBody("hi"),
			})
			parleytest.OK(t, sent)
			parleytest.OK(t, s.Post(t, "openim", "admin_msgwithdraw", map[string]any{
				"From_Account": "alice", "To_Account": "bob", "MsgKey": sent["MsgKey"],
			}))

			events, err := s.Store().EventList(context.Background(), parley.EventListParams{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, e := range events {
				got[e.Command]++
			}
			if len(got) != len(tt.want) {
				t.Fatalf("outbox holds %v, want %v", got, tt.want)
			}
			for c, n := range tt.want {
				if got[c] != n {
					t.Errorf("outbox holds %v, want %v", got, tt.want)
				}
			}
			var before int
			for _, r := range rcv.Requests() {
				if r.Query.Get("CallbackCommand") == parley.CommandC2CBeforeSendMsg {
					before++
				}
			}
			wantBefore := 0
			if tt.url && (tt.commands == nil) {
				wantBefore = 1
			}
			if before != wantBefore {
				t.Errorf("before-send callbacks: got %d, want %d", before, wantBefore)
			}
		})
	}
}

func TestWebhooksAreSignedAndAddressed(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	s := parleytest.Start(t, server.Options{
		CallbackURL:      rcv.URL + "/hook?tenant=7",
		CallbackToken:    "xxxxyyyy",
		CallbackCommands: []string{parley.CommandC2CAfterSendMsg},
	})
	importUsers(t, s, "alice", "bob")
	parleytest.OK(t, s.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 3, "MsgBody": textBody("hi"),
	}))
	r := rcv.WaitFor(t, 1, 10*time.Second)[0]
	q := r.Query
	checks := []struct{ key, want string }{
		{"tenant", "7"},
		{"SdkAppid", formatUint(s.App().SDKAppID)},
		{"CallbackCommand", parley.CommandC2CAfterSendMsg},
		{"contenttype", "json"},
		{"ClientIP", "127.0.0.1"},
		{"OptPlatform", "RESTAPI"},
		{"Sign", delivery.Sign("xxxxyyyy", parseInt(t, q.Get("RequestTime")))},
	}
	for _, c := range checks {
		if got := q.Get(c.key); got != c.want {
			t.Errorf("query %s = %q, want %q", c.key, got, c.want)
		}
	}
	if r.Header.Get("X-Parley-Event-Id") == "" {
		t.Error("no X-Parley-Event-Id header")
	}
	var body parley.AfterSendMsg
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.FromAccount != "alice" || body.ToAccount != "bob" || body.SendMsgResult != 0 {
		t.Errorf("body = %+v", body)
	}
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }

func parseInt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return v
}

// TestEveryPathGetsAnEnvelope: odd paths and methods still get HTTP 200 and
// a Tencent-style JSON error, never a redirect, an HTML page or a 404.
func TestEveryPathGetsAnEnvelope(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	tests := []struct{ method, path string }{
		{http.MethodPost, "/v4//openim/sendmsg"},
		{http.MethodPost, "/v4/openim/../openim/sendmsg"},
		{http.MethodPost, "/"},
		{http.MethodPost, "/healthz"},
		{http.MethodPost, "/metrics"},
		{http.MethodGet, "/metrics/"},
		{http.MethodGet, "/v4/openim/sendmsg"},
		{http.MethodPut, "/v4/openim/sendmsg"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			ActionStatus string
			ErrorCode    int
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || env.ActionStatus != "FAIL" || env.ErrorCode == 0 {
			t.Errorf("%s %s: HTTP %d, envelope %+v (%v); want 200 and a FAIL envelope", tt.method, tt.path, resp.StatusCode, env, err)
		}
	}
}
