package delivery_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

// newWorker returns a worker for cfg with test defaults filled in, shut
// down when the test ends.
func newWorker(t testing.TB, cfg delivery.WorkerConfig) *delivery.Worker {
	t.Helper()
	if cfg.SDKAppID == 0 {
		cfg.SDKAppID = testAppID
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	w, err := delivery.NewWorker(cfg)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return w
}

func TestNewWorkerRejects(t *testing.T) {
	s := newStore(t)
	valid := delivery.WorkerConfig{Store: s, URL: "http://example.com/cb", SDKAppID: testAppID}
	tests := []struct {
		name   string
		change func(*delivery.WorkerConfig)
		want   string
	}{
		{"no store", func(c *delivery.WorkerConfig) { c.Store = nil }, "Store"},
		{"no URL", func(c *delivery.WorkerConfig) { c.URL = "" }, "URL"},
		{"bad scheme", func(c *delivery.WorkerConfig) { c.URL = "mailto:a@example.com" }, "scheme"},
		{"no SDKAppID", func(c *delivery.WorkerConfig) { c.SDKAppID = 0 }, "SDKAppID"},
		{"negative timeout", func(c *delivery.WorkerConfig) { c.Timeout = -1 }, "Timeout"},
		{"negative concurrency", func(c *delivery.WorkerConfig) { c.Concurrency = -1 }, "Concurrency"},
		{"negative batch", func(c *delivery.WorkerConfig) { c.BatchSize = -1 }, "BatchSize"},
		{"negative retry", func(c *delivery.WorkerConfig) { c.RetrySchedule = []time.Duration{time.Second, -time.Second} }, "RetrySchedule[1]"},
		{"negative cool-down", func(c *delivery.WorkerConfig) { c.BreakerCooldown = -time.Second }, "BreakerCooldown"},
		{"negative max cool-down", func(c *delivery.WorkerConfig) { c.BreakerMaxCooldown = -time.Second }, "BreakerMaxCooldown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := delivery.NewWorker(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewWorker() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestWorkerDelivers(t *testing.T) {
	tests := []struct {
		name  string
		token string
	}{
		{"unsigned", ""},
		{"signed", "s3cret token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			rc := newReceiver(t, answer(http.StatusOK, okReply))
			// Spacing and escapes that a re-encoding would change.
			body := `{"CallbackCommand":"C2C.CallbackAfterSendMsg",  "From_Account":"al\u0069ce","MsgBody":[ ]}`
			e := insertEvent(t, s, body)
			before := time.Now().Unix()
			w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL + "/hook?tenant=a%20b", Token: tt.token})
			w.Start()
			got := waitState(t, s, e.ID, parley.EventDelivered)
			after := time.Now().Unix()

			if got.DeliveredAt.IsZero() {
				t.Error("DeliveredAt is zero")
			}
			hits := rc.Hits()
			if len(hits) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(hits))
			}
			h := hits[0]
			if h.Method != http.MethodPost || h.Path != "/hook" {
				t.Errorf("request = %s %s, want POST /hook", h.Method, h.Path)
			}
			wantPrefix := "tenant=a%20b&SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json" +
				"&ClientIP=203.0.113.7&OptPlatform=RESTAPI"
			if !strings.HasPrefix(h.RawQuery, wantPrefix) {
				t.Errorf("query = %s\nwant it to start %s", h.RawQuery, wantPrefix)
			}
			wantKeys := []string{"CallbackCommand", "ClientIP", "OptPlatform", "SdkAppid", "contenttype", "tenant"}
			if tt.token != "" {
				wantKeys = append(wantKeys, "RequestTime", "Sign")
			}
			var keys []string
			for k, v := range h.Query {
				keys = append(keys, k)
				if len(v) != 1 {
					t.Errorf("query parameter %s appears %d times", k, len(v))
				}
			}
			slices.Sort(keys)
			slices.Sort(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("query parameters = %v, want %v", keys, wantKeys)
			}
			if tt.token != "" {
				rt, err := strconv.ParseInt(h.Query.Get("RequestTime"), 10, 64)
				if err != nil || rt < before || rt > after {
					t.Errorf("RequestTime = %q, want Unix seconds in [%d, %d]", h.Query.Get("RequestTime"), before, after)
				}
				if got, want := h.Query.Get("Sign"), delivery.Sign(tt.token, rt); got != want {
					t.Errorf("Sign = %s, want %s", got, want)
				}
			}
			if string(h.Body) != body {
				t.Errorf("body = %s\nwant %s", h.Body, body)
			}
			wantHeaders := map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "parley",
				"X-Parley-Event-Id": e.ID,
				"X-Parley-Attempt":  "1",
			}
			for k, want := range wantHeaders {
				if got := h.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestWorkerRetriesThenDelivers(t *testing.T) {
	s := newStore(t)
	rc := newReceiver(t, func(n int, _ *http.Request) (int, string) {
		if n == 1 {
			return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
		}
		return http.StatusOK, okReply
	})
	e := insertEvent(t, s, `{"n":1}`)
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL,
		RetrySchedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond},
	})
	w.Start()

	got := waitState(t, s, e.ID, parley.EventDelivered)
	if got.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2: the failed one and the one that delivered it", got.Attempts)
	}
	hits := rc.Hits()
	if want := []int{1, 2}; !slices.Equal(attempts(hits), want) {
		t.Errorf("X-Parley-Attempt of the requests = %v, want %v", attempts(hits), want)
	}
	for _, h := range hits {
		if got := h.Header.Get("X-Parley-Event-Id"); got != e.ID {
			t.Errorf("X-Parley-Event-Id = %q, want the same %q on every attempt", got, e.ID)
		}
	}
}

