package restapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// groupSnapshot renders everything the group and extension commands could
// have stored: the outbox, each of groupIDs with its members, messages and
// their extensions, and the C2C messages keyed by c2c with their
// extensions. It is cheaper than e.snapshot, which looks at every
// conversation of every account.
func (e *env) groupSnapshot(t testing.TB, groupIDs []string, c2c []parley.MessageGetByKeyParams) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	events, err := e.store.EventList(ctx, parley.EventListParams{Limit: 100000})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	for _, ev := range events {
		fmt.Fprintf(&b, "event %s %s %s\n", ev.ID, ev.Command, ev.Body)
	}
	extensions := func(target string) {
		state, err := e.store.ExtensionStateGet(ctx, target)
		if err != nil {
			t.Fatalf("ExtensionStateGet: %v", err)
		}
		kvs, err := e.store.ExtensionList(ctx, parley.ExtensionListParams{Target: target, Limit: 100000})
		if err != nil {
			t.Fatalf("ExtensionList: %v", err)
		}
		fmt.Fprintf(&b, "  extensions %+v %+v\n", state, kvs)
	}
	groups, err := e.store.GroupGetMany(ctx, groupIDs)
	if err != nil {
		t.Fatalf("GroupGetMany: %v", err)
	}
	byID := map[string]*parley.Group{}
	for _, g := range groups {
		byID[g.ID] = g
	}
	for _, id := range groupIDs {
		g := byID[id]
		if g == nil {
			fmt.Fprintf(&b, "group %q none\n", id)
			continue
		}
		fmt.Fprintf(&b, "group %+v\n", *g)
		members, err := e.store.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: id})
		if err != nil {
			t.Fatalf("GroupMemberList: %v", err)
		}
		for _, m := range members {
			fmt.Fprintf(&b, "  member %+v\n", *m)
		}
		msgs, err := e.store.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: id, Limit: 100000})
		if err != nil {
			t.Fatalf("GroupMessageList: %v", err)
		}
		for _, m := range msgs {
			fmt.Fprintf(&b, "  message %d %s %d recalled=%v %s\n", m.MsgSeq, m.From, m.Random, m.Recalled, m.Body)
			extensions(parley.GroupExtensionTarget(id, m.MsgSeq))
		}
	}
	for _, key := range c2c {
		m, err := e.store.MessageGetByKey(ctx, key)
		if err != nil {
			t.Fatalf("MessageGetByKey(%+v): %v", key, err)
		}
		fmt.Fprintf(&b, "c2c %s recalled=%v\n", m.MsgKey, m.Recalled)
		extensions(parley.C2CExtensionTarget(m.ID))
	}
	return b.String()
}

