package parley

import (
	"encoding/json"
	"strconv"
)

// Group types (spec 4.4). Work and Meeting are the newer names of Private
// and ChatRoom; parley stores and answers the older names, which every
// Tencent API and webhook still uses, and accepts both on input.
const (
	GroupPrivate    = "Private"
	GroupPublic     = "Public"
	GroupChatRoom   = "ChatRoom"
	GroupAVChatRoom = "AVChatRoom"
	GroupCommunity  = "Community"

	GroupWork    = "Work"    // alias of Private
	GroupMeeting = "Meeting" // alias of ChatRoom
)

// Group member roles.
const (
	RoleOwner  = "Owner"
	RoleAdmin  = "Admin"
	RoleMember = "Member"
)

// Group limits (spec 4.4 and 7).
const (
	// GeneratedGroupIDPrefix starts every generated GroupId; a custom
	// GroupId must not start with it.
	GeneratedGroupIDPrefix = "@TGS#"
	MaxGroupIDBytes        = 48
	MaxGroupNameBytes      = 30
	MaxIntroductionBytes   = 240
	MaxNotificationBytes   = 300
	MaxFaceURLBytes        = 100
	MaxCreateMembers       = 100 // create_group MemberList
	MaxAddMembers          = 300 // add_group_member MemberList
	MaxDeleteMembers       = 100 // delete_group_member MemberToDel_Account
	MaxRecallSeqs          = 10  // group_msg_recall MsgSeqList
	MaxGetSimpleMsgs       = 20  // group_msg_get_simple ReqMsgNumber
	MaxTargetedRecipients  = 50  // send_group_msg To_Account
	GroupDuplicateWindow   = 300 // seconds: same sender, Random and content
)

// AppDefinedItem is one custom field of a group or a group member
// (AppDefinedData, AppMemberDefinedData).
type AppDefinedItem struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Group is a group as stored.
type Group struct {
	ID   string
	Type string // one of the Group* type constants, aliases resolved
	// Owner is the owner's UserID; "" when the group was created without
	// one (Tencent's groups created by the App admin have no owner).
	Owner            string
	Name             string
	Introduction     string
	Notification     string
	FaceURL          string
	MaxMemberCount   int
	ApplyJoinOption  string // FreeAccess, NeedPermission or DisableApply
	InviteJoinOption string // FreeAccess, NeedPermission or DisableInvite; "" when not set
	AppDefinedData   []AppDefinedItem
	SupportTopic     bool
	ShutUpAll        bool

	CreateTime   int64 // Unix seconds
	LastInfoTime int64 // Unix seconds: the last change of the group's profile
	LastMsgTime  int64 // Unix seconds: the last stored message; 0 before one
	// NextMsgSeq is the MsgSeq the next stored message will get: 1 for a
	// new group. The store advances it with every GroupMessageInsert.
	NextMsgSeq uint64
	// MemberCount is kept by the store with every member added or removed.
	MemberCount int
}

// GroupMember is one member of a group.
type GroupMember struct {
	GroupID              string
	UserID               string
	Role                 string // RoleOwner, RoleAdmin or RoleMember
	JoinTime             int64  // Unix seconds
	NameCard             string
	MsgFlag              string // AcceptAndNotify unless changed
	ShutUpUntil          int64  // Unix seconds; 0 when not muted
	LastSendMsgTime      int64  // Unix seconds; 0 before the first message
	ReadMsgSeq           uint64 // the member's last read MsgSeq
	AppMemberDefinedData []AppDefinedItem
}

// MsgFlagAcceptAndNotify is a member's default message flag.
const MsgFlagAcceptAndNotify = "AcceptAndNotify"

// GroupMessage is a group message as stored. GroupID and MsgSeq identify it.
type GroupMessage struct {
	GroupID string
	// MsgSeq is assigned by GroupMessageInsert from the group's NextMsgSeq.
	MsgSeq   uint64
	From     string
	Random   uint32
	MsgTime  int64 // Unix seconds, assigned by the server
	MsgID    string
	Priority string // High, Normal, Low or Lowest; "" means Normal
	// Body is the validated MsgBody array exactly as it will be emitted.
	Body            json.RawMessage
	CloudCustomData string
	// BodyCRC is CRC-32 (IEEE) over Body and CloudCustomData, the content
	// part of the 5-minute duplicate-suppression key.
	BodyCRC uint32
	// To lists the targeted recipients of a message sent with To_Account;
	// nil means every member.
	To []string
	// AtInfo is GroupAtInfo as given (a JSON array), or nil.
	AtInfo json.RawMessage

	IsSystem         bool
	NoUnread         bool
	NoLastMsg        bool
	SupportExtension bool
	NeedReadReceipt  bool
	Recalled         bool
}

// GroupConversation names the conversation of a group, for ordering its
// webhooks.
func GroupConversation(groupID string) string { return "group:" + groupID }

// Extension limits and operations (spec 4.3).
const (
	ExtensionSet   = 1 // OperateType: set KVs
	ExtensionDel   = 2 // OperateType: delete KVs
	ExtensionClear = 3 // OperateType: clear every KV

	MaxExtensionKVsPerCall    = 20
	MaxExtensionKVsPerMessage = 300
	MaxExtensionKeyBytes      = 100
	MaxExtensionValueBytes    = 1000
	MaxExtensionKVsPerGet     = 200
)

// ExtensionKV is one key-value pair of a message's extensions. Seq is the
// message-level Seq of the operation that last set it.
type ExtensionKV struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
	Seq   uint64 `json:"Seq"`
}

// ExtensionState is the version state of one message's extensions. The
// zero value is a message whose extensions were never touched.
type ExtensionState struct {
	// Seq is the message-level Seq: raised by 1 with every successful
	// operation.
	Seq uint64
	// ClearSeq is the Seq of the last clear; 0 when never cleared.
	ClearSeq uint64
	// Count is the number of KVs the message has now.
	Count int
}

// C2CExtensionTarget names the extensions of the stored C2C message with
// this ID.
func C2CExtensionTarget(messageID int64) string {
	return "c2c:" + strconv.FormatInt(messageID, 10)
}

// GroupExtensionTarget names the extensions of group message (groupID,
// msgSeq). A GroupId never holds a NUL byte.
func GroupExtensionTarget(groupID string, msgSeq uint64) string {
	return "group:" + groupID + "\x00" + strconv.FormatUint(msgSeq, 10)
}

// GroupExtensionPrefix is the prefix every extension target of the group
// shares, for deleting them with the group.
func GroupExtensionPrefix(groupID string) string { return "group:" + groupID + "\x00" }
