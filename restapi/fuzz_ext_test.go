package restapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// The group and extension methods of checkingEngine: each checks what the
// REST layer promises to pass on (JSON types decoded, lists within their
// bounds, GroupIds and UserIDs well formed where the REST layer answers for
// them) and answers a success that exercises the answer's every field.

// wellFormedGroupID is decision G2's form: 1 to 48 bytes of printable ASCII.
func wellFormedGroupID(id string) bool {
	if id == "" || len(id) > parley.MaxGroupIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func (c checkingEngine) groupID(id string) {
	if !wellFormedGroupID(id) {
		c.t.Errorf("GroupId %q passed on although malformed", id)
	}
}

func (c checkingEngine) count(field string, n, least, most int) {
	if n < least || n > most {
		c.t.Errorf("%s with %d items passed on; want %d to %d", field, n, least, most)
	}
}

func (c checkingEngine) CreateGroup(_ context.Context, p chat.CreateGroupParams) (string, error) {
	c.id("Owner_Account", p.Owner, true)
	if p.GroupID != "" {
		c.groupID(p.GroupID)
	}
	if p.MaxMemberCount < 0 {
		c.t.Errorf("negative MaxMemberCount %d passed on", p.MaxMemberCount)
	}
	c.count("MemberList", len(p.Members), 0, parley.MaxCreateMembers)
	for _, m := range p.Members {
		c.id("Member_Account", m.UserID, false)
	}
	return "@TGS#2J4SZEAEL", nil
}

func (c checkingEngine) GetGroupInfo(_ context.Context, ids []string) ([]chat.GroupInfo, error) {
	c.count("GroupIdList", len(ids), 1, chat.MaxGroupInfoIDs)
	out := make([]chat.GroupInfo, len(ids))
	for i, id := range ids {
		out[i] = chat.GroupInfo{GroupID: id, Code: parley.ErrGroupNotFound}
		if i%2 == 0 {
			out[i] = chat.GroupInfo{
				GroupID: id,
				Group:   &parley.Group{ID: id, Type: parley.GroupPublic, AppDefinedData: []parley.AppDefinedItem{{Key: "k", Value: "v"}}},
				Members: []*parley.GroupMember{{GroupID: id, UserID: "alice", Role: parley.RoleOwner}},
			}
		}
	}
	return out, nil
}

func (c checkingEngine) AddGroupMembers(_ context.Context, p chat.AddMembersParams) ([]chat.MemberResult, error) {
	c.groupID(p.GroupID)
	c.count("MemberList", len(p.UserIDs), 1, parley.MaxAddMembers)
	out := make([]chat.MemberResult, len(p.UserIDs))
	for i, id := range p.UserIDs {
		out[i] = chat.MemberResult{UserID: id, Result: i % 3}
	}
	return out, nil
}

func (c checkingEngine) DeleteGroupMembers(_ context.Context, p chat.DeleteMembersParams) error {
	c.groupID(p.GroupID)
	c.count("MemberToDel_Account", len(p.UserIDs), 1, parley.MaxDeleteMembers)
	return nil
}

func (c checkingEngine) GetGroupMembers(_ context.Context, p chat.GetMembersParams) (chat.GetMembersResult, error) {
	c.groupID(p.GroupID)
	if p.Limit < 0 || p.Limit > chat.MaxGroupMembersPage || p.Offset < 0 {
		c.t.Errorf("page Limit %d Offset %d passed on", p.Limit, p.Offset)
	}
	return chat.GetMembersResult{MemberNum: 1, Members: []*parley.GroupMember{{GroupID: p.GroupID, UserID: "alice", Role: parley.RoleOwner}}}, nil
}

func (c checkingEngine) DestroyGroup(_ context.Context, id string) error {
	c.groupID(id)
	return nil
}

func (c checkingEngine) SendGroup(_ context.Context, p chat.SendGroupParams) (chat.SendGroupResult, error) {
	c.groupID(p.GroupID)
	c.id("From_Account", p.From, true)
	if len(p.Body) == 0 || p.Body[0] != '[' {
		c.t.Errorf("MsgBody %q passed on although not an array", p.Body)
	}
	c.count("To_Account", len(p.To), 0, parley.MaxTargetedRecipients)
	for _, id := range p.To {
		c.id("To_Account", id, false)
	}
	if p.AtInfo != nil && !json.Valid(p.AtInfo) {
		c.t.Errorf("GroupAtInfo %q passed on although not JSON", p.AtInfo)
	}
	if p.Origin.OptPlatform != parley.OptPlatformREST {
		c.t.Errorf("origin %+v", p.Origin)
	}
	if p.OnlineOnly {
		return chat.SendGroupResult{MsgTime: 1, MsgDropReason: "dropped"}, nil
	}
	return chat.SendGroupResult{MsgTime: 1, MsgSeq: 7}, nil
}

func (c checkingEngine) RecallGroup(_ context.Context, p chat.RecallGroupParams) ([]chat.RecallResult, error) {
	c.groupID(p.GroupID)
	c.count("MsgSeqList", len(p.MsgSeqs), 1, parley.MaxRecallSeqs)
	out := make([]chat.RecallResult, len(p.MsgSeqs))
	for i, seq := range p.MsgSeqs {
		out[i] = chat.RecallResult{MsgSeq: seq, Code: parley.ErrGroupRecallNotFound}
	}
	return out, nil
}

func (c checkingEngine) GroupHistory(_ context.Context, p chat.GroupHistoryParams) (chat.GroupHistoryResult, error) {
	c.groupID(p.GroupID)
	c.count("ReqMsgNumber", p.Number, 1, parley.MaxGetSimpleMsgs)
	return chat.GroupHistoryResult{IsFinished: chat.HistoryFinished, Messages: []*parley.GroupMessage{
		{GroupID: p.GroupID, MsgSeq: 2, From: "alice", Body: json.RawMessage(`[]`), Priority: "High", CloudCustomData: "c"},
		{GroupID: p.GroupID, MsgSeq: 1, From: "bob", Recalled: true, IsSystem: true},
	}}, nil
}

func (c checkingEngine) ref(r chat.MessageRef) {
	if r.GroupID != "" {
		c.groupID(r.GroupID)
		if r.MsgSeq == 0 {
			c.t.Errorf("group MsgSeq 0 passed on")
		}
		return
	}
	c.id("From_Account", r.From, true)
	c.id("To_Account", r.To, false)
	if r.MsgKey == "" {
		c.t.Errorf("empty MsgKey passed on")
	}
}

func (c checkingEngine) SetExtensions(_ context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error) {
	c.ref(p.Ref)
	if p.Operator != "" {
		c.t.Errorf("operator %q passed on; REST calls are the App admin's", p.Operator)
	}
	switch p.OperateType {
	case parley.ExtensionSet, parley.ExtensionDel:
		c.count("ExtensionList", len(p.KVs), 1, parley.MaxExtensionKVsPerCall)
	case parley.ExtensionClear:
		c.count("ExtensionList", len(p.KVs), 0, 0)
	default:
		c.t.Errorf("OperateType %d passed on", p.OperateType)
	}
	res := chat.SetExtensionsResult{Seq: 3}
	for i, kv := range p.KVs {
		r := chat.ExtensionResult{KV: parley.ExtensionKV{Key: kv.Key, Value: kv.Value, Seq: 3}}
		if i%2 == 1 {
			r.Code = parley.ErrExtensionConflict
		}
		res.Results = append(res.Results, r)
	}
	return res, nil
}

func (c checkingEngine) GetExtensions(_ context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error) {
	c.ref(p.Ref)
	return chat.GetExtensionsResult{Complete: p.StartSeq%2 == 0, LatestSeq: 2, KVs: []parley.ExtensionKV{{Key: "k", Value: "v", Seq: 2}}}, nil
}

var extensionCommands = []string{
	"openim_msg_ext_http_svc/set_key_values",
	"openim_msg_ext_http_svc/get_key_values",
	"openim_msg_ext_http_svc/group_set_key_values",
	"openim_msg_ext_http_svc/group_get_key_values",
}

// FuzzExtensionRequest: no body makes an extension command panic or answer
// anything but a valid envelope, and nothing malformed reaches the engine.
func FuzzExtensionRequest(f *testing.F) {
	seeds := []string{
		`{"From_Account":"alice","To_Account":"bob","MsgKey":"1_2_3","OperateType":1,"ExtensionList":[{"Key":"k1","Value":"v1","Seq":0},{"Key":"k2","Value":"v2","Seq":4}]}`,
		`{"To_Account":"bob","MsgKey":"1_2_3","OperateType":2,"ExtensionList":[{"Key":"k1","Value":"","Seq":1}]}`,
		`{"To_Account":"bob","MsgKey":"1_2_3","OperateType":3}`,
		`{"To_Account":"bob","MsgKey":"1_2_3","OperateType":3,"ExtensionList":"x"}`,
		`{"To_Account":"bob","MsgKey":"1_2_3","StartSeq":18446744073709551615}`,
		`{"GroupId":"@TGS#1YMVAB3IZ","MsgSeq":158,"OperateType":1,"ExtensionList":[{"Key":"key1","Value":"1"}]}`,
		`{"GroupId":"@TGS#1YMVAB3IZ","MsgSeq":158,"StartSeq":2}`,
		`{"GroupId":"","MsgSeq":0,"OperateType":4}`,
		`{"GroupId":"g\u0000","MsgSeq":-1,"StartSeq":1.5}`,
		`{"GroupId":5,"MsgSeq":"158","OperateType":"1","ExtensionList":{}}`,
		`{"OperateType":1,"ExtensionList":[{"Key":1,"Value":[],"Seq":-1},null,"k"]}`,
		`{"OperateType":2,"ExtensionList":[` + repeatJSON(`{"Key":"k","Value":"v"}`, 21) + `]}`,
		`{"From_Account":5,"To_Account":null,"MsgKey":{}}`,
		`{"GroupId":"@TGS#1YMVAB3IZ","MsgSeq":18446744073709551616}`,
		`[]`, ``, `null`, `{"GroupId":"g"`, "{\"GroupId\":\"\xff\",\"MsgSeq\":1}",
	}
	addEverywhere(f, seeds, len(extensionCommands))
	target := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target(t, extensionCommands[int(which)%len(extensionCommands)], body)
	})
}

