package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"

	"github.com/parley-im/parley"
)

// TextBody is the MsgBody of one text message.
func TextBody(text string) json.RawMessage {
	b, _ := json.Marshal([]map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]string{"Text": text}}})
	return b
}

func random32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sendControl(noUnread, noLastMsg bool) []string {
	var c []string
	if noUnread {
		c = append(c, "NoUnread")
	}
	if noLastMsg {
		c = append(c, "NoLastMsg")
	}
	return c
}

// SendC2CRequest is a one-to-one message (send_c2c).
type SendC2CRequest struct {
	To   string
	Body json.RawMessage // the MsgBody array, e.g. TextBody("hi")
	// MsgRandom zero means a random one; MsgSeq zero lets the server pick.
	MsgRandom uint32
	MsgSeq    uint32
	// LifeTime is MsgLifeTime in seconds: nil means 7 days, 0 online only.
	LifeTime   *int
	OnlineOnly bool
	// SyncOtherMachine zero means 1: the sender's other devices get it.
	SyncOtherMachine int
	CloudCustomData  string
	SupportExtension bool
	NeedReadReceipt  bool
	NoUnread         bool
	NoLastMsg        bool
}

// SendC2CResult is send_c2c's answer.
type SendC2CResult struct {
	MsgTime int64  `json:"MsgTime"`
	MsgKey  string `json:"MsgKey"`
	MsgID   string `json:"MsgId"`
}

// SendC2C sends a one-to-one message.
func (c *Client) SendC2C(ctx context.Context, r SendC2CRequest) (SendC2CResult, error) {
	if r.MsgRandom == 0 {
		r.MsgRandom = random32()
	}
	data := struct {
		To                      string          `json:"To_Account"`
		MsgBody                 json.RawMessage `json:"MsgBody"`
		MsgRandom               uint32          `json:"MsgRandom"`
		MsgSeq                  uint32          `json:"MsgSeq,omitempty"`
		MsgLifeTime             *int            `json:"MsgLifeTime,omitempty"`
		OnlineOnlyFlag          int             `json:"OnlineOnlyFlag,omitempty"`
		SyncOtherMachine        int             `json:"SyncOtherMachine,omitempty"`
		CloudCustomData         string          `json:"CloudCustomData,omitempty"`
		SupportMessageExtension int             `json:"SupportMessageExtension,omitempty"`
		IsNeedReadReceipt       int             `json:"IsNeedReadReceipt,omitempty"`
		SendMsgControl          []string        `json:"SendMsgControl,omitempty"`
	}{r.To, r.Body, r.MsgRandom, r.MsgSeq, r.LifeTime, flag(r.OnlineOnly), r.SyncOtherMachine, r.CloudCustomData,
		flag(r.SupportExtension), flag(r.NeedReadReceipt), sendControl(r.NoUnread, r.NoLastMsg)}
	var res SendC2CResult
	err := c.Call(ctx, "send_c2c", data, &res)
	return res, err
}

// SendGroupRequest is a group message (send_group).
type SendGroupRequest struct {
	GroupID string
	Body    json.RawMessage
	// Random zero means a random one.
	Random           uint32
	Priority         string // High, Normal (""), Low, Lowest
	CloudCustomData  string
	OnlineOnly       bool
	SupportExtension bool
	NeedReadReceipt  bool
	To               []string        // some members only
	AtInfo           json.RawMessage // GroupAtInfo
	NoUnread         bool
	NoLastMsg        bool
}

// SendGroupResult is send_group's answer.
type SendGroupResult struct {
	MsgTime       int64  `json:"MsgTime"`
	MsgSeq        uint64 `json:"MsgSeq"`
	MsgDropReason string `json:"MsgDropReason"`
}

