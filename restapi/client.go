package restapi

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// ClientEngine is what client sessions need of the chat engine;
// *chat.Engine implements it.
type ClientEngine interface {
	SendC2C(ctx context.Context, p chat.SendParams) (chat.SendResult, error)
	SendGroup(ctx context.Context, p chat.SendGroupParams) (chat.SendGroupResult, error)
	Recall(ctx context.Context, p chat.RecallParams) error
	RecallGroup(ctx context.Context, p chat.RecallGroupParams) ([]chat.RecallResult, error)
	SetExtensions(ctx context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error)
	GetExtensions(ctx context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error)
	SetRead(ctx context.Context, p chat.SetReadParams) error
	SetGroupRead(ctx context.Context, p chat.GroupReadParams) (uint64, error)
	Roam(ctx context.Context, p chat.RoamParams) (chat.RoamResult, error)
	GroupHistory(ctx context.Context, p chat.GroupHistoryParams) (chat.GroupHistoryResult, error)
	Conversations(ctx context.Context, user string) ([]parley.ConversationSummary, error)
	Sync(ctx context.Context, p chat.SyncParams) (chat.SyncResult, error)
}

// ClientOps runs the requests of logged-in clients: the operations of the
// client protocol (docs/protocol.md) past login. Each decodes its data as
// the REST endpoint it mirrors decodes a body, with the same codes, and
// answers with the same fields, so a client and an app backend see one
// API. The acting user is always the session's: a From_Account naming
// anyone else is refused (90008), and whatever the REST call would take
// from Operator_Account or Report_Account is the session's user.
//
// It holds no state and is safe for concurrent use.
type ClientOps struct {
	engine ClientEngine
	ops    map[string]clientOp
}

// NewClientOps returns the client operations run by engine.
func NewClientOps(engine ClientEngine) (*ClientOps, error) {
	if engine == nil {
		return nil, errors.New("restapi: NewClientOps: engine is required")
	}
	return &ClientOps{engine: engine, ops: map[string]clientOp{
		"send_c2c":      (*ClientOps).sendC2C,
		"send_group":    (*ClientOps).sendGroup,
		"recall_c2c":    (*ClientOps).recallC2C,
		"recall_group":  (*ClientOps).recallGroup,
		"set_ext":       (*ClientOps).setExt,
		"get_ext":       (*ClientOps).getExt,
		"mark_read":     (*ClientOps).markRead,
		"history_c2c":   (*ClientOps).historyC2C,
		"history_group": (*ClientOps).historyGroup,
		"conversations": (*ClientOps).conversations,
		"sync":          (*ClientOps).sync,
	}}, nil
}

// ClientCall is one request of a logged-in client.
type ClientCall struct {
	Op string
	// Data is the request's data object; nil means {}.
	Data []byte
	// User is the session's user, who acts.
	User string
	// Origin is the session's address, platform and ID: the ClientIP and
	// OptPlatform of the webhooks the request causes.
	Origin parley.Origin
}

type clientOp func(o *ClientOps, c *call) (any, error)

// Has reports whether Serve runs op.
func (o *ClientOps) Has(op string) bool {
	_, ok := o.ops[op]
	return ok
}

// Serve runs one request. It returns the answer's data as a JSON object,
// or nil when the operation answers nothing; an error is answered as
// ErrorAnswer says. An op Serve does not run is 90001.
func (o *ClientOps) Serve(ctx context.Context, req ClientCall) ([]byte, error) {
	fn, ok := o.ops[req.Op]
	if !ok {
		return nil, parley.Errorf(parley.ErrJSONParse, "unknown op %q", req.Op)
	}
	data := req.Data
	if len(data) == 0 {
		data = []byte("{}")
	}
	f, ok := decodeObject(data)
	if !ok {
		return nil, parley.Errorf(parley.ErrJSONParse, "data must be a JSON object")
	}
	result, err := fn(o, &call{ctx: ctx, f: f, origin: req.Origin, user: req.User})
	if err != nil || result == nil {
		return nil, err
	}
	members, err := appendMembers(nil, result)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return []byte("{}"), nil
	}
	members[0] = '{' // the leading comma of the first member
	return append(members, '}'), nil
}

// sender checks a From_Account of a client's request: absent, "" or the
// session's user.
func sender(f fields, user string) error {
	raw, present := f.raw("From_Account")
	if !present {
		return nil
	}
	from, ok := jsonString(raw)
	if !ok {
		return parley.Errorf(parley.ErrFromAccountInvalid, "From_Account must be a string")
	}
	if from != "" && from != user {
		return parley.Errorf(parley.ErrFromAccountInvalid, "From_Account must be the logged-in user")
	}
	return nil
}

