package hub

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
)

// Close codes the hub gives Transport.Close. They are WebSocket close codes
// (RFC 6455 section 7.4): 1001 is the standard "going away", and 4000-4999
// are for applications.
const (
	CloseGoingAway       = 1001 // the hub is closing (server shutdown)
	CloseSlowConsumer    = 4008 // the session's queue overflowed
	CloseTooManySessions = 4009 // the user opened more than MaxSessionsPerUser sessions
)

// closeWriteFailed closes a session whose Transport.Write or Ping failed:
// 1011, the WebSocket "internal error", since the hub cannot tell a dead
// peer from a failing transport. The peer rarely sees it.
const closeWriteFailed = 1011

// Transport is one client connection as the hub sees it. The ws package
// adapts a WebSocket to it; hubtest has an in-memory one for tests.
type Transport interface {
	// Write sends one text message. msg is shared by every session pushed
	// the same change: Write must not modify it, nor keep it after
	// returning. Write is called by one goroutine at a time and may block;
	// the transport applies its own write timeout. An error closes the
	// session.
	Write(msg []byte) error
	// Ping sends a keepalive ping; the same goroutine rule as Write, and an
	// error closes the session as well.
	Ping() error
	// Close closes the connection with a close code and reason. It must be
	// safe to call concurrently with Write and Ping, and it must make a
	// blocked Write or Ping return: that is how a slow consumer is cut off.
	// It may be called more than once. It should return promptly (bound any
	// close frame it writes by a short deadline): Hub.Close closes the
	// sessions one after another, and Register closes an evicted session
	// on its caller's goroutine.
	Close(code int, reason string)
}

// BatchWriter is an optional capability of a Transport: WriteBatch sends
// several messages, in order, as Write would one after another, but at
// once (a WebSocket writes them with one system call). A session's writer
// hands it what is queued, up to maxBatchMessages messages or
// maxBatchBytes, so a busy session costs a write per batch, not per
// message. The rules of Write apply to it, and to every message of it.
type BatchWriter interface {
	WriteBatch(msgs [][]byte) error
}

// Config configures a Hub. Only Encode is required.
type Config struct {
	// Encode returns the push message of a change. It is called once per
	// change that has recipients online, on a dispatcher goroutine, and its
	// result is shared by every recipient. Required.
	Encode func(c *parley.Change) []byte
	// QueueMessages bounds each session's send queue in messages. A push
	// or Send that would exceed it closes the session with
	// CloseSlowConsumer. Zero means 4096.
	QueueMessages int
	// QueueBytes bounds each session's send queue in bytes, checked the
	// same way. A message that finds the queue empty is always queued,
	// whatever its size: the bound is on a backlog, and the size of one
	// message is the transport's business. Zero means 4 MiB.
	QueueBytes int
	// PingInterval is how often each session is pinged. Sessions are pinged
	// in turns, not all at once: the interval is cut into slots of
	// max(PingInterval/1024, min(1s, PingInterval/10)) and each slot pings
	// the sessions of one bucket (a session's bucket is its registration
	// number modulo the number of slots). Zero means 30s; negative means no
	// pings; a positive value under 10ms is refused.
	PingInterval time.Duration
	// MaxSessionsPerUser bounds one user's sessions: registering one more
	// closes the oldest with CloseTooManySessions. Zero means 10.
	MaxSessionsPerUser int
	// Shards is the number of dispatcher goroutines. A conversation's
	// changes all go through one of them, so Shards bounds how many
	// conversations are fanned out in parallel. Zero means 4.
	Shards int
	// DispatchQueue bounds each dispatcher's queue in publishes. A Publish
	// that finds its queue full is dropped and counted
	// (Stats.DroppedPublishes): clients notice the Seq gap and sync.
	// Membership changes are never dropped and do not count against it.
	// Zero means 65536.
	DispatchQueue int
	// Logger receives slow consumers and transport failures. Nil discards.
	Logger *slog.Logger
	// Now tells the time to the pinger, which pings every bucket whose slot
	// has begun since its previous round, so a late tick skips no one.
	// Nil means time.Now.
	Now func() time.Time
}

// Defaults of the zero Config fields.
const (
	DefaultQueueMessages      = 4096
	DefaultQueueBytes         = 4 << 20
	DefaultPingInterval       = 30 * time.Second
	DefaultMaxSessionsPerUser = 10
	DefaultShards             = 4
	DefaultDispatchQueue      = 65536
)

// minPingInterval keeps a misconfigured interval from turning the pinger
// into a busy loop.
const minPingInterval = 10 * time.Millisecond

