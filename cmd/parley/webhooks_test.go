package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// triggerSetup is a data directory with a generated app.json and a
// receiver to trigger against.
func triggerSetup(t *testing.T) (dir string, app server.App, rcv *parleytest.Receiver) {
	t.Helper()
	dir = t.TempDir()
	app, _, err := server.LoadOrCreateApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, app, parleytest.NewReceiver(t)
}

func triggerEnv(m map[string]string) lookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func runTriggerCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"webhooks", "trigger"}, args...), triggerEnv(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// signatureVerifies checks a webhook-signature header the way a receiver
// would, computing the HMAC itself rather than trusting delivery's.
func signatureVerifies(t *testing.T, secret string, r parleytest.Request) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(r.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return slices.Contains(strings.Fields(r.Header.Get("webhook-signature")), want)
}

// seedFiles are Tencent's samples of the commands that have one; the
// sample events use their values, so the bodies must equal them.
var seedFiles = map[string]string{
	parley.CommandC2CAfterSendMsg:     "../../testdata/seeds/C2C.CallbackAfterSendMsg.json",
	parley.CommandC2CAfterWithdraw:    "../../testdata/seeds/C2C.CallbackAfterMsgWithDraw.json",
	parley.CommandC2CAfterExtension:   "../../testdata/seeds/C2C.CallbackAfterC2CMsgExtension.set.json",
	parley.CommandGroupAfterSendMsg:   "../../testdata/tencent/Group.CallbackAfterSendMsg.json",
	parley.CommandGroupAfterExtension: "../../testdata/seeds/Group.CallbackAfterGroupMsgExtension.set.json",
}

func TestTriggerListsEveryCommand(t *testing.T) {
	code, stdout, stderr := runTriggerCmd(t, nil, "--list")
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	var got []string
	for line := range strings.Lines(stdout) {
		got = append(got, strings.Fields(line)[0])
	}
	if !slices.Equal(got, parley.Commands) {
		t.Errorf("--list commands = %v, want parley.Commands %v", got, parley.Commands)
	}
}

func TestTriggerSendsWhatParleySends(t *testing.T) {
	const token = "callback-token-1"
	for _, sample := range sampleEvents() {
		t.Run(sample.command, func(t *testing.T) {
			dir, app, rcv := triggerSetup(t)
			start := time.Now().Unix()
			code, stdout, stderr := runTriggerCmd(t, nil, sample.command,
				"--data", dir, "--callback-url", rcv.URL+"/hook?app=demo", "--callback-token", token)
			end := time.Now().Unix()
			if code != 0 {
				t.Fatalf("exit status %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			r := reqs[0]

			want, err := marshalBody(sample.body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Body, want) {
				t.Errorf("body = %s\nwant %s", r.Body, want)
			}
			decoded := reflect.New(reflect.TypeOf(sample.body))
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(decoded.Interface()); err != nil {
				t.Fatalf("body does not decode into %T: %v", sample.body, err)
			}
			if got := decoded.Elem().Interface(); !reflect.DeepEqual(got, sample.body) {
				t.Errorf("decoded body = %+v, want %+v", got, sample.body)
			}
			if seed, ok := seedFiles[sample.command]; ok {
				raw, err := os.ReadFile(seed)
				if err != nil {
					t.Fatal(err)
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, raw); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Body, compact.Bytes()) {
					t.Errorf("body = %s\nwant the sample of %s: %s", r.Body, seed, compact.Bytes())
				}
			}

			q := r.Query
			for name, want := range map[string]string{
				"app":             "demo",
				"SdkAppid":        strconv.FormatUint(app.SDKAppID, 10),
				"CallbackCommand": sample.command,
				"contenttype":     "json",
				"ClientIP":        "127.0.0.1",
				"OptPlatform":     parley.OptPlatformREST,
			} {
				if got := q.Get(name); got != want {
					t.Errorf("query %s = %q, want %q", name, got, want)
				}
			}
			requestTime, err := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
			if err != nil || requestTime < start || requestTime > end {
				t.Errorf("RequestTime = %q, want a Unix time in [%d, %d]", q.Get("RequestTime"), start, end)
			}
			if got, want := q.Get("Sign"), delivery.Sign(token, requestTime); got != want {
				t.Errorf("Sign = %q, want %q", got, want)
			}

			eventID := r.Header.Get("X-Parley-Event-Id")
			if !strings.HasPrefix(eventID, "evt_") {
				t.Errorf("X-Parley-Event-Id = %q, want evt_...", eventID)
			}
			if got := r.Header.Get("webhook-id"); got != eventID {
				t.Errorf("webhook-id = %q, want the event id %q", got, eventID)
			}
			if got, want := r.Header.Get("webhook-timestamp"), q.Get("RequestTime"); got != want {
				t.Errorf("webhook-timestamp = %q, want RequestTime %q", got, want)
			}
			if !signatureVerifies(t, app.WebhookSecret, r) {
				t.Errorf("webhook-signature %q does not verify with app.json's secret", r.Header.Get("webhook-signature"))
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			wantAttempt := "1"
			if sample.before {
				wantAttempt = ""
			}
			if got := r.Header.Get("X-Parley-Attempt"); got != wantAttempt {
				t.Errorf("X-Parley-Attempt = %q, want %q", got, wantAttempt)
			}

			wantOut := []string{"HTTP 200 OK in ", eventID, parleytest.OKReply}
			if sample.before {
				wantOut = append(wantOut, "allow: the message is sent unchanged")
			} else {
				wantOut = append(wantOut, "delivered")
			}
			for _, w := range wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestTriggerReadsServeSettings(t *testing.T) {
	dir, app, rcv := triggerSetup(t)
	secretA, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	secretB, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "parley.conf")
	content := "callback-url = " + rcv.URL + "/from-file\n" +
		"callback-token = file-token\n" +
		"webhook-secret = " + secretA + "," + secretB + "\n" +
		"addr = 127.0.0.1:0\n" // a serve setting the trigger has no use for
	if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PARLEY_CONFIG":   config,
		"PARLEY_DATA":     dir,
		"PARLEY_SDKAPPID": "1400000042",
	}
	// The COMMAND between flags, as users type it.
	code, stdout, stderr := runTriggerCmd(t, env, "--callback-timeout", "3s", parley.CommandGroupAfterRecall, "-v")
	if code != 0 {
		t.Fatalf("exit status %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	rt, _ := strconv.ParseInt(r.Query.Get("RequestTime"), 10, 64)
	if got, want := r.Query.Get("Sign"), delivery.Sign("file-token", rt); got != want {
		t.Errorf("Sign = %q, want the config file token's %q", got, want)
	}
	if got := r.Query.Get("SdkAppid"); got != "1400000042" {
		t.Errorf("SdkAppid = %q, want PARLEY_SDKAPPID's 1400000042 (app.json has %d)", got, app.SDKAppID)
	}
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d entries, want one per secret, 2", n)
	}
	for _, s := range []string{secretA, secretB} {
		if !signatureVerifies(t, s, r) {
			t.Errorf("webhook-signature does not verify with a secret of the config file")
		}
	}
	if signatureVerifies(t, app.WebhookSecret, r) {
		t.Errorf("webhook-signature verifies with app.json's secret; given secrets replace it")
	}
	for _, w := range []string{"/from-file", "webhook-Signature: v1,", string(r.Body)} {
		if !strings.Contains(strings.ToLower(stdout), strings.ToLower(w)) {
			t.Errorf("-v output lacks %q:\n%s", w, stdout)
		}
	}
}

func TestTriggerBeforeSendVerdicts(t *testing.T) {
	c2c, group := parley.CommandC2CBeforeSendMsg, parley.CommandGroupBeforeSendMsg
	tests := []struct {
		name    string
		command string
		status  int
		reply   string
		policy  string
		code    int
		want    string
	}{
		{"allow", c2c, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, "", 0, "allow: the message is sent unchanged"},
		{"rewrite", c2c, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}],"CloudCustomData":"x"}`, "", 0,
			`allow: the message is sent with MsgBody replaced by the reply's and CloudCustomData replaced by "x"`},
		{"bad rewrite", c2c, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMNoSuchElem"}]}`, "", 1, "failed: the reply's MsgBody is invalid"},
		{"block c2c", c2c, 200, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`, "", 0, "block: the sender gets 20006"},
		{"block group", group, 200, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`, "", 0, "block: the sender gets 10016"},
		{"drop", group, 200, `{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}`, "", 0, "drop: the sender is told it was sent"},
		{"custom c2c", c2c, 200, `{"ActionStatus":"FAIL","ErrorCode":120005,"ErrorInfo":"not friends"}`, "", 0, "custom code: the message is not sent; the sender gets 120005 (not friends)"},
		{"custom group", group, 200, `{"ActionStatus":"FAIL","ErrorCode":10150,"ErrorInfo":"muted"}`, "", 0, "the sender gets 10150 (muted)"},
		{"c2c code in group", group, 200, `{"ActionStatus":"FAIL","ErrorCode":120005,"ErrorInfo":"x"}`, "", 1, "failed: undocumented ErrorCode 120005"},
		{"http 500 deliver", c2c, 500, `oops`, "", 1, "with --before-send-policy deliver the message is delivered unchanged"},
		{"http 500 reject", group, 500, `oops`, "reject", 1, "with --before-send-policy reject the sender gets 80003"},
		{"not an object", c2c, 200, `[]`, "", 1, "failed: callback reply is not a JSON callback answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, rcv := triggerSetup(t)
			rcv.SetReply(tt.status, tt.reply)
			args := []string{tt.command, "--data", dir, "--callback-url", rcv.URL}
			if tt.policy != "" {
				args = append(args, "--before-send-policy", tt.policy)
			}
			code, stdout, stderr := runTriggerCmd(t, nil, args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, stdout)
			}
			if wantStatus := "HTTP " + strconv.Itoa(tt.status) + " "; !strings.Contains(stdout, wantStatus) {
				t.Errorf("stdout lacks %q:\n%s", wantStatus, stdout)
			}
			if !strings.Contains(stdout, tt.reply) {
				t.Errorf("stdout lacks the reply body %q:\n%s", tt.reply, stdout)
			}
		})
	}
}

func TestTriggerAfterCallbackOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		reply  string
		code   int
		want   string
	}{
		{"any JSON is delivered", 200, `[]`, 0, "delivered"},
		{"server error is retried", 503, `{"ActionStatus":"FAIL"}`, 1, "failed: callback answered HTTP 503, want 200"},
		{"not JSON is retried", 200, `ok`, 1, "parley would retry the event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, rcv := triggerSetup(t)
			rcv.SetReply(tt.status, tt.reply)
			code, stdout, stderr := runTriggerCmd(t, nil, parley.CommandC2CAfterSendMsg, "--data", dir, "--callback-url", rcv.URL)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, stdout)
			}
		})
	}
}

