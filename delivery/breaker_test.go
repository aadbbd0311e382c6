package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

// timedReceiver answers the first fail requests with HTTP 500 and the
// others with 200, and records when each request arrived and the events
// answered 200, in arrival order.
type timedReceiver struct {
	*receiver
	mu        sync.Mutex
	arrivals  []time.Time
	successes []string
}

func newTimedReceiver(t *testing.T, fail int) *timedReceiver {
	tr := &timedReceiver{}
	tr.receiver = newReceiver(t, func(n int, r *http.Request) (int, string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.arrivals = append(tr.arrivals, time.Now())
		if n <= fail {
			return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
		}
		tr.successes = append(tr.successes, r.Header.Get("X-Parley-Event-Id"))
		return http.StatusOK, okReply
	})
	return tr
}

func (tr *timedReceiver) Arrivals() []time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.arrivals)
}

func TestWorkerBreakerOpensProbesAndCloses(t *testing.T) {
	const (
		threshold = 3
		cooldown  = 100 * time.Millisecond
	)
	s := newStore(t)
	convs := insertConversations(t, s, 6, 3)
	// Three failures open the breaker, the first probe fails too and
	// doubles the cool-down, the second probe succeeds.
	rc := newTimedReceiver(t, threshold+1)
	var logs syncBuffer
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Concurrency: 1,
		RetrySchedule:    []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond},
		BreakerThreshold: threshold, BreakerCooldown: cooldown, BreakerMaxCooldown: time.Minute,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	w.Start()
	waitFor(t, 10*time.Second, "every event to be delivered", func() bool {
		pending, err := s.EventList(context.Background(), parley.EventListParams{State: parley.EventPending, Limit: 1})
		if err != nil {
			t.Fatalf("EventList: %v", err)
		}
		return len(pending) == 0
	})

	arrivals := rc.Arrivals()
	if got, want := len(arrivals), 18+threshold+1; got != want {
		t.Errorf("receiver got %d requests, want %d: the 18 events and %d failures, none while open", got, want, threshold+1)
	}
	// Attempts stop while the breaker is open: the first probe comes a
	// cool-down after the failure that opened it, the second twice that
	// after the failed probe.
	gaps := []struct {
		after int
		min   time.Duration
	}{{threshold - 1, cooldown}, {threshold, 2 * cooldown}}
	for _, g := range gaps {
		if got := arrivals[g.after+1].Sub(arrivals[g.after]); got < g.min {
			t.Errorf("request %d came %v after request %d, want at least %v (the breaker was open)", g.after+2, got, g.after+1, g.min)
		}
	}

	for c, events := range convs {
		var got []string
		rc.mu.Lock()
		for _, id := range rc.successes {
			if slices.Contains(ids(events), id) {
				got = append(got, id)
			}
		}
		rc.mu.Unlock()
		if want := ids(events); !slices.Equal(got, want) {
			t.Errorf("conversation %d: delivered %v, want %v (each once, in commit order)", c, got, want)
		}
		for _, e := range events {
			if got := getEvent(t, s, e.ID); got.State != parley.EventDelivered {
				t.Errorf("event %s is %s after %d attempts, want delivered", e.ID, got.State, got.Attempts)
			}
		}
	}
	totalAttempts := 0
	for _, events := range convs {
		for _, e := range events {
			// Less the attempt that delivered it, which counts too.
			totalAttempts += getEvent(t, s, e.ID).Attempts - 1
		}
	}
	if totalAttempts != threshold+1 {
		t.Errorf("the events count %d failed attempts, want %d: events held back by the open breaker must not be charged", totalAttempts, threshold+1)
	}

	if got := w.BreakerState(); got.State != delivery.CircuitClosed || got.Failures != 0 || !got.Enabled || got.Cooldown != 2*cooldown {
		t.Errorf("BreakerState() = %+v, want enabled, closed, no failures, last cool-down %v", got, 2*cooldown)
	}

	// Each change of state is logged once, with the URL and the error.
	var changes []string
	for _, rec := range logs.Records(t) {
		msg := fmt.Sprint(rec["msg"])
		if !strings.Contains(msg, "circuit breaker") {
			continue
		}
		changes = append(changes, strings.TrimSuffix(strings.Fields(msg)[3], ":"))
		if rec["url"] != rc.URL || !strings.Contains(fmt.Sprint(rec["last_error"]), "HTTP 500") {
			t.Errorf("log record %v lacks the URL or the last error", rec)
		}
	}
	if want := []string{"open", "half-open", "open", "half-open", "closed"}; !slices.Equal(changes, want) {
		t.Errorf("logged breaker changes %v, want %v", changes, want)
	}
}

