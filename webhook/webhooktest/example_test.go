package webhooktest_test

import (
	"fmt"
	"time"

	"github.com/parley-im/parley/webhook"
	"github.com/parley-im/parley/webhook/webhooktest"
)

func ExampleNewRequest() {
	body := []byte(`{"CallbackCommand":"C2C.CallbackAfterMsgWithDraw","From_Account":"jared","To_Account":"Jonh","MsgKey":"48374_2837546_1557481126","UnreadMsgNum":7}`)
	r := webhooktest.NewRequest(webhook.CommandC2CAfterMsgWithdraw, body, webhooktest.Options{
		SDKAppID: 1400000000,
		Token:    "xxxxyyyy",
		Secrets:  []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		EventID:  "evt_example",
		Attempt:  1,
		Time:     time.Unix(1669872112, 0),
	})
	q := r.URL.Query()
	fmt.Println(q.Get("SdkAppid"), q.Get("CallbackCommand"), q.Get("RequestTime"))
	fmt.Println(q.Get("Sign"))
	fmt.Println(r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("X-Parley-Attempt"))
	fmt.Println(r.Header.Get("webhook-signature") != "")
	// Output:
	// 1400000000 C2C.CallbackAfterMsgWithDraw 1669872112
	// 17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061
	// evt_example 1669872112 1
	// true
}