// SendGroup sends a group message.
func (c *Client) SendGroup(ctx context.Context, r SendGroupRequest) (SendGroupResult, error) {
	if r.Random == 0 {
		r.Random = random32()
	}
	data := struct {
		GroupID                 string          `json:"GroupId"`
		MsgBody                 json.RawMessage `json:"MsgBody"`
		Random                  uint32          `json:"Random"`
		MsgPriority             string          `json:"MsgPriority,omitempty"`
		CloudCustomData         string          `json:"CloudCustomData,omitempty"`
		OnlineOnlyFlag          int             `json:"OnlineOnlyFlag,omitempty"`
		SupportMessageExtension int             `json:"SupportMessageExtension,omitempty"`
		NeedReadReceipt         int             `json:"NeedReadReceipt,omitempty"`
		To                      []string        `json:"To_Account,omitempty"`
		AtInfo                  json.RawMessage `json:"GroupAtInfo,omitempty"`
		SendMsgControl          []string        `json:"SendMsgControl,omitempty"`
	}{r.GroupID, r.Body, r.Random, r.Priority, r.CloudCustomData, flag(r.OnlineOnly), flag(r.SupportExtension),
		flag(r.NeedReadReceipt), r.To, r.AtInfo, sendControl(r.NoUnread, r.NoLastMsg)}
	var res SendGroupResult
	err := c.Call(ctx, "send_group", data, &res)
	return res, err
}

// RecallC2C recalls a message the user sent to to.
func (c *Client) RecallC2C(ctx context.Context, to, msgKey string) error {
	return c.Call(ctx, "recall_c2c", map[string]string{"To_Account": to, "MsgKey": msgKey}, nil)
}

// RecallResult is one MsgSeq's outcome: RetCode 0, or why not (10030 no
// such message, 10031 too old, 10032 already recalled, 10007 not allowed).
type RecallResult struct {
	MsgSeq  uint64 `json:"MsgSeq"`
	RetCode int    `json:"RetCode"`
}

// RecallGroup recalls group messages.
func (c *Client) RecallGroup(ctx context.Context, groupID string, msgSeqs ...uint64) ([]RecallResult, error) {
	list := make([]parley.GroupMsgSeqRef, len(msgSeqs))
	for i, s := range msgSeqs {
		list[i].MsgSeq = s
	}
	var res struct {
		RecallRetList []RecallResult `json:"RecallRetList"`
	}
	err := c.Call(ctx, "recall_group", map[string]any{"GroupId": groupID, "MsgSeqList": list}, &res)
	return res.RecallRetList, err
}

// MessageRef names a message: a C2C one by From (its sender; "" means the
// user), To and MsgKey, or a group one by GroupID and MsgSeq.
type MessageRef struct {
	From, To, MsgKey string
	GroupID          string
	MsgSeq           uint64
}

func (r MessageRef) fields() map[string]any {
	if r.GroupID != "" {
		return map[string]any{"GroupId": r.GroupID, "MsgSeq": r.MsgSeq}
	}
	m := map[string]any{"To_Account": r.To, "MsgKey": r.MsgKey}
	if r.From != "" {
		m["From_Account"] = r.From
	}
	return m
}

// ExtensionResult is one KV's outcome of SetExtensions: ErrorCode 0 and
// the KV as applied (with its new Seq), or 23001 and the KV as it is.
type ExtensionResult struct {
	ErrorCode int                `json:"ErrorCode"`
	Extension parley.ExtensionKV `json:"Extension"`
}

// SetExtensions writes a message's extensions: op is parley.ExtensionSet,
// ExtensionDel or ExtensionClear; each KV's Seq is its current Seq (0 for
// a new key).
func (c *Client) SetExtensions(ctx context.Context, ref MessageRef, op int, kvs []parley.ExtensionKV) ([]ExtensionResult, error) {
	data := ref.fields()
	data["OperateType"] = op
	if kvs != nil {
		data["ExtensionList"] = kvs
	}
	var res struct {
		ExtensionList []ExtensionResult `json:"ExtensionList"`
	}
	err := c.Call(ctx, "set_ext", data, &res)
	return res.ExtensionList, err
}

