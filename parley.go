// Package parley is the vocabulary of a self-hosted chat backend that is
// wire-compatible with Tencent Cloud Chat's server REST API and webhooks:
// accounts, one-to-one messages, webhook events, the domain error type with
// Tencent's numeric codes, and the Store seam every storage backend
// implements.
//
// It depends on the standard library only. The engine lives in chat, the
// REST surface in restapi, the webhook engine in delivery, the embedded
// storage in sqlite; cmd/parley wires them together.
package parley

import (
	"encoding/json"
	"fmt"
	"time"
)

// MaxUserIDBytes is the longest UserID Tencent accepts.
const MaxUserIDBytes = 32

// Account is an imported user.
type Account struct {
	UserID    string
	Nick      string
	FaceURL   string
	CreatedAt time.Time
}

// SyncOtherMachine values of sendmsg.
const (
	SyncDefault      = 0 // omitted: kept in the sender's history
	SyncToSender     = 1 // synced to the sender's other devices and history
	SyncNotToSender  = 2 // not synced to the sender: absent from the sender's history
	MaxMsgLifeTime   = 604800
	DefaultLifeTime  = MaxMsgLifeTime
	MsgFlagRecalled  = 8 // admin_getroammsg MsgFlagBits for a recalled message
	MaxMsgBodyBytes  = 12 * 1024
	DuplicateWindow  = 120 * time.Second
	DefaultAdminName = "administrator"
)

// Message is a one-to-one (C2C) message as stored.
type Message struct {
	// ID is assigned by the store on insert; it breaks ties in history order
	// after MsgTime and MsgSeq, so paging is stable.
	ID int64

	From      string
	To        string
	MsgSeq    uint32
	MsgRandom uint32
	MsgTime   int64 // Unix seconds, assigned by the server
	MsgKey    string
	MsgID     string

	// Body is the validated MsgBody array exactly as it will be emitted.
	Body            json.RawMessage
	CloudCustomData string
	// BodyCRC is CRC-32 (IEEE) over Body and CloudCustomData, the content part
	// of the 120 s duplicate-suppression key.
	BodyCRC uint32

	OnlineOnly            bool
	SyncOtherMachine      int
	LifeTime              int // offline retention, seconds
	NoUnread              bool
	NoLastMsg             bool
	WithMuteNotifications bool
	SupportExtension      bool
	NeedReadReceipt       bool

	Recalled bool
}

// MsgKey builds the C2C message key {MsgSeq}_{MsgRandom}_{MsgTime} (spec
// decision 9.4). On input a MsgKey is opaque and looked up by exact string.
func MsgKey(seq, random uint32, msgTime int64) string {
	return fmt.Sprintf("%d_%d_%d", seq, random, msgTime)
}

// Origin says where a request that causes a webhook came from: the
// ClientIP and OptPlatform query parameters of the callback.
type Origin struct {
	ClientIP    string
	OptPlatform string
	// SessionID names the client session that made the request ("" for
	// REST): it has its answer, so it is not pushed the change as well.
	// It is not part of any webhook.
	SessionID string
}

// OptPlatformREST is the OptPlatform of events caused by REST calls.
const OptPlatformREST = "RESTAPI"
