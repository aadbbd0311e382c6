package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parley-im/parley/webhook"
	"github.com/parley-im/parley/webhook/webhooktest"
)

// FuzzHandlerDecode feeds arbitrary bodies to the Handler under every
// command. Whatever the body, it must answer with JSON and a status from
// its documented set, and a body it hands to a func must survive a
// second round trip unchanged.
func FuzzHandlerDecode(f *testing.F) {
	for _, s := range readSamples(f) {
		f.Add(s.command, s.body)
	}
	f.Add(webhook.CommandC2CAfterSendMsg, []byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","MsgSeq":-1}`))
	f.Add(webhook.CommandGroupAfterRecallMsg, []byte(`{"CallbackCommand":"Group.CallbackAfterRecallMsg","MsgSeqList":null}`))
	f.Add("Other.Command", []byte(`{"CallbackCommand":"Other.Command"}`))
	f.Add(webhook.CommandC2CAfterMsgExtension, []byte(`null`))

	f.Fuzz(func(t *testing.T, command string, body []byte) {
		h, rec := setup(t, nil)
		o := signedOpts()
		r := webhooktest.NewRequest(command, body, o)
		code, resp := serve(h, r)
		switch code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("status %d for %q %q", code, command, body)
		}
		if !json.Valid([]byte(resp)) {
			t.Fatalf("answer %q is not JSON", resp)
		}
		for _, ev := range rec.events {
			again, err := roundTrip(ev.Command, ev.Body)
			if err != nil {
				t.Fatalf("re-decoding %s: %v", ev.Body, err)
			}
			if !bytes.Equal(again, ev.Body) {
				t.Fatalf("second round trip changed %s to %s", ev.Body, again)
			}
		}
	})
}
