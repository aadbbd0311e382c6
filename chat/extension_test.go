package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// extOrigin is the Origin every extension call of these tests carries.
var extOrigin = parley.Origin{ClientIP: "192.0.2.7", OptPlatform: parley.OptPlatformREST}

// extSendC2C sends from → to a message that accepts extensions when
// support is set, and returns the reference to it.
func (e *env) extSendC2C(t testing.TB, from, to string, support bool) chat.MessageRef {
	t.Helper()
	res := e.send(t, chat.SendParams{From: from, To: to, MsgRandom: 1, Body: textBody("extend me"), SupportExtension: support})
	return chat.MessageRef{From: from, To: to, MsgKey: res.MsgKey}
}

// extGroup creates a group of type typ with members, through the store,
// so these tests do not depend on the group engine.
func (e *env) extGroup(t testing.TB, id, typ string, members ...string) {
	t.Helper()
	ctx := context.Background()
	e.importUsers(t, members...)
	now := e.clock.Now().Unix()
	if err := e.store.GroupInsert(ctx, &parley.Group{ID: id, Type: typ, Name: id, ApplyJoinOption: "FreeAccess", CreateTime: now, LastInfoTime: now}); err != nil {
		t.Fatalf("GroupInsert(%q): %v", id, err)
	}
	if len(members) == 0 {
		return
	}
	p := parley.GroupMemberAddParams{GroupID: id}
	for _, m := range members {
		p.Members = append(p.Members, parley.GroupMember{GroupID: id, UserID: m, Role: parley.RoleMember, JoinTime: now, MsgFlag: parley.MsgFlagAcceptAndNotify})
	}
	if _, err := e.store.GroupMemberAdd(ctx, p); err != nil {
		t.Fatalf("GroupMemberAdd(%q): %v", id, err)
	}
}

// extGroupMsg stores a message in group id, through the store, and
// returns the reference to it.
func (e *env) extGroupMsg(t testing.TB, id string, support bool) chat.MessageRef {
	t.Helper()
	now := e.clock.Now().Unix()
	m := &parley.GroupMessage{GroupID: id, Random: 1, MsgTime: now, MsgID: fmt.Sprintf("msg-%d", now), Body: textBody("extend me"), SupportExtension: support}
	if err := e.store.GroupMessageInsert(context.Background(), m); err != nil {
		t.Fatalf("GroupMessageInsert(%q): %v", id, err)
	}
	return chat.MessageRef{GroupID: id, MsgSeq: m.MsgSeq}
}

func (e *env) extSet(t testing.TB, p chat.SetExtensionsParams) chat.SetExtensionsResult {
	t.Helper()
	res, err := e.eng.SetExtensions(context.Background(), p)
	if err != nil {
		t.Fatalf("SetExtensions(%+v): %v", p, err)
	}
	return res
}

func (e *env) extGet(t testing.TB, ref chat.MessageRef, startSeq uint64) chat.GetExtensionsResult {
	t.Helper()
	res, err := e.eng.GetExtensions(context.Background(), chat.GetExtensionsParams{Ref: ref, StartSeq: startSeq})
	if err != nil {
		t.Fatalf("GetExtensions(%+v, %d): %v", ref, startSeq, err)
	}
	return res
}

// extEvent is what both after-extension bodies have in common.
type extEvent struct {
	OperateType   int
	ExtensionList []parley.ExtensionKV
	Seq           uint64
}

// extEvents decodes the after-extension events of ref's kind, in commit
// order.
func (e *env) extEvents(t testing.TB, ref chat.MessageRef) []extEvent {
	t.Helper()
	var out []extEvent
	for _, ev := range e.events(t, extCommand(ref)) {
		var b extEvent
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			t.Fatalf("event %s body %s: %v", ev.ID, ev.Body, err)
		}
		out = append(out, b)
	}
	return out
}

func extCommand(ref chat.MessageRef) string {
	if ref.GroupID != "" {
		return parley.CommandGroupAfterExtension
	}
	return parley.CommandC2CAfterExtension
}

// extSeed returns a seed sample of ../testdata/seeds compacted: the bytes
// parley must emit.
func extSeed(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "seeds", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("seed %s: %v", name, err)
	}
	return buf.Bytes()
}

func extKV(key, value string, seq uint64) parley.ExtensionKV {
	return parley.ExtensionKV{Key: key, Value: value, Seq: seq}
}

func extOK(kv parley.ExtensionKV) chat.ExtensionResult { return chat.ExtensionResult{KV: kv} }

func extConflict(kv parley.ExtensionKV) chat.ExtensionResult {
	return chat.ExtensionResult{Code: parley.ErrExtensionConflict, KV: kv}
}

// extSeedStep is one operation of a seed sample, at the sample's
// EventTime.
type extSeedStep struct {
	seed      string
	eventTime int64 // Unix milliseconds
	op        int
	kvs       []parley.ExtensionKV
	wantSeq   uint64
	wantKVs   []parley.ExtensionKV // a get's answer afterwards
	wantClear uint64
}

