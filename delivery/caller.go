package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Now stamps RequestTime. Nil means time.Now.
	Now func() time.Time
}

// Caller makes synchronous before-callbacks: one attempt, bounded by the
// timeout, never retried (spec 1.5). It is safe for concurrent use.
type Caller struct {
	ep        endpoint
	timeout   time.Duration
	transport *http.Transport // ours to close; nil when CallerConfig.Client was given
}

// NewCaller validates cfg and returns a Caller.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("delivery: Timeout %v is negative", cfg.Timeout)
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
	return c, nil
}

// Call posts body to the receiver as command and returns its parsed reply.
// An error means the call failed (transport error, timeout, status other
// than 200, a reply that is not a JSON object); acting on the reply's
// ErrorCode is the caller's business.
func (c *Caller) Call(ctx context.Context, command string, body []byte, origin parley.Origin) (parley.CallbackReply, error) {
	cb := callback{
		command: command,
		body:    body,
		origin:  origin,
		// Before-callbacks are not events, but receivers get the same
		// header on every callback, usable to correlate logs.
		eventID: parley.NewEventID(c.ep.now()),
	}
	var reply parley.CallbackReply
	err := c.ep.post(ctx, c.timeout, &cb, func(b []byte) error {
		if b = bytes.TrimLeft(b, " \t\r\n"); len(b) == 0 || b[0] != '{' {
			return errors.New("not a JSON object")
		}
		return json.Unmarshal(b, &reply)
	})
	if err != nil {
		return parley.CallbackReply{}, fmt.Errorf("delivery: %s: %w", command, err)
	}
	return reply, nil
}

// Close releases the idle connections of the Caller's own client. Calls
// made after Close still work; they open new connections.
func (c *Caller) Close() error {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return nil
}
