package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/jsonx"
	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

// Subprotocol is the WebSocket subprotocol of the protocol's version 1. A
// client that offers it has it accepted; one that offers none is served
// the same protocol.
const Subprotocol = "parley.v1"

// Defaults of the zero Config fields.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultLoginTimeout      = 10 * time.Second
	DefaultReadLimit         = 64 << 10
	DefaultWriteTimeout      = 10 * time.Second
)

// idleGrace is added to twice the heartbeat interval before a silent
// connection is closed: room for a pong delayed by a busy network.
const idleGrace = 10 * time.Second

// closeGrace bounds how long a closing connection may take to accept its
// kick frame: long enough for a client that just fell behind to drain
// what is in flight and read why it is being closed, short enough that a
// dead peer does not hold anything for long.
const closeGrace = 2 * time.Second

// Close codes of the protocol, sent in the kick frame and the close frame
// that follows it. The hub's (4008 slow consumer, 4009 too many sessions,
// 1001 going away) are hub.CloseSlowConsumer and the others.
const (
	CloseLogin    = 4001 // login failed, not in time, or a request before it
	CloseIdle     = 4002 // no frame for 2 x heartbeat + 10 s
	CloseProtocol = 4003 // a frame outside the protocol (binary)
)

// Config configures a Server.
type Config struct {
	// Engine runs the requests; Hub pushes the changes. Both required.
	Engine *chat.Engine
	Hub    *hub.Hub
	// Publisher, the engine's publisher in front of Hub, tells a session
	// the seqs of the changes it made (see Publisher). Nil means it is not
	// told, and its client syncs its own changes back.
	Publisher *Publisher
	// SDKAppID and Key (the app's secret key) verify login UserSigs.
	// Required.
	SDKAppID uint64
	Key      string
	// HeartbeatInterval is how often the hub pings, as told to clients at
	// login. It must match hub.Config.PingInterval. Zero means 30s.
	HeartbeatInterval time.Duration
	// IdleTimeout closes (4002) a logged-in connection from which no frame,
	// a pong included, arrived for this long. Zero means twice
	// HeartbeatInterval plus 10s.
	IdleTimeout time.Duration
	// LoginTimeout is how long a new connection has to log in (4001 after
	// it). Zero means 10s.
	LoginTimeout time.Duration
	// ReadLimit is the largest request frame in bytes (1009 beyond it).
	// Zero means 64 KiB.
	ReadLimit int64
	// WriteTimeout bounds each write to a client. Zero means 10s.
	WriteTimeout time.Duration
	// Logger receives a debug line per connection and the causes of
	// internal errors. Nil discards.
	Logger *slog.Logger
	// Now is the clock of UserSig expiry and of ServerTime. Socket
	// deadlines always use the real clock. Nil means time.Now.
	Now func() time.Time
}

