package restapi_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/parley-im/parley"
)

// kvs renders an ExtensionList of n KVs named prefix0.. with Value v.
func kvs(prefix string, n int, v string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"Key": fmt.Sprintf("%s%d", prefix, i), "Value": v}
	}
	return out
}

// setKVs posts a set_key_values-shaped request and returns its
// ExtensionList compacted.
func (e *env) setKVs(t testing.TB, command string, body map[string]any) string {
	t.Helper()
	a := e.post(t, extSvc, command, body).ok(t)
	if !reflect.DeepEqual(a.Keys, []string{"ExtensionList"}) {
		t.Fatalf("%s answer fields %v", command, a.Keys)
	}
	return rawField(t, a, "ExtensionList")
}

// getKVs posts a get_key_values-shaped request and returns CompleteFlag,
// LatestSeq, ClearSeq and the ExtensionList compacted.
func (e *env) getKVs(t testing.TB, command string, body map[string]any) (complete, latest, clear int64, list string) {
	t.Helper()
	a := e.post(t, extSvc, command, body).ok(t)
	if want := []string{"CompleteFlag", "LatestSeq", "ClearSeq", "ExtensionList"}; !reflect.DeepEqual(a.Keys, want) {
		t.Fatalf("%s answer fields %v, want %v", command, a.Keys, want)
	}
	return num(t, a.Fields["CompleteFlag"]), num(t, a.Fields["LatestSeq"]), num(t, a.Fields["ClearSeq"]), rawField(t, a, "ExtensionList")
}

// merged returns a copy of m with the key/value pairs kv set.
func merged(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestC2CExtensions(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")
	sent := e.post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("vote"), "SupportMessageExtension": 1,
	}).ok(t)
	msg := map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgKey": str(t, sent.Fields["MsgKey"])}

	if got := e.setKVs(t, "set_key_values", merged(msg, "OperateType", 1, "ExtensionList", []map[string]any{
		{"Key": "k1", "Value": "v1", "Seq": 0}, {"Key": "k2", "Value": "v2", "Seq": 7},
	})); got != `[{"ErrorCode":0,"Extension":{"Key":"k1","Value":"v1","Seq":1}},{"ErrorCode":0,"Extension":{"Key":"k2","Value":"v2","Seq":1}}]` {
		t.Errorf("set answer %s", got)
	}
	if c, l, cl, list := e.getKVs(t, "get_key_values", msg); c != 1 || l != 1 || cl != 0 || list != `[{"Key":"k1","Value":"v1","Seq":1},{"Key":"k2","Value":"v2","Seq":1}]` {
		t.Errorf("get: CompleteFlag %d LatestSeq %d ClearSeq %d %s", c, l, cl, list)
	}
	if got := e.setKVs(t, "set_key_values", merged(msg, "OperateType", 2, "ExtensionList", []map[string]any{{"Key": "k1", "Value": "", "Seq": 1}})); got != `[{"ErrorCode":0,"Extension":{"Key":"k1","Value":"","Seq":2}}]` {
		t.Errorf("delete answer %s", got)
	}
	if c, l, _, list := e.getKVs(t, "get_key_values", merged(msg, "StartSeq", 1)); c != 1 || l != 2 || list != `[{"Key":"k2","Value":"v2","Seq":1}]` {
		t.Errorf("get after delete: CompleteFlag %d LatestSeq %d %s", c, l, list)
	}
	if got := e.setKVs(t, "set_key_values", merged(msg, "OperateType", 3)); got != `[]` {
		t.Errorf("clear answer %s, want []", got)
	}
	if c, l, cl, list := e.getKVs(t, "get_key_values", msg); c != 1 || l != 3 || cl != 3 || list != `[]` {
		t.Errorf("get after clear: CompleteFlag %d LatestSeq %d ClearSeq %d %s", c, l, cl, list)
	}
	if got := len(e.events(t, parley.CommandC2CAfterExtension)); got != 3 {
		t.Errorf("%d %s events, want one per operation (3)", got, parley.CommandC2CAfterExtension)
	}

	// Only a message sent with SupportMessageExtension 1 takes extensions,
	// and not once recalled.
	plain := e.sendText(t, "alice", "bob", 2, "plain")
	e.post(t, extSvc, "set_key_values", merged(msg, "MsgKey", str(t, plain.Fields["MsgKey"]), "OperateType", 3)).wantCode(t, parley.ErrBadRequestPacket)
	e.post(t, "openim", "admin_msgwithdraw", msg).ok(t)
	e.post(t, extSvc, "set_key_values", merged(msg, "OperateType", 3)).wantCode(t, parley.ErrAlreadyRecalled)
}

