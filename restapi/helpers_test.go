package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/usersig"
)

const (
	appID  = 1400000001
	secret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	admin  = "administrator"
)

// *chat.Engine is the Engine the REST surface is written for.
var _ restapi.Engine = (*chat.Engine)(nil)

type options struct {
	caller    chat.Caller
	engine    restapi.Engine // replaces the real engine when set
	maxBody   int64
	cacheSize int
	noStore   bool // a fake engine needs no database
}

type env struct {
	srv     *httptest.Server
	handler *restapi.Handler
	store   parley.Store
	clock   *parleytest.Clock
	sig     string // the admin's UserSig, valid for a day from clock time
}

// setup starts the handler over real HTTP with the real engine on a real
// SQLite file, every callback command switched on.
func setup(t testing.TB, opt ...func(*options)) *env {
	t.Helper()
	var o options
	for _, f := range opt {
		f(&o)
	}
	e := &env{clock: parleytest.NewClock(time.Unix(1_750_000_000, 0))}
	engine := o.engine
	if engine == nil {
		db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db")})
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		e.store = db
		ce, err := chat.New(chat.Config{
			Store:           db,
			Admin:           admin,
			Caller:          o.caller,
			CallbackEnabled: func(string) bool { return true },
			Now:             e.clock.Now,
		})
		if err != nil {
			t.Fatalf("chat.New: %v", err)
		}
		engine = ce
	}
	h, err := restapi.New(restapi.Config{
		Engine:           engine,
		SDKAppID:         appID,
		SecretKey:        secret,
		Admin:            admin,
		MaxBodyBytes:     o.maxBody,
		UserSigCacheSize: o.cacheSize,
		Now:              e.clock.Now,
	})
	if err != nil {
		t.Fatalf("restapi.New: %v", err)
	}
	e.handler = h
	e.srv = newServer(t, h)
	e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 86400, Time: e.clock.Now()})
	return e
}

func genSig(t testing.TB, p usersig.GenParams) string {
	t.Helper()
	s, err := usersig.Gen(p)
	if err != nil {
		t.Fatalf("usersig.Gen: %v", err)
	}
	return s
}

func (e *env) adminQuery() url.Values {
	return url.Values{
		"sdkappid":    {fmt.Sprint(appID)},
		"identifier":  {admin},
		"usersig":     {e.sig},
		"random":      {"99"},
		"contenttype": {"json"},
	}
}

func (e *env) url(service, command string, q url.Values) string {
	return e.srv.URL + "/v4/" + service + "/" + command + "?" + q.Encode()
}

// answer is a decoded REST answer.
type answer struct {
	Status string
	Info   string
	Code   int
	Keys   []string       // the command's fields, in the order sent
	Fields map[string]any // numbers as json.Number
	Raw    []byte
}

// post makes a signed admin call. body is sent as is when it is a string
// or []byte, else as its JSON.
func (e *env) post(t testing.TB, service, command string, body any) answer {
	t.Helper()
	return e.postQuery(t, service, command, e.adminQuery(), body)
}

func (e *env) postQuery(t testing.TB, service, command string, q url.Values, body any) answer {
	t.Helper()
	return do(t, http.MethodPost, e.url(service, command, q), bodyBytes(t, body))
}

func bodyBytes(t testing.TB, body any) []byte {
	t.Helper()
	switch b := body.(type) {
	case string:
		return []byte(b)
	case []byte:
		return b
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("marshal body: %v", err)
	}
	return b
}

func do(t testing.TB, method, rawURL string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return roundTrip(t, req)
}

func roundTrip(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d, want 200; body %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", got)
	}
	a, err := parseAnswer(raw)
	if err != nil {
		t.Fatalf("%s %s: %v; body %s", req.Method, req.URL.Path, err, raw)
	}
	return a
}