// runExtSeedSteps applies steps to ref as operator and holds each event
// body to its seed byte for byte.
func runExtSeedSteps(t *testing.T, e *env, ref chat.MessageRef, operator string, steps []extSeedStep) {
	t.Helper()
	for _, st := range steps {
		e.clock.Set(time.UnixMilli(st.eventTime))
		res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: operator, OperateType: st.op, KVs: st.kvs, Origin: extOrigin})
		if res.Seq != st.wantSeq {
			t.Errorf("%s: Seq = %d, want %d", st.seed, res.Seq, st.wantSeq)
		}
		if got, want := len(res.Results), len(st.kvs); st.op != parley.ExtensionClear && got != want {
			t.Errorf("%s: %d results, want %d", st.seed, got, want)
		}
		for i, r := range res.Results {
			if r.Code != 0 || r.KV.Key != st.kvs[i].Key || r.KV.Seq != st.wantSeq {
				t.Errorf("%s: result %d = %+v, want code 0 for %q at Seq %d", st.seed, i, r, st.kvs[i].Key, st.wantSeq)
			}
		}
		evs := e.events(t, extCommand(ref))
		if len(evs) == 0 {
			t.Fatalf("%s: no event", st.seed)
		}
		ev := evs[len(evs)-1]
		if want := extSeed(t, st.seed); !bytes.Equal(ev.Body, want) {
			t.Errorf("%s: event body\n got %s\nwant %s", st.seed, ev.Body, want)
		}
		if ev.Origin != extOrigin {
			t.Errorf("%s: event origin %+v, want %+v", st.seed, ev.Origin, extOrigin)
		}
		got := e.extGet(t, ref, 0)
		want := chat.GetExtensionsResult{Complete: true, LatestSeq: st.wantSeq, ClearSeq: st.wantClear, KVs: st.wantKVs}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: get = %+v, want %+v", st.seed, got, want)
		}
	}
}

// TestExtensionSeedsC2C replays seed 000: set k1..k3, delete them, clear,
// as the App admin and as the message's sender (who gives each KV's Seq).
func TestExtensionSeedsC2C(t *testing.T) {
	const set, del, clear = parley.CommandC2CAfterExtension + ".set", parley.CommandC2CAfterExtension + ".delete", parley.CommandC2CAfterExtension + ".clear"
	for _, operator := range []string{"", "user1"} {
		t.Run("operator "+operator, func(t *testing.T) {
			e := setup(t, nil)
			e.importUsers(t, "user1", "user2")
			e.clock.Set(time.Unix(1764688415, 0))
			res := e.send(t, chat.SendParams{From: "user1", To: "user2", MsgSeq: seq(93847636), MsgRandom: 1287657, Body: textBody("hi"), SupportExtension: true})
			if want := "93847636_1287657_1764688415"; res.MsgKey != want {
				t.Fatalf("MsgKey = %q, want the seed's %q", res.MsgKey, want)
			}
			ref := chat.MessageRef{From: "user1", To: "user2", MsgKey: res.MsgKey}
			notified := e.notified.Load()
			runExtSeedSteps(t, e, ref, operator, []extSeedStep{
				{set, 1764688540182, parley.ExtensionSet, []parley.ExtensionKV{extKV("k1", "v1", 0), extKV("k2", "v2", 0), extKV("k3", "v3", 0)}, 1,
					[]parley.ExtensionKV{extKV("k1", "v1", 1), extKV("k2", "v2", 1), extKV("k3", "v3", 1)}, 0},
				{del, 1764688641499, parley.ExtensionDel, []parley.ExtensionKV{extKV("k1", "", 1), extKV("k2", "", 1), extKV("k3", "", 1)}, 2,
					[]parley.ExtensionKV{}, 0},
				{clear, 1764688662721, parley.ExtensionClear, nil, 3, []parley.ExtensionKV{}, 3},
			})
			if got := e.notified.Load() - notified; got != 3 {
				t.Errorf("OnEvents called %d times, want 3", got)
			}
			for _, ev := range e.events(t, parley.CommandC2CAfterExtension) {
				if want := parley.C2CConversation("user1", "user2"); ev.Conversation != want {
					t.Errorf("event conversation %q, want %q", ev.Conversation, want)
				}
			}
		})
	}
}

// TestExtensionSeedsGroup replays seed 001 on message 10 of group "test",
// whose extension Seq is 55 after 55 earlier operations.
func TestExtensionSeedsGroup(t *testing.T) {
	const set, del, clear = parley.CommandGroupAfterExtension + ".set", parley.CommandGroupAfterExtension + ".delete", parley.CommandGroupAfterExtension + ".clear"
	e := setup(t, nil)
	e.extGroup(t, "test", parley.GroupPublic, "member")
	var ref chat.MessageRef
	for i := range 10 {
		ref = e.extGroupMsg(t, "test", i == 9)
	}
	if ref.MsgSeq != 10 {
		t.Fatalf("MsgSeq = %d, want 10", ref.MsgSeq)
	}
	// 55 operations, alternately by the App admin and by a member: key1
	// set and deleted, ending set at Seq 55.
	for i := range 55 {
		p := chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("key1", fmt.Sprint("v", i), uint64(i))}}
		if i%2 == 1 {
			p.OperateType, p.KVs[0].Value = parley.ExtensionDel, ""
			p.Operator = "member"
		}
		if res := e.extSet(t, p); res.Seq != uint64(i+1) {
			t.Fatalf("operation %d: Seq = %d, want %d", i+1, res.Seq, i+1)
		}
	}
	if got := len(e.events(t, parley.CommandGroupAfterExtension)); got != 55 {
		t.Fatalf("%d events after 55 operations, want 55", got)
	}
	key1 := extKV("key1", "v54", 55)
	runExtSeedSteps(t, e, ref, "", []extSeedStep{
		{set, 1764688294360, parley.ExtensionSet, []parley.ExtensionKV{extKV("key2", "value2", 0), extKV("key3", "12122", 0)}, 56,
			[]parley.ExtensionKV{key1, extKV("key2", "value2", 56), extKV("key3", "12122", 56)}, 0},
		{del, 1764688312045, parley.ExtensionDel, []parley.ExtensionKV{extKV("key2", "", 0), extKV("key3", "", 0)}, 57,
			[]parley.ExtensionKV{key1}, 0},
		{clear, 1764688329047, parley.ExtensionClear, nil, 58, []parley.ExtensionKV{}, 58},
	})
	for _, ev := range e.events(t, parley.CommandGroupAfterExtension) {
		if want := parley.GroupConversation("test"); ev.Conversation != want {
			t.Errorf("event conversation %q, want %q", ev.Conversation, want)
		}
	}
}