// Server serves the client protocol: ServeHTTP upgrades a request to a
// WebSocket and hands it to a reader goroutine. See the package
// documentation.
type Server struct {
	engine       *chat.Engine
	hub          *hub.Hub
	pub          *Publisher
	ops          *restapi.ClientOps
	sdkAppID     uint64
	key          string
	heartbeat    time.Duration
	idleTimeout  time.Duration
	loginTimeout time.Duration
	readLimit    int64
	writeTimeout time.Duration
	log          *slog.Logger
	now          func() time.Time

	// wg counts the goroutines a connection runs: its reader, and the
	// closer a transport starts.
	wg sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[*websocket.Conn]struct{} // connections not logged in yet
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	var problems []string
	if cfg.Engine == nil {
		problems = append(problems, "Engine is required")
	}
	if cfg.Hub == nil {
		problems = append(problems, "Hub is required")
	}
	if cfg.SDKAppID == 0 {
		problems = append(problems, "SDKAppID is required")
	}
	if cfg.Key == "" {
		problems = append(problems, "Key is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeartbeatInterval", cfg.HeartbeatInterval}, {"IdleTimeout", cfg.IdleTimeout}, {"LoginTimeout", cfg.LoginTimeout}, {"WriteTimeout", cfg.WriteTimeout}} {
		if d.v < 0 {
			problems = append(problems, fmt.Sprintf("%s must not be negative, got %v", d.name, d.v))
		}
	}
	if cfg.ReadLimit < 0 {
		problems = append(problems, fmt.Sprintf("ReadLimit must not be negative, got %d", cfg.ReadLimit))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("ws: invalid config: %s", strings.Join(problems, "; "))
	}
	ops, err := restapi.NewClientOps(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("ws: %w", err)
	}
	s := &Server{
		engine:       cfg.Engine,
		hub:          cfg.Hub,
		pub:          cfg.Publisher,
		ops:          ops,
		sdkAppID:     cfg.SDKAppID,
		key:          cfg.Key,
		heartbeat:    orDefault(cfg.HeartbeatInterval, DefaultHeartbeatInterval),
		loginTimeout: orDefault(cfg.LoginTimeout, DefaultLoginTimeout),
		readLimit:    cfg.ReadLimit,
		writeTimeout: orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		log:          cfg.Logger,
		now:          cfg.Now,
		pending:      make(map[*websocket.Conn]struct{}),
	}
	s.idleTimeout = orDefault(cfg.IdleTimeout, 2*s.heartbeat+idleGrace)
	if s.readLimit == 0 {
		s.readLimit = DefaultReadLimit
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ServeHTTP upgrades the request to a WebSocket, starts the connection's
// reader goroutine and returns, so that the HTTP server's goroutine and
// buffers are released: an idle connection costs its reader goroutine and
// a few small structs, nothing more. A request that is not a valid
// WebSocket handshake gets an HTTP error.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "parley is shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{Subprotocols: []string{Subprotocol}, ReadLimit: s.readLimit})
	if err != nil {
		s.log.Debug("ws: handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The first hop's address: no proxy header is trusted (spec decision
	// 9.8), as for REST calls.
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.kick(conn, websocket.CloseGoingAway, "server shutting down")
		return
	}
	s.pending[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serve(conn, ip)
}

// Close stops the server taking connections and closes those not logged
// in yet with 1001. The logged-in ones are the hub's: Hub.Close closes
// them. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	pending := s.pending
	s.pending = nil
	// Added while each connection's reader still counts, so never racing
	// Wait.
	s.wg.Add(len(pending))
	s.mu.Unlock()
	for conn := range pending {
		go func() {
			defer s.wg.Done()
			s.kick(conn, websocket.CloseGoingAway, "server shutting down")
		}()
	}
}

// Wait waits until every connection's goroutines have returned, or ctx
// ends. Call it after Close and Hub.Close, which close the connections.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kick tells a client why it is closed, then closes it with code. The kick
// has closeGrace to be written; Close bounds the close frame in turn.
func (s *Server) kick(conn *websocket.Conn, code int, info string) {
	_ = conn.SetWriteDeadline(time.Now().Add(closeGrace))
	_ = conn.WriteMessage(websocket.OpText, encodeKick(code, info))
	_ = conn.Close(code, info)
}

// writeDirect writes a frame to a connection that has no session, or
// whose session is being given up.
func (s *Server) writeDirect(conn *websocket.Conn, frame []byte) {
	_ = conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	_ = conn.WriteMessage(websocket.OpText, frame)
}

// Login states of a connection, raced for by its reader and its login
// timer.
const (
	awaitingLogin int32 = iota
	loggingIn
	loginTimedOut
)

// serve is a connection's first reader goroutine: it logs the client in,
// then hands the connection to a new reader (see read) and returns.
func (s *Server) serve(conn *websocket.Conn, ip string) {
	defer s.wg.Done()
	sess, user, origin := s.awaitLogin(conn, ip)
	s.mu.Lock()
	delete(s.pending, conn)
	s.mu.Unlock()
	if sess == nil {
		return
	}
	s.log.Debug("ws: logged in", "user", user, "platform", origin.OptPlatform, "remote", ip, "session", origin.SessionID)
	// A fresh goroutine, because the login grew this one's stack deep (the
	// store and the UserSig check run on it) and the collector only ever
	// halves a stack that uses under a quarter of it: the new reader
	// starts small and stays small while idle. Added while this one still
	// counts, so never racing Wait.
	s.wg.Add(1)
	go s.read(&session{conn: conn, hub: sess, user: user, origin: origin})
}

// session is a logged-in connection, as its reader holds it: behind one
// pointer, so that the frame the reader idles in stays small.
type session struct {
	conn   *websocket.Conn
	hub    *hub.Session
	user   string
	origin parley.Origin
}

// read is a logged-in connection's reader goroutine: one request at a
// time, in order, until the connection ends.
func (s *Server) read(c *session) {
	defer s.wg.Done()
	c.conn.SetIdleTimeout(s.idleTimeout)
	for {
		op, msg, err := c.conn.ReadMessage()
		if err != nil || !s.handle(c, op, msg) {
			s.ended(c, err)
			return
		}
	}
}

// handle answers one frame, and reports whether the session goes on.
func (s *Server) handle(c *session, op websocket.Opcode, msg []byte) bool {
	if op != websocket.OpText {
		c.hub.Close(CloseProtocol, "protocol error: binary frames are not part of the protocol")
		return false
	}
	// false: closed meanwhile, and the transport's close ends the read.
	return c.hub.Send(s.answer(msg, c.user, c.origin))
}

// ended closes the session of a connection whose reader stops, saying why
// when the client can still hear it.
func (s *Server) ended(c *session, err error) {
	s.pub.unregister(c.hub)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.hub.Close(CloseIdle, fmt.Sprintf("idle timeout: no frame for %v", s.idleTimeout))
		return
	}
	// The client closed, the connection dropped, the client broke the
	// WebSocket protocol (answered already), or the session was closed
	// (the transport is closing): nothing left to say. Close is
	// idempotent, so a session closed already keeps its first reason.
	c.hub.Close(websocket.CloseNormal, "")
}

// answer runs one request of a logged-in session and returns its reply.
func (s *Server) answer(frame []byte, user string, origin parley.Origin) []byte {
	req, err := DecodeRequest(frame)
	if err != nil {
		code, info, _ := restapi.ErrorAnswer(err)
		return encodeReply(req.ID, code, info, nil)
	}
	var data []byte
	switch req.Op {
	case "login":
		err = parley.Errorf(parley.ErrJSONParse, "already logged in")
	case "ping":
		data = []byte(`{"ServerTime":` + strconv.FormatInt(s.now().UnixMilli(), 10) + `}`)
	default:
		data, err = s.serveOp(req, user, origin)
	}
	code, info, internal := restapi.ErrorAnswer(err)
	if internal {
		s.log.Error("ws: internal error", "op", req.Op, "user", user, "session", origin.SessionID, "err", err)
	}
	return encodeReply(req.ID, code, info, data)
}

// serveOp runs one operation of restapi.ClientOps. A panic in it is an
// internal error of that request: the connection and the server go on.
func (s *Server) serveOp(req Request, user string, origin parley.Origin) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return s.ops.Serve(context.Background(), restapi.ClientCall{Op: req.Op, Data: req.Data, User: user, Origin: origin})
}

