package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/internal/jsonx"
)

// ConversationType values of a change's data.
const (
	conversationC2C   = "C2C"
	conversationGroup = "GROUP"
)

// pushes collects what one operation publishes once it has committed.
// With a store whose transaction is a parley.CommitHooker each push is
// registered as a hook, so it is published on the writer in commit order;
// otherwise the pushes are kept and published by flush after InTx returns.
// reset must start every run of an InTx fn, as the fn may run twice.
type pushes struct {
	pub  Publisher
	kept []func()
}

func (e *Engine) newPushes() *pushes { return &pushes{pub: e.pub} }

func (p *pushes) reset() { p.kept = p.kept[:0] }

// add publishes c to a once tx has committed.
func (p *pushes) add(tx parley.Querier, c *parley.Change, a parley.Audience) {
	if p.pub == nil {
		return
	}
	pub := p.pub
	p.then(tx, func() { pub.Publish(c, a) })
}

// membersChanged tells the publisher, once tx has committed, who joined
// and who left a group.
func (p *pushes) membersChanged(tx parley.Querier, groupID string, joined, left []string) {
	if p.pub == nil || len(joined)+len(left) == 0 {
		return
	}
	pub := p.pub
	p.then(tx, func() { pub.GroupMembersChanged(groupID, joined, left) })
}

// groupDestroyed tells the publisher, once tx has committed, that a group
// is gone.
func (p *pushes) groupDestroyed(tx parley.Querier, groupID string) {
	if p.pub == nil {
		return
	}
	pub := p.pub
	p.then(tx, func() { pub.GroupDestroyed(groupID) })
}

func (p *pushes) then(tx parley.Querier, f func()) {
	if h, ok := tx.(parley.CommitHooker); ok {
		h.AfterCommit(f)
		return
	}
	p.kept = append(p.kept, f)
}

// flush publishes what was kept, after a successful InTx.
func (p *pushes) flush() {
	for _, f := range p.kept {
		f()
	}
	p.kept = p.kept[:0]
}

// appendChange appends a change of kind to conversation's log, with data
// as its body, and returns it.
func appendChange(ctx context.Context, tx parley.Querier, conversation, kind string, data []byte, now time.Time) (*parley.Change, error) {
	c := &parley.Change{Conversation: conversation, Kind: kind, Time: now.UnixMilli(), Data: data}
	if err := tx.ChangeAppend(ctx, c); err != nil {
		return nil, fmt.Errorf("chat: append a %s change: %w", kind, err)
	}
	return c, nil
}

// c2cMessageData is a C2C message as clients receive it. It is built by
// hand, as the after-send body is, because every message pays for it;
// TestChangeDataIsEncodingJSON holds it to encoding/json.
func c2cMessageData(m *parley.Message) []byte {
	b := make([]byte, 0, 256+len(m.From)+len(m.To)+len(m.Body)+len(m.CloudCustomData))
	b = append(b, `{"ConversationType":"C2C","From_Account":`...)
	b = jsonx.AppendString(b, m.From)
	b = append(b, `,"To_Account":`...)
	b = jsonx.AppendString(b, m.To)
	b = append(b, `,"MsgSeq":`...)
	b = strconv.AppendUint(b, uint64(m.MsgSeq), 10)
	b = append(b, `,"MsgRandom":`...)
	b = strconv.AppendUint(b, uint64(m.MsgRandom), 10)
	b = append(b, `,"MsgTime":`...)
	b = strconv.AppendInt(b, m.MsgTime, 10)
	b = append(b, `,"MsgKey":`...)
	b = jsonx.AppendString(b, m.MsgKey)
	b = append(b, `,"MsgId":`...)
	b = jsonx.AppendString(b, m.MsgID)
	b = append(b, `,"MsgBody":`...)
	b = append(b, m.Body...)
	b = append(b, `,"CloudCustomData":`...)
	b = jsonx.AppendString(b, m.CloudCustomData)
	b = append(b, `,"OnlineOnlyFlag":`...)
	b = strconv.AppendInt(b, int64(boolInt(m.OnlineOnly)), 10)
	b = append(b, `,"SupportMessageExtension":`...)
	b = strconv.AppendInt(b, int64(boolInt(m.SupportExtension)), 10)
	b = append(b, `,"IsNeedReadReceipt":`...)
	b = strconv.AppendInt(b, int64(boolInt(m.NeedReadReceipt)), 10)
	return append(b, '}')
}

// The other changes are rarer, and encoding/json builds them.

