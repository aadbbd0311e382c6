package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

// insertConversations adds perConversation events to each of n
// conversations in one transaction, round-robin so that their Seqs
// interleave, and returns each conversation's events in commit order.
func insertConversations(t testing.TB, s parley.Store, n, perConversation int) [][]*parley.Event {
	t.Helper()
	convs := make([][]*parley.Event, n)
	err := s.InTx(context.Background(), func(tx parley.Querier) error {
		for c := range convs {
			convs[c] = nil // InTx may run fn again
		}
		for i := range perConversation {
			for c := range convs {
				e := newEvent(parley.GroupConversation("@TGS#2G"+strconv.Itoa(c)), fmt.Sprintf(`{"c":%d,"i":%d}`, c, i))
				if err := tx.EventInsert(context.Background(), e); err != nil {
					return err
				}
				convs[c] = append(convs[c], e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("inserting events: %v", err)
	}
	return convs
}

// ids returns the IDs of events.
func ids(events []*parley.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

// hitIDs returns the X-Parley-Event-Id of each request.
func hitIDs(hits []hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Header.Get("X-Parley-Event-Id"))
	}
	return out
}

// flakyReceiver answers HTTP 500 to every third request of each
// conversation and 200 to the others. It records, per conversation, the
// events of all requests and of the answered-200 ones in arrival order.
type flakyReceiver struct {
	convOf map[string]int // event ID -> conversation

	mu        sync.Mutex
	requests  map[int][]string
	successes map[int][]string
	failures  map[int]int
}

func newFlakyReceiver(convs [][]*parley.Event) *flakyReceiver {
	f := &flakyReceiver{
		convOf:    map[string]int{},
		requests:  map[int][]string{},
		successes: map[int][]string{},
		failures:  map[int]int{},
	}
	for c, events := range convs {
		for _, e := range events {
			f.convOf[e.ID] = c
		}
	}
	return f
}

func (f *flakyReceiver) reply(_ int, r *http.Request) (int, string) {
	id := r.Header.Get("X-Parley-Event-Id")
	c := f.convOf[id]
	f.mu.Lock()
	f.requests[c] = append(f.requests[c], id)
	fail := len(f.requests[c])%3 == 0
	if fail {
		f.failures[c]++
	} else {
		f.successes[c] = append(f.successes[c], id)
	}
	f.mu.Unlock()
	if fail {
		return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
	}
	return http.StatusOK, okReply
}

func TestWorkerDeliversEachConversationInOrder(t *testing.T) {
	tests := []struct {
		name            string
		conversations   int
		perConversation int
		concurrency     int
		batchSize       int
	}{
		{"many conversations", 24, 12, 8, 32},
		{"conversations longer than a claim", 4, 40, 4, 16},
		{"one conversation", 1, 60, 0, 0},
		{"defaults", 60, 8, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			convs := insertConversations(t, s, tt.conversations, tt.perConversation)
			f := newFlakyReceiver(convs)
			rc := newReceiver(t, f.reply)
			w := newWorker(t, delivery.WorkerConfig{
				Store: s, URL: rc.URL,
				Concurrency: tt.concurrency, BatchSize: tt.batchSize,
				// Every third request of a conversation fails, so no event
				// fails twice: one retry is enough.
				RetrySchedule: []time.Duration{time.Millisecond, time.Millisecond},
				// Failures of parallel conversations can come five in a
				// row and open the breaker: order must survive that, and
				// a short cool-down keeps the test quick.
				BreakerCooldown: 5 * time.Millisecond, BreakerMaxCooldown: 20 * time.Millisecond,
			})
			w.Start()
			waitFor(t, 30*time.Second, "every event to be delivered", func() bool {
				pending, err := s.EventList(context.Background(), parley.EventListParams{State: parley.EventPending, Limit: 1})
				if err != nil {
					t.Fatalf("EventList: %v", err)
				}
				return len(pending) == 0
			})

			f.mu.Lock()
			defer f.mu.Unlock()
			for c, events := range convs {
				want := ids(events)
				if got := f.successes[c]; !slices.Equal(got, want) {
					t.Errorf("conversation %d: answered-200 requests in arrival order\n got %v\nwant %v (each event once, in commit order)", c, got, want)
				}
				// Each event is attempted only after the one before it was
				// delivered: its requests never go back to an earlier event.
				index := map[string]int{}
				for i, id := range want {
					index[id] = i
				}
				requests := f.requests[c]
				for i := 1; i < len(requests); i++ {
					if index[requests[i]] < index[requests[i-1]] {
						t.Errorf("conversation %d: request %d is event %d after event %d", c, i, index[requests[i]], index[requests[i-1]])
					}
				}
				if f.failures[c] == 0 {
					t.Errorf("conversation %d: no request failed, want every third to", c)
				}
				failed := map[string]int{}
				for i, id := range requests {
					if (i+1)%3 == 0 {
						failed[id]++
					}
				}
				for _, e := range events {
					got := getEvent(t, s, e.ID)
					// Attempts counts the one that delivered it too.
					if got.State != parley.EventDelivered || got.Attempts != failed[e.ID]+1 {
						t.Errorf("event %s: %s after %d attempts, want delivered after %d failed", e.ID, got.State, got.Attempts, failed[e.ID])
					}
				}
			}
		})
	}
}

func TestWorkerRunsConversationsInParallel(t *testing.T) {
	s := newStore(t)
	a := insertEventIn(t, s, parley.GroupConversation("@TGS#2A"), `{"c":"a"}`)
	b := insertEventIn(t, s, parley.GroupConversation("@TGS#2B"), `{"c":"b"}`)
	bArrived := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(_ int, r *http.Request) (int, string) {
		switch r.Header.Get("X-Parley-Event-Id") {
		case a.ID:
			// Answered only once B's request is in: delivered one
			// conversation at a time, A would wait for ever.
			select {
			case <-bArrived:
			case <-r.Context().Done():
			}
		case b.ID:
			once.Do(func() { close(bArrived) })
		}
		return http.StatusOK, okReply
	})
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, Concurrency: 2, Timeout: time.Minute})
	w.Start()
	for _, e := range []*parley.Event{a, b} {
		if got := waitState(t, s, e.ID, parley.EventDelivered); got.Attempts != 1 {
			t.Errorf("event %s delivered after %d attempts, want at the first", e.ID, got.Attempts)
		}
	}
}