func TestTriggerTimeout(t *testing.T) {
	dir, _, rcv := triggerSetup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the receiver closes
	rcv.SetHandler(func(parleytest.Request) (int, string) {
		<-release
		return http.StatusOK, parleytest.OKReply
	})
	code, stdout, stderr := runTriggerCmd(t, nil, parley.CommandC2CBeforeSendMsg,
		"--data", dir, "--callback-url", rcv.URL, "--callback-timeout", "100ms", "--before-send-policy", "reject")
	if code != 1 {
		t.Errorf("exit status %d, want 1\nstderr: %s", code, stderr)
	}
	for _, w := range []string{"no answer after", "timed out after 100ms", "sender gets 80003"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
}

func TestTriggerNotesCommandSwitchedOff(t *testing.T) {
	dir, _, rcv := triggerSetup(t)
	code, _, stderr := runTriggerCmd(t, nil, parley.CommandC2CAfterWithdraw,
		"--data", dir, "--callback-url", rcv.URL, "--callback-commands", parley.CommandC2CAfterSendMsg)
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	if want := "is not in --callback-commands"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	if n := len(rcv.Requests()); n != 1 {
		t.Errorf("receiver got %d requests, want 1: the sample is sent anyway", n)
	}
}

func TestWebhooksUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		wantStderr string
	}{
		{"no subcommand", []string{"webhooks"}, nil, 2, "Usage: parley webhooks SUBCOMMAND"},
		{"unknown subcommand", []string{"webhooks", "frob"}, nil, 2, `unknown subcommand "frob"`},
		{"help", []string{"webhooks", "--help"}, nil, 0, "trigger COMMAND"},
		{"help via parley help", []string{"help", "webhooks"}, nil, 0, "trigger COMMAND"},
		{"trigger help", []string{"webhooks", "trigger", "--help"}, nil, 0, "Usage: parley webhooks trigger"},
		{"no command", []string{"webhooks", "trigger", "--callback-url", "http://127.0.0.1:1/"}, nil, 2, "no COMMAND given"},
		{"unknown command", []string{"webhooks", "trigger", "C2C.CallbackNope", "--callback-url", "http://127.0.0.1:1/"}, nil, 2,
			`unknown command "C2C.CallbackNope" (known: ` + strings.Join(parley.Commands, ", ") + ")"},
		{"no callback url", []string{"webhooks", "trigger", parley.CommandC2CAfterSendMsg}, nil, 2, "no callback URL: give --callback-url, PARLEY_CALLBACK_URL"},
		{"bad callback url", []string{"webhooks", "trigger", parley.CommandC2CAfterSendMsg, "--callback-url", "ftp://x"}, nil, 2, "scheme must be http or https"},
		{"bad env secret", []string{"webhooks", "trigger", parley.CommandC2CAfterSendMsg}, map[string]string{"PARLEY_WEBHOOK_SECRET": "nope"}, 2, `PARLEY_WEBHOOK_SECRET="nope"`},
		{"two commands", []string{"webhooks", "trigger", parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw}, nil, 2, "unexpected argument"},
		{"list with command", []string{"webhooks", "trigger", "--list", parley.CommandC2CAfterSendMsg}, nil, 2, "--list takes no COMMAND"},
		{"no app", []string{"webhooks", "trigger", parley.CommandC2CAfterSendMsg, "--callback-url", "http://127.0.0.1:1/", "--data", "DIR"}, nil, 1, "no app in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			for i, a := range args {
				if a == "DIR" {
					args[i] = t.TempDir()
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, triggerEnv(tt.env), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// The admin subcommands against a real server and a real receiver.

func runWebhooksCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"webhooks"}, args...), triggerEnv(nil), &out, &errOut)
	return code, out.String(), errOut.String()
}