func TestWorkerFailures(t *testing.T) {
	short := []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	tests := []struct {
		name     string
		reply    replyFunc
		schedule []time.Duration
		attempts int
		wantErr  string
		timeout  time.Duration // zero: long enough never to matter
	}{
		{"schedule used up", answer(http.StatusInternalServerError, okReply), short, 3, "HTTP 500", 0},
		{"no retries", answer(http.StatusInternalServerError, okReply), []time.Duration{}, 1, "HTTP 500", 0},
		{"200 not JSON", answer(http.StatusOK, "OK"), []time.Duration{}, 1, "not JSON", 0},
		{"200 empty", answer(http.StatusOK, ""), []time.Duration{}, 1, "not JSON", 0},
		{"200 too large", answer(http.StatusOK, `"`+strings.Repeat("x", 70<<10)+`"`), []time.Duration{}, 1, "larger than", 0},
		{"timeout", hang(t), short[:1], 2, "timed out after 100ms", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			rc := newReceiver(t, tt.reply)
			var logs syncBuffer
			e := insertEvent(t, s, `{}`)
			w := newWorker(t, delivery.WorkerConfig{
				Store: s, URL: rc.URL, RetrySchedule: tt.schedule,
				Timeout: cmp.Or(tt.timeout, time.Minute),
				Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			w.Start()

			got := waitState(t, s, e.ID, parley.EventDead)
			if got.Attempts != tt.attempts {
				t.Errorf("Attempts = %d, want %d", got.Attempts, tt.attempts)
			}
			if !strings.Contains(got.LastError, tt.wantErr) {
				t.Errorf("LastError = %q, want it to mention %q", got.LastError, tt.wantErr)
			}
			var want []int
			for i := range tt.attempts {
				want = append(want, i+1)
			}
			if got := attempts(rc.Hits()); !slices.Equal(got, want) {
				t.Errorf("X-Parley-Attempt of the requests = %v, want %v", got, want)
			}

			// Every failed attempt is logged with what an operator needs.
			var failures []int
			for _, rec := range logs.Records(t) {
				if rec["event_id"] != e.ID {
					continue
				}
				if rec["command"] != parley.CommandC2CAfterSendMsg || !strings.Contains(fmt.Sprint(rec["error"]), tt.wantErr) {
					t.Errorf("log record %v lacks the command or error", rec)
				}
				failures = append(failures, int(rec["attempt"].(float64)))
			}
			if !slices.Equal(failures, want) {
				t.Errorf("logged failed attempts %v, want %v", failures, want)
			}
		})
	}
}

func TestWorkerJittersRetries(t *testing.T) {
	s := newStore(t)
	rc := newReceiver(t, answer(http.StatusServiceUnavailable, okReply))
	const n = 20
	var ids []string
	for i := range n {
		// One conversation each: a retry holds back the rest of its own.
		ids = append(ids, insertEventIn(t, s, parley.C2CConversation("alice", strconv.Itoa(i)), fmt.Sprintf(`{"n":%d}`, i)).ID)
	}
	// A stopped clock, just ahead of the inserts so they are due: without
	// jitter every retry would be at exactly now+1h.
	now := time.Now().Add(time.Second).Truncate(time.Second)
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, RetrySchedule: []time.Duration{time.Hour},
		Now: func() time.Time { return now },
	})
	w.Start()

	waitFor(t, 10*time.Second, "every event to fail once", func() bool {
		for _, id := range ids {
			if getEvent(t, s, id).Attempts != 1 {
				return false
			}
		}
		return true
	})
	// One second of slack for stores that keep whole seconds.
	lo, hi := now.Add(54*time.Minute-time.Second), now.Add(66*time.Minute+time.Second)
	distinct := map[int64]bool{}
	for _, id := range ids {
		e := getEvent(t, s, id)
		if e.State != parley.EventPending || !strings.Contains(e.LastError, "HTTP 503") {
			t.Errorf("event %s: state %s, LastError %q; want pending with the 503", id, e.State, e.LastError)
		}
		if e.NextAttemptAt.Before(lo) || e.NextAttemptAt.After(hi) {
			t.Errorf("NextAttemptAt = %v, want within 1h ±10%% of %v", e.NextAttemptAt, now)
		}
		distinct[e.NextAttemptAt.Unix()] = true
	}
	if len(distinct) < n/2 {
		t.Errorf("%d events failing at the same instant got only %d distinct retry times, want them spread", n, len(distinct))
	}
}

