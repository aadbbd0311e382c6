package delivery

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
)

// This file is the outbox's tap: the stream `parley listen` reads, so that
// a developer's laptop sees every after-callback as it is committed and can
// replay it against a local receiver, with no public URL.
//
// The stream is Server-Sent Events (text/event-stream) over plain HTTP. It
// opens with a "ready" event whose id is the outbox's newest Seq at the
// time, then sends one "webhook" event per after-callback committed after
// that, in Seq (commit) order, each with its Seq as id, and a comment line
// every KeepAlive while nothing happens:
//
//	id: 41
//	event: ready
//	data: {"Seq":41,"KeepAlive":15000}
//
//	id: 42
//	event: webhook
//	data: {"Seq":42,"EventId":"evt_...","Command":"C2C.CallbackAfterSendMsg",...}
//
// A client that reconnects with Last-Event-ID: N gets every event after N
// (all of them are in the outbox), so a dropped connection loses nothing.
//
// # Concurrency
//
// Each listener reads the outbox itself, from its own Seq cursor, and
// writes to its own connection: the outbox is the buffer, so nothing is
// held in memory for a listener and a slow one slows no one else. Notify,
// called after every commit that enqueued events, only wakes the listeners
// (at most one pending wake-up each; it never blocks, and costs one atomic
// load while nobody listens). A listener whose connection does not take a
// write within WriteTimeout is cut off: its stream ends, and its client
// reconnects from where it was.
//
// # Invariants
//
//   - Nothing committed after the ready event is missed while connected:
//     a Seq is the outbox's commit order (parley.Event.Seq), so once a read
//     returns an event, every event with a smaller Seq is committed too and
//     was in that read or an earlier one; the cursor only moves past events
//     that were read.
//   - Events are streamed whatever their state (pending, delivered, dead):
//     the tap shows what was committed, not what the Worker did with it. A
//     replayed or recovered event keeps its Seq, so it is not streamed
//     again.
//   - Each webhook event carries the request the Worker would send for the
//     event's first attempt, signed at the moment it is streamed (Sign,
//     RequestTime, webhook-timestamp), so a receiver's freshness checks
//     pass when the client forwards it at once.

const (
	defaultTapBatch        = 100
	defaultTapWriteTimeout = 10 * time.Second
	defaultTapKeepAlive    = 15 * time.Second
	defaultTapListeners    = 16
	defaultTapGrace        = time.Minute
	// maxListenEventBytes bounds one event a ListenReader accepts. A body
	// is at most a sendmsg's (64 KiB of request, less once stored), which
	// base64 and the signed request take to well under this.
	maxListenEventBytes = 4 << 20
)

// TapConfig configures a Tap.
type TapConfig struct {
	// Store is the outbox the tap reads. Required.
	Store parley.Querier
	// SDKAppID, Token and Secrets sign the requests the events carry, as
	// the Worker's are signed: SdkAppid, Sign and RequestTime when Token
	// is set, the Standard Webhooks headers when Secrets are given.
	SDKAppID uint64
	Token    string
	Secrets  []string
	// BatchSize is the most events one read of the outbox returns. Zero
	// means 100.
	BatchSize int
	// WriteTimeout is how long a listener's connection may take to accept
	// a write before the listener is cut off. Zero means 10s.
	WriteTimeout time.Duration
	// KeepAlive is how often an idle stream gets a comment line, so that
	// proxies keep it open and clients can tell a live stream from a dead
	// one. Zero means 15s.
	KeepAlive time.Duration
	// MaxListeners bounds the listeners connected at once. Zero means 16.
	MaxListeners int
	// Grace is how long Active stays true after the last listener left, so
	// that a client reconnecting after a blip finds the events committed
	// in between when events are recorded only for listeners. Zero means
	// one minute.
	Grace time.Duration
	// Now signs the requests (RequestTime, webhook-timestamp) and times
	// Grace. Nil means time.Now.
	Now func() time.Time
}

