// Package hubtest provides an in-memory hub.Transport for tests: it
// records what the hub writes, and can be made to block or fail.
package hubtest

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// ErrClosed is returned by Write and Ping after Close.
var ErrClosed = errors.New("hubtest: transport closed")

// Transport is an in-memory hub.Transport. The zero value is not usable;
// call New.
type Transport struct {
	mu      sync.Mutex
	msgs    []string
	batches []int
	pings   int
	closed  bool
	code    int
	reason  string
	blocked chan struct{} // non-nil while blocked; closed by Unblock
	fail    error
	changed chan struct{} // closed and replaced at every change
	closing chan struct{} // closed by Close
}

// New returns an open Transport that accepts every Write and Ping.
func New() *Transport {
	return &Transport{changed: make(chan struct{}), closing: make(chan struct{})}
}

// Write records a copy of msg. It blocks while the transport is blocked
// (until Unblock or Close), and fails after Fail or Close.
func (t *Transport) Write(msg []byte) error {
	if err := t.wait(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	t.msgs = append(t.msgs, string(msg))
	t.notify()
	return nil
}

// WriteBatch records a copy of each of msgs, in order, and the batch's
// size (see Batches), under the same rules as Write: the hub's writer
// uses it, as it does a WebSocket's, when more than one message is queued.
func (t *Transport) WriteBatch(msgs [][]byte) error {
	if err := t.wait(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	for _, m := range msgs {
		t.msgs = append(t.msgs, string(m))
	}
	t.batches = append(t.batches, len(msgs))
	t.notify()
	return nil
}

// Batches returns the sizes of the batches WriteBatch was given, in order.
func (t *Transport) Batches() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]int(nil), t.batches...)
}

// Ping counts a ping, under the same rules as Write.
func (t *Transport) Ping() error {
	if err := t.wait(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	t.pings++
	t.notify()
	return nil
}

// wait blocks while the transport is blocked and returns the error Write
// or Ping is to fail with, if any.
func (t *Transport) wait() error {
	t.mu.Lock()
	blocked, closing, fail := t.blocked, t.closing, t.fail
	t.mu.Unlock()
	if blocked != nil {
		select {
		case <-blocked:
		case <-closing:
			return ErrClosed
		}
	}
	return fail
}

// Close records the first code and reason, and makes blocked and later
// Writes and Pings fail.
func (t *Transport) Close(code int, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed, t.code, t.reason = true, code, reason
	close(t.closing)
	t.notify()
}

// Block makes later Writes and Pings block until Unblock or Close, like a
// peer that stopped reading.
func (t *Transport) Block() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.blocked == nil {
		t.blocked = make(chan struct{})
	}
}

// Unblock releases blocked Writes and Pings.
func (t *Transport) Unblock() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.blocked != nil {
		close(t.blocked)
		t.blocked = nil
	}
}

// Fail makes later Writes and Pings return err.
func (t *Transport) Fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail = err
}

// Messages returns the messages written so far, in order.
func (t *Transport) Messages() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.msgs...)
}

// Pings returns how many pings were sent.
func (t *Transport) Pings() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pings
}

// Closed returns the code and reason of the first Close, and whether
// there was one.
func (t *Transport) Closed() (code int, reason string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.code, t.reason, t.closed
}

// notify wakes Await. t.mu must be held.
func (t *Transport) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// AwaitTimeout is how long Await waits before it fails the test.
const AwaitTimeout = 10 * time.Second

// Await waits until cond holds, checking it at every change of t (a
// message, a ping, the close), and fails tb if AwaitTimeout passes first.
// cond may call t's methods.
func (t *Transport) Await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(AwaitTimeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("hubtest: waited %v for %s; have %d messages, %d pings", AwaitTimeout, what, len(t.Messages()), t.Pings())
		}
	}
}

// AwaitMessages waits until at least n messages were written and returns
// them.
func (t *Transport) AwaitMessages(tb testing.TB, n int) []string {
	tb.Helper()
	t.Await(tb, "messages", func() bool { return len(t.Messages()) >= n })
	return t.Messages()
}

// AwaitClosed waits for Close and returns its code and reason.
func (t *Transport) AwaitClosed(tb testing.TB) (code int, reason string) {
	tb.Helper()
	t.Await(tb, "close", func() bool { _, _, ok := t.Closed(); return ok })
	code, reason, _ = t.Closed()
	return code, reason
}
