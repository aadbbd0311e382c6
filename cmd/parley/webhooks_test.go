package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
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