// parseAnswer checks the envelope: a JSON object whose first three keys are
// ActionStatus, ErrorInfo and ErrorCode, with their types, OK exactly when
// the code is 0, and nothing after the object.
func parseAnswer(raw []byte) (answer, error) {
	a := answer{Raw: raw, Fields: map[string]any{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return a, fmt.Errorf("answer is not a JSON object")
	}
	var keys []string
	values := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return a, fmt.Errorf("bad key: %v", err)
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return a, fmt.Errorf("bad value of %s: %v", key, err)
		}
		if _, dup := values[key]; dup {
			return a, fmt.Errorf("duplicate key %s", key)
		}
		keys = append(keys, key)
		values[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return a, fmt.Errorf("unterminated object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return a, fmt.Errorf("data after the answer object")
	}
	if len(keys) < 3 || keys[0] != "ActionStatus" || keys[1] != "ErrorInfo" || keys[2] != "ErrorCode" {
		return a, fmt.Errorf("envelope keys %v, want ActionStatus, ErrorInfo, ErrorCode first", keys)
	}
	status, ok1 := values["ActionStatus"].(string)
	info, ok2 := values["ErrorInfo"].(string)
	code, ok3 := values["ErrorCode"].(json.Number)
	if !ok1 || !ok2 || !ok3 {
		return a, fmt.Errorf("envelope types: ActionStatus %T, ErrorInfo %T, ErrorCode %T", values["ActionStatus"], values["ErrorInfo"], values["ErrorCode"])
	}
	n, err := code.Int64()
	if err != nil {
		return a, fmt.Errorf("ErrorCode %s is not an integer", code)
	}
	a.Status, a.Info, a.Code = status, info, int(n)
	switch {
	case status != "OK" && status != "FAIL":
		return a, fmt.Errorf("ActionStatus %q", status)
	case (status == "OK") != (n == 0):
		return a, fmt.Errorf("ActionStatus %s with ErrorCode %d", status, n)
	case status == "OK" && info != "":
		return a, fmt.Errorf("OK answer with ErrorInfo %q", info)
	case status == "FAIL" && info == "":
		return a, fmt.Errorf("FAIL answer without ErrorInfo")
	}
	for _, k := range keys[3:] {
		a.Keys = append(a.Keys, k)
		a.Fields[k] = values[k]
	}
	return a, nil
}

func (a answer) wantCode(t testing.TB, want int) {
	t.Helper()
	if a.Code != want {
		t.Fatalf("ErrorCode = %d (%s), want %d; answer %s", a.Code, a.Info, want, a.Raw)
	}
}

func (a answer) ok(t testing.TB) answer {
	t.Helper()
	a.wantCode(t, 0)
	return a
}

// num reads an integer field, failing unless it is a JSON integer.
func num(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s is not an integer", n)
	}
	return i
}

func str(t testing.TB, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON string", v, v)
	}
	return s
}

func list(t testing.TB, v any) []map[string]any {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON array", v, v)
	}
	out := make([]map[string]any, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("element %d: %v (%T) is not an object", i, e, e)
		}
		out[i] = m
	}
	return out
}

func (e *env) importAccounts(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		e.post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}).ok(t)
	}
}

func text(s string) []any {
	return []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": s}}}
}

// sendText sends a text from → to and returns the sendmsg answer.
func (e *env) sendText(t testing.TB, from, to string, random uint32, s string) answer {
	t.Helper()
	return e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": from, "To_Account": to, "MsgRandom": random, "MsgBody": text(s),
	}).ok(t)
}

// knownIDs are every account any test touches; snapshot looks at all.
var knownIDs = []string{admin, "alice", "bob", "carol", "dave", "ghost", "newbie", "m1", "m2", "m3"}

// snapshot renders everything a request could have stored: accounts,
// every conversation's messages from both sides, read state and unread
// counts, and the outbox.
func (e *env) snapshot(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	accounts, err := e.store.AccountGetMany(ctx, knownIDs)
	if err != nil {
		t.Fatalf("AccountGetMany: %v", err)
	}
	sort.Slice(accounts, func(i, j int) bool { return accounts[i].UserID < accounts[j].UserID })
	for _, a := range accounts {
		fmt.Fprintf(&b, "account %s %q %q\n", a.UserID, a.Nick, a.FaceURL)
	}
	for _, owner := range knownIDs {
		for _, peer := range knownIDs {
			if owner == peer {
				continue
			}
			msgs, err := e.store.MessageList(ctx, parley.MessageListParams{Owner: owner, Peer: peer, MaxTime: math.MaxInt64, Limit: 10000})
			if err != nil {
				t.Fatalf("MessageList: %v", err)
			}
			for _, m := range msgs {
				fmt.Fprintf(&b, "msg %s→%s %d %s recalled=%v\n", owner, peer, m.ID, m.MsgKey, m.Recalled)
			}
			c, err := e.store.ConversationGet(ctx, owner, peer)
			if err != nil {
				t.Fatalf("ConversationGet: %v", err)
			}
			fmt.Fprintf(&b, "conv %s→%s read=%d unread=%d\n", owner, peer, c.ReadTime, c.Unread)
		}
	}
	events, err := e.store.EventList(ctx, parley.EventListParams{Limit: 100000})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	for _, ev := range events {
		fmt.Fprintf(&b, "event %s %s\n", ev.ID, ev.Command)
	}
	return b.String()
}

func (e *env) events(t testing.TB, command string) []*parley.Event {
	t.Helper()
	evs, err := e.store.EventList(context.Background(), parley.EventListParams{Command: command, Limit: 100000})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	return evs
}

// obj builds a request body from JSON fragments: key, raw value, ...
func obj(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", kv[i], kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// with returns kv with key set to raw (replacing or appending); a raw of
// "" removes the key.
func with(kv []string, key, raw string) []string {
	out := slices.Clone(kv)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] == key {
			if raw == "" {
				return slices.Delete(out, i, i+2)
			}
			out[i+1] = raw
			return out
		}
	}
	if raw == "" {
		return out
	}
	return append(out, key, raw)
}

// quotedList renders n JSON strings: ["p0","p1",...].
func quotedList(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// userItems renders n [{"UserID":...}] items.
func userItems(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"UserID":"u%d"}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