// Tap streams committed after-callbacks to listeners. Create it with
// NewTap; it is safe for concurrent use.
type Tap struct {
	store     parley.Querier
	ep        endpoint // prefix is the query up to CallbackCommand's value; no URL, no client
	batch     int
	writeTO   time.Duration
	keepAlive time.Duration
	max       int
	grace     time.Duration

	count atomic.Int32 // len(listeners), read by Notify without mu
	// leftAt is the Unix nanoseconds at which the last listener left; 0
	// while any is connected or none ever was.
	leftAt atomic.Int64

	mu        sync.Mutex // guards listeners and closed
	listeners map[*Subscription]struct{}
	closed    bool
	done      chan struct{} // closed by Close
}

// NewTap validates cfg and returns a Tap.
func NewTap(cfg TapConfig) (*Tap, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: TapConfig.Store is required")
	}
	if cfg.SDKAppID == 0 {
		return nil, errors.New("delivery: TapConfig.SDKAppID is required: receivers check SdkAppid against their own")
	}
	if cfg.BatchSize < 0 || cfg.WriteTimeout < 0 || cfg.KeepAlive < 0 || cfg.MaxListeners < 0 || cfg.Grace < 0 {
		return nil, errors.New("delivery: TapConfig: BatchSize, WriteTimeout, KeepAlive, MaxListeners and Grace must not be negative")
	}
	signer, err := newSigner(cfg.Secrets)
	if err != nil {
		return nil, fmt.Errorf("delivery: %v", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	t := &Tap{
		store: cfg.Store,
		ep: endpoint{
			prefix: "SdkAppid=" + strconv.FormatUint(cfg.SDKAppID, 10) + "&CallbackCommand=",
			token:  cfg.Token,
			signer: signer,
			now:    now,
		},
		batch:     cmp.Or(cfg.BatchSize, defaultTapBatch),
		writeTO:   cmp.Or(cfg.WriteTimeout, defaultTapWriteTimeout),
		keepAlive: cmp.Or(cfg.KeepAlive, defaultTapKeepAlive),
		max:       cmp.Or(cfg.MaxListeners, defaultTapListeners),
		grace:     cmp.Or(cfg.Grace, defaultTapGrace),
		listeners: make(map[*Subscription]struct{}),
		done:      make(chan struct{}),
	}
	return t, nil
}

// Notify tells every listener that events were committed. It never
// blocks.
func (t *Tap) Notify() {
	if t.count.Load() == 0 {
		return
	}
	t.mu.Lock()
	for s := range t.listeners {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	t.mu.Unlock()
}

// Listeners is the number of listeners connected.
func (t *Tap) Listeners() int { return int(t.count.Load()) }

// Active reports whether a listener is connected, or the last one left
// less than Grace ago. A server with no callback URL records events only
// while its tap is active, so that they exist for the listeners alone.
func (t *Tap) Active() bool {
	if t.count.Load() > 0 {
		return true
	}
	left := t.leftAt.Load()
	return left != 0 && t.ep.now().Sub(time.Unix(0, left)) < t.grace
}

// Close ends every stream and refuses new listeners. A server calls it
// when it shuts down, since a stream never ends on its own.
func (t *Tap) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.done)
	}
}

// ListenParams say where a listener starts and what it gets.
type ListenParams struct {
	// Resume starts the stream after AfterSeq (the Last-Event-ID of a
	// client reconnecting) rather than after the outbox's newest event.
	// An AfterSeq beyond the newest event (the outbox was reset) starts
	// after the newest.
	Resume   bool
	AfterSeq int64
	// Commands, when not empty, are the only commands streamed.
	Commands []string
}

// ErrTapClosed is Subscribe's error once the Tap is closed.
var ErrTapClosed = errors.New("delivery: the server is shutting down")

