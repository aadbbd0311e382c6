package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/usersig"
	"github.com/parley-im/parley/ws"
)

const (
	appID  = 1400000001
	secret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
)

// wait bounds every wait for something the server does.
const wait = 5 * time.Second

// env is a ws.Server over a real hub, engine and SQLite file, served by an
// httptest server: the knobs server.Options does not have (login and idle
// timeouts, no pings) are set here.
type env struct {
	url    string
	ws     *ws.Server
	hub    *hub.Hub
	engine *chat.Engine
	clock  *parleytest.Clock
}

func setup(t testing.TB, tune func(*ws.Config, *hub.Config)) *env {
	t.Helper()
	e := &env{clock: parleytest.NewClock(time.Unix(1_800_000_000, 0))}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db")})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	hcfg := hub.Config{Encode: ws.EncodePush, PingInterval: -1}
	wcfg := ws.Config{SDKAppID: appID, Key: secret, Now: e.clock.Now}
	if tune != nil {
		tune(&wcfg, &hcfg)
	}
	if e.hub, err = hub.New(hcfg); err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	pub := ws.NewPublisher(e.hub)
	if e.engine, err = chat.New(chat.Config{Store: db, Publisher: pub, GroupMsgRate: -1, Now: e.clock.Now}); err != nil {
		t.Fatalf("chat.New: %v", err)
	}
	wcfg.Engine, wcfg.Hub, wcfg.Publisher = e.engine, e.hub, pub
	if e.ws, err = ws.New(wcfg); err != nil {
		t.Fatalf("ws.New: %v", err)
	}
	srv := httptest.NewServer(e.ws)
	e.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"
	t.Cleanup(func() {
		e.ws.Close()
		e.hub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := e.ws.Wait(ctx); err != nil {
			t.Errorf("ws.Wait: %v", err)
		}
		srv.Close()
		db.Close()
	})
	return e
}

// sig is a UserSig for user valid for a day from the test clock.
func (e *env) sig(t testing.TB, user string) string {
	t.Helper()
	return genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: user, Expire: 86400, Time: e.clock.Now()})
}

func genSig(t testing.TB, p usersig.GenParams) string {
	t.Helper()
	s, err := usersig.Gen(p)
	if err != nil {
		t.Fatalf("usersig.Gen: %v", err)
	}
	return s
}

// raw is a bare WebSocket speaking the protocol frame by frame.
type raw struct {
	t    testing.TB
	conn *websocket.Conn
}

func dialRaw(t testing.TB, url string, opts websocket.DialOptions) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	conn.SetIdleTimeout(wait) // a read that gets nothing fails the test instead of hanging
	return &raw{t: t, conn: conn}
}

// login dials e and logs in as user, checking the reply.
func (e *env) login(t testing.TB, user, platform string) *raw {
	t.Helper()
	r := dialRaw(t, e.url, websocket.DialOptions{})
	r.send(map[string]any{"op": "login", "id": "L", "data": map[string]any{"SDKAppID": appID, "UserID": user, "UserSig": e.sig(t, user), "Platform": platform}})
	r.ok(r.reply("L"))
	return r
}

// send writes v, a string as it is or anything else as JSON.
func (r *raw) send(v any) {
	r.t.Helper()
	b, ok := v.(string)
	if !ok {
		j, err := json.Marshal(v)
		if err != nil {
			r.t.Fatalf("marshal: %v", err)
		}
		b = string(j)
	}
	if err := r.conn.WriteMessage(websocket.OpText, []byte(b)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads the next frame, numbers as json.Number.
func (r *raw) next() map[string]any {
	r.t.Helper()
	op, msg, err := r.conn.ReadMessage()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	if op != websocket.OpText {
		r.t.Fatalf("read a %v frame, want text", op)
	}
	return decode(r.t, msg)
}

func decode(t testing.TB, msg []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(msg)))
	dec.UseNumber()
	var f map[string]any
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("frame %s is not a JSON object: %v", msg, err)
	}
	return f
}

// reply reads frames up to the reply to id, skipping pushes and own
// frames.
func (r *raw) reply(id string) map[string]any {
	r.t.Helper()
	for {
		f := r.next()
		if f["op"] == "push" || f["op"] == "own" {
			continue
		}
		if f["op"] != "reply" || f["id"] != id {
			r.t.Fatalf("got %v, want the reply to %q", f, id)
		}
		return f
	}
}

// ok checks an OK reply and returns its data.
func (r *raw) ok(f map[string]any) map[string]any {
	r.t.Helper()
	if f["ActionStatus"] != "OK" || f["ErrorCode"] != json.Number("0") {
		r.t.Fatalf("want OK, got %v", f)
	}
	data, _ := f["data"].(map[string]any)
	return data
}

// fail checks a FAIL reply with code.
func (r *raw) fail(f map[string]any, code int) {
	r.t.Helper()
	if f["ActionStatus"] != "FAIL" || f["ErrorCode"] != json.Number(strconv.Itoa(code)) || f["ErrorInfo"] == "" {
		r.t.Fatalf("want FAIL %d, got %v", code, f)
	}
	if _, ok := f["data"]; ok {
		r.t.Fatalf("a FAIL reply carries data: %v", f)
	}
}

// kicked reads the kick frame and the close frame after it, both with
// code, skipping anything before them.
func (r *raw) kicked(code int) {
	r.t.Helper()
	for {
		op, msg, err := r.conn.ReadMessage()
		if err != nil {
			r.t.Fatalf("connection ended (%v) without a kick %d", err, code)
		}
		if op != websocket.OpText {
			continue
		}
		f := decode(r.t, msg)
		if f["op"] != "kick" {
			continue
		}
		if f["ErrorCode"] != json.Number(strconv.Itoa(code)) || f["ErrorInfo"] == "" {
			r.t.Fatalf("kick %v, want code %d", f, code)
		}
		break
	}
	r.closedWith(code)
}

// closedWith reads until the close frame, which must carry code.
func (r *raw) closedWith(code int) {
	r.t.Helper()
	for {
		_, msg, err := r.conn.ReadMessage()
		if err == nil {
			r.t.Logf("frame before the close: %s", msg)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Local {
			r.t.Fatalf("connection ended with %v, want a close frame %d from the server", err, code)
		}
		return
	}
}
