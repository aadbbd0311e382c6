package restapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/restapi"
)

// *chat.Engine is the ClientEngine client sessions are written for.
var _ restapi.ClientEngine = (*chat.Engine)(nil)

// clientEngine records what ClientOps asks of the engine and answers with
// canned results.
type clientEngine struct {
	send      chat.SendParams
	sendGroup chat.SendGroupParams
	recall    chat.RecallParams
	recallG   chat.RecallGroupParams
	setExt    chat.SetExtensionsParams
	getExt    chat.GetExtensionsParams
	setRead   chat.SetReadParams
	groupRead chat.GroupReadParams
	roam      chat.RoamParams
	history   chat.GroupHistoryParams
	sync      chat.SyncParams

	summaries []parley.ConversationSummary
	changes   chat.SyncResult
}

func (e *clientEngine) SendC2C(_ context.Context, p chat.SendParams) (chat.SendResult, error) {
	e.send = p
	return chat.SendResult{MsgTime: 1800000000, MsgKey: "1_2_1800000000", MsgID: "id-1"}, nil
}

func (e *clientEngine) SendGroup(_ context.Context, p chat.SendGroupParams) (chat.SendGroupResult, error) {
	e.sendGroup = p
	return chat.SendGroupResult{MsgTime: 1800000000, MsgSeq: 9}, nil
}

func (e *clientEngine) Recall(_ context.Context, p chat.RecallParams) error {
	e.recall = p
	return nil
}

func (e *clientEngine) RecallGroup(_ context.Context, p chat.RecallGroupParams) ([]chat.RecallResult, error) {
	e.recallG = p
	return []chat.RecallResult{{MsgSeq: p.MsgSeqs[0], Code: parley.ErrGroupRecallTimeLimit}}, nil
}

func (e *clientEngine) SetExtensions(_ context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error) {
	e.setExt = p
	return chat.SetExtensionsResult{Results: []chat.ExtensionResult{{Code: parley.ErrExtensionConflict, KV: parley.ExtensionKV{Key: "k", Value: "v", Seq: 3}}}, Seq: 3}, nil
}

func (e *clientEngine) GetExtensions(_ context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error) {
	e.getExt = p
	return chat.GetExtensionsResult{Complete: true}, nil
}

func (e *clientEngine) SetRead(_ context.Context, p chat.SetReadParams) error {
	e.setRead = p
	return nil
}

func (e *clientEngine) SetGroupRead(_ context.Context, p chat.GroupReadParams) (uint64, error) {
	e.groupRead = p
	return 4, nil
}

func (e *clientEngine) Roam(_ context.Context, p chat.RoamParams) (chat.RoamResult, error) {
	e.roam = p
	return chat.RoamResult{Complete: true}, nil
}

func (e *clientEngine) GroupHistory(_ context.Context, p chat.GroupHistoryParams) (chat.GroupHistoryResult, error) {
	e.history = p
	return chat.GroupHistoryResult{IsFinished: chat.HistoryFinished}, nil
}

func (e *clientEngine) Conversations(context.Context, string) ([]parley.ConversationSummary, error) {
	return e.summaries, nil
}

func (e *clientEngine) Sync(_ context.Context, p chat.SyncParams) (chat.SyncResult, error) {
	e.sync = p
	return e.changes, nil
}

var clientOrigin = parley.Origin{ClientIP: "10.0.0.7", OptPlatform: "iOS", SessionID: "S1"}

func serveClient(t *testing.T, e *clientEngine, op, data string) (string, error) {
	t.Helper()
	ops, err := restapi.NewClientOps(e)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ops.Serve(context.Background(), restapi.ClientCall{Op: op, Data: []byte(data), User: "alice", Origin: clientOrigin})
	if err == nil && out != nil && !json.Valid(out) {
		t.Fatalf("%s answered invalid JSON %s", op, out)
	}
	return string(out), err
}

func wantCode(t *testing.T, err error, code int, fragment string) {
	t.Helper()
	var pe *parley.Error
	if !errors.As(err, &pe) || pe.Code != code || !strings.Contains(pe.Info, fragment) {
		t.Errorf("error %v, want %d mentioning %q", err, code, fragment)
	}
}