// Extensions is a page of a message's extensions.
type Extensions struct {
	CompleteFlag  int                  `json:"CompleteFlag"`
	LatestSeq     uint64               `json:"LatestSeq"`
	ClearSeq      uint64               `json:"ClearSeq"`
	ExtensionList []parley.ExtensionKV `json:"ExtensionList"`
}

// GetExtensions reads a message's extensions with Seq >= startSeq.
func (c *Client) GetExtensions(ctx context.Context, ref MessageRef, startSeq uint64) (Extensions, error) {
	data := ref.fields()
	if startSeq > 0 {
		data["StartSeq"] = startSeq
	}
	var res Extensions
	err := c.Call(ctx, "get_ext", data, &res)
	return res, err
}

// MarkC2CRead marks the messages from peer read up to readTime (Unix
// seconds; zero means now).
func (c *Client) MarkC2CRead(ctx context.Context, peer string, readTime int64) error {
	data := map[string]any{"Peer_Account": peer}
	if readTime > 0 {
		data["MsgReadTime"] = readTime
	}
	return c.Call(ctx, "mark_read", data, nil)
}

// MarkGroupRead marks a group's messages read up to msgSeq (zero means the
// newest) and returns the read position now.
func (c *Client) MarkGroupRead(ctx context.Context, groupID string, msgSeq uint64) (uint64, error) {
	data := map[string]any{"GroupId": groupID}
	if msgSeq > 0 {
		data["MsgSeq"] = msgSeq
	}
	var res struct {
		ReadMsgSeq uint64 `json:"ReadMsgSeq"`
	}
	err := c.Call(ctx, "mark_read", data, &res)
	return res.ReadMsgSeq, err
}

// HistoryC2CRequest asks for a page of C2C history, newest first: the
// messages with MinTime <= MsgTime <= MaxTime (Unix seconds), at most
// MaxCnt; LastMsgKey with MaxTime = the previous page's LastMsgTime asks
// for the next page.
type HistoryC2CRequest struct {
	Peer       string `json:"Peer_Account"`
	MaxCnt     int    `json:"MaxCnt"`
	MinTime    int64  `json:"MinTime"`
	MaxTime    int64  `json:"MaxTime"`
	LastMsgKey string `json:"LastMsgKey,omitempty"`
}

// HistoryMessage is one message of HistoryC2C. MsgFlagBits 8 is a
// recalled message.
type HistoryMessage struct {
	From            string          `json:"From_Account"`
	To              string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTimeStamp    int64           `json:"MsgTimeStamp"`
	MsgFlagBits     int             `json:"MsgFlagBits"`
	IsPeerRead      int             `json:"IsPeerRead"`
	MsgKey          string          `json:"MsgKey"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData"`
}

// HistoryC2CResult is a page of C2C history.
type HistoryC2CResult struct {
	Complete    int              `json:"Complete"`
	MsgCnt      int              `json:"MsgCnt"`
	LastMsgTime int64            `json:"LastMsgTime"`
	LastMsgKey  string           `json:"LastMsgKey"`
	MsgList     []HistoryMessage `json:"MsgList"`
}

// HistoryC2C reads a page of the history with a peer.
func (c *Client) HistoryC2C(ctx context.Context, r HistoryC2CRequest) (HistoryC2CResult, error) {
	var res HistoryC2CResult
	err := c.Call(ctx, "history_c2c", r, &res)
	return res, err
}

// HistoryGroupRequest asks for the newest ReqMsgNumber (1-20) messages of
// a group with MsgSeq <= ReqMsgSeq (zero means the newest).
type HistoryGroupRequest struct {
	GroupID         string `json:"GroupId"`
	ReqMsgSeq       uint64 `json:"ReqMsgSeq,omitempty"`
	ReqMsgNumber    int    `json:"ReqMsgNumber"`
	WithRecalledMsg int    `json:"WithRecalledMsg,omitempty"`
}