func TestWorkerReleasesCrashedLeases(t *testing.T) {
	s := newStore(t)
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	var ids []string
	for i := range 3 {
		ids = append(ids, insertEvent(t, s, fmt.Sprintf(`{"n":%d}`, i)).ID)
	}
	// A worker that crashed mid-attempt left these leased for a long time.
	now := time.Now()
	claimed, err := s.EventClaimDue(context.Background(), parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(24 * time.Hour), Limit: 10})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("EventClaimDue = %d events, %v; want 3", len(claimed), err)
	}

	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL})
	w.Start()
	for _, id := range ids {
		waitState(t, s, id, parley.EventDelivered)
	}
}

func TestWorkerShutdownWaitsForInFlight(t *testing.T) {
	s := newStore(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(int, *http.Request) (int, string) {
		once.Do(func() { close(arrived) })
		<-release
		return http.StatusOK, okReply
	})
	e := insertEvent(t, s, `{}`)
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL})
	w.Start()
	<-arrived

	done := make(chan error, 1)
	go func() { done <- w.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	default:
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the request finished")
	}
	// Recorded before Shutdown returned: no polling.
	if got := getEvent(t, s, e.ID); got.State != parley.EventDelivered {
		t.Errorf("in-flight event is %s after Shutdown, want delivered", got.State)
	}
	if n := len(rc.Hits()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestWorkerShutdownDeadlineLeavesLeases(t *testing.T) {
	s := newStore(t)
	blocking := newReceiver(t, hang(t))
	var ids []string
	for i := range 3 {
		ids = append(ids, insertEvent(t, s, fmt.Sprintf(`{"n":%d}`, i)).ID)
	}
	// One sender: the first event is in flight, the others claimed and
	// waiting for it.
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: blocking.URL, Timeout: time.Minute, Concurrency: 1})
	w.Start()
	waitFor(t, 10*time.Second, "the request to arrive", func() bool { return len(blocking.Hits()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if n := len(blocking.Hits()); n != 1 {
		t.Errorf("receiver got %d requests, want only the one in flight", n)
	}
	// Neither the abandoned attempt nor the ones not begun are failures:
	// still pending, still leased.
	for _, id := range ids {
		if got := getEvent(t, s, id); got.State != parley.EventPending || got.Attempts != 0 || got.LastError != "" {
			t.Errorf("event %s = %s, %d attempts, %q; want pending and untouched", id, got.State, got.Attempts, got.LastError)
		}
	}
	now := time.Now()
	if claimed, err := s.EventClaimDue(context.Background(), parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10}); err != nil || len(claimed) != 0 {
		t.Fatalf("EventClaimDue = %d events, %v; want all three still leased", len(claimed), err)
	}

	// The next process starts and delivers them.
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	w2 := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL})
	w2.Start()
	for _, id := range ids {
		waitState(t, s, id, parley.EventDelivered)
	}
}

func TestWorkerShutdownBeforeStart(t *testing.T) {
	s := newStore(t)
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL})
	for range 10 {
		w.Notify() // never blocks, started or not
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	e := insertEvent(t, s, `{}`)
	w.Start() // after Shutdown: does nothing
	w.Notify()
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if got := getEvent(t, s, e.ID); got.State != parley.EventPending || len(rc.Hits()) != 0 {
		t.Errorf("a worker started after Shutdown delivered: state %s, %d requests", got.State, len(rc.Hits()))
	}
}

// observedStore reports when the worker has gone idle and counts write
// transactions; everything else is the real store.
type observedStore struct {
	parley.Store
	idle chan struct{} // cap 1; a value after each EventNextDue
	txs  atomic.Int64
}

func (s *observedStore) EventNextDue(ctx context.Context) (time.Time, bool, error) {
	at, ok, err := s.Store.EventNextDue(ctx)
	select {
	case s.idle <- struct{}{}:
	default:
	}
	return at, ok, err
}

