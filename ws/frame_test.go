package ws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/ws"
)

func TestDecodeRequest(t *testing.T) {
	long := strings.Repeat("x", ws.MaxIDBytes+1)
	tests := []struct {
		name    string
		frame   string
		want    ws.Request
		wantErr string // a fragment of the ErrorInfo; "" means success
	}{
		{"full", `{"op":"send_c2c","id":"7","data":{"To_Account":"bob"}}`, ws.Request{Op: "send_c2c", ID: "7", Data: json.RawMessage(`{"To_Account":"bob"}`)}, ""},
		{"no id, no data", `{"op":"ping"}`, ws.Request{Op: "ping"}, ""},
		{"null id and data", `{"op":"ping","id":null,"data":null}`, ws.Request{Op: "ping"}, ""},
		{"spaces and other members", " {\"x\":[1,2],\"data\" : { } ,\"op\":\"ping\"}\n", ws.Request{Op: "ping", Data: json.RawMessage(`{ }`)}, ""},
		{"escaped op", `{"op":"p\u0069ng"}`, ws.Request{Op: "ping"}, ""},
		{"id at the limit", `{"op":"ping","id":"` + long[1:] + `"}`, ws.Request{Op: "ping", ID: long[1:]}, ""},
		{"later duplicate wins", `{"op":"a","op":"ping"}`, ws.Request{Op: "ping"}, ""},

		{"empty", ``, ws.Request{}, "JSON object"},
		{"array", `[{"op":"ping"}]`, ws.Request{}, "JSON object"},
		{"null", `null`, ws.Request{}, "JSON object"},
		{"truncated", `{"op":"ping","id":"1"`, ws.Request{}, "JSON object"},
		{"trailing data", `{"op":"ping"} {}`, ws.Request{}, "JSON object"},
		{"no op", `{"id":"3"}`, ws.Request{ID: "3"}, "op is required"},
		{"empty op", `{"op":"","id":"3"}`, ws.Request{ID: "3"}, "op must not be empty"},
		{"op not a string", `{"op":1,"id":"3"}`, ws.Request{ID: "3"}, "op must be a string"},
		{"id not a string", `{"op":"ping","id":3}`, ws.Request{}, "id must be a string"},
		{"id too long", `{"op":"ping","id":"` + long + `"}`, ws.Request{}, "id is 65 bytes"},
		{"data an array", `{"op":"ping","id":"4","data":[]}`, ws.Request{Op: "ping", ID: "4"}, "data must be a JSON object"},
		{"data a string", `{"op":"ping","id":"4","data":"{}"}`, ws.Request{Op: "ping", ID: "4"}, "data must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ws.DecodeRequest([]byte(tt.frame))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeRequest(%s): %v", tt.frame, err)
				}
			} else {
				var pe *parley.Error
				if !errors.As(err, &pe) || pe.Code != parley.ErrJSONParse || !strings.Contains(pe.Info, tt.wantErr) {
					t.Fatalf("DecodeRequest(%s) = %v, want 90001 %q", tt.frame, err, tt.wantErr)
				}
			}
			if got.Op != tt.want.Op || got.ID != tt.want.ID || !bytes.Equal(got.Data, tt.want.Data) {
				t.Errorf("DecodeRequest(%s) = %+v, want %+v", tt.frame, got, tt.want)
			}
		})
	}
}

