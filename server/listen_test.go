package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// openListen GETs the listen stream with query and headers.
func openListen(t *testing.T, s *parleytest.Server, query url.Values, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+server.ListenPath+"?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// listenTo opens the stream as the admin and waits for it to be ready.
func listenTo(t *testing.T, s *parleytest.Server, commands ...string) *delivery.ListenReader {
	t.Helper()
	q := s.AdminQuery()
	for _, c := range commands {
		q.Add("command", c)
	}
	resp := openListen(t, s, q, nil)
	if !delivery.IsListenStream(resp) {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("not a stream: %s %s", resp.Status, b)
	}
	lr := delivery.NewListenReader(resp.Body)
	if m := nextMessage(t, lr); m.Ready == nil {
		t.Fatalf("first message %+v, want ready", m)
	}
	return lr
}

func nextMessage(t *testing.T, lr *delivery.ListenReader) delivery.ListenMessage {
	t.Helper()
	type result struct {
		m   delivery.ListenMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := lr.Next()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Next: %v", r.err)
		}
		return r.m
	case <-time.After(10 * time.Second):
		t.Fatal("no message in 10s")
	}
	panic("unreachable")
}

func TestListenRefusesWithTencentErrors(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	app := s.App()
	otherKey, err := usersig.Gen(usersig.GenParams{SDKAppID: app.SDKAppID, Key: "another key", Identifier: app.Admin, Expire: 3600})
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) url.Values {
		q := s.AdminQuery()
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name   string
		query  url.Values
		header http.Header
		want   int
	}{
		{"no sdkappid", with("sdkappid", ""), nil, parley.ErrSDKAppIDMissing},
		{"another sdkappid", with("sdkappid", "1400000002"), nil, parley.ErrSDKAppIDInvalid},
		{"no identifier", with("identifier", ""), nil, parley.ErrURLParams},
		{"no usersig", with("usersig", ""), nil, parley.ErrURLParams},
		{"garbage usersig", with("usersig", "garbage"), nil, parley.ErrUserSigInvalid},
		{"usersig of another key", with("usersig", otherKey), nil, parley.ErrUserSigVerify},
		{"not the admin", url.Values{
			"sdkappid":   {strconv.FormatUint(app.SDKAppID, 10)},
			"identifier": {"alice"},
			"usersig":    {s.UserSig("alice")},
		}, nil, parley.ErrNeedAdmin},
		{"unknown command", with("command", "C2C.Nope"), nil, parley.ErrURLParams},
		{"before-send command", with("command", parley.CommandC2CBeforeSendMsg), nil, parley.ErrURLParams},
		{"bad Last-Event-ID", s.AdminQuery(), http.Header{"Last-Event-Id": {"x"}}, parley.ErrHTTPParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := openListen(t, s, tt.query, tt.header)
			var env struct {
				ActionStatus string
				ErrorInfo    string
				ErrorCode    int
			}
			err := json.NewDecoder(resp.Body).Decode(&env)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || err != nil ||
				env.ActionStatus != "FAIL" || env.ErrorCode != tt.want || env.ErrorInfo == "" {
				t.Errorf("HTTP %d %s, envelope %+v (%v); want 200 and FAIL %d", resp.StatusCode, resp.Header.Get("Content-Type"), env, err, tt.want)
			}
		})
	}
}

// TestListenWithoutCallbackURL: with no callback URL, events are recorded
// only while someone listens (and the enabled commands only), and
// streamed.
func TestListenWithoutCallbackURL(t *testing.T) {
	s := parleytest.Start(t, server.Options{CallbackCommands: []string{parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw}})
	importUsers(t, s, "alice", "bob")
	send := func(text string) map[string]any {
		resp := s.Post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": textBody(text)})
		parleytest.OK(t, resp)
		return resp
	}
	send("nobody listens")
	if evs, err := s.Store().EventList(context.Background(), parley.EventListParams{}); err != nil || len(evs) != 0 {
		t.Fatalf("outbox %d events (%v) with no callback URL and no listener, want none", len(evs), err)
	}

	lr := listenTo(t, s)
	sent := send("hello")
	parleytest.OK(t, s.Post(t, "openim", "admin_msgwithdraw", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgKey": sent["MsgKey"]}))
	for _, want := range []string{parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw} {
		m := nextMessage(t, lr)
		if m.Event == nil || m.Event.Command != want {
			t.Fatalf("message %+v, want a %s event", m, want)
		}
		if m.Event.Conversation != parley.C2CConversation("alice", "bob") || m.Event.OptPlatform != parley.OptPlatformREST {
			t.Errorf("event %+v", m.Event)
		}
		stored, err := s.Store().EventGet(context.Background(), m.Event.EventID)
		if err != nil || string(stored.Body) != string(m.Event.Body) {
			t.Errorf("the outbox has %v (%v), the stream %s", stored, err, m.Event.Body)
		}
	}
}

// TestListenWithAnUnreachableCallbackURL: the stream shows every event
// while the worker fails to deliver them.
func TestListenWithAnUnreachableCallbackURL(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	rcv.SetReply(http.StatusBadGateway, "down")
	s := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, CallbackCommands: []string{parley.CommandC2CAfterSendMsg}})
	importUsers(t, s, "alice", "bob")
	a := listenTo(t, s)
	b := listenTo(t, s, parley.CommandC2CAfterSendMsg)
	for i := range 3 {
		parleytest.OK(t, s.Post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": i, "MsgBody": textBody("hi")}))
	}
	for _, lr := range []*delivery.ListenReader{a, b} {
		var last int64
		for range 3 {
			m := nextMessage(t, lr)
			if m.Event == nil || m.Event.Seq <= last {
				t.Fatalf("message %+v after Seq %d, want the next event", m, last)
			}
			last = m.Event.Seq
		}
	}
}

func TestShutdownEndsListenStreams(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	lr := listenTo(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := lr.Next()
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a listener connected: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a listener connected", took)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("the stream ended with %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
}
