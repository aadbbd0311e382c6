package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// encodingJSON is what encoding/json makes of v with HTML escaping off,
// the reference the engine's hand-written encoders are held to.
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAfterSendBodyIsEncodingJSON(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.RestrictedWords = []string{"forbidden"} })
	odd := []string{`a"b`, `c\d`, `<x>&y`, "é😀", "plain"}
	e.importUsers(t, odd...)
	clouds := []string{
		"",
		"tab\there, \x01\x1f, <&>, \u2028\u2029, \"q\" \\ /",
		"invalid \xff\xfe UTF-8, a lone \xed\xa0\x80 surrogate",
		"é😀 \u007f",
	}
	bodies := []json.RawMessage{
		textBody("hello <b> & \"you\" \u2028"),
		json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"a\u00e9\"\\\/\n"}},{"MsgType":"TIMCustomElem","MsgContent":{"Data":"<&>","Ext":"x"}}]`),
	}
	n := 0
	unread := map[string]int{}
	for i, from := range odd {
		to := odd[(i+1)%len(odd)]
		for _, cloud := range clouds {
			for j, body := range bodies {
				n++
				onlineOnly := j == 1 && cloud == ""
				p := chat.SendParams{From: from, To: to, MsgSeq: seq(uint32(n)), MsgRandom: uint32(n * 7), Body: body, CloudCustomData: cloud, OnlineOnly: onlineOnly}
				res := e.send(t, p)
				if !onlineOnly {
					unread[to]++
				}
				compact, err := chat.ValidateMsgBody(body)
				if err != nil {
					t.Fatal(err)
				}
				evs := e.events(t, parley.CommandC2CAfterSendMsg)
				want := encodingJSON(t, parley.AfterSendMsg{
					CallbackCommand: parley.CommandC2CAfterSendMsg,
					FromAccount:     from,
					ToAccount:       to,
					MsgSeq:          uint32(n),
					MsgRandom:       uint32(n * 7),
					MsgTime:         res.MsgTime,
					MsgKey:          res.MsgKey,
					OnlineOnlyFlag:  map[bool]int{false: 0, true: 1}[onlineOnly],
					SendMsgResult:   0,
					ErrorInfo:       parley.SendMsgSucceedInfo,
					UnreadMsgNum:    unread[to],
					MsgBody:         compact,
					CloudCustomData: cloud,
				})
				if got := evs[len(evs)-1].Body; string(got)+"\n" != string(want) {
					t.Fatalf("event body\n got %s\nwant %s", got, want)
				}
			}
		}
	}

	// The failure event of a restricted word.
	bad := textBody("a forbidden <word>")
	_, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: `a"b`, To: `c\d`, MsgSeq: seq(1), MsgRandom: 2, Body: bad, CloudCustomData: clouds[1]})
	wantCode(t, err, parley.ErrSensitiveText)
	evs := e.events(t, parley.CommandC2CAfterSendMsg)
	want := encodingJSON(t, parley.AfterSendMsg{
		CallbackCommand: parley.CommandC2CAfterSendMsg,
		FromAccount:     `a"b`,
		ToAccount:       `c\d`,
		MsgSeq:          1,
		MsgRandom:       2,
		MsgTime:         t0.Unix(),
		MsgKey:          parley.MsgKey(1, 2, t0.Unix()),
		SendMsgResult:   parley.ErrSensitiveText,
		ErrorInfo:       parley.ErrorText(parley.ErrSensitiveText),
		UnreadMsgNum:    parley.UnreadMsgNumFailedSend,
		MsgBody:         bad,
		CloudCustomData: clouds[1],
	})
	if got := evs[len(evs)-1].Body; string(got)+"\n" != string(want) {
		t.Fatalf("failure event body\n got %s\nwant %s", got, want)
	}
}

// TestBodyCRCIsCanonical holds the duplicate key's CRC to its definition:
// CRC-32 of the body decoded and re-encoded by encoding/json (sorted keys,
// numbers as written, newline included), then CloudCustomData.
func TestBodyCRCIsCanonical(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	bodies := []string{
		`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`,
		`[ {"MsgContent" : {"Text":"hi"}, "MsgType":"TIMTextElem"} ]`,
		`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"\u00e9\/\"\\\n\t\u0001\u2028 \ud83d\ude00 \ud800 <&>","Extra":{"z":[1.50,-0,1e3,2E-2,true,false,null,{}],"a":[]}}}]`,
		"[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"raw \u2028 and \u2029, é, 😀, \x7f\"}}]",
		`[{"MsgType":"TIMFaceElem","MsgContent":{"Index":1e2,"Data":"d"}},{"MsgType":"TIMCustomElem","MsgContent":{"Ext":"e","Data":"x","Desc":"d","Sound":"s","B":1,"A":2,"AA":3,"Ab":4,"a":5,"_":6,"É":7}}]`,
		`[{"MsgType":"TIMLocationElem","MsgContent":{"Latitude":-22.5400,"Longitude":113.93e0,"Desc":""}}]`,
	}
	for i, body := range bodies {
		for _, cloud := range []string{"", "data \xff"} {
			dec := json.NewDecoder(strings.NewReader(body))
			dec.UseNumber()
			var tree any
			if err := dec.Decode(&tree); err != nil {
				t.Fatal(err)
			}
			want := crc32.ChecksumIEEE(append(encodingJSON(t, tree), cloud...))
			p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(uint32(i)), MsgRandom: 9, Body: json.RawMessage(body), CloudCustomData: cloud}
			e.send(t, p)
			_, err := e.store.MessageGetDuplicate(context.Background(), parley.MessageGetDuplicateParams{
				From: "a", To: "b", MsgSeq: uint32(i), MsgRandom: 9, BodyCRC: want, Since: 0,
			})
			if err != nil {
				t.Errorf("body %d, cloud %q: no message with the canonical CRC %08x: %v", i, cloud, want, err)
			}
		}
	}
}

