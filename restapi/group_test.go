package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

// scriptEngine answers the group and extension commands with what a test
// scripts, and keeps the params of the last call.
type scriptEngine struct {
	checkingEngine
	created string
	info    []chat.GroupInfo
	added   []chat.MemberResult
	members chat.GetMembersResult
	sent    chat.SendGroupResult
	recall  []chat.RecallResult
	history chat.GroupHistoryResult
	set     chat.SetExtensionsResult
	got     chat.GetExtensionsResult
	err     error // every method's error when set

	mu   sync.Mutex
	last any
}

func (s *scriptEngine) record(p any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = p
}

func (s *scriptEngine) lastParams() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *scriptEngine) CreateGroup(_ context.Context, p chat.CreateGroupParams) (string, error) {
	s.record(p)
	return s.created, s.err
}

func (s *scriptEngine) GetGroupInfo(_ context.Context, ids []string) ([]chat.GroupInfo, error) {
	s.record(ids)
	return s.info, s.err
}

func (s *scriptEngine) AddGroupMembers(_ context.Context, p chat.AddMembersParams) ([]chat.MemberResult, error) {
	s.record(p)
	return s.added, s.err
}

func (s *scriptEngine) DeleteGroupMembers(_ context.Context, p chat.DeleteMembersParams) error {
	s.record(p)
	return s.err
}

func (s *scriptEngine) GetGroupMembers(_ context.Context, p chat.GetMembersParams) (chat.GetMembersResult, error) {
	s.record(p)
	return s.members, s.err
}

func (s *scriptEngine) DestroyGroup(_ context.Context, id string) error {
	s.record(id)
	return s.err
}

func (s *scriptEngine) SendGroup(_ context.Context, p chat.SendGroupParams) (chat.SendGroupResult, error) {
	s.record(p)
	return s.sent, s.err
}

func (s *scriptEngine) RecallGroup(_ context.Context, p chat.RecallGroupParams) ([]chat.RecallResult, error) {
	s.record(p)
	return s.recall, s.err
}

func (s *scriptEngine) GroupHistory(_ context.Context, p chat.GroupHistoryParams) (chat.GroupHistoryResult, error) {
	s.record(p)
	return s.history, s.err
}

func (s *scriptEngine) SetExtensions(_ context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error) {
	s.record(p)
	return s.set, s.err
}

func (s *scriptEngine) GetExtensions(_ context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error) {
	s.record(p)
	return s.got, s.err
}

// callRaw posts body to resource on a handler over eng, from 192.0.2.7,
// and returns the raw answer.
func callRaw(t testing.TB, eng restapi.Engine, resource, body string) []byte {
	t.Helper()
	now := time.Unix(1_750_000_000, 0)
	h, err := restapi.New(restapi.Config{Engine: eng, SDKAppID: appID, SecretKey: secret, Admin: admin, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 3600, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"sdkappid": {fmt.Sprint(appID)}, "identifier": {admin}, "usersig": {sig}, "contenttype": {"json"}}.Encode()
	req := httptest.NewRequest(http.MethodPost, "/v4/"+resource+"?"+q, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:4321"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d", resource, rec.Code)
	}
	return rec.Body.Bytes()
}

// golden returns restapi/testdata/answers/name.json compacted: the bytes
// an answer must be.
func golden(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "answers", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	return buf.String()
}

// tencentGroups is the world of Tencent's get_group_info and
// get_group_member_info samples, with a failed id of each kind and a
// group that has nothing set.
func tencentGroups() []chat.GroupInfo {
	members := []*parley.GroupMember{
		{
			GroupID: "@TGS#2J4SZEAEL", UserID: "leckie", Role: parley.RoleOwner, JoinTime: 1425976500,
			ReadMsgSeq: 1233, MsgFlag: parley.MsgFlagAcceptAndNotify, LastSendMsgTime: 1425976500, ShutUpUntil: 1431069882,
			AppMemberDefinedData: []parley.AppDefinedItem{{Key: "MemberDefined1", Value: "ModifyDefined1"}, {Key: "MemberDefined2", Value: "ModifyDefined2"}},
		},
		{
			GroupID: "@TGS#2J4SZEAEL", UserID: "peter", Role: parley.RoleMember, JoinTime: 1425976500,
			ReadMsgSeq: 1233, MsgFlag: parley.MsgFlagAcceptAndNotify, LastSendMsgTime: 1425976500, NameCard: `Pete <the> "great"`,
		},
	}
	return []chat.GroupInfo{
		{
			GroupID: "@TGS#2J4SZEAEL",
			Group: &parley.Group{
				ID: "@TGS#2J4SZEAEL", Type: parley.GroupPublic, Owner: "leckie", Name: "MyFirstGroup",
				Introduction: "TestGroup", Notification: "TestGroup", FaceURL: "http://this.is.face.url",
				MaxMemberCount: 50, ApplyJoinOption: "FreeAccess", InviteJoinOption: "NeedPermission",
				AppDefinedData: []parley.AppDefinedItem{{Key: "GroupTestData1", Value: "xxxx"}, {Key: "GroupTestData2", Value: "abc\x00\x01"}},
				ShutUpAll:      true, CreateTime: 1426976500, LastInfoTime: 1426976500, LastMsgTime: 1426976600,
				NextMsgSeq: 1234, MemberCount: 2,
			},
			Members: members,
		},
		{GroupID: "@TGS#2C5SZEAEF", Code: parley.ErrGroupNotFound},
		{GroupID: "", Code: parley.ErrGroupIDInvalid, Info: "GroupId is empty"},
		{
			GroupID: "Quiet",
			Group: &parley.Group{
				ID: "Quiet", Type: parley.GroupAVChatRoom, Name: "Quiet", ApplyJoinOption: "FreeAccess",
				CreateTime: 1426976500, LastInfoTime: 1426976500, NextMsgSeq: 1,
			},
		},
	}
}

