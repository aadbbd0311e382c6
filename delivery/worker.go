package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
)

const (
	defaultConcurrency = 128
	defaultBatchSize   = 256
	// chainAttempts is how many attempts in a row the lease lets a chain
	// make however long it waited for a sender. Covering every attempt of
	// the longest chain instead would take BatchSize timeouts (over 8
	// minutes with the defaults), and the lease is also how long an event
	// whose outcome could not be written holds back its conversation. So
	// a chain is cut when its time is up, not for its length: the rest is
	// released, to be claimed again with a fresh lease. A receiver that
	// answers quickly never sees the cut, and a conversation with a
	// backlog does not pay for a claim every few events.
	chainAttempts = 32
	// leaseMargin is added to the longest a claimed event can wait for and
	// take its attempt, to make a claim's lease: a live worker always
	// finishes (and records) an attempt before another claim could take
	// the event.
	leaseMargin = 30 * time.Second
	// maxIdle bounds an idle wait, so events written by something that
	// does not call Notify (another process on the same database, a lease
	// that expired after a failed write) are still found.
	maxIdle = 30 * time.Second
	// minEmptyWait is the shortest wait after a claim that found nothing:
	// if the store reported an event as due that it will not let be
	// claimed, the loop polls instead of spinning.
	minEmptyWait = 10 * time.Millisecond
	// storeErrorWait is how long the loop waits after a failed store call.
	storeErrorWait = time.Second
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Store    parley.Store
	URL      string // the callback URL; its own query, if any, is kept
	Token    string // webhook authentication token; "" means no Sign/RequestTime
	SDKAppID uint64
	// Secrets are the Standard Webhooks secrets ("whsec_" and the base64
	// of at least 24 bytes) that sign every request with the webhook-id,
	// webhook-timestamp and webhook-signature headers, one signature per
	// secret: list the new secret and the old one while receivers move
	// to the new. Empty means no Standard Webhooks headers.
	Secrets []string
	// Timeout bounds each attempt, including reading the reply. Zero
	// means 2s.
	Timeout time.Duration
	// RetrySchedule is the wait before each retry: a failed attempt n is
	// retried after about RetrySchedule[n-1] (±10%), and the event is
	// dead-lettered once the schedule is used up. A receiver that answers
	// 429 or 503 with Retry-After (seconds or an HTTP date) is retried
	// after exactly that wait instead, capped at one hour; the attempt
	// counts all the same. Nil means DefaultRetrySchedule(); a non-nil
	// empty schedule means no retries.
	RetrySchedule []time.Duration
	// BreakerThreshold is how many failed attempts in a row open the
	// circuit breaker of the URL (any failure counts: transport error,
	// timeout, any status but 200, a reply that is not JSON). While it is
	// open the worker claims nothing and attempts nothing. Zero means 5;
	// negative switches the breaker off.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one probe
	// attempt; each failed probe doubles it, up to BreakerMaxCooldown.
	// Zero means 5s.
	BreakerCooldown time.Duration
	// BreakerMaxCooldown caps the doubled cool-down. Zero means 5 minutes;
	// it is never less than BreakerCooldown.
	BreakerMaxCooldown time.Duration
	// Concurrency is the most POSTs in flight at once. Zero means 128: under
	// load the worker competes for CPU with every sendmsg handler, and with
	// 64 it fell a second behind at 256 senders (parley bench).
	Concurrency int
	// BatchSize is the most events claimed at once, and how many claimed
	// events may wait for a free sender, so that the senders have work
	// while the next claim commits. Zero means 256.
	BatchSize int
	// Client sends the requests. Nil means a keep-alive client owned by
	// the Worker, with Concurrency idle connections to the receiver.
	Client *http.Client
	// Now is the clock for claims, retries and RequestTime. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives one record per failed attempt, per change of the
	// breaker's state, and per store error. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, count the attempts by outcome, time them and
	// report the breaker's state as endpoint "worker". Nil means none.
	Metrics *Metrics
}

