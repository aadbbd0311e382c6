package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

// The Standard Webhooks test vector, from the reference implementations
// (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign). Its key is 24 bytes, the shortest the spec allows.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestWebhookSignatureTestVector(t *testing.T) {
	got, err := delivery.WebhookSignature([]string{vectorSecret}, vectorID, vectorTimestamp, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Errorf("WebhookSignature = %s, want %s", got, vectorSignature)
	}
}

func TestWebhookSignatureOneEntryPerSecret(t *testing.T) {
	next := newSecret(t)
	got, err := delivery.WebhookSignature([]string{next, vectorSecret}, vectorID, vectorTimestamp, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{hmacEntry(t, next, vectorID, strconv.Itoa(vectorTimestamp), []byte(vectorBody)), vectorSignature}
	if entries := strings.Split(got, " "); !slices.Equal(entries, want) {
		t.Errorf("WebhookSignature = %q, want entries %q", got, want)
	}

	if _, err := delivery.WebhookSignature(nil, vectorID, vectorTimestamp, []byte(vectorBody)); err == nil {
		t.Error("WebhookSignature with no secrets succeeded")
	}
}

func TestNewSecret(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	if a == b {
		t.Fatalf("two NewSecret calls gave the same secret %s", a)
	}
	for _, s := range []string{a, b} {
		encoded, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			t.Errorf("secret %q lacks the whsec_ prefix", s)
		}
		if key, err := base64.StdEncoding.DecodeString(encoded); err != nil || len(key) != 32 {
			t.Errorf("secret %q: %d bytes (%v), want the padded standard base64 of 32 bytes", s, len(key), err)
		}
		if err := delivery.ValidateSecret(s); err != nil {
			t.Errorf("ValidateSecret(NewSecret()) = %v", err)
		}
	}
}

