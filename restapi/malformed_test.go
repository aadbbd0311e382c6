package restapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/parley-im/parley"
)

// Each malformed request gets its Tencent code and stores nothing: not an
// account, a message, a read mark, an unread count or a webhook event.
func TestMalformedRequests(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol")
	sent := e.sendText(t, "alice", "bob", 1, "hello")
	key := str(t, sent.Fields["MsgKey"])

	send := []string{
		"From_Account", `"alice"`, "To_Account", `"bob"`, "MsgRandom", "2",
		"MsgBody", `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`,
	}
	batch := with(send, "To_Account", `["bob","carol"]`)
	roam := []string{"Operator_Account", `"alice"`, "Peer_Account", `"bob"`, "MaxCnt", "10", "MinTime", "0", "MaxTime", "4000000000"}
	withdraw := []string{"From_Account", `"alice"`, "To_Account", `"bob"`, "MsgKey", fmt.Sprintf("%q", key)}
	read := []string{"Report_Account", `"bob"`, "Peer_Account", `"alice"`, "MsgReadTime", `"1750000000"`}
	unread := []string{"To_Account", `"bob"`, "Peer_Account", `["alice"]`}
	long := fmt.Sprintf("%q", strings.Repeat("n", 501))

	type tc struct {
		name string
		body string
		want int
	}
	suites := []struct {
		service, command string
		cases            []tc
	}{
		{"im_open_login_svc", "account_import", []tc{
			{"bad JSON", `{"UserID":`, parley.ErrBodyJSON},
			{"empty body", ``, parley.ErrBodyJSON},
			{"UserID missing", obj("Nick", `"n"`), parley.ErrAccountIllegalParams},
			{"UserID a number", obj("UserID", "5"), parley.ErrAccountTypeInvalid},
			{"Identifier a number", obj("Identifier", "5"), parley.ErrAccountTypeInvalid},
			{"UserID empty", obj("UserID", `""`), parley.ErrAccountIllegalParams},
			{"UserID 33 bytes", obj("UserID", fmt.Sprintf("%q", strings.Repeat("u", 33))), parley.ErrAccountIllegalParams},
			{"UserID with a space", obj("UserID", `"new bie"`), parley.ErrAccountIllegalParams},
			{"UserID with a control character", obj("UserID", `"new\u0001"`), parley.ErrAccountIllegalParams},
			{"Nick a number", obj("UserID", `"newbie"`, "Nick", "5"), parley.ErrAccountIllegalParams},
			{"Nick 501 bytes", obj("UserID", `"newbie"`, "Nick", long), 40601},
			{"FaceUrl 501 bytes", obj("UserID", `"newbie"`, "FaceUrl", long), 40601},
		}},
		{"im_open_login_svc", "multiaccount_import", []tc{
			{"bad JSON", `{"Accounts":[`, parley.ErrBodyJSON},
			{"neither form", obj("Other", "1"), parley.ErrAccountIllegalParams},
			{"Accounts not an array", obj("Accounts", `"newbie"`), parley.ErrAccountIllegalParams},
			{"Accounts empty", obj("Accounts", `[]`), parley.ErrAccountIllegalParams},
			{"Accounts 101", obj("Accounts", quotedList("m", 101)), parley.ErrAccountIllegalParams},
			{"Accounts with a number", obj("Accounts", `["newbie",5]`), parley.ErrAccountTypeInvalid},
			{"AccountList not an array", obj("AccountList", `{}`), parley.ErrAccountIllegalParams},
			{"AccountList 101", obj("AccountList", userItems(101)), parley.ErrAccountIllegalParams},
			{"AccountList item not an object", obj("AccountList", `[{"UserID":"newbie"},"m1"]`), parley.ErrAccountIllegalParams},
			{"AccountList UserID a number", obj("AccountList", `[{"UserID":"newbie"},{"UserID":5}]`), parley.ErrAccountTypeInvalid},
			{"AccountList UserID missing", obj("AccountList", `[{"UserID":"newbie"},{"Nick":"x"}]`), parley.ErrAccountIllegalParams},
			{"AccountList Nick a number", obj("AccountList", `[{"UserID":"newbie","Nick":1}]`), parley.ErrAccountIllegalParams},
		}},
		{"im_open_login_svc", "account_delete", []tc{
			{"bad JSON", `{"DeleteItem":[}`, parley.ErrBodyJSON},
			{"DeleteItem missing", obj(), parley.ErrAccountIllegalParams},
			{"DeleteItem not an array", obj("DeleteItem", `{"UserID":"alice"}`), parley.ErrAccountIllegalParams},
			{"DeleteItem empty", obj("DeleteItem", `[]`), parley.ErrAccountIllegalParams},
			{"DeleteItem 101", obj("DeleteItem", userItems(101)), parley.ErrAccountIllegalParams},
			{"item a string", obj("DeleteItem", `["alice"]`), parley.ErrAccountIllegalParams},
			{"UserID a number", obj("DeleteItem", `[{"UserID":"alice"},{"UserID":7}]`), parley.ErrAccountTypeInvalid},
			{"UserID missing", obj("DeleteItem", `[{"UserID":"alice"},{}]`), parley.ErrAccountIllegalParams},
		}},
		{"im_open_login_svc", "account_check", []tc{
			{"bad JSON", `CheckItem`, parley.ErrBodyJSON},
			{"CheckItem missing", obj(), parley.ErrAccountIllegalParams},
			{"CheckItem empty", obj("CheckItem", `[]`), parley.ErrAccountIllegalParams},
			{"CheckItem 101", obj("CheckItem", userItems(101)), parley.ErrAccountIllegalParams},
			{"UserID a number", obj("CheckItem", `[{"UserID":1}]`), parley.ErrAccountTypeInvalid},
		}},
		{"openim", "sendmsg", []tc{
			{"bad JSON", `{"To_Account":"bob",`, parley.ErrJSONParse},
			{"an array", `[` + obj(send...) + `]`, parley.ErrJSONParse},
			{"To_Account missing", obj(with(send, "To_Account", "")...), parley.ErrToAccountInvalid},
			{"To_Account a number", obj(with(send, "To_Account", "5")...), parley.ErrToAccountInvalid},
			{"To_Account an array", obj(with(send, "To_Account", `["bob"]`)...), parley.ErrToAccountInvalid},
			{"To_Account empty", obj(with(send, "To_Account", `""`)...), parley.ErrToAccountInvalid},
			{"To_Account invalid", obj(with(send, "To_Account", `"b o b"`)...), parley.ErrToAccountInvalid},
			{"To_Account unknown", obj(with(send, "To_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"From_Account a number", obj(with(send, "From_Account", "5")...), parley.ErrFromAccountInvalid},
			{"From_Account unknown", obj(with(send, "From_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"MsgRandom missing", obj(with(send, "MsgRandom", "")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom as a string", obj(with(send, "MsgRandom", `"2"`)...), parley.ErrMsgRandomInvalid},
			{"MsgRandom fractional", obj(with(send, "MsgRandom", "2.5")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom 2.0", obj(with(send, "MsgRandom", "2.0")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom exponent", obj(with(send, "MsgRandom", "2e3")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom negative", obj(with(send, "MsgRandom", "-1")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom 4294967296", obj(with(send, "MsgRandom", "4294967296")...), parley.ErrMsgRandomInvalid},
			{"MsgRandom true", obj(with(send, "MsgRandom", "true")...), parley.ErrMsgRandomInvalid},
			{"MsgSeq as a string", obj(with(send, "MsgSeq", `"3"`)...), parley.ErrFormat},
			{"MsgSeq 4294967296", obj(with(send, "MsgSeq", "4294967296")...), parley.ErrFormat},
			{"MsgSeq negative", obj(with(send, "MsgSeq", "-3")...), parley.ErrFormat},
			{"MsgBody missing", obj(with(send, "MsgBody", "")...), parley.ErrMsgBodyNotArray},
			{"MsgBody an object", obj(with(send, "MsgBody", `{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}`)...), parley.ErrMsgBodyNotArray},
			{"MsgBody a string", obj(with(send, "MsgBody", `"hi"`)...), parley.ErrMsgBodyNotArray},
			{"MsgBody Text a number", obj(with(send, "MsgBody", `[{"MsgType":"TIMTextElem","MsgContent":{"Text":5}}]`)...), parley.ErrMsgBodyInvalid},
			{"MsgBody unknown type", obj(with(send, "MsgBody", `[{"MsgType":"TIMNopeElem","MsgContent":{}}]`)...), parley.ErrMsgBodyInvalid},
			{"MsgBody over 12 KB", obj(with(send, "MsgBody", fmt.Sprintf(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":%q}}]`, strings.Repeat("x", 12*1024+1)))...), parley.ErrMsgBodyTooLarge},
			{"SyncOtherMachine as a string", obj(with(send, "SyncOtherMachine", `"1"`)...), parley.ErrSyncOtherMachineInvalid},
			{"SyncOtherMachine 3", obj(with(send, "SyncOtherMachine", "3")...), parley.ErrSyncOtherMachineInvalid},
			{"SyncOtherMachine 1.5", obj(with(send, "SyncOtherMachine", "1.5")...), parley.ErrSyncOtherMachineInvalid},
			{"MsgLifeTime as a string", obj(with(send, "MsgLifeTime", `"60"`)...), parley.ErrMsgLifeTimeInvalid},
			{"MsgLifeTime negative", obj(with(send, "MsgLifeTime", "-1")...), parley.ErrMsgLifeTimeInvalid},
			{"MsgLifeTime fractional", obj(with(send, "MsgLifeTime", "60.5")...), parley.ErrMsgLifeTimeInvalid},
			{"MsgTimeStamp as a string", obj(with(send, "MsgTimeStamp", `"1750000000"`)...), parley.ErrMsgTimeStampInvalid},
			{"MsgTimeStamp fractional", obj(with(send, "MsgTimeStamp", "1.5")...), parley.ErrMsgTimeStampInvalid},
			{"OnlineOnlyFlag 2", obj(with(send, "OnlineOnlyFlag", "2")...), parley.ErrFormat},
			{"OnlineOnlyFlag as a string", obj(with(send, "OnlineOnlyFlag", `"1"`)...), parley.ErrFormat},
			{"SupportMessageExtension 2", obj(with(send, "SupportMessageExtension", "2")...), parley.ErrFormat},
			{"IsNeedReadReceipt as a string", obj(with(send, "IsNeedReadReceipt", `"0"`)...), parley.ErrFormat},
			{"ForbidCallbackControl a string", obj(with(send, "ForbidCallbackControl", `"ForbidBeforeSendMsgCallback"`)...), parley.ErrFormat},
			{"ForbidCallbackControl unknown value", obj(with(send, "ForbidCallbackControl", `["ForbidEverything"]`)...), parley.ErrFormat},
			{"ForbidCallbackControl a number in it", obj(with(send, "ForbidCallbackControl", `[1]`)...), parley.ErrFormat},
			{"SendMsgControl unknown value", obj(with(send, "SendMsgControl", `["NoUnread","Loud"]`)...), parley.ErrFormat},
			{"SendMsgControl a string", obj(with(send, "SendMsgControl", `"NoUnread"`)...), parley.ErrFormat},
			{"OfflinePushInfo a string", obj(with(send, "OfflinePushInfo", `"push"`)...), parley.ErrOfflinePushInfo},
			{"OfflinePushInfo an array", obj(with(send, "OfflinePushInfo", `[]`)...), parley.ErrOfflinePushInfo},
			{"CloudCustomData a number", obj(with(send, "CloudCustomData", "5")...), parley.ErrFormat},
			{"CloudCustomData an object", obj(with(send, "CloudCustomData", `{"a":1}`)...), parley.ErrFormat},
		}},
		{"openim", "batchsendmsg", []tc{
			{"bad JSON", `{{}`, parley.ErrJSONParse},
			{"To_Account missing", obj(with(batch, "To_Account", "")...), parley.ErrBatchToNotArray},
			{"To_Account a string", obj(with(batch, "To_Account", `"bob"`)...), parley.ErrBatchToNotArray},
			{"To_Account with a number", obj(with(batch, "To_Account", `["bob",5]`)...), parley.ErrBatchToNotArray},
			{"To_Account empty", obj(with(batch, "To_Account", `[]`)...), parley.ErrBatchToEmpty},
			{"To_Account 501", obj(with(batch, "To_Account", quotedList("u", 501))...), parley.ErrTooManyTargets},
			{"From_Account unknown", obj(with(batch, "From_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"MsgRandom as a string", obj(with(batch, "MsgRandom", `"2"`)...), parley.ErrMsgRandomInvalid},
			{"MsgRandom missing", obj(with(batch, "MsgRandom", "")...), parley.ErrMsgRandomInvalid},
			{"MsgSeq fractional", obj(with(batch, "MsgSeq", "1.5")...), parley.ErrFormat},
			{"MsgBody an object", obj(with(batch, "MsgBody", `{}`)...), parley.ErrMsgBodyNotArray},
			{"MsgBody element bad", obj(with(batch, "MsgBody", `[{"MsgType":"TIMFaceElem","MsgContent":{"Index":"1"}}]`)...), parley.ErrMsgBodyInvalid},
			{"SyncOtherMachine as a string", obj(with(batch, "SyncOtherMachine", `"2"`)...), parley.ErrSyncOtherMachineInvalid},
			{"MsgLifeTime as a string", obj(with(batch, "MsgLifeTime", `"0"`)...), parley.ErrMsgLifeTimeInvalid},
			{"SendMsgControl unknown value", obj(with(batch, "SendMsgControl", `["Nope"]`)...), parley.ErrFormat},
			{"OfflinePushInfo a number", obj(with(batch, "OfflinePushInfo", `1`)...), parley.ErrOfflinePushInfo},
		}},
		{"openim", "admin_getroammsg", []tc{
			{"bad JSON", `{"MaxCnt":}`, parley.ErrJSONParse},
			{"Operator_Account missing", obj(with(roam, "Operator_Account", "")...), parley.ErrFromAccountInvalid},
			{"Operator_Account a number", obj(with(roam, "Operator_Account", "1")...), parley.ErrFromAccountInvalid},
			{"Operator_Account unknown", obj(with(roam, "Operator_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"Peer_Account missing", obj(with(roam, "Peer_Account", "")...), parley.ErrToAccountInvalid},
			{"Peer_Account unknown", obj(with(roam, "Peer_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"MaxCnt as a string", obj(with(roam, "MaxCnt", `"10"`)...), parley.ErrFormat},
			{"MaxCnt missing", obj(with(roam, "MaxCnt", "")...), parley.ErrFormat},
			{"MaxCnt 0", obj(with(roam, "MaxCnt", "0")...), parley.ErrFormat},
			{"MinTime fractional", obj(with(roam, "MinTime", "0.5")...), parley.ErrFormat},
			{"MaxTime as a string", obj(with(roam, "MaxTime", `"4000000000"`)...), parley.ErrFormat},
			{"LastMsgKey a number", obj(with(roam, "LastMsgKey", "5")...), parley.ErrMsgKeyInvalid},
			{"LastMsgKey unknown", obj(with(roam, "LastMsgKey", `"1_2_3"`)...), parley.ErrMsgKeyInvalid},
		}},
		{"openim", "admin_msgwithdraw", []tc{
			{"bad JSON", `{"MsgKey"}`, parley.ErrJSONParse},
			{"From_Account missing", obj(with(withdraw, "From_Account", "")...), parley.ErrFromAccountInvalid},
			{"From_Account unknown", obj(with(withdraw, "From_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"To_Account a number", obj(with(withdraw, "To_Account", "5")...), parley.ErrToAccountInvalid},
			{"To_Account unknown", obj(with(withdraw, "To_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"MsgKey missing", obj(with(withdraw, "MsgKey", "")...), parley.ErrMsgKeyInvalid},
			{"MsgKey a number", obj(with(withdraw, "MsgKey", "5")...), parley.ErrMsgKeyInvalid},
			{"MsgKey empty", obj(with(withdraw, "MsgKey", `""`)...), parley.ErrMsgKeyInvalid},
			{"MsgKey unknown", obj(with(withdraw, "MsgKey", `"1_2_3"`)...), parley.ErrRecallNotFound},
			{"MsgKey of the other direction", obj(with(with(withdraw, "From_Account", `"bob"`), "To_Account", `"alice"`)...), parley.ErrRecallNotFound},
		}},
		{"openim", "admin_set_msg_read", []tc{
			{"bad JSON", `{"Report_Account":"bob"`, parley.ErrJSONParse},
			{"Report_Account missing", obj(with(read, "Report_Account", "")...), parley.ErrFromAccountInvalid},
			{"Report_Account unknown", obj(with(read, "Report_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"Peer_Account a number", obj(with(read, "Peer_Account", "1")...), parley.ErrToAccountInvalid},
			{"Peer_Account unknown", obj(with(read, "Peer_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"MsgReadTime not digits", obj(with(read, "MsgReadTime", `"yesterday"`)...), parley.ErrFormat},
			{"MsgReadTime fractional", obj(with(read, "MsgReadTime", `1.5`)...), parley.ErrFormat},
			{"MsgReadTime negative", obj(with(read, "MsgReadTime", `-5`)...), parley.ErrFormat},
			{"MsgReadTime an object", obj(with(read, "MsgReadTime", `{}`)...), parley.ErrFormat},
		}},
		{"openim", "get_c2c_unread_msg_num", []tc{
			{"bad JSON", `{"To_Account":bob}`, parley.ErrJSONParse},
			{"To_Account missing", obj(with(unread, "To_Account", "")...), parley.ErrToAccountInvalid},
			{"To_Account unknown", obj(with(unread, "To_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"To_Account a number", obj(with(unread, "To_Account", `5`)...), parley.ErrToAccountInvalid},
			{"Peer_Account a string", obj(with(unread, "Peer_Account", `"alice"`)...), parley.ErrFormat},
			{"Peer_Account with a number", obj(with(unread, "Peer_Account", `["alice",5]`)...), parley.ErrFormat},
			{"Peer_Account 11", obj(with(unread, "Peer_Account", quotedList("p", 11))...), parley.ErrTooManyAccounts},
		}},
	}

	before := e.snapshot(t)
	for _, s := range suites {
		for _, c := range s.cases {
			t.Run(s.command+"/"+c.name, func(t *testing.T) {
				e.post(t, s.service, s.command, c.body).wantCode(t, c.want)
				if after := e.snapshot(t); after != before {
					t.Fatalf("the request changed the store:\nbefore\n%s\nafter\n%s", before, after)
				}
			})
		}
	}

	// The valid forms of the same requests do get through, so the table
	// tests the field it names and not a broken base request.
	for _, s := range []struct{ service, command, body string }{
		{"openim", "sendmsg", obj(send...)},
		{"openim", "batchsendmsg", obj(batch...)},
		{"openim", "admin_getroammsg", obj(roam...)},
		{"openim", "admin_set_msg_read", obj(read...)},
		{"openim", "get_c2c_unread_msg_num", obj(unread...)},
		{"openim", "admin_msgwithdraw", obj(withdraw...)},
	} {
		e.post(t, s.service, s.command, s.body).ok(t)
	}
}