// Worker delivers the after-callbacks of the outbox. See the package
// documentation for how.
type Worker struct {
	store     parley.Store
	ep        endpoint
	breaker   *breaker
	metrics   *Metrics // nil: none
	timeout   time.Duration
	schedule  []time.Duration
	conc      int
	batch     int
	window    int           // claimed events not yet recorded: Concurrency in flight + BatchSize queued
	lowWater  int           // free room in the window worth a claim
	budget    time.Duration // after its claim, how long a chain may make attempts
	lease     time.Duration // how long a claim holds its events: budget + leaseMargin
	now       func() time.Time
	log       *slog.Logger
	transport *http.Transport // ours to close; nil when WorkerConfig.Client was given

	notify    chan struct{} // cap 1: "look for due events now"
	roomFreed chan struct{} // cap 1: a claimed event left the window
	claimed   atomic.Int64  // claimed events not yet handed to the flusher
	jobs      chan chain
	reports   chan report

	// ctx is the parent of every attempt and store call. Shutdown cancels
	// it only when its own context expires.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex // guards state
	state int
	stop  chan struct{} // closed by Shutdown: claim no more
	done  chan struct{} // closed when every goroutine has returned
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// chain is the events of one conversation in one claim, in Seq order.
type chain struct {
	events []*parley.Event
	// deadline is when the lease of the claim runs out, less leaseMargin:
	// no attempt starts that could end after it.
	deadline time.Time
	// probe says the first event's attempt is the breaker's probe, which
	// the claim loop reserved when it claimed the chain.
	probe bool
}

// report is what the flusher writes: the outcome of one attempt, and
// claimed events given up unattempted.
type report struct {
	ev      *parley.Event // nil when the report only releases
	attempt int
	// started (the worker's clock), took (the real one) and ans describe
	// the attempt, for the attempt log.
	started time.Time
	took    time.Duration
	ans     answer
	err     error     // nil: delivered
	retryAt time.Time // when the event is retried; zero when it is delivered or dead
	// ends is set on the last report of a chain: once it is written, the
	// store may let the conversation's next events be claimed.
	ends    bool
	release []string // IDs of claimed events to give back unattempted
}

// NewWorker validates cfg and returns a Worker; Start sets it going.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: Store is required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("delivery: Timeout %v is negative", cfg.Timeout)
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("delivery: Concurrency %d is negative", cfg.Concurrency)
	}
	if cfg.BatchSize < 0 {
		return nil, fmt.Errorf("delivery: BatchSize %d is negative", cfg.BatchSize)
	}
	for i, d := range cfg.RetrySchedule {
		if d < 0 {
			return nil, fmt.Errorf("delivery: RetrySchedule[%d] %v is negative", i, d)
		}
	}
	bc, err := newBreakerConfig(cfg.BreakerThreshold, cfg.BreakerCooldown, cfg.BreakerMaxCooldown)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	w := &Worker{
		store:     cfg.Store,
		timeout:   orDefault(cfg.Timeout, defaultTimeout),
		conc:      orDefault(cfg.Concurrency, defaultConcurrency),
		batch:     orDefault(cfg.BatchSize, defaultBatchSize),
		now:       cfg.Now,
		log:       cfg.Logger,
		notify:    make(chan struct{}, 1),
		roomFreed: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if cfg.RetrySchedule == nil {
		w.schedule = DefaultRetrySchedule()
	} else {
		w.schedule = slices.Clone(cfg.RetrySchedule)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	// Claims run ahead of the senders by up to a batch, so the senders
	// are not idle while a claim commits. A busy worker waits for a
	// quarter batch of room before claiming again, so claims come in
	// batches rather than a few rows per transaction.
	w.window = w.conc + w.batch
	w.lowWater = max(1, w.batch/4)
	// Chains leave the queue in order, each to the first free sender, so
	// every sender is busy until a chain's turn comes: it waits at most
	// for the attempts ahead of it in the window, Concurrency at a time.
	// Then it has time for chainAttempts attempts (a chain is never longer
	// than a claim).
	rounds := (w.window + w.conc - 1) / w.conc
	w.budget = time.Duration(rounds+min(chainAttempts, w.batch)) * w.timeout
	w.lease = w.budget + leaseMargin
	client := cfg.Client
	if client == nil {
		w.transport = newTransport(w.conc)
		client = &http.Client{Transport: w.transport}
	}
	ep, err := newEndpoint(cfg.URL, cfg.Token, cfg.Secrets, cfg.SDKAppID, client, w.now)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	w.ep = ep
	w.breaker = newBreaker(bc, ep.display, w.now, w.log)
	w.jobs = make(chan chain, w.window)
	w.reports = make(chan report, 2*max(w.conc, w.batch))
	w.metrics = cfg.Metrics
	if err := w.metrics.watchBreaker("worker", w.BreakerState); err != nil {
		return nil, err
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// BreakerState returns the state of the circuit breaker of the worker's
// URL.
func (w *Worker) BreakerState() BreakerState { return w.breaker.snapshot() }

// Start releases the leases a crashed process left behind, so their events
// are due at once, and starts delivering. Calling it again, or after
// Shutdown, does nothing.
func (w *Worker) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateNew {
		return
	}
	w.state = stateRunning
	if err := w.store.EventReleaseLeases(w.ctx); err != nil {
		// Not fatal: the leases expire on their own and the events are
		// claimed then.
		w.log.Error("delivery: releasing stale leases", "error", err)
	}
	var senders sync.WaitGroup
	for range w.conc {
		senders.Go(w.send)
	}
	go func() {
		senders.Wait()
		close(w.reports)
	}()
	go w.flushLoop()
	go w.claimLoop()
}

// Notify tells the worker that new events were committed. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Shutdown stops claiming, waits for the attempts in flight to finish and
// their results to be written, and stops the worker's goroutines. If ctx
// expires first, the attempts still in flight are abandoned, their events
// stay leased (the next Start releases them) and ctx's error is returned.
// It may be called more than once.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	switch w.state {
	case stateNew:
		w.state = stateStopped
		close(w.stop)
		close(w.done)
		w.cancel()
	case stateRunning:
		w.state = stateStopped
		close(w.stop)
	}
	w.mu.Unlock()

	var err error
	select {
	case <-w.done:
	case <-ctx.Done():
		err = ctx.Err()
		w.cancel()
		<-w.done // quick: every blocking call watches w.ctx
	}
	w.cancel()
	if w.transport != nil {
		w.transport.CloseIdleConnections()
	}
	return err
}

