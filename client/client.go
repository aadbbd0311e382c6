package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/websocket"
)

// Subprotocol is the WebSocket subprotocol of the protocol's version 1.
const Subprotocol = "parley.v1"

// DefaultEventBuffer is the capacity of the Events channel when
// Config.EventBuffer is zero.
const DefaultEventBuffer = 256

// DefaultReadLimit bounds one frame from the server. The server keeps its
// answers well under it: a sync page stops at chat.MaxSyncBytes of
// changes, a group history page at 20 messages of at most 12 KB.
const DefaultReadLimit = 1 << 20

// Config configures Dial.
type Config struct {
	// URL is the server's WebSocket endpoint, e.g. ws://127.0.0.1:8080/v1/ws.
	URL string
	// SDKAppID, UserID and UserSig log in; Platform is the client's
	// platform (Web, Android, iOS, Windows, Mac, iPad; anything else is
	// Unknown), the OptPlatform of the webhooks the session causes.
	SDKAppID uint64
	UserID   string
	UserSig  string
	Platform string
	// Cursors, from a previous Client's Cursors, resumes where that client
	// stopped: every conversation that moved on since is synced, and its
	// changes are delivered as Events before the live ones that follow
	// them. nil starts from the conversations as they are at Dial.
	Cursors map[string]uint64
	// Dial configures the WebSocket connection. Subprotocols nil offers
	// Subprotocol; ReadLimit zero means DefaultReadLimit.
	Dial websocket.DialOptions
	// EventBuffer is the capacity of the Events channel. Zero means
	// DefaultEventBuffer.
	EventBuffer int
}

// Error is a FAIL reply: Tencent's error code and ErrorInfo.
type Error struct {
	Code int
	Info string
}

func (e *Error) Error() string { return fmt.Sprintf("parley: %d %s", e.Code, e.Info) }

// KickError is why the server closed the connection: the code of its kick
// frame, which is the WebSocket close code (4001 login, 4002 idle, 4008
// slow consumer, ...), and its reason.
type KickError struct {
	Code int
	Info string
}

func (e *KickError) Error() string { return fmt.Sprintf("client: kicked with %d: %s", e.Code, e.Info) }

// ErrClosed is the error of calls made after Close.
var ErrClosed = errors.New("client: closed")

// Client is one logged-in session. Create it with Dial.
type Client struct {
	conn       *websocket.Conn
	user       string
	session    string
	heartbeat  time.Duration
	serverTime time.Time // at login

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan frame
	err     error         // why the connection ended; set once, before done closes
	done    chan struct{} // closed when the reader has exited

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: the orderer stops

	pushes  pushQueue
	events  chan Event
	ordered chan struct{} // closed when the orderer has exited
	// own holds, per conversation, the seqs of the session's own changes
	// past its cursor: they are seen, not delivered. The orderer's alone.
	own map[string]map[uint64]bool

	cursorMu sync.Mutex
	cursors  map[string]uint64
}

// frame is any frame the server sends, decoded once.
type frame struct {
	Op           string          `json:"op"`
	ID           string          `json:"id"`
	ActionStatus string          `json:"ActionStatus"`
	ErrorCode    int             `json:"ErrorCode"`
	ErrorInfo    string          `json:"ErrorInfo"`
	Event        string          `json:"event"`
	Seq          uint64          `json:"seq"`
	Data         json.RawMessage `json:"data"`
	// Conversation, in an own frame, names the conversation of a change
	// the session made (its seq is Seq).
	Conversation string `json:"conversation"`
}

type loginAnswer struct {
	SessionID         string
	ServerTime        int64
	HeartbeatInterval int64
}

// Dial connects to cfg.URL, logs in, and reads the conversation list to
// know where each conversation stands (and, with cfg.Cursors, which ones
// to sync). A FAIL answer to the login is returned as an *Error.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	opts := cfg.Dial
	if opts.Subprotocols == nil {
		opts.Subprotocols = []string{Subprotocol}
	}
	if opts.ReadLimit == 0 {
		opts.ReadLimit = DefaultReadLimit
	}
	if cfg.EventBuffer < 0 {
		return nil, errors.New("client: negative EventBuffer")
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	conn, err := websocket.Dial(ctx, cfg.URL, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		conn:    conn,
		user:    cfg.UserID,
		pending: make(map[string]chan frame),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
		events:  make(chan Event, cfg.EventBuffer),
		ordered: make(chan struct{}),
		cursors: make(map[string]uint64),
		own:     make(map[string]map[uint64]bool),
	}
	c.pushes.init()
	go c.read()

	var login loginAnswer
	err = c.Call(ctx, "login", map[string]any{
		"SDKAppID": cfg.SDKAppID,
		"UserID":   cfg.UserID,
		"UserSig":  cfg.UserSig,
		"Platform": cfg.Platform,
	}, &login)
	if err != nil {
		c.abort()
		return nil, err
	}
	c.session = login.SessionID
	c.heartbeat = time.Duration(login.HeartbeatInterval) * time.Second
	c.serverTime = time.UnixMilli(login.ServerTime)

	convs, err := c.Conversations(ctx)
	if err != nil {
		c.abort()
		return nil, err
	}
	var resume []Conversation
	for _, conv := range convs {
		switch cur, ok := cfg.Cursors[conv.ConversationID]; {
		case cfg.Cursors == nil:
			c.cursors[conv.ConversationID] = conv.Seq
		case ok || conv.Type == TypeC2C:
			// A C2C conversation new since the previous connection was
			// missed whole.
			c.cursors[conv.ConversationID] = cur
			if conv.Seq > cur {
				resume = append(resume, conv)
			}
		default:
			// A group joined meanwhile: its past is history.
			c.cursors[conv.ConversationID] = conv.Seq
		}
	}
	for id, cur := range cfg.Cursors {
		if _, ok := c.cursors[id]; !ok {
			c.cursors[id] = cur
		}
	}
	go c.order(resume)
	return c, nil
}

