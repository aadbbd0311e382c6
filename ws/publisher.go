package ws

import (
	"strconv"
	"strings"
	"sync"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/jsonx"
)

// Publisher is the chat engine's chat.Publisher: it hands every change to
// the hub, and tells the session that made a logged change its seq with an
// own frame, {"op":"own","conversation","seq"}.
//
// Why: the session that makes a change gets a reply, not a push (the hub
// skips it), so its client would see a gap in the conversation's seqs
// where its own change is, and would sync the change back. The own frame
// lets it count the change as seen instead. It is queued on the session
// when the change commits, on the store's writer, so it comes before the
// push of any later change of the conversation, whose Publish comes after
// (pushes of earlier changes may still follow it: they go through the
// hub's dispatcher, and a client holds the own seq until they have come).
type Publisher struct {
	hub *hub.Hub

	mu       sync.RWMutex
	sessions map[string]owner // by session ID: the sessions of this server
}

type owner struct {
	session *hub.Session
	user    string
}

// NewPublisher returns a Publisher in front of h.
func NewPublisher(h *hub.Hub) *Publisher {
	return &Publisher{hub: h, sessions: make(map[string]owner)}
}

// Publish hands c to the hub and, if c is logged, tells the session a
// skips. It is quick and never blocks, as the engine requires.
func (p *Publisher) Publish(c *parley.Change, a parley.Audience) {
	p.hub.Publish(c, a)
	if a.SkipSession == "" || c.Seq == 0 {
		return
	}
	p.mu.RLock()
	o, ok := p.sessions[a.SkipSession]
	p.mu.RUnlock()
	if ok {
		o.session.Send(encodeOwn(conversationID(c.Conversation, o.user), c.Seq))
	}
}

// GroupMembersChanged tells the hub.
func (p *Publisher) GroupMembersChanged(groupID string, joined, left []string) {
	p.hub.GroupMembersChanged(groupID, joined, left)
}

// GroupDestroyed tells the hub.
func (p *Publisher) GroupDestroyed(groupID string) { p.hub.GroupDestroyed(groupID) }

func (p *Publisher) register(s *hub.Session, user string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.sessions[s.ID()] = owner{session: s, user: user}
	p.mu.Unlock()
}

func (p *Publisher) unregister(s *hub.Session) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.sessions, s.ID())
	p.mu.Unlock()
}

// encodeOwn is the own frame of a change a session made.
func encodeOwn(conversation string, seq uint64) []byte {
	b := make([]byte, 0, 48+len(conversation))
	b = append(b, `{"op":"own","conversation":`...)
	b = jsonx.AppendString(b, conversation)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// conversationID names a change's conversation as the protocol does for
// user: "GROUP" + GroupId, or "C2C" + the other party. conversation is
// parley.GroupConversation's or parley.C2CConversation's key.
func conversationID(conversation, user string) string {
	if id, ok := strings.CutPrefix(conversation, "group:"); ok {
		return "GROUP" + id
	}
	if pair, ok := strings.CutPrefix(conversation, "c2c:"); ok {
		a, b, _ := strings.Cut(pair, "\x00")
		if a == user {
			return "C2C" + b
		}
		return "C2C" + a
	}
	return ""
}