// goldenScript answers with Tencent's samples.
func goldenScript() *scriptEngine {
	groups := tencentGroups()
	return &scriptEngine{
		created: "@TGS#2J4SZEAEL",
		info:    groups,
		added: []chat.MemberResult{
			{UserID: "tommy", Result: chat.MemberAdded}, {UserID: "jared", Result: chat.MemberWasMember}, {UserID: "ghost", Result: chat.MemberAddFailed},
		},
		members: chat.GetMembersResult{MemberNum: 2, Members: groups[0].Members},
		sent:    chat.SendGroupResult{MsgTime: 1497249503, MsgSeq: 1},
		recall:  []chat.RecallResult{{MsgSeq: 100, Code: parley.ErrGroupRecallNotFound}, {MsgSeq: 101}},
		history: chat.GroupHistoryResult{IsFinished: chat.HistoryFinished, Messages: []*parley.GroupMessage{
			{
				GroupID: "@TGS#15ERQPAER", MsgSeq: 7803321, From: "144115197276518801", Random: 51083293, MsgTime: 1458721802,
				Body:            json.RawMessage(`[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"\b\u0001\u0010\u0006\u001a\u0006猫瞳","Desc":"MIF","Ext":""}},{"MsgType":"TIMFaceElem","MsgContent":{"Index":15,"Data":""}}]`),
				CloudCustomData: "<your cloud custom data>", Priority: "Normal",
			},
			{
				GroupID: "@TGS#15ERQPAER", MsgSeq: 7803320, From: "144115198339527735", Random: 235168582, MsgTime: 1458721797,
				Body: json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"gone"}}]`), CloudCustomData: "gone too",
				Priority: "High", Recalled: true,
			},
			{
				GroupID: "@TGS#15ERQPAER", MsgSeq: 7803319, From: admin, Random: 4294967295, MsgTime: 1458721790,
				Body: json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"报上来"}}]`), Priority: "Lowest", IsSystem: true,
			},
		}},
		set: chat.SetExtensionsResult{Seq: 3, Results: []chat.ExtensionResult{
			{KV: parley.ExtensionKV{Key: "k1", Value: "v1", Seq: 3}},
			{Code: parley.ErrExtensionConflict, KV: parley.ExtensionKV{Key: "k2", Value: "someone else's", Seq: 2}},
			{KV: parley.ExtensionKV{Key: "k3", Value: "v3", Seq: 3}},
		}},
		got: chat.GetExtensionsResult{Complete: true, LatestSeq: 2, KVs: []parley.ExtensionKV{
			{Key: "k1", Value: "v1", Seq: 1}, {Key: "k2", Value: "v2", Seq: 1}, {Key: "k3", Value: "v3", Seq: 2},
		}},
	}
}