func (s *observedStore) InTx(ctx context.Context, fn func(tx parley.Querier) error) error {
	s.txs.Add(1)
	return s.Store.InTx(ctx, fn)
}

func TestWorkerNotifyWakesIdleWorker(t *testing.T) {
	s := &observedStore{Store: newStore(t), idle: make(chan struct{}, 1)}
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL})
	w.Start()
	select {
	case <-s.idle: // nothing due: the worker now sleeps for up to 30s
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never looked for the next due event")
	}

	e := insertEvent(t, s, `{}`)
	w.Notify()
	waitFor(t, 5*time.Second, "the notified event to be delivered", func() bool {
		return getEvent(t, s, e.ID).State == parley.EventDelivered
	})
}

func TestWorkerBatchesResults(t *testing.T) {
	const n = 64
	s := &gatedStore{Store: newStore(t), open: make(chan struct{})}
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	var ids []string
	for i := range n {
		// One conversation each, so that all n are in flight at once.
		ids = append(ids, insertEventIn(t, s, parley.C2CConversation("alice", strconv.Itoa(i)), fmt.Sprintf(`{"n":%d}`, i)).ID)
	}
	// The first write waits until every reply has been read, so the
	// results of all the other attempts queue up behind it.
	var read atomic.Int64
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body = &closeHook{ReadCloser: resp.Body, onClose: func() {
				if read.Add(1) == n {
					close(s.open)
				}
			}}
		}
		return resp, err
	})}
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, Concurrency: n, Client: client})
	w.Start()
	for _, id := range ids {
		waitState(t, s, id, parley.EventDelivered)
	}
	if got := s.txs.Load(); got > n/4 {
		t.Errorf("%d results were written in %d transactions, want them batched", n, got)
	}
}

// gatedStore holds every write transaction until open is closed, and
// counts them.
type gatedStore struct {
	parley.Store
	open chan struct{}
	txs  atomic.Int64
}

func (s *gatedStore) InTx(ctx context.Context, fn func(tx parley.Querier) error) error {
	s.txs.Add(1)
	<-s.open
	return s.Store.InTx(ctx, fn)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type closeHook struct {
	io.ReadCloser
	once    sync.Once
	onClose func()
}

func (c *closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.onClose)
	return err
}

// syncBuffer collects JSON log lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Records(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// BenchmarkWorker measures delivery from a full outbox to a local
// receiver: claims, signed POSTs over keep-alive connections, and the
// batched writes of the outcomes. The events of one conversation go one
// after another, so one conversation measures a chain's round trips and
// many measure the senders in parallel.
func BenchmarkWorker(b *testing.B) {
	for _, conversations := range []int{1, 1024} {
		b.Run(fmt.Sprintf("conversations=%d", conversations), func(b *testing.B) {
			benchmarkWorker(b, conversations)
		})
	}
}

func benchmarkWorker(b *testing.B, conversations int) {
	s := &observedStore{Store: newStore(b), idle: make(chan struct{}, 1)}
	var received atomic.Int64
	rc := newReceiver(b, func(int, *http.Request) (int, string) {
		received.Add(1)
		return http.StatusOK, okReply
	})
	body := `{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"alice","To_Account":"bob","MsgSeq":1,` +
		`"MsgRandom":2,"MsgTime":1700000000,"MsgKey":"1_2_1700000000","OnlineOnlyFlag":0,"SendMsgResult":0,` +
		`"ErrorInfo":"send msg succeed","UnreadMsgNum":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`
	ctx := context.Background()
	for i := 0; i < b.N; {
		err := s.InTx(ctx, func(tx parley.Querier) error {
			for j := 0; j < 500 && i < b.N; j, i = j+1, i+1 {
				e := newEvent(parley.C2CConversation("alice", strconv.Itoa(i%conversations)), body)
				if err := tx.EventInsert(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	w, err := delivery.NewWorker(delivery.WorkerConfig{Store: s, URL: rc.URL, Token: "token", SDKAppID: testAppID, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	txs := s.txs.Load()

	b.ResetTimer()
	start := time.Now()
	w.Start()
	tick := time.NewTicker(time.Millisecond)
	for received.Load() < int64(b.N) {
		<-tick.C
	}
	tick.Stop()
	if err := w.Shutdown(ctx); err != nil { // writes the last outcomes
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	pending, err := s.EventList(ctx, parley.EventListParams{State: parley.EventPending, Limit: 1})
	if err != nil || len(pending) != 0 {
		b.Fatalf("after delivering %d events: %d still pending, %v", b.N, len(pending), err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(s.txs.Load()-txs), "events/tx")
}
