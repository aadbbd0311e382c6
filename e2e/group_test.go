package e2e_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// mustFail checks that answer failed with code.
func mustFail(t *testing.T, answer map[string]any, code int) {
	t.Helper()
	if answer["ActionStatus"] != "FAIL" || answer["ErrorCode"] != json.Number(fmt.Sprint(code)) {
		t.Fatalf("answer is not FAIL %d: %v", code, answer)
	}
}

// findBody returns the first webhook of command and decodes its body into v.
func findBody(t *testing.T, reqs []parleytest.Request, command string, v any) parleytest.Request {
	t.Helper()
	for _, r := range reqs {
		if r.Query.Get("CallbackCommand") == command {
			if err := json.Unmarshal(r.Body, v); err != nil {
				t.Fatalf("%s body: %v", command, err)
			}
			return r
		}
	}
	t.Fatalf("no %s webhook among %d requests", command, len(reqs))
	return parleytest.Request{}
}

// TestGroupLifecycle walks a group through the REST API as an app backend
// would: create it with members, read it back, send with the before-send
// callback rewriting the text, recall, page the history, and destroy it;
// every webhook body is checked field for field.
func TestGroupLifecycle(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		if r.Query.Get("CallbackCommand") == parley.CommandGroupBeforeSendMsg && strings.Contains(string(r.Body), "darn") {
			return 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"****"}}]}`
		}
		return 200, parleytest.OKReply
	})
	clk := parleytest.NewClock(time.Unix(1764680000, 0))
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, Now: clk.Now})
	for _, id := range []string{"alice", "bob", "carol", "mallory"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	created := mustOK(t, srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Work", "Name": "Launch",
		"MemberList": []map[string]any{{"Member_Account": "bob"}, {"Member_Account": "carol", "Role": "Admin"}},
	}))
	groupID, _ := created["GroupId"].(string)
	if !strings.HasPrefix(groupID, parley.GeneratedGroupIDPrefix) {
		t.Fatalf("generated GroupId %q does not start with %s", groupID, parley.GeneratedGroupIDPrefix)
	}

	info := mustOK(t, srv.Post(t, "group_open_http_svc", "get_group_info", map[string]any{"GroupIdList": []string{groupID, "@TGS#nosuch"}}))
	groups, _ := info["GroupInfo"].([]any)
	if len(groups) != 2 {
		t.Fatalf("get_group_info answered %d groups, want 2: %v", len(groups), info)
	}
	first := groups[0].(map[string]any)
	if first["Type"] != parley.GroupPrivate || first["MemberNum"] != json.Number("3") || first["NextMsgSeq"] != json.Number("1") || first["Owner_Account"] != "alice" {
		t.Errorf("group info: %v", first)
	}
	if second := groups[1].(map[string]any); second["ErrorCode"] != json.Number(fmt.Sprint(parley.ErrGroupNotFound)) {
		t.Errorf("unknown group: %v", second)
	}

	mustFail(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
		"GroupId": groupID, "From_Account": "mallory", "Random": 1, "MsgBody": textBody("let me in"),
	}), parley.ErrGroupNotPermitted)

	srv.WaitOutboxDrained(t, 10*time.Second) // before the clock passes any lease
	clk.Set(time.Unix(1764680100, 0))
	sent := mustOK(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
		"GroupId": groupID, "From_Account": "bob", "Random": 42, "MsgBody": textBody("darn it"),
		"CloudCustomData": "meta",
	}))
	if sent["MsgSeq"] != json.Number("1") || sent["MsgTime"] != json.Number("1764680100") {
		t.Fatalf("send_group_msg answer: %v", sent)
	}
	var after parley.GroupAfterSendMsg
	req := findBody(t, waitCommand(t, rcv, parley.CommandGroupAfterSendMsg, 1), parley.CommandGroupAfterSendMsg, &after)
	want := parley.GroupAfterSendMsg{
		CallbackCommand: parley.CommandGroupAfterSendMsg,
		GroupID:         groupID,
		Type:            parley.GroupPrivate,
		FromAccount:     "bob",
		OperatorAccount: srv.App().Admin,
		Random:          42,
		MsgID:           after.MsgID,
		MsgSeq:          1,
		MsgTime:         1764680100,
		MsgBody:         json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"****"}}]`),
		CloudCustomData: "meta",
		EventTime:       1764680100000,
	}
	if wantBody, _ := json.Marshal(want); string(req.Body) != string(wantBody) {
		t.Errorf("after-send body\n got: %s\nwant: %s", req.Body, wantBody)
	}
	if after.MsgID == "" {
		t.Error("after-send has no MsgId")
	}

	for i := 2; i <= 3; i++ {
		mustOK(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
			"GroupId": groupID, "From_Account": "carol", "Random": 100 + i, "MsgBody": textBody(fmt.Sprint("update ", i)),
		}))
	}
	recall := mustOK(t, srv.Post(t, "group_open_http_svc", "group_msg_recall", map[string]any{
		"GroupId": groupID, "MsgSeqList": []map[string]any{{"MsgSeq": 2}, {"MsgSeq": 9}},
	}))
	if want := `[{"MsgSeq":2,"RetCode":0},{"MsgSeq":9,"RetCode":10030}]`; !sameJSON(t, recall["RecallRetList"], want) {
		t.Errorf("RecallRetList: %s, want %s", compact(t, recall["RecallRetList"]), want)
	}
	var recalled parley.GroupAfterRecallMsg
	findBody(t, waitCommand(t, rcv, parley.CommandGroupAfterRecall, 1), parley.CommandGroupAfterRecall, &recalled)
	if recalled.GroupID != groupID || recalled.Type != parley.GroupPrivate || !slices.Equal(recalled.MsgSeqList, []parley.GroupMsgSeqRef{{MsgSeq: 2}}) || recalled.OperatorAccount != srv.App().Admin {
		t.Errorf("after-recall body: %+v", recalled)
	}

	history := mustOK(t, srv.Post(t, "group_open_http_svc", "group_msg_get_simple", map[string]any{
		"GroupId": groupID, "ReqMsgNumber": 20, "WithRecalledMsg": 1,
	}))
	msgs, _ := history["RspMsgList"].([]any)
	var seqs, places []string
	for _, m := range msgs {
		m := m.(map[string]any)
		seqs = append(seqs, fmt.Sprint(m["MsgSeq"]))
		places = append(places, fmt.Sprint(m["IsPlaceMsg"]))
	}
	if !slices.Equal(seqs, []string{"3", "2", "1"}) || !slices.Equal(places, []string{"0", "2", "0"}) || history["IsFinished"] != json.Number("1") {
		t.Errorf("history: seqs %v, IsPlaceMsg %v, answer %v", seqs, places, history)
	}

	mustOK(t, srv.Post(t, "group_open_http_svc", "destroy_group", map[string]any{"GroupId": groupID}))
	mustFail(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
		"GroupId": groupID, "Random": 7, "MsgBody": textBody("anyone?"),
	}), parley.ErrGroupNotFound)
}