// sendC2C is sendmsg from the session's user. SyncOtherMachine defaults
// to 1, so the user's other devices get the message, and
// ForbidCallbackControl is ignored: the app backend, not a client, decides
// which callbacks it hears.
func (o *ClientOps) sendC2C(c *call) (any, error) {
	if err := sender(c.f, c.user); err != nil {
		return nil, err
	}
	p, err := decodeSendMsg(c.f)
	if err != nil {
		return nil, err
	}
	p.From = c.user
	if p.SyncOtherMachine == parley.SyncDefault {
		p.SyncOtherMachine = parley.SyncToSender
	}
	p.ForbidBeforeCallback, p.ForbidAfterCallback = false, false
	p.Origin = c.origin
	res, err := o.engine.SendC2C(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return sendMsgAnswer{MsgTime: res.MsgTime, MsgKey: res.MsgKey, MsgID: res.MsgID}, nil
}

// sendGroup is send_group_msg sent and operated by the session's user;
// ForbidCallbackControl is ignored, as for sendC2C.
func (o *ClientOps) sendGroup(c *call) (any, error) {
	if err := sender(c.f, c.user); err != nil {
		return nil, err
	}
	p, err := decodeSendGroup(c.f)
	if err != nil {
		return nil, err
	}
	p.From, p.Operator = c.user, c.user
	p.ForbidBeforeCallback, p.ForbidAfterCallback = false, false
	p.Origin = c.origin
	res, err := o.engine.SendGroup(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return sendGroupMsgAnswer{MsgTime: res.MsgTime, MsgSeq: res.MsgSeq, MsgDropReason: res.MsgDropReason}, nil
}

// recallC2C is admin_msgwithdraw of the session's user's own message, in
// the client recall window.
func (o *ClientOps) recallC2C(c *call) (any, error) {
	if err := sender(c.f, c.user); err != nil {
		return nil, err
	}
	to, err := account(c.f, "To_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	key, present, err := c.f.string("MsgKey", parley.ErrMsgKeyInvalid)
	if err != nil {
		return nil, err
	}
	if !present || key == "" {
		return nil, parley.Errorf(parley.ErrMsgKeyInvalid, "MsgKey is required")
	}
	return nil, o.engine.Recall(c.ctx, chat.RecallParams{From: c.user, To: to, MsgKey: key, Operator: c.user, Origin: c.origin})
}

// recallGroup is group_msg_recall by the session's user, in the client
// recall window.
func (o *ClientOps) recallGroup(c *call) (any, error) {
	p, err := decodeGroupRecall(c.f)
	if err != nil {
		return nil, err
	}
	p.Operator, p.Client, p.Origin = c.user, true, c.origin
	results, err := o.engine.RecallGroup(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return groupRecallAnswerOf(results), nil
}

// extensionRef reads which message set_ext and get_ext are about: a group
// message when GroupId is given, else a C2C message whose From_Account
// (its sender, not the actor) defaults to the session's user.
func extensionRef(c *call) (chat.MessageRef, error) {
	if _, group := c.f.raw("GroupId"); group {
		return groupMessageRef(c.f)
	}
	ref, err := c2cMessageRef(c.f)
	if err != nil {
		return ref, err
	}
	if ref.From == "" {
		ref.From = c.user
	}
	return ref, nil
}

func (o *ClientOps) setExt(c *call) (any, error) {
	ref, err := extensionRef(c)
	if err != nil {
		return nil, err
	}
	return setExtensionsWith(o.engine, c, ref)
}

func (o *ClientOps) getExt(c *call) (any, error) {
	ref, err := extensionRef(c)
	if err != nil {
		return nil, err
	}
	return getExtensionsWith(o.engine, c, ref)
}

type groupReadAnswer struct {
	ReadMsgSeq uint64 `json:"ReadMsgSeq"`
}

// markRead marks a C2C conversation (Peer_Account, as admin_set_msg_read
// reported by the session's user) or a group (GroupId, MsgSeq) read.
func (o *ClientOps) markRead(c *call) (any, error) {
	_, group := c.f.raw("GroupId")
	_, peer := c.f.raw("Peer_Account")
	switch {
	case group && peer:
		return nil, parley.Errorf(parley.ErrFormat, "give Peer_Account or GroupId, not both")
	case group:
		id, err := groupID(c.f, badGroupParam)
		if err != nil {
			return nil, err
		}
		seq, _, err := c.f.uint64("MsgSeq", badGroupParam)
		if err != nil {
			return nil, err
		}
		read, err := o.engine.SetGroupRead(c.ctx, chat.GroupReadParams{GroupID: id, User: c.user, MsgSeq: seq, Origin: c.origin})
		if err != nil {
			return nil, err
		}
		return groupReadAnswer{ReadMsgSeq: read}, nil
	}
	peerID, err := account(c.f, "Peer_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	readTime, err := msgReadTime(c.f)
	if err != nil {
		return nil, err
	}
	return nil, o.engine.SetRead(c.ctx, chat.SetReadParams{Report: c.user, Peer: peerID, ReadTime: readTime, Origin: c.origin})
}

// historyC2C is admin_getroammsg from the session's user's side.
func (o *ClientOps) historyC2C(c *call) (any, error) {
	peer, err := account(c.f, "Peer_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	p, err := decodeRoam(c.f, c.user, peer)
	if err != nil {
		return nil, err
	}
	res, err := o.engine.Roam(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return roamAnswerOf(res), nil
}

// historyGroup is group_msg_get_simple for a member.
func (o *ClientOps) historyGroup(c *call) (any, error) {
	p, err := decodeGroupHistory(c.f)
	if err != nil {
		return nil, err
	}
	p.Member = c.user
	res, err := o.engine.GroupHistory(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return groupHistoryAnswerOf(p.GroupID, res), nil
}

// Conversation IDs of the client protocol: the kind, then the peer's
// UserID or the GroupId.
const (
	conversationC2C   = "C2C"
	conversationGroup = "GROUP"
)

type c2cConversationItem struct {
	ConversationID string `json:"ConversationID"`
	Type           string `json:"Type"`
	Peer           string `json:"Peer_Account"`
	Seq            uint64 `json:"Seq"`
	UnreadMsgNum   int    `json:"UnreadMsgNum"`
	ReadTime       int64  `json:"ReadTime"`
}

type groupConversationItem struct {
	ConversationID string `json:"ConversationID"`
	Type           string `json:"Type"`
	GroupID        string `json:"GroupId"`
	Seq            uint64 `json:"Seq"`
	LastMsgSeq     uint64 `json:"LastMsgSeq"`
	ReadMsgSeq     uint64 `json:"ReadMsgSeq"`
	UnreadMsgNum   uint64 `json:"UnreadMsgNum"`
}

type conversationsAnswer struct {
	ConversationList []any `json:"ConversationList"`
}

func (o *ClientOps) conversations(c *call) (any, error) {
	list, err := o.engine.Conversations(c.ctx, c.user)
	if err != nil {
		return nil, err
	}
	answer := conversationsAnswer{ConversationList: make([]any, 0, len(list))}
	for _, s := range list {
		if s.GroupID != "" {
			unread := uint64(0)
			if s.LastMsgSeq > s.ReadMsgSeq {
				unread = s.LastMsgSeq - s.ReadMsgSeq
			}
			answer.ConversationList = append(answer.ConversationList, groupConversationItem{
				ConversationID: conversationGroup + s.GroupID, Type: conversationGroup, GroupID: s.GroupID,
				Seq: s.Seq, LastMsgSeq: s.LastMsgSeq, ReadMsgSeq: s.ReadMsgSeq, UnreadMsgNum: unread,
			})
			continue
		}
		answer.ConversationList = append(answer.ConversationList, c2cConversationItem{
			ConversationID: conversationC2C + s.Peer, Type: conversationC2C, Peer: s.Peer,
			Seq: s.Seq, UnreadMsgNum: s.Unread, ReadTime: s.ReadTime,
		})
	}
	return answer, nil
}

// syncAnswer is a page of changes, each written as it was pushed: its data
// is the engine's JSON, appended as it is.
type syncAnswer struct {
	changes  []*parley.Change
	head     uint64
	complete bool
}

func (a syncAnswer) appendMembers(dst []byte) []byte {
	dst = append(dst, `,"Changes":[`...)
	for i, ch := range a.changes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"event":`...)
		dst, _ = appendJSON(dst, ch.Kind) // a string always encodes
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, ch.Seq, 10)
		dst = append(dst, `,"data":`...)
		if len(ch.Data) == 0 {
			dst = append(dst, "{}"...)
		} else {
			dst = append(dst, ch.Data...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"Head":`...)
	dst = strconv.AppendUint(dst, a.head, 10)
	dst = append(dst, `,"Complete":`...)
	if a.complete {
		return append(dst, '1')
	}
	return append(dst, '0')
}

// sync reads a page of a conversation's changes: ConversationID (C2C +
// peer, or GROUP + GroupId), AfterSeq, Limit. A field of the wrong type
// or a malformed ConversationID is 90010.
func (o *ClientOps) sync(c *call) (any, error) {
	id, present, err := c.f.string("ConversationID", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, parley.Errorf(parley.ErrFormat, "ConversationID is required")
	}
	p := chat.SyncParams{User: c.user}
	switch {
	case strings.HasPrefix(id, conversationGroup) && len(id) > len(conversationGroup):
		p.GroupID = id[len(conversationGroup):]
	case strings.HasPrefix(id, conversationC2C) && len(id) > len(conversationC2C):
		p.Peer = id[len(conversationC2C):]
	default:
		return nil, parley.Errorf(parley.ErrFormat, "ConversationID %q is neither C2C<UserID> nor GROUP<GroupId>", id)
	}
	if p.AfterSeq, _, err = c.f.uint64("AfterSeq", parley.ErrFormat); err != nil {
		return nil, err
	}
	limit, _, err := c.f.int("Limit", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, parley.Errorf(parley.ErrFormat, "Limit must not be negative")
	}
	p.Limit = clampInt(limit)
	res, err := o.engine.Sync(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return syncAnswer{changes: res.Changes, head: res.Head, complete: res.Complete}, nil
}
