package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-im/parley"
)

// Event kinds: what a push says happened.
const (
	KindMessage   = "message"
	KindRecall    = "recall"
	KindExtension = "extension"
	KindRead      = "read"
	KindUnread    = "unread"
)

// Conversation types of Conversation.Type, and the prefixes of
// conversation IDs.
const (
	TypeC2C   = "C2C"
	TypeGroup = "GROUP"
)

// Event is one push (or one change fetched by sync to fill a gap).
type Event struct {
	Kind string
	// Seq is the change's place in its conversation's log; 0 for what is
	// never logged (online-only messages, unread counts).
	Seq uint64
	// ConversationID is "C2C" + the peer's UserID, or "GROUP" + GroupId.
	ConversationID string
	// Data is the change as the server sent it.
	Data json.RawMessage
}

// C2CConversationID is the ID of the C2C conversation with peer.
func C2CConversationID(peer string) string { return TypeC2C + peer }

// GroupConversationID is the ID of a group's conversation.
func GroupConversationID(groupID string) string { return TypeGroup + groupID }

// Message is a message event's data. To is the recipient of a C2C message;
// Recipients the members a group message was sent to, when it was sent
// to some only.
type Message struct {
	ConversationType        string
	GroupID                 string
	From                    string
	To                      string
	Recipients              []string
	MsgSeq                  uint64
	MsgRandom               uint32
	MsgTime                 int64
	MsgKey                  string
	MsgID                   string
	MsgPriority             string
	Body                    json.RawMessage
	CloudCustomData         string
	OnlineOnly              bool
	SupportMessageExtension bool
	NeedReadReceipt         bool
	AtInfo                  json.RawMessage
}

type messageWire struct {
	ConversationType        string          `json:"ConversationType"`
	GroupID                 string          `json:"GroupId"`
	From                    string          `json:"From_Account"`
	To                      json.RawMessage `json:"To_Account"`
	MsgSeq                  uint64          `json:"MsgSeq"`
	MsgRandom               uint32          `json:"MsgRandom"`
	MsgTime                 int64           `json:"MsgTime"`
	MsgKey                  string          `json:"MsgKey"`
	MsgID                   string          `json:"MsgId"`
	MsgPriority             string          `json:"MsgPriority"`
	MsgBody                 json.RawMessage `json:"MsgBody"`
	CloudCustomData         string          `json:"CloudCustomData"`
	OnlineOnlyFlag          int             `json:"OnlineOnlyFlag"`
	SupportMessageExtension int             `json:"SupportMessageExtension"`
	IsNeedReadReceipt       int             `json:"IsNeedReadReceipt"`
	NeedReadReceipt         int             `json:"NeedReadReceipt"`
	AtInfo                  json.RawMessage `json:"GroupAtInfo"`
}

// Message decodes a message event.
func (e Event) Message() (*Message, error) {
	var w messageWire
	if err := e.decode(KindMessage, &w); err != nil {
		return nil, err
	}
	m := &Message{
		ConversationType:        w.ConversationType,
		GroupID:                 w.GroupID,
		From:                    w.From,
		MsgSeq:                  w.MsgSeq,
		MsgRandom:               w.MsgRandom,
		MsgTime:                 w.MsgTime,
		MsgKey:                  w.MsgKey,
		MsgID:                   w.MsgID,
		MsgPriority:             w.MsgPriority,
		Body:                    w.MsgBody,
		CloudCustomData:         w.CloudCustomData,
		OnlineOnly:              w.OnlineOnlyFlag == 1,
		SupportMessageExtension: w.SupportMessageExtension == 1,
		NeedReadReceipt:         w.IsNeedReadReceipt == 1 || w.NeedReadReceipt == 1,
		AtInfo:                  w.AtInfo,
	}
	// To_Account is the recipient of a C2C message and the list of
	// targeted members of a group message.
	if len(w.To) > 0 && w.To[0] == '[' {
		if err := json.Unmarshal(w.To, &m.Recipients); err != nil {
			return nil, fmt.Errorf("client: message event: To_Account: %w", err)
		}
	} else if len(w.To) > 0 {
		if err := json.Unmarshal(w.To, &m.To); err != nil {
			return nil, fmt.Errorf("client: message event: To_Account: %w", err)
		}
	}
	return m, nil
}