// clock is a Now that a test moves forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func TestWorkerRetryHoldsBackOnlyItsConversation(t *testing.T) {
	s := newStore(t)
	convA, convB := parley.GroupConversation("@TGS#2A"), parley.GroupConversation("@TGS#2B")
	a1 := insertEventIn(t, s, convA, `{"a":1}`)
	b1 := insertEventIn(t, s, convB, `{"b":1}`)
	a2 := insertEventIn(t, s, convA, `{"a":2}`)
	b2 := insertEventIn(t, s, convB, `{"b":2}`)
	a3 := insertEventIn(t, s, convA, `{"a":3}`)
	var a1Failed atomic.Bool
	rc := newReceiver(t, func(_ int, r *http.Request) (int, string) {
		if r.Header.Get("X-Parley-Event-Id") == a1.ID && a1Failed.CompareAndSwap(false, true) {
			return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
		}
		return http.StatusOK, okReply
	})
	clk := &clock{}
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Now: clk.Now,
		RetrySchedule: []time.Duration{time.Hour},
	})
	w.Start()

	waitState(t, s, b1.ID, parley.EventDelivered)
	waitState(t, s, b2.ID, parley.EventDelivered)
	waitFor(t, 10*time.Second, "the retry of a1 to be scheduled", func() bool { return getEvent(t, s, a1.ID).Attempts == 1 })
	for _, e := range []*parley.Event{a2, a3} {
		if got := getEvent(t, s, e.ID); got.State != parley.EventPending || got.Attempts != 0 {
			t.Errorf("event %s is %s with %d attempts while a1 waits for its retry, want pending and untouched", e.ID, got.State, got.Attempts)
		}
	}

	clk.Advance(2 * time.Hour)
	w.Notify()
	for _, e := range []*parley.Event{a1, a2, a3} {
		waitState(t, s, e.ID, parley.EventDelivered)
	}
	var gotA, gotB []string
	for _, id := range hitIDs(rc.Hits()) {
		switch id {
		case a1.ID, a2.ID, a3.ID:
			gotA = append(gotA, id)
		default:
			gotB = append(gotB, id)
		}
	}
	if want := []string{a1.ID, a1.ID, a2.ID, a3.ID}; !slices.Equal(gotA, want) {
		t.Errorf("requests of conversation A = %v, want %v: a1, its retry, then the rest", gotA, want)
	}
	if want := []string{b1.ID, b2.ID}; !slices.Equal(gotB, want) {
		t.Errorf("requests of conversation B = %v, want %v", gotB, want)
	}
}