// countingStore counts the store calls the worker makes.
type countingStore struct {
	parley.Store
	calls atomic.Int64
}

func (s *countingStore) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	s.calls.Add(1)
	return s.Store.EventClaimDue(ctx, p)
}

func (s *countingStore) EventNextDue(ctx context.Context) (time.Time, bool, error) {
	s.calls.Add(1)
	return s.Store.EventNextDue(ctx)
}

func (s *countingStore) InTx(ctx context.Context, fn func(tx parley.Querier) error) error {
	s.calls.Add(1)
	return s.Store.InTx(ctx, fn)
}

func TestWorkerBreakerOpenCostsNothing(t *testing.T) {
	const (
		threshold = 2
		probes    = 6
	)
	s := &countingStore{Store: newStore(t)}
	convs := insertConversations(t, s, 40, 2)
	// The store calls made before each request, read as it arrives.
	var mu sync.Mutex
	var callsAt []int64
	rc := newReceiver(t, func(int, *http.Request) (int, string) {
		mu.Lock()
		callsAt = append(callsAt, s.calls.Load())
		mu.Unlock()
		return http.StatusBadGateway, `{}`
	})
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Concurrency: 4, BatchSize: 16,
		// A failed event waits an hour, so every probe is a fresh event
		// and the events pending behind the breaker are all due.
		RetrySchedule:    []time.Duration{time.Hour, time.Hour},
		BreakerThreshold: threshold, BreakerCooldown: 30 * time.Millisecond, BreakerMaxCooldown: 30 * time.Millisecond,
	})
	w.Start()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d probes", probes), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(callsAt) >= threshold+4+probes // senders in flight when it opened may fail too
	})
	mu.Lock()
	calls := slices.Clone(callsAt)
	mu.Unlock()
	hits := len(rc.Hits())

	// Between two probes the worker claims one event, and writes its
	// outcome: a cool-down costs a couple of store calls, not one per
	// pending event or per millisecond.
	last := calls[len(calls)-probes:]
	t.Logf("%d requests; store calls made before each: %v", len(calls), calls)
	for i := 1; i < len(last); i++ {
		if got := last[i] - last[i-1]; got > 4 {
			t.Errorf("%d store calls between probes %d and %d, want at most 4", got, i, i+1)
		}
	}
	// Pending events are not charged for the open breaker: only the
	// events that were attempted count an attempt, and none is dead.
	attempted := 0
	for _, events := range convs {
		for _, e := range events {
			got := getEvent(t, s, e.ID)
			if got.State == parley.EventDead {
				t.Errorf("event %s dead-lettered while the breaker was open", e.ID)
			}
			attempted += got.Attempts
		}
	}
	if attempted > hits {
		t.Errorf("events count %d attempts, the receiver got %d requests", attempted, hits)
	}
	if hits >= len(convs) {
		t.Errorf("receiver got %d requests, want fewer than the %d conversations: the open breaker should hold them back", hits, len(convs))
	}
	if got := w.BreakerState(); got.State == delivery.CircuitClosed || got.Failures < threshold || !strings.Contains(got.LastError, "HTTP 502") {
		t.Errorf("BreakerState() = %+v, want open or half-open after %d failures, last error HTTP 502", got, threshold)
	}
}

func TestWorkerBreakerDisabled(t *testing.T) {
	s := newStore(t)
	convs := insertConversations(t, s, 12, 1)
	rc := newReceiver(t, answer(http.StatusInternalServerError, `{}`))
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Concurrency: 1, RetrySchedule: []time.Duration{},
		BreakerThreshold: -1,
	})
	w.Start()
	for _, events := range convs {
		waitState(t, s, events[0].ID, parley.EventDead)
	}
	if got := len(rc.Hits()); got != len(convs) {
		t.Errorf("receiver got %d requests, want %d: without a breaker every event is attempted", got, len(convs))
	}
	if got := w.BreakerState(); got.Enabled || got.State != delivery.CircuitClosed {
		t.Errorf("BreakerState() = %+v, want disabled and closed", got)
	}
}

