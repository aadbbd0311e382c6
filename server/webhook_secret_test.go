package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// testSecret is the Standard Webhooks test vector's secret.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkGeneratedSecret checks that s is what parley generates: "whsec_"
// and the padded standard base64 of 32 bytes.
func checkGeneratedSecret(t *testing.T, s string) {
	t.Helper()
	encoded, ok := strings.CutPrefix(s, "whsec_")
	key, err := base64.StdEncoding.DecodeString(encoded)
	if !ok || err != nil || len(key) != 32 {
		t.Errorf("WebhookSecret = %q, want whsec_ and the base64 of 32 bytes", s)
	}
}

func TestOldAppFileGetsAWebhookSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, server.AppFile)
	// As written before parley signed webhooks, plus a field this version
	// does not know, which must survive the upgrade.
	old := `{"SDKAppID":1400012345,"SecretKey":"` + strings.Repeat("cd", 32) + `","Admin":"boss","Note":{"kept":true}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}

	app, created, err := server.LoadOrCreateApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("created = true for an existing app.json")
	}
	checkGeneratedSecret(t, app.WebhookSecret)
	want := server.App{SDKAppID: 1400012345, SecretKey: strings.Repeat("cd", 32), Admin: "boss", WebhookSecret: app.WebhookSecret}
	if app != want {
		t.Errorf("upgraded app = %+v, want %+v", app, want)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("app.json after the upgrade: %v\n%s", err, b)
	}
	if got, want := fields["WebhookSecret"], app.WebhookSecret; got != want {
		t.Errorf("app.json WebhookSecret = %v, want %q", got, want)
	}
	if got, ok := fields["Note"].(map[string]any); !ok || got["kept"] != true {
		t.Errorf("app.json Note = %v, want the unknown field kept", fields["Note"])
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("app.json mode = %v, want 0600", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only app.json (no temp files left)", len(entries))
	}

	// Written once: the next start reads the same secret.
	again, _, err := server.LoadOrCreateApp(dir)
	if err != nil || again != app {
		t.Errorf("second LoadOrCreateApp = %+v, %v; want %+v", again, err, app)
	}
	s := parleytest.Start(t, server.Options{DataDir: dir})
	if got := s.App(); got != app {
		t.Errorf("server on the upgraded directory: App() = %+v, want %+v", got, app)
	}
}

func TestWebhookSecretPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	var secrets [][]string
	for range 2 {
		s, err := server.New(server.Options{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s.WebhookSecrets())
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := server.LoadApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkGeneratedSecret(t, stored.WebhookSecret)
	for i, got := range secrets {
		if want := []string{stored.WebhookSecret}; !slices.Equal(got, want) {
			t.Errorf("start %d: WebhookSecrets() = %q, want app.json's %q", i+1, got, want)
		}
	}

	// Another data directory, another secret.
	other := parleytest.Start(t, server.Options{})
	if other.App().WebhookSecret == stored.WebhookSecret {
		t.Errorf("two data directories generated the same webhook secret %q", stored.WebhookSecret)
	}
}

func TestWebhooksCarryStandardWebhooksSignatures(t *testing.T) {
	next := newSecret(t)
	tests := []struct {
		name      string
		override  []string
		useStored bool // signed with app.json's secret
	}{
		{name: "the app's secret", useStored: true},
		{name: "one given secret", override: []string{next}},
		{name: "rotation", override: []string{next, testSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			stored, _, err := server.LoadOrCreateApp(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.override
			if tt.useStored {
				want = []string{stored.WebhookSecret}
			}

			rcv := parleytest.NewReceiver(t)
			s := parleytest.Start(t, server.Options{
				DataDir:          dir,
				CallbackURL:      rcv.URL,
				CallbackToken:    "tok",
				WebhookSecrets:   tt.override,
				CallbackCommands: []string{parley.CommandC2CBeforeSendMsg, parley.CommandC2CAfterSendMsg},
			})
			if got := s.WebhookSecrets(); !slices.Equal(got, want) {
				t.Errorf("WebhookSecrets() = %q, want %q", got, want)
			}
			importUsers(t, s, "alice", "bob")
			before := time.Now().Unix()
			parleytest.OK(t, s.Post(t, "openim", "sendmsg", map[string]any{
				"From_Account": "alice", "To_Account": "bob", "MsgRandom": 5, "MsgBody": textBody("hi"),
			}))
			reqs := rcv.WaitFor(t, 2, 10*time.Second)
			after := time.Now().Unix()

			var commands []string
			for _, r := range reqs {
				commands = append(commands, r.Query.Get("CallbackCommand"))
				checkSigned(t, r, want, before, after)
				if !tt.useStored && strings.Contains(r.Header.Get("webhook-signature"), entry(t, stored.WebhookSecret, r)) {
					t.Errorf("%s is signed with app.json's secret too, want only the given ones", r.Query.Get("CallbackCommand"))
				}
			}
			slices.Sort(commands)
			if want := []string{parley.CommandC2CAfterSendMsg, parley.CommandC2CBeforeSendMsg}; !slices.Equal(commands, want) {
				t.Errorf("callbacks = %v, want %v", commands, want)
			}
		})
	}
}

// checkSigned verifies r's Standard Webhooks headers against secrets,
// computing each HMAC itself.
func checkSigned(t *testing.T, r parleytest.Request, secrets []string, before, after int64) {
	t.Helper()
	command := r.Query.Get("CallbackCommand")
	id := r.Header.Get("webhook-id")
	if id == "" || id != r.Header.Get("X-Parley-Event-Id") {
		t.Errorf("%s: webhook-id = %q, X-Parley-Event-Id = %q: want them equal and set", command, id, r.Header.Get("X-Parley-Event-Id"))
	}
	ts := r.Header.Get("webhook-timestamp")
	if n := parseInt(t, ts); n < before || n > after {
		t.Errorf("%s: webhook-timestamp = %d, want within [%d, %d]", command, n, before, after)
	}
	var want []string
	for _, secret := range secrets {
		want = append(want, entry(t, secret, r))
	}
	if got := strings.Split(r.Header.Get("webhook-signature"), " "); !slices.Equal(got, want) {
		t.Errorf("%s: webhook-signature = %q, want %q", command, got, want)
	}
}

// entry is the webhook-signature entry secret gives r.
func entry(t *testing.T, secret string, r parleytest.Request) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(r.Body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