func TestWorkerDeadLetterLetsTheNextGo(t *testing.T) {
	tests := []struct {
		name     string
		failing  int // index of the event that always fails
		schedule []time.Duration
		want     []int // the events of the requests, in order
	}{
		{"head, no retries", 0, []time.Duration{}, []int{0, 1, 2}},
		{"head, after a retry", 0, []time.Duration{time.Millisecond}, []int{0, 0, 1, 2}},
		{"middle, no retries", 1, []time.Duration{}, []int{0, 1, 2}},
		{"middle, after two retries", 1, []time.Duration{time.Millisecond, time.Millisecond}, []int{0, 1, 1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			events := insertConversations(t, s, 1, 3)[0]
			failing := events[tt.failing].ID
			rc := newReceiver(t, func(_ int, r *http.Request) (int, string) {
				if r.Header.Get("X-Parley-Event-Id") == failing {
					return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
				}
				return http.StatusOK, okReply
			})
			w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, RetrySchedule: tt.schedule})
			w.Start()

			for i, e := range events {
				want := parley.EventDelivered
				if i == tt.failing {
					want = parley.EventDead
				}
				waitState(t, s, e.ID, want)
			}
			var want []string
			for _, i := range tt.want {
				want = append(want, events[i].ID)
			}
			if got := hitIDs(rc.Hits()); !slices.Equal(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
			if got := getEvent(t, s, failing); got.Attempts != len(tt.schedule)+1 {
				t.Errorf("dead event has %d attempts, want %d", got.Attempts, len(tt.schedule)+1)
			}
		})
	}
}

func TestWorkerWakesWhenAChainEnds(t *testing.T) {
	s := &observedStore{Store: newStore(t), idle: make(chan struct{}, 1)}
	conv := parley.GroupConversation("@TGS#2A")
	a1 := insertEventIn(t, s, conv, `{"a":1}`)
	arrived, release := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(_ int, r *http.Request) (int, string) {
		if r.Header.Get("X-Parley-Event-Id") == a1.ID {
			close(arrived)
			<-release
		}
		return http.StatusOK, okReply
	})
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, Timeout: time.Minute})
	w.Start()
	waitIdle := func(what string) {
		t.Helper()
		select {
		case <-s.idle:
		case <-time.After(10 * time.Second):
			t.Fatalf("the worker never went idle %s", what)
		}
	}
	<-arrived
	waitIdle("after claiming a1")

	// a2 is held back while a1 is in flight: the claim it prompts finds
	// nothing and the worker goes idle with nothing due.
	a2 := insertEventIn(t, s, conv, `{"a":2}`)
	w.Notify()
	waitIdle("after a2 was committed")
	close(release)

	// Only the write of a1's outcome can wake the worker before its
	// 30-second idle wait ends.
	waitState(t, s, a2.ID, parley.EventDelivered)
	if got, want := hitIDs(rc.Hits()), []string{a1.ID, a2.ID}; !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

// doneWatcher is a context that reports the first time Done is asked for.
// Shutdown asks only once it has stopped claiming and attempting, so a
// request answered after that is the last of its chain.
type doneWatcher struct {
	context.Context
	asked chan struct{}
	once  sync.Once
}

func (c *doneWatcher) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