// TestGroupAnswersMatchGolden holds every group and extension answer shape
// to its golden file byte for byte: Tencent's keys, in Tencent's order,
// with Tencent's JSON types.
func TestGroupAnswersMatchGolden(t *testing.T) {
	script := goldenScript()
	dropped := goldenScript()
	dropped.sent = chat.SendGroupResult{MsgTime: 1497249503, MsgDropReason: "dropped by the before-send callback"}
	cleared := goldenScript()
	cleared.set = chat.SetExtensionsResult{Seq: 4}
	empty := goldenScript()
	empty.got = chat.GetExtensionsResult{LatestSeq: 1<<64 - 1, ClearSeq: 1<<64 - 1}

	ids := `"GroupIdList":["@TGS#2J4SZEAEL","@TGS#2C5SZEAEF","","Quiet"]`
	tests := []struct {
		name, resource, body string
		eng                  restapi.Engine
	}{
		{"create_group", groupSvc + "/create_group", `{"Type":"Public","Name":"MyFirstGroup"}`, script},
		{"get_group_info", groupSvc + "/get_group_info", `{` + ids + `}`, script},
		{"get_group_info_filtered", groupSvc + "/get_group_info", `{` + ids + `,"ResponseFilter":{
			"GroupBaseInfoFilter":["Type","Name","Introduction","Notification"],
			"MemberInfoFilter":["Account","Role"],
			"AppDefinedDataFilter_Group":["GroupTestData1"],
			"AppDefinedDataFilter_GroupMember":["MemberDefined2"]}}`, script},
		{"get_group_info_base_only", groupSvc + "/get_group_info", `{` + ids + `,"ResponseFilter":{
			"GroupBaseInfoFilter":["Owner_Account","LastMsgTime","NextMsgSeq","MemberNum","ShutUpAllMember","AppDefinedData","NoSuchField"]}}`, script},
		{"get_group_member_info", groupSvc + "/get_group_member_info", `{"GroupId":"@TGS#2J4SZEAEL"}`, script},
		{"get_group_member_info_filtered", groupSvc + "/get_group_member_info", `{"GroupId":"@TGS#2J4SZEAEL","MemberInfoFilter":["JoinTime","ShutUpUntil"]}`, script},
		{"add_group_member", groupSvc + "/add_group_member", `{"GroupId":"g","MemberList":[{"Member_Account":"tommy"},{"Member_Account":"jared"},{"Member_Account":"ghost"}]}`, script},
		{"envelope", groupSvc + "/delete_group_member", `{"GroupId":"g","MemberToDel_Account":["tommy"]}`, script},
		{"envelope", groupSvc + "/destroy_group", `{"GroupId":"g"}`, script},
		{"send_group_msg", groupSvc + "/send_group_msg", `{"GroupId":"g","Random":1,"MsgBody":[]}`, script},
		{"send_group_msg_dropped", groupSvc + "/send_group_msg", `{"GroupId":"g","Random":1,"MsgBody":[]}`, dropped},
		{"group_msg_recall", groupSvc + "/group_msg_recall", `{"GroupId":"g","MsgSeqList":[{"MsgSeq":100},{"MsgSeq":101}]}`, script},
		{"group_msg_get_simple", groupSvc + "/group_msg_get_simple", `{"GroupId":"@TGS#15ERQPAER","ReqMsgNumber":3,"WithRecalledMsg":1}`, script},
		{"set_key_values", extSvc + "/set_key_values", `{"To_Account":"bob","MsgKey":"1_2_3","OperateType":1,"ExtensionList":[{"Key":"k1","Value":"v1"},{"Key":"k2","Value":"v2"},{"Key":"k3","Value":"v3"}]}`, script},
		{"set_key_values", extSvc + "/group_set_key_values", `{"GroupId":"g","MsgSeq":1,"OperateType":1,"ExtensionList":[{"Key":"k1","Value":"v1"},{"Key":"k2","Value":"v2"},{"Key":"k3","Value":"v3"}]}`, script},
		{"set_key_values_clear", extSvc + "/set_key_values", `{"To_Account":"bob","MsgKey":"1_2_3","OperateType":3}`, cleared},
		{"set_key_values_clear", extSvc + "/group_set_key_values", `{"GroupId":"g","MsgSeq":1,"OperateType":3}`, cleared},
		{"get_key_values", extSvc + "/get_key_values", `{"To_Account":"bob","MsgKey":"1_2_3"}`, script},
		{"get_key_values", extSvc + "/group_get_key_values", `{"GroupId":"g","MsgSeq":1}`, script},
		{"get_key_values_empty", extSvc + "/group_get_key_values", `{"GroupId":"g","MsgSeq":1,"StartSeq":5}`, empty},
	}
	for _, tc := range tests {
		t.Run(tc.resource+"/"+tc.name, func(t *testing.T) {
			got := string(callRaw(t, tc.eng, tc.resource, tc.body))
			if want := golden(t, tc.name); got != want {
				t.Errorf("answer\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestGroupEngineErrorsAreAnswered: a refusal from the engine is the
// whole answer, code and text, with none of the command's fields.
func TestGroupEngineErrorsAreAnswered(t *testing.T) {
	refusal := parley.Errorf(10150, "blocked <by> the \"callback\"")
	eng := &scriptEngine{err: refusal, sent: chat.SendGroupResult{MsgTime: 1, MsgSeq: 1}, info: tencentGroups()}
	want := fmt.Sprintf(`{"ActionStatus":"FAIL","ErrorInfo":%s,"ErrorCode":10150}`, encodeNoHTML(t, refusal.Info))
	for _, tc := range []struct{ resource, body string }{
		{"group_open_http_svc/create_group", `{"Type":"Public","Name":"n"}`},
		{"group_open_http_svc/get_group_info", `{"GroupIdList":["g"]}`},
		{"group_open_http_svc/add_group_member", `{"GroupId":"g","MemberList":[{"Member_Account":"a"}]}`},
		{"group_open_http_svc/delete_group_member", `{"GroupId":"g","MemberToDel_Account":["a"]}`},
		{"group_open_http_svc/get_group_member_info", `{"GroupId":"g"}`},
		{"group_open_http_svc/destroy_group", `{"GroupId":"g"}`},
		{"group_open_http_svc/send_group_msg", `{"GroupId":"g","Random":1,"MsgBody":[]}`},
		{"group_open_http_svc/group_msg_recall", `{"GroupId":"g","MsgSeqList":[{"MsgSeq":1}]}`},
		{"group_open_http_svc/group_msg_get_simple", `{"GroupId":"g","ReqMsgNumber":1}`},
		{"openim_msg_ext_http_svc/set_key_values", `{"To_Account":"bob","MsgKey":"k","OperateType":1,"ExtensionList":[{"Key":"a","Value":"b"}]}`},
		{"openim_msg_ext_http_svc/get_key_values", `{"To_Account":"bob","MsgKey":"k"}`},
		{"openim_msg_ext_http_svc/group_set_key_values", `{"GroupId":"g","MsgSeq":1,"OperateType":3}`},
		{"openim_msg_ext_http_svc/group_get_key_values", `{"GroupId":"g","MsgSeq":1}`},
	} {
		if got := string(callRaw(t, eng, tc.resource, tc.body)); got != want {
			t.Errorf("%s: answer\n got %s\nwant %s", tc.resource, got, want)
		}
	}
}

// TestGroupRequestsReachEngine: every field of a well-formed request
// reaches the engine as sent.
func TestGroupRequestsReachEngine(t *testing.T) {
	tests := []struct {
		resource, body string
		want           any
	}{
		{groupSvc + "/create_group", `{
			"Owner_Account":"leckie","Type":"Work","GroupId":"MyFirstGroup","Name":"TestGroup",
			"Introduction":"intro","Notification":"note","FaceUrl":"http://this.is.face.url","MaxMemberCount":500,
			"ApplyJoinOption":"FreeAccess","InviteJoinOption":"DisableInvite","SupportTopic":1,
			"AppDefinedData":[{"Key":"GroupTestData1","Value":"xxxxx"},{"Key":"GroupTestData2","Value":""}],
			"MemberList":[{"Member_Account":"bob","Role":"Admin","AppMemberDefinedData":[{"Key":"MemberDefined1","Value":"1"}]},{"Member_Account":"peter"}]}`,
			chat.CreateGroupParams{
				Owner: "leckie", Type: "Work", GroupID: "MyFirstGroup", Name: "TestGroup",
				Introduction: "intro", Notification: "note", FaceURL: "http://this.is.face.url", MaxMemberCount: 500,
				ApplyJoinOption: "FreeAccess", InviteJoinOption: "DisableInvite", SupportTopic: true,
				AppDefinedData: []parley.AppDefinedItem{{Key: "GroupTestData1", Value: "xxxxx"}, {Key: "GroupTestData2"}},
				Members: []chat.MemberSpec{
					{UserID: "bob", Role: "Admin", AppMemberDefinedData: []parley.AppDefinedItem{{Key: "MemberDefined1", Value: "1"}}},
					{UserID: "peter"},
				},
			}},
		{groupSvc + "/create_group", `{"Type":"Community","Name":"c","Owner_Account":"","GroupId":""}`,
			chat.CreateGroupParams{Type: "Community", Name: "c"}},
		{groupSvc + "/get_group_info", `{"GroupIdList":["@TGS#1NVTZEAE4","","@TGS#1NVTZEAE4"]}`,
			[]string{"@TGS#1NVTZEAE4", "", "@TGS#1NVTZEAE4"}},
		{groupSvc + "/add_group_member", `{"GroupId":"@TGS#2J4SZEAEL","Silence":1,"MemberList":[{"Member_Account":"tommy"},{"Member_Account":"b o b"}]}`,
			chat.AddMembersParams{GroupID: "@TGS#2J4SZEAEL", UserIDs: []string{"tommy", "b o b"}, Silence: true}},
		{groupSvc + "/delete_group_member", `{"GroupId":"@TGS#2J4SZEAEL","Silence":1,"Reason":"kick reason","MemberToDel_Account":["tommy","jared"]}`,
			chat.DeleteMembersParams{GroupID: "@TGS#2J4SZEAEL", UserIDs: []string{"tommy", "jared"}, Silence: true, Reason: "kick reason"}},
		{groupSvc + "/get_group_member_info", `{"GroupId":"@TGS#1NVTZEAE4","Limit":200,"Offset":5}`,
			chat.GetMembersParams{GroupID: "@TGS#1NVTZEAE4", Limit: 200, Offset: 5}},
		{groupSvc + "/get_group_member_info", `{"GroupId":"@TGS#1NVTZEAE4","MemberRoleFilter":[]}`,
			chat.GetMembersParams{GroupID: "@TGS#1NVTZEAE4"}},
		{groupSvc + "/destroy_group", `{"GroupId":" spaced id "}`, " spaced id "},
		{groupSvc + "/send_group_msg", `{
			"GroupId":"@TGS#2C5SZEAEF","From_Account":"leckie","Random":4294967295,"MsgPriority":"Low",
			"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data",
			"OnlineOnlyFlag":1,"SupportMessageExtension":1,"NeedReadReceipt":1,"To_Account":["bob","peter"],"TopicId":"topic",
			"GroupAtInfo":[{"GroupAtAllFlag":0,"GroupAt_Account":"bob"}],"SendMsgControl":["NoUnread","NoLastMsg"],
			"ForbidCallbackControl":["ForbidBeforeSendMsgCallback","ForbidAfterSendMsgCallback"],
			"OfflinePushInfo":{"PushFlag":0,"Desc":"push"},"SomethingNew":true}`,
			chat.SendGroupParams{
				GroupID: "@TGS#2C5SZEAEF", From: "leckie", Random: 4294967295, Priority: "Low",
				Body:            json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]`),
				CloudCustomData: "your cloud custom data", OnlineOnly: true, SupportExtension: true, NeedReadReceipt: true,
				To: []string{"bob", "peter"}, TopicID: "topic", AtInfo: json.RawMessage(`[{"GroupAtAllFlag":0,"GroupAt_Account":"bob"}]`),
				NoUnread: true, NoLastMsg: true, ForbidBeforeCallback: true, ForbidAfterCallback: true,
				Origin: parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST},
			}},
		{groupSvc + "/send_group_msg", `{"GroupId":"g","Random":0,"MsgBody":[],"From_Account":""}`,
			chat.SendGroupParams{GroupID: "g", Body: json.RawMessage(`[]`), Origin: parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST}}},
		{groupSvc + "/group_msg_recall", `{"GroupId":"g","MsgSeqList":[{"MsgSeq":100},{"MsgSeq":18446744073709551615}],"Reason":"spam","TopicId":"t"}`,
			chat.RecallGroupParams{GroupID: "g", MsgSeqs: []uint64{100, 1<<64 - 1}, Reason: "spam", TopicID: "t", Origin: parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST}}},
		{groupSvc + "/group_msg_get_simple", `{"GroupId":"@TGS#15ERQPAER","ReqMsgSeq":7803321,"ReqMsgNumber":20,"WithRecalledMsg":1}`,
			chat.GroupHistoryParams{GroupID: "@TGS#15ERQPAER", MaxSeq: 7803321, Number: 20, WithRecalled: true}},
		{groupSvc + "/group_msg_get_simple", `{"GroupId":"@TGS#15ERQPAER","ReqMsgNumber":1}`,
			chat.GroupHistoryParams{GroupID: "@TGS#15ERQPAER", Number: 1}},
	}
	for _, tc := range tests {
		eng := &scriptEngine{info: tencentGroups()}
		a, err := parseAnswer(callRaw(t, eng, tc.resource, tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.resource, err)
		}
		a.ok(t)
		if got := eng.lastParams(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s: engine got\n%#v\nwant\n%#v", tc.resource, tc.body, got, tc.want)
		}
	}
}

// The tests below run the real engine on SQLite over HTTP.

const (
	groupSvc = "group_open_http_svc"
	extSvc   = "openim_msg_ext_http_svc"
)

// createGroup creates a group and returns its GroupId.
func (e *env) createGroup(t testing.TB, body map[string]any) string {
	t.Helper()
	a := e.post(t, groupSvc, "create_group", body).ok(t)
	if got := a.Keys; !reflect.DeepEqual(got, []string{"GroupId"}) {
		t.Fatalf("create_group answer fields %v, want [GroupId]", got)
	}
	return str(t, a.Fields["GroupId"])
}

// sendGroupText sends a text to a group from from ("" for the App admin).
func (e *env) sendGroupText(t testing.TB, groupID, from string, random uint32, text string, extra ...any) answer {
	t.Helper()
	body := map[string]any{"GroupId": groupID, "Random": random, "MsgBody": textBody(text)}
	if from != "" {
		body["From_Account"] = from
	}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	return e.post(t, groupSvc, "send_group_msg", body)
}

func textBody(s string) []any { return text(s) }

// groupItems returns get_group_info's GroupInfo for ids.
func (e *env) groupItems(t testing.TB, body map[string]any) []map[string]any {
	t.Helper()
	a := e.post(t, groupSvc, "get_group_info", body).ok(t)
	if !reflect.DeepEqual(a.Keys, []string{"GroupInfo"}) {
		t.Fatalf("get_group_info answer fields %v", a.Keys)
	}
	return list(t, a.Fields["GroupInfo"])
}

// keysOf returns the keys of the JSON object raw, in order.
func keysOf(t testing.TB, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s is not an object", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// rawItems returns the raw elements of the array field name of a's answer.
func rawItems(t testing.TB, a answer, name string) []json.RawMessage {
	t.Helper()
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(a.Raw, &whole); err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(whole[name], &items); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return items
}

var baseGroupKeys = []string{
	"GroupId", "ErrorCode", "ErrorInfo", "Type", "Name", "Appid", "Introduction", "Notification", "FaceUrl",
	"Owner_Account", "CreateTime", "LastInfoTime", "LastMsgTime", "NextMsgSeq", "MemberNum", "MaxMemberNum",
	"ApplyJoinOption", "ShutUpAllMember", "AppDefinedData", "MemberList",
}

var memberKeys = []string{
	"Member_Account", "Role", "JoinTime", "MsgSeq", "MsgFlag", "LastSendMsgTime", "ShutUpUntil", "NameCard", "AppMemberDefinedData",
}

func TestCreateGroupAndGetInfo(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol")
	now := e.clock.Now().Unix()

	id := e.createGroup(t, map[string]any{
		"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "The team",
		"Introduction": "intro", "Notification": "note", "FaceUrl": "http://face", "MaxMemberCount": 500,
		"ApplyJoinOption": "FreeAccess",
		"AppDefinedData":  []map[string]any{{"Key": "GroupTestData1", "Value": "xxxx"}},
		"MemberList": []map[string]any{
			{"Member_Account": "bob", "Role": "Admin", "AppMemberDefinedData": []map[string]any{{"Key": "MemberDefined1", "Value": "1"}}},
			{"Member_Account": "carol"},
		},
	})
	if id != "team" {
		t.Fatalf("GroupId = %q, want the custom team", id)
	}
	generated := e.createGroup(t, map[string]any{"Type": "Work", "Name": "work"})
	if !strings.HasPrefix(generated, "@TGS#1") || len(generated) != len("@TGS#1")+8 {
		t.Errorf("generated GroupId %q, want @TGS#1 and 8 characters", generated)
	}

	a := e.post(t, groupSvc, "get_group_info", map[string]any{"GroupIdList": []string{"team", "@TGS#1NOSUCH00", "bad\x01id", generated}}).ok(t)
	items := list(t, a.Fields["GroupInfo"])
	raw := rawItems(t, a, "GroupInfo")
	if len(items) != 4 {
		t.Fatalf("%d items, want one per GroupId: %s", len(items), a.Raw)
	}
	if got := keysOf(t, raw[0]); !reflect.DeepEqual(got, baseGroupKeys) {
		t.Errorf("group keys\n got %v\nwant %v", got, baseGroupKeys)
	}
	team := items[0]
	for name, want := range map[string]any{
		"GroupId": "team", "Type": "Public", "Name": "The team", "Introduction": "intro", "Notification": "note",
		"FaceUrl": "http://face", "Owner_Account": "alice", "ApplyJoinOption": "FreeAccess", "ShutUpAllMember": "Off",
	} {
		if got := str(t, team[name]); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]int64{
		"ErrorCode": 0, "Appid": appID, "CreateTime": now, "LastInfoTime": now, "LastMsgTime": 0,
		"NextMsgSeq": 1, "MemberNum": 3, "MaxMemberNum": 500,
	} {
		if got := num(t, team[name]); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := compactJSON(t, team["AppDefinedData"]); got != `[{"Key":"GroupTestData1","Value":"xxxx"}]` {
		t.Errorf("AppDefinedData = %s", got)
	}
	members := list(t, team["MemberList"])
	var roles []string
	for _, m := range members {
		roles = append(roles, str(t, m["Member_Account"])+":"+str(t, m["Role"]))
		if num(t, m["JoinTime"]) != now || str(t, m["MsgFlag"]) != parley.MsgFlagAcceptAndNotify || num(t, m["ShutUpUntil"]) != 0 {
			t.Errorf("member %v", m)
		}
	}
	if want := []string{"alice:Owner", "bob:Admin", "carol:Member"}; !reflect.DeepEqual(roles, want) {
		t.Errorf("members %v, want %v", roles, want)
	}
	if got := keysOf(t, rawItems(t, answer{Raw: raw[0]}, "MemberList")[1]); !reflect.DeepEqual(got, memberKeys) {
		t.Errorf("member keys\n got %v\nwant %v", got, memberKeys)
	}
	if got := compactJSON(t, members[1]["AppMemberDefinedData"]); got != `[{"Key":"MemberDefined1","Value":"1"}]` {
		t.Errorf("bob's AppMemberDefinedData = %s", got)
	}
	for i, want := range []int{0, parley.ErrGroupNotFound, parley.ErrGroupIDInvalid, 0} {
		if got := num(t, items[i]["ErrorCode"]); got != int64(want) {
			t.Errorf("item %d ErrorCode = %d, want %d", i, got, want)
		}
		if want != 0 {
			if got := keysOf(t, raw[i]); !reflect.DeepEqual(got, []string{"GroupId", "ErrorCode", "ErrorInfo"}) || str(t, items[i]["ErrorInfo"]) == "" {
				t.Errorf("failed item %s", raw[i])
			}
		}
	}
	if str(t, items[3]["Type"]) != parley.GroupPrivate || str(t, items[3]["Owner_Account"]) != "" || num(t, items[3]["MemberNum"]) != 0 {
		t.Errorf("ownerless Work group: %v", items[3])
	}

	// A ResponseFilter answers what it names and nothing else.
	filtered := e.post(t, groupSvc, "get_group_info", map[string]any{
		"GroupIdList": []string{"team"},
		"ResponseFilter": map[string]any{
			"GroupBaseInfoFilter": []string{"Name", "MemberNum"},
			"MemberInfoFilter":    []string{"Role"},
		},
	}).ok(t)
	item := rawItems(t, filtered, "GroupInfo")[0]
	if got, want := keysOf(t, item), []string{"GroupId", "ErrorCode", "ErrorInfo", "Name", "MemberNum", "MemberList"}; !reflect.DeepEqual(got, want) {
		t.Errorf("filtered keys %v, want %v", got, want)
	}
	if got := keysOf(t, rawItems(t, answer{Raw: item}, "MemberList")[0]); !reflect.DeepEqual(got, []string{"Member_Account", "Role"}) {
		t.Errorf("filtered member keys %v", got)
	}

	// The id is taken: 10025 when the same owner asks again, else 10021.
	e.post(t, groupSvc, "create_group", map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "again"}).wantCode(t, parley.ErrGroupIDTakenByOwner)
	e.post(t, groupSvc, "create_group", map[string]any{"Owner_Account": "bob", "Type": "Public", "GroupId": "team", "Name": "again"}).wantCode(t, parley.ErrGroupIDTaken)
}

// rawField returns the answer's field name as sent, compacted: key order
// and all.
func rawField(t testing.TB, a answer, name string) string {
	t.Helper()
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(a.Raw, &whole); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, whole[name]); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return buf.String()
}

// compactJSON encodes v, a decoded value, again: for comparing values
// whose key order does not matter.
func compactJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// memberIDs returns the Member_Account of each item of a MemberList.
func memberIDs(t testing.TB, v any) []string {
	t.Helper()
	var ids []string
	for _, m := range list(t, v) {
		ids = append(ids, str(t, m["Member_Account"]))
	}
	return ids
}

func TestGroupMembers(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "carol", "dave")
	id := e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "team",
		"MemberList": []map[string]any{{"Member_Account": "bob"}}})

	added := e.post(t, groupSvc, "add_group_member", map[string]any{
		"GroupId": id, "Silence": 1,
		"MemberList": []map[string]any{{"Member_Account": "carol"}, {"Member_Account": "bob"}, {"Member_Account": "ghost"}, {"Member_Account": "b o b"}},
	}).ok(t)
	if got := rawField(t, added, "MemberList"); got != `[{"Member_Account":"carol","Result":1},{"Member_Account":"bob","Result":2},{"Member_Account":"ghost","Result":0},{"Member_Account":"b o b","Result":0}]` {
		t.Errorf("add_group_member MemberList = %s", got)
	}

	page := func(limit, offset int) (int64, []string) {
		a := e.post(t, groupSvc, "get_group_member_info", map[string]any{"GroupId": id, "Limit": limit, "Offset": offset}).ok(t)
		if !reflect.DeepEqual(a.Keys, []string{"MemberNum", "MemberList"}) {
			t.Fatalf("get_group_member_info fields %v", a.Keys)
		}
		return num(t, a.Fields["MemberNum"]), memberIDs(t, a.Fields["MemberList"])
	}
	for _, tc := range []struct {
		limit, offset int
		want          []string
	}{
		{0, 0, []string{"alice", "bob", "carol"}},
		{2, 0, []string{"alice", "bob"}},
		{2, 2, []string{"carol"}},
		{200, 3, nil},
	} {
		n, ids := page(tc.limit, tc.offset)
		if n != 3 || !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("Limit %d Offset %d: MemberNum %d, members %v; want 3, %v", tc.limit, tc.offset, n, ids, tc.want)
		}
	}

	e.post(t, groupSvc, "delete_group_member", map[string]any{"GroupId": id, "MemberToDel_Account": []string{"carol", "dave"}, "Reason": "bye"}).ok(t)
	if n, ids := page(0, 0); n != 2 || !reflect.DeepEqual(ids, []string{"alice", "bob"}) {
		t.Errorf("after delete: MemberNum %d, members %v", n, ids)
	}
	e.post(t, groupSvc, "delete_group_member", map[string]any{"GroupId": id, "MemberToDel_Account": []string{"bob", "alice"}}).wantCode(t, parley.ErrGroupNotPermitted)
	if n, _ := page(0, 0); n != 2 {
		t.Errorf("a refused delete removed members: MemberNum %d", n)
	}

	live := e.createGroup(t, map[string]any{"Type": "AVChatRoom", "Name": "live"})
	e.post(t, groupSvc, "add_group_member", map[string]any{"GroupId": live, "MemberList": []map[string]any{{"Member_Account": "bob"}}}).wantCode(t, parley.ErrGroupNotPermitted)
	e.post(t, groupSvc, "delete_group_member", map[string]any{"GroupId": live, "MemberToDel_Account": []string{"bob"}}).wantCode(t, parley.ErrGroupNotPermitted)
	e.post(t, groupSvc, "get_group_member_info", map[string]any{"GroupId": live}).wantCode(t, parley.ErrGroupNotPermitted)
}

// historySeqs reads group_msg_get_simple: the MsgSeqs, IsPlaceMsg of each,
// and IsFinished.
func (e *env) historySeqs(t testing.TB, body map[string]any) (seqs, places []int64, finished int64, msgs []map[string]any) {
	t.Helper()
	a := e.post(t, groupSvc, "group_msg_get_simple", body).ok(t)
	if !reflect.DeepEqual(a.Keys, []string{"GroupId", "IsFinished", "RspMsgList"}) {
		t.Fatalf("group_msg_get_simple fields %v", a.Keys)
	}
	msgs = list(t, a.Fields["RspMsgList"])
	for _, m := range msgs {
		seqs = append(seqs, num(t, m["MsgSeq"]))
		places = append(places, num(t, m["IsPlaceMsg"]))
	}
	return seqs, places, num(t, a.Fields["IsFinished"]), msgs
}

func TestSendGroupMsgHistoryAndRecall(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob", "dave")
	id := e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "team",
		"MemberList": []map[string]any{{"Member_Account": "bob"}}})
	t0 := e.clock.Now().Unix()

	first := e.sendGroupText(t, id, "bob", 1, "one", "CloudCustomData", "meta", "MsgPriority", "High").ok(t)
	if !reflect.DeepEqual(first.Keys, []string{"MsgTime", "MsgSeq"}) || num(t, first.Fields["MsgSeq"]) != 1 || num(t, first.Fields["MsgTime"]) != t0 {
		t.Fatalf("first send answer %s", first.Raw)
	}
	e.clock.Set(time.Unix(t0+5, 0))
	if a := e.sendGroupText(t, id, "", 2, "from the admin").ok(t); num(t, a.Fields["MsgSeq"]) != 2 {
		t.Errorf("admin send answer %s", a.Raw)
	}
	// The same sender, Random and content within 5 minutes is the same
	// message: the original's answer, nothing stored.
	if dup := e.sendGroupText(t, id, "bob", 1, "one", "CloudCustomData", "meta", "MsgPriority", "High").ok(t); num(t, dup.Fields["MsgSeq"]) != 1 || num(t, dup.Fields["MsgTime"]) != t0 {
		t.Errorf("duplicate answer %s, want the original's", dup.Raw)
	}
	if a := e.sendGroupText(t, id, "bob", 3, "whisper", "OnlineOnlyFlag", 1).ok(t); num(t, a.Fields["MsgSeq"]) != 0 {
		t.Errorf("online-only answer %s, want MsgSeq 0", a.Raw)
	}
	e.sendGroupText(t, id, "dave", 4, "let me in").wantCode(t, parley.ErrGroupNotPermitted)
	e.sendGroupText(t, id, "ghost", 5, "boo").wantCode(t, parley.ErrGroupUserNotExist)
	e.sendGroupText(t, id, "bob", 6, "hi", "To_Account", []string{"dave"}).wantCode(t, parley.ErrGroupInvalidParam)

	seqs, places, finished, msgs := e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 20})
	if !reflect.DeepEqual(seqs, []int64{2, 1}) || !reflect.DeepEqual(places, []int64{0, 0}) || finished != 1 {
		t.Fatalf("history seqs %v places %v finished %d", seqs, places, finished)
	}
	m := msgs[1]
	if str(t, m["From_Account"]) != "bob" || num(t, m["MsgRandom"]) != 1 || num(t, m["MsgTimeStamp"]) != t0 ||
		num(t, m["MsgPriority"]) != 0 || num(t, m["IsSystemMsg"]) != 0 || str(t, m["CloudCustomData"]) != "meta" ||
		compactJSON(t, m["MsgBody"]) != compactJSON(t, textBody("one")) {
		t.Errorf("history message %v", m)
	}
	if seqs, _, finished, _ := e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 1}); !reflect.DeepEqual(seqs, []int64{2}) || finished != 0 {
		t.Errorf("first page of 1: seqs %v finished %d, want [2] and 0", seqs, finished)
	}
	if seqs, _, finished, _ := e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 1, "ReqMsgSeq": 1}); !reflect.DeepEqual(seqs, []int64{1}) || finished != 1 {
		t.Errorf("page from seq 1: seqs %v finished %d, want [1] and 1", seqs, finished)
	}

	recall := e.post(t, groupSvc, "group_msg_recall", map[string]any{"GroupId": id, "MsgSeqList": []map[string]any{{"MsgSeq": 1}, {"MsgSeq": 9}}}).ok(t)
	if got := rawField(t, recall, "RecallRetList"); got != `[{"MsgSeq":1,"RetCode":0},{"MsgSeq":9,"RetCode":10030}]` {
		t.Errorf("RecallRetList = %s", got)
	}
	again := e.post(t, groupSvc, "group_msg_recall", map[string]any{"GroupId": id, "MsgSeqList": []map[string]any{{"MsgSeq": 1}}}).ok(t)
	if got := rawField(t, again, "RecallRetList"); got != `[{"MsgSeq":1,"RetCode":10032}]` {
		t.Errorf("second RecallRetList = %s", got)
	}
	if seqs, _, _, _ := e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 20}); !reflect.DeepEqual(seqs, []int64{2}) {
		t.Errorf("history without recalled: %v, want [2]", seqs)
	}
	seqs, places, _, msgs = e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 20, "WithRecalledMsg": 1})
	if !reflect.DeepEqual(seqs, []int64{2, 1}) || !reflect.DeepEqual(places, []int64{0, 2}) || compactJSON(t, msgs[1]["MsgBody"]) != `[]` {
		t.Errorf("history with recalled: seqs %v places %v, recalled %v", seqs, places, msgs[1])
	}
	if _, ok := msgs[1]["CloudCustomData"]; ok {
		t.Errorf("a recalled message keeps its CloudCustomData: %v", msgs[1])
	}

	// Two stored messages and the online-only one ran the after-send
	// callback; one recall recalled something.
	if got := len(e.events(t, parley.CommandGroupAfterSendMsg)); got != 3 {
		t.Errorf("%d Group.CallbackAfterSendMsg events, want 3", got)
	}
	if got := len(e.events(t, parley.CommandGroupAfterRecall)); got != 1 {
		t.Errorf("%d Group.CallbackAfterRecallMsg events, want 1", got)
	}

	live := e.createGroup(t, map[string]any{"Type": "AVChatRoom", "Name": "live"})
	e.post(t, groupSvc, "group_msg_get_simple", map[string]any{"GroupId": live, "ReqMsgNumber": 5}).wantCode(t, parley.ErrGroupNoRoaming)
}

func TestDestroyGroup(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")
	id := e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "doomed", "Name": "doomed"})
	e.sendGroupText(t, id, "alice", 1, "hello", "SupportMessageExtension", 1).ok(t)
	e.post(t, extSvc, "group_set_key_values", map[string]any{"GroupId": id, "MsgSeq": 1, "OperateType": 1,
		"ExtensionList": []map[string]any{{"Key": "k", "Value": "v"}}}).ok(t)

	e.post(t, groupSvc, "destroy_group", map[string]any{"GroupId": id}).ok(t)

	if items := e.groupItems(t, map[string]any{"GroupIdList": []string{id}}); num(t, items[0]["ErrorCode"]) != parley.ErrGroupNotFound {
		t.Errorf("get_group_info after destroy: %v", items[0])
	}
	for _, c := range []struct {
		service, command string
		body             map[string]any
	}{
		{groupSvc, "add_group_member", map[string]any{"GroupId": id, "MemberList": []map[string]any{{"Member_Account": "bob"}}}},
		{groupSvc, "delete_group_member", map[string]any{"GroupId": id, "MemberToDel_Account": []string{"bob"}}},
		{groupSvc, "get_group_member_info", map[string]any{"GroupId": id}},
		{groupSvc, "send_group_msg", map[string]any{"GroupId": id, "Random": 2, "MsgBody": textBody("anyone?")}},
		{groupSvc, "group_msg_recall", map[string]any{"GroupId": id, "MsgSeqList": []map[string]any{{"MsgSeq": 1}}}},
		{groupSvc, "group_msg_get_simple", map[string]any{"GroupId": id, "ReqMsgNumber": 1}},
		{groupSvc, "destroy_group", map[string]any{"GroupId": id}},
		{extSvc, "group_get_key_values", map[string]any{"GroupId": id, "MsgSeq": 1}},
		{extSvc, "group_set_key_values", map[string]any{"GroupId": id, "MsgSeq": 1, "OperateType": 3}},
	} {
		e.post(t, c.service, c.command, c.body).wantCode(t, parley.ErrGroupNotFound)
	}
	// The id is free again, and the new group starts from nothing.
	e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": id, "Name": "reborn"})
	if seqs, _, _, _ := e.historySeqs(t, map[string]any{"GroupId": id, "ReqMsgNumber": 20, "WithRecalledMsg": 1}); len(seqs) != 0 {
		t.Errorf("the new group has the old one's messages: %v", seqs)
	}
}
