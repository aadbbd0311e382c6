package webhook

import (
	"encoding/json"
	"fmt"
)

// Before-send ErrorCode values with a meaning of their own.
const (
	codeAllow = 0
	codeBlock = 1
	codeDrop  = 2
)

// The ErrorCode ranges parley passes through to the sender.
const (
	C2CCustomMin   = 120001
	C2CCustomMax   = 130000
	GroupCustomMin = 10100
	GroupCustomMax = 10200
)

// BeforeSendReply is an app backend's decision on a message about to be
// sent. Build one with [Allow], [AllowWith], [AllowWithRaw], [Block],
// [Drop] or [Custom]; the zero value allows the message unchanged.
type BeforeSendReply struct {
	code            int
	info            string
	msgBody         json.RawMessage
	cloudCustomData *string
}

// Allow lets the message through unchanged.
func Allow() BeforeSendReply { return BeforeSendReply{} }

// AllowWith lets the message through with its MsgBody replaced by
// msgBody (unless nil) and its CloudCustomData by *cloudCustomData
// (unless nil; a pointer to "" clears it). The after-send callback then
// carries the replaced values.
func AllowWith(msgBody []MsgElement, cloudCustomData *string) BeforeSendReply {
	var raw json.RawMessage
	if msgBody != nil {
		// MsgElement holds a string and raw JSON; it fails to encode only
		// when MsgContent is not JSON, which the reply's encoding reports.
		b, err := json.Marshal(msgBody)
		if err != nil {
			return BeforeSendReply{msgBody: json.RawMessage("invalid MsgContent")}
		}
		raw = b
	}
	return AllowWithRaw(raw, cloudCustomData)
}

// AllowWithRaw is AllowWith for a MsgBody already encoded as a JSON
// array of TIMMsgElement.
func AllowWithRaw(msgBody json.RawMessage, cloudCustomData *string) BeforeSendReply {
	return BeforeSendReply{msgBody: msgBody, cloudCustomData: cloudCustomData}
}

// Block refuses the message: the sender gets 20006 (C2C) or 10016
// (group).
func Block() BeforeSendReply { return BeforeSendReply{code: codeBlock} }

// Drop discards the message silently: the sender is told it was sent,
// nothing is stored or delivered, and no after-send callback follows.
func Drop() BeforeSendReply { return BeforeSendReply{code: codeDrop} }

// Custom refuses the message and passes code and info through to the
// sender. code must be in 120001..130000 for a C2C message and in
// 10100..10200 for a group message; the [Handler] refuses to send any
// other code (see [BeforeSendReply.Check]).
func Custom(code int, info string) BeforeSendReply {
	return BeforeSendReply{code: code, info: info}
}

// Code is the ErrorCode the reply sends.
func (r BeforeSendReply) Code() int { return r.code }

// Check reports whether the reply is a valid answer to command: a custom
// code must be in that command's range, and a replaced MsgBody must be
// JSON. Parley would treat any other code as a failed callback.
func (r BeforeSendReply) Check(command string) error {
	switch r.code {
	case codeAllow:
		if r.msgBody != nil && !json.Valid(r.msgBody) {
			return fmt.Errorf("webhook: %s reply: replacement MsgBody is not JSON", command)
		}
		return nil
	case codeBlock, codeDrop:
		return nil
	}
	lo, hi := C2CCustomMin, C2CCustomMax
	if command == CommandGroupBeforeSendMsg {
		lo, hi = GroupCustomMin, GroupCustomMax
	}
	if r.code < lo || r.code > hi {
		return fmt.Errorf("webhook: %s reply: custom ErrorCode %d is outside %d..%d", command, r.code, lo, hi)
	}
	return nil
}

// replyBody is parley's CallbackReply on the wire, field for field.
type replyBody struct {
	ActionStatus    string          `json:"ActionStatus"`
	ErrorCode       int             `json:"ErrorCode"`
	ErrorInfo       string          `json:"ErrorInfo"`
	MsgBody         json.RawMessage `json:"MsgBody,omitempty"`
	CloudCustomData *string         `json:"CloudCustomData,omitempty"`
}

// MarshalJSON encodes the reply as parley reads it. ActionStatus is OK
// for every decision: a block is an answer, not a failure of the call.
func (r BeforeSendReply) MarshalJSON() ([]byte, error) {
	return json.Marshal(replyBody{
		ActionStatus:    "OK",
		ErrorCode:       r.code,
		ErrorInfo:       r.info,
		MsgBody:         r.msgBody,
		CloudCustomData: r.cloudCustomData,
	})
}
