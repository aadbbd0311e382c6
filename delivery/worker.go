package delivery

import (
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
	// Timeout bounds each attempt, including reading the reply. Zero
	// means 2s.
	Timeout time.Duration
	// RetrySchedule is the wait before each retry: a failed attempt n is
	// retried after about RetrySchedule[n-1] (±10%), and the event is
	// dead-lettered once the schedule is used up. Nil means
	// DefaultRetrySchedule(); a non-nil empty schedule means no retries.
	RetrySchedule []time.Duration
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
	// Logger receives one record per failed attempt and store errors. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Worker delivers the after-callbacks of the outbox. See the package
// documentation for how.
type Worker struct {
	store     parley.Store
	ep        endpoint
	timeout   time.Duration
	schedule  []time.Duration
	conc      int
	batch     int
	window    int           // claimed events not yet recorded: Concurrency in flight + BatchSize queued
	lowWater  int           // free room in the window worth a claim
	lease     time.Duration // how long a claim holds its events
	now       func() time.Time
	log       *slog.Logger
	transport *http.Transport // ours to close; nil when WorkerConfig.Client was given

	notify    chan struct{} // cap 1: "look for due events now"
	roomFreed chan struct{} // cap 1: a claimed event left the window
	claimed   atomic.Int64  // claimed events not yet handed to the flusher
	jobs      chan *parley.Event
	results   chan result

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

// result is the outcome of one attempt.
type result struct {
	ev      *parley.Event
	attempt int
	err     error
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
	// A claimed event waits at most for the attempts queued ahead of it,
	// Concurrency at a time, then takes its own.
	rounds := (w.window + w.conc - 1) / w.conc
	w.lease = time.Duration(rounds)*w.timeout + leaseMargin
	client := cfg.Client
	if client == nil {
		w.transport = newTransport(w.conc)
		client = &http.Client{Transport: w.transport}
	}
	ep, err := newEndpoint(cfg.URL, cfg.Token, cfg.SDKAppID, client, w.now)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	w.ep = ep
	w.jobs = make(chan *parley.Event, w.window)
	w.results = make(chan result, 2*max(w.conc, w.batch))
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
		close(w.results)
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

// claimLoop claims due events and hands them to the senders, never more
// than fit in the window, so a claimed event is always attempted well
// within its lease.
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
		now := w.now()
		evs, err := w.store.EventClaimDue(w.ctx, parley.EventClaimDueParams{
			Now:        now,
			LeaseUntil: now.Add(w.lease),
			Limit:      limit,
		})
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
		for _, e := range evs {
			w.jobs <- e // never blocks: cap(jobs) = window >= claimed
		}
		if len(evs) == limit {
			continue // there may be more
		}
		if wait(w.idleWait(len(evs) == 0)) {
			return
		}
	}
}

// idleWait is how long to sleep once every due event is claimed: until the
// next one is due, at most maxIdle.
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
	for e := range w.jobs {
		select {
		case <-w.stop:
			// Shutting down: an attempt not yet begun is not begun. The
			// event stays leased and the next Start releases it.
			w.release()
			continue
		default:
		}
		cb := callback{
			command: e.Command,
			body:    e.Body,
			origin:  e.Origin,
			eventID: e.ID,
			attempt: e.Attempts + 1,
		}
		err := w.ep.post(w.ctx, w.timeout, &cb, nil)
		// An attempt cut short by Shutdown's deadline says nothing about
		// the receiver: its event stays leased until the next Start.
		if err == nil || w.ctx.Err() == nil {
			w.results <- result{ev: e, attempt: cb.attempt, err: err}
		}
		// Freed only once the result is queued: when writing results
		// falls behind, claiming slows down with it.
		w.release()
	}
}

// release gives back the window room of one claimed event.
func (w *Worker) release() {
	w.claimed.Add(-1)
	select {
	case w.roomFreed <- struct{}{}:
	default:
	}
}

// flushLoop writes results back, as many as are waiting in one
// transaction, so a busy worker makes few writes however many events it
// delivers.
func (w *Worker) flushLoop() {
	defer close(w.done)
	batch := make([]result, 0, cap(w.results))
	for r := range w.results {
		batch = append(batch[:0], r)
	collect:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-w.results:
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

// outcome is what one failed attempt leads to.
type outcome struct {
	result
	retryAt time.Time // zero: dead
}

func (w *Worker) flush(batch []result) {
	now := w.now()
	var delivered []string
	var failed []outcome
	for _, r := range batch {
		if r.err == nil {
			delivered = append(delivered, r.ev.ID)
			continue
		}
		o := outcome{result: r}
		if r.attempt <= len(w.schedule) {
			o.retryAt = now.Add(jitter(w.schedule[r.attempt-1]))
		}
		failed = append(failed, o)
		w.logFailure(o)
	}
	err := w.store.InTx(w.ctx, func(tx parley.Querier) error {
		if len(delivered) > 0 {
			if err := tx.EventMarkDelivered(w.ctx, parley.EventMarkDeliveredParams{IDs: delivered, At: now}); err != nil {
				return fmt.Errorf("marking %d events delivered: %w", len(delivered), err)
			}
		}
		for _, o := range failed {
			if o.retryAt.IsZero() {
				if err := tx.EventMarkDead(w.ctx, parley.EventMarkDeadParams{
					ID: o.ev.ID, Attempts: o.attempt, LastError: o.err.Error(), At: now,
				}); err != nil {
					return fmt.Errorf("dead-lettering event %s: %w", o.ev.ID, err)
				}
				continue
			}
			if err := tx.EventRetry(w.ctx, parley.EventRetryParams{
				ID: o.ev.ID, Attempts: o.attempt, NextAttemptAt: o.retryAt, LastError: o.err.Error(),
			}); err != nil {
				return fmt.Errorf("scheduling retry of event %s: %w", o.ev.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		// The events stay leased; once the leases pass they are claimed
		// and attempted again (delivered ones a second time: at least once).
		w.log.Error("delivery: recording attempt results", "events", len(batch), "error", err)
		return
	}
	// A retry may be due before whatever the loop is waiting for, and an
	// outcome written may free the next event of its conversation, which
	// the store held back (EventClaimDue keeps conversations in order).
	w.Notify()
}

func (w *Worker) logFailure(o outcome) {
	attrs := []any{
		"event_id", o.ev.ID,
		"command", o.ev.Command,
		"attempt", o.attempt,
		"error", o.err,
	}
	if o.retryAt.IsZero() {
		w.log.Error("delivery: webhook failed, dead-lettered", attrs...)
		return
	}
	w.log.Warn("delivery: webhook attempt failed", append(attrs, "next_attempt_at", o.retryAt)...)
}

// jitter spreads d uniformly over ±10%, so events that failed together do
// not all retry in the same instant.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