func TestClientSendC2C(t *testing.T) {
	e := &clientEngine{}
	out, err := serveClient(t, e, "send_c2c", `{"To_Account":"bob","MsgRandom":5,"MsgBody":[],"ForbidCallbackControl":["ForbidBeforeSendMsgCallback","ForbidAfterSendMsgCallback"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"MsgTime":1800000000,"MsgKey":"1_2_1800000000","MsgId":"id-1"}` {
		t.Errorf("answer %s", out)
	}
	p := e.send
	if p.From != "alice" || p.To != "bob" || p.MsgRandom != 5 || p.SyncOtherMachine != parley.SyncToSender ||
		p.ForbidBeforeCallback || p.ForbidAfterCallback || p.Origin != clientOrigin {
		t.Errorf("SendParams %+v: want From the session's user, SyncOtherMachine 1, no Forbid, the session's origin", p)
	}

	if _, err := serveClient(t, e, "send_c2c", `{"From_Account":"alice","To_Account":"bob","MsgRandom":5,"MsgBody":[],"SyncOtherMachine":2}`); err != nil {
		t.Fatal(err)
	}
	if e.send.SyncOtherMachine != parley.SyncNotToSender {
		t.Errorf("SyncOtherMachine 2 became %d", e.send.SyncOtherMachine)
	}
	_, err = serveClient(t, e, "send_c2c", `{"From_Account":"bob","To_Account":"carol","MsgRandom":5,"MsgBody":[]}`)
	wantCode(t, err, parley.ErrFromAccountInvalid, "logged-in user")
	_, err = serveClient(t, e, "send_c2c", `{"To_Account":"bob","MsgBody":[]}`)
	wantCode(t, err, parley.ErrMsgRandomInvalid, "MsgRandom")
}

func TestClientSendGroupAndRecalls(t *testing.T) {
	e := &clientEngine{}
	out, err := serveClient(t, e, "send_group", `{"GroupId":"g1","Random":3,"MsgBody":[],"ForbidCallbackControl":["ForbidAfterSendMsgCallback"]}`)
	if err != nil || out != `{"MsgTime":1800000000,"MsgSeq":9}` {
		t.Fatalf("send_group: %s %v", out, err)
	}
	if p := e.sendGroup; p.From != "alice" || p.Operator != "alice" || p.ForbidAfterCallback || p.Origin != clientOrigin {
		t.Errorf("SendGroupParams %+v", p)
	}
	if _, err := serveClient(t, e, "recall_c2c", `{"To_Account":"bob","MsgKey":"1_2_3"}`); err != nil {
		t.Fatal(err)
	}
	if p := e.recall; p.From != "alice" || p.Operator != "alice" || p.To != "bob" || p.MsgKey != "1_2_3" || p.Origin != clientOrigin {
		t.Errorf("RecallParams %+v", p)
	}
	out, err = serveClient(t, e, "recall_group", `{"GroupId":"g1","MsgSeqList":[{"MsgSeq":9}]}`)
	if err != nil || out != `{"RecallRetList":[{"MsgSeq":9,"RetCode":10031}]}` {
		t.Fatalf("recall_group: %s %v", out, err)
	}
	if p := e.recallG; p.Operator != "alice" || !p.Client || p.Origin != clientOrigin {
		t.Errorf("RecallGroupParams %+v", p)
	}
}

func TestClientExtensionsReadsAndHistory(t *testing.T) {
	e := &clientEngine{}
	out, err := serveClient(t, e, "set_ext", `{"To_Account":"bob","MsgKey":"1_2_3","OperateType":1,"ExtensionList":[{"Key":"k","Value":"v","Seq":0}]}`)
	if err != nil || out != `{"ExtensionList":[{"ErrorCode":23001,"Extension":{"Key":"k","Value":"v","Seq":3}}]}` {
		t.Fatalf("set_ext: %s %v", out, err)
	}
	if p := e.setExt; p.Operator != "alice" || p.Ref.From != "alice" || p.Ref.To != "bob" {
		t.Errorf("SetExtensionsParams %+v: the sender defaults to the session's user, who operates", p)
	}
	if _, err := serveClient(t, e, "get_ext", `{"GroupId":"g1","MsgSeq":2}`); err != nil {
		t.Fatal(err)
	}
	if p := e.getExt; p.Operator != "alice" || p.Ref.GroupID != "g1" || p.Ref.MsgSeq != 2 {
		t.Errorf("GetExtensionsParams %+v", p)
	}

	if _, err := serveClient(t, e, "mark_read", `{"Peer_Account":"bob","MsgReadTime":"1800000000"}`); err != nil {
		t.Fatal(err)
	}
	if p := e.setRead; p.Report != "alice" || p.Peer != "bob" || p.ReadTime != 1800000000 || p.Origin != clientOrigin {
		t.Errorf("SetReadParams %+v", p)
	}
	out, err = serveClient(t, e, "mark_read", `{"GroupId":"g1","MsgSeq":4}`)
	if err != nil || out != `{"ReadMsgSeq":4}` || e.groupRead.User != "alice" || e.groupRead.MsgSeq != 4 {
		t.Fatalf("mark_read of a group: %s %v %+v", out, err, e.groupRead)
	}

	if _, err := serveClient(t, e, "history_c2c", `{"Peer_Account":"bob","MaxCnt":5,"MinTime":0,"MaxTime":9}`); err != nil {
		t.Fatal(err)
	}
	if p := e.roam; p.Operator != "alice" || p.Peer != "bob" || p.MaxCnt != 5 || p.MaxTime != 9 {
		t.Errorf("RoamParams %+v", p)
	}
	if _, err := serveClient(t, e, "history_group", `{"GroupId":"g1","ReqMsgNumber":3}`); err != nil {
		t.Fatal(err)
	}
	if p := e.history; p.Member != "alice" || p.GroupID != "g1" || p.Number != 3 {
		t.Errorf("GroupHistoryParams %+v: only a member may read", p)
	}
}

func TestClientConversationsAndSync(t *testing.T) {
	e := &clientEngine{
		summaries: []parley.ConversationSummary{
			{Conversation: parley.C2CConversation("alice", "bob"), Peer: "bob", Seq: 7, Unread: 2, ReadTime: 1800000000},
			{Conversation: parley.GroupConversation("@TGS#1"), GroupID: "@TGS#1", Seq: 30, LastMsgSeq: 12, ReadMsgSeq: 10},
		},
		changes: chat.SyncResult{Head: 9, Complete: true, Changes: []*parley.Change{
			{Seq: 8, Kind: parley.ChangeMessage, Data: json.RawMessage(`{"From_Account":"bob","MsgBody":[]}`)},
			{Seq: 9, Kind: parley.ChangeRecall, Data: json.RawMessage(`{"MsgKey":"k"}`)},
		}},
	}
	out, err := serveClient(t, e, "conversations", "")
	want := `{"ConversationList":[` +
		`{"ConversationID":"C2Cbob","Type":"C2C","Peer_Account":"bob","Seq":7,"UnreadMsgNum":2,"ReadTime":1800000000},` +
		`{"ConversationID":"GROUP@TGS#1","Type":"GROUP","GroupId":"@TGS#1","Seq":30,"LastMsgSeq":12,"ReadMsgSeq":10,"UnreadMsgNum":2}]}`
	if err != nil || out != want {
		t.Errorf("conversations:\n got %s %v\nwant %s", out, err, want)
	}

	out, err = serveClient(t, e, "sync", `{"ConversationID":"C2Cbob","AfterSeq":7,"Limit":2}`)
	want = `{"Changes":[{"event":"message","seq":8,"data":{"From_Account":"bob","MsgBody":[]}},{"event":"recall","seq":9,"data":{"MsgKey":"k"}}],"Head":9,"Complete":1}`
	if err != nil || out != want {
		t.Errorf("sync:\n got %s %v\nwant %s", out, err, want)
	}
	if p := e.sync; p.User != "alice" || p.Peer != "bob" || p.GroupID != "" || p.AfterSeq != 7 || p.Limit != 2 {
		t.Errorf("SyncParams %+v", p)
	}
	if _, err := serveClient(t, e, "sync", `{"ConversationID":"GROUP@TGS#1"}`); err != nil || e.sync.GroupID != "@TGS#1" || e.sync.Peer != "" {
		t.Errorf("sync of a group: %v %+v", err, e.sync)
	}
	for _, bad := range []string{`{}`, `{"ConversationID":"bob"}`, `{"ConversationID":"C2C"}`, `{"ConversationID":"GROUP"}`, `{"ConversationID":"C2Cbob","AfterSeq":-1}`, `{"ConversationID":"C2Cbob","Limit":-1}`} {
		_, err := serveClient(t, e, "sync", bad)
		wantCode(t, err, parley.ErrFormat, "")
	}
}

func TestClientOpsRefusals(t *testing.T) {
	e := &clientEngine{}
	ops, _ := restapi.NewClientOps(e)
	if !ops.Has("send_c2c") || ops.Has("login") || ops.Has("sendmsg") {
		t.Errorf("Has: the client ops are the protocol's, past login")
	}
	_, err := serveClient(t, e, "sendmsg", `{}`)
	wantCode(t, err, parley.ErrJSONParse, `unknown op "sendmsg"`)
	_, err = serveClient(t, e, "send_c2c", `[]`)
	wantCode(t, err, parley.ErrJSONParse, "JSON object")
	_, err = serveClient(t, e, "mark_read", `{"Peer_Account":"bob","GroupId":"g1"}`)
	wantCode(t, err, parley.ErrFormat, "not both")
	_, err = serveClient(t, e, "recall_c2c", `{"From_Account":"bob","To_Account":"alice","MsgKey":"k"}`)
	wantCode(t, err, parley.ErrFromAccountInvalid, "logged-in user")
	if _, err := restapi.NewClientOps(nil); err == nil {
		t.Errorf("NewClientOps(nil) succeeded")
	}
}