// abort ends a Client that Dial will not return.
func (c *Client) abort() {
	c.Close()
	<-c.done
}

// SessionID is the server's ID of this session.
func (c *Client) SessionID() string { return c.session }

// UserID is the logged-in user.
func (c *Client) UserID() string { return c.user }

// HeartbeatInterval is how often the server pings, as the login said.
func (c *Client) HeartbeatInterval() time.Duration { return c.heartbeat }

// Events delivers the pushes, each once, in order per conversation. It is
// closed when the Client ends and the Events already in it are read.
func (c *Client) Events() <-chan Event { return c.events }

// Cursors returns, per conversation ID, the seq of the last change handed
// to Events: give it to Config.Cursors to resume. Once the Client has
// ended it waits for the orderer to stop, so the answer is final.
func (c *Client) Cursors() map[string]uint64 {
	select {
	case <-c.closing:
		<-c.ordered
	case <-c.done:
		<-c.ordered
	default:
	}
	c.cursorMu.Lock()
	defer c.cursorMu.Unlock()
	out := make(map[string]uint64, len(c.cursors))
	for k, v := range c.cursors {
		out[k] = v
	}
	return out
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended: nil while it is open, ErrClosed after
// Close, a *KickError when the server closed it with a kick, or the
// transport's error.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection with a normal closure. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.mu.Lock()
		if c.err == nil {
			c.err = ErrClosed
		}
		c.mu.Unlock()
		_ = c.conn.Close(websocket.CloseNormal, "")
	})
	return nil
}

// Call makes one request and waits for its reply: op with data (marshalled
// to JSON; nil sends none), the reply's data decoded into result (unless
// nil). A FAIL reply is an *Error. Calls may be made concurrently; ctx
// bounds the wait for the reply.
func (c *Client) Call(ctx context.Context, op string, data any, result any) error {
	var raw []byte
	if data != nil {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return fmt.Errorf("client: %s: %w", op, err)
		}
	}
	ch := make(chan frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	c.pending[id] = ch
	c.mu.Unlock()

	req := make([]byte, 0, 32+len(op)+len(id)+len(raw))
	req = append(req, `{"op":`...)
	req = strconv.AppendQuote(req, op)
	req = append(req, `,"id":"`...)
	req = append(req, id...)
	req = append(req, '"')
	if raw != nil {
		req = append(req, `,"data":`...)
		req = append(req, raw...)
	}
	req = append(req, '}')
	if err := c.conn.WriteMessage(websocket.OpText, req); err != nil {
		c.forget(id)
		if cerr := c.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("client: %s: %w", op, err)
	}

	select {
	case f := <-ch:
		return replied(op, f, result)
	case <-c.done:
		// The reply may have come just before the end: it wins.
		select {
		case f := <-ch:
			return replied(op, f, result)
		default:
			return c.err
		}
	case <-ctx.Done():
		c.forget(id)
		return ctx.Err()
	}
}

// replied is the outcome of a call whose reply is f.
func replied(op string, f frame, result any) error {
	if f.ActionStatus != "OK" || f.ErrorCode != 0 {
		return &Error{Code: f.ErrorCode, Info: f.ErrorInfo}
	}
	if result != nil && len(f.Data) > 0 {
		if err := json.Unmarshal(f.Data, result); err != nil {
			return fmt.Errorf("client: %s: decode the reply: %w", op, err)
		}
	}
	return nil
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// read is the reader goroutine: replies to their callers, pushes to the
// orderer's queue, a kick remembered as the reason of the close that
// follows.
func (c *Client) read() {
	var kick *KickError
	var err error
	for {
		var op websocket.Opcode
		var msg []byte
		op, msg, err = c.conn.ReadMessage()
		if err != nil {
			break
		}
		if op != websocket.OpText {
			continue
		}
		var f frame
		if json.Unmarshal(msg, &f) != nil {
			continue // not the protocol: nothing to route it to
		}
		switch f.Op {
		case "reply":
			c.mu.Lock()
			ch := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		case "push":
			c.pushes.put(item{ev: Event{Kind: f.Event, Seq: f.Seq, Data: f.Data}})
		case "own":
			// A change this session made: counted as seen where it falls
			// among the pushes, never delivered.
			c.pushes.put(item{own: true, ev: Event{ConversationID: f.Conversation, Seq: f.Seq}})
		case "kick":
			kick = &KickError{Code: f.ErrorCode, Info: f.ErrorInfo}
		}
	}
	c.mu.Lock()
	switch {
	case kick != nil && c.err == nil:
		c.err = kick
	case c.err == nil:
		c.err = fmt.Errorf("client: connection lost: %w", err)
	}
	c.pending = nil
	c.mu.Unlock()
	_ = c.conn.CloseNow()
	close(c.done)
}