func TestExtensionRequestErrors(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.importUsers(t, "a", "b", "c")
	c2c := e.extSendC2C(t, "a", "b", true)
	c2cPlain := e.extSendC2C(t, "a", "b", false)
	c2cRecalled := e.extSendC2C(t, "a", "b", true)
	if err := e.eng.Recall(ctx, chat.RecallParams{From: "a", To: "b", MsgKey: c2cRecalled.MsgKey}); err != nil {
		t.Fatal(err)
	}
	e.extGroup(t, "g", parley.GroupPublic, "a")
	e.extGroup(t, "av", parley.GroupAVChatRoom)
	e.extGroup(t, "comm", parley.GroupCommunity, "a")
	grp := e.extGroupMsg(t, "g", true)
	grpPlain := e.extGroupMsg(t, "g", false)
	grpRecalled := e.extGroupMsg(t, "g", true)
	if err := e.store.GroupMessageRecall(ctx, "g", grpRecalled.MsgSeq); err != nil {
		t.Fatal(err)
	}
	av := e.extGroupMsg(t, "av", true)
	comm := e.extGroupMsg(t, "comm", true)

	one := []parley.ExtensionKV{extKV("k", "v", 0)}
	many := func(n int) []parley.ExtensionKV {
		var kvs []parley.ExtensionKV
		for i := range n {
			kvs = append(kvs, extKV(fmt.Sprint("k", i), "v", 0))
		}
		return kvs
	}
	set := func(ref chat.MessageRef, kvs ...parley.ExtensionKV) chat.SetExtensionsParams {
		return chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: kvs}
	}
	as := func(operator string, p chat.SetExtensionsParams) chat.SetExtensionsParams {
		p.Operator = operator
		return p
	}
	withRef := func(ref chat.MessageRef, mod func(*chat.MessageRef)) chat.MessageRef {
		mod(&ref)
		return ref
	}
	tests := []struct {
		name string
		p    chat.SetExtensionsParams
		code int
		// ref says the error is about the message, so get answers it too.
		ref bool
	}{
		{"OperateType 0", chat.SetExtensionsParams{Ref: c2c, KVs: one}, parley.ErrFormat, false},
		{"OperateType 4", chat.SetExtensionsParams{Ref: c2c, OperateType: 4, KVs: one}, parley.ErrFormat, false},
		{"set without ExtensionList", set(c2c), parley.ErrFormat, false},
		{"delete without ExtensionList", chat.SetExtensionsParams{Ref: c2c, OperateType: parley.ExtensionDel}, parley.ErrFormat, false},
		{"21 KVs", set(c2c, many(21)...), parley.ErrFormat, false},
		{"empty Key", set(c2c, extKV("", "v", 0)), parley.ErrFormat, false},
		{"Key of 101 bytes", set(c2c, extKV(strings.Repeat("k", 101), "v", 0)), parley.ErrFormat, false},
		{"Value of 1001 bytes", set(c2c, extKV("k", strings.Repeat("v", 1001), 0)), parley.ErrFormat, false},
		{"deleted Value of 1001 bytes", chat.SetExtensionsParams{Ref: c2c, OperateType: parley.ExtensionDel, KVs: []parley.ExtensionKV{extKV("k", strings.Repeat("v", 1001), 0)}}, parley.ErrFormat, false},
		{"empty Value for a set", set(c2c, extKV("k", "", 0)), parley.ErrFormat, false},
		{"Key twice", set(c2c, extKV("k", "v", 0), extKV("j", "v", 0), extKV("k", "w", 0)), parley.ErrFormat, false},
		{"group shape error", set(grp, extKV("", "v", 0)), parley.ErrFormat, false},

		{"From_Account invalid", set(withRef(c2c, func(r *chat.MessageRef) { r.From = "a b" }), one...), parley.ErrFromAccountInvalid, true},
		{"From_Account not imported", set(withRef(c2c, func(r *chat.MessageRef) { r.From = "x" }), one...), parley.ErrFromAccountInvalid, true},
		{"admin sender never imported", set(withRef(c2c, func(r *chat.MessageRef) { r.From = "" }), one...), parley.ErrFromAccountInvalid, true},
		{"To_Account empty", set(withRef(c2c, func(r *chat.MessageRef) { r.To = "" }), one...), parley.ErrToAccountInvalid, true},
		{"To_Account not imported", set(withRef(c2c, func(r *chat.MessageRef) { r.To = "x" }), one...), parley.ErrToAccountInvalid, true},
		{"MsgKey empty", set(withRef(c2c, func(r *chat.MessageRef) { r.MsgKey = "" }), one...), parley.ErrMsgKeyInvalid, true},
		{"MsgKey unknown", set(withRef(c2c, func(r *chat.MessageRef) { r.MsgKey = "1_2_3" }), one...), parley.ErrMsgKeyInvalid, true},
		{"MsgKey of another pair", set(withRef(c2c, func(r *chat.MessageRef) { r.To = "c" }), one...), parley.ErrMsgKeyInvalid, true},
		{"MsgKey the other way round", set(withRef(c2c, func(r *chat.MessageRef) { r.From, r.To = r.To, r.From }), one...), parley.ErrMsgKeyInvalid, true},
		{"C2C recalled", set(c2cRecalled, one...), parley.ErrAlreadyRecalled, true},
		{"C2C without SupportMessageExtension", set(c2cPlain, one...), parley.ErrBadRequestPacket, true},
		{"C2C operator outside the conversation", as("c", set(c2c, one...)), parley.ErrBadRequestPacket, true},
		{"C2C operator not imported", as("nobody", set(c2c, one...)), parley.ErrBadRequestPacket, true},

		{"GroupId not printable", set(withRef(grp, func(r *chat.MessageRef) { r.GroupID = "g\x01" }), one...), parley.ErrGroupIDInvalid, true},
		{"GroupId of 49 bytes", set(withRef(grp, func(r *chat.MessageRef) { r.GroupID = strings.Repeat("g", 49) }), one...), parley.ErrGroupIDInvalid, true},
		{"GroupId unknown", set(withRef(grp, func(r *chat.MessageRef) { r.GroupID = "nope" }), one...), parley.ErrGroupNotFound, true},
		{"AVChatRoom", set(av, one...), parley.ErrGroupNotPermitted, true},
		{"MsgSeq 0", set(withRef(grp, func(r *chat.MessageRef) { r.MsgSeq = 0 }), one...), parley.ErrFormat, true},
		{"MsgSeq unknown", set(withRef(grp, func(r *chat.MessageRef) { r.MsgSeq = 99 }), one...), parley.ErrGroupRecallNotFound, true},
		{"group recalled", set(grpRecalled, one...), parley.ErrAlreadyRecalled, true},
		{"group without SupportMessageExtension", set(grpPlain, one...), parley.ErrBadRequestPacket, true},
		{"group operator not a member", as("b", set(grp, one...)), parley.ErrGroupNotPermitted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.SetExtensions(ctx, tt.p)
			wantCode(t, err, tt.code)
			if !tt.ref {
				return
			}
			_, err = e.eng.GetExtensions(ctx, chat.GetExtensionsParams{Ref: tt.p.Ref, Operator: tt.p.Operator})
			wantCode(t, err, tt.code)
		})
	}
	for _, ref := range []chat.MessageRef{c2c, grp} {
		if got := e.extGet(t, ref, 0); got.LatestSeq != 0 || len(got.KVs) != 0 {
			t.Errorf("%+v after refused calls: %+v, want untouched", ref, got)
		}
		if got := e.extEvents(t, ref); len(got) != 0 {
			t.Errorf("%+v: events %+v after refused calls, want none", ref, got)
		}
	}
	// A Community's messages take extensions (spec decision 9.5); only
	// AVChatRoom refuses them.
	if res := e.extSet(t, chat.SetExtensionsParams{Ref: comm, OperateType: parley.ExtensionSet, KVs: one}); res.Seq != 1 {
		t.Errorf("Community message: Seq %d after a set, want 1", res.Seq)
	}
}

