package parley_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// readSeed returns a seed sample compacted: the wire form parley must emit.
func readSeed(t *testing.T, command string) []byte {
	t.Helper()
	return readSample(t, filepath.Join("testdata", "seeds", command+".json"))
}

// readSample returns a JSON file compacted.
func readSample(t *testing.T, path string) []byte {
	t.Helper()
	command := filepath.Base(path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("seed %s is not JSON: %v", command, err)
	}
	return buf.Bytes()
}

// TestWebhookBodiesMatchSeeds holds the body types to the seeds byte for
// byte: same keys, same order, same JSON types.
func TestWebhookBodiesMatchSeeds(t *testing.T) {
	tests := []struct {
		command string
		body    any
	}{
		{parley.CommandC2CAfterSendMsg, parley.AfterSendMsg{
			CallbackCommand: parley.CommandC2CAfterSendMsg,
			FromAccount:     "jared",
			ToAccount:       "Jonh",
			MsgSeq:          48374,
			MsgRandom:       2837546,
			MsgTime:         1557481126,
			MsgKey:          parley.MsgKey(48374, 2837546, 1557481126),
			OnlineOnlyFlag:  1,
			SendMsgResult:   0,
			ErrorInfo:       parley.SendMsgSucceedInfo,
			UnreadMsgNum:    7,
			MsgBody:         json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]`),
			CloudCustomData: "your cloud custom data",
		}},
		{parley.CommandC2CAfterWithdraw, parley.AfterMsgWithdraw{
			CallbackCommand: parley.CommandC2CAfterWithdraw,
			FromAccount:     "jared",
			ToAccount:       "Jonh",
			MsgKey:          "48374_2837546_1557481126",
			UnreadMsgNum:    7,
		}},
		{parley.CommandC2CAfterExtension + ".set", c2cExtension(parley.ExtensionSet, 1, 1764688540182,
			parley.ExtensionKV{Key: "k1", Value: "v1", Seq: 1},
			parley.ExtensionKV{Key: "k2", Value: "v2", Seq: 1},
			parley.ExtensionKV{Key: "k3", Value: "v3", Seq: 1})},
		{parley.CommandC2CAfterExtension + ".delete", c2cExtension(parley.ExtensionDel, 2, 1764688641499,
			parley.ExtensionKV{Key: "k1", Seq: 2},
			parley.ExtensionKV{Key: "k2", Seq: 2},
			parley.ExtensionKV{Key: "k3", Seq: 2})},
		{parley.CommandC2CAfterExtension + ".clear", c2cExtension(parley.ExtensionClear, 3, 1764688662721)},
		{parley.CommandGroupAfterExtension + ".set", groupExtension(parley.ExtensionSet, 56, 1764688294360,
			parley.ExtensionKV{Key: "key2", Value: "value2", Seq: 56},
			parley.ExtensionKV{Key: "key3", Value: "12122", Seq: 56})},
		{parley.CommandGroupAfterExtension + ".delete", groupExtension(parley.ExtensionDel, 57, 1764688312045,
			parley.ExtensionKV{Key: "key2", Seq: 57},
			parley.ExtensionKV{Key: "key3", Seq: 57})},
		{parley.CommandGroupAfterExtension + ".clear", groupExtension(parley.ExtensionClear, 58, 1764688329047)},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			got, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if want := readSeed(t, tt.command); !bytes.Equal(got, want) {
				t.Errorf("body differs from the seed\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func c2cExtension(op int, seq uint64, eventTime int64, kvs ...parley.ExtensionKV) parley.C2CMsgExtension {
	return parley.C2CMsgExtension{
		CallbackCommand: parley.CommandC2CAfterExtension,
		FromAccount:     "user1",
		ToAccount:       "user2",
		MsgKey:          "93847636_1287657_1764688415",
		OperateType:     op,
		ExtensionList:   append([]parley.ExtensionKV{}, kvs...),
		Seq:             seq,
		EventTime:       eventTime,
	}
}

func groupExtension(op int, seq uint64, eventTime int64, kvs ...parley.ExtensionKV) parley.GroupMsgExtension {
	return parley.GroupMsgExtension{
		CallbackCommand: parley.CommandGroupAfterExtension,
		GroupID:         "test",
		MsgSeq:          10,
		OperateType:     op,
		ExtensionList:   append([]parley.ExtensionKV{}, kvs...),
		Seq:             seq,
		EventTime:       eventTime,
	}
}

// TestGroupAfterSendMsgMatchesTencent holds the group after-send body to
// the sample of Tencent's page, which is not a seed.
func TestGroupAfterSendMsgMatchesTencent(t *testing.T) {
	got, err := json.Marshal(parley.GroupAfterSendMsg{
		CallbackCommand: parley.CommandGroupAfterSendMsg,
		GroupID:         "@TGS#2J4SZEAEL",
		Type:            parley.GroupPublic,
		FromAccount:     "jared",
		OperatorAccount: "admin",
		Random:          123456,
		MsgID:           "144115233406643804-1727580296-4026038328",
		MsgSeq:          123,
		MsgTime:         1490686222,
		OnlineOnlyFlag:  1,
		MsgBody:         json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]`),
		CloudCustomData: "your cloud custom data",
		EventTime:       1670574414123,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := readSample(t, filepath.Join("testdata", "tencent", parley.CommandGroupAfterSendMsg+".json")); !bytes.Equal(got, want) {
		t.Errorf("body differs from Tencent's sample\n got: %s\nwant: %s", got, want)
	}
}

// TestExtensionTargetsAreDistinct: targets of different messages never
// collide, and a group's prefix covers its own targets only.
func TestExtensionTargetsAreDistinct(t *testing.T) {
	if parley.GroupExtensionTarget("g", 11) == parley.GroupExtensionTarget("g1", 1) {
		t.Error("group extension targets of different messages collide")
	}
	if !strings.HasPrefix(parley.GroupExtensionTarget("g", 1), parley.GroupExtensionPrefix("g")) {
		t.Error("a group's extension target does not start with its prefix")
	}
	if strings.HasPrefix(parley.GroupExtensionTarget("g1", 1), parley.GroupExtensionPrefix("g")) {
		t.Error("group g1's target starts with group g's prefix")
	}
}

func TestMsgKey(t *testing.T) {
	if got, want := parley.MsgKey(4294967295, 0, 1700000000), "4294967295_0_1700000000"; got != want {
		t.Errorf("MsgKey = %q, want %q", got, want)
	}
}

func TestNewEventIDSortsByTime(t *testing.T) {
	a := parley.NewEventID(time.UnixMilli(1_700_000_000_000))
	b := parley.NewEventID(time.UnixMilli(1_700_000_000_001))
	if len(a) != 30 || a[:4] != "evt_" {
		t.Fatalf("id %q: want evt_ and 26 characters", a)
	}
	if a >= b {
		t.Errorf("ids do not sort by time: %q >= %q", a, b)
	}
	if parley.NewEventID(time.UnixMilli(5)) == parley.NewEventID(time.UnixMilli(5)) {
		t.Error("two ids in the same millisecond collide")
	}
}

func TestC2CConversationIsSymmetric(t *testing.T) {
	if parley.C2CConversation("a", "b") != parley.C2CConversation("b", "a") {
		t.Error("conversation name depends on argument order")
	}
	if parley.C2CConversation("a", "bc") == parley.C2CConversation("ab", "c") {
		t.Error("conversation names of different pairs collide")
	}
}
