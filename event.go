package parley

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"time"
)

// Callback commands parley emits.
const (
	CommandC2CBeforeSendMsg = "C2C.CallbackBeforeSendMsg"
	CommandC2CAfterSendMsg  = "C2C.CallbackAfterSendMsg"
	CommandC2CAfterWithdraw = "C2C.CallbackAfterMsgWithDraw" // sic: capital D, as Tencent spells it
	// CommandC2CAfterExtension fires after a C2C message's extensions change (seed 000).
	CommandC2CAfterExtension = "C2C.CallbackAfterC2CMsgExtension"

	CommandGroupBeforeSendMsg = "Group.CallbackBeforeSendMsg"
	CommandGroupAfterSendMsg  = "Group.CallbackAfterSendMsg"
	CommandGroupAfterRecall   = "Group.CallbackAfterRecallMsg"
	// CommandGroupAfterExtension fires after a group message's extensions change (seed 001).
	CommandGroupAfterExtension = "Group.CallbackAfterGroupMsgExtension"
	SendMsgSucceedInfo         = "send msg succeed"
	UnreadMsgNumFailedSend     = -1
	ForbidBeforeSendCallback   = "ForbidBeforeSendMsgCallback"
	ForbidAfterSendCallback    = "ForbidAfterSendMsgCallback"
)

// Commands lists every callback command parley can emit, in the order
// `--callback-commands` documents them.
var Commands = []string{
	CommandC2CBeforeSendMsg,
	CommandC2CAfterSendMsg,
	CommandC2CAfterWithdraw,
	CommandC2CAfterExtension,
	CommandGroupBeforeSendMsg,
	CommandGroupAfterSendMsg,
	CommandGroupAfterRecall,
	CommandGroupAfterExtension,
}

// EventState is where an outbox event is in its life.
type EventState string

const (
	EventPending   EventState = "pending"   // waiting for its first or next attempt
	EventDelivered EventState = "delivered" // the receiver answered HTTP 200 with a JSON body
	EventDead      EventState = "dead"      // every retry failed; kept for inspection and replay

	// EventFailed is a filter of EventList, never an event's State: the
	// pending events whose last attempt failed (LastError is set), which
	// wait for their retry.
	EventFailed EventState = "failed"
)

// AttemptResponseBytes bounds Attempt.Response: the first 1 KiB of a
// reply is enough to read what a receiver said, and keeps the attempt
// log's rows small.
const AttemptResponseBytes = 1024

// Attempt is one HTTP attempt at delivering an event: the delivery
// worker records one per attempt, in the same transaction as the outcome
// it led to. Attempts are kept as long as their event. An attempt names
// its event by EventSeq; the event's ID, Command and Conversation are on
// the event.
type Attempt struct {
	EventSeq int64 // the Seq of the event attempted
	// Attempt is the 1-based attempt number: attempt n of an event is
	// the one made when its Attempts was n-1. A replayed event's attempts
	// go on counting.
	Attempt   int
	StartedAt time.Time
	// Status is the HTTP status of the reply; 0 when none came (a
	// transport error, the timeout).
	Status int
	// Latency is from sending the request to the end of the reply, or to
	// the failure.
	Latency time.Duration
	// Response is the start of the reply's body: at most its first
	// AttemptResponseBytes bytes, cut back to a whole UTF-8 character,
	// with each byte that is not part of valid UTF-8 written as \xNN
	// (two lowercase hex digits). So it is always valid UTF-8 and
	// readable. It is for reading, not parsing: a body holding the four
	// characters \xff reads the same as one holding the byte 0xff.
	Response string
	// Error is why the attempt failed; "" when it delivered the event.
	Error string
}

// Event is one after-callback in the durable outbox. It is written in the
// same transaction as the change that causes it; its Body is the exact JSON
// the receiver gets, fixed at commit time.
type Event struct {
	// Seq is assigned by the store on insert: the outbox's commit order.
	Seq int64
	// ID is stable across attempts, so receivers can drop duplicates.
	ID      string
	Command string
	// Conversation names the C2C pair or group the event belongs to, so
	// deliveries can be ordered per conversation.
	Conversation string
	Body         []byte
	Origin       Origin
	CreatedAt    time.Time

	State         EventState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	DeliveredAt   time.Time
}

var eventIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewEventID returns "evt_" and 26 characters: 48 bits of milliseconds then
// 80 random bits, so ids sort by creation time and never collide in practice.
func NewEventID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("parley: crypto/rand failed: " + err.Error()) // the OS is broken; nothing sane to do
	}
	return "evt_" + eventIDEncoding.EncodeToString(b[:])
}

// C2CConversation names the one-to-one conversation of a and b, the same
// whichever way round they are given.
func C2CConversation(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "c2c:" + a + "\x00" + b
}

// IsCustomCallbackCode reports whether a C2C before-send callback's
// ErrorCode is in the range passed through to the sender.
func IsCustomCallbackCode(code int) bool {
	return code >= CallbackCustomMin && code <= CallbackCustomMax
}

// IsGroupCustomCallbackCode reports whether a group before-send callback's
// ErrorCode is in the range passed through to the sender.
func IsGroupCustomCallbackCode(code int) bool {
	return code >= GroupCallbackCustomMin && code <= GroupCallbackCustomMax
}

