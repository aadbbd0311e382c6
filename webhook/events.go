package webhook

import "encoding/json"

// Callback commands parley emits, as they appear in the CallbackCommand
// query parameter and body field.
const (
	CommandC2CBeforeSendMsg = "C2C.CallbackBeforeSendMsg"
	CommandC2CAfterSendMsg  = "C2C.CallbackAfterSendMsg"
	// CommandC2CAfterMsgWithdraw is spelled with a capital D, as Tencent does.
	CommandC2CAfterMsgWithdraw  = "C2C.CallbackAfterMsgWithDraw"
	CommandC2CAfterMsgExtension = "C2C.CallbackAfterC2CMsgExtension"

	CommandGroupBeforeSendMsg     = "Group.CallbackBeforeSendMsg"
	CommandGroupAfterSendMsg      = "Group.CallbackAfterSendMsg"
	CommandGroupAfterRecallMsg    = "Group.CallbackAfterRecallMsg"
	CommandGroupAfterMsgExtension = "Group.CallbackAfterGroupMsgExtension"
)

// OperateType values of the extension callbacks.
const (
	ExtensionSet   = 1
	ExtensionDel   = 2
	ExtensionClear = 3
)

// The bodies below copy parley's wire format: the same JSON names, order
// and types, so that a body decoded and encoded again is the same bytes
// (compacted). MsgBody stays raw JSON: it is a list of TIMMsgElement
// values whose shape depends on MsgType; decode it with [MsgElements].

// C2CBeforeSendMsg is the body of C2C.CallbackBeforeSendMsg. MsgKey and
// MsgTime are already assigned when it is sent.
type C2CBeforeSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"` // Unix seconds
	MsgKey          string          `json:"MsgKey"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// C2CAfterSendMsg is the body of C2C.CallbackAfterSendMsg. It is sent
// also when delivery failed: then SendMsgResult is the error code and
// UnreadMsgNum is -1.
type C2CAfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"` // Unix seconds
	MsgKey          string          `json:"MsgKey"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	SendMsgResult   int             `json:"SendMsgResult"`
	ErrorInfo       string          `json:"ErrorInfo"`
	UnreadMsgNum    int             `json:"UnreadMsgNum"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// C2CAfterMsgWithdraw is the body of C2C.CallbackAfterMsgWithDraw.
// UnreadMsgNum is To_Account's total C2C unread count after the recall.
type C2CAfterMsgWithdraw struct {
	CallbackCommand string `json:"CallbackCommand"`
	FromAccount     string `json:"From_Account"`
	ToAccount       string `json:"To_Account"`
	MsgKey          string `json:"MsgKey"`
	UnreadMsgNum    int    `json:"UnreadMsgNum"`
}

// ExtensionKV is one message extension as the callbacks report it: Value
// is "" for a deletion, and Seq is the version the operation stamped.
type ExtensionKV struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
	Seq   uint64 `json:"Seq"`
}

// C2CAfterMsgExtension is the body of C2C.CallbackAfterC2CMsgExtension.
// ExtensionList holds the KVs the operation applied; it is empty for a
// clear. Seq is the message-level version after the operation: a receiver
// that sees a Seq not above the one it holds has seen the change already.
type C2CAfterMsgExtension struct {
	CallbackCommand string        `json:"CallbackCommand"`
	FromAccount     string        `json:"From_Account"`
	ToAccount       string        `json:"To_Account"`
	MsgKey          string        `json:"MsgKey"`
	OperateType     int           `json:"OperateType"`
	ExtensionList   []ExtensionKV `json:"ExtensionList"`
	Seq             uint64        `json:"Seq"`
	EventTime       int64         `json:"EventTime"` // Unix milliseconds
}

// GroupBeforeSendMsg is the body of Group.CallbackBeforeSendMsg.
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

// GroupAfterSendMsg is the body of Group.CallbackAfterSendMsg. An
// online-only message has MsgSeq 0.
type GroupAfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	GroupID         string          `json:"GroupId"`
	Type            string          `json:"Type"`
	FromAccount     string          `json:"From_Account"`
	OperatorAccount string          `json:"Operator_Account"`
	Random          uint32          `json:"Random"`
	MsgID           string          `json:"MsgId"`
	MsgSeq          uint64          `json:"MsgSeq"`
	MsgTime         int64           `json:"MsgTime"` // Unix seconds
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
	TopicID         string          `json:"TopicId,omitempty"`
	EventTime       int64           `json:"EventTime"` // Unix milliseconds
}

// GroupAfterRecallMsg is the body of Group.CallbackAfterRecallMsg: one
// event per recall call, listing the messages it recalled.
type GroupAfterRecallMsg struct {
	CallbackCommand string      `json:"CallbackCommand"`
	OperatorAccount string      `json:"Operator_Account"`
	Type            string      `json:"Type"`
	GroupID         string      `json:"GroupId"`
	MsgSeqList      []MsgSeqRef `json:"MsgSeqList"`
	TopicID         string      `json:"TopicId,omitempty"`
	EventTime       int64       `json:"EventTime"` // Unix milliseconds
}

// MsgSeqRef is one item of a MsgSeqList.
type MsgSeqRef struct {
	MsgSeq uint64 `json:"MsgSeq"`
}

// GroupAfterMsgExtension is the body of
// Group.CallbackAfterGroupMsgExtension, with the same ExtensionList and
// Seq rules as [C2CAfterMsgExtension].
type GroupAfterMsgExtension struct {
	CallbackCommand string        `json:"CallbackCommand"`
	GroupID         string        `json:"GroupId"`
	MsgSeq          uint64        `json:"MsgSeq"`
	OperateType     int           `json:"OperateType"`
	ExtensionList   []ExtensionKV `json:"ExtensionList"`
	Seq             uint64        `json:"Seq"`
	EventTime       int64         `json:"EventTime"` // Unix milliseconds
}

// MsgElement is one TIMMsgElement of a MsgBody. MsgContent stays raw
// because its fields depend on MsgType.
type MsgElement struct {
	MsgType    string          `json:"MsgType"`
	MsgContent json.RawMessage `json:"MsgContent"`
}

// TextContent is the MsgContent of a TIMTextElem.
type TextContent struct {
	Text string `json:"Text"`
}

// MsgElements decodes a MsgBody.
func MsgElements(msgBody json.RawMessage) ([]MsgElement, error) {
	var elems []MsgElement
	if err := json.Unmarshal(msgBody, &elems); err != nil {
		return nil, err
	}
	return elems, nil
}

// TextElem returns a TIMTextElem holding text, for a rewritten MsgBody.
func TextElem(text string) MsgElement {
	content, _ := json.Marshal(TextContent{Text: text}) // a struct of one string always encodes
	return MsgElement{MsgType: "TIMTextElem", MsgContent: content}
}
