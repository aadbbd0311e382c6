package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/parley-im/parley"
)

// callerIdleConns is how many idle connections a Caller keeps to its
// receiver: before-callbacks run on sendmsg's request path, as concurrently
// as sendmsg is called.
const callerIdleConns = 64

// CallerConfig configures a Caller.
type CallerConfig struct {
	URL      string // the callback URL; its own query, if any, is kept
	Token    string // webhook authentication token; "" means no Sign/RequestTime
	SDKAppID uint64
	// Secrets are the Standard Webhooks secrets ("whsec_" and the base64
	// of at least 24 bytes) that sign every request with the webhook-id,
	// webhook-timestamp and webhook-signature headers, one signature per
	// secret: list the new secret and the old one while receivers move
	// to the new. Empty means no Standard Webhooks headers.
	Secrets []string
	// Timeout bounds each call, including reading the reply. Zero means 2s,
	// Tencent's fixed before-callback timeout.
	Timeout time.Duration
	// Client sends the requests. Nil means a keep-alive client owned by the
	// Caller, released by Close.
	Client *http.Client
	// BreakerThreshold is how many failed calls in a row open the circuit
	// breaker of the URL (any failure counts: transport error, timeout,
	// any status but 200, a reply that is not a JSON object; calls
	// cancelled by their own context do not). While it is open, Call
	// fails at once with ErrBreakerOpen, so the caller applies its
	// failure policy without waiting for the timeout. Zero means 5;
	// negative switches the breaker off.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one call
	// goes through as a probe; each failed probe doubles it, up to
	// BreakerMaxCooldown. Zero means 5s.
	BreakerCooldown time.Duration
	// BreakerMaxCooldown caps the doubled cool-down. Zero means 5 minutes;
	// it is never less than BreakerCooldown.
	BreakerMaxCooldown time.Duration
	// Now stamps RequestTime and times the breaker. Nil means time.Now.
	Now func() time.Time
	// Logger receives one record per change of the breaker's state. Nil
	// means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, count the calls by outcome, time them and report
	// the breaker's state as endpoint "before_send". Nil means none.
	Metrics *Metrics
}

// Caller makes synchronous before-callbacks: one attempt, bounded by the
// timeout, never retried (spec 1.5). It is safe for concurrent use.
type Caller struct {
	ep        endpoint
	breaker   *breaker
	metrics   *Metrics // nil: none
	timeout   time.Duration
	transport *http.Transport // ours to close; nil when CallerConfig.Client was given
}

// NewCaller validates cfg and returns a Caller.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("delivery: Timeout %v is negative", cfg.Timeout)
	}
	bc, err := newBreakerConfig(cfg.BreakerThreshold, cfg.BreakerCooldown, cfg.BreakerMaxCooldown)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	c := &Caller{timeout: cfg.Timeout}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	client := cfg.Client
	if client == nil {
		c.transport = newTransport(callerIdleConns)
		client = &http.Client{Transport: c.transport}
	}
	ep, err := newEndpoint(cfg.URL, cfg.Token, cfg.Secrets, cfg.SDKAppID, client, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	c.ep = ep
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c.breaker = newBreaker(bc, ep.display, ep.now, logger)
	c.metrics = cfg.Metrics
	if err := c.metrics.watchBreaker("before_send", c.BreakerState); err != nil {
		return nil, err
	}
	return c, nil
}

// BreakerState returns the state of the circuit breaker of the Caller's
// URL.
func (c *Caller) BreakerState() BreakerState { return c.breaker.snapshot() }

// Call posts body to the receiver as command and returns its parsed reply.
// An error means the call failed (transport error, timeout, status other
// than 200, a reply that is not a JSON object, or ErrBreakerOpen without a
// request while the breaker is open); acting on the reply's ErrorCode is
// the caller's business.
func (c *Caller) Call(ctx context.Context, command string, body []byte, origin parley.Origin) (reply parley.CallbackReply, err error) {
	began := time.Now()
	defer func() { c.metrics.beforeSendCall(command, err, time.Since(began)) }()
	ok, probe := c.breaker.allow(true)
	if !ok {
		return parley.CallbackReply{}, fmt.Errorf("delivery: %s: %w", command, ErrBreakerOpen)
	}
	cb := callback{
		command: command,
		body:    body,
		origin:  origin,
		// Before-callbacks are not events, but receivers get the same
		// header on every callback, usable to correlate logs.
		eventID: parley.NewEventID(c.ep.now()),
	}
	err = c.ep.post(ctx, c.timeout, &cb, func(b []byte) error {
		if b = bytes.TrimLeft(b, " \t\r\n"); len(b) == 0 || b[0] != '{' {
			return errors.New("not a JSON object")
		}
		return json.Unmarshal(b, &reply)
	})
	if err != nil && ctx.Err() != nil {
		// Given up by the caller, which says nothing about the receiver.
		if probe {
			c.breaker.cancelProbe()
		}
	} else {
		wait, _ := retryAfter(err)
		c.breaker.record(probe, err, wait)
	}
	if err != nil {
		return parley.CallbackReply{}, fmt.Errorf("delivery: %s: %w", command, err)
	}
	return reply, nil
}

// Send posts one after-callback event once, exactly as the Worker makes
// its attempt-th attempt (X-Parley-Attempt included), and returns nil when
// the receiver took it by the Worker's rule: HTTP 200 with a JSON body.
// It neither retries nor touches the outbox, and the Caller's breaker,
// which guards before-send calls, is left out of it. `parley webhooks
// trigger` uses it to send sample events.
func (c *Caller) Send(ctx context.Context, ev *parley.Event, attempt int) error {
	cb := callback{command: ev.Command, body: ev.Body, origin: ev.Origin, eventID: ev.ID, attempt: attempt}
	if err := c.ep.post(ctx, c.timeout, &cb, nil); err != nil {
		return fmt.Errorf("delivery: %s: %w", ev.Command, err)
	}
	return nil
}

// Close releases the idle connections of the Caller's own client. Calls
// made after Close still work; they open new connections.
func (c *Caller) Close() error {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return nil
}