var sendGroupMsgSeeds = []string{
	`{"GroupId":"@TGS#2C5SZEAEF","Random":8912345,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]}`,
	`{"GroupId":"@TGS#2C5SZEAEF","From_Account":"leckie","Random":4294967295,"MsgPriority":"Lowest","MsgBody":[],"CloudCustomData":"c","OnlineOnlyFlag":1,"SupportMessageExtension":1,"NeedReadReceipt":1,"To_Account":["bob","carol"],"TopicId":"t","GroupAtInfo":[{"GroupAtAllFlag":0,"GroupAt_Account":"bob"}],"SendMsgControl":["NoUnread","NoLastMsg"],"ForbidCallbackControl":["ForbidBeforeSendMsgCallback","ForbidAfterSendMsgCallback"],"OfflinePushInfo":{"PushFlag":0}}`,
	`{"GroupId":"@TGS#2C5SZEAEF","Random":"1","MsgBody":{}}`,
	`{"GroupId":"@TGS#2C5SZEAEF","Random":-1,"MsgPriority":"Urgent","MsgBody":[1]}`,
	`{"GroupId":"@TGS#2C5SZEAEF","Random":1,"MsgBody":[],"To_Account":["b o b"],"GroupAtInfo":[{"GroupAtAllFlag":2}]}`,
	`{"GroupId":"@TGS#2C5SZEAEF","Random":1,"MsgBody":[],"To_Account":` + quotedList("u", 51) + `}`,
	`{"GroupId":"` + strings.Repeat("g", 49) + `","Random":1e3,"MsgBody":[]}`,
	`{"GroupId":null,"From_Account":"","Random":1.0,"MsgBody":null}`,
	`[]`, ``, `null`, `{"GroupId":"g"`, "{\"GroupId\":\"\xff\"}",
}

