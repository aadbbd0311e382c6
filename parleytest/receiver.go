package parleytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// OKReply is the answer an app backend gives a webhook it handled.
const OKReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// Request is one webhook request as the receiver saw it.
type Request struct {
	Query  url.Values
	Header http.Header
	Body   []byte
	At     time.Time // when it arrived
}

// Receiver is a real HTTP webhook receiver (an httptest.Server) that
// records every request and answers it with the configured reply: HTTP 200
// with OKReply unless SetReply or SetHandler says otherwise.
type Receiver struct {
	URL string

	srv *httptest.Server

	mu      sync.Mutex
	reqs    []Request
	arrived chan struct{} // closed and replaced on every request
	handler func(Request) (status int, body string)
}

// NewReceiver starts a receiver and closes it when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{arrived: make(chan struct{})}
	r.SetReply(http.StatusOK, OKReply)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		// The sender went away mid-body: nothing was delivered.
		return
	}
	got := Request{Query: req.URL.Query(), Header: req.Header.Clone(), Body: body, At: time.Now()}

	r.mu.Lock()
	r.reqs = append(r.reqs, got)
	close(r.arrived)
	r.arrived = make(chan struct{})
	handler := r.handler
	r.mu.Unlock()

	status, reply := handler(got)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

// SetReply makes every following request get this status and body.
func (r *Receiver) SetReply(status int, body string) {
	r.SetHandler(func(Request) (int, string) { return status, body })
}

// SetHandler makes every following request answered by h, which may block
// (to hold a before-send callback open) and is called concurrently.
// The request is recorded before h runs.
func (r *Receiver) SetHandler(h func(Request) (status int, body string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handler = h
}

// Requests returns a copy of the requests received so far, in arrival
// order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// WaitFor waits until at least n requests have arrived and returns all of
// them; it fails the test if they have not within timeout.
func (r *Receiver) WaitFor(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	return r.WaitUntil(t, timeout, func(reqs []Request) bool { return len(reqs) >= n })
}

// WaitUntil waits until cond holds for the requests received so far and
// returns them; it fails the test if cond does not hold within timeout.
// cond is called after every arrival.
func (r *Receiver) WaitUntil(t testing.TB, timeout time.Duration, cond func([]Request) bool) []Request {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		reqs := append([]Request(nil), r.reqs...)
		arrived := r.arrived
		r.mu.Unlock()
		if cond(reqs) {
			return reqs
		}
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("parleytest: receiver: condition not met within %v; %d requests arrived", timeout, len(reqs))
			return nil
		}
	}
}
