package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// TestWebhookConcurrencyCapsRequestsInFlight: with WebhookConcurrency 2
// and eight conversations' webhooks due at once, the receiver sees two
// requests in flight and never three. Each request is held until a third
// arrives or 100 ms pass, so a cap that let more through would show.
func TestWebhookConcurrencyCapsRequestsInFlight(t *testing.T) {
	const limit = 2
	var (
		mu       sync.Mutex
		inFlight int
		most     int
		third    = make(chan struct{})
		thirdSet bool
	)
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight > limit && !thirdSet {
			thirdSet = true
			close(third)
		}
		mu.Unlock()
		select {
		case <-third:
		case <-time.After(100 * time.Millisecond): // the window in which a third request would show
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return 200, parleytest.OKReply
	})
	srv := parleytest.Start(t, server.Options{
		CallbackURL:        rcv.URL,
		CallbackCommands:   []string{parley.CommandC2CAfterSendMsg},
		WebhookConcurrency: limit,
	})
	const pairs = 8
	for i := range pairs * 2 {
		parleytest.OK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": fmt.Sprint("u", i)}))
	}
	for i := range pairs {
		parleytest.OK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
			"From_Account": fmt.Sprint("u", 2*i), "To_Account": fmt.Sprint("u", 2*i+1), "MsgRandom": i,
			"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": "hi"}}},
		}))
	}
	rcv.WaitFor(t, pairs, 10*time.Second)
	srv.WaitOutboxDrained(t, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if most != limit {
		t.Errorf("at most %d webhook requests were in flight at once, want %d", most, limit)
	}
}
