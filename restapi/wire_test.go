package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

// scriptedEngine answers sendmsg with res or err and keeps what it got.
type scriptedEngine struct {
	checkingEngine
	res chat.SendResult
	err error

	mu   sync.Mutex
	got  chat.SendParams
	sent bool
}

func (s *scriptedEngine) SendC2C(_ context.Context, p chat.SendParams) (chat.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got, s.sent = p, true
	return s.res, s.err
}

func (s *scriptedEngine) last() (chat.SendParams, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, sent := s.got, s.sent
	s.sent = false
	return p, sent
}

// sendRaw posts body to sendmsg on a handler over eng and returns the raw
// answer.
func sendRaw(t testing.TB, eng restapi.Engine, body []byte) []byte {
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
	q := url.Values{"sdkappid": {fmt.Sprint(appID)}, "identifier": {admin}, "usersig": {sig}}.Encode()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v4/openim/sendmsg?"+q, bytes.NewReader(body)))
	return rec.Body.Bytes()
}

// encodeNoHTML is encoding/json's encoding of v without HTML escaping and
// without the trailing newline.
func encodeNoHTML(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAnswerIsEncodingJSON(t *testing.T) {
	body := []byte(`{"To_Account":"bob","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`)
	odd := "a\"b\\c <&> é \u2028\u2029 \x01\x7f \xff"
	for _, res := range []chat.SendResult{
		{MsgTime: 1750000000, MsgKey: "1_2_1750000000", MsgID: "123-1750000000-2"},
		{MsgTime: -1, MsgKey: odd, MsgID: odd},
		{},
	} {
		got := sendRaw(t, &scriptedEngine{checkingEngine: checkingEngine{t}, res: res}, body)
		members := encodeNoHTML(t, struct {
			MsgTime int64  `json:"MsgTime"`
			MsgKey  string `json:"MsgKey"`
			MsgID   string `json:"MsgId"`
		}{res.MsgTime, res.MsgKey, res.MsgID})
		want := `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,` + members[1:]
		if string(got) != want {
			t.Errorf("answer\n got %s\nwant %s", got, want)
		}
	}
	for _, info := range []string{"plain words", odd} {
		eng := &scriptedEngine{checkingEngine: checkingEngine{t}, err: &parley.Error{Code: parley.CallbackCustomMin, Info: info}}
		got := sendRaw(t, eng, body)
		want := fmt.Sprintf(`{"ActionStatus":"FAIL","ErrorInfo":%s,"ErrorCode":%d}`, encodeNoHTML(t, info), parley.CallbackCustomMin)
		if string(got) != want {
			t.Errorf("answer\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzDecodeIsEncodingJSON holds the request decoding to json.Unmarshal: a
// body is refused as unparsable exactly when json.Unmarshal refuses it as
// an object, and otherwise the fields reach the engine as json.Unmarshal
// reads them, later duplicates winning.
func FuzzDecodeIsEncodingJSON(f *testing.F) {
	for _, s := range append([]string{
		`{"To_Account":"bob","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`,
		` {"To_Account" : "bob" , "MsgRandom" : 1 , "MsgBody" : [ ] , "CloudCustomData" : "x\u00e9\"" } `,
		`{"To_Account":"bob","To_Account":"carol","MsgRandom":1,"MsgBody":[1]}`,
		`{"To_\u0041ccount":"bob","MsgRandom":1,"MsgBody":[1]}`,
		`{"To_Accoünt":"bob","To_Account":"b","MsgRandom":1,"MsgBody":[1]}`,
		"{\"To_Account\":\"bob\",\"MsgRandom\":1,\"MsgBody\":[\"\xff\"],\"CloudCustomData\":\"\xfe\"}",
		`{"To_Account":"bob","MsgRandom":1,"MsgBody":[[[[[[[[[[[]]]]]]]]]]],"X":{"a":[1.5e3,-0,true,false,null]}}`,
		`{"To_Account":"bob","MsgRandom":1,"MsgBody":[1],}`,
		`{"To_Account":"bob","MsgRandom":01,"MsgBody":[1]}`,
		`{"To_Account":"bob","MsgRandom":1,"MsgBody":[1]}{}`,
		`{"To_Account":"bob","MsgRandom":1,"MsgBody":["\u12"]}`,
		"{\"To_Account\":\"bob\",\"MsgRandom\":1,\"MsgBody\":[\"\t\"]}",
		`{}`, `{ }`, `{"a":1}`, `{"a"}`, `{"a":1 "b":2}`,
	}, sendMsgSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		eng := &scriptedEngine{checkingEngine: checkingEngine{t}, res: chat.SendResult{MsgTime: 1, MsgKey: "k", MsgID: "i"}}
		a, err := parseAnswer(sendRaw(t, eng, body))
		if err != nil {
			t.Fatal(err)
		}
		var ref map[string]json.RawMessage
		trimmed := bytes.TrimSpace(body)
		refOK := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &ref) == nil
		if got := a.Code == parley.ErrJSONParse; got == refOK {
			t.Fatalf("%q: answer %d %q, json.Unmarshal accepts it: %v", body, a.Code, a.Info, refOK)
		}
		p, sent := eng.last()
		if !sent {
			return
		}
		str := func(name string) string {
			var s string
			json.Unmarshal(ref[name], &s)
			return s
		}
		if p.To != str("To_Account") {
			t.Errorf("%q: To %q, want %q", body, p.To, str("To_Account"))
		}
		if p.CloudCustomData != str("CloudCustomData") {
			t.Errorf("%q: CloudCustomData %q, want %q", body, p.CloudCustomData, str("CloudCustomData"))
		}
		if want := bytes.TrimSpace(ref["MsgBody"]); !bytes.Equal(p.Body, want) {
			t.Errorf("%q: MsgBody %q, want %q", body, p.Body, want)
		}
	})
}