// awaitLogin reads until the client logs in, and returns its registered
// session, or nil when the connection was closed instead: a failed login,
// a request before it, the login timeout, or the client gone.
func (s *Server) awaitLogin(conn *websocket.Conn, ip string) (*hub.Session, string, parley.Origin) {
	var state atomic.Int32
	timer := time.AfterFunc(s.loginTimeout, func() {
		if state.CompareAndSwap(awaitingLogin, loginTimedOut) {
			s.kick(conn, CloseLogin, fmt.Sprintf("not logged in within %v", s.loginTimeout))
		}
	})
	defer timer.Stop()
	for {
		op, msg, err := conn.ReadMessage()
		if err != nil {
			return nil, "", parley.Origin{}
		}
		if op != websocket.OpText {
			s.closeBeforeLogin(&state, conn, CloseProtocol, "protocol error: binary frames are not part of the protocol")
			return nil, "", parley.Origin{}
		}
		req, err := DecodeRequest(msg)
		if err != nil {
			code, info, _ := restapi.ErrorAnswer(err)
			s.writeDirect(conn, encodeReply(req.ID, code, info, nil))
			continue
		}
		if req.Op != "login" {
			s.closeBeforeLogin(&state, conn, CloseLogin, fmt.Sprintf("log in first: %q before login", truncate(req.Op, maxOpEcho)))
			return nil, "", parley.Origin{}
		}
		if !state.CompareAndSwap(awaitingLogin, loggingIn) {
			return nil, "", parley.Origin{} // the timer won: the connection is closing
		}
		return s.login(conn, ip, req)
	}
}