func TestWorkerRetryAfter(t *testing.T) {
	schedule := []time.Duration{5 * time.Second}
	tests := []struct {
		name     string
		status   int
		header   string // Retry-After, with {date} for the clock's time + 90s; "" sends none
		schedule []time.Duration
		wantWait time.Duration // exact, unless jittered
		jittered bool          // the schedule's step, ±10%
		dead     bool
	}{
		{"429 seconds", http.StatusTooManyRequests, "120", schedule, 120 * time.Second, false, false},
		{"503 HTTP date", http.StatusServiceUnavailable, "{date}", schedule, 90 * time.Second, false, false},
		{"429 capped at an hour", http.StatusTooManyRequests, "86400", schedule, time.Hour, false, false},
		{"429 without Retry-After", http.StatusTooManyRequests, "", schedule, 5 * time.Second, true, false},
		{"429 unparsable Retry-After", http.StatusTooManyRequests, "soon", schedule, 5 * time.Second, true, false},
		{"500 ignores Retry-After", http.StatusInternalServerError, "120", schedule, 5 * time.Second, true, false},
		{"429 with the schedule used up", http.StatusTooManyRequests, "120", []time.Duration{}, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			e := insertEvent(t, s, `{}`)
			// A whole second, so that the HTTP date is exact, and not
			// before the event is due.
			start := time.Now().Add(time.Second).Truncate(time.Second)
			header := strings.ReplaceAll(tt.header, "{date}", start.Add(90*time.Second).UTC().Format(http.TimeFormat))
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if header != "" {
					w.Header().Set("Retry-After", header)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, `{}`)
			}))
			t.Cleanup(rc.Close)
			w := newWorker(t, delivery.WorkerConfig{
				Store: s, URL: rc.URL, RetrySchedule: tt.schedule,
				Now: func() time.Time { return start },
			})
			w.Start()
			var got *parley.Event
			waitFor(t, 10*time.Second, "the first attempt to be recorded", func() bool {
				got = getEvent(t, s, e.ID)
				return got.Attempts == 1
			})
			if got.Attempts != 1 || !strings.Contains(got.LastError, fmt.Sprintf("HTTP %d", tt.status)) {
				t.Errorf("Attempts = %d, LastError = %q; want 1 and HTTP %d: the attempt counts", got.Attempts, got.LastError, tt.status)
			}
			if tt.dead {
				if got.State != parley.EventDead {
					t.Errorf("State = %s, want dead", got.State)
				}
				return
			}
			wait := got.NextAttemptAt.Sub(start)
			if tt.jittered {
				if lo, hi := tt.wantWait*9/10, tt.wantWait*11/10; wait < lo || wait > hi {
					t.Errorf("retried after %v, want the schedule's %v ±10%%", wait, tt.wantWait)
				}
				return
			}
			if wait != tt.wantWait {
				t.Errorf("retried after %v, want %v", wait, tt.wantWait)
			}
		})
	}
}

// A Retry-After date already past means at once: the retry follows the
// failed attempt without waiting, and counts.
func TestWorkerRetryAfterInThePast(t *testing.T) {
	start := time.Now().Add(time.Second) // the event is due
	var dates atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dates.Add(1)
		w.Header().Set("Retry-After", start.Add(-time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(rc.Close)
	s := newStore(t)
	e := insertEvent(t, s, `{}`)
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, RetrySchedule: []time.Duration{time.Hour, time.Hour},
		Now: func() time.Time { return start },
	})
	w.Start()
	got := waitState(t, s, e.ID, parley.EventDead)
	if got.Attempts != 3 || dates.Load() != 3 {
		t.Errorf("dead after %d attempts and %d requests, want 3 of each (no waiting an hour)", got.Attempts, dates.Load())
	}
}