// adminRun runs an admin subcommand against s and fails the test unless
// it succeeds.
func adminRun(t *testing.T, s *parleytest.Server, args ...string) string {
	t.Helper()
	args = append(args, "--url", s.URL(), "--data", s.DataDir())
	code, stdout, stderr := runWebhooksCmd(t, args...)
	if code != 0 {
		t.Fatalf("parley webhooks %s: exit status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// adminSend sends a text alice → bob and returns the event it recorded,
// once the worker has given up on it or delivered it.
func adminSend(t *testing.T, s *parleytest.Server, random int, text string, want parley.EventState) *parley.Event {
	t.Helper()
	before, err := s.Store().EventList(context.Background(), parley.EventListParams{Newest: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	parleytest.OK(t, s.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "alice", "To_Account": "bob", "MsgRandom": random,
		"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}},
	}))
	var after int64
	if len(before) > 0 {
		after = before[0].Seq
	}
	evs, err := s.Store().EventList(context.Background(), parley.EventListParams{AfterSeq: after})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events after sendmsg = %d, %v; want 1", len(evs), err)
	}
	return waitEventState(t, s, evs[0].ID, want)
}

func waitEventState(t *testing.T, s *parleytest.Server, id string, want parley.EventState) *parley.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		e, err := s.Store().EventGet(context.Background(), id)
		if err != nil {
			t.Fatalf("EventGet(%s): %v", id, err)
		}
		if e.State == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s is %s after 10s, want %s", id, e.State, want)
		}
		<-tick.C
	}
}