// Subscribe registers a listener and finds where its stream starts. An
// error (a *parley.Error for a mistake of the caller's, ErrTapClosed, or a
// store error) means no stream: the caller answers it.
func (t *Tap) Subscribe(ctx context.Context, p ListenParams) (*Subscription, error) {
	for _, c := range p.Commands {
		if !slices.Contains(parley.Commands, c) {
			return nil, parley.Errorf(parley.ErrURLParams, "command %q is not a callback command parley emits", c)
		}
		if c == parley.CommandC2CBeforeSendMsg || c == parley.CommandGroupBeforeSendMsg {
			return nil, parley.Errorf(parley.ErrURLParams, "command %q is a before-send callback: it is answered synchronously, never recorded, so it cannot be listened to", c)
		}
	}
	if p.AfterSeq < 0 {
		return nil, parley.Errorf(parley.ErrURLParams, "resume point %d is negative", p.AfterSeq)
	}
	s := &Subscription{tap: t, commands: slices.Clone(p.Commands), wake: make(chan struct{}, 1)}
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return nil, ErrTapClosed
	case len(t.listeners) >= t.max:
		t.mu.Unlock()
		return nil, parley.Errorf(parley.ErrInternal, "too many listeners: %d are connected, the most a server takes", t.max)
	}
	// Registered before the head is read: a server with no callback URL
	// records events only while the tap is Active, so every change that
	// starts from now on is recorded, and those committed after the head
	// is read have a greater Seq. A change that began before the listener
	// came and commits after may go unrecorded, like one made just before.
	t.listeners[s] = struct{}{}
	t.count.Store(int32(len(t.listeners)))
	t.leftAt.Store(0)
	t.mu.Unlock()

	head, err := outboxHead(ctx, t.store)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("delivery: find the outbox's newest event: %w", err)
	}
	s.cursor = head
	if p.Resume && p.AfterSeq < head {
		s.cursor = p.AfterSeq
	}
	s.head = head
	return s, nil
}

// outboxHead is the newest Seq in the outbox, 0 when it is empty.
func outboxHead(ctx context.Context, store parley.Querier) (int64, error) {
	evs, err := store.EventList(ctx, parley.EventListParams{Newest: true, Limit: 1})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].Seq, nil
}

// Subscription is one listener. Stream it, or Close it if it cannot be.
type Subscription struct {
	tap      *Tap
	commands []string
	wake     chan struct{} // cap 1: events were committed
	head     int64         // the outbox's newest Seq when it subscribed
	cursor   int64         // the last Seq read (streamed or filtered out)
	closed   atomic.Bool
}

// Close unregisters the listener. It may be called more than once.
func (s *Subscription) Close() {
	if s.closed.Swap(true) {
		return
	}
	t := s.tap
	t.mu.Lock()
	delete(t.listeners, s)
	t.count.Store(int32(len(t.listeners)))
	if len(t.listeners) == 0 {
		t.leftAt.Store(t.ep.now().UnixNano())
	}
	t.mu.Unlock()
}

// Stream writes the event stream to w until ctx ends (the client went
// away), the Tap closes, or the client does not take a write within
// WriteTimeout; then it closes the subscription. It returns nil when the
// stream ended because of ctx or Close, else why it was cut.
func (s *Subscription) Stream(ctx context.Context, w http.ResponseWriter) error {
	defer s.Close()
	t := s.tap
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would end the request (its background read
	// fails, which cancels ctx) and its WriteTimeout the response, half a
	// minute in: a stream lives as long as the client stays. Writes get
	// their own deadline below. A ResponseWriter that cannot set deadlines
	// (a recorder in a test) has none to clear.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tells nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)

	buf := make([]byte, 0, 4096)
	buf = appendSSE(buf, strconv.FormatInt(s.cursor, 10), "ready", mustJSON(ListenReady{Seq: s.cursor, KeepAlive: t.keepAlive.Milliseconds()}))
	if err := s.write(rc, w, buf); err != nil {
		return err
	}
	keepAlive := time.NewTicker(t.keepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-t.done: // also while a backlog keeps the loop from waiting below
			return nil
		default:
		}
		evs, err := t.store.EventList(ctx, parley.EventListParams{AfterSeq: s.cursor, Limit: t.batch})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The client reconnects and resumes from its last event.
			return fmt.Errorf("read the outbox after Seq %d: %w", s.cursor, err)
		}
		buf = buf[:0]
		for _, ev := range evs {
			s.cursor = ev.Seq
			if len(s.commands) > 0 && !slices.Contains(s.commands, ev.Command) {
				continue
			}
			item := t.listenEvent(ev)
			data, err := json.Marshal(&item)
			if err != nil {
				return fmt.Errorf("encode event %s: %w", ev.ID, err)
			}
			buf = appendSSE(buf, strconv.FormatInt(ev.Seq, 10), "webhook", data)
		}
		if len(buf) > 0 {
			if err := s.write(rc, w, buf); err != nil {
				return err
			}
			keepAlive.Reset(t.keepAlive)
		}
		if len(evs) == t.batch {
			continue // more are waiting
		}
		select {
		case <-s.wake:
		case <-keepAlive.C:
			if err := s.write(rc, w, []byte(": keep-alive\n\n")); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-t.done:
			return nil
		}
	}
}