// claimLoop claims due events and hands them to the senders in chains, one
// per conversation, never more events than fit in the window, so a claimed
// event is always attempted well within its lease.
func (w *Worker) claimLoop() {
	defer close(w.jobs)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	wait := func(d time.Duration) (stopped bool) {
		timer.Reset(d)
		defer timer.Stop()
		select {
		case <-w.notify:
		case <-timer.C:
		case <-w.stop:
			return true
		}
		return false
	}
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		free := w.window - int(w.claimed.Load())
		if free < w.lowWater {
			select {
			case <-w.roomFreed:
			case <-w.stop:
				return
			}
			continue
		}
		limit := min(w.batch, free)
		mode, d, changed := w.breaker.gate()
		switch mode {
		case gateWait:
			// The receiver is failing: claiming would only lease events
			// to give them back. Nothing touches the store until the
			// cool-down ends or the probe's outcome is known.
			if w.waitBreaker(d, changed) {
				return
			}
			continue
		case gateProbe:
			limit = 1
		}
		now := w.now()
		evs, err := w.store.EventClaimDue(w.ctx, parley.EventClaimDueParams{
			Now:        now,
			LeaseUntil: now.Add(w.lease),
			Limit:      limit,
		})
		if err != nil || len(evs) == 0 {
			if mode == gateProbe {
				w.breaker.cancelProbe()
			}
		}
		if err != nil {
			if w.ctx.Err() != nil {
				return
			}
			w.log.Error("delivery: claiming due events", "error", err)
			if wait(storeErrorWait) {
				return
			}
			continue
		}
		w.claimed.Add(int64(len(evs)))
		for i, c := range chains(evs, now.Add(w.budget)) {
			c.probe = mode == gateProbe && i == 0
			w.jobs <- c // never blocks: cap(jobs) = window >= claimed
		}
		if len(evs) == limit {
			continue // there may be more
		}
		if wait(w.idleWait(len(evs) == 0)) {
			return
		}
	}
}

// waitBreaker waits while the breaker is open: for d, or, with d zero,
// until the probe's outcome changes the breaker's state. It does not
// watch Notify: new events wait for the receiver like the others.
func (w *Worker) waitBreaker(d time.Duration, changed <-chan struct{}) (stopped bool) {
	if d <= 0 {
		// The probe's outcome signals changed; the bound only guards
		// against a probe lost without one.
		d = w.lease
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-changed:
	case <-timer.C:
	case <-w.stop:
		return true
	}
	return false
}