// TestExtensionLimitsAccepted: the largest request E2 allows is applied.
func TestExtensionLimitsAccepted(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	ref := e.extSendC2C(t, "a", "b", true)
	var kvs []parley.ExtensionKV
	for i := range parley.MaxExtensionKVsPerCall {
		key := fmt.Sprintf("%03d", i) + strings.Repeat("k", parley.MaxExtensionKeyBytes-3)
		kvs = append(kvs, extKV(key, strings.Repeat("v", parley.MaxExtensionValueBytes), 0))
	}
	res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "b", OperateType: parley.ExtensionSet, KVs: kvs})
	if res.Seq != 1 || len(res.Results) != len(kvs) {
		t.Fatalf("result Seq %d with %d results, want Seq 1 and %d", res.Seq, len(res.Results), len(kvs))
	}
	if got := e.extGet(t, ref, 0); len(got.KVs) != len(kvs) {
		t.Errorf("%d KVs stored, want %d", len(got.KVs), len(kvs))
	}
	// A clear takes no ExtensionList; one given is ignored.
	res = e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "a", OperateType: parley.ExtensionClear, KVs: []parley.ExtensionKV{extKV("", "", 9)}})
	if res.Seq != 2 || res.Results != nil {
		t.Errorf("clear = %+v, want Seq 2 and no results", res)
	}
}

