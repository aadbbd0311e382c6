package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
	"github.com/parley-im/parley/ws"
)

func TestLogin(t *testing.T) {
	e := setup(t, nil)
	r := dialRaw(t, e.url, websocket.DialOptions{Subprotocols: []string{"chat", ws.Subprotocol}})
	if got := r.conn.Subprotocol(); got != ws.Subprotocol {
		t.Errorf("subprotocol %q, want %q", got, ws.Subprotocol)
	}
	r.send(map[string]any{"op": "login", "id": "1", "data": map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": e.sig(t, "bob"), "Platform": "Android"}})
	data := r.ok(r.reply("1"))
	if id, _ := data["SessionID"].(string); id == "" {
		t.Errorf("login answered no SessionID: %v", data)
	}
	if data["ServerTime"] != json.Number(fmt.Sprint(e.clock.Now().UnixMilli())) || data["HeartbeatInterval"] != json.Number("30") {
		t.Errorf("login answered %v, want ServerTime %d and HeartbeatInterval 30", data, e.clock.Now().UnixMilli())
	}
	if got := e.hub.Sessions("bob"); len(got) != 1 || got[0].Platform != "Android" || got[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("hub sessions of bob: %+v", got)
	}

	e.clock.Advance(time.Second)
	r.send(`{"op":"ping","id":"2"}`)
	if data := r.ok(r.reply("2")); data["ServerTime"] != json.Number(fmt.Sprint(e.clock.Now().UnixMilli())) {
		t.Errorf("ping answered %v", data)
	}

	// No subprotocol offered: the same protocol, none chosen.
	plain := dialRaw(t, e.url, websocket.DialOptions{})
	if got := plain.conn.Subprotocol(); got != "" {
		t.Errorf("subprotocol %q chosen though none was offered", got)
	}
	plain.send(map[string]any{"op": "login", "data": map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": e.sig(t, "bob")}})
	if f := plain.next(); f["ActionStatus"] != "OK" || f["id"] != nil {
		t.Errorf("login without id answered %v", f)
	}
	if got := e.hub.Sessions("bob"); len(got) != 2 {
		t.Errorf("bob has %d sessions, want 2 (one per device)", len(got))
	}
}

func TestLoginFailures(t *testing.T) {
	e := setup(t, nil)
	now := e.clock.Now()
	valid := func(user string) usersig.GenParams {
		return usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: user, Expire: 86400, Time: now}
	}
	with := func(user string, f func(*usersig.GenParams)) string {
		p := valid(user)
		f(&p)
		return genSig(t, p)
	}
	tests := []struct {
		name string
		data map[string]any
		code int
	}{
		{"expired", map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": with("bob", func(p *usersig.GenParams) { p.Time = now.Add(-48 * time.Hour) })}, parley.ErrUserSigExpired},
		{"signed with another key", map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": with("bob", func(p *usersig.GenParams) { p.Key = strings.Repeat("0", 64) })}, parley.ErrUserSigVerify},
		{"another user's sig", map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": with("mallory", func(*usersig.GenParams) {})}, parley.ErrUserSigIdentifier},
		{"another app's sig", map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": with("bob", func(p *usersig.GenParams) { p.SDKAppID = appID + 1 })}, parley.ErrUserSigSDKAppID},
		{"garbage sig", map[string]any{"SDKAppID": appID, "UserID": "bob", "UserSig": "not-a-sig"}, parley.ErrUserSigInvalid},
		{"no sig", map[string]any{"SDKAppID": appID, "UserID": "bob"}, parley.ErrUserSigInvalid},
		{"wrong SDKAppID", map[string]any{"SDKAppID": appID + 1, "UserID": "bob", "UserSig": with("bob", func(*usersig.GenParams) {})}, parley.ErrSDKAppIDInvalid},
		{"SDKAppID as a string", map[string]any{"SDKAppID": fmt.Sprint(appID), "UserID": "bob", "UserSig": with("bob", func(*usersig.GenParams) {})}, parley.ErrSDKAppIDInvalid},
		{"no SDKAppID", map[string]any{"UserID": "bob", "UserSig": with("bob", func(*usersig.GenParams) {})}, parley.ErrSDKAppIDMissing},
		{"empty UserID", map[string]any{"SDKAppID": appID, "UserID": "", "UserSig": with("bob", func(*usersig.GenParams) {})}, parley.ErrAccountIllegalParams},
		{"UserID with a space", map[string]any{"SDKAppID": appID, "UserID": "b ob", "UserSig": with("b ob", func(*usersig.GenParams) {})}, parley.ErrAccountIllegalParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, e.url, websocket.DialOptions{})
			r.send(map[string]any{"op": "login", "id": "L", "data": tt.data})
			r.fail(r.reply("L"), tt.code)
			r.kicked(ws.CloseLogin)
		})
	}
	if got := e.hub.Stats().Sessions; got != 0 {
		t.Errorf("%d sessions registered after failed logins", got)
	}
}

func TestLoginTimeout(t *testing.T) {
	e := setup(t, func(c *ws.Config, _ *hub.Config) { c.LoginTimeout = 50 * time.Millisecond })
	r := dialRaw(t, e.url, websocket.DialOptions{})
	r.kicked(ws.CloseLogin)
}

func TestRequestBeforeLogin(t *testing.T) {
	e := setup(t, nil)
	for _, frame := range []string{`{"op":"ping","id":"1"}`, `{"op":"send_c2c","data":{}}`, `{"op":"nope"}`} {
		r := dialRaw(t, e.url, websocket.DialOptions{})
		r.send(frame)
		r.kicked(ws.CloseLogin)
	}
}

func TestMalformedFrames(t *testing.T) {
	e := setup(t, nil)
	r := dialRaw(t, e.url, websocket.DialOptions{})
	// Before login a malformed frame is answered, not punished.
	r.send(`this is not JSON`)
	r.fail(r.next(), parley.ErrJSONParse)
	r.send(map[string]any{"op": "login", "id": "L", "data": map[string]any{"SDKAppID": appID, "UserID": "alice", "UserSig": e.sig(t, "alice")}})
	r.ok(r.reply("L"))

	tests := []struct {
		frame  string
		id     any // nil: no id in the reply
		code   int
		reason string
	}{
		{`not JSON`, nil, parley.ErrJSONParse, "JSON object"},
		{`[{"op":"ping"}]`, nil, parley.ErrJSONParse, "JSON object"},
		{`{"id":"a"}`, "a", parley.ErrJSONParse, "op is required"},
		{`{"op":7,"id":"b"}`, "b", parley.ErrJSONParse, "op must be a string"},
		{`{"op":"ping","id":"c","data":[1]}`, "c", parley.ErrJSONParse, "data must be a JSON object"},
		{`{"op":"ping","id":12}`, nil, parley.ErrJSONParse, "id must be a string"},
		{`{"op":"fly","id":"d"}`, "d", parley.ErrJSONParse, `unknown op "fly"`},
		{`{"op":"login","id":"e","data":{}}`, "e", parley.ErrJSONParse, "already logged in"},
		{`{"op":"send_c2c","id":"f","data":{"To_Account":"bob","MsgBody":[]}}`, "f", parley.ErrMsgRandomInvalid, "MsgRandom"},
		{`{"op":"send_c2c","id":"g","data":{"To_Account":7}}`, "g", parley.ErrToAccountInvalid, "To_Account"},
		{`{"op":"send_c2c","id":"h","data":{"From_Account":"mallory","To_Account":"bob","MsgRandom":1,"MsgBody":[]}}`, "h", parley.ErrFromAccountInvalid, "logged-in user"},
		{`{"op":"sync","id":"i","data":{"ConversationID":"x"}}`, "i", parley.ErrFormat, "ConversationID"},
		{`{"op":"mark_read","id":"j","data":{"Peer_Account":"bob","GroupId":"g"}}`, "j", parley.ErrFormat, "not both"},
	}
	for _, tt := range tests {
		r.send(tt.frame)
		f := r.next()
		r.fail(f, tt.code)
		if f["id"] != tt.id {
			t.Errorf("%s: reply id %v, want %v", tt.frame, f["id"], tt.id)
		}
		if info, _ := f["ErrorInfo"].(string); !strings.Contains(info, tt.reason) {
			t.Errorf("%s: ErrorInfo %q, want it to mention %q", tt.frame, info, tt.reason)
		}
	}
	// Still open, still answering.
	r.send(`{"op":"ping","id":"z"}`)
	r.ok(r.reply("z"))
}

func TestBinaryFrameIsAProtocolError(t *testing.T) {
	e := setup(t, nil)
	r := e.login(t, "alice", "Web")
	if err := r.conn.WriteMessage(websocket.OpBinary, []byte(`{"op":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	r.kicked(ws.CloseProtocol)
}

func TestFrameTooBig(t *testing.T) {
	e := setup(t, func(c *ws.Config, _ *hub.Config) { c.ReadLimit = 1024 })
	r := e.login(t, "alice", "Web")
	r.send(`{"op":"ping","id":"` + strings.Repeat("x", 2000) + `"}`)
	r.closedWith(websocket.CloseTooBig)
}

func TestIdleTimeout(t *testing.T) {
	e := setup(t, func(c *ws.Config, _ *hub.Config) { c.IdleTimeout = 100 * time.Millisecond })
	r := e.login(t, "alice", "Web")
	r.kicked(ws.CloseIdle)
	if got := e.hub.Stats().Sessions; got != 0 {
		t.Errorf("%d sessions left after the idle timeout", got)
	}
}

// TestHeartbeatKeepsAlive: a client that answers the hub's pings (the
// websocket answers them inside ReadMessage) stays connected well past the
// idle timeout without sending anything itself.
func TestHeartbeatKeepsAlive(t *testing.T) {
	e := setup(t, func(c *ws.Config, h *hub.Config) {
		c.HeartbeatInterval = 20 * time.Millisecond
		c.IdleTimeout = 150 * time.Millisecond
		h.PingInterval = 20 * time.Millisecond
	})
	r := e.login(t, "alice", "Web")
	ended := make(chan error, 1)
	go func() {
		// Reading answers the pings.
		for {
			if _, _, err := r.conn.ReadMessage(); err != nil {
				ended <- err
				return
			}
		}
	}()
	// Nothing to wait for but time itself: four idle timeouts without a
	// frame from the client but pongs.
	select {
	case err := <-ended:
		t.Fatalf("alice was disconnected though she answered every ping: %v", err)
	case <-time.After(600 * time.Millisecond):
	}
	if got := len(e.hub.Sessions("alice")); got != 1 {
		t.Errorf("alice has %d sessions, want 1", got)
	}
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	e := setup(t, nil)
	r := e.login(t, "alice", "Web")
	const n = 30
	for i := range n {
		r.send(fmt.Sprintf(`{"op":"ping","id":"%d"}`, i))
	}
	for i := range n {
		r.ok(r.reply(fmt.Sprint(i)))
	}
}

// TestSendingSessionIsNotPushed: the session that sends gets its reply
// and an own frame with the change's seq; the recipient and the sender's
// other device get the push; the sending session's next push is the next
// change, not its own.
func TestSendingSessionIsNotPushed(t *testing.T) {
	e := setup(t, nil)
	bob := e.login(t, "bob", "Web")
	phone := e.login(t, "alice", "iOS")
	laptop := e.login(t, "alice", "Mac")

	phone.send(map[string]any{"op": "send_c2c", "id": "s", "data": map[string]any{"To_Account": "bob", "MsgRandom": 1, "MsgBody": client.TextBody("from the phone")}})
	var own, reply map[string]any
	for own == nil || reply == nil {
		switch f := phone.next(); f["op"] {
		case "own":
			own = f
		case "reply":
			reply = f
		default:
			t.Fatalf("the phone got %v, want only its reply and an own frame", f)
		}
	}
	sent := phone.ok(reply)
	if own["conversation"] != "C2Cbob" || own["seq"] != json.Number("1") {
		t.Errorf("own frame %v, want C2Cbob seq 1", own)
	}

	for _, r := range []*raw{bob, laptop} {
		f := nextPush(r, "message")
		data := f["data"].(map[string]any)
		if f["seq"] != json.Number("1") || data["MsgKey"] != sent["MsgKey"] || data["From_Account"] != "alice" {
			t.Errorf("push %v, want message seq 1 with MsgKey %v", f, sent["MsgKey"])
		}
	}

	bob.send(map[string]any{"op": "send_c2c", "id": "b", "data": map[string]any{"To_Account": "alice", "MsgRandom": 2, "MsgBody": client.TextBody("hi back")}})
	bob.ok(bob.reply("b"))
	if f := nextPush(phone, "message"); f["seq"] != json.Number("2") {
		t.Errorf("the phone's first message push is %v, want bob's, seq 2: its own message is not pushed to it", f)
	}
}

// nextPush reads frames up to the next push of kind.
func nextPush(r *raw, kind string) map[string]any {
	r.t.Helper()
	for {
		f := r.next()
		if f["op"] == "push" && f["event"] == kind {
			return f
		}
	}
}

// TestSlowConsumer: a client that stops reading while its group is busy is
// cut off with 4008 once its queue is full, and another member receives
// every message meanwhile, in order.
func TestSlowConsumer(t *testing.T) {
	e := setup(t, func(_ *ws.Config, h *hub.Config) {
		h.QueueMessages = 8
		h.QueueBytes = 64 << 10
	})
	// A small receive window fills the pipe quickly.
	small := websocket.DialOptions{NetDialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); cerr != nil {
			return cerr
		}
		return err
	}}).DialContext}
	slow := dialRaw(t, e.url, small)
	slow.send(map[string]any{"op": "login", "id": "L", "data": map[string]any{"SDKAppID": appID, "UserID": "slow", "UserSig": e.sig(t, "slow")}})
	slow.ok(slow.reply("L"))
	fast := e.login(t, "fast", "Web")

	ctx := context.Background()
	group, err := e.engine.CreateGroup(ctx, chat.CreateGroupParams{Type: parley.GroupPublic, Name: "busy", Members: []chat.MemberSpec{{UserID: "slow"}, {UserID: "fast"}}})
	if err != nil {
		t.Fatal(err)
	}

	received := make(chan uint64, 4096)
	readErr := make(chan error, 1)
	// The senders keep at most window messages ahead of what fast has
	// read, so fast's queue can never fill however slowly this machine
	// schedules its reader: only the client that stops reading is cut off.
	const window = 4 // 4 messages of 11 KB: under both queue bounds
	var (
		flow     sync.Mutex
		progress = sync.NewCond(&flow)
		fastGot  int
		sentN    int
	)
	go func() {
		for {
			_, msg, err := fast.conn.ReadMessage()
			if err != nil {
				readErr <- err
				flow.Lock()
				fastGot = math.MaxInt // release the senders; the test fails on readErr
				progress.Broadcast()
				flow.Unlock()
				return
			}
			var f struct {
				Op, Event string
				Seq       uint64
			}
			if json.Unmarshal(msg, &f) == nil && f.Op == "push" && f.Event == "message" {
				received <- f.Seq
				flow.Lock()
				fastGot++
				progress.Broadcast()
				flow.Unlock()
			}
		}
	}()
	// reserve waits for room in the window and takes the next message
	// number; 0 means stop.
	reserve := func() int {
		flow.Lock()
		defer flow.Unlock()
		for sentN-fastGot >= window {
			progress.Wait()
		}
		if e.hub.Stats().SlowConsumers != 0 {
			return 0
		}
		sentN++
		return sentN
	}

	// Four senders, so that the store commits them in groups.
	body := client.TextBody(strings.Repeat("x", 11000))
	sendErr := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				n := reserve()
				if n == 0 {
					break
				}
				if n > 2000 {
					sendErr <- fmt.Errorf("no slow consumer after %d messages of 11 KB", n)
					return
				}
				if _, err := e.engine.SendGroup(ctx, chat.SendGroupParams{GroupID: group, Random: uint32(n), Body: body}); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- nil
		}()
	}
	for range 4 {
		if err := <-sendErr; err != nil {
			t.Fatal(err)
		}
	}
	flow.Lock()
	sent := sentN
	flow.Unlock()
	t.Logf("slow consumer cut off after %d messages", sent)
	// What is in flight, then the kick saying why.
	slow.kicked(hub.CloseSlowConsumer)

	// More after the cut-off: fast still gets everything, in order.
	for i := range 5 {
		if _, err := e.engine.SendGroup(ctx, chat.SendGroupParams{GroupID: group, Random: uint32(sent + i), Body: client.TextBody("after")}); err != nil {
			t.Fatal(err)
		}
	}
	sent += 5
	timeout := time.After(wait)
	for want := uint64(1); want <= uint64(sent); want++ {
		select {
		case got := <-received:
			if got != want {
				t.Fatalf("fast got message seq %d, want %d", got, want)
			}
		case err := <-readErr:
			t.Fatalf("fast's connection ended: %v", err)
		case <-timeout:
			t.Fatalf("fast got %d of %d messages", want-1, sent)
		}
	}
	if got := e.hub.Stats().SlowConsumers; got != 1 {
		t.Errorf("%d slow consumers, want 1", got)
	}
}

// TestClientWebhooksCarryOrigin: what a client does reaches the app
// backend with the client's platform and address.
func TestClientWebhooksCarryOrigin(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL})
	srv.Dial(t, "bob")
	alice := srv.DialConfig(t, srv.ClientConfig("alice", "iOS"))
	ctx := context.Background()
	// ForbidCallbackControl is the app backend's, not a client's: ignored.
	if err := alice.Call(ctx, "send_c2c", map[string]any{
		"To_Account": "bob", "MsgRandom": 7, "MsgBody": client.TextBody("hi"),
		"ForbidCallbackControl": []string{parley.ForbidBeforeSendCallback, parley.ForbidAfterSendCallback},
	}, nil); err != nil {
		t.Fatal(err)
	}
	mac := srv.DialConfig(t, srv.ClientConfig("carol", "macOS"))
	if _, err := mac.SendC2C(ctx, client.SendC2CRequest{To: "bob", Body: client.TextBody("hi")}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": "iOS", "carol": "Mac"}
	reqs := rcv.WaitUntil(t, wait, func(reqs []parleytest.Request) bool {
		n := 0
		for _, r := range reqs {
			if r.Query.Get("CallbackCommand") == parley.CommandC2CAfterSendMsg {
				n++
			}
		}
		return n == 2
	})
	commands := map[string]bool{}
	for _, r := range reqs {
		var body struct {
			From string `json:"From_Account"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("webhook body %s: %v", r.Body, err)
		}
		cmd := r.Query.Get("CallbackCommand")
		commands[cmd] = true
		if got := r.Query.Get("OptPlatform"); got != want[body.From] {
			t.Errorf("%s from %s: OptPlatform %q, want %q", cmd, body.From, got, want[body.From])
		}
		if got := r.Query.Get("ClientIP"); got != "127.0.0.1" {
			t.Errorf("%s from %s: ClientIP %q, want 127.0.0.1", cmd, body.From, got)
		}
	}
	if n := len(reqs); n != 4 {
		t.Errorf("%d webhooks, want a before-send and an after-send per message", n)
	}
	if !commands[parley.CommandC2CBeforeSendMsg] || !commands[parley.CommandC2CAfterSendMsg] {
		t.Errorf("webhooks %v, want both the before-send and after-send callbacks", commands)
	}
}

func TestPlatform(t *testing.T) {
	for in, want := range map[string]string{
		"Web": "Web", "Android": "Android", "iOS": "iOS", "IOS": "iOS", "Windows": "Windows", "Mac": "Mac",
		"macOS": "Mac", "iPad": "iPad", "": "Unknown", "RESTAPI": "Unknown", "toaster": "Unknown",
	} {
		if got := ws.Platform(in); got != want {
			t.Errorf("Platform(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestShutdownKicksClients: a server going away says so to every client.
func TestShutdownKicksClients(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	c := srv.Dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client is still connected after Shutdown")
	}
	var kick *client.KickError
	if err := c.Err(); !errors.As(err, &kick) || kick.Code != hub.CloseGoingAway {
		t.Errorf("client ended with %v, want a kick %d", err, hub.CloseGoingAway)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := ws.New(ws.Config{HeartbeatInterval: -time.Second})
	for _, want := range []string{"Engine is required", "Hub is required", "SDKAppID is required", "Key is required", "HeartbeatInterval must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want it to say %q", err, want)
		}
	}
}
