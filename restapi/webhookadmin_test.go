package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/usersig"
)

const webhookSvc = "parley_webhook"

// The store is a restapi.Outbox.
var _ restapi.Outbox = parley.Store(nil)

// adminEnv is the REST handler with the parley_webhook service on: a real
// engine on a real SQLite file, the outbox, and a count of the wake-ups
// the handler sends the delivery worker.
type adminEnv struct {
	*env
	woken atomic.Int64
}

func setupAdmin(t testing.TB) *adminEnv {
	t.Helper()
	e := &adminEnv{env: &env{clock: parleytest.NewClock(time.Unix(1_750_000_000, 0))}}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db"), Now: e.clock.Now})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e.store = db
	engine, err := chat.New(chat.Config{Store: db, Admin: admin, CallbackEnabled: func(string) bool { return true }, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("chat.New: %v", err)
	}
	h, err := restapi.New(restapi.Config{
		Engine: engine, SDKAppID: appID, SecretKey: secret, Admin: admin, Now: e.clock.Now,
		Outbox: db, OnEventsDue: func() { e.woken.Add(1) },
	})
	if err != nil {
		t.Fatalf("restapi.New: %v", err)
	}
	e.handler = h
	e.srv = newServer(t, h)
	e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 86400, Time: e.clock.Now()})
	return e
}

// event inserts an event of command created at created (relative to the
// clock's time) and applies the outcomes given: "retry", "dead" or
// "delivered", each one attempt.
func (e *adminEnv) event(t testing.TB, name, command string, created time.Duration, outcomes ...string) *parley.Event {
	t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	ev := &parley.Event{
		ID:           "evt_" + name,
		Command:      command,
		Conversation: parley.C2CConversation("alice", "bob"),
		Body:         []byte(fmt.Sprintf(`{"CallbackCommand":%q,"Name":%q}`, command, name)),
		Origin:       parley.Origin{ClientIP: "198.51.100.4", OptPlatform: parley.OptPlatformREST},
		CreatedAt:    now.Add(created),
	}
	if err := e.store.EventInsert(ctx, ev); err != nil {
		t.Fatalf("EventInsert: %v", err)
	}
	for i, o := range outcomes {
		a := parley.Attempt{EventSeq: ev.Seq, Attempt: i + 1, StartedAt: now.Add(time.Duration(i) * time.Second), Latency: 1500 * time.Microsecond}
		var err error
		switch o {
		case "retry":
			a.Status, a.Response, a.Error = 503, "busy", "callback answered HTTP 503, want 200"
			err = e.store.EventRetry(ctx, parley.EventRetryParams{ID: ev.ID, Attempts: i + 1, NextAttemptAt: now.Add(time.Hour), LastError: a.Error})
		case "dead":
			a.Error = "callback timed out after 2s"
			err = e.store.EventMarkDead(ctx, parley.EventMarkDeadParams{ID: ev.ID, Attempts: i + 1, LastError: a.Error, At: now})
		case "delivered":
			a.Status, a.Response = 200, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
			err = e.store.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: []string{ev.ID}, At: now.Add(2 * time.Second)})
		default:
			t.Fatalf("unknown outcome %q", o)
		}
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if err := e.store.AttemptInsert(ctx, []parley.Attempt{a}); err != nil {
			t.Fatalf("AttemptInsert: %v", err)
		}
	}
	return ev
}

func eventIDsOf(t testing.TB, a answer) []string {
	t.Helper()
	var ids []string
	for _, it := range list(t, a.Fields["Events"]) {
		ids = append(ids, str(t, it["EventId"]))
	}
	return ids
}

func TestWebhookAdminAuthenticated(t *testing.T) {
	e := setupAdmin(t)
	for _, command := range []string{"list_events", "get_event", "replay_event", "recover_events"} {
		t.Run(command, func(t *testing.T) {
			q := e.adminQuery()
			q.Del("usersig")
			e.postQuery(t, webhookSvc, command, q, `{}`).wantCode(t, parley.ErrURLParams)

			q = e.adminQuery()
			q.Set("usersig", genSig(t, usersig.GenParams{SDKAppID: appID, Key: "another key", Identifier: admin, Expire: 86400, Time: e.clock.Now()}))
			e.postQuery(t, webhookSvc, command, q, `{}`).wantCode(t, parley.ErrUserSigVerify)

			q = e.adminQuery()
			q.Set("identifier", "alice")
			q.Set("usersig", genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: "alice", Expire: 86400, Time: e.clock.Now()}))
			e.postQuery(t, webhookSvc, command, q, `{}`).wantCode(t, parley.ErrNeedAdmin)

			a := do(t, http.MethodGet, e.url(webhookSvc, command, e.adminQuery()), nil)
			a.wantCode(t, parley.ErrHTTPParse)
		})
	}
	e.post(t, webhookSvc, "nosuch", `{}`).wantCode(t, parley.ErrBadResource)

	// Without an Outbox the service is not there.
	plain := setup(t)
	plain.post(t, webhookSvc, "list_events", `{}`).wantCode(t, parley.ErrBadResource)
}