// extKinds runs f on a C2C message and on a group message, each with two
// operators in the conversation.
func extKinds(t *testing.T, f func(t *testing.T, e *env, ref chat.MessageRef, insiders [2]string)) {
	t.Run("c2c", func(t *testing.T) {
		e := setup(t, nil)
		e.importUsers(t, "a", "b", "c")
		f(t, e, e.extSendC2C(t, "a", "b", true), [2]string{"a", "b"})
	})
	t.Run("group", func(t *testing.T) {
		e := setup(t, nil)
		e.extGroup(t, "g", parley.GroupPrivate, "m1", "m2")
		e.importUsers(t, "c")
		e.extGroupMsg(t, "g", true)
		f(t, e, e.extGroupMsg(t, "g", true), [2]string{"m1", "m2"})
	})
}

func TestExtensionCompareAndSet(t *testing.T) {
	extKinds(t, func(t *testing.T, e *env, ref chat.MessageRef, in [2]string) {
		notified := e.notified.Load()
		steps := []struct {
			name        string
			operator    string
			op          int
			kvs         []parley.ExtensionKV
			wantResults []chat.ExtensionResult
			wantSeq     uint64
			wantEvent   []parley.ExtensionKV // nil: no event
		}{
			{"first set", in[0], parley.ExtensionSet, []parley.ExtensionKV{extKV("k1", "v1", 0)},
				[]chat.ExtensionResult{extOK(extKV("k1", "v1", 1))}, 1,
				[]parley.ExtensionKV{extKV("k1", "v1", 1)}},
			{"stale Seq", in[1], parley.ExtensionSet, []parley.ExtensionKV{extKV("k1", "x", 0)},
				[]chat.ExtensionResult{extConflict(extKV("k1", "v1", 1))}, 1,
				nil},
			{"partly applied", in[1], parley.ExtensionSet, []parley.ExtensionKV{extKV("k1", "x", 1), extKV("k2", "y", 7), extKV("k3", "z", 0)},
				[]chat.ExtensionResult{extOK(extKV("k1", "x", 2)), extConflict(extKV("k2", "", 0)), extOK(extKV("k3", "z", 2))}, 2,
				[]parley.ExtensionKV{extKV("k1", "x", 2), extKV("k3", "z", 2)}},
			{"delete absent and stale", in[0], parley.ExtensionDel, []parley.ExtensionKV{extKV("k9", "", 0), extKV("k3", "", 1)},
				[]chat.ExtensionResult{extOK(extKV("k9", "", 3)), extConflict(extKV("k3", "z", 2))}, 3,
				[]parley.ExtensionKV{extKV("k9", "", 3)}},
			{"delete all stale", in[1], parley.ExtensionDel, []parley.ExtensionKV{extKV("k1", "", 1), extKV("k3", "", 0)},
				[]chat.ExtensionResult{extConflict(extKV("k1", "x", 2)), extConflict(extKV("k3", "z", 2))}, 3,
				nil},
			{"admin skips the check", "", parley.ExtensionSet, []parley.ExtensionKV{extKV("k1", "admin", 0), extKV("k2", "w", 42)},
				[]chat.ExtensionResult{extOK(extKV("k1", "admin", 4)), extOK(extKV("k2", "w", 4))}, 4,
				[]parley.ExtensionKV{extKV("k1", "admin", 4), extKV("k2", "w", 4)}},
			{"admin by name", "admin", parley.ExtensionDel, []parley.ExtensionKV{extKV("k2", "", 99)},
				[]chat.ExtensionResult{extOK(extKV("k2", "", 5))}, 5,
				[]parley.ExtensionKV{extKV("k2", "", 5)}},
			{"delete present", in[1], parley.ExtensionDel, []parley.ExtensionKV{extKV("k3", "", 2)},
				[]chat.ExtensionResult{extOK(extKV("k3", "", 6))}, 6,
				[]parley.ExtensionKV{extKV("k3", "", 6)}},
			{"set back", in[0], parley.ExtensionSet, []parley.ExtensionKV{extKV("k3", "again", 0)},
				[]chat.ExtensionResult{extOK(extKV("k3", "again", 7))}, 7,
				[]parley.ExtensionKV{extKV("k3", "again", 7)}},
		}
		wantEvents := 0
		for _, st := range steps {
			res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: st.operator, OperateType: st.op, KVs: st.kvs, Origin: extOrigin})
			if res.Seq != st.wantSeq || !reflect.DeepEqual(res.Results, st.wantResults) {
				t.Fatalf("%s: result %+v, want Seq %d, %+v", st.name, res, st.wantSeq, st.wantResults)
			}
			evs := e.extEvents(t, ref)
			if st.wantEvent != nil {
				wantEvents++
			}
			if len(evs) != wantEvents {
				t.Fatalf("%s: %d events, want %d", st.name, len(evs), wantEvents)
			}
			if st.wantEvent == nil {
				continue
			}
			want := extEvent{OperateType: st.op, ExtensionList: st.wantEvent, Seq: st.wantSeq}
			if got := evs[len(evs)-1]; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: event %+v, want %+v", st.name, got, want)
			}
		}
		if got := e.notified.Load() - notified; got != int64(wantEvents) {
			t.Errorf("OnEvents called %d times, want %d", got, wantEvents)
		}
		want := chat.GetExtensionsResult{Complete: true, LatestSeq: 7, KVs: []parley.ExtensionKV{extKV("k1", "admin", 4), extKV("k3", "again", 7)}}
		if got, err := e.eng.GetExtensions(context.Background(), chat.GetExtensionsParams{Ref: ref, Operator: in[1]}); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("get by %s = %+v, %v; want %+v", in[1], got, err, want)
		}

		res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: in[1], OperateType: parley.ExtensionClear})
		if res.Seq != 8 {
			t.Errorf("clear: Seq %d, want 8", res.Seq)
		}
		want = chat.GetExtensionsResult{Complete: true, LatestSeq: 8, ClearSeq: 8, KVs: []parley.ExtensionKV{}}
		if got := e.extGet(t, ref, 0); !reflect.DeepEqual(got, want) {
			t.Errorf("get after the clear = %+v, want %+v", got, want)
		}
		// Keys a clear removed start again from Seq 0.
		res = e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: in[0], OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("k1", "new", 0)}})
		if want := []chat.ExtensionResult{extOK(extKV("k1", "new", 9))}; res.Seq != 9 || !reflect.DeepEqual(res.Results, want) {
			t.Errorf("set after the clear = %+v, want Seq 9, %+v", res, want)
		}
		want = chat.GetExtensionsResult{Complete: true, LatestSeq: 9, ClearSeq: 8, KVs: []parley.ExtensionKV{extKV("k1", "new", 9)}}
		if got := e.extGet(t, ref, 0); !reflect.DeepEqual(got, want) {
			t.Errorf("get after the clear and a set = %+v, want %+v", got, want)
		}
	})
}