// idPrefixLen is the length of the random prefix of every session ID of a
// hub: 30 random bits, so that IDs of two hubs (two nodes, or one node
// before and after a restart) are unlikely to collide.
const idPrefixLen = 6

// Hub knows which sessions are online, for which users and groups, and
// fans committed changes out to them. It implements chat.Publisher.
// See the package documentation for its concurrency and invariants.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	idPrefix string
	seed     maphash.Seed
	shards   []*shard
	pinger   *pinger // nil when pings are off

	closed   atomic.Bool   // read by Publish without mu
	stop     chan struct{} // closed by Close: dispatchers and pinger return
	loops    sync.WaitGroup
	sessWG   sync.WaitGroup // session writers and cut-off closers
	doneChan chan struct{}  // always closed: Done of a session closed before anyone asked
	nextN    atomic.Uint64  // registration counter, from 1

	pushed, dropped, slow atomic.Uint64

	// mu guards the maps below, the sessions' registration fields (u,
	// subscribed, subAt) and ping buckets' contents.
	mu        sync.RWMutex
	isClosed  bool
	users     map[string]*user
	groups    map[string]map[*user]struct{}
	pending   map[*user]struct{} // users with a session not yet subscribed
	nSessions int
}

// user is an online user: at least one session registered.
type user struct {
	id       string
	sessions []*Session          // oldest first
	groups   map[string]struct{} // nil while in none

	// log records the membership changes applied while some session of
	// the user is between Register and its first Subscribe (pending > 0),
	// so that Subscribe can apply them again after the list the caller
	// loaded: they are at least as new as the list. log[0] is change
	// number logBase; a session's subAt is the number of the first change
	// after its Register.
	log     []memberOp
	logBase uint64
	pending int
}

type memberOp struct {
	group string
	join  bool
}

// New validates cfg and starts the dispatchers and the pinger.
func New(cfg Config) (*Hub, error) {
	if cfg.Encode == nil {
		return nil, errors.New("hub: Config.Encode is required")
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"QueueMessages", &cfg.QueueMessages, DefaultQueueMessages},
		{"QueueBytes", &cfg.QueueBytes, DefaultQueueBytes},
		{"MaxSessionsPerUser", &cfg.MaxSessionsPerUser, DefaultMaxSessionsPerUser},
		{"Shards", &cfg.Shards, DefaultShards},
		{"DispatchQueue", &cfg.DispatchQueue, DefaultDispatchQueue},
	} {
		switch {
		case *f.v < 0:
			return nil, fmt.Errorf("hub: Config.%s is %d; it must be positive, or zero for %d", f.name, *f.v, f.def)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	switch {
	case cfg.PingInterval == 0:
		cfg.PingInterval = DefaultPingInterval
	case cfg.PingInterval > 0 && cfg.PingInterval < minPingInterval:
		return nil, fmt.Errorf("hub: Config.PingInterval is %v; it must be at least %v, zero for %v, or negative for no pings", cfg.PingInterval, minPingInterval, DefaultPingInterval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var random [5]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("hub: session ID prefix: %w", err)
	}
	h := &Hub{
		cfg:      cfg,
		log:      log,
		idPrefix: strings.ToLower(base32.HexEncoding.EncodeToString(random[:])[:idPrefixLen]),
		seed:     maphash.MakeSeed(),
		stop:     make(chan struct{}),
		doneChan: make(chan struct{}),
		users:    make(map[string]*user),
		groups:   make(map[string]map[*user]struct{}),
		pending:  make(map[*user]struct{}),
	}
	close(h.doneChan)
	h.shards = make([]*shard, cfg.Shards)
	for i := range h.shards {
		h.shards[i] = &shard{wake: make(chan struct{}, 1)}
	}
	if cfg.PingInterval > 0 {
		h.pinger = newPinger(cfg.PingInterval, cfg.Now())
	}
	for _, sh := range h.shards {
		h.loops.Add(1)
		go h.dispatch(sh)
	}
	if h.pinger != nil {
		h.loops.Add(1)
		go h.ping()
	}
	return h, nil
}

// Close stops the dispatchers and the pinger, closes every session with
// CloseGoingAway, and returns once every goroutine of the hub has
// returned. Publishes not yet dispatched are dropped. Sessions registered
// afterwards are closed at once. Close may be called more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.isClosed {
		h.mu.Unlock()
		return
	}
	h.isClosed = true
	h.closed.Store(true)
	all := make([]*Session, 0, h.nSessions)
	for _, u := range h.users {
		all = append(all, u.sessions...)
	}
	h.mu.Unlock()

	close(h.stop)
	h.loops.Wait()
	for _, s := range all {
		s.Close(CloseGoingAway, "server shutting down")
	}
	// Every session is closed, and the dispatchers and the pinger are gone:
	// nothing can start a writer any more, so this Wait has no racing Add.
	h.sessWG.Wait()
}