// chains splits a claim into one chain per conversation, each in Seq
// order, the chain with the oldest event first.
func chains(evs []*parley.Event, deadline time.Time) []chain {
	// The store returns Seq order; the order of delivery rests on it.
	slices.SortFunc(evs, func(a, b *parley.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	var out []chain
	index := make(map[string]int)
	for _, e := range evs {
		i, ok := index[e.Conversation]
		if !ok {
			i = len(out)
			index[e.Conversation] = i
			out = append(out, chain{deadline: deadline})
		}
		out[i].events = append(out[i].events, e)
	}
	return out
}

// idleWait is how long to sleep once every due event is claimed: until the
// next one is due, at most maxIdle. Events held back behind an earlier one
// of their conversation are not due for this: the flusher wakes the loop
// when it writes the outcome that lets them go.
func (w *Worker) idleWait(claimedNone bool) time.Duration {
	at, ok, err := w.store.EventNextDue(w.ctx)
	if err != nil {
		if w.ctx.Err() == nil {
			w.log.Error("delivery: finding the next due event", "error", err)
		}
		return storeErrorWait
	}
	if !ok {
		return maxIdle
	}
	d := min(at.Sub(w.now()), maxIdle)
	if claimedNone {
		d = max(d, minEmptyWait)
	}
	return max(d, 0)
}

// send is one of Concurrency goroutines making attempts.
func (w *Worker) send() {
	for c := range w.jobs {
		w.deliver(c)
	}
}

// deliver attempts the events of one conversation in order. An event
// delivered or dead-lettered lets the next one go; one that will be retried
// stops the chain, and the rest are released, to be claimed again after
// its retry.
func (w *Worker) deliver(c chain) {
	probe := c.probe
	defer func() {
		if probe {
			// The probe was not made: another may go.
			w.breaker.cancelProbe()
		}
	}()
	for i, e := range c.events {
		select {
		case <-w.stop:
			// Shutting down: attempts not yet begun are not begun. The
			// events stay leased and the next Start releases them.
			w.free(len(c.events) - i)
			return
		default:
		}
		allowed := probe
		if !probe {
			allowed, _ = w.breaker.allow(false)
		}
		if !allowed || w.now().Add(w.timeout).After(c.deadline) {
			// The breaker opened after the claim: the rest go back
			// unattempted, their attempts and retry schedules untouched,
			// and are claimed again once it lets attempts through. Or
			// this attempt could outlast the lease, and another claim
			// could then take the event while it is in flight: the rest
			// go back, claimable once the outcomes before them are
			// written.
			r := report{ends: true}
			for _, rest := range c.events[i:] {
				r.release = append(r.release, rest.ID)
			}
			w.reports <- r
			w.free(len(r.release))
			return
		}
		cb := callback{
			command: e.Command,
			body:    e.Body,
			origin:  e.Origin,
			eventID: e.ID,
			attempt: e.Attempts + 1,
		}
		started := w.now()
		began := time.Now() // the real clock: w.now may be a test's, frozen
		var ans answer
		err := w.ep.postAnswered(w.ctx, w.timeout, &cb, nil, &ans)
		took := time.Since(began)
		if err != nil && w.ctx.Err() != nil {
			// Cut short by Shutdown's deadline, which says nothing about
			// the receiver: this event and the rest of the chain stay
			// leased until the next Start.
			w.free(len(c.events) - i)
			return
		}
		wait, asked := retryAfter(err)
		w.breaker.record(probe, err, wait)
		probe = false
		r := report{ev: e, attempt: cb.attempt, started: started, took: took, ans: ans, err: err, ends: i == len(c.events)-1}
		if err != nil && cb.attempt <= len(w.schedule) {
			if !asked {
				wait = jitter(w.schedule[cb.attempt-1])
			}
			r.retryAt = w.now().Add(wait)
			r.ends = true
			for _, rest := range c.events[i+1:] {
				r.release = append(r.release, rest.ID)
			}
		}
		w.metrics.attempt(e.Command, r.outcome(), took)
		w.reports <- r
		// Freed only once the report is queued: when writing outcomes
		// falls behind, claiming slows down with it.
		w.free(1 + len(r.release))
		if r.ends {
			return
		}
	}
}

// free gives back the window room of n claimed events.
func (w *Worker) free(n int) {
	w.claimed.Add(-int64(n))
	select {
	case w.roomFreed <- struct{}{}:
	default:
	}
}

// flushLoop writes reports back, as many as are waiting in one
// transaction, so a busy worker makes few writes however many events it
// delivers.
func (w *Worker) flushLoop() {
	defer close(w.done)
	batch := make([]report, 0, cap(w.reports))
	for r := range w.reports {
		batch = append(batch[:0], r)
	collect:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-w.reports:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		w.flush(batch)
		clear(batch) // drop the events' bodies
	}
}

func (w *Worker) flush(batch []report) {
	now := w.now()
	var delivered, released []string
	var failed []*report
	var attempts []parley.Attempt
	unblocks := false
	for i := range batch {
		r := &batch[i]
		released = append(released, r.release...)
		unblocks = unblocks || r.ends
		if r.ev == nil {
			continue
		}
		attempts = append(attempts, r.logged())
		if r.err == nil {
			delivered = append(delivered, r.ev.ID)
			continue
		}
		failed = append(failed, r)
		w.logFailure(r)
	}
	err := w.store.InTx(w.ctx, func(tx parley.Querier) error {
		// In the transaction of the outcomes: never an outcome without
		// its attempt, nor an attempt whose outcome was lost.
		if err := tx.AttemptInsert(w.ctx, attempts); err != nil {
			return fmt.Errorf("recording %d attempts: %w", len(attempts), err)
		}
		if len(delivered) > 0 {
			if err := tx.EventMarkDelivered(w.ctx, parley.EventMarkDeliveredParams{IDs: delivered, At: now}); err != nil {
				return fmt.Errorf("marking %d events delivered: %w", len(delivered), err)
			}
		}
		for _, r := range failed {
			if r.retryAt.IsZero() {
				if err := tx.EventMarkDead(w.ctx, parley.EventMarkDeadParams{
					ID: r.ev.ID, Attempts: r.attempt, LastError: r.err.Error(), At: now,
				}); err != nil {
					return fmt.Errorf("dead-lettering event %s: %w", r.ev.ID, err)
				}
				continue
			}
			if err := tx.EventRetry(w.ctx, parley.EventRetryParams{
				ID: r.ev.ID, Attempts: r.attempt, NextAttemptAt: r.retryAt, LastError: r.err.Error(),
			}); err != nil {
				return fmt.Errorf("scheduling retry of event %s: %w", r.ev.ID, err)
			}
		}
		if len(released) > 0 {
			if err := tx.EventRelease(w.ctx, released); err != nil {
				return fmt.Errorf("releasing %d unattempted events: %w", len(released), err)
			}
		}
		return nil
	})
	if err != nil {
		// The events stay leased; once the leases pass they are claimed
		// and attempted again (delivered ones a second time: at least once).
		w.log.Error("delivery: recording attempt results", "reports", len(batch), "error", err)
		return
	}
	if unblocks {
		// The next events of the conversations whose chains ended may be
		// claimable now (the store's EventNextDue leaves them out until
		// then), and a retry may be due before whatever the claim loop is
		// waiting for.
		w.Notify()
	}
}

// logged is the attempt log's record of r's attempt.
func (r *report) logged() parley.Attempt {
	a := parley.Attempt{
		EventSeq:  r.ev.Seq,
		Attempt:   r.attempt,
		StartedAt: r.started,
		Status:    r.ans.status,
		Latency:   r.took,
		Response:  r.ans.response,
	}
	if r.err != nil {
		a.Error = r.err.Error()
	}
	return a
}

func (w *Worker) logFailure(r *report) {
	attrs := []any{
		"event_id", r.ev.ID,
		"command", r.ev.Command,
		"conversation", r.ev.Conversation,
		"attempt", r.attempt,
		"error", r.err,
	}
	if r.retryAt.IsZero() {
		w.log.Error("delivery: webhook failed, dead-lettered", attrs...)
		return
	}
	if len(r.release) > 0 {
		attrs = append(attrs, "held_back", len(r.release))
	}
	w.log.Warn("delivery: webhook attempt failed", append(attrs, "next_attempt_at", r.retryAt)...)
}

// jitter spreads d uniformly over ±10%, so events that failed together do
// not all retry in the same instant.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