// Each malformed group or extension request gets its code and stores
// nothing: no group, member, message, extension or webhook event.
func TestMalformedGroupRequests(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol", "dave")
	e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "team",
		"MemberList": []map[string]any{{"Member_Account": "bob"}}})
	e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "spare", "Name": "spare"})
	e.createGroup(t, map[string]any{"Type": "AVChatRoom", "GroupId": "live", "Name": "live"})
	e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Community", "GroupId": "@TGS#_comm", "Name": "comm"})
	e.sendGroupText(t, "team", "alice", 1, "poll", "SupportMessageExtension", 1).ok(t)
	e.sendGroupText(t, "team", "bob", 2, "plain").ok(t)
	e.sendGroupText(t, "@TGS#_comm", "alice", 1, "poll", "SupportMessageExtension", 1).ok(t)
	extKey := str(t, e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("vote"), "SupportMessageExtension": 1,
	}).ok(t).Fields["MsgKey"])
	plainKey := str(t, e.sendText(t, "alice", "bob", 2, "plain").Fields["MsgKey"])

	long := func(n int) string { return fmt.Sprintf("%q", strings.Repeat("x", n)) }
	members := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"Member_Account":"m%d"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	seqs := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"MsgSeq":%d}`, i+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	textElem := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`
	bigText := fmt.Sprintf(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":%q}}]`, strings.Repeat("x", 12*1024+1))

	create := []string{"Owner_Account", `"alice"`, "Type", `"Public"`, "GroupId", `"fresh"`, "Name", `"fresh"`, "MemberList", `[{"Member_Account":"bob"}]`}
	info := []string{"GroupIdList", `["team","spare"]`}
	add := []string{"GroupId", `"team"`, "MemberList", `[{"Member_Account":"carol"}]`}
	del := []string{"GroupId", `"team"`, "MemberToDel_Account", `["carol"]`}
	memberInfo := []string{"GroupId", `"team"`, "Limit", "10", "Offset", "0"}
	destroy := []string{"GroupId", `"spare"`}
	send := []string{"GroupId", `"team"`, "From_Account", `"bob"`, "Random", "7", "MsgBody", textElem}
	recall := []string{"GroupId", `"team"`, "MsgSeqList", `[{"MsgSeq":2}]`}
	history := []string{"GroupId", `"team"`, "ReqMsgNumber", "5"}
	setKV := []string{"From_Account", `"alice"`, "To_Account", `"bob"`, "MsgKey", fmt.Sprintf("%q", extKey), "OperateType", "1", "ExtensionList", `[{"Key":"k","Value":"v"}]`}
	getKV := []string{"From_Account", `"alice"`, "To_Account", `"bob"`, "MsgKey", fmt.Sprintf("%q", extKey)}
	groupSetKV := []string{"GroupId", `"team"`, "MsgSeq", "1", "OperateType", "1", "ExtensionList", `[{"Key":"k","Value":"v"}]`}
	groupGetKV := []string{"GroupId", `"team"`, "MsgSeq", "1"}

	const (
		bad      = parley.ErrGroupInvalidParam
		badJSON  = parley.ErrGroupJSONParse
		badID    = parley.ErrGroupIDInvalid
		noGroup  = parley.ErrGroupNotFound
		noUser   = parley.ErrGroupUserNotExist
		tooMany  = parley.ErrGroupTooManyAccounts
		denied   = parley.ErrGroupNotPermitted
		extJSON  = parley.ErrJSONParse
		extField = parley.ErrFormat
	)
	type tc struct {
		name string
		body string
		want int
	}
	suites := []struct {
		service, command string
		cases            []tc
	}{
		{groupSvc, "create_group", []tc{
			{"bad JSON", `{"Type":`, badJSON},
			{"empty body", ``, badJSON},
			{"an array", `[` + obj(create...) + `]`, badJSON},
			{"Type missing", obj(with(create, "Type", "")...), bad},
			{"Type a number", obj(with(create, "Type", "1")...), bad},
			{"Type unknown", obj(with(create, "Type", `"Secret"`)...), bad},
			{"Name missing", obj(with(create, "Name", "")...), bad},
			{"Name empty", obj(with(create, "Name", `""`)...), bad},
			{"Name 31 bytes", obj(with(create, "Name", long(31))...), bad},
			{"Name a number", obj(with(create, "Name", "5")...), bad},
			{"Introduction 241 bytes", obj(with(create, "Introduction", long(241))...), bad},
			{"Introduction an array", obj(with(create, "Introduction", `["i"]`)...), bad},
			{"Notification 301 bytes", obj(with(create, "Notification", long(301))...), bad},
			{"FaceUrl 101 bytes", obj(with(create, "FaceUrl", long(101))...), bad},
			{"MaxMemberCount as a string", obj(with(create, "MaxMemberCount", `"500"`)...), bad},
			{"MaxMemberCount negative", obj(with(create, "MaxMemberCount", "-1")...), bad},
			{"MaxMemberCount fractional", obj(with(create, "MaxMemberCount", "1.5")...), bad},
			{"MaxMemberCount above the type's", obj(with(create, "MaxMemberCount", "2001")...), bad},
			{"ApplyJoinOption unknown", obj(with(create, "ApplyJoinOption", `"Anyone"`)...), bad},
			{"InviteJoinOption DisableApply", obj(with(create, "InviteJoinOption", `"DisableApply"`)...), bad},
			{"SupportTopic 2", obj(with(create, "SupportTopic", "2")...), bad},
			{"Owner_Account a number", obj(with(create, "Owner_Account", "5")...), bad},
			{"Owner_Account not imported", obj(with(create, "Owner_Account", `"ghost"`)...), noUser},
			{"Owner_Account invalid", obj(with(create, "Owner_Account", `"a l"`)...), noUser},
			{"GroupId a number", obj(with(create, "GroupId", "5")...), bad},
			{"GroupId with the generated prefix", obj(with(create, "GroupId", `"@TGS#2ABCDEFGH"`)...), badID},
			{"GroupId 49 bytes", obj(with(create, "GroupId", long(49))...), badID},
			{"GroupId with a control character", obj(with(create, "GroupId", `"fr\u0001sh"`)...), badID},
			{"GroupId not ASCII", obj(with(create, "GroupId", `"frésh"`)...), badID},
			{"Community GroupId without @TGS#_", obj(with(with(create, "Type", `"Community"`), "GroupId", `"comm2"`)...), badID},
			{"GroupId taken by the same owner", obj(with(create, "GroupId", `"team"`)...), parley.ErrGroupIDTakenByOwner},
			{"GroupId taken", obj(with(with(create, "GroupId", `"team"`), "Owner_Account", `"dave"`)...), parley.ErrGroupIDTaken},
			{"MemberList not an array", obj(with(create, "MemberList", `{"Member_Account":"bob"}`)...), bad},
			{"MemberList item a string", obj(with(create, "MemberList", `["bob"]`)...), bad},
			{"Member_Account missing", obj(with(create, "MemberList", `[{"Role":"Admin"}]`)...), bad},
			{"Member_Account a number", obj(with(create, "MemberList", `[{"Member_Account":5}]`)...), bad},
			{"Member_Account not imported", obj(with(create, "MemberList", `[{"Member_Account":"bob"},{"Member_Account":"ghost"}]`)...), noUser},
			{"Member_Account invalid", obj(with(create, "MemberList", `[{"Member_Account":"b o b"}]`)...), noUser},
			{"Role Owner", obj(with(create, "MemberList", `[{"Member_Account":"bob","Role":"Owner"}]`)...), bad},
			{"Role unknown", obj(with(create, "MemberList", `[{"Member_Account":"bob","Role":"Boss"}]`)...), bad},
			{"Role a number", obj(with(create, "MemberList", `[{"Member_Account":"bob","Role":1}]`)...), bad},
			{"MemberList 101", obj(with(create, "MemberList", members(101))...), tooMany},
			{"more members than MaxMemberCount", obj(with(with(create, "MaxMemberCount", "1"), "MemberList", `[{"Member_Account":"bob"}]`)...), parley.ErrGroupFull},
			{"AVChatRoom with members", obj(with(create, "Type", `"AVChatRoom"`)...), denied},
			{"AppDefinedData not an array", obj(with(create, "AppDefinedData", `{"Key":"k","Value":"v"}`)...), bad},
			{"AppDefinedData Key missing", obj(with(create, "AppDefinedData", `[{"Value":"v"}]`)...), bad},
			{"AppDefinedData Key 17 bytes", obj(with(create, "AppDefinedData", `[{"Key":`+long(17)+`,"Value":"v"}]`)...), bad},
			{"AppDefinedData Value 4097 bytes", obj(with(create, "AppDefinedData", `[{"Key":"k","Value":`+long(4097)+`}]`)...), bad},
			{"AppDefinedData Value a number", obj(with(create, "AppDefinedData", `[{"Key":"k","Value":1}]`)...), bad},
			{"AppMemberDefinedData Key empty", obj(with(create, "MemberList", `[{"Member_Account":"bob","AppMemberDefinedData":[{"Key":"","Value":"v"}]}]`)...), bad},
		}},
		{groupSvc, "get_group_info", []tc{
			{"bad JSON", `{"GroupIdList":[`, badJSON},
			{"GroupIdList missing", obj(), bad},
			{"GroupIdList a string", obj("GroupIdList", `"team"`), bad},
			{"GroupIdList empty", obj("GroupIdList", `[]`), bad},
			{"GroupIdList with a number", obj("GroupIdList", `["team",5]`), bad},
			{"GroupIdList 51", obj("GroupIdList", quotedList("g", 51)), tooMany},
			{"ResponseFilter a string", obj(with(info, "ResponseFilter", `"all"`)...), bad},
			{"GroupBaseInfoFilter a string", obj(with(info, "ResponseFilter", `{"GroupBaseInfoFilter":"Name"}`)...), bad},
			{"MemberInfoFilter with a number", obj(with(info, "ResponseFilter", `{"MemberInfoFilter":["Role",1]}`)...), bad},
		}},
		{groupSvc, "add_group_member", []tc{
			{"bad JSON", `{"GroupId":"team",}`, badJSON},
			{"GroupId missing", obj(with(add, "GroupId", "")...), bad},
			{"GroupId a number", obj(with(add, "GroupId", "5")...), bad},
			{"GroupId empty", obj(with(add, "GroupId", `""`)...), badID},
			{"GroupId 49 bytes", obj(with(add, "GroupId", long(49))...), badID},
			{"GroupId unknown", obj(with(add, "GroupId", `"nosuch"`)...), noGroup},
			{"MemberList missing", obj(with(add, "MemberList", "")...), bad},
			{"MemberList empty", obj(with(add, "MemberList", `[]`)...), bad},
			{"MemberList 301", obj(with(add, "MemberList", members(301))...), tooMany},
			{"MemberList item a string", obj(with(add, "MemberList", `["carol"]`)...), bad},
			{"Member_Account a number", obj(with(add, "MemberList", `[{"Member_Account":1}]`)...), bad},
			{"Member_Account missing", obj(with(add, "MemberList", `[{}]`)...), bad},
			{"Silence 2", obj(with(add, "Silence", "2")...), bad},
			{"AVChatRoom", obj(with(add, "GroupId", `"live"`)...), denied},
		}},
		{groupSvc, "delete_group_member", []tc{
			{"bad JSON", `{"GroupId"`, badJSON},
			{"GroupId missing", obj(with(del, "GroupId", "")...), bad},
			{"GroupId empty", obj(with(del, "GroupId", `""`)...), badID},
			{"GroupId unknown", obj(with(del, "GroupId", `"nosuch"`)...), noGroup},
			{"MemberToDel_Account missing", obj(with(del, "MemberToDel_Account", "")...), bad},
			{"MemberToDel_Account empty", obj(with(del, "MemberToDel_Account", `[]`)...), bad},
			{"MemberToDel_Account a string", obj(with(del, "MemberToDel_Account", `"bob"`)...), bad},
			{"MemberToDel_Account with a number", obj(with(del, "MemberToDel_Account", `["bob",1]`)...), bad},
			{"MemberToDel_Account 101", obj(with(del, "MemberToDel_Account", quotedList("m", 101))...), tooMany},
			{"the owner", obj(with(del, "MemberToDel_Account", `["bob","alice"]`)...), denied},
			{"Reason a number", obj(with(del, "Reason", "1")...), bad},
			{"Silence as a string", obj(with(del, "Silence", `"1"`)...), bad},
			{"AVChatRoom", obj(with(del, "GroupId", `"live"`)...), denied},
		}},
		{groupSvc, "get_group_member_info", []tc{
			{"bad JSON", `{"GroupId":team}`, badJSON},
			{"GroupId missing", obj(with(memberInfo, "GroupId", "")...), bad},
			{"GroupId unknown", obj(with(memberInfo, "GroupId", `"nosuch"`)...), noGroup},
			{"GroupId with a control character", obj(with(memberInfo, "GroupId", `"te\u0000am"`)...), badID},
			{"Limit 201", obj(with(memberInfo, "Limit", "201")...), bad},
			{"Limit negative", obj(with(memberInfo, "Limit", "-1")...), bad},
			{"Limit as a string", obj(with(memberInfo, "Limit", `"10"`)...), bad},
			{"Offset negative", obj(with(memberInfo, "Offset", "-1")...), bad},
			{"Offset fractional", obj(with(memberInfo, "Offset", "1.5")...), bad},
			{"MemberInfoFilter a string", obj(with(memberInfo, "MemberInfoFilter", `"Role"`)...), bad},
			{"MemberRoleFilter", obj(with(memberInfo, "MemberRoleFilter", `["Owner"]`)...), bad},
			{"AVChatRoom", obj(with(memberInfo, "GroupId", `"live"`)...), denied},
		}},
		{groupSvc, "destroy_group", []tc{
			{"bad JSON", `GroupId`, badJSON},
			{"GroupId missing", obj(), bad},
			{"GroupId a number", obj("GroupId", "1"), bad},
			{"GroupId empty", obj("GroupId", `""`), badID},
			{"GroupId unknown", obj("GroupId", `"nosuch"`), noGroup},
		}},
		{groupSvc, "send_group_msg", []tc{
			{"bad JSON", `{"GroupId":"team","Random":1,`, badJSON},
			{"an array", `[` + obj(send...) + `]`, badJSON},
			{"GroupId missing", obj(with(send, "GroupId", "")...), bad},
			{"GroupId a number", obj(with(send, "GroupId", "5")...), bad},
			{"GroupId empty", obj(with(send, "GroupId", `""`)...), badID},
			{"GroupId unknown", obj(with(send, "GroupId", `"nosuch"`)...), noGroup},
			{"Random missing", obj(with(send, "Random", "")...), bad},
			{"Random as a string", obj(with(send, "Random", `"7"`)...), bad},
			{"Random negative", obj(with(send, "Random", "-1")...), bad},
			{"Random 4294967296", obj(with(send, "Random", "4294967296")...), bad},
			{"Random fractional", obj(with(send, "Random", "7.5")...), bad},
			{"MsgBody missing", obj(with(send, "MsgBody", "")...), bad},
			{"MsgBody an object", obj(with(send, "MsgBody", `{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}`)...), bad},
			{"MsgBody a string", obj(with(send, "MsgBody", `"hi"`)...), bad},
			{"MsgBody Text a number", obj(with(send, "MsgBody", `[{"MsgType":"TIMTextElem","MsgContent":{"Text":5}}]`)...), bad},
			{"MsgBody unknown type", obj(with(send, "MsgBody", `[{"MsgType":"TIMNopeElem","MsgContent":{}}]`)...), bad},
			{"MsgBody over 12 KB", obj(with(send, "MsgBody", bigText)...), parley.ErrMsgBodyTooLarge},
			{"From_Account a number", obj(with(send, "From_Account", "5")...), bad},
			{"From_Account not imported", obj(with(send, "From_Account", `"ghost"`)...), noUser},
			{"From_Account invalid", obj(with(send, "From_Account", `"b o b"`)...), noUser},
			{"From_Account not a member", obj(with(send, "From_Account", `"dave"`)...), denied},
			{"MsgPriority unknown", obj(with(send, "MsgPriority", `"Urgent"`)...), bad},
			{"MsgPriority a number", obj(with(send, "MsgPriority", "1")...), bad},
			{"To_Account a string", obj(with(send, "To_Account", `"alice"`)...), bad},
			{"To_Account not a member", obj(with(send, "To_Account", `["alice","dave"]`)...), bad},
			{"To_Account invalid", obj(with(send, "To_Account", `["a l"]`)...), bad},
			{"To_Account 51", obj(with(send, "To_Account", quotedList("m", 51))...), bad},
			{"OnlineOnlyFlag 2", obj(with(send, "OnlineOnlyFlag", "2")...), bad},
			{"SupportMessageExtension as a string", obj(with(send, "SupportMessageExtension", `"1"`)...), bad},
			{"NeedReadReceipt 2", obj(with(send, "NeedReadReceipt", "2")...), bad},
			{"SendMsgControl unknown value", obj(with(send, "SendMsgControl", `["Loud"]`)...), bad},
			{"SendMsgControl a string", obj(with(send, "SendMsgControl", `"NoUnread"`)...), bad},
			{"ForbidCallbackControl unknown value", obj(with(send, "ForbidCallbackControl", `["ForbidEverything"]`)...), bad},
			{"CloudCustomData a number", obj(with(send, "CloudCustomData", "5")...), bad},
			{"OfflinePushInfo a string", obj(with(send, "OfflinePushInfo", `"push"`)...), bad},
			{"GroupAtInfo a string", obj(with(send, "GroupAtInfo", `"bob"`)...), bad},
			{"GroupAtInfo item a number", obj(with(send, "GroupAtInfo", `[1]`)...), bad},
			{"GroupAtAllFlag 2", obj(with(send, "GroupAtInfo", `[{"GroupAtAllFlag":2}]`)...), bad},
			{"TopicId a number", obj(with(send, "TopicId", "1")...), bad},
		}},
		{groupSvc, "group_msg_recall", []tc{
			{"bad JSON", `{"MsgSeqList":[{"MsgSeq":1}}`, badJSON},
			{"GroupId missing", obj(with(recall, "GroupId", "")...), bad},
			{"GroupId empty", obj(with(recall, "GroupId", `""`)...), badID},
			{"GroupId unknown", obj(with(recall, "GroupId", `"nosuch"`)...), noGroup},
			{"MsgSeqList missing", obj(with(recall, "MsgSeqList", "")...), bad},
			{"MsgSeqList empty", obj(with(recall, "MsgSeqList", `[]`)...), bad},
			{"MsgSeqList 11", obj(with(recall, "MsgSeqList", seqs(11))...), bad},
			{"MsgSeqList item a number", obj(with(recall, "MsgSeqList", `[2]`)...), bad},
			{"MsgSeq as a string", obj(with(recall, "MsgSeqList", `[{"MsgSeq":"2"}]`)...), bad},
			{"MsgSeq negative", obj(with(recall, "MsgSeqList", `[{"MsgSeq":-2}]`)...), bad},
			{"MsgSeq missing", obj(with(recall, "MsgSeqList", `[{"Seq":2}]`)...), bad},
			{"Reason 101 bytes", obj(with(recall, "Reason", long(101))...), bad},
			{"Reason a number", obj(with(recall, "Reason", "1")...), bad},
		}},
		{groupSvc, "group_msg_get_simple", []tc{
			{"bad JSON", `{"ReqMsgNumber":}`, badJSON},
			{"GroupId missing", obj(with(history, "GroupId", "")...), bad},
			{"GroupId unknown", obj(with(history, "GroupId", `"nosuch"`)...), noGroup},
			{"GroupId empty", obj(with(history, "GroupId", `""`)...), badID},
			{"ReqMsgNumber missing", obj(with(history, "ReqMsgNumber", "")...), bad},
			{"ReqMsgNumber 0", obj(with(history, "ReqMsgNumber", "0")...), bad},
			{"ReqMsgNumber 21", obj(with(history, "ReqMsgNumber", "21")...), bad},
			{"ReqMsgNumber as a string", obj(with(history, "ReqMsgNumber", `"5"`)...), bad},
			{"ReqMsgSeq negative", obj(with(history, "ReqMsgSeq", "-1")...), bad},
			{"ReqMsgSeq fractional", obj(with(history, "ReqMsgSeq", "1.5")...), bad},
			{"WithRecalledMsg 2", obj(with(history, "WithRecalledMsg", "2")...), bad},
			{"AVChatRoom", obj(with(history, "GroupId", `"live"`)...), parley.ErrGroupNoRoaming},
		}},
		{extSvc, "set_key_values", []tc{
			{"bad JSON", `{"MsgKey":`, extJSON},
			{"empty body", ``, extJSON},
			{"From_Account a number", obj(with(setKV, "From_Account", "5")...), parley.ErrFromAccountInvalid},
			{"From_Account not imported", obj(with(setKV, "From_Account", `"ghost"`)...), parley.ErrFromAccountInvalid},
			{"To_Account missing", obj(with(setKV, "To_Account", "")...), parley.ErrToAccountInvalid},
			{"To_Account a number", obj(with(setKV, "To_Account", "5")...), parley.ErrToAccountInvalid},
			{"To_Account not imported", obj(with(setKV, "To_Account", `"ghost"`)...), parley.ErrToAccountInvalid},
			{"MsgKey missing", obj(with(setKV, "MsgKey", "")...), parley.ErrMsgKeyInvalid},
			{"MsgKey a number", obj(with(setKV, "MsgKey", "5")...), parley.ErrMsgKeyInvalid},
			{"MsgKey unknown", obj(with(setKV, "MsgKey", `"1_2_3"`)...), parley.ErrMsgKeyInvalid},
			{"MsgKey of the other direction", obj(with(with(setKV, "From_Account", `"bob"`), "To_Account", `"alice"`)...), parley.ErrMsgKeyInvalid},
			{"OperateType missing", obj(with(setKV, "OperateType", "")...), extField},
			{"OperateType 4", obj(with(setKV, "OperateType", "4")...), extField},
			{"OperateType as a string", obj(with(setKV, "OperateType", `"1"`)...), extField},
			{"ExtensionList missing", obj(with(setKV, "ExtensionList", "")...), extField},
			{"ExtensionList empty", obj(with(setKV, "ExtensionList", `[]`)...), extField},
			{"ExtensionList an object", obj(with(setKV, "ExtensionList", `{"Key":"k","Value":"v"}`)...), extField},
			{"ExtensionList 21", obj(with(setKV, "ExtensionList", "["+repeatJSON(`{"Key":"k","Value":"v"}`, 21)+"]")...), extField},
			{"ExtensionList item a string", obj(with(setKV, "ExtensionList", `["k"]`)...), extField},
			{"Key missing", obj(with(setKV, "ExtensionList", `[{"Value":"v"}]`)...), extField},
			{"Key empty", obj(with(setKV, "ExtensionList", `[{"Key":"","Value":"v"}]`)...), extField},
			{"Key 101 bytes", obj(with(setKV, "ExtensionList", `[{"Key":`+long(101)+`,"Value":"v"}]`)...), extField},
			{"Key a number", obj(with(setKV, "ExtensionList", `[{"Key":1,"Value":"v"}]`)...), extField},
			{"Value 1001 bytes", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":`+long(1001)+`}]`)...), extField},
			{"Value empty in a set", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":""}]`)...), extField},
			{"Value a number", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":1}]`)...), extField},
			{"Seq as a string", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":"v","Seq":"0"}]`)...), extField},
			{"Seq negative", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":"v","Seq":-1}]`)...), extField},
			{"the same Key twice", obj(with(setKV, "ExtensionList", `[{"Key":"k","Value":"v"},{"Key":"k","Value":"w"}]`)...), extField},
			{"a message without extensions", obj(with(setKV, "MsgKey", fmt.Sprintf("%q", plainKey))...), parley.ErrBadRequestPacket},
		}},
		{extSvc, "get_key_values", []tc{
			{"bad JSON", `{"To_Account":"bob"`, extJSON},
			{"To_Account missing", obj(with(getKV, "To_Account", "")...), parley.ErrToAccountInvalid},
			{"MsgKey unknown", obj(with(getKV, "MsgKey", `"1_2_3"`)...), parley.ErrMsgKeyInvalid},
			{"StartSeq as a string", obj(with(getKV, "StartSeq", `"1"`)...), extField},
			{"StartSeq negative", obj(with(getKV, "StartSeq", "-1")...), extField},
		}},
		{extSvc, "group_set_key_values", []tc{
			{"bad JSON", `{"GroupId":"team",,}`, extJSON},
			{"GroupId missing", obj(with(groupSetKV, "GroupId", "")...), extField},
			{"GroupId a number", obj(with(groupSetKV, "GroupId", "5")...), extField},
			{"GroupId empty", obj(with(groupSetKV, "GroupId", `""`)...), badID},
			{"GroupId unknown", obj(with(groupSetKV, "GroupId", `"nosuch"`)...), noGroup},
			{"MsgSeq missing", obj(with(groupSetKV, "MsgSeq", "")...), extField},
			{"MsgSeq 0", obj(with(groupSetKV, "MsgSeq", "0")...), extField},
			{"MsgSeq as a string", obj(with(groupSetKV, "MsgSeq", `"1"`)...), extField},
			{"MsgSeq negative", obj(with(groupSetKV, "MsgSeq", "-1")...), extField},
			{"MsgSeq no such message", obj(with(groupSetKV, "MsgSeq", "99")...), parley.ErrGroupRecallNotFound},
			{"AVChatRoom", obj(with(groupSetKV, "GroupId", `"live"`)...), denied},
			{"OperateType 0", obj(with(groupSetKV, "OperateType", "0")...), extField},
			{"ExtensionList empty", obj(with(groupSetKV, "ExtensionList", `[]`)...), extField},
			{"the same Key twice", obj(with(groupSetKV, "ExtensionList", `[{"Key":"k","Value":"v"},{"Key":"k","Value":"v"}]`)...), extField},
			{"a message without extensions", obj(with(groupSetKV, "MsgSeq", "2")...), parley.ErrBadRequestPacket},
		}},
		{extSvc, "group_get_key_values", []tc{
			{"bad JSON", `[`, extJSON},
			{"GroupId missing", obj(with(groupGetKV, "GroupId", "")...), extField},
			{"GroupId unknown", obj(with(groupGetKV, "GroupId", `"nosuch"`)...), noGroup},
			{"MsgSeq missing", obj(with(groupGetKV, "MsgSeq", "")...), extField},
			{"StartSeq fractional", obj(with(groupGetKV, "StartSeq", "1.5")...), extField},
		}},
	}

	groupIDs := []string{"team", "spare", "live", "@TGS#_comm", "fresh", "nosuch"}
	c2c := []parley.MessageGetByKeyParams{{From: "alice", To: "bob", MsgKey: extKey}, {From: "alice", To: "bob", MsgKey: plainKey}}
	before := e.groupSnapshot(t, groupIDs, c2c)
	beforeAll := e.snapshot(t)
	for _, s := range suites {
		for _, c := range s.cases {
			t.Run(s.command+"/"+c.name, func(t *testing.T) {
				// A second between requests keeps the group's send rate
				// out of the way.
				e.clock.Advance(time.Second)
				a := e.post(t, s.service, s.command, c.body)
				if after := e.groupSnapshot(t, groupIDs, c2c); after != before {
					// Blame this request only, not the ones after it.
					changed := before
					before = after
					t.Errorf("the request changed the store:\nbefore\n%s\nafter\n%s", changed, after)
				}
				a.wantCode(t, c.want)
			})
		}
	}
	if after := e.snapshot(t); after != beforeAll {
		t.Errorf("the requests changed accounts, conversations or the outbox:\nbefore\n%s\nafter\n%s", beforeAll, after)
	}

	// The valid forms of the same requests do get through, so the table
	// tests the field it names and not a broken base request.
	for _, s := range []struct{ service, command, body string }{
		{groupSvc, "create_group", obj(create...)},
		{groupSvc, "get_group_info", obj(info...)},
		{groupSvc, "add_group_member", obj(add...)},
		{groupSvc, "get_group_member_info", obj(memberInfo...)},
		{groupSvc, "send_group_msg", obj(send...)},
		{groupSvc, "group_msg_get_simple", obj(history...)},
		{extSvc, "set_key_values", obj(setKV...)},
		{extSvc, "get_key_values", obj(getKV...)},
		{extSvc, "group_set_key_values", obj(groupSetKV...)},
		{extSvc, "group_get_key_values", obj(groupGetKV...)},
		{groupSvc, "group_msg_recall", obj(recall...)},
		{groupSvc, "delete_group_member", obj(del...)},
		{groupSvc, "destroy_group", obj(destroy...)},
	} {
		e.post(t, s.service, s.command, s.body).ok(t)
	}
}