// spyStore counts the duplicate checks made outside a transaction and can
// make them see a phantom: a duplicate that is not there.
type spyStore struct {
	parley.Store
	outside atomic.Int64
	phantom atomic.Pointer[parley.Message]
}

func (s *spyStore) MessageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (*parley.Message, error) {
	s.outside.Add(1)
	if m := s.phantom.Load(); m != nil {
		return m, nil
	}
	return s.Store.MessageGetDuplicate(ctx, p)
}

func spy(s *spyStore) func(*chat.Config) {
	return func(c *chat.Config) {
		s.Store = c.Store
		c.Store = s
	}
}

func TestDuplicateCheckOutsideOnlyBeforeACallback(t *testing.T) {
	s := &spyStore{}
	rec := &recorder{}
	e := setup(t, func(c *chat.Config) { spy(s)(c); c.Caller = rec })
	e.importUsers(t, "a", "b")
	p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("x")}

	first := e.send(t, p)
	if got := s.outside.Load(); got != 1 {
		t.Errorf("%d checks outside the transaction with a callback to make, want 1", got)
	}
	forbid := p
	forbid.ForbidBeforeCallback = true
	if got := e.send(t, forbid); got != first {
		t.Errorf("retry without callback = %+v, want the original %+v", got, first)
	}
	if got := s.outside.Load(); got != 1 {
		t.Errorf("%d checks outside the transaction, want still 1: no callback to spare", got)
	}
	if got := len(rec.Calls()); got != 1 {
		t.Errorf("%d callbacks, want 1", got)
	}
}

func TestDuplicateIsAnsweredInsideTheTransaction(t *testing.T) {
	s := &spyStore{}
	rec := &recorder{}
	e := setup(t, func(c *chat.Config) { spy(s)(c); c.Caller = rec })
	e.importUsers(t, "a", "b")
	p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("x")}
	first := e.send(t, p)

	// What the look outside sees only spares the callback; the answer is
	// the original the transaction finds.
	s.phantom.Store(&parley.Message{MsgTime: 1, MsgKey: "phantom", MsgID: "phantom"})
	if got := e.send(t, p); got != first {
		t.Errorf("retry = %+v, want the original %+v", got, first)
	}
	if got := len(rec.Calls()); got != 1 {
		t.Errorf("%d callbacks, want 1: the retry's is spared", got)
	}
	if got := len(e.messages(t, "b", "a")); got != 1 {
		t.Errorf("%d messages stored, want 1", got)
	}
}

func TestDuplicateGoneStartsOver(t *testing.T) {
	s := &spyStore{}
	rec := &recorder{}
	e := setup(t, func(c *chat.Config) { spy(s)(c); c.Caller = rec })
	e.importUsers(t, "a", "b")

	// The look outside sees an original the transaction does not: the
	// message is new after all, callback included.
	s.phantom.Store(&parley.Message{MsgTime: 1, MsgKey: "phantom", MsgID: "phantom"})
	res := e.send(t, chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("x")})
	if res.MsgKey != parley.MsgKey(1, 1, t0.Unix()) {
		t.Errorf("result = %+v, want the new message's", res)
	}
	if got := len(rec.Calls()); got != 1 {
		t.Errorf("%d callbacks, want 1", got)
	}
	if got := s.outside.Load(); got != 1 {
		t.Errorf("%d checks outside the transaction, want 1: the second round makes none", got)
	}
	if got := len(e.messages(t, "b", "a")); got != 1 {
		t.Errorf("%d messages stored, want 1", got)
	}
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1", got)
	}
}

func TestDuplicateGoneRestricted(t *testing.T) {
	s := &spyStore{}
	e := setup(t, func(c *chat.Config) { spy(s)(c); c.RestrictedWords = []string{"bad"} })
	e.importUsers(t, "a", "b")
	s.phantom.Store(&parley.Message{MsgTime: 1, MsgKey: "phantom", MsgID: "phantom"})
	_, err := e.eng.SendC2C(context.Background(), chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("bad")})
	wantCode(t, err, parley.ErrSensitiveText)
	if got := len(e.messages(t, "b", "a")); got != 0 {
		t.Errorf("%d messages stored, want 0", got)
	}
	evs := e.afterSend(t)
	if len(evs) != 1 || evs[0].SendMsgResult != parley.ErrSensitiveText {
		t.Errorf("after-send events %+v, want the one failure", evs)
	}
}

// TestRetryOfCleanedMessage: a message a callback cleaned of a restricted
// word is a duplicate when retried without the callback, not an 80001.
func TestRetryOfCleanedMessage(t *testing.T) {
	s := &spyStore{}
	rec := &recorder{reply: func([]byte) (parley.CallbackReply, error) {
		return parley.CallbackReply{MsgBody: textBody("clean")}, nil
	}}
	e := setup(t, func(c *chat.Config) { spy(s)(c); c.Caller = rec; c.RestrictedWords = []string{"bad"} })
	e.importUsers(t, "a", "b")
	p := chat.SendParams{From: "a", To: "b", MsgSeq: seq(1), MsgRandom: 1, Body: textBody("bad")}
	first := e.send(t, p)

	p.ForbidBeforeCallback = true
	if got := e.send(t, p); got != first {
		t.Errorf("retry = %+v, want the original %+v", got, first)
	}
	if got := len(e.afterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1: no failure for a duplicate", got)
	}

	// Not a retry: the word check answers.
	p.MsgSeq = seq(2)
	_, err := e.eng.SendC2C(context.Background(), p)
	wantCode(t, err, parley.ErrSensitiveText)
}