type groupMessageData struct {
	ConversationType        string          `json:"ConversationType"`
	GroupID                 string          `json:"GroupId"`
	From                    string          `json:"From_Account"`
	MsgSeq                  uint64          `json:"MsgSeq"`
	MsgRandom               uint32          `json:"MsgRandom"`
	MsgTime                 int64           `json:"MsgTime"`
	MsgID                   string          `json:"MsgId"`
	MsgPriority             string          `json:"MsgPriority"`
	MsgBody                 json.RawMessage `json:"MsgBody"`
	CloudCustomData         string          `json:"CloudCustomData"`
	OnlineOnlyFlag          int             `json:"OnlineOnlyFlag"`
	SupportMessageExtension int             `json:"SupportMessageExtension"`
	NeedReadReceipt         int             `json:"NeedReadReceipt"`
	To                      []string        `json:"To_Account,omitempty"`
	AtInfo                  json.RawMessage `json:"GroupAtInfo,omitempty"`
}

func newGroupMessageData(m *parley.GroupMessage, online bool) ([]byte, error) {
	priority := m.Priority
	if priority == "" {
		priority = priorityNormal
	}
	return marshal(groupMessageData{
		ConversationType:        conversationGroup,
		GroupID:                 m.GroupID,
		From:                    m.From,
		MsgSeq:                  m.MsgSeq,
		MsgRandom:               m.Random,
		MsgTime:                 m.MsgTime,
		MsgID:                   m.MsgID,
		MsgPriority:             priority,
		MsgBody:                 m.Body,
		CloudCustomData:         m.CloudCustomData,
		OnlineOnlyFlag:          boolInt(online),
		SupportMessageExtension: boolInt(m.SupportExtension),
		NeedReadReceipt:         boolInt(m.NeedReadReceipt),
		To:                      m.To,
		AtInfo:                  m.AtInfo,
	})
}

type c2cRecallData struct {
	ConversationType string `json:"ConversationType"`
	From             string `json:"From_Account"`
	To               string `json:"To_Account"`
	MsgKey           string `json:"MsgKey"`
	MsgSeq           uint32 `json:"MsgSeq"`
	MsgTime          int64  `json:"MsgTime"`
	Operator         string `json:"Operator_Account"`
}

type groupRecallData struct {
	ConversationType string                  `json:"ConversationType"`
	GroupID          string                  `json:"GroupId"`
	MsgSeqList       []parley.GroupMsgSeqRef `json:"MsgSeqList"`
	Operator         string                  `json:"Operator_Account"`
}

// extensionData is an extension operation as clients receive it: the
// message it applies to, the operation, the KVs it set (with their new
// Seq) or deleted, and the message's extension Seq after it.
type extensionData struct {
	ConversationType string               `json:"ConversationType"`
	From             string               `json:"From_Account,omitempty"`
	To               string               `json:"To_Account,omitempty"`
	MsgKey           string               `json:"MsgKey,omitempty"`
	GroupID          string               `json:"GroupId,omitempty"`
	MsgSeq           uint64               `json:"MsgSeq,omitempty"`
	Operator         string               `json:"Operator_Account"`
	OperateType      int                  `json:"OperateType"`
	ExtensionList    []parley.ExtensionKV `json:"ExtensionList"`
	Seq              uint64               `json:"Seq"`
}

type c2cReadData struct {
	ConversationType string `json:"ConversationType"`
	Report           string `json:"Report_Account"`
	Peer             string `json:"Peer_Account"`
	MsgReadTime      int64  `json:"MsgReadTime"`
	UnreadMsgNum     int    `json:"UnreadMsgNum"`
	AllUnread        int    `json:"AllC2CUnreadMsgNum"`
}

type groupReadData struct {
	ConversationType string `json:"ConversationType"`
	GroupID          string `json:"GroupId"`
	Report           string `json:"Report_Account"`
	ReadMsgSeq       uint64 `json:"ReadMsgSeq"`
}

// unreadChange tells owner its unread count with peer is now unread (and
// total over all its C2C conversations). It is pushed, never logged. It is
// built by hand, on the store's writer, for most messages;
// TestChangeDataIsEncodingJSON holds it to encoding/json.
func unreadChange(owner, peer string, unread, total int, now time.Time) *parley.Change {
	b := make([]byte, 0, 64+len(peer))
	b = append(b, `{"Peer_Account":`...)
	b = jsonx.AppendString(b, peer)
	b = append(b, `,"UnreadMsgNum":`...)
	b = strconv.AppendInt(b, int64(unread), 10)
	b = append(b, `,"AllC2CUnreadMsgNum":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, '}')
	return &parley.Change{
		Conversation: parley.C2CConversation(owner, peer),
		Kind:         parley.ChangeUnread,
		Only:         owner,
		Time:         now.UnixMilli(),
		Data:         b,
	}
}

// c2cAudience is who is pushed a C2C message: the recipient, and the
// sender's other sessions when SyncOtherMachine asks for it.
func c2cAudience(m *parley.Message, origin parley.Origin) parley.Audience {
	users := []string{m.To}
	if m.SyncOtherMachine == parley.SyncToSender && m.From != m.To {
		users = append(users, m.From)
	}
	return parley.Audience{Users: users, SkipSession: origin.SessionID}
}
