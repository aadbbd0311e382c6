package webhook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/parley-im/parley/webhook"
	"github.com/parley-im/parley/webhook/webhooktest"
)

func ExampleHandler() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from parley's data directory or --webhook-secret
	h, err := webhook.NewHandler(webhook.Config{
		SDKAppID: 1400000000,
		Secrets:  []string{secret},
		Dedup:    webhook.NewMemoryDedup(webhook.MemoryDedupConfig{}),
		OnC2CAfterSendMsg: func(ctx context.Context, ev webhook.Event[webhook.C2CAfterSendMsg]) error {
			fmt.Printf("%s -> %s: %s\n", ev.Body.FromAccount, ev.Body.ToAccount, ev.Body.MsgBody)
			return nil // an error makes parley retry the event later
		},
	})
	if err != nil {
		panic(err)
	}
	// In a server: http.Handle("/parley", h). Here a request as parley sends it:
	body := `{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"jared","To_Account":"Jonh",` +
		`"MsgSeq":1,"MsgRandom":2,"MsgTime":1557481126,"MsgKey":"1_2_1557481126","OnlineOnlyFlag":0,` +
		`"SendMsgResult":0,"ErrorInfo":"send msg succeed","UnreadMsgNum":1,` +
		`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`
	opts := webhooktest.Options{Secrets: []string{secret}, EventID: "evt_example"}
	for range 2 { // the second is a duplicate: answered, not handled again
		w := httptest.NewRecorder()
		h.ServeHTTP(w, webhooktest.NewRequest(webhook.CommandC2CAfterSendMsg, []byte(body), opts))
		fmt.Println(w.Code, w.Body)
	}
	// Output:
	// jared -> Jonh: [{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]
	// 200 {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}
	// 200 {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}
}

func ExampleHandler_beforeSend() {
	h, err := webhook.NewHandler(webhook.Config{
		SDKAppID: 1400000000,
		Token:    "xxxxyyyy",
		OnGroupBeforeSendMsg: func(ctx context.Context, ev webhook.Event[webhook.GroupBeforeSendMsg]) webhook.BeforeSendReply {
			elems, err := webhook.MsgElements(ev.Body.MsgBody)
			if err != nil {
				return webhook.Block()
			}
			for _, e := range elems {
				if strings.Contains(string(e.MsgContent), "spam") {
					return webhook.Custom(10100, "no spam here") // the sender gets 10100
				}
			}
			return webhook.AllowWith([]webhook.MsgElement{webhook.TextElem("[checked] hello")}, nil)
		},
	})
	if err != nil {
		panic(err)
	}
	for _, text := range []string{"hello", "buy spam"} {
		body := `{"CallbackCommand":"Group.CallbackBeforeSendMsg","GroupId":"g1","Type":"Public",` +
			`"From_Account":"jared","Operator_Account":"jared","Random":7,"MsgId":"","OnlineOnlyFlag":0,` +
			`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + text + `"}}],"EventTime":1670574414123}`
		w := httptest.NewRecorder()
		h.ServeHTTP(w, webhooktest.NewRequest(webhook.CommandGroupBeforeSendMsg, []byte(body), webhooktest.Options{Token: "xxxxyyyy"}))
		fmt.Println(w.Code, w.Body)
	}
	// Output:
	// 200 {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"[checked] hello"}}]}
	// 200 {"ActionStatus":"OK","ErrorCode":10100,"ErrorInfo":"no spam here"}
}
