package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/sqlite"
)

// t0 is the fake clock's start: a whole second, so tests can reason in
// MsgTime seconds.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// callerFunc adapts a function to chat.Caller.
type callerFunc func(ctx context.Context, command string, body []byte, origin parley.Origin) (parley.CallbackReply, error)

func (f callerFunc) Call(ctx context.Context, command string, body []byte, origin parley.Origin) (parley.CallbackReply, error) {
	return f(ctx, command, body, origin)
}

// recorder is a Caller that answers with reply and remembers the requests.
type recorder struct {
	mu    sync.Mutex
	calls []call
	reply func(body []byte) (parley.CallbackReply, error)
}

type call struct {
	Command string
	Body    []byte
	Origin  parley.Origin
}

func (r *recorder) Call(ctx context.Context, command string, body []byte, origin parley.Origin) (parley.CallbackReply, error) {
	r.mu.Lock()
	r.calls = append(r.calls, call{command, append([]byte(nil), body...), origin})
	reply := r.reply
	r.mu.Unlock()
	if reply == nil {
		return parley.CallbackReply{ActionStatus: "OK"}, nil
	}
	return reply(body)
}

func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

type env struct {
	eng      *chat.Engine
	store    parley.Store
	clock    *parleytest.Clock
	notified *atomic.Int64
}

// openStore opens a fresh SQLite store in the test's temp dir.
func openStore(t testing.TB) parley.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// setup returns an engine on a fresh store with every callback enabled,
// no Caller, and a fake clock at t0. mod adjusts the Config.
func setup(t testing.TB, mod func(*chat.Config)) *env {
	t.Helper()
	e := &env{store: openStore(t), clock: parleytest.NewClock(t0), notified: new(atomic.Int64)}
	cfg := chat.Config{
		Store:           e.store,
		Admin:           "admin",
		CallbackEnabled: func(string) bool { return true },
		OnEvents:        func() { e.notified.Add(1) },
		Now:             e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	eng, err := chat.New(cfg)
	if err != nil {
		t.Fatalf("chat.New: %v", err)
	}
	e.eng = eng
	return e
}

func (e *env) importUsers(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := e.eng.AccountImport(context.Background(), parley.Account{UserID: id}); err != nil {
			t.Fatalf("AccountImport(%q): %v", id, err)
		}
	}
}

func textBody(s string) json.RawMessage {
	b, _ := json.Marshal([]map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]string{"Text": s}}})
	return b
}

func seq(n uint32) *uint32 { return &n }

func (e *env) send(t testing.TB, p chat.SendParams) chat.SendResult {
	t.Helper()
	res, err := e.eng.SendC2C(context.Background(), p)
	if err != nil {
		t.Fatalf("SendC2C(%s → %s): %v", p.From, p.To, err)
	}
	return res
}

func wantCode(t testing.TB, err error, want int) *parley.Error {
	t.Helper()
	var pe *parley.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *parley.Error %d", err, want)
	}
	if pe.Code != want {
		t.Fatalf("err = %d %q, want code %d", pe.Code, pe.Info, want)
	}
	return pe
}

// messages returns owner's view of the conversation with peer, newest first.
func (e *env) messages(t testing.TB, owner, peer string) []*parley.Message {
	t.Helper()
	ms, err := e.store.MessageList(context.Background(), parley.MessageListParams{
		Owner: owner, Peer: peer, MinTime: 0, MaxTime: math.MaxInt64, Limit: 10000,
	})
	if err != nil {
		t.Fatalf("MessageList: %v", err)
	}
	return ms
}

func (e *env) events(t testing.TB, command string) []*parley.Event {
	t.Helper()
	evs, err := e.store.EventList(context.Background(), parley.EventListParams{Command: command, Limit: 10000})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	return evs
}

// afterSend decodes the after-send events, in commit order.
func (e *env) afterSend(t testing.TB) []parley.AfterSendMsg {
	t.Helper()
	var out []parley.AfterSendMsg
	for _, ev := range e.events(t, parley.CommandC2CAfterSendMsg) {
		var b parley.AfterSendMsg
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			t.Fatalf("event %s body %s: %v", ev.ID, ev.Body, err)
		}
		out = append(out, b)
	}
	return out
}

func (e *env) unread(t testing.TB, to string, peers ...string) chat.UnreadResult {
	t.Helper()
	res, err := e.eng.Unread(context.Background(), chat.UnreadParams{To: to, Peers: peers})
	if err != nil {
		t.Fatalf("Unread(%s): %v", to, err)
	}
	return res
}

func (e *env) total(t testing.TB, to string) int {
	t.Helper()
	return e.unread(t, to).Total
}
