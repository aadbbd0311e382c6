package parley

import (
	"errors"
	"fmt"
)

// Error is the one domain error. Code is a Tencent error code; Info is the
// ErrorInfo text a caller sees. Transports translate it in one place.
type Error struct {
	Code int
	Info string
}

func (e *Error) Error() string { return fmt.Sprintf("parley: %d %s", e.Code, e.Info) }

// Errorf returns an *Error with the given code and a formatted ErrorInfo.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Info: fmt.Sprintf(format, args...)}
}

// NewError returns an *Error carrying the code's standard text.
func NewError(code int) *Error { return &Error{Code: code, Info: ErrorText(code)} }

// ErrorCode returns the Tencent code of err: 0 for nil, the code of an
// *Error anywhere in the chain, and ErrInternal for anything else.
func ErrorCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal
}

// ErrNotFound is returned by Store lookups that find nothing.
var ErrNotFound = errors.New("parley: not found")

// ErrConflict is returned by Store inserts whose key is taken.
var ErrConflict = errors.New("parley: already exists")

// Tencent error codes used by parley (spec section 3.1). The names say what
// they mean; the text each carries by default is in errorText.
const (
	ErrHTTPParse          = 60002
	ErrBodyJSON           = 60003
	ErrSDKAppIDInvalid    = 60006
	ErrBadResource        = 60009
	ErrNeedAdmin          = 60010
	ErrSDKAppIDMissing    = 60012
	ErrAccountTypeInvalid = 60015
	ErrURLParams          = 60025

	ErrUserSigExpired          = 70001
	ErrUserSigInvalid          = 70003
	ErrUserSigVerify           = 70009
	ErrUserSigIdentifier       = 70013
	ErrUserSigSDKAppID         = 70014
	ErrAccountNotImported      = 70107
	ErrAccountIllegalParams    = 70402
	ErrInternalAccount         = 70500
	ErrBadRequestPacket        = 20001
	ErrMsgInternal             = 20005
	ErrBlockedByCallback       = 20006
	ErrRecallTimeLimit         = 20016
	ErrRecallNotFound          = 20022
	ErrAlreadyRecalled         = 20023
	ErrSensitiveText           = 80001
	ErrMsgBodyTooLarge         = 80002
	ErrBeforeCallbackFailed    = 80003
	ErrJSONParse               = 90001
	ErrMsgBodyInvalid          = 90002
	ErrToAccountInvalid        = 90003
	ErrMsgRandomInvalid        = 90005
	ErrMsgTimeStampInvalid     = 90006
	ErrMsgBodyNotArray         = 90007
	ErrFromAccountInvalid      = 90008
	ErrNeedAdminMsg            = 90009
	ErrFormat                  = 90010
	ErrTooManyTargets          = 90011
	ErrToAccountNotRegistered  = 90012
	ErrTooManyAccounts         = 90018
	ErrMsgLifeTimeTooLarge     = 90026
	ErrBatchToNotArray         = 90028
	ErrBatchToEmpty            = 90029
	ErrSyncOtherMachineInvalid = 90031
	ErrOfflinePushInfo         = 90043
	ErrMsgLifeTimeInvalid      = 90044
	ErrUserNotExist            = 90048
	ErrMsgKeyInvalid           = 90054
	ErrBatchBodyTooLarge       = 90055
	ErrCallbackReply           = 90992
	ErrInternal                = 91000
	ErrJSONTooLong             = 93000

	// Group codes (the 10000 series).
	ErrGroupInternal         = 10002
	ErrGroupBadCommand       = 10003
	ErrGroupInvalidParam     = 10004
	ErrGroupTooManyAccounts  = 10005
	ErrGroupNotPermitted     = 10007
	ErrGroupNotFound         = 10010
	ErrGroupJSONParse        = 10011
	ErrGroupOperatorInvalid  = 10012
	ErrGroupAlreadyMember    = 10013
	ErrGroupFull             = 10014
	ErrGroupIDInvalid        = 10015
	ErrGroupBlockedCallback  = 10016
	ErrGroupMuted            = 10017
	ErrGroupUserNotExist     = 10019
	ErrGroupIDTaken          = 10021
	ErrGroupRateLimit        = 10023
	ErrGroupIDTakenByOwner   = 10025
	ErrGroupRecallNotFound   = 10030
	ErrGroupRecallTimeLimit  = 10031
	ErrGroupRecallNotAllowed = 10032
	ErrGroupNoRoaming        = 10044

	// ErrExtensionConflict answers, per KV, a message-extension write whose
	// Seq is not the KV's current Seq (spec decision 9.1).
	ErrExtensionConflict = 23001

	// parley's own codes, for what Tencent has no call for, are in
	// 190000-199999, where Tencent documents none: an app that switches on
	// Tencent's codes never mistakes one of parley's.
	//
	// ErrEventNotFound answers a parley_webhook admin command naming an
	// event the outbox does not hold.
	ErrEventNotFound = 190001

	// The range a C2C before-send callback may pass through to the sender.
	CallbackCustomMin = 120001
	CallbackCustomMax = 130000
	// The range a group before-send callback may pass through to the sender.
	GroupCallbackCustomMin = 10100
	GroupCallbackCustomMax = 10200
)

