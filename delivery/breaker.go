package delivery

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

const (
	defaultBreakerThreshold   = 5
	defaultBreakerCooldown    = 5 * time.Second
	defaultBreakerMaxCooldown = 5 * time.Minute
	// maxRetryAfter caps the wait a receiver can ask for with Retry-After,
	// so that a misconfigured receiver ("Retry-After: 86400") cannot park
	// an event, or the whole endpoint, for a day.
	maxRetryAfter = time.Hour
)

// ErrBreakerOpen is the error of a callback not sent because the
// endpoint's circuit breaker is open: the receiver failed too often in a
// row, and parley waits for the cool-down before it tries again.
var ErrBreakerOpen = errors.New("circuit breaker open: the receiver keeps failing")

// Circuit is the state of a circuit breaker.
type Circuit int

const (
	// CircuitClosed: callbacks go out.
	CircuitClosed Circuit = iota
	// CircuitOpen: the receiver failed BreakerThreshold times in a row (or
	// the last probe failed); nothing is sent until the cool-down ends.
	CircuitOpen
	// CircuitHalfOpen: the cool-down is over and one probe is (about to
	// be) in flight; its outcome closes the breaker or opens it again.
	CircuitHalfOpen
)

func (c Circuit) String() string {
	switch c {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("Circuit(%d)", int(c))
}

// BreakerState is a snapshot of an endpoint's circuit breaker.
type BreakerState struct {
	// Enabled is false when the breaker is switched off (a negative
	// BreakerThreshold); it then always reads closed.
	Enabled bool
	State   Circuit
	// Since is when the breaker entered State (zero if it never left
	// closed).
	Since time.Time
	// Failures is the number of failed attempts in a row.
	Failures int
	// Cooldown is the length of the current (or, when closed, the last)
	// open period before a probe; it doubles while probes fail.
	Cooldown time.Duration
	// OpenUntil is when an open breaker lets a probe through.
	OpenUntil time.Time
	// LastError is the error of the last failed attempt.
	LastError string
}

// breakerConfig is the part of WorkerConfig and CallerConfig that sets up
// a breaker.
type breakerConfig struct {
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration
}

func newBreakerConfig(threshold int, cooldown, maxCooldown time.Duration) (breakerConfig, error) {
	if cooldown < 0 {
		return breakerConfig{}, fmt.Errorf("BreakerCooldown %v is negative", cooldown)
	}
	if maxCooldown < 0 {
		return breakerConfig{}, fmt.Errorf("BreakerMaxCooldown %v is negative", maxCooldown)
	}
	c := breakerConfig{
		threshold:   orDefault(threshold, defaultBreakerThreshold),
		cooldown:    orDefault(cooldown, defaultBreakerCooldown),
		maxCooldown: orDefault(maxCooldown, defaultBreakerMaxCooldown),
	}
	// A cool-down set above the default cap is what the operator wants:
	// it must not be cut to the cap.
	c.maxCooldown = max(c.maxCooldown, c.cooldown)
	return c, nil
}

// breaker is the circuit breaker of one endpoint. Every attempt asks it
// first and reports its outcome after. See the package documentation
// (Concurrency, Invariants) for how the Worker and the Caller use it.
type breaker struct {
	cfg breakerConfig
	url string // for the logs: the configured URL without its query
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	state     Circuit
	since     time.Time
	failures  int
	cooldown  time.Duration
	openUntil time.Time
	probing   bool // a probe is in flight (half-open only)
	lastErr   string
	// changed is closed, and replaced, at every change of state, so the
	// claim loop can wait for a probe's outcome.
	changed chan struct{}
}

func newBreaker(cfg breakerConfig, url string, now func() time.Time, log *slog.Logger) *breaker {
	return &breaker{cfg: cfg, url: url, now: now, log: log, changed: make(chan struct{})}
}

func (b *breaker) enabled() bool { return b.cfg.threshold > 0 }

// gateMode is what the Worker's claim loop may do.
type gateMode int

const (
	gateClaim gateMode = iota // claim as usual
	gateProbe                 // claim one event: its attempt is the probe
	gateWait                  // claim nothing: wait for the cool-down or a probe's outcome
)

// gate tells the claim loop whether to claim. gateProbe reserves the probe
// for the claim loop (the breaker is then half-open): it must hand the
// probe to the chain it claims, or give it back with cancelProbe. With
// gateWait, wait is how long the cool-down still runs (zero while a probe
// is in flight), and changed is closed when the state changes.
func (b *breaker) gate() (mode gateMode, wait time.Duration, changed <-chan struct{}) {
	if !b.enabled() {
		return gateClaim, 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case CircuitOpen:
		if d := b.openUntil.Sub(b.now()); d > 0 {
			return gateWait, d, b.changed
		}
		b.halfOpen()
		return gateProbe, 0, nil
	case CircuitHalfOpen:
		if b.probing {
			return gateWait, 0, b.changed
		}
		b.probing = true
		return gateProbe, 0, nil
	}
	return gateClaim, 0, nil
}

// allow reports whether an attempt may go now. With takeProbe, an open
// breaker whose cool-down is over lets this attempt through as the probe
// (probe is then true); without it only a closed breaker lets attempts
// through.
func (b *breaker) allow(takeProbe bool) (ok, probe bool) {
	if !b.enabled() {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case CircuitClosed:
		return true, false
	case CircuitOpen:
		if !takeProbe || b.now().Before(b.openUntil) {
			return false, false
		}
		b.halfOpen()
		return true, true
	default: // half-open
		if !takeProbe || b.probing {
			return false, false
		}
		b.probing = true
		return true, true
	}
}

// cancelProbe gives back a probe that was not made, or was cut short by
// parley itself (Shutdown, the caller's context), which says nothing about
// the receiver.
func (b *breaker) cancelProbe() {
	if !b.enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == CircuitHalfOpen && b.probing {
		b.probing = false
		b.signal()
	}
}

// record reports the outcome of an attempt; probe says whether it was the
// probe. retryAfter, when positive, is how long the receiver asked parley
// to stay away: a breaker that opens on it stays open at least that long.
func (b *breaker) record(probe bool, err error, retryAfter time.Duration) {
	if !b.enabled() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.failures = 0
		b.probing = false
		if b.state != CircuitClosed {
			// Any success closes it, also of an attempt that began
			// before it opened: the receiver answers again.
			b.set(CircuitClosed)
			b.log.Info("delivery: circuit breaker closed: the receiver answers again",
				"url", b.url, "last_error", b.lastErr)
		}
		return
	}
	b.failures++
	b.lastErr = err.Error()
	switch {
	case b.state == CircuitClosed && b.failures >= b.cfg.threshold:
		b.open(b.cfg.cooldown, retryAfter)
	case b.state == CircuitHalfOpen && probe:
		b.probing = false
		b.open(min(2*b.cooldown, b.cfg.maxCooldown), retryAfter)
	}
	// Otherwise an attempt that began before the breaker opened failed
	// too, which changes nothing.
}

// state returns a snapshot.
func (b *breaker) snapshot() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BreakerState{
		Enabled:   b.enabled(),
		State:     b.state,
		Since:     b.since,
		Failures:  b.failures,
		Cooldown:  b.cooldown,
		OpenUntil: b.openUntil,
		LastError: b.lastErr,
	}
}

func (b *breaker) open(cooldown, retryAfter time.Duration) {
	b.cooldown = cooldown
	b.openUntil = b.now().Add(max(cooldown, min(retryAfter, maxRetryAfter)))
	b.set(CircuitOpen)
	b.log.Warn("delivery: circuit breaker open: no callbacks until the cool-down ends",
		"url", b.url, "failures", b.failures, "cooldown", cooldown,
		"open_until", b.openUntil, "last_error", b.lastErr)
}

func (b *breaker) halfOpen() {
	b.probing = true
	b.set(CircuitHalfOpen)
	b.log.Info("delivery: circuit breaker half-open: probing the receiver",
		"url", b.url, "last_error", b.lastErr)
}

// set changes the state and wakes whoever waits for a change. Callers hold
// b.mu.
func (b *breaker) set(s Circuit) {
	b.state = s
	b.since = b.now()
	b.signal()
}

func (b *breaker) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}