func TestWorkerShutdownMidChainThenRestart(t *testing.T) {
	tests := []struct {
		name string
		// graceful: the attempt in flight is answered and recorded;
		// otherwise Shutdown's deadline cuts it short.
		graceful      bool
		wantDelivered int // events delivered before the restart
	}{
		{"graceful", true, 2},
		{"deadline", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			events := insertConversations(t, s, 1, 5)[0]
			shutdown := &doneWatcher{Context: context.Background(), asked: make(chan struct{})}
			first := newReceiver(t, func(n int, r *http.Request) (int, string) {
				if n == 2 {
					if !tt.graceful {
						<-r.Context().Done()
						return http.StatusOK, okReply
					}
					select {
					case <-shutdown.asked:
					case <-t.Context().Done():
					}
				}
				return http.StatusOK, okReply
			})
			w := newWorker(t, delivery.WorkerConfig{Store: s, URL: first.URL, Timeout: time.Minute})
			w.Start()
			waitFor(t, 10*time.Second, "the second event's request", func() bool { return len(first.Hits()) == 2 })

			if tt.graceful {
				if err := w.Shutdown(shutdown); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				if err := w.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
				}
			}
			if got, want := hitIDs(first.Hits()), ids(events[:2]); !slices.Equal(got, want) {
				t.Errorf("requests before Shutdown returned = %v, want %v", got, want)
			}
			for i, e := range events {
				got := getEvent(t, s, e.ID)
				want, attempts := parley.EventPending, 0
				if i < tt.wantDelivered {
					want, attempts = parley.EventDelivered, 1
				}
				if got.State != want || got.Attempts != attempts {
					t.Errorf("event %d is %s with %d attempts, want %s with %d", i, got.State, got.Attempts, want, attempts)
				}
			}
			now := time.Now()
			claimed, err := s.EventClaimDue(context.Background(), parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
			if err != nil || len(claimed) != 0 {
				t.Fatalf("EventClaimDue = %d events, %v; want the rest of the chain still leased", len(claimed), err)
			}

			second := newReceiver(t, answer(http.StatusOK, okReply))
			w2 := newWorker(t, delivery.WorkerConfig{Store: s, URL: second.URL})
			w2.Start()
			for _, e := range events {
				waitState(t, s, e.ID, parley.EventDelivered)
			}
			if got, want := hitIDs(second.Hits()), ids(events[tt.wantDelivered:]); !slices.Equal(got, want) {
				t.Errorf("requests after the restart = %v, want the rest in order %v", got, want)
			}
		})
	}
}

func TestWorkerLeaseCoversChains(t *testing.T) {
	// A chain waits for the attempts ahead of it in the window,
	// Concurrency at a time, then may make up to 32 attempts (never more
	// than a claim holds): (⌈(Concurrency+BatchSize)/Concurrency⌉ +
	// min(32, BatchSize)) timeouts, and 30 s more.
	tests := []struct {
		name        string
		concurrency int
		batchSize   int
		timeout     time.Duration
		want        time.Duration
	}{
		{"defaults", 0, 0, 0, (3+32)*2*time.Second + 30*time.Second},
		{"one at a time", 1, 1, time.Second, (2+1)*time.Second + 30*time.Second},
		{"small batches", 4, 8, time.Second, (3+8)*time.Second + 30*time.Second},
		{"few senders", 4, 64, 100 * time.Millisecond, (17+32)*100*time.Millisecond + 30*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &claimStore{Store: newStore(t), leases: make(chan time.Duration, 1)}
			w := newWorker(t, delivery.WorkerConfig{
				Store: s, URL: "http://127.0.0.1:1/unused",
				Concurrency: tt.concurrency, BatchSize: tt.batchSize, Timeout: tt.timeout,
			})
			w.Start()
			select {
			case got := <-s.leases:
				if got != tt.want {
					t.Errorf("lease = %v, want %v", got, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the worker never claimed")
			}
		})
	}
}

// claimStore records the lease of each claim and the events of each claim
// that found some.
type claimStore struct {
	parley.Store
	leases chan time.Duration // the first lease; nil: not recorded

	mu     sync.Mutex
	claims [][]string
}

func (s *claimStore) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	select {
	case s.leases <- p.LeaseUntil.Sub(p.Now):
	default:
	}
	evs, err := s.Store.EventClaimDue(ctx, p)
	if len(evs) > 0 {
		s.mu.Lock()
		s.claims = append(s.claims, ids(evs))
		s.mu.Unlock()
	}
	return evs, err
}

func (s *claimStore) Claims() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.claims)
}

func TestWorkerCutsAChainThatRunsOutOfLease(t *testing.T) {
	s := &claimStore{Store: newStore(t)}
	events := insertConversations(t, s, 1, 5)[0]
	clk := &clock{}
	// One sender, claims of 8, 1s timeout: a chain may make attempts for
	// (9 + 8) x 1s after its claim.
	const budget = 17 * time.Second
	rc := newReceiver(t, func(n int, _ *http.Request) (int, string) {
		if n == 2 {
			clk.Advance(budget)
		}
		return http.StatusOK, okReply
	})
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Now: clk.Now,
		Concurrency: 1, BatchSize: 8, Timeout: time.Second,
	})
	w.Start()
	for _, e := range events {
		waitState(t, s, e.ID, parley.EventDelivered)
	}
	if got, want := hitIDs(rc.Hits()), ids(events); !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	// The third attempt could have ended after the lease: the rest of the
	// chain was claimed again instead.
	if got, want := s.Claims(), [][]string{ids(events), ids(events[2:])}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("claims = %v, want %v", got, want)
	}
}
