package chat

import (
	"context"
	"encoding/json"

	"github.com/parley-im/parley"
)

// Caller makes a synchronous before-callback and returns the app backend's
// parsed reply. An error means the call failed: timeout, transport error,
// non-200 status or a body that is not a JSON reply. delivery.Caller
// implements it.
type Caller interface {
	Call(ctx context.Context, command string, body []byte, origin parley.Origin) (parley.CallbackReply, error)
}

// AccountResult is the outcome for one UserID of account_delete.
type AccountResult struct {
	UserID string
	Code   int    // 0, or e.g. parley.ErrAccountNotImported
	Info   string // "" on success
}

// AccountStatus is the outcome for one UserID of account_check.
type AccountStatus struct {
	UserID   string
	Code     int
	Info     string
	Imported bool
}

// SendParams is one C2C message to send (openim/sendmsg).
type SendParams struct {
	From      string // "" means the App admin
	To        string
	MsgSeq    *uint32 // nil means a random one
	MsgRandom uint32
	// Body is the MsgBody array as received; the engine validates it.
	Body            json.RawMessage
	CloudCustomData string
	// LifeTime is MsgLifeTime in seconds: nil means 7 days, 0 means online
	// only, larger than 604800 is clamped.
	LifeTime         *int
	SyncOtherMachine int
	OnlineOnly       bool // OnlineOnlyFlag 1

	ForbidBeforeCallback  bool
	ForbidAfterCallback   bool
	NoUnread              bool
	NoLastMsg             bool
	WithMuteNotifications bool
	SupportExtension      bool
	NeedReadReceipt       bool

	Origin parley.Origin
}

// SendResult is what sendmsg answers on success.
type SendResult struct {
	MsgTime int64
	MsgKey  string
	MsgID   string
}

// BatchSendParams is one message to many recipients (openim/batchsendmsg).
// It never triggers callbacks.
type BatchSendParams struct {
	From             string
	To               []string
	MsgSeq           *uint32
	MsgRandom        uint32
	Body             json.RawMessage
	CloudCustomData  string
	LifeTime         *int
	SyncOtherMachine int
	NoUnread         bool
	NoLastMsg        bool
	NeedReadReceipt  bool
	SupportExtension bool
}

// BatchSendResult is what batchsendmsg answers: one MsgKey shared by every
// recipient's copy, and the recipients that did not get it.
type BatchSendResult struct {
	MsgKey string
	MsgID  string
	Errors []BatchError
}

type BatchError struct {
	To   string
	Code int
}

// RoamParams asks for one page of a conversation's history, seen from
// Operator's side (openim/admin_getroammsg).
type RoamParams struct {
	Operator   string
	Peer       string
	MaxCnt     int
	MinTime    int64
	MaxTime    int64
	LastMsgKey string // the previous page's LastMsgKey, with MaxTime = its LastMsgTime
}

// RoamResult is one page: the newest messages not yet returned, oldest first
// within the page. LastMsgTime and LastMsgKey name the page's oldest
// message, the cursor for the next page.
type RoamResult struct {
	Complete    bool
	LastMsgTime int64
	LastMsgKey  string
	Messages    []RoamMessage
}

type RoamMessage struct {
	*parley.Message
	IsPeerRead bool
}

// RecallParams recalls one message (openim/admin_msgwithdraw).
type RecallParams struct {
	From   string
	To     string
	MsgKey string
	Origin parley.Origin
}

// SetReadParams marks Report's messages from Peer read up to ReadTime
// (openim/admin_set_msg_read). Zero ReadTime means now.
type SetReadParams struct {
	Report   string
	Peer     string
	ReadTime int64
}

// UnreadParams asks for To's unread counts (openim/get_c2c_unread_msg_num):
// the total when Peers is empty, else one count per peer.
type UnreadParams struct {
	To    string
	Peers []string
}

type UnreadResult struct {
	Total  int
	Peers  []PeerUnread
	Errors []PeerError
}

type PeerUnread struct {
	Peer   string
	Unread int
}

type PeerError struct {
	Peer string
	Code int
}