// SessionInfo describes a session: who it is logged in as and from where.
type SessionInfo struct {
	User       string
	Platform   string // OptPlatform: Web, Android, iOS, ...
	RemoteAddr string // the client's IP (ClientIP)
}

// Register adds a session of info.User over t. Its pushes begin at once
// for the changes addressed to the user; group changes begin with the
// groups of Subscribe, which the caller calls next. If the user already
// has MaxSessionsPerUser sessions, the oldest are closed with
// CloseTooManySessions. After Close, the session is returned closed and t
// is closed with CloseGoingAway.
func (h *Hub) Register(info SessionInfo, t Transport) *Session {
	s := &Session{hub: h, info: info, t: t, n: h.nextN.Add(1)}
	h.mu.Lock()
	if h.isClosed {
		h.mu.Unlock()
		s.closed = true
		t.Close(CloseGoingAway, "server shutting down")
		return s
	}
	u := h.users[info.User]
	if u == nil {
		u = &user{id: info.User}
		h.users[info.User] = u
	}
	s.u = u
	s.subAt = u.logBase + uint64(len(u.log))
	u.sessions = append(u.sessions, s)
	u.pending++
	h.pending[u] = struct{}{}
	h.nSessions++
	if h.pinger != nil {
		h.pinger.add(s)
	}
	var evicted []*Session
	for len(u.sessions) > h.cfg.MaxSessionsPerUser {
		old := u.sessions[0]
		h.detach(old)
		// Shut here, not later in Close: once h.mu is released, Hub.Close
		// would not find old among the sessions to close, and old must not
		// start a writer after that.
		old.mu.Lock()
		if old.shut() {
			evicted = append(evicted, old)
		}
		old.mu.Unlock()
	}
	h.mu.Unlock()

	for _, old := range evicted {
		old.t.Close(CloseTooManySessions, fmt.Sprintf("too many sessions: more than %d", h.cfg.MaxSessionsPerUser))
	}
	return s
}

// detach removes s from the online state; the user's memberships go with
// its last session. h.mu must be held. Idempotent.
func (h *Hub) detach(s *Session) {
	u := s.u
	if u == nil {
		return
	}
	s.u = nil
	if i := slices.Index(u.sessions, s); i >= 0 {
		u.sessions = slices.Delete(u.sessions, i, i+1)
	}
	h.nSessions--
	if h.pinger != nil {
		h.pinger.remove(s)
	}
	if !s.subscribed {
		s.subscribed = true
		h.unpend(u)
	}
	if len(u.sessions) > 0 {
		return
	}
	for g := range u.groups {
		h.leave(u, g)
	}
	delete(h.users, u.id)
}

// unpend counts one session of u as subscribed (or gone); the log goes
// when no session needs it. h.mu must be held.
func (h *Hub) unpend(u *user) {
	u.pending--
	if u.pending > 0 {
		return
	}
	u.logBase += uint64(len(u.log))
	u.log = nil
	delete(h.pending, u)
}

// Subscribe makes s's user a member of groupIDs for the hub, as loaded by
// the caller from the store after Register. Membership changes that
// reached the hub between Register and this first Subscribe of s win over
// the list: they are applied again after it. A later Subscribe of the
// same session only adds groups. A closed session is ignored.
func (h *Hub) Subscribe(s *Session, groupIDs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := s.u
	if u == nil {
		return
	}
	for _, g := range groupIDs {
		h.join(u, g)
	}
	if s.subscribed {
		return
	}
	for _, op := range u.log[s.subAt-u.logBase:] {
		if op.join {
			h.join(u, op.group)
		} else {
			h.leave(u, op.group)
		}
	}
	s.subscribed = true
	h.unpend(u)
}

// join and leave change one membership of an online user. h.mu must be held.
func (h *Hub) join(u *user, g string) {
	if u.groups == nil {
		u.groups = make(map[string]struct{})
	}
	u.groups[g] = struct{}{}
	members := h.groups[g]
	if members == nil {
		members = make(map[*user]struct{})
		h.groups[g] = members
	}
	members[u] = struct{}{}
}

func (h *Hub) leave(u *user, g string) {
	delete(u.groups, g)
	if len(u.groups) == 0 {
		u.groups = nil
	}
	members := h.groups[g]
	delete(members, u)
	if len(members) == 0 {
		delete(h.groups, g)
	}
}