func TestGroupExtensions(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")
	id := e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Public", "GroupId": "team", "Name": "team"})
	e.sendGroupText(t, id, "alice", 1, "poll", "SupportMessageExtension", 1).ok(t)
	msg := map[string]any{"GroupId": id, "MsgSeq": 1}

	// 300 KVs in 15 calls of 20, each call its own Seq.
	for i := range 15 {
		e.setKVs(t, "group_set_key_values", merged(msg, "OperateType", 1, "ExtensionList", kvs(fmt.Sprintf("k%02d-", i), 20, "v")))
	}
	// One more would make 301: refused whole, nothing applied.
	e.post(t, extSvc, "group_set_key_values", merged(msg, "OperateType", 1, "ExtensionList", kvs("extra", 1, "v"))).wantCode(t, parley.ErrFormat)

	c, l, _, first := e.getKVs(t, "group_get_key_values", msg)
	var page []parley.ExtensionKV
	if err := json.Unmarshal([]byte(first), &page); err != nil {
		t.Fatal(err)
	}
	if c != 0 || l != 15 || len(page) != parley.MaxExtensionKVsPerGet || page[len(page)-1].Seq != 10 {
		t.Fatalf("first page: CompleteFlag %d LatestSeq %d, %d KVs ending at Seq %d", c, l, len(page), page[len(page)-1].Seq)
	}
	c, _, _, rest := e.getKVs(t, "group_get_key_values", merged(msg, "StartSeq", 11))
	if err := json.Unmarshal([]byte(rest), &page); err != nil {
		t.Fatal(err)
	}
	if c != 1 || len(page) != 100 || page[0].Seq != 11 {
		t.Errorf("second page: CompleteFlag %d, %d KVs from Seq %d", c, len(page), page[0].Seq)
	}
	if got := len(e.events(t, parley.CommandGroupAfterExtension)); got != 15 {
		t.Errorf("%d %s events, want 15", got, parley.CommandGroupAfterExtension)
	}

	e.post(t, extSvc, "group_get_key_values", merged(msg, "MsgSeq", 2)).wantCode(t, parley.ErrGroupRecallNotFound)
	// Every group type but AVChatRoom takes extensions, Community included
	// (spec decision 9.5).
	community := e.createGroup(t, map[string]any{"Owner_Account": "alice", "Type": "Community", "Name": "c"})
	e.sendGroupText(t, community, "alice", 1, "hi", "SupportMessageExtension", 1).ok(t)
	if got := e.setKVs(t, "group_set_key_values", map[string]any{"GroupId": community, "MsgSeq": 1, "OperateType": 1, "ExtensionList": kvs("c", 1, "v")}); got != `[{"ErrorCode":0,"Extension":{"Key":"c0","Value":"v","Seq":1}}]` {
		t.Errorf("Community set answer %s", got)
	}
	live := e.createGroup(t, map[string]any{"Type": "AVChatRoom", "Name": "live"})
	e.sendGroupText(t, live, "", 1, "hi", "SupportMessageExtension", 1).ok(t)
	e.post(t, extSvc, "group_get_key_values", map[string]any{"GroupId": live, "MsgSeq": 1}).wantCode(t, parley.ErrGroupNotPermitted)
	e.post(t, groupSvc, "group_msg_recall", map[string]any{"GroupId": id, "MsgSeqList": []map[string]any{{"MsgSeq": 1}}}).ok(t)
	e.post(t, extSvc, "group_set_key_values", merged(msg, "OperateType", 3)).wantCode(t, parley.ErrAlreadyRecalled)
}