var errorText = map[int]string{
	ErrHTTPParse:               "HTTP request parse error, please check the URL",
	ErrBodyJSON:                "Fail to Parse json data of body, Please check it",
	ErrSDKAppIDInvalid:         "SDKAppID invalid",
	ErrBadResource:             "invalid service or command in URL",
	ErrNeedAdmin:               "this API can only be called by an App admin",
	ErrSDKAppIDMissing:         "sdkappid missing in URL",
	ErrAccountTypeInvalid:      "account type error: UserID must be a string",
	ErrURLParams:               "URL parameters sdkappid, identifier, usersig or contenttype are missing or invalid",
	ErrUserSigExpired:          "UserSig expired, please generate a new one",
	ErrUserSigInvalid:          "UserSig invalid: cannot be parsed",
	ErrUserSigVerify:           "UserSig verification failed: signed with another key",
	ErrUserSigIdentifier:       "identifier does not match the UserSig",
	ErrUserSigSDKAppID:         "sdkappid does not match the UserSig",
	ErrAccountNotImported:      "Err_TLS_PT_Open_Login_Account_Not_Exist",
	ErrAccountIllegalParams:    "illegal parameters",
	ErrInternalAccount:         "internal server error",
	ErrBadRequestPacket:        "bad request packet",
	ErrMsgInternal:             "internal server error",
	ErrBlockedByCallback:       "message blocked by the before-send callback",
	ErrRecallTimeLimit:         "the recall time limit has passed",
	ErrRecallNotFound:          "the message to recall does not exist",
	ErrAlreadyRecalled:         "the message has already been recalled",
	ErrSensitiveText:           "message contains restricted words",
	ErrMsgBodyTooLarge:         "message body exceeds 12 KB",
	ErrBeforeCallbackFailed:    "before-send callback failed or timed out; message not sent",
	ErrJSONParse:               "Fail to Parse json data of body, Please check it",
	ErrMsgBodyInvalid:          "MsgBody is not in the required format",
	ErrToAccountInvalid:        "To_Account is missing or does not exist",
	ErrMsgRandomInvalid:        "MsgRandom is missing or not an integer",
	ErrMsgTimeStampInvalid:     "MsgTimeStamp is not an integer",
	ErrMsgBodyNotArray:         "MsgBody is not an array",
	ErrFromAccountInvalid:      "From_Account is missing or does not exist",
	ErrNeedAdminMsg:            "this API can only be called by an App admin",
	ErrFormat:                  "request format error",
	ErrTooManyTargets:          "more than 500 recipients",
	ErrToAccountNotRegistered:  "To_Account is not registered",
	ErrTooManyAccounts:         "too many accounts in the request",
	ErrMsgLifeTimeTooLarge:     "MsgLifeTime exceeds 604800 seconds",
	ErrBatchToNotArray:         "To_Account is not an array",
	ErrBatchToEmpty:            "To_Account is empty",
	ErrSyncOtherMachineInvalid: "SyncOtherMachine is not an integer",
	ErrOfflinePushInfo:         "OfflinePushInfo is invalid",
	ErrMsgLifeTimeInvalid:      "MsgLifeTime is not an integer",
	ErrUserNotExist:            "user does not exist",
	ErrMsgKeyInvalid:           "MsgKey is invalid",
	ErrBatchBodyTooLarge:       "message body exceeds 12 KB",
	ErrCallbackReply:           "message callback error",
	ErrInternal:                "internal server error",
	ErrJSONTooLong:             "request JSON is too long",

	ErrGroupInternal:         "internal server error",
	ErrGroupBadCommand:       "invalid command",
	ErrGroupInvalidParam:     "invalid parameter",
	ErrGroupTooManyAccounts:  "too many accounts in the request",
	ErrGroupNotPermitted:     "operation not permitted",
	ErrGroupNotFound:         "group does not exist or has been dismissed",
	ErrGroupJSONParse:        "Fail to Parse json data of body, Please check it",
	ErrGroupOperatorInvalid:  "invalid operator UserID",
	ErrGroupAlreadyMember:    "already a group member",
	ErrGroupFull:             "the group is full",
	ErrGroupIDInvalid:        "invalid GroupId or the group does not exist",
	ErrGroupBlockedCallback:  "message blocked by the before-send callback",
	ErrGroupMuted:            "the sender is muted in this group",
	ErrGroupUserNotExist:     "UserID does not exist",
	ErrGroupIDTaken:          "GroupId is already in use",
	ErrGroupRateLimit:        "too many messages in this group per second",
	ErrGroupIDTakenByOwner:   "GroupId is already in use, by a group this owner owns",
	ErrGroupRecallNotFound:   "the message to recall does not exist",
	ErrGroupRecallTimeLimit:  "the message is too old to recall",
	ErrGroupRecallNotAllowed: "the message cannot be recalled",
	ErrGroupNoRoaming:        "this group type keeps no message history",

	ErrExtensionConflict: "the KV was changed by someone else: its Seq is not the one given",
	ErrEventNotFound:     "no such event in the outbox",
}

// ErrorText is the standard ErrorInfo of a code, or "" if parley has none.
func ErrorText(code int) string { return errorText[code] }