func TestListEvents(t *testing.T) {
	e := setupAdmin(t)
	send, recall := parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw
	p1 := e.event(t, "p1", send, -3*time.Hour)
	d1 := e.event(t, "d1", send, -2*time.Hour, "delivered")
	f1 := e.event(t, "f1", recall, -time.Hour, "retry")
	x1 := e.event(t, "x1", send, -30*time.Minute, "retry", "dead")
	d2 := e.event(t, "d2", recall, -time.Minute, "retry", "delivered")
	now := e.clock.Now().Unix()

	a := e.post(t, webhookSvc, "list_events", `{}`).ok(t)
	if got, want := a.Keys, []string{"Events", "NextCursor"}; !slices.Equal(got, want) {
		t.Errorf("answer keys = %v, want %v", got, want)
	}
	if got, want := eventIDsOf(t, a), []string{d2.ID, x1.ID, f1.ID, d1.ID, p1.ID}; !slices.Equal(got, want) {
		t.Errorf("list_events = %q, want newest first %q", got, want)
	}
	if c := str(t, a.Fields["NextCursor"]); c != "" {
		t.Errorf("NextCursor of the only page = %q, want empty", c)
	}

	// Every field of an item, in order.
	items := list(t, a.Fields["Events"])
	wantItems := map[string]string{
		p1.ID: fmt.Sprintf(`{"EventId":"evt_p1","Seq":%d,"Command":%q,"Conversation":"c2c:alice\u0000bob","State":"pending","Attempts":0,"CreatedAt":%d,"NextAttemptAt":%d,"DeliveredAt":0,"LastError":""}`,
			p1.Seq, send, now-3*3600, now), // due when inserted
		f1.ID: fmt.Sprintf(`{"EventId":"evt_f1","Seq":%d,"Command":%q,"Conversation":"c2c:alice\u0000bob","State":"pending","Attempts":1,"CreatedAt":%d,"NextAttemptAt":%d,"DeliveredAt":0,"LastError":"callback answered HTTP 503, want 200"}`,
			f1.Seq, recall, now-3600, now+3600),
		x1.ID: fmt.Sprintf(`{"EventId":"evt_x1","Seq":%d,"Command":%q,"Conversation":"c2c:alice\u0000bob","State":"dead","Attempts":2,"CreatedAt":%d,"NextAttemptAt":0,"DeliveredAt":0,"LastError":"callback timed out after 2s"}`,
			x1.Seq, send, now-1800),
		d2.ID: fmt.Sprintf(`{"EventId":"evt_d2","Seq":%d,"Command":%q,"Conversation":"c2c:alice\u0000bob","State":"delivered","Attempts":2,"CreatedAt":%d,"NextAttemptAt":0,"DeliveredAt":%d,"LastError":"callback answered HTTP 503, want 200"}`,
			d2.Seq, recall, now-60, now+2),
	}
	raw := rawEventItems(t, a.Raw)
	for i, it := range items {
		if want, ok := wantItems[str(t, it["EventId"])]; ok && raw[i] != want {
			t.Errorf("item %d\n got %s\nwant %s", i, raw[i], want)
		}
	}

	tests := []struct {
		body string
		want []*parley.Event
	}{
		{`{"State":"pending"}`, []*parley.Event{f1, p1}},
		{`{"State":"failed"}`, []*parley.Event{f1}},
		{`{"State":"delivered"}`, []*parley.Event{d2, d1}},
		{`{"State":"dead"}`, []*parley.Event{x1}},
		{fmt.Sprintf(`{"Command":%q}`, recall), []*parley.Event{d2, f1}},
		{fmt.Sprintf(`{"Since":%d}`, now-3600), []*parley.Event{d2, x1, f1}},
		{fmt.Sprintf(`{"Since":%d,"Until":%d}`, now-3*3600, now-2*3600), []*parley.Event{d1, p1}},
		{fmt.Sprintf(`{"Until":%d,"State":"pending","Command":%q}`, now-3*3600, send), []*parley.Event{p1}},
		{fmt.Sprintf(`{"Since":%d}`, now), nil},
		{`{"State":null,"Command":null,"Cursor":null,"Limit":null}`, []*parley.Event{d2, x1, f1, d1, p1}},
	}
	for _, tc := range tests {
		got := eventIDsOf(t, e.post(t, webhookSvc, "list_events", tc.body).ok(t))
		var want []string
		for _, ev := range tc.want {
			want = append(want, ev.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("list_events %s = %q, want %q", tc.body, got, want)
		}
	}
}

// rawEventItems returns the Events items of a list_events answer as sent.
func rawEventItems(t testing.TB, raw []byte) []string {
	t.Helper()
	var a struct{ Events []json.RawMessage }
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	out := make([]string, len(a.Events))
	for i, it := range a.Events {
		out[i] = string(it)
	}
	return out
}

func TestListEventsPages(t *testing.T) {
	e := setupAdmin(t)
	var want []string
	for i := range 7 {
		ev := e.event(t, fmt.Sprint(i), parley.CommandGroupAfterSendMsg, time.Duration(i)*time.Second)
		want = append([]string{ev.ID}, want...)
	}
	var got []string
	cursor, pages := "", 0
	for {
		body := `{"Limit":3}`
		if cursor != "" {
			body = fmt.Sprintf(`{"Limit":3,"Cursor":%q}`, cursor)
		}
		a := e.post(t, webhookSvc, "list_events", body).ok(t)
		got = append(got, eventIDsOf(t, a)...)
		pages++
		if cursor = str(t, a.Fields["NextCursor"]); cursor == "" {
			break
		}
		if pages > 3 {
			t.Fatalf("more than 3 pages of 3 for 7 events: %q", got)
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages: %q, want 3 pages: %q", pages, got, want)
	}
	// A page that ends exactly at the last event says there is no more.
	a := e.post(t, webhookSvc, "list_events", `{"Limit":7}`).ok(t)
	if c := str(t, a.Fields["NextCursor"]); c != "" || len(eventIDsOf(t, a)) != 7 {
		t.Errorf("a page of exactly all 7: NextCursor %q, %d events", c, len(eventIDsOf(t, a)))
	}
	// At most 100 by default.
	for i := range 100 {
		e.event(t, fmt.Sprint("more", i), parley.CommandGroupAfterSendMsg, 0)
	}
	a = e.post(t, webhookSvc, "list_events", `{}`).ok(t)
	if n, c := len(eventIDsOf(t, a)), str(t, a.Fields["NextCursor"]); n != 100 || c == "" {
		t.Errorf("list_events of 107 without a Limit: %d events, NextCursor %q; want 100 and a cursor", n, c)
	}
}

func TestWebhookAdminMalformed(t *testing.T) {
	e := setupAdmin(t)
	tests := []struct {
		command, body string
		want          int
	}{
		{"list_events", ``, parley.ErrBodyJSON},
		{"list_events", `[]`, parley.ErrBodyJSON},
		{"list_events", `{"State":`, parley.ErrBodyJSON},
		{"list_events", `{"State":1}`, parley.ErrFormat},
		{"list_events", `{"State":"lost"}`, parley.ErrFormat},
		{"list_events", `{"State":"Pending"}`, parley.ErrFormat},
		{"list_events", `{"Command":"C2C.Nothing"}`, parley.ErrFormat},
		{"list_events", `{"Command":["C2C.CallbackAfterSendMsg"]}`, parley.ErrFormat},
		{"list_events", `{"Since":"1750000000"}`, parley.ErrFormat},
		{"list_events", `{"Since":1.5}`, parley.ErrFormat},
		{"list_events", `{"Since":-1}`, parley.ErrFormat},
		{"list_events", `{"Until":99999999999999999}`, parley.ErrFormat},
		{"list_events", `{"Since":10,"Until":9}`, parley.ErrFormat},
		{"list_events", `{"Limit":0}`, parley.ErrFormat},
		{"list_events", `{"Limit":101}`, parley.ErrFormat},
		{"list_events", `{"Limit":"5"}`, parley.ErrFormat},
		{"list_events", `{"Cursor":5}`, parley.ErrFormat},
		{"list_events", `{"Cursor":"abc"}`, parley.ErrFormat},
		{"list_events", `{"Cursor":"-3"}`, parley.ErrFormat},
		{"get_event", `{}`, parley.ErrFormat},
		{"get_event", `{"EventId":""}`, parley.ErrFormat},
		{"get_event", `{"EventId":7}`, parley.ErrFormat},
		{"get_event", `{"EventId":"evt_nothing"}`, parley.ErrEventNotFound},
		{"get_event", `nope`, parley.ErrBodyJSON},
		{"replay_event", `{}`, parley.ErrFormat},
		{"replay_event", `{"EventId":"evt_nothing"}`, parley.ErrEventNotFound},
		{"recover_events", `{}`, parley.ErrFormat},
		{"recover_events", `{"Until":5}`, parley.ErrFormat},
		{"recover_events", `{"Since":"5"}`, parley.ErrFormat},
		{"recover_events", `{"Since":6,"Until":5}`, parley.ErrFormat},
	}
	for _, tc := range tests {
		a := e.post(t, webhookSvc, tc.command, tc.body)
		if a.Code != tc.want {
			t.Errorf("%s %s = %d (%s), want %d", tc.command, tc.body, a.Code, a.Info, tc.want)
		}
	}
	if a := e.post(t, webhookSvc, "get_event", `{"EventId":"evt_nothing"}`); !strings.Contains(a.Info, "evt_nothing") {
		t.Errorf("unknown event's ErrorInfo = %q, want it to name the event", a.Info)
	}
	if n := e.woken.Load(); n != 0 {
		t.Errorf("failed calls woke the worker %d times", n)
	}
}

func TestGetEvent(t *testing.T) {
	e := setupAdmin(t)
	ev := e.event(t, "x", parley.CommandC2CAfterSendMsg, -time.Minute, "retry", "delivered")
	a := e.post(t, webhookSvc, "get_event", fmt.Sprintf(`{"EventId":%q}`, ev.ID)).ok(t)
	if got, want := a.Keys, []string{"Event", "Attempts"}; !slices.Equal(got, want) {
		t.Errorf("answer keys = %v, want %v", got, want)
	}
	var got struct {
		Event    json.RawMessage
		Attempts []json.RawMessage
	}
	if err := json.Unmarshal(a.Raw, &got); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().Unix()
	wantEvent := fmt.Sprintf(`{"EventId":"evt_x","Seq":%d,"Command":"C2C.CallbackAfterSendMsg","Conversation":"c2c:alice\u0000bob","State":"delivered","Attempts":2,"CreatedAt":%d,"NextAttemptAt":0,"DeliveredAt":%d,"LastError":"callback answered HTTP 503, want 200","Body":{"CallbackCommand":"C2C.CallbackAfterSendMsg","Name":"x"},"ClientIP":"198.51.100.4","OptPlatform":"RESTAPI"}`,
		ev.Seq, now-60, now+2)
	if string(got.Event) != wantEvent {
		t.Errorf("Event\n got %s\nwant %s", got.Event, wantEvent)
	}
	wantAttempts := []string{
		fmt.Sprintf(`{"Attempt":1,"Time":%d,"Status":503,"LatencyMs":1.5,"Response":"busy","Error":"callback answered HTTP 503, want 200"}`, now),
		fmt.Sprintf(`{"Attempt":2,"Time":%d,"Status":200,"LatencyMs":1.5,"Response":"{\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\",\"ErrorCode\":0}","Error":""}`, now+1),
	}
	if len(got.Attempts) != len(wantAttempts) {
		t.Fatalf("Attempts = %s, want %d", got.Attempts, len(wantAttempts))
	}
	for i := range wantAttempts {
		if string(got.Attempts[i]) != wantAttempts[i] {
			t.Errorf("attempt %d\n got %s\nwant %s", i+1, got.Attempts[i], wantAttempts[i])
		}
	}

	// An event never attempted has an empty list, not null.
	fresh := e.event(t, "fresh", parley.CommandGroupAfterRecall, 0)
	a = e.post(t, webhookSvc, "get_event", fmt.Sprintf(`{"EventId":%q}`, fresh.ID)).ok(t)
	if !bytes.HasSuffix(a.Raw, []byte(`"Attempts":[]}`)) {
		t.Errorf("answer for an event without attempts = %s, want Attempts []", a.Raw)
	}
}

func TestReplayEvent(t *testing.T) {
	e := setupAdmin(t)
	dead := e.event(t, "dead", parley.CommandC2CAfterSendMsg, -time.Hour, "dead")
	e.clock.Advance(time.Minute)
	a := e.post(t, webhookSvc, "replay_event", fmt.Sprintf(`{"EventId":%q}`, dead.ID)).ok(t)
	item := a.Fields["Event"].(map[string]any)
	if str(t, item["State"]) != "pending" || num(t, item["NextAttemptAt"]) != e.clock.Now().Unix() || num(t, item["Attempts"]) != 1 {
		t.Errorf("replayed event = %s, want pending, due now, its 1 attempt kept", a.Raw)
	}
	if n := e.woken.Load(); n != 1 {
		t.Errorf("replay_event woke the worker %d times, want 1", n)
	}
	got, err := e.store.EventGet(context.Background(), dead.ID)
	if err != nil || got.State != parley.EventPending || !got.NextAttemptAt.Equal(e.clock.Now()) {
		t.Errorf("stored event after replay = %+v, %v", got, err)
	}
}

func TestRecoverEvents(t *testing.T) {
	e := setupAdmin(t)
	old := e.event(t, "old", parley.CommandC2CAfterSendMsg, -2*time.Hour, "dead")
	dead := e.event(t, "dead", parley.CommandC2CAfterSendMsg, -30*time.Minute, "dead")
	failed := e.event(t, "failed", parley.CommandC2CAfterSendMsg, -20*time.Minute, "retry")
	e.event(t, "ok", parley.CommandC2CAfterSendMsg, -10*time.Minute, "delivered")
	e.event(t, "new", parley.CommandC2CAfterSendMsg, -5*time.Minute)
	now := e.clock.Now()

	a := e.post(t, webhookSvc, "recover_events", fmt.Sprintf(`{"Since":%d}`, now.Add(-time.Hour).Unix())).ok(t)
	if got := num(t, a.Fields["Recovered"]); got != 2 {
		t.Errorf("Recovered = %d, want 2 (the dead and the failed event of the last hour)", got)
	}
	for ev, want := range map[*parley.Event]parley.EventState{old: parley.EventDead, dead: parley.EventPending, failed: parley.EventPending} {
		got, err := e.store.EventGet(context.Background(), ev.ID)
		if err != nil || got.State != want || (want == parley.EventPending && !got.NextAttemptAt.Equal(now)) {
			t.Errorf("%s after recover_events = %+v, %v; want %s", ev.ID, got, err, want)
		}
	}
	if n := e.woken.Load(); n != 1 {
		t.Errorf("recover_events woke the worker %d times, want 1", n)
	}
	// Until bounds it, inclusive to the end of its second.
	until := old.CreatedAt.Unix()
	a = e.post(t, webhookSvc, "recover_events", fmt.Sprintf(`{"Since":0,"Until":%d}`, until)).ok(t)
	if got := num(t, a.Fields["Recovered"]); got != 1 {
		t.Errorf("Recovered up to the old event's second = %d, want 1", got)
	}
	a = e.post(t, webhookSvc, "recover_events", fmt.Sprintf(`{"Since":%d}`, now.Unix())).ok(t)
	if got := num(t, a.Fields["Recovered"]); got != 0 {
		t.Errorf("Recovered since now = %d, want 0", got)
	}
	if n := e.woken.Load(); n != 2 {
		t.Errorf("after recovering nothing the worker was woken %d times in all, want 2", n)
	}
}

// FuzzWebhookAdmin sends any body to the parley_webhook commands: every
// answer is an envelope with a code the service documents, never an
// internal error.
func FuzzWebhookAdmin(f *testing.F) {
	for _, body := range []string{`{}`, `{"State":"failed","Limit":3,"Cursor":"12"}`, `{"Since":0,"Until":1}`,
		`{"EventId":"evt_x"}`, `{"Since":-1}`, `{"Limit":1e2}`, `{"Cursor":"9223372036854775807"}`, `{"Until":9223372036854775}`} {
		f.Add(byte(0), body)
	}
	e := setupAdmin(f)
	e.event(f, "x", parley.CommandC2CAfterSendMsg, 0, "retry")
	commands := []string{"list_events", "get_event", "replay_event", "recover_events"}
	codes := []int{0, parley.ErrBodyJSON, parley.ErrFormat, parley.ErrEventNotFound}
	f.Fuzz(func(t *testing.T, which byte, body string) {
		command := commands[int(which)%len(commands)]
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, e.url(webhookSvc, command, e.adminQuery()), strings.NewReader(body))
		e.handler.ServeHTTP(rec, req)
		a, err := parseAnswer(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%s %q: %v; answer %s", command, body, err, rec.Body.Bytes())
		}
		if !slices.Contains(codes, a.Code) {
			t.Fatalf("%s %q = %d (%s), want one of %v", command, body, a.Code, a.Info, codes)
		}
	})
}
