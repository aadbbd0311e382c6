package delivery_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// A before-send receiver that hangs costs sendmsg the callback timeout
// only until the breaker opens; from then on sendmsg applies the
// before-send policy at once, without calling the receiver.
func TestSendmsgFailsFastOnceTheBeforeSendBreakerOpens(t *testing.T) {
	const (
		timeout   = 300 * time.Millisecond
		threshold = 2
	)
	tests := []struct {
		policy   string
		wantCode int64
	}{
		{server.PolicyDeliver, 0},
		{server.PolicyReject, 80003},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			var beforeSends atomic.Int64
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("CallbackCommand") == parley.CommandC2CBeforeSendMsg {
					beforeSends.Add(1)
					select {
					case <-r.Context().Done():
					case <-t.Context().Done():
					}
					return
				}
				io.WriteString(w, parleytest.OKReply)
			}))
			t.Cleanup(rcv.Close)
			srv := parleytest.Start(t, server.Options{
				CallbackURL: rcv.URL, CallbackTimeout: timeout, BeforeSendPolicy: tt.policy,
				BreakerThreshold: threshold, BreakerCooldown: time.Hour,
			})
			for _, id := range []string{"alice", "bob"} {
				parleytest.OK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
			}
			send := func(i int) (code int64, took time.Duration) {
				start := time.Now()
				resp := srv.Post(t, "openim", "sendmsg", map[string]any{
					"From_Account": "alice", "To_Account": "bob", "MsgRandom": i,
					"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": fmt.Sprint("hi ", i)}}},
				})
				return parleytest.Int(t, resp, "ErrorCode"), time.Since(start)
			}

			for i := range threshold {
				code, took := send(i)
				if code != tt.wantCode || took < timeout {
					t.Errorf("sendmsg %d: ErrorCode %d after %v, want %d after the %v timeout", i+1, code, took, tt.wantCode, timeout)
				}
			}
			for i := threshold; i < threshold+20; i++ {
				code, took := send(i)
				if code != tt.wantCode || took >= timeout {
					t.Errorf("sendmsg %d with the breaker open: ErrorCode %d after %v, want %d well under the %v timeout", i+1, code, took, tt.wantCode, timeout)
				}
			}
			if got := beforeSends.Load(); got != threshold {
				t.Errorf("receiver got %d before-send callbacks, want %d: none once the breaker is open", got, threshold)
			}
		})
	}
}