// extFill sets n new keys named prefix0.. as the App admin, 20 a call.
func (e *env) extFill(t testing.TB, ref chat.MessageRef, prefix string, n int) {
	t.Helper()
	for start := 0; start < n; start += parley.MaxExtensionKVsPerCall {
		var kvs []parley.ExtensionKV
		for i := start; i < min(n, start+parley.MaxExtensionKVsPerCall); i++ {
			kvs = append(kvs, extKV(fmt.Sprintf("%s%03d", prefix, i), "v", 0))
		}
		e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: kvs})
	}
}

func TestExtensionCap(t *testing.T) {
	extKinds(t, func(t *testing.T, e *env, ref chat.MessageRef, in [2]string) {
		ctx := context.Background()
		e.extFill(t, ref, "k", parley.MaxExtensionKVsPerMessage)
		full := e.extGet(t, ref, 0)
		if full.LatestSeq != 15 || len(full.KVs) != 200 {
			t.Fatalf("after 300 KVs: LatestSeq %d, first page %d KVs; want 15 and 200", full.LatestSeq, len(full.KVs))
		}
		events := len(e.extEvents(t, ref))

		refused := []chat.SetExtensionsParams{
			{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("one more", "v", 0)}},
			{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("k000", "replaced", 0), extKV("one more", "v", 0)}},
			{Ref: ref, Operator: in[0], OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("one more", "v", 0)}},
		}
		for _, p := range refused {
			_, err := e.eng.SetExtensions(ctx, p)
			wantCode(t, err, parley.ErrFormat)
		}
		if got := e.extGet(t, ref, 0); !reflect.DeepEqual(got, full) {
			t.Errorf("refused calls changed the extensions: %+v", got)
		}
		if got := len(e.extEvents(t, ref)); got != events {
			t.Errorf("%d events after refused calls, want %d", got, events)
		}

		// Replacing keys keeps the count.
		if res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("k000", "replaced", 0), extKV("k299", "replaced", 0)}}); res.Seq != 16 {
			t.Fatalf("replacing two keys: Seq %d, want 16", res.Seq)
		}
		// One key deleted leaves room for one: of two new keys, the one
		// whose Seq check fails does not count.
		if res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: in[1], OperateType: parley.ExtensionDel, KVs: []parley.ExtensionKV{extKV("k001", "", 1)}}); res.Seq != 17 {
			t.Fatalf("deleting a key: Seq %d, want 17", res.Seq)
		}
		res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: in[0], OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("new1", "v", 0), extKV("new2", "v", 3)}})
		if want := []chat.ExtensionResult{extOK(extKV("new1", "v", 18)), extConflict(extKV("new2", "", 0))}; res.Seq != 18 || !reflect.DeepEqual(res.Results, want) {
			t.Errorf("set at the cap = %+v, want Seq 18, %+v", res, want)
		}
		_, err := e.eng.SetExtensions(ctx, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("new2", "v", 0)}})
		wantCode(t, err, parley.ErrFormat)
		if got := extWalk(t, e, ref); len(got) != parley.MaxExtensionKVsPerMessage {
			t.Errorf("%d KVs, want %d", len(got), parley.MaxExtensionKVsPerMessage)
		}
	})
}

// extWalk pages through ref's extensions as a client does, checking each
// page's shape, and returns every KV.
func extWalk(t *testing.T, e *env, ref chat.MessageRef) []parley.ExtensionKV {
	t.Helper()
	var all []parley.ExtensionKV
	start := uint64(0)
	for range 100 {
		page := e.extGet(t, ref, start)
		if len(page.KVs) > parley.MaxExtensionKVsPerGet {
			t.Fatalf("page of %d KVs, more than %d", len(page.KVs), parley.MaxExtensionKVsPerGet)
		}
		all = append(all, page.KVs...)
		if page.Complete {
			return all
		}
		if len(page.KVs) == 0 {
			t.Fatal("an empty page that is not complete")
		}
		start = page.KVs[len(page.KVs)-1].Seq + 1
	}
	t.Fatal("paging never completed")
	return nil
}