func TestCallerBreaker(t *testing.T) {
	const (
		threshold = 2
		cooldown  = time.Minute
	)
	var status atomic.Int64
	status.Store(http.StatusOK)
	release := make(chan struct{})
	var blockNext atomic.Bool
	rc := newReceiver(t, func(int, *http.Request) (int, string) {
		if blockNext.CompareAndSwap(true, false) {
			select {
			case <-release:
			case <-t.Context().Done():
			}
		}
		return int(status.Load()), `{"ActionStatus":"OK","ErrorCode":0}`
	})
	var clk clock
	var logs syncBuffer
	c, err := delivery.NewCaller(delivery.CallerConfig{
		URL: rc.URL, SDKAppID: testAppID, Timeout: 5 * time.Second, Now: clk.Now,
		BreakerThreshold: threshold, BreakerCooldown: cooldown, BreakerMaxCooldown: 3 * cooldown,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	call := func() error {
		_, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
		return err
	}
	// check makes a call and checks whether it reached the receiver and
	// what came back.
	check := func(step string, wantSent bool, wantErr error, wantState delivery.Circuit) {
		t.Helper()
		before := len(rc.Hits())
		err := call()
		if sent := len(rc.Hits()) > before; sent != wantSent {
			t.Errorf("%s: request sent = %v, want %v", step, sent, wantSent)
		}
		switch {
		case wantErr == nil && err != nil:
			t.Errorf("%s: Call() error = %v, want success", step, err)
		case wantErr != nil && !errors.Is(err, wantErr) && (err == nil || !strings.Contains(err.Error(), wantErr.Error())):
			t.Errorf("%s: Call() error = %v, want %v", step, err, wantErr)
		}
		if got := c.BreakerState().State; got != wantState {
			t.Errorf("%s: breaker %v, want %v", step, got, wantState)
		}
	}
	errHTTP500 := errors.New("HTTP 500")

	check("healthy", true, nil, delivery.CircuitClosed)
	status.Store(http.StatusInternalServerError)
	check("first failure", true, errHTTP500, delivery.CircuitClosed)
	check("second failure opens", true, errHTTP500, delivery.CircuitOpen)
	check("open: fails at once", false, delivery.ErrBreakerOpen, delivery.CircuitOpen)
	clk.Advance(cooldown - time.Second)
	check("still cooling down", false, delivery.ErrBreakerOpen, delivery.CircuitOpen)
	clk.Advance(time.Second)
	check("failed probe reopens", true, errHTTP500, delivery.CircuitOpen)
	if got := c.BreakerState().Cooldown; got != 2*cooldown {
		t.Errorf("cool-down after a failed probe = %v, want %v", got, 2*cooldown)
	}
	clk.Advance(cooldown)
	check("doubled cool-down", false, delivery.ErrBreakerOpen, delivery.CircuitOpen)
	clk.Advance(cooldown)
	check("second failed probe", true, errHTTP500, delivery.CircuitOpen)
	if got := c.BreakerState().Cooldown; got != 3*cooldown {
		t.Errorf("cool-down after two failed probes = %v, want %v (BreakerMaxCooldown)", got, 3*cooldown)
	}
	clk.Advance(3 * cooldown)

	// While the probe is in flight, other calls fail at once.
	status.Store(http.StatusOK)
	blockNext.Store(true)
	probe := make(chan error, 1)
	go func() { probe <- call() }()
	waitFor(t, 5*time.Second, "the probe to reach the receiver", func() bool { return !blockNext.Load() })
	if got := c.BreakerState().State; got != delivery.CircuitHalfOpen {
		t.Errorf("breaker during the probe = %v, want half-open", got)
	}
	if err := call(); !errors.Is(err, delivery.ErrBreakerOpen) {
		t.Errorf("Call() during the probe = %v, want ErrBreakerOpen", err)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	check("closed after the probe", true, nil, delivery.CircuitClosed)

	var changes []string
	for _, rec := range logs.Records(t) {
		if msg := fmt.Sprint(rec["msg"]); strings.Contains(msg, "circuit breaker") {
			changes = append(changes, strings.TrimSuffix(strings.Fields(msg)[3], ":"))
		}
	}
	if want := []string{"open", "half-open", "open", "half-open", "open", "half-open", "closed"}; !slices.Equal(changes, want) {
		t.Errorf("logged breaker changes %v, want %v", changes, want)
	}
}

// A dead before-send receiver costs each call the timeout only until the
// breaker opens; after that calls fail without waiting.
func TestCallerBreakerFailsFastOnAHangingReceiver(t *testing.T) {
	const timeout = 200 * time.Millisecond
	rc := newReceiver(t, hang(t))
	c, err := delivery.NewCaller(delivery.CallerConfig{
		URL: rc.URL, SDKAppID: testAppID, Timeout: timeout, BreakerThreshold: 2, BreakerCooldown: time.Hour,
		Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for i := range 2 {
		if _, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin); err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("call %d: error = %v, want a timeout", i+1, err)
		}
	}
	for i := range 50 {
		start := time.Now()
		_, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
		if !errors.Is(err, delivery.ErrBreakerOpen) {
			t.Fatalf("call %d after opening: error = %v, want ErrBreakerOpen", i+3, err)
		}
		if d := time.Since(start); d >= timeout {
			t.Fatalf("call %d after opening took %v, want well under the %v timeout", i+3, d, timeout)
		}
	}
	if got := len(rc.Hits()); got != 2 {
		t.Errorf("receiver got %d requests, want 2", got)
	}
}

func TestCallerCanceledCallsDoNotOpenTheBreaker(t *testing.T) {
	rc := newReceiver(t, hang(t))
	c, err := delivery.NewCaller(delivery.CallerConfig{URL: rc.URL, SDKAppID: testAppID, BreakerThreshold: 1, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		before := len(rc.Hits())
		go func() {
			_, err := c.Call(ctx, parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
			done <- err
		}()
		waitFor(t, 5*time.Second, "the request", func() bool { return len(rc.Hits()) > before })
		cancel()
		if err := <-done; err == nil || errors.Is(err, delivery.ErrBreakerOpen) {
			t.Fatalf("canceled Call() error = %v, want the cancellation", err)
		}
	}
	if got := c.BreakerState(); got.State != delivery.CircuitClosed || got.Failures != 0 {
		t.Errorf("BreakerState() = %+v, want closed with no failures", got)
	}
}