// closeBeforeLogin kicks a connection that has not logged in, unless its
// login timer already did.
func (s *Server) closeBeforeLogin(state *atomic.Int32, conn *websocket.Conn, code int, info string) {
	if state.CompareAndSwap(awaitingLogin, loginTimedOut) {
		s.kick(conn, code, info)
	}
}

// loginData is the login request's data, each field checked for its JSON
// type by hand so that each gets its own code.
type loginData struct {
	SDKAppID json.RawMessage `json:"SDKAppID"`
	UserID   json.RawMessage `json:"UserID"`
	UserSig  json.RawMessage `json:"UserSig"`
	Platform json.RawMessage `json:"Platform"`
}

// login checks the credentials, registers the session with the hub,
// imports the user if new, subscribes the session to the user's groups,
// and answers. A failure is answered, kicked with 4001 and closed.
func (s *Server) login(conn *websocket.Conn, ip string, req Request) (*hub.Session, string, parley.Origin) {
	fail := func(err error) {
		code, info, internal := restapi.ErrorAnswer(err)
		if internal {
			s.log.Error("ws: login failed", "remote", ip, "err", err)
		}
		s.writeDirect(conn, encodeReply(req.ID, code, info, nil))
		s.kick(conn, CloseLogin, fmt.Sprintf("login failed: %d", code))
	}
	user, platform, err := s.credentials(req.Data)
	if err != nil {
		fail(err)
		return nil, "", parley.Origin{}
	}

	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.kick(conn, websocket.CloseGoingAway, "server shutting down")
		return nil, "", parley.Origin{}
	}
	t := &transport{srv: s, conn: conn}
	// Registered before the groups are loaded: a membership change that
	// commits in between reaches the hub after Register, and the hub makes
	// it win over the loaded list.
	sess := s.hub.Register(hub.SessionInfo{User: user, Platform: platform, RemoteAddr: ip}, t)
	groups, err := s.engine.Login(context.Background(), user)
	if err != nil {
		code, info, internal := restapi.ErrorAnswer(err)
		if internal {
			s.log.Error("ws: login failed", "user", user, "remote", ip, "err", err)
		}
		s.writeDirect(conn, encodeReply(req.ID, code, info, nil))
		sess.Close(CloseLogin, fmt.Sprintf("login failed: %d", code))
		return nil, "", parley.Origin{}
	}
	s.hub.Subscribe(sess, groups)
	s.pub.register(sess, user)
	origin := parley.Origin{ClientIP: ip, OptPlatform: platform, SessionID: sess.ID()}

	b := make([]byte, 0, 96)
	b = append(b, `{"SessionID":`...)
	b = jsonx.AppendString(b, origin.SessionID)
	b = append(b, `,"ServerTime":`...)
	b = strconv.AppendInt(b, s.now().UnixMilli(), 10)
	b = append(b, `,"HeartbeatInterval":`...)
	b = strconv.AppendInt(b, int64(s.heartbeat/time.Second), 10)
	b = append(b, '}')
	if !sess.Send(encodeReply(req.ID, 0, "", b)) {
		s.pub.unregister(sess)
		return nil, "", parley.Origin{}
	}
	return sess, user, origin
}