func TestExtensionGetPaging(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")

	// sizes are the KVs each operation sets; want the pages' sizes.
	tests := []struct {
		name  string
		sizes []int
		want  []int
	}{
		{"empty", nil, []int{0}},
		{"exactly 200", slices.Repeat([]int{20}, 10), []int{200}},
		{"201st in a new Seq", append(slices.Repeat([]int{20}, 10), 5), []int{200, 5}},
		// 7 + 9*20 = 187 KVs fill Seqs 1..10; Seq 11 straddles the 200th
		// KV, so it moves whole to the second page.
		{"a Seq across the 200th", append([]int{7}, slices.Repeat([]int{20}, 14)...), []int{187, 100}},
		{"200th ends a Seq, 201st starts one", append([]int{10, 10}, slices.Repeat([]int{20}, 10)...), []int{200, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := e.extSendC2C(t, "a", "b", true)
			var want []parley.ExtensionKV
			for i, n := range tt.sizes {
				var kvs []parley.ExtensionKV
				for j := range n {
					// Keys out of order within a Seq: the store sorts them.
					kvs = append(kvs, extKV(fmt.Sprintf("s%02d-%02d", i, n-j), fmt.Sprint(j), 0))
				}
				e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: kvs})
				for _, x := range slices.Backward(kvs) {
					want = append(want, extKV(x.Key, x.Value, uint64(i+1)))
				}
			}
			var pages []int
			start := uint64(0)
			var got []parley.ExtensionKV
			for range 10 {
				page := e.extGet(t, ref, start)
				if page.LatestSeq != uint64(len(tt.sizes)) || page.ClearSeq != 0 {
					t.Errorf("LatestSeq %d ClearSeq %d, want %d and 0", page.LatestSeq, page.ClearSeq, len(tt.sizes))
				}
				if page.KVs == nil {
					t.Error("KVs is nil, want a list")
				}
				pages = append(pages, len(page.KVs))
				got = append(got, page.KVs...)
				if page.Complete {
					break
				}
				start = page.KVs[len(page.KVs)-1].Seq + 1
			}
			if !slices.Equal(pages, tt.want) {
				t.Errorf("pages of %v KVs, want %v", pages, tt.want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("KVs walked\n got %v\nwant %v", got, want)
			}
		})
	}

	t.Run("StartSeq", func(t *testing.T) {
		ref := e.extSendC2C(t, "a", "b", true)
		e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("x", "1", 0), extKV("y", "1", 0)}})
		e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("z", "2", 0)}})
		e.extSet(t, chat.SetExtensionsParams{Ref: ref, OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("x", "3", 0)}})
		for _, tt := range []struct {
			start uint64
			want  []parley.ExtensionKV
		}{
			{0, []parley.ExtensionKV{extKV("y", "1", 1), extKV("z", "2", 2), extKV("x", "3", 3)}},
			{2, []parley.ExtensionKV{extKV("z", "2", 2), extKV("x", "3", 3)}},
			{3, []parley.ExtensionKV{extKV("x", "3", 3)}},
			{4, []parley.ExtensionKV{}},
		} {
			want := chat.GetExtensionsResult{Complete: true, LatestSeq: 3, KVs: tt.want}
			if got := e.extGet(t, ref, tt.start); !reflect.DeepEqual(got, want) {
				t.Errorf("StartSeq %d: %+v, want %+v", tt.start, got, want)
			}
		}
	})
}

func TestExtensionCallbackDisabled(t *testing.T) {
	e := setup(t, func(c *chat.Config) {
		c.CallbackEnabled = func(command string) bool { return command != parley.CommandGroupAfterExtension }
	})
	e.extGroup(t, "g", parley.GroupChatRoom, "m")
	ref := e.extGroupMsg(t, "g", true)
	res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "m", OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("k", "v", 0)}})
	if res.Seq != 1 {
		t.Errorf("Seq %d, want 1: the write does not depend on the webhook", res.Seq)
	}
	if got := len(e.extEvents(t, ref)); got != 0 {
		t.Errorf("%d events with the webhook off, want 0", got)
	}
	if got := e.notified.Load(); got != 0 {
		t.Errorf("OnEvents called %d times, want 0", got)
	}
	if got := e.extGet(t, ref, 0).KVs; !slices.Equal(got, []parley.ExtensionKV{extKV("k", "v", 1)}) {
		t.Errorf("KVs %v, want k=v at 1", got)
	}
}

// extRerunStore runs every InTx fn twice, as a group-committing store
// may: first after the writes of another fn of its group, and rolled back
// with them when that fn fails; then again on its own.
type extRerunStore struct {
	parley.Store
	// others writes what the failing fn of the first pass wrote.
	others func(ctx context.Context, tx parley.Querier) error
}

var errExtRerun = errors.New("another fn of the group failed")