// TestGroupMsgSeqUnderConcurrentSenders: members sending at once through
// REST get MsgSeq 1..N, each once, and the history holds them all.
func TestGroupMsgSeqUnderConcurrentSenders(t *testing.T) {
	srv := parleytest.Start(t, server.Options{GroupMsgRate: -1})
	members := []map[string]any{}
	for i := range 8 {
		id := fmt.Sprintf("member%d", i)
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
		members = append(members, map[string]any{"Member_Account": id})
	}
	mustOK(t, srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Type": "Public", "GroupId": "busy", "Name": "busy", "MemberList": members,
	}))
	const perSender = 25
	var (
		mu   sync.Mutex
		seqs []int
		wg   sync.WaitGroup
	)
	errs := make(chan error, len(members)*perSender)
	client := srv.Client()
	for i := range members {
		wg.Go(func() {
			for j := range perSender {
				got, err := client.Call(t.Context(), "group_open_http_svc", "send_group_msg", map[string]any{
					"GroupId": "busy", "From_Account": fmt.Sprintf("member%d", i), "Random": i*1000 + j, "MsgBody": textBody("hi"),
				})
				if err != nil || got["ErrorCode"] != json.Number("0") {
					errs <- fmt.Errorf("sender %d message %d: %v %v", i, j, got, err)
					continue
				}
				n, _ := got["MsgSeq"].(json.Number).Int64()
				mu.Lock()
				seqs = append(seqs, int(n))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("MsgSeqs are not 1..%d without gaps: %v", len(seqs), seqs)
		}
	}
	// Page the whole history back, 20 at a time, newest first.
	next, total := 0, 0
	for {
		req := map[string]any{"GroupId": "busy", "ReqMsgNumber": 20}
		if next > 0 {
			req["ReqMsgSeq"] = next
		}
		page := mustOK(t, srv.Post(t, "group_open_http_svc", "group_msg_get_simple", req))
		list, _ := page["RspMsgList"].([]any)
		total += len(list)
		if page["IsFinished"] == json.Number("1") {
			break
		}
		last, _ := list[len(list)-1].(map[string]any)["MsgSeq"].(json.Number).Int64()
		next = int(last) - 1
	}
	if want := len(members) * perSender; total != want {
		t.Errorf("history pages hold %d messages, want %d", total, want)
	}
}
