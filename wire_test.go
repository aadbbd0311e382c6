package parley_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

// readSeed returns a seed sample compacted: the wire form parley must emit.
func readSeed(t *testing.T, command string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seeds", command+".json"))
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