// write sends b and flushes it, within WriteTimeout.
func (s *Subscription) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(s.tap.writeTO))
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("listener cut off: %w", err)
	}
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("listener cut off: %w", err)
	}
	return nil
}

// Head is the outbox's newest Seq when the listener subscribed.
func (s *Subscription) Head() int64 { return s.head }

// listenEvent is ev with the request the Worker would make for its first
// attempt, signed now.
func (t *Tap) listenEvent(ev *parley.Event) ListenEvent {
	now := t.ep.now().Unix()
	cb := callback{command: ev.Command, body: ev.Body, origin: ev.Origin, eventID: ev.ID, attempt: 1}
	// The same headers, in the same way, as endpoint.do sets them.
	h := make(http.Header, 7)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set("X-Parley-Event-Id", cb.eventID)
	h.Set("X-Parley-Attempt", strconv.Itoa(cb.attempt))
	t.ep.signer.sign(h, cb.eventID, now, cb.body)
	return ListenEvent{
		Seq:          ev.Seq,
		EventID:      ev.ID,
		Command:      ev.Command,
		Conversation: ev.Conversation,
		ClientIP:     ev.Origin.ClientIP,
		OptPlatform:  ev.Origin.OptPlatform,
		CreatedAt:    ev.CreatedAt.UnixMilli(),
		Query:        t.ep.url(&cb, now),
		Header:       h,
		Body:         ev.Body,
	}
}

// ListenReady is the data of the stream's first event.
type ListenReady struct {
	// Seq is where the stream starts: events with a greater Seq follow.
	Seq int64 `json:"Seq"`
	// KeepAlive is the most milliseconds the server stays silent while
	// the stream is healthy.
	KeepAlive int64 `json:"KeepAlive"`
}

// ListenEvent is one after-callback on the stream: what the outbox holds
// and the request to replay.
type ListenEvent struct {
	Seq          int64  `json:"Seq"`
	EventID      string `json:"EventId"`
	Command      string `json:"Command"`
	Conversation string `json:"Conversation"`
	ClientIP     string `json:"ClientIP"`
	OptPlatform  string `json:"OptPlatform"`
	CreatedAt    int64  `json:"CreatedAt"` // Unix milliseconds
	// Query is what the Worker appends to the callback URL: SdkAppid,
	// CallbackCommand, contenttype, ClientIP, OptPlatform, and Sign and
	// RequestTime when a token is set, in that order, URL-encoded.
	Query string `json:"Query"`
	// Header holds the request's headers: Content-Type, User-Agent,
	// X-Parley-Event-Id, X-Parley-Attempt (1) and the Standard Webhooks
	// ones.
	Header http.Header `json:"Header"`
	// Body is the exact request body. It travels as base64: a JSON string
	// or an embedded object could come out re-encoded, and the
	// signatures cover the bytes.
	Body []byte `json:"Body"`
}

// NewRequest is the request the Worker would send for the event, aimed at
// target instead of the callback URL: target's own query is kept, the
// event's appended.
func (e *ListenEvent) NewRequest(ctx context.Context, target string) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("delivery: forward URL %q: %v", target, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("delivery: forward URL %q: want http:// or https:// and a host", target)
	}
	u.Fragment, u.RawFragment, u.ForceQuery = "", "", false
	if u.RawQuery != "" {
		u.RawQuery += "&" + e.Query
	} else {
		u.RawQuery = e.Query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(e.Body))
	if err != nil {
		return nil, fmt.Errorf("delivery: forward request: %v", stripURL(err))
	}
	for k, vs := range e.Header {
		req.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	return req, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("delivery: " + err.Error()) // only called with types that always encode
	}
	return b
}