// GroupHistoryMessage is one message of HistoryGroup. IsPlaceMsg 2 is a
// recalled message.
type GroupHistoryMessage struct {
	From            string          `json:"From_Account"`
	IsPlaceMsg      int             `json:"IsPlaceMsg"`
	IsSystemMsg     int             `json:"IsSystemMsg"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	MsgPriority     int             `json:"MsgPriority"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgSeq          uint64          `json:"MsgSeq"`
	MsgTimeStamp    int64           `json:"MsgTimeStamp"`
	CloudCustomData string          `json:"CloudCustomData"`
}

// HistoryGroupResult is a page of group history, newest first.
type HistoryGroupResult struct {
	GroupID    string                `json:"GroupId"`
	IsFinished int                   `json:"IsFinished"`
	RspMsgList []GroupHistoryMessage `json:"RspMsgList"`
}

// HistoryGroup reads a page of a group's history.
func (c *Client) HistoryGroup(ctx context.Context, r HistoryGroupRequest) (HistoryGroupResult, error) {
	var res HistoryGroupResult
	err := c.Call(ctx, "history_group", r, &res)
	return res, err
}

// Conversation is one of the user's conversations: where its change log
// stands (Seq) and the user's read state.
type Conversation struct {
	ConversationID string `json:"ConversationID"`
	Type           string `json:"Type"` // TypeC2C or TypeGroup
	Peer           string `json:"Peer_Account"`
	GroupID        string `json:"GroupId"`
	Seq            uint64 `json:"Seq"`
	UnreadMsgNum   int    `json:"UnreadMsgNum"`
	ReadTime       int64  `json:"ReadTime"`
	LastMsgSeq     uint64 `json:"LastMsgSeq"`
	ReadMsgSeq     uint64 `json:"ReadMsgSeq"`
}

// Conversations lists the user's conversations.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	var res struct {
		ConversationList []Conversation `json:"ConversationList"`
	}
	err := c.Call(ctx, "conversations", nil, &res)
	return res.ConversationList, err
}

// SyncPage is one page of a conversation's changes. Complete says it
// reaches Head, the newest seq when it was read.
type SyncPage struct {
	Changes  []Event
	Head     uint64
	Complete bool
}

// SyncConversation reads the changes of a conversation after afterSeq, at
// most limit (zero means the server's default, 100). It does not move the
// Client's cursors: the Client syncs by itself.
func (c *Client) SyncConversation(ctx context.Context, conversationID string, afterSeq uint64, limit int) (SyncPage, error) {
	data := map[string]any{"ConversationID": conversationID, "AfterSeq": afterSeq}
	if limit > 0 {
		data["Limit"] = limit
	}
	var res struct {
		Changes []struct {
			Event string          `json:"event"`
			Seq   uint64          `json:"seq"`
			Data  json.RawMessage `json:"data"`
		} `json:"Changes"`
		Head     uint64 `json:"Head"`
		Complete int    `json:"Complete"`
	}
	if err := c.Call(ctx, "sync", data, &res); err != nil {
		return SyncPage{}, err
	}
	page := SyncPage{Head: res.Head, Complete: res.Complete == 1, Changes: make([]Event, len(res.Changes))}
	for i, ch := range res.Changes {
		page.Changes[i] = Event{Kind: ch.Event, Seq: ch.Seq, ConversationID: conversationID, Data: ch.Data}
	}
	return page, nil
}

// Ping asks the server for its clock.
func (c *Client) Ping(ctx context.Context) (time.Time, error) {
	var res struct {
		ServerTime int64 `json:"ServerTime"`
	}
	if err := c.Call(ctx, "ping", nil, &res); err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(res.ServerTime), nil
}

// IsGroupConversation reports whether a conversation ID names a group.
func IsGroupConversation(id string) bool { return strings.HasPrefix(id, TypeGroup) }