func (s *extRerunStore) InTx(ctx context.Context, fn func(tx parley.Querier) error) error {
	err := s.Store.InTx(ctx, func(tx parley.Querier) error {
		if s.others != nil {
			if err := s.others(ctx, tx); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		return errExtRerun
	})
	if !errors.Is(err, errExtRerun) {
		return err
	}
	return s.Store.InTx(ctx, fn)
}

// TestExtensionFnRunsTwice: what a first pass saw and decided is
// forgotten when the fn runs again.
func TestExtensionFnRunsTwice(t *testing.T) {
	s := &extRerunStore{}
	e := setup(t, func(c *chat.Config) { s.Store = c.Store; c.Store = s })
	ctx := context.Background()
	e.extGroup(t, "g", parley.GroupPublic, "m")
	ref := e.extGroupMsg(t, "g", true)
	e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "m", OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("a", "1", 0)}})

	// The first pass sees the message recalled and refuses; the second
	// does not.
	s.others = func(ctx context.Context, tx parley.Querier) error {
		return tx.GroupMessageRecall(ctx, ref.GroupID, ref.MsgSeq)
	}
	res := e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "m", OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("a", "2", 0), extKV("b", "2", 0)}})
	if want := []chat.ExtensionResult{extConflict(extKV("a", "1", 1)), extOK(extKV("b", "2", 2))}; res.Seq != 2 || !reflect.DeepEqual(res.Results, want) {
		t.Errorf("result %+v, want Seq 2, %+v", res, want)
	}

	// The first pass sees a KV the second does not: its conflict is not
	// the answer.
	s.others = func(ctx context.Context, tx parley.Querier) error {
		return tx.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: parley.GroupExtensionTarget(ref.GroupID, ref.MsgSeq), Seq: 3, Put: []parley.ExtensionKV{extKV("c", "phantom", 0)}})
	}
	res = e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "m", OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("c", "3", 0)}})
	if want := []chat.ExtensionResult{extOK(extKV("c", "3", 3))}; res.Seq != 3 || !reflect.DeepEqual(res.Results, want) {
		t.Errorf("result %+v, want Seq 3, %+v", res, want)
	}

	// The first pass applies; the second refuses.
	s.others = func(ctx context.Context, tx parley.Querier) error {
		_, err := tx.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: ref.GroupID, Members: []parley.GroupMember{{GroupID: ref.GroupID, UserID: "x", Role: parley.RoleMember}}})
		return err
	}
	_, err := e.eng.SetExtensions(ctx, chat.SetExtensionsParams{Ref: ref, Operator: "x", OperateType: parley.ExtensionClear})
	wantCode(t, err, parley.ErrGroupNotPermitted)

	// A get too answers from its last pass only.
	s.others = func(ctx context.Context, tx parley.Querier) error {
		return tx.GroupMessageRecall(ctx, ref.GroupID, ref.MsgSeq)
	}
	if _, err := e.eng.GetExtensions(ctx, chat.GetExtensionsParams{Ref: ref, Operator: "m"}); err != nil {
		t.Errorf("get refused by what a rolled-back pass saw: %v", err)
	}
	s.others = nil

	want := []extEvent{
		{parley.ExtensionSet, []parley.ExtensionKV{extKV("a", "1", 1)}, 1},
		{parley.ExtensionSet, []parley.ExtensionKV{extKV("b", "2", 2)}, 2},
		{parley.ExtensionSet, []parley.ExtensionKV{extKV("c", "3", 3)}, 3},
	}
	if got := e.extEvents(t, ref); !reflect.DeepEqual(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
	if got := e.notified.Load(); got != 3 {
		t.Errorf("OnEvents called %d times, want 3", got)
	}
	wantGet := chat.GetExtensionsResult{Complete: true, LatestSeq: 3, KVs: []parley.ExtensionKV{extKV("a", "1", 1), extKV("b", "2", 2), extKV("c", "3", 3)}}
	if got := e.extGet(t, ref, 0); !reflect.DeepEqual(got, wantGet) {
		t.Errorf("get = %+v, want %+v", got, wantGet)
	}
}

// TestExtensionAdminSender: From_Account "" names a message the App admin
// sent.
func TestExtensionAdminSender(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "b")
	res := e.send(t, chat.SendParams{To: "b", MsgRandom: 1, Body: textBody("from the admin"), SupportExtension: true})
	for _, from := range []string{"", "admin"} {
		ref := chat.MessageRef{From: from, To: "b", MsgKey: res.MsgKey}
		e.extSet(t, chat.SetExtensionsParams{Ref: ref, Operator: "b", OperateType: parley.ExtensionSet, KVs: []parley.ExtensionKV{extKV("from "+from, "v", 0)}})
	}
	got := e.extGet(t, chat.MessageRef{To: "b", MsgKey: res.MsgKey}, 0)
	if want := []parley.ExtensionKV{extKV("from ", "v", 1), extKV("from admin", "v", 2)}; !slices.Equal(got.KVs, want) {
		t.Errorf("KVs %v, want %v", got.KVs, want)
	}
	evs := e.events(t, parley.CommandC2CAfterExtension)
	var body parley.C2CMsgExtension
	if err := json.Unmarshal(evs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.FromAccount != "admin" || body.ToAccount != "b" || body.MsgKey != res.MsgKey {
		t.Errorf("event names %s → %s %s, want admin → b %s", body.FromAccount, body.ToAccount, body.MsgKey, res.MsgKey)
	}
}