// Recall is a recall event's data: a C2C message (From, To, MsgKey) or
// group messages (GroupID, MsgSeqs).
type Recall struct {
	ConversationType string
	GroupID          string
	From             string
	To               string
	MsgKey           string
	MsgSeq           uint64
	MsgTime          int64
	MsgSeqs          []uint64
	Operator         string
}

// Recall decodes a recall event.
func (e Event) Recall() (*Recall, error) {
	var w struct {
		ConversationType string                  `json:"ConversationType"`
		GroupID          string                  `json:"GroupId"`
		From             string                  `json:"From_Account"`
		To               string                  `json:"To_Account"`
		MsgKey           string                  `json:"MsgKey"`
		MsgSeq           uint64                  `json:"MsgSeq"`
		MsgTime          int64                   `json:"MsgTime"`
		MsgSeqList       []parley.GroupMsgSeqRef `json:"MsgSeqList"`
		Operator         string                  `json:"Operator_Account"`
	}
	if err := e.decode(KindRecall, &w); err != nil {
		return nil, err
	}
	r := &Recall{ConversationType: w.ConversationType, GroupID: w.GroupID, From: w.From, To: w.To,
		MsgKey: w.MsgKey, MsgSeq: w.MsgSeq, MsgTime: w.MsgTime, Operator: w.Operator}
	for _, s := range w.MsgSeqList {
		r.MsgSeqs = append(r.MsgSeqs, s.MsgSeq)
	}
	return r, nil
}

// Extension is an extension event's data: the message (From, To, MsgKey
// or GroupID, MsgSeq), the operation (parley.ExtensionSet, ExtensionDel,
// ExtensionClear), the KVs it touched and the message's extension Seq
// after it.
type Extension struct {
	ConversationType string               `json:"ConversationType"`
	From             string               `json:"From_Account"`
	To               string               `json:"To_Account"`
	MsgKey           string               `json:"MsgKey"`
	GroupID          string               `json:"GroupId"`
	MsgSeq           uint64               `json:"MsgSeq"`
	Operator         string               `json:"Operator_Account"`
	OperateType      int                  `json:"OperateType"`
	KVs              []parley.ExtensionKV `json:"ExtensionList"`
	Seq              uint64               `json:"Seq"`
}

// Extension decodes an extension event.
func (e Event) Extension() (*Extension, error) {
	var x Extension
	if err := e.decode(KindExtension, &x); err != nil {
		return nil, err
	}
	return &x, nil
}

// Read is a read event's data: the user (Report) marked a C2C conversation
// with Peer read up to MsgReadTime, or a group up to ReadMsgSeq.
type Read struct {
	ConversationType string `json:"ConversationType"`
	GroupID          string `json:"GroupId"`
	Report           string `json:"Report_Account"`
	Peer             string `json:"Peer_Account"`
	MsgReadTime      int64  `json:"MsgReadTime"`
	UnreadMsgNum     int    `json:"UnreadMsgNum"`
	AllUnread        int    `json:"AllC2CUnreadMsgNum"`
	ReadMsgSeq       uint64 `json:"ReadMsgSeq"`
}

