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
	// Operator is who recalls: "" means the App admin, who may recall any
	// message at any age. A client may recall only a message it sent, and
	// only within the client recall window (20016 after it).
	Operator string
	Origin   parley.Origin
}

// SetReadParams marks Report's messages from Peer read up to ReadTime
// (openim/admin_set_msg_read). Zero ReadTime means now.
type SetReadParams struct {
	Report   string
	Peer     string
	ReadTime int64
	Origin   parley.Origin // Report's other sessions are pushed a ChangeRead
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

// MemberSpec is one member of create_group's MemberList.
type MemberSpec struct {
	UserID               string
	Role                 string // "" or parley.RoleMember, parley.RoleAdmin; never Owner
	AppMemberDefinedData []parley.AppDefinedItem
}

// CreateGroupParams creates a group (group_open_http_svc/create_group).
type CreateGroupParams struct {
	Owner            string // "" means a group without owner
	Type             string // as given: Work and Meeting are accepted
	GroupID          string // "" means a generated @TGS#... id
	Name             string
	Introduction     string
	Notification     string
	FaceURL          string
	MaxMemberCount   int // 0 means the type's default
	ApplyJoinOption  string
	InviteJoinOption string
	AppDefinedData   []parley.AppDefinedItem
	Members          []MemberSpec
	SupportTopic     bool
}

// GroupInfo is the outcome for one GroupId of get_group_info: Code 0 and
// the group with its members, or the code (10010, 10015) saying why not.
type GroupInfo struct {
	GroupID string
	Code    int
	Info    string
	Group   *parley.Group
	Members []*parley.GroupMember
}

// AddMembersParams adds members (group_open_http_svc/add_group_member).
type AddMembersParams struct {
	GroupID string
	UserIDs []string
	Silence bool
}

// Results of add_group_member, per member.
const (
	MemberAddFailed  = 0
	MemberAdded      = 1
	MemberWasMember  = 2
	MemberAddPending = 3 // awaiting the invitee's confirmation; parley never answers it
)

type MemberResult struct {
	UserID string
	Result int
}

// DeleteMembersParams removes members (group_open_http_svc/delete_group_member).
type DeleteMembersParams struct {
	GroupID string
	UserIDs []string
	Silence bool
	Reason  string
}

// GetMembersParams pages a group's members
// (group_open_http_svc/get_group_member_info). Limit 0 means all.
type GetMembersParams struct {
	GroupID string
	Limit   int
	Offset  int
}

type GetMembersResult struct {
	MemberNum int
	Members   []*parley.GroupMember
}

// SendGroupParams is one group message (group_open_http_svc/send_group_msg).
type SendGroupParams struct {
	GroupID string
	// From is the sender; "" means the App admin, who may send to any group.
	From string
	// Operator is who asked for the send: Operator_Account of the webhooks.
	// "" means the App admin (every REST call).
	Operator        string
	Random          uint32
	Priority        string // "" means Normal
	Body            json.RawMessage
	CloudCustomData string
	OnlineOnly      bool // not stored, takes no MsgSeq
	To              []string
	TopicID         string
	AtInfo          json.RawMessage

	ForbidBeforeCallback bool
	ForbidAfterCallback  bool
	NoUnread             bool
	NoLastMsg            bool
	SupportExtension     bool
	NeedReadReceipt      bool

	Origin parley.Origin
}

// SendGroupResult is what send_group_msg answers. A message dropped
// silently (before-send answer 2) has MsgSeq 0 and a MsgDropReason.
type SendGroupResult struct {
	MsgTime       int64
	MsgSeq        uint64
	MsgDropReason string
}

// RecallGroupParams recalls group messages (group_open_http_svc/group_msg_recall).
type RecallGroupParams struct {
	GroupID string
	MsgSeqs []uint64
	Reason  string
	TopicID string
	// Operator is who recalls: "" means the App admin (every REST call),
	// who may recall any message at any age. A client (Client set) may
	// recall its own messages, and the group's owner and admins anyone's,
	// within the client recall window (10031 after it).
	Operator string
	Client   bool
	Origin   parley.Origin
}

// RecallResult is the outcome for one MsgSeq: Code 0, or why it was not
// recalled (10030 not found, 10032 already recalled, ...).
type RecallResult struct {
	MsgSeq uint64
	Code   int
}

// GroupHistoryParams asks for a page of a group's messages
// (group_open_http_svc/group_msg_get_simple): the newest Number messages
// with MsgSeq <= MaxSeq (0 means the newest).
type GroupHistoryParams struct {
	GroupID      string
	MaxSeq       uint64
	Number       int
	WithRecalled bool
	// Member, when set, is the client reading: only a member of the group
	// may (10007 otherwise). "" is the App admin, who reads any group.
	Member string
}

// IsFinished values of group_msg_get_simple.
const (
	HistoryTruncated = 0
	HistoryFinished  = 1
)

type GroupHistoryResult struct {
	IsFinished int
	Messages   []*parley.GroupMessage // newest first
}

// MessageRef names the message whose extensions are read or written: a
// C2C message by From, To and MsgKey, or a group message by GroupID and
// MsgSeq (GroupID not empty).
type MessageRef struct {
	From   string // "" means the App admin
	To     string
	MsgKey string

	GroupID string
	MsgSeq  uint64
}

// SetExtensionsParams is one extension operation (set_key_values,
// group_set_key_values).
type SetExtensionsParams struct {
	Ref MessageRef
	// Operator is who writes. "" means the App admin, whose writes skip
	// the per-KV Seq check; anyone else must be in the conversation (a
	// group member, or the C2C message's sender or recipient) and give
	// each KV's current Seq (0 for a new key).
	Operator    string
	OperateType int // parley.ExtensionSet, ExtensionDel or ExtensionClear
	KVs         []parley.ExtensionKV
	Origin      parley.Origin
}

// SetExtensionsResult answers an operation: one ExtensionResult per KV
// given, in order (none for a clear), and the message's Seq after it.
type SetExtensionsResult struct {
	Results []ExtensionResult
	Seq     uint64
}

// ExtensionResult is one KV's outcome: Code 0 and the KV as applied (with
// the new Seq), or parley.ErrExtensionConflict and the KV as it is now.
type ExtensionResult struct {
	Code int
	KV   parley.ExtensionKV
}

// GetExtensionsParams reads a message's extensions (get_key_values,
// group_get_key_values) from StartSeq on.
type GetExtensionsParams struct {
	Ref      MessageRef
	StartSeq uint64
	Operator string // "" means the App admin
}

// GetExtensionsResult is one page: KVs by Seq ascending; Complete says no
// KV with a higher Seq is left. LatestSeq is the message-level Seq.
type GetExtensionsResult struct {
	Complete  bool
	LatestSeq uint64
	ClearSeq  uint64
	KVs       []parley.ExtensionKV
}