// FuzzDecodeRequest holds DecodeRequest to encoding/json: it accepts
// exactly the JSON objects with a non-empty string op, a short string id
// and an object (or no) data, never panics, and echoes the id of a frame
// it refuses whenever the id itself is fine.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"op":"send_c2c","id":"7","data":{"To_Account":"bob","MsgBody":[{"MsgType":"TIMTextElem"}]}}`,
		`{"op":"ping"}`, `{"op":"ping","id":null,"data":null}`, `{"op":1}`, `{"op":"x","data":[]}`,
		`{"op":"x","id":"` + strings.Repeat("i", 65) + `"}`, `[]`, `null`, `{`, `{"op":"a"}x`, ` {"op":"\u00e9"} `,
		"{\"op\":\"\xff\"}", `{"id":"1","data":{}}`, `{"op":"a","op":"b"}`, `{"OP":"ping"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := ws.DecodeRequest(frame)

		var members map[string]json.RawMessage
		isObject := json.Unmarshal(frame, &members) == nil && members != nil
		var op, id string
		opOK := isObject && members["op"] != nil && json.Unmarshal(members["op"], &op) == nil && op != ""
		rawID, hasID := members["id"]
		idOK := !hasID || string(rawID) == "null" || (json.Unmarshal(rawID, &id) == nil && len(id) <= ws.MaxIDBytes)
		data, hasData := members["data"]
		dataOK := !hasData || string(data) == "null" || bytes.HasPrefix(data, []byte("{"))
		valid := isObject && opOK && idOK && dataOK

		if err != nil {
			var pe *parley.Error
			if !errors.As(err, &pe) || pe.Code != parley.ErrJSONParse || pe.Info == "" {
				t.Fatalf("DecodeRequest(%q) error %v, want a 90001 with a reason", frame, err)
			}
			if valid {
				t.Fatalf("DecodeRequest(%q) refused a valid request: %v", frame, err)
			}
			if isObject && idOK && got.ID != id {
				t.Fatalf("DecodeRequest(%q) refused without echoing id %q (got %q)", frame, id, got.ID)
			}
			return
		}
		if !valid {
			t.Fatalf("DecodeRequest(%q) accepted an invalid request: %+v", frame, got)
		}
		if got.Op != op || got.ID != id {
			t.Fatalf("DecodeRequest(%q) = op %q id %q, want %q %q", frame, got.Op, got.ID, op, id)
		}
		if got.Data != nil && (!json.Valid(got.Data) || got.Data[0] != '{') {
			t.Fatalf("DecodeRequest(%q): data %q is not an object", frame, got.Data)
		}
	})
}

func TestEncodePush(t *testing.T) {
	c := &parley.Change{Conversation: "c2c:a\x00b", Seq: 42, Kind: parley.ChangeMessage, Data: json.RawMessage(`{"From_Account":"a","MsgBody":[]}`)}
	got := string(ws.EncodePush(c))
	want := `{"op":"push","event":"message","seq":42,"data":{"From_Account":"a","MsgBody":[]}}`
	if got != want {
		t.Errorf("EncodePush = %s\nwant %s", got, want)
	}
	if got := string(ws.EncodePush(&parley.Change{Kind: parley.ChangeUnread})); got != `{"op":"push","event":"unread","seq":0,"data":{}}` {
		t.Errorf("EncodePush without data = %s", got)
	}
}

func TestEncodeReplyAndKick(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(ws.EncodeReply("7", 0, "", []byte(`{"MsgTime":1}`))), `{"op":"reply","id":"7","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","data":{"MsgTime":1}}`},
		{string(ws.EncodeReply("", 0, "", nil)), `{"op":"reply","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{string(ws.EncodeReply("x\"y", 90003, "To_Account \"<b>\" is\nbad", []byte(`{"dropped":1}`))), `{"op":"reply","id":"x\"y","ActionStatus":"FAIL","ErrorCode":90003,"ErrorInfo":"To_Account \"<b>\" is\nbad"}`},
		{string(ws.EncodeKick(4002, "idle timeout")), `{"op":"kick","ErrorCode":4002,"ErrorInfo":"idle timeout"}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
}

// FuzzEncodeReply checks the hand-written string encoding against
// encoding/json: whatever the id and info, the reply is valid JSON that
// reads back as them (invalid UTF-8 as U+FFFD, as encoding/json does).
func FuzzEncodeReply(f *testing.F) {
	f.Add("7", 0, "")
	f.Add("a\"b\\c", 90001, "line\nbreak\ttab\x01\u2028\u2029<>&")
	f.Add("\xff\xfe", 70001, "caf\xc3")
	f.Fuzz(func(t *testing.T, id string, code int, info string) {
		frame := ws.EncodeReply(id, code, info, nil)
		var got struct {
			Op           string `json:"op"`
			ID           string `json:"id"`
			ActionStatus string
			ErrorCode    int
			ErrorInfo    string
		}
		if err := json.Unmarshal(frame, &got); err != nil {
			t.Fatalf("EncodeReply(%q, %d, %q) = %s: not JSON: %v", id, code, info, frame, err)
		}
		if got.Op != "reply" || got.ID != viaEncodingJSON(id) {
			t.Fatalf("EncodeReply(%q, ...) = %s: op %q id %q", id, frame, got.Op, got.ID)
		}
		if got.ErrorInfo != viaEncodingJSON(info) || got.ErrorCode != code {
			t.Fatalf("EncodeReply(%q, %d, %q) read back as %d %q", id, code, info, got.ErrorCode, got.ErrorInfo)
		}
		if (code == 0) != (got.ActionStatus == "OK") || !utf8.Valid(frame) {
			t.Fatalf("EncodeReply(%q, %d, %q) = %s", id, code, info, frame)
		}
	})
}

// viaEncodingJSON is s as it reads back after encoding/json wrote it.
func viaEncodingJSON(s string) string {
	b, _ := json.Marshal(s)
	var back string
	_ = json.Unmarshal(b, &back)
	return back
}