// appendSSE appends one event. data must hold no line break, which JSON
// from encoding/json never does.
func appendSSE(b []byte, id, event string, data []byte) []byte {
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// ListenMessage is one message of the stream: Ready or Event is set.
type ListenMessage struct {
	// ID is the event's id: the Seq a client reconnecting resumes after
	// (Last-Event-ID).
	ID    string
	Ready *ListenReady
	Event *ListenEvent
}

// ListenReader reads the stream a Tap writes.
type ListenReader struct {
	sse sseReader
}

// NewListenReader reads the stream from r.
func NewListenReader(r io.Reader) *ListenReader {
	return &ListenReader{sse: sseReader{r: bufio.NewReader(r), max: maxListenEventBytes}}
}

// Next returns the next ready or webhook message; comments and events of
// other types are skipped. It returns io.EOF when the stream ends cleanly
// (an event cut short is dropped), and an error for an event over 4 MiB
// or whose data does not decode.
func (lr *ListenReader) Next() (ListenMessage, error) {
	for {
		ev, err := lr.sse.next()
		if err != nil {
			return ListenMessage{}, err
		}
		m := ListenMessage{ID: ev.id}
		switch ev.typ {
		case "ready":
			m.Ready = new(ListenReady)
			if err := json.Unmarshal(ev.data, m.Ready); err != nil {
				return ListenMessage{}, fmt.Errorf("delivery: listen stream: bad ready event: %v", err)
			}
		case "webhook":
			m.Event = new(ListenEvent)
			if err := json.Unmarshal(ev.data, m.Event); err != nil {
				return ListenMessage{}, fmt.Errorf("delivery: listen stream: bad webhook event: %v", err)
			}
		default:
			continue
		}
		return m, nil
	}
}

// sseReader parses text/event-stream as the HTML standard defines it
// (section 9.2.6): lines end with CRLF, LF or CR; a blank line dispatches
// the event; "field: value" with one optional space after the colon;
// lines starting with a colon are comments; data lines are joined with
// LF; an id holding NUL is ignored; the id persists across events.
type sseReader struct {
	r       *bufio.Reader
	max     int // bytes an event may hold, lines and all
	started bool
	lastID  string
	line    []byte
}

type sseEvent struct {
	id   string
	typ  string
	data []byte
}

var errSSETooLong = errors.New("delivery: listen stream: event too long")

func (p *sseReader) next() (sseEvent, error) {
	var (
		typ     string
		data    []byte
		hasData bool
		size    int
	)
	for {
		line, err := p.readLine(p.max - size)
		if err != nil {
			return sseEvent{}, err
		}
		size += len(line) + 1
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 {
			if !hasData {
				// Nothing to dispatch (a keep-alive comment ended): start
				// afresh.
				typ, size = "", 0
				continue
			}
			if typ == "" {
				typ = "message"
			}
			return sseEvent{id: p.lastID, typ: typ, data: data[:len(data)-1]}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			data = append(data, value...)
			data = append(data, '\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = string(value)
			}
		}
	}
}

// readLine returns the next line without its end, at most limit bytes
// long. The slice is valid until the next call. A stream that ends in
// the middle of a line ends there: io.EOF.
func (p *sseReader) readLine(limit int) ([]byte, error) {
	p.line = p.line[:0]
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		switch c {
		case '\n':
			return p.line, nil
		case '\r':
			if next, err := p.r.Peek(1); err == nil && next[0] == '\n' {
				_, _ = p.r.ReadByte()
			}
			return p.line, nil
		}
		if len(p.line) >= limit {
			return nil, errSSETooLong
		}
		p.line = append(p.line, c)
	}
}

// ListenContentType is the Content-Type of a listen stream; an answer
// with another is an error.
const ListenContentType = "text/event-stream"

// IsListenStream reports whether resp is a stream rather than an error
// answer.
func IsListenStream(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	return resp.StatusCode == http.StatusOK && (ct == ListenContentType || strings.HasPrefix(ct, ListenContentType+";"))
}