// Read decodes a read event.
func (e Event) Read() (*Read, error) {
	var r Read
	if err := e.decode(KindRead, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Unread is an unread event's data: the user's unread count with Peer,
// and over all its C2C conversations.
type Unread struct {
	Peer         string `json:"Peer_Account"`
	UnreadMsgNum int    `json:"UnreadMsgNum"`
	AllUnread    int    `json:"AllC2CUnreadMsgNum"`
}

// Unread decodes an unread event.
func (e Event) Unread() (*Unread, error) {
	var u Unread
	if err := e.decode(KindUnread, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (e Event) decode(kind string, v any) error {
	if e.Kind != kind {
		return fmt.Errorf("client: a %s event is not a %s", e.Kind, kind)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("client: %s event: %w", kind, err)
	}
	return nil
}

// conversationOf names the conversation of a change's data, as user sees
// it: GROUP + GroupId, else C2C + the other party of From_Account and
// To_Account, else C2C + Peer_Account (read marks and unread counts).
func conversationOf(data json.RawMessage, user string) string {
	var w struct {
		GroupID string          `json:"GroupId"`
		From    string          `json:"From_Account"`
		To      json.RawMessage `json:"To_Account"`
		Peer    string          `json:"Peer_Account"`
	}
	if json.Unmarshal(data, &w) != nil {
		return ""
	}
	if w.GroupID != "" {
		return GroupConversationID(w.GroupID)
	}
	var to string
	if len(w.To) > 0 && w.To[0] == '"' {
		_ = json.Unmarshal(w.To, &to)
	}
	switch {
	case w.From != "" && to != "":
		if w.From == user {
			return C2CConversationID(to)
		}
		return C2CConversationID(w.From)
	case w.Peer != "":
		return C2CConversationID(w.Peer)
	}
	return ""
}

// item is what the reader queues for the orderer: a push, or (own set) a
// change the session made itself, named by ev.ConversationID and ev.Seq.
type item struct {
	ev  Event
	own bool
}

// pushQueue is the unbounded queue from the reader to the orderer: the
// reader must never wait, or replies would queue up behind pushes.
type pushQueue struct {
	mu     sync.Mutex
	items  []item
	signal chan struct{} // one token when items became non-empty
}

func (q *pushQueue) init() { q.signal = make(chan struct{}, 1) }

func (q *pushQueue) put(it item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// takeOwn returns the own items queued, leaving the pushes in order.
func (q *pushQueue) takeOwn() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	var own []item
	kept := q.items[:0]
	for _, it := range q.items {
		if it.own {
			own = append(own, it)
		} else {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	return own
}

// take returns everything queued, or nil.
func (q *pushQueue) take() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// order is the orderer goroutine: first the conversations to resume, then
// the pushes as they come, each checked against its conversation's cursor.
func (c *Client) order(resume []Conversation) {
	defer close(c.ordered)
	defer close(c.events)
	// Own changes right after a cursor need no network to count as seen:
	// counted even on the way out, so that Cursors includes them.
	defer func() {
		for _, it := range c.pushes.takeOwn() {
			c.made(it.ev.ConversationID, it.ev.Seq)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closing:
		case <-c.done:
		}
		cancel()
	}()

	for _, conv := range resume {
		if !c.catchUp(ctx, conv.ConversationID) {
			return
		}
	}
	for {
		items := c.pushes.take()
		// Own frames first, whatever their place in the batch: a push
		// ahead of one may need a sync, whose page can hold that own
		// change, and it must be known as own by then (catchUp's takeOwn
		// sees only what is still queued). Counting one early is safe: the
		// cursor moves past an own change only once those before it came.
		for _, it := range items {
			if it.own {
				c.made(it.ev.ConversationID, it.ev.Seq)
			}
		}
		for _, it := range items {
			if !it.own && !c.apply(ctx, it.ev) {
				return
			}
		}
		select {
		case <-c.pushes.signal:
		case <-ctx.Done():
			return
		}
	}
}

// made counts a change the session made itself as seen: the cursor moves
// past it when it is next, or once the changes before it have come.
func (c *Client) made(conv string, seq uint64) {
	cur, known := c.cursor(conv)
	if !known && IsGroupConversation(conv) {
		// A group first met through one's own change: its past is history.
		c.setCursor(conv, seq)
		return
	}
	if seq <= cur {
		return
	}
	if c.own[conv] == nil {
		c.own[conv] = make(map[uint64]bool)
	}
	c.own[conv][seq] = true
	c.advance(conv)
}

// advance moves a conversation's cursor past the session's own changes
// that follow it.
func (c *Client) advance(conv string) {
	own := c.own[conv]
	if len(own) == 0 {
		return
	}
	cur, _ := c.cursor(conv)
	moved := false
	for own[cur+1] {
		delete(own, cur+1)
		cur++
		moved = true
	}
	if moved {
		c.setCursor(conv, cur)
	}
	if len(own) == 0 {
		delete(c.own, conv)
	}
}

// apply hands e to Events if it is the next change of its conversation,
// syncs first if changes are missing before it, and drops it if it is a
// duplicate. It returns false when the Client is ending.
func (c *Client) apply(ctx context.Context, e Event) bool {
	e.ConversationID = conversationOf(e.Data, c.user)
	if e.Seq == 0 || e.ConversationID == "" {
		return c.emit(ctx, e)
	}
	cur, known := c.cursor(e.ConversationID)
	if !known && IsGroupConversation(e.ConversationID) {
		// A group joined while online: its past is history.
		cur = e.Seq - 1
	}
	switch {
	case e.Seq <= cur:
		return true
	case e.Seq == cur+1:
		if !c.emit(ctx, e) {
			return false
		}
		c.advance(e.ConversationID)
		return true
	}
	if !c.catchUp(ctx, e.ConversationID) {
		return false
	}
	if cur, _ := c.cursor(e.ConversationID); e.Seq > cur {
		// sync could not cover it (the conversation is gone, or the user
		// left the group): deliver what was pushed rather than nothing.
		if !c.emit(ctx, e) {
			return false
		}
		c.advance(e.ConversationID)
	}
	return true
}

// catchUp syncs a conversation from its cursor until the server says it
// is complete, handing each change to Events but the session's own. A
// refusal (the group is gone, or the user left it) ends the catch-up
// quietly; only the Client ending returns false.
func (c *Client) catchUp(ctx context.Context, conv string) bool {
	for {
		cur, _ := c.cursor(conv)
		page, err := c.SyncConversation(ctx, conv, cur, 0)
		if err != nil {
			var pe *Error
			return errors.As(err, &pe)
		}
		// The own frame of every change this session made that the page
		// holds came before the page: this session's requests are run one
		// at a time, the one that made the change before this sync. Own
		// frames queued behind pushes not handled yet are taken now.
		for _, it := range c.pushes.takeOwn() {
			c.made(it.ev.ConversationID, it.ev.Seq)
		}
		cur, _ = c.cursor(conv)
		for _, e := range page.Changes {
			if e.Seq <= cur {
				continue
			}
			if c.own[conv][e.Seq] {
				delete(c.own[conv], e.Seq)
				c.setCursor(conv, e.Seq)
			} else if !c.emit(ctx, e) {
				return false
			}
			cur = e.Seq
		}
		if page.Complete || len(page.Changes) == 0 {
			if page.Head > cur {
				cur = page.Head
				c.setCursor(conv, cur)
			}
			for seq := range c.own[conv] {
				if seq <= cur {
					delete(c.own[conv], seq)
				}
			}
			c.advance(conv)
			return true
		}
	}
}

// emit hands e to Events and moves its conversation's cursor. The cursor
// moves first, so that Cursors never lags an Event handed over, and moves
// back if the Client ends before e could be handed over.
func (c *Client) emit(ctx context.Context, e Event) bool {
	logged := e.Seq > 0 && e.ConversationID != ""
	var prev uint64
	var had bool
	if logged {
		c.cursorMu.Lock()
		prev, had = c.cursors[e.ConversationID]
		c.cursors[e.ConversationID] = e.Seq
		c.cursorMu.Unlock()
	}
	select {
	case c.events <- e:
		return true
	case <-ctx.Done():
	}
	if logged {
		c.cursorMu.Lock()
		if had {
			c.cursors[e.ConversationID] = prev
		} else {
			delete(c.cursors, e.ConversationID)
		}
		c.cursorMu.Unlock()
	}
	return false
}

func (c *Client) cursor(conv string) (uint64, bool) {
	c.cursorMu.Lock()
	defer c.cursorMu.Unlock()
	cur, ok := c.cursors[conv]
	return cur, ok
}

func (c *Client) setCursor(conv string, seq uint64) {
	c.cursorMu.Lock()
	c.cursors[conv] = seq
	c.cursorMu.Unlock()
}