// record appends a membership change to u's log while a session of u
// awaits its Subscribe. h.mu must be held.
func (h *Hub) record(u *user, g string, join bool) {
	if u.pending > 0 {
		u.log = append(u.log, memberOp{group: g, join: join})
	}
}

// Publish queues c for the online sessions of a and returns at once; see
// the package documentation for who receives it and in which order. The
// hub keeps c and a (a.Users included) until they are dispatched: the
// caller must not modify them after the call. If the dispatcher's queue
// is full, c is dropped and counted in Stats.DroppedPublishes.
func (h *Hub) Publish(c *parley.Change, a parley.Audience) {
	if h.closed.Load() {
		return
	}
	if !h.shardOf(c.Conversation).put(job{c: c, a: a}, h.cfg.DispatchQueue) {
		h.dropped.Add(1)
	}
}

// GroupMembersChanged tells the hub who joined and who left groupID. It
// is applied in order with the changes of the group's conversation
// (parley.GroupConversation): changes published before it go to the
// members before it, changes published after it to the members after it.
// Users not online are ignored. It never blocks.
func (h *Hub) GroupMembersChanged(groupID string, joined, left []string) {
	if h.closed.Load() || len(joined)+len(left) == 0 {
		return
	}
	m := &membership{group: groupID, joined: append([]string(nil), joined...), left: append([]string(nil), left...)}
	h.shardOf(parley.GroupConversation(groupID)).put(job{m: m}, 0)
}

// GroupDestroyed tells the hub that groupID is gone with all its members,
// in order with the changes of its conversation as GroupMembersChanged.
func (h *Hub) GroupDestroyed(groupID string) {
	if h.closed.Load() {
		return
	}
	h.shardOf(parley.GroupConversation(groupID)).put(job{m: &membership{group: groupID, destroyed: true}}, 0)
}

// applyMembership is run by the dispatcher of the group's conversation.
func (h *Hub) applyMembership(m *membership) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.destroyed {
		for u := range h.pending {
			h.record(u, m.group, false)
		}
		for u := range h.groups[m.group] {
			h.leave(u, m.group)
		}
		return
	}
	for _, id := range m.joined {
		if u := h.users[id]; u != nil {
			h.record(u, m.group, true)
			h.join(u, m.group)
		}
	}
	for _, id := range m.left {
		if u := h.users[id]; u != nil {
			h.record(u, m.group, false)
			h.leave(u, m.group)
		}
	}
}

// Stats is a snapshot of the hub's state and counters.
type Stats struct {
	Sessions int // sessions online
	Users    int // users with a session online
	Groups   int // groups with a member online
	// Pushed counts pushes queued to sessions: one per recipient session
	// of each dispatched change. Replies (Session.Send) are not counted.
	Pushed uint64
	// DroppedPublishes counts publishes dropped because their
	// dispatcher's queue was full.
	DroppedPublishes uint64
	// SlowConsumers counts sessions closed with CloseSlowConsumer.
	SlowConsumers uint64
}

// Stats returns the hub's current Stats.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	st := Stats{Sessions: h.nSessions, Users: len(h.users), Groups: len(h.groups)}
	h.mu.RUnlock()
	st.Pushed = h.pushed.Load()
	st.DroppedPublishes = h.dropped.Load()
	st.SlowConsumers = h.slow.Load()
	return st
}

// Sessions returns the online sessions of user, oldest first.
func (h *Hub) Sessions(userID string) []SessionInfo {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u := h.users[userID]
	if u == nil {
		return nil
	}
	infos := make([]SessionInfo, len(u.sessions))
	for i, s := range u.sessions {
		infos[i] = s.info
	}
	return infos
}

// sessionID formats a session's ID: the hub's prefix, then the
// registration number in base 32.
func (h *Hub) sessionID(n uint64) string {
	return h.idPrefix + strconv.FormatUint(n, 32)
}

// parseSessionID returns the registration number of one of this hub's
// session IDs, or 0 (no session) for anything else. Only the exact form
// sessionID produces is accepted, so that n is one ID, not several
// spellings of it.
func (h *Hub) parseSessionID(id string) uint64 {
	if len(id) <= idPrefixLen || id[:idPrefixLen] != h.idPrefix {
		return 0
	}
	digits := id[idPrefixLen:]
	n, err := strconv.ParseUint(digits, 32, 64)
	if err != nil {
		return 0
	}
	var buf [16]byte
	if string(strconv.AppendUint(buf[:0], n, 32)) != digits {
		return 0
	}
	return n
}
