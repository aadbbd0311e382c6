package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/webhook"
)

// roundTrip decodes a body of command into its type and encodes it again.
func roundTrip(command string, body []byte) ([]byte, error) {
	switch command {
	case webhook.CommandC2CBeforeSendMsg:
		return reencode[webhook.C2CBeforeSendMsg](body)
	case webhook.CommandC2CAfterSendMsg:
		return reencode[webhook.C2CAfterSendMsg](body)
	case webhook.CommandC2CAfterMsgWithdraw:
		return reencode[webhook.C2CAfterMsgWithdraw](body)
	case webhook.CommandC2CAfterMsgExtension:
		return reencode[webhook.C2CAfterMsgExtension](body)
	case webhook.CommandGroupBeforeSendMsg:
		return reencode[webhook.GroupBeforeSendMsg](body)
	case webhook.CommandGroupAfterSendMsg:
		return reencode[webhook.GroupAfterSendMsg](body)
	case webhook.CommandGroupAfterRecallMsg:
		return reencode[webhook.GroupAfterRecallMsg](body)
	case webhook.CommandGroupAfterMsgExtension:
		return reencode[webhook.GroupAfterMsgExtension](body)
	}
	return nil, nil
}

func reencode[T any](body []byte) ([]byte, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// sample is one wire body from testdata.
type sample struct {
	name    string // file name without .json
	command string
	body    []byte // compacted
}

func readSamples(t testing.TB) []sample {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Fatalf("%s is not JSON: %v", p, err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		command := name
		for _, op := range []string{".set", ".delete", ".clear"} {
			command = strings.TrimSuffix(command, op)
		}
		out = append(out, sample{name: name, command: command, body: buf.Bytes()})
	}
	return out
}

// TestBodiesMatchTheWire holds every body type to parley's wire format:
// decoding a sample and encoding it again gives the same bytes.
func TestBodiesMatchTheWire(t *testing.T) {
	samples := readSamples(t)
	seen := map[string]bool{}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			got, err := roundTrip(s.command, s.body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, s.body) {
				t.Errorf("re-encoded\n got %s\nwant %s", got, s.body)
			}
		})
		seen[s.command] = true
	}
	for _, c := range allCommands {
		if !seen[c] {
			t.Errorf("no sample in testdata for %s", c)
		}
	}
}

var allCommands = []string{
	webhook.CommandC2CBeforeSendMsg,
	webhook.CommandC2CAfterSendMsg,
	webhook.CommandC2CAfterMsgWithdraw,
	webhook.CommandC2CAfterMsgExtension,
	webhook.CommandGroupBeforeSendMsg,
	webhook.CommandGroupAfterSendMsg,
	webhook.CommandGroupAfterRecallMsg,
	webhook.CommandGroupAfterMsgExtension,
}

func TestMsgElements(t *testing.T) {
	body, err := json.Marshal([]webhook.MsgElement{webhook.TextElem("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`; got != want {
		t.Errorf("TextElem encodes to %s, want %s", got, want)
	}
	elems, err := webhook.MsgElements(body)
	if err != nil {
		t.Fatal(err)
	}
	var text webhook.TextContent
	if err := json.Unmarshal(elems[0].MsgContent, &text); err != nil {
		t.Fatal(err)
	}
	if got, want := text.Text, "hi"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func TestSignMatchesTencentVector(t *testing.T) {
	// spec 1.4: the sample of Tencent's page, checked with sha256sum.
	got := webhook.Sign("xxxxyyyy", 1669872112)
	if want := "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
