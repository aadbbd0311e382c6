package delivery_test

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

func TestNewCallerRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  delivery.CallerConfig
		want string
	}{
		{"no URL", delivery.CallerConfig{SDKAppID: testAppID}, "URL is required"},
		{"bad scheme", delivery.CallerConfig{URL: "ftp://example.com/cb", SDKAppID: testAppID}, "scheme"},
		{"relative URL", delivery.CallerConfig{URL: "/cb", SDKAppID: testAppID}, "scheme"},
		{"no host", delivery.CallerConfig{URL: "http:///cb", SDKAppID: testAppID}, "no host"},
		{"unparsable URL", delivery.CallerConfig{URL: "http://exa mple.com/%zz", SDKAppID: testAppID}, "URL"},
		{"no SDKAppID", delivery.CallerConfig{URL: "http://example.com/cb"}, "SDKAppID"},
		{"negative timeout", delivery.CallerConfig{URL: "http://example.com/cb", SDKAppID: testAppID, Timeout: -time.Second}, "Timeout"},
		{"negative cool-down", delivery.CallerConfig{URL: "http://example.com/cb", SDKAppID: testAppID, BreakerCooldown: -time.Second}, "BreakerCooldown"},
		{"negative max cool-down", delivery.CallerConfig{URL: "http://example.com/cb", SDKAppID: testAppID, BreakerMaxCooldown: -time.Second}, "BreakerMaxCooldown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := delivery.NewCaller(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewCaller() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCallerCall(t *testing.T) {
	const reply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,` +
		`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"rewritten"}}],"CloudCustomData":"custom"}`
	rc := newReceiver(t, answer(http.StatusOK, reply))
	now := time.Unix(1669872112, 0)
	c, err := delivery.NewCaller(delivery.CallerConfig{
		URL: rc.URL + "/before?tenant=a", Token: "xxxxyyyy", SDKAppID: testAppID,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg", "MsgBody":[]}`)

	got, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, body, testOrigin)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got.ActionStatus != "OK" || got.ErrorCode != 0 {
		t.Errorf("reply = %+v, want ActionStatus OK, ErrorCode 0", got)
	}
	if want := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"rewritten"}}]`; string(got.MsgBody) != want {
		t.Errorf("MsgBody = %s, want %s", got.MsgBody, want)
	}
	if got.CloudCustomData == nil || *got.CloudCustomData != "custom" {
		t.Errorf("CloudCustomData = %v, want custom", got.CloudCustomData)
	}

	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(hits))
	}
	h := hits[0]
	wantQuery := "tenant=a&SdkAppid=1400000001&CallbackCommand=C2C.CallbackBeforeSendMsg&contenttype=json" +
		"&ClientIP=203.0.113.7&OptPlatform=RESTAPI" +
		"&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112"
	if h.Method != http.MethodPost || h.Path != "/before" || h.RawQuery != wantQuery {
		t.Errorf("request = %s %s?%s\nwant POST /before?%s", h.Method, h.Path, h.RawQuery, wantQuery)
	}
	if string(h.Body) != string(body) {
		t.Errorf("body = %s, want %s", h.Body, body)
	}
	if got := h.Header.Get("X-Parley-Event-Id"); !strings.HasPrefix(got, "evt_") {
		t.Errorf("X-Parley-Event-Id = %q, want an event id", got)
	}
	if got, ok := h.Header["X-Parley-Attempt"]; ok {
		t.Errorf("X-Parley-Attempt = %q, want none on a before-callback", got)
	}
	if got := h.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := h.Header.Get("User-Agent"); got != "parley" {
		t.Errorf("User-Agent = %q, want parley", got)
	}
}

func TestCallerFailures(t *testing.T) {
	tests := []struct {
		name    string
		reply   replyFunc
		want    string
		timeout time.Duration // zero: long enough never to matter
	}{
		{"HTTP 500", answer(http.StatusInternalServerError, okReply), "HTTP 500", 0},
		{"HTTP 204", answer(http.StatusNoContent, ""), "HTTP 204", 0},
		{"not JSON", answer(http.StatusOK, "OK"), "not a JSON", 0},
		{"JSON array", answer(http.StatusOK, "[]"), "not a JSON object", 0},
		{"empty body", answer(http.StatusOK, ""), "not a JSON object", 0},
		{"wrong type", answer(http.StatusOK, `{"ErrorCode":"0"}`), "ErrorCode", 0},
		{"too large", answer(http.StatusOK, `{"ErrorInfo":"`+strings.Repeat("x", 70<<10)+`"}`), "larger than", 0},
		{"timeout", hang(t), "timed out after 100ms", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.reply)
			c, err := delivery.NewCaller(delivery.CallerConfig{URL: rc.URL, SDKAppID: testAppID, Timeout: cmp.Or(tt.timeout, time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			got, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Call() = %+v, %v; want an error mentioning %q", got, err, tt.want)
			}
			if n := len(rc.Hits()); n != 1 {
				t.Errorf("receiver got %d requests, want 1 (never retried)", n)
			}
		})
	}
}

func TestCallerUnreachable(t *testing.T) {
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	url := rc.URL
	rc.Close()
	c, err := delivery.NewCaller(delivery.CallerConfig{URL: url, Token: "secret", SDKAppID: testAppID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
	if err == nil {
		t.Fatal("Call to a closed server succeeded")
	}
	if strings.Contains(err.Error(), "Sign=") {
		t.Errorf("error %q leaks the signed URL", err)
	}
}

func TestCallerContextCanceled(t *testing.T) {
	rc := newReceiver(t, hang(t))
	c, err := delivery.NewCaller(delivery.CallerConfig{URL: rc.URL, SDKAppID: testAppID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, parley.CommandC2CBeforeSendMsg, []byte(`{}`), testOrigin)
		errc <- err
	}()
	waitFor(t, 5*time.Second, "the request to arrive", func() bool { return len(rc.Hits()) == 1 })
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Errorf("Call() error = %v, want one saying canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call did not return after its context was canceled")
	}
}

// TestCallerSend: one after-callback event, sent as the worker's n-th
// attempt and judged by the worker's rule (any JSON with HTTP 200), which
// is looser than a before-send call's (a JSON object).
func TestCallerSend(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		delivered bool
	}{
		{"ok", http.StatusOK, okReply, true},
		{"any JSON", http.StatusOK, `[1]`, true},
		{"not JSON", http.StatusOK, `ok`, false},
		{"500", http.StatusInternalServerError, okReply, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, answer(tt.status, tt.body))
			c, err := delivery.NewCaller(delivery.CallerConfig{URL: rc.URL, SDKAppID: testAppID})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			ev := &parley.Event{ID: "evt_send", Command: parley.CommandC2CAfterSendMsg, Body: []byte(`{}`), Origin: testOrigin}
			err = c.Send(context.Background(), ev, 3)
			if got := err == nil; got != tt.delivered {
				t.Fatalf("Send: %v, want delivered %v", err, tt.delivered)
			}
			hits := rc.Hits()
			if len(hits) != 1 {
				t.Fatalf("%d requests, want 1: Send does not retry", len(hits))
			}
			h := hits[0]
			if h.Header.Get("X-Parley-Attempt") != "3" || h.Header.Get("X-Parley-Event-Id") != "evt_send" || h.Query.Get("CallbackCommand") != parley.CommandC2CAfterSendMsg {
				t.Errorf("request: headers %v, query %v", h.Header, h.Query)
			}
		})
	}
}