// requestsOf counts the webhook requests that carried event id.
func requestsOf(rcv *parleytest.Receiver, id string) int {
	n := 0
	for _, r := range rcv.Requests() {
		if r.Header.Get("X-Parley-Event-Id") == id {
			n++
		}
	}
	return n
}

// TestWebhooksAdminEndToEnd: a receiver that fails every webhook, so each
// event is dead after one attempt (no retries); ls and show print them with
// their attempts; replay of a dead event delivers it once the receiver is
// back; recover --since 1h brings back every dead event of the last hour
// and none older.
func TestWebhooksAdminEndToEnd(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	rcv.SetReply(http.StatusInternalServerError, `{"error":"boom"}`)
	clock := parleytest.NewClock(time.Now().Add(-2 * time.Hour))
	s := parleytest.Start(t, server.Options{
		CallbackURL:      rcv.URL + "/hook",
		CallbackCommands: []string{parley.CommandC2CAfterSendMsg},
		RetrySchedule:    []time.Duration{},
		BreakerThreshold: -1,
		Now:              clock.Now,
		Logger:           slog.New(slog.DiscardHandler),
	})
	for _, id := range []string{"alice", "bob"} {
		parleytest.OK(t, s.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	old1 := adminSend(t, s, 1, "two hours ago", parley.EventDead)
	old2 := adminSend(t, s, 2, "also two hours ago", parley.EventDead)
	clock.Set(time.Now())
	new1 := adminSend(t, s, 3, "just now", parley.EventDead)
	new2 := adminSend(t, s, 4, "just now too", parley.EventDead)

	// ls: newest first, one row each.
	out := adminRun(t, s, "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "CREATED") || !strings.Contains(lines[0], "LAST ERROR") {
		t.Fatalf("ls printed:\n%s\nwant a header and 4 rows", out)
	}
	for i, e := range []*parley.Event{new2, new1, old2, old1} {
		row := lines[i+1]
		for _, want := range []string{timeText(e.CreatedAt.Unix()), e.ID, parley.CommandC2CAfterSendMsg, "c2c:alice,bob", " dead ", " 1 ", "callback answered HTTP 500"} {
			if !strings.Contains(row, want) {
				t.Errorf("ls row %d %q does not contain %q", i+1, row, want)
			}
		}
	}
	out = adminRun(t, s, "ls", "--state", "dead", "--since", "1h")
	if !strings.Contains(out, new1.ID) || !strings.Contains(out, new2.ID) || strings.Contains(out, old1.ID) || strings.Contains(out, old2.ID) {
		t.Errorf("ls --state dead --since 1h printed:\n%s\nwant the two new events only", out)
	}
	if out = adminRun(t, s, "ls", "--state", "delivered"); strings.TrimSpace(out) != "no events" {
		t.Errorf("ls --state delivered printed %q, want no events", out)
	}
	// Pages.
	out = adminRun(t, s, "ls", "--limit", "3")
	last := strings.Split(strings.TrimSpace(out), "\n")
	cursor, ok := strings.CutPrefix(last[len(last)-1], "more: add --cursor ")
	if !ok || strings.Contains(out, old1.ID) {
		t.Fatalf("ls --limit 3 printed:\n%s\nwant 3 rows and a cursor line", out)
	}
	cursor = strings.TrimSuffix(cursor, " for the next page")
	out = adminRun(t, s, "ls", "--limit", "3", "--cursor", cursor)
	if !strings.Contains(out, old1.ID) || strings.Contains(out, old2.ID) || strings.Contains(out, "more:") {
		t.Errorf("ls --cursor %s printed:\n%s\nwant only the oldest event", cursor, out)
	}

	// show: the event, its body pretty-printed, its attempt.
	out = adminRun(t, s, "show", old1.ID)
	for _, want := range []string{
		old1.ID, "dead after 1 attempt\n", "c2c:alice,bob", "ClientIP 127.0.0.1, OptPlatform RESTAPI",
		"body:\n  {\n    \"CallbackCommand\": \"C2C.CallbackAfterSendMsg\",\n", `"Text": "two hours ago"`,
		"#1", "HTTP 500", "callback answered HTTP 500",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show printed:\n%s\nwant it to contain %q", out, want)
		}
	}
	if !regexp.MustCompile(`(?m)^  #1 +[-0-9]+ [:0-9]+ +HTTP 500 +[0-9.]+(µs|ms|s) +callback answered HTTP 500`).MatchString(out) {
		t.Errorf("show printed:\n%s\nwant attempt #1 with its time, status, latency and error", out)
	}
	if !regexp.MustCompile(`(?m)^ +answer: +\{"error":"boom"\}$`).MatchString(out) {
		t.Errorf("show printed:\n%s\nwant the attempt's answer on a line of its own", out)
	}

	// replay: the receiver is back, and the dead event is delivered.
	rcv.SetReply(http.StatusOK, parleytest.OKReply)
	out = adminRun(t, s, "replay", old1.ID)
	if !strings.Contains(out, "replayed "+old1.ID+": pending") || !strings.Contains(out, "next attempt is #2") {
		t.Errorf("replay printed %q", out)
	}
	waitEventState(t, s, old1.ID, parley.EventDelivered)
	if n := requestsOf(rcv, old1.ID); n != 2 {
		t.Errorf("the receiver got %s %d times, want 2: the failed attempt and the replay", old1.ID, n)
	}
	out = adminRun(t, s, "show", old1.ID)
	for _, want := range []string{"delivered after 2 attempts", "#2", "HTTP 200", `"ActionStatus":"OK"`} {
		if !strings.Contains(out, want) {
			t.Errorf("show after the replay printed:\n%s\nwant it to contain %q", out, want)
		}
	}

	// recover --since 1h: the two new dead events, not the old one.
	out = adminRun(t, s, "recover", "--since", "1h")
	if !strings.HasPrefix(out, "recovered 2 events created since ") {
		t.Errorf("recover printed %q, want 2 events recovered", out)
	}
	for _, e := range []*parley.Event{new1, new2} {
		waitEventState(t, s, e.ID, parley.EventDelivered)
		if n := requestsOf(rcv, e.ID); n != 2 {
			t.Errorf("the receiver got %s %d times, want 2", e.ID, n)
		}
	}
	if got := waitEventState(t, s, old2.ID, parley.EventDead); requestsOf(rcv, old2.ID) != 1 || got.Attempts != 1 {
		t.Errorf("the older dead event was sent %d times, has %d attempts: want it left alone", requestsOf(rcv, old2.ID), got.Attempts)
	}

	// An unknown event is an error naming it, with parley's code.
	code, stdout, stderr := runWebhooksCmd(t, "show", "evt_nothing", "--url", s.URL(), "--data", s.DataDir())
	if code != 1 || stdout != "" || !strings.Contains(stderr, "190001") || !strings.Contains(stderr, "evt_nothing") {
		t.Errorf("show of an unknown event: exit %d, stdout %q, stderr %q; want 1 and 190001 naming it", code, stdout, stderr)
	}
}

func TestWebhooksAdminUsage(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := server.LoadOrCreateApp(dir); err != nil {
		t.Fatal(err)
	}
	down := "http://127.0.0.1:1"
	tests := []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{"ls", "--help"}, 0, "Usage: parley webhooks ls"},
		{[]string{"ls", "--state", "lost"}, 2, "want pending, failed, delivered or dead"},
		{[]string{"ls", "--command", parley.CommandC2CBeforeSendMsg}, 2, "before-send callback"},
		{[]string{"ls", "--command", "C2C.Nope"}, 2, "unknown callback command"},
		{[]string{"ls", "--limit", "0"}, 2, "--limit 0: want 1 to 100"},
		{[]string{"ls", "--limit", "101"}, 2, "--limit 101"},
		{[]string{"ls", "--since", "yesterday"}, 2, "want a duration back from now"},
		{[]string{"ls", "--since", "1h", "--until", "2h"}, 2, "is before --since"},
		{[]string{"ls", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"ls", "--url", "ftp://x"}, 2, "want http://HOST:PORT"},
		{[]string{"ls", "--data", "EMPTY"}, 1, "no app in"},
		{[]string{"ls", "--url", down, "--data", dir}, 1, "cannot reach parley at " + down},
		{[]string{"show", "--help"}, 0, "Usage: parley webhooks show"},
		{[]string{"show", "--data", dir}, 2, "no EVENT_ID given"},
		{[]string{"show", "evt_a", "evt_b", "--data", dir}, 2, `unexpected argument "evt_b"`},
		{[]string{"replay", "--data", dir}, 2, "no EVENT_ID given"},
		{[]string{"replay", "evt_a", "--url", down, "--data", dir}, 1, "cannot reach parley"},
		{[]string{"recover", "--data", dir}, 2, "--since is required"},
		{[]string{"recover", "--since", "-1h"}, 2, "want a positive duration"},
		{[]string{"recover", "--since", "1h", "--until", "2h"}, 2, "is before --since"},
		{[]string{"recover", "--since", "1h", "x"}, 2, `unexpected argument "x"`},
		{[]string{"help"}, 0, "recover --since T"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := slices.Clone(tt.args)
			for i, a := range args {
				if a == "EMPTY" {
					args[i] = t.TempDir()
				}
			}
			code, stdout, stderr := runWebhooksCmd(t, args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d; stderr %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestParseTimeArg(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{" 90m ", now.Add(-90 * time.Minute)},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02T03:04:05+02:00", time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC)},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)},
		{"1750000000", time.Unix(1750000000, 0)},
		{"0", time.Unix(0, 0)},
	}
	for _, tt := range tests {
		got, err := parseTimeArg(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTimeArg(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0s", "-1h", "yesterday", "2026-13-01", "-5", "99999999999999999999", "1h ago"} {
		if got, err := parseTimeArg(bad, now); err == nil {
			t.Errorf("parseTimeArg(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseTimeArg(f *testing.F) {
	for _, s := range []string{"1h", "90m", "2026-01-02T03:04:05Z", "2026-01-02", "1750000000", "0", "-1h", "", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimeArg(s, now)
		if err != nil {
			return
		}
		if got.IsZero() {
			t.Fatalf("parseTimeArg(%q) = the zero time without an error", s)
		}
		// Whatever it accepts, the API can take as Unix seconds.
		if sec := got.Unix(); sec >= math.MaxInt64/1000 || sec <= math.MinInt64/1000 {
			t.Fatalf("parseTimeArg(%q) = %v, out of the millisecond range", s, got)
		}
		// Digits alone are Unix seconds; other durations count back.
		trimmed := strings.TrimSpace(s)
		if d, derr := time.ParseDuration(trimmed); derr == nil && strings.Trim(trimmed, "0123456789") != "" && !got.Equal(now.Add(-d)) {
			t.Fatalf("parseTimeArg(%q) = %v, want now less the duration, %v", s, got, now.Add(-d))
		}
	})
}