// badSecrets are secrets every constructor must refuse, with what the
// error must say.
var badSecrets = []struct {
	name, secret, want string
}{
	{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `must start with "whsec_"`},
	{"other prefix", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `must start with "whsec_"`},
	{"empty", "", `must start with "whsec_"`},
	{"only the prefix", "whsec_", "0 bytes"},
	{"not base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa$w", "not standard base64"},
	{"url alphabet", "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32))), "not standard base64"},
	{"missing padding", "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), "not standard base64"},
	{"16 bytes", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "16 bytes after base64 decoding, want at least 24"},
}

func TestValidateSecret(t *testing.T) {
	for _, good := range []string{vectorSecret, "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64))} {
		if err := delivery.ValidateSecret(good); err != nil {
			t.Errorf("ValidateSecret(%q) = %v, want nil", good, err)
		}
	}
	for _, tt := range badSecrets {
		t.Run(tt.name, func(t *testing.T) {
			err := delivery.ValidateSecret(tt.secret)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateSecret = %v, want an error containing %q", err, tt.want)
			}
			if key := strings.TrimPrefix(tt.secret, "whsec_"); key != "" && strings.Contains(err.Error(), key) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestConstructorsRejectBadSecrets(t *testing.T) {
	s := newStore(t)
	for _, tt := range badSecrets {
		t.Run(tt.name, func(t *testing.T) {
			secrets := []string{vectorSecret, tt.secret}
			_, err := delivery.NewCaller(delivery.CallerConfig{URL: "http://example.com/cb", SDKAppID: testAppID, Secrets: secrets})
			if err == nil || !strings.Contains(err.Error(), "Secrets[1]") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewCaller() error = %v, want one naming Secrets[1] and containing %q", err, tt.want)
			}
			_, err = delivery.NewWorker(delivery.WorkerConfig{Store: s, URL: "http://example.com/cb", SDKAppID: testAppID, Secrets: secrets})
			if err == nil || !strings.Contains(err.Error(), "Secrets[1]") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewWorker() error = %v, want one naming Secrets[1] and containing %q", err, tt.want)
			}
		})
	}
}

// signingCases are the secret configurations the HTTP tests run with.
var signingCases = []struct {
	name    string
	secrets func(t *testing.T) []string
}{
	{"no secrets", func(*testing.T) []string { return nil }},
	{"one secret", func(t *testing.T) []string { return []string{newSecret(t)} }},
	{"rotation", func(t *testing.T) []string { return []string{newSecret(t), vectorSecret} }},
}

func TestCallerSignsStandardWebhooks(t *testing.T) {
	for _, tt := range signingCases {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets(t)
			rc := newReceiver(t, answer(http.StatusOK, okReply))
			c, err := delivery.NewCaller(delivery.CallerConfig{URL: rc.URL, Token: "tok", SDKAppID: testAppID, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			body := []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg",  "MsgBody":[ ]}`)
			before := time.Now().Unix()
			for range 2 {
				if _, err := c.Call(context.Background(), parley.CommandC2CBeforeSendMsg, body, testOrigin); err != nil {
					t.Fatalf("Call: %v", err)
				}
			}
			after := time.Now().Unix()

			hits := rc.Hits()
			if len(hits) != 2 {
				t.Fatalf("receiver got %d requests, want 2", len(hits))
			}
			for _, h := range hits {
				checkStandardWebhook(t, h, secrets, h.Header.Get("X-Parley-Event-Id"), before, after)
			}
			if secrets != nil && hits[0].Header.Get("webhook-id") == hits[1].Header.Get("webhook-id") {
				t.Errorf("two before-send calls share webhook-id %q, want a fresh one per call", hits[0].Header.Get("webhook-id"))
			}
		})
	}
}

func TestWorkerSignsStandardWebhooks(t *testing.T) {
	for _, tt := range signingCases {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets(t)
			s := newStore(t)
			rc := newReceiver(t, func(n int, _ *http.Request) (int, string) {
				if n == 1 {
					return http.StatusInternalServerError, `{"ActionStatus":"FAIL"}`
				}
				return http.StatusOK, okReply
			})
			body := `{"CallbackCommand":"C2C.CallbackAfterSendMsg",  "From_Account":"al\u0069ce"}`
			e := insertEvent(t, s, body)
			before := time.Now().Unix()
			w := newWorker(t, delivery.WorkerConfig{
				Store: s, URL: rc.URL, Token: "tok", Secrets: secrets,
				RetrySchedule: []time.Duration{10 * time.Millisecond},
			})
			w.Start()
			waitState(t, s, e.ID, parley.EventDelivered)
			after := time.Now().Unix()

			hits := rc.Hits()
			if len(hits) != 2 {
				t.Fatalf("receiver got %d requests, want 2 (a failure and its retry)", len(hits))
			}
			for _, h := range hits {
				// The same webhook-id on the retry: it is what receivers
				// drop duplicates by.
				checkStandardWebhook(t, h, secrets, e.ID, before, after)
			}
		})
	}
}

// checkStandardWebhook checks the Standard Webhooks headers of h against
// secrets, computing the signatures itself: webhook-id is wantID,
// webhook-timestamp is in [before, after] and equals RequestTime, and
// webhook-signature holds one entry per secret, in order. With no secrets
// there must be no such header.
func checkStandardWebhook(t *testing.T, h hit, secrets []string, wantID string, before, after int64) {
	t.Helper()
	if len(secrets) == 0 {
		for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			if v, ok := h.Header[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("header %s = %q without secrets, want none", name, v)
			}
		}
		return
	}
	id, ts, sig := h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp"), h.Header.Get("webhook-signature")
	if id != wantID || !strings.HasPrefix(id, "evt_") {
		t.Errorf("webhook-id = %q, want %q", id, wantID)
	}
	if got := h.Header.Get("X-Parley-Event-Id"); got != id {
		t.Errorf("X-Parley-Event-Id = %q, webhook-id = %q: want them equal", got, id)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n < before || n > after {
		t.Errorf("webhook-timestamp = %q, want Unix seconds in [%d, %d]", ts, before, after)
	}
	if rt := h.Query.Get("RequestTime"); rt != ts {
		t.Errorf("RequestTime = %q, webhook-timestamp = %q: want them equal", rt, ts)
	}
	var want []string
	for _, secret := range secrets {
		want = append(want, hmacEntry(t, secret, id, ts, h.Body))
	}
	if got := strings.Split(sig, " "); !slices.Equal(got, want) {
		t.Errorf("webhook-signature = %q, want entries %q", sig, want)
	}
}

// hmacEntry is one webhook-signature entry, computed as the spec says,
// independently of the package.
func hmacEntry(t *testing.T, secret, id, timestamp string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