// FuzzDecodeSendGroupMsg: no send_group_msg body makes the handler panic or
// answer anything but a valid envelope, and nothing malformed reaches the
// engine.
func FuzzDecodeSendGroupMsg(f *testing.F) {
	for _, s := range sendGroupMsgSeeds {
		f.Add([]byte(s))
	}
	target := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		target(t, "group_open_http_svc/send_group_msg", body)
	})
}

var groupCommands = []string{
	"group_open_http_svc/create_group", "group_open_http_svc/get_group_info",
	"group_open_http_svc/add_group_member", "group_open_http_svc/delete_group_member",
	"group_open_http_svc/get_group_member_info", "group_open_http_svc/destroy_group",
	"group_open_http_svc/send_group_msg", "group_open_http_svc/group_msg_recall",
	"group_open_http_svc/group_msg_get_simple",
}

// FuzzGroupRequest does the same for every group command.
func FuzzGroupRequest(f *testing.F) {
	seeds := append([]string{
		`{"Owner_Account":"leckie","Type":"Public","GroupId":"MyFirstGroup","Name":"TestGroup","Introduction":"i","Notification":"n","FaceUrl":"f","MaxMemberCount":500,"ApplyJoinOption":"FreeAccess","InviteJoinOption":"NeedPermission","AppDefinedData":[{"Key":"k","Value":"v"}],"MemberList":[{"Member_Account":"bob","Role":"Admin","AppMemberDefinedData":[{"Key":"m","Value":"1"}]}],"SupportTopic":0}`,
		`{"Type":"Work","Name":"n","Owner_Account":"","MemberList":[{"Member_Account":"b o b"}],"MaxMemberCount":-1}`,
		`{"GroupIdList":["@TGS#1NVTZEAE4","",5],"ResponseFilter":{"GroupBaseInfoFilter":["Type","Name"],"MemberInfoFilter":["Account","Role"],"AppDefinedDataFilter_Group":["k"],"AppDefinedDataFilter_GroupMember":["m"]}}`,
		`{"GroupIdList":["@TGS#1NVTZEAE4","x"],"ResponseFilter":{"MemberInfoFilter":"Role"}}`,
		`{"GroupIdList":` + quotedList("g", 51) + `}`,
		`{"GroupId":"@TGS#2J4SZEAEL","Silence":1,"MemberList":[{"Member_Account":"tommy"},{"Member_Account":"jared"}]}`,
		`{"GroupId":"@TGS#2J4SZEAEL","MemberList":[{"Member_Account":5},"tommy"]}`,
		`{"GroupId":"@TGS#2J4SZEAEL","Silence":1,"Reason":"kick","MemberToDel_Account":["tommy","jared"]}`,
		`{"GroupId":"@TGS#2J4SZEAEL","MemberToDel_Account":[]}`,
		`{"GroupId":"@TGS#1NVTZEAE4","Limit":100,"Offset":0,"MemberInfoFilter":["Role","JoinTime"],"AppDefinedDataFilter_GroupMember":["m"]}`,
		`{"GroupId":"@TGS#1NVTZEAE4","Limit":201,"Offset":-1,"MemberRoleFilter":["Owner"]}`,
		`{"GroupId":"@TGS#2J4SZEAEL"}`,
		`{"GroupId":"@TGS#2J4SZEAEL","MsgSeqList":[{"MsgSeq":100},{"MsgSeq":101}],"Reason":"r","TopicId":"t"}`,
		`{"GroupId":"@TGS#2J4SZEAEL","MsgSeqList":[{"MsgSeq":-100},{}]}`,
		`{"GroupId":"@TGS#15ERQPAER","ReqMsgSeq":7803321,"ReqMsgNumber":2,"WithRecalledMsg":1}`,
		`{"GroupId":"@TGS#15ERQPAER","ReqMsgNumber":21,"ReqMsgSeq":-1}`,
	}, sendGroupMsgSeeds...)
	addEverywhere(f, seeds, len(groupCommands))
	target := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target(t, groupCommands[int(which)%len(groupCommands)], body)
	})
}

// addEverywhere seeds every body for every one of n commands: a body
// written for one command is a malformed request for the others.
func addEverywhere(f *testing.F, bodies []string, n int) {
	for _, body := range bodies {
		for which := range n {
			f.Add(uint8(which), []byte(body))
		}
	}
}

// repeatJSON renders n copies of item, comma-separated.
func repeatJSON(item string, n int) string {
	b := make([]byte, 0, n*(len(item)+1))
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, item...)
	}
	return string(b)
}
