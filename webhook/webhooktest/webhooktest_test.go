package webhooktest_test

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/webhook"
	"github.com/parley-im/parley/webhook/webhooktest"
)

func TestNewSecretIsAcceptedByTheVerifier(t *testing.T) {
	a, b := webhooktest.NewSecret(), webhooktest.NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("NewSecret gave %q and %q, want two distinct whsec_ secrets", a, b)
	}
	key, err := webhook.ParseSecret(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(key), 32; got != want {
		t.Errorf("key is %d bytes, want %d", got, want)
	}
	v, err := webhook.NewVerifier([]string{b}, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"CallbackCommand":"x"}`)
	r := webhooktest.NewRequest("x", body, webhooktest.Options{Secrets: []string{a, b}})
	if got := strings.Count(r.Header.Get(webhook.HeaderSignature), "v1,"); got != 2 {
		t.Errorf("signature entries = %d, want 2", got)
	}
	sent, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(r.Header, sent, timeOf(t, r.Header.Get(webhook.HeaderTimestamp))); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := r.Header.Get(webhook.HeaderID); !strings.HasPrefix(got, "evt_") || len(got) != 30 {
		t.Errorf("generated event id %q, want evt_ and 26 characters", got)
	}
}

func timeOf(t *testing.T, unix string) time.Time {
	t.Helper()
	s, err := strconv.ParseInt(unix, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(s, 0)
}