// The webhook bodies. Field order and JSON types follow the seeds exactly;
// golden tests hold them to it.

// AfterSendMsg is the body of C2C.CallbackAfterSendMsg (seed 003).
type AfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"`
	MsgKey          string          `json:"MsgKey"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	SendMsgResult   int             `json:"SendMsgResult"`
	ErrorInfo       string          `json:"ErrorInfo"`
	UnreadMsgNum    int             `json:"UnreadMsgNum"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// BeforeSendMsg is the body of C2C.CallbackBeforeSendMsg: the after-send
// body without the delivery outcome (spec 2.1).
type BeforeSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"`
	MsgKey          string          `json:"MsgKey"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// AfterMsgWithdraw is the body of C2C.CallbackAfterMsgWithDraw (seed 002).
type AfterMsgWithdraw struct {
	CallbackCommand string `json:"CallbackCommand"`
	FromAccount     string `json:"From_Account"`
	ToAccount       string `json:"To_Account"`
	MsgKey          string `json:"MsgKey"`
	UnreadMsgNum    int    `json:"UnreadMsgNum"`
}

// CallbackReply is what an app backend answers to a callback. Before-send
// callbacks act on ErrorCode and may replace MsgBody and CloudCustomData.
type CallbackReply struct {
	ActionStatus    string          `json:"ActionStatus"`
	ErrorCode       int             `json:"ErrorCode"`
	ErrorInfo       string          `json:"ErrorInfo"`
	MsgBody         json.RawMessage `json:"MsgBody,omitempty"`
	CloudCustomData *string         `json:"CloudCustomData,omitempty"`
}

// C2CMsgExtension is the body of C2C.CallbackAfterC2CMsgExtension (seed
// 000). ExtensionList lists the KVs the operation applied, each with the
// new Seq (Value "" for a deletion); it is [] for a clear, never null.
type C2CMsgExtension struct {
	CallbackCommand string        `json:"CallbackCommand"`
	FromAccount     string        `json:"From_Account"`
	ToAccount       string        `json:"To_Account"`
	MsgKey          string        `json:"MsgKey"`
	OperateType     int           `json:"OperateType"`
	ExtensionList   []ExtensionKV `json:"ExtensionList"`
	Seq             uint64        `json:"Seq"`
	EventTime       int64         `json:"EventTime"` // Unix milliseconds
}

// GroupMsgExtension is the body of Group.CallbackAfterGroupMsgExtension
// (seed 001), with the same ExtensionList rules as C2CMsgExtension.
type GroupMsgExtension struct {
	CallbackCommand string        `json:"CallbackCommand"`
	GroupID         string        `json:"GroupId"`
	MsgSeq          uint64        `json:"MsgSeq"`
	OperateType     int           `json:"OperateType"`
	ExtensionList   []ExtensionKV `json:"ExtensionList"`
	Seq             uint64        `json:"Seq"`
	EventTime       int64         `json:"EventTime"` // Unix milliseconds
}

// GroupBeforeSendMsg is the body of Group.CallbackBeforeSendMsg (spec 2.2),
// in the order of Tencent's sample.
type GroupBeforeSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	GroupID         string          `json:"GroupId"`
	Type            string          `json:"Type"`
	FromAccount     string          `json:"From_Account"`
	OperatorAccount string          `json:"Operator_Account"`
	Random          uint32          `json:"Random"`
	MsgID           string          `json:"MsgId"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
	TopicID         string          `json:"TopicId,omitempty"`
	EventTime       int64           `json:"EventTime"` // Unix milliseconds
}

// GroupAfterSendMsg is the body of Group.CallbackAfterSendMsg (spec 2.3),
// in the order of Tencent's sample. An online-only message has MsgSeq 0.
type GroupAfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	GroupID         string          `json:"GroupId"`
	Type            string          `json:"Type"`
	FromAccount     string          `json:"From_Account"`
	OperatorAccount string          `json:"Operator_Account"`
	Random          uint32          `json:"Random"`
	MsgID           string          `json:"MsgId"`
	MsgSeq          uint64          `json:"MsgSeq"`
	MsgTime         int64           `json:"MsgTime"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
	TopicID         string          `json:"TopicId,omitempty"`
	EventTime       int64           `json:"EventTime"` // Unix milliseconds
}

// GroupAfterRecallMsg is the body of Group.CallbackAfterRecallMsg (spec
// 2.4): one event per recall call, listing the messages it recalled.
type GroupAfterRecallMsg struct {
	CallbackCommand string           `json:"CallbackCommand"`
	OperatorAccount string           `json:"Operator_Account"`
	Type            string           `json:"Type"`
	GroupID         string           `json:"GroupId"`
	MsgSeqList      []GroupMsgSeqRef `json:"MsgSeqList"`
	TopicID         string           `json:"TopicId,omitempty"`
	EventTime       int64            `json:"EventTime"` // Unix milliseconds
}

// GroupMsgSeqRef is one item of a MsgSeqList.
type GroupMsgSeqRef struct {
	MsgSeq uint64 `json:"MsgSeq"`
}