// credentials checks a login's data and verifies its UserSig, answering
// Tencent's codes: 60012 no SDKAppID, 60006 another app's (or not a
// number), 70402 a bad UserID, 70003 no UserSig, then the UserSig's own
// (70001, 70003, 70009, 70013, 70014).
func (s *Server) credentials(data json.RawMessage) (user, platform string, err error) {
	var d loginData
	if len(data) > 0 {
		if err := json.Unmarshal(data, &d); err != nil {
			return "", "", parley.Errorf(parley.ErrJSONParse, "login data: %v", err)
		}
	}
	switch raw := strings.TrimSpace(string(d.SDKAppID)); {
	case raw == "" || raw == "null":
		return "", "", parley.Errorf(parley.ErrSDKAppIDMissing, "SDKAppID is required")
	default:
		n, perr := strconv.ParseUint(raw, 10, 64)
		if perr != nil {
			return "", "", parley.Errorf(parley.ErrSDKAppIDInvalid, "SDKAppID must be a number, got %s", truncate(raw, 32))
		}
		if n != s.sdkAppID {
			return "", "", parley.Errorf(parley.ErrSDKAppIDInvalid, "SDKAppID invalid: %d is not this app's SDKAppID", n)
		}
	}
	if json.Unmarshal(d.UserID, &user) != nil || chat.ValidateUserID(user) != nil {
		return "", "", parley.Errorf(parley.ErrAccountIllegalParams, "UserID is missing or not a valid UserID")
	}
	var sig string
	if json.Unmarshal(d.UserSig, &sig) != nil || sig == "" {
		return "", "", parley.Errorf(parley.ErrUserSigInvalid, "UserSig is missing or not a string")
	}
	if err := restapi.VerifyUserSig(usersig.VerifyParams{UserSig: sig, SDKAppID: s.sdkAppID, Key: s.key, Identifier: user, Now: s.now()}); err != nil {
		return "", "", err
	}
	var p string
	_ = json.Unmarshal(d.Platform, &p) // anything but a known name is Unknown
	return user, Platform(p), nil
}

// Platforms of OptPlatform for client sessions (spec section 1.2).
var platforms = [...]string{"Web", "Android", "iOS", "Windows", "Mac", "iPad"}

// Platform is the OptPlatform of a platform a client names at login: one
// of Web, Android, iOS, Windows, Mac and iPad, matched without regard to
// case ("macOS" is Mac), else Unknown.
func Platform(name string) string {
	if strings.EqualFold(name, "macOS") {
		return "Mac"
	}
	for _, p := range platforms {
		if strings.EqualFold(name, p) {
			return p
		}
	}
	return "Unknown"
}

// transport adapts a connection to hub.Transport. It is the session's only
// per-connection state besides the Conn: a pointer and a flag.
type transport struct {
	srv     *Server
	conn    *websocket.Conn
	closing atomic.Bool
}

var errClosing = errors.New("ws: connection closing")

// Write sends a reply or a push, bounded by WriteTimeout.
func (t *transport) Write(msg []byte) error {
	if t.closing.Load() {
		return errClosing
	}
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.srv.writeTimeout))
	return t.conn.WriteMessage(websocket.OpText, msg)
}

// WriteBatch sends what the session's writer found queued together (a
// push and the unread count after it, a reply and its own frame) in one
// system call, bounded by WriteTimeout as a whole.
func (t *transport) WriteBatch(msgs [][]byte) error {
	if t.closing.Load() {
		return errClosing
	}
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.srv.writeTimeout))
	return t.conn.WriteMessages(websocket.OpText, msgs)
}

// Ping sends a WebSocket ping, bounded by WriteTimeout.
func (t *transport) Ping() error {
	if t.closing.Load() {
		return errClosing
	}
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.srv.writeTimeout))
	return t.conn.WritePing(nil)
}

// Close kicks and closes the connection on a goroutine of its own: the hub
// calls it from its dispatchers, which must not wait on a slow client. The
// kick's deadline also makes a blocked Write return.
func (t *transport) Close(code int, reason string) {
	if !t.closing.CompareAndSwap(false, true) {
		return
	}
	// Every Close happens while the connection's reader still counts in
	// wg (the reader closes its session before returning), so this Add
	// never races Wait.
	t.srv.wg.Add(1)
	go func() {
		defer t.srv.wg.Done()
		t.srv.kick(t.conn, code, reason)
	}()
}
