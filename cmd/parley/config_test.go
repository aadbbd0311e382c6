// These tests are in package main, not main_test: a command cannot be
// imported, and configuration resolution is worth testing without a
// process per case. The binary itself is tested black-box in
// serve_test.go.
package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

func envOf(m map[string]string) lookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := writeFile(t, `
# every source sets addr; env and file set data; only the file sets admin
addr = 127.0.0.1:3
data = /from/file
admin = fileadmin
`)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		addr  string
		data  string
		admin string
	}{
		{
			name: "defaults",
			addr: "127.0.0.1:8080", data: "./parley-data", admin: "",
		},
		{
			name: "file",
			args: []string{"--config", file},
			addr: "127.0.0.1:3", data: "/from/file", admin: "fileadmin",
		},
		{
			name: "file named by PARLEY_CONFIG",
			env:  map[string]string{"PARLEY_CONFIG": file},
			addr: "127.0.0.1:3", data: "/from/file", admin: "fileadmin",
		},
		{
			name: "env beats file",
			args: []string{"--config", file},
			env:  map[string]string{"PARLEY_ADDR": "127.0.0.1:2", "PARLEY_DATA": "/from/env"},
			addr: "127.0.0.1:2", data: "/from/env", admin: "fileadmin",
		},
		{
			name: "flag beats env and file",
			args: []string{"--config", file, "--addr", "127.0.0.1:1"},
			env:  map[string]string{"PARLEY_ADDR": "127.0.0.1:2", "PARLEY_DATA": "/from/env"},
			addr: "127.0.0.1:1", data: "/from/env", admin: "fileadmin",
		},
		{
			name: "single-dash flag",
			args: []string{"-addr=127.0.0.1:1"},
			env:  map[string]string{"PARLEY_ADDR": "127.0.0.1:2"},
			addr: "127.0.0.1:1", data: "./parley-data",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadServeConfig(tt.args, envOf(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.addr != tt.addr || c.data != tt.data || c.admin != tt.admin {
				t.Errorf("got addr=%q data=%q admin=%q, want %q %q %q", c.addr, c.data, c.admin, tt.addr, tt.data, tt.admin)
			}
		})
	}
}

// TestREADMEConfigExample keeps the README's config file example valid.
func TestREADMEConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(readme), "```\n# parley.conf")
	if i < 0 {
		t.Fatal("README has no config file example starting with # parley.conf")
	}
	example, _, _ := strings.Cut(string(readme[i+len("```\n"):]), "```")
	c, err := loadServeConfig([]string{"--config", writeFile(t, example)}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if c.callbackToken != "s3cret token" || len(c.retrySchedule.list) != 0 || len(c.callbackCommands.list) != 2 {
		t.Errorf("README example read as token %q, schedule %v, commands %v", c.callbackToken, c.retrySchedule.list, c.callbackCommands.list)
	}
}

func TestEveryServeFlagHasAnEnvVariableAndAFileKey(t *testing.T) {
	// One value per flag that differs from its default.
	values := map[string]string{
		"addr":                  "0.0.0.0:9",
		"data":                  "/d",
		"sdkappid":              "1400012345",
		"secret-key":            "sk",
		"admin":                 "boss",
		"callback-url":          "https://example.com/hook",
		"callback-token":        "tok",
		"callback-timeout":      "3s",
		"callback-commands":     "C2C.CallbackAfterSendMsg",
		"webhook-secret":        secretA + "," + secretB,
		"before-send-policy":    "reject",
		"restricted-words":      "/words.txt",
		"retry-schedule":        "1s,2s",
		"group-msg-rate":        "0",
		"breaker-threshold":     "3",
		"webhook-concurrency":   "7",
		"breaker-cooldown":      "1m0s",
		"heartbeat":             "15s",
		"client-recall-window":  "5m0s",
		"session-queue":         "64",
		"max-sessions-per-user": "3",
		"log-level":             "debug",
	}
	check := func(t *testing.T, c *serveConfig) {
		t.Helper()
		got := map[string]string{
			"addr":                  c.addr,
			"data":                  c.data,
			"sdkappid":              formatUint(c.sdkappid),
			"secret-key":            c.secretKey,
			"admin":                 c.admin,
			"callback-url":          c.callbackURL.String(),
			"callback-token":        c.callbackToken,
			"callback-timeout":      c.callbackTimeout.String(),
			"callback-commands":     c.callbackCommands.String(),
			"webhook-secret":        c.webhookSecrets.String(),
			"before-send-policy":    c.beforeSendPolicy.String(),
			"restricted-words":      c.restrictedWords,
			"retry-schedule":        c.retrySchedule.String(),
			"group-msg-rate":        strconv.Itoa(c.groupMsgRate),
			"breaker-threshold":     strconv.Itoa(c.breakerThreshold),
			"webhook-concurrency":   strconv.Itoa(c.concurrency),
			"breaker-cooldown":      c.breakerCooldown.String(),
			"heartbeat":             c.heartbeat.String(),
			"client-recall-window":  c.recallWindow.String(),
			"session-queue":         strconv.Itoa(c.sessionQueue),
			"max-sessions-per-user": strconv.Itoa(c.sessionsPerUser),
			"log-level":             strings.ToLower(c.logLevel.String()),
		}
		for k, want := range values {
			if got[k] != want {
				t.Errorf("%s = %q, want %q", k, got[k], want)
			}
		}
	}
	if got, want := len(serveSettings()), len(values); got != want {
		t.Fatalf("serve has %d settings, the test knows %d: add the new one here", got, want)
	}

	t.Run("env", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range values {
			env[envName(k)] = v
		}
		c, err := loadServeConfig(nil, envOf(env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
	t.Run("file", func(t *testing.T) {
		var b strings.Builder
		for k, v := range values {
			b.WriteString(k + " = " + v + "\n")
		}
		c, err := loadServeConfig([]string{"--config", writeFile(t, b.String())}, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
	t.Run("flags", func(t *testing.T) {
		var args []string
		for k, v := range values {
			args = append(args, "--"+k, v)
		}
		c, err := loadServeConfig(args, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"addr":               "PARLEY_ADDR",
		"secret-key":         "PARLEY_SECRET_KEY",
		"before-send-policy": "PARLEY_BEFORE_SEND_POLICY",
		"config":             "PARLEY_CONFIG",
	}
	for in, want := range tests {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseConfigFile(t *testing.T) {
	known := map[string]bool{"addr": true, "callback-token": true, "retry-schedule": true}
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "comments blanks and spacing",
			in:   "# comment\n\n   # indented comment\naddr=127.0.0.1:1\n  callback-token   =   a b#c  \r\n",
			want: map[string]string{"addr": "127.0.0.1:1", "callback-token": "a b#c"},
		},
		{
			name: "quoted and empty values",
			in:   "callback-token = \" spaced \"\nretry-schedule =\n",
			want: map[string]string{"callback-token": " spaced ", "retry-schedule": ""},
		},
		{
			name: "quoted empty value",
			in:   `retry-schedule = ""`,
			want: map[string]string{"retry-schedule": ""},
		},
		{name: "unknown key names the line", in: "addr = x\n\n# c\nlisten = y\n", wantErr: "test.conf:4: unknown setting \"listen\""},
		{name: "no equals", in: "addr\n", wantErr: "test.conf:1: want name = value"},
		{name: "duplicate", in: "addr = a\naddr = b\n", wantErr: "test.conf:2: \"addr\" is already set on line 1"},
		{name: "bad quote", in: "callback-token = \"open\n", wantErr: "test.conf:1: callback-token: bad quoted value"},
		{name: "config is not a setting", in: "config = other.conf\n", wantErr: "unknown setting \"config\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfigFile(strings.NewReader(tt.in), "test.conf", known)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k].value != v {
					t.Errorf("%s = %q, want %q", k, got[k].value, v)
				}
			}
		})
	}
}

func FuzzParseConfigFile(f *testing.F) {
	f.Add("addr = 1\n# c\n\ndata=\"x\"\n")
	f.Add("=\n")
	f.Add("addr = \"\\x\"")
	known := serveSettings()
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseConfigFile(strings.NewReader(in), "fuzz.conf", known)
		if err != nil {
			return
		}
		for k := range got {
			if !known[k] {
				t.Fatalf("accepted unknown key %q", k)
			}
		}
	})
}

func TestBadValuesNameTheirSource(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantErr string
	}{
		{name: "env duration", env: map[string]string{"PARLEY_CALLBACK_TIMEOUT": "soon"}, wantErr: `PARLEY_CALLBACK_TIMEOUT="soon"`},
		{name: "env policy", env: map[string]string{"PARLEY_BEFORE_SEND_POLICY": "drop"}, wantErr: "want deliver or reject"},
		{name: "file command", file: "\ncallback-commands = C2C.CallbackAfterSendMsg, Group.Nope\n", wantErr: `:2: callback-commands: unknown callback command "Group.Nope"`},
		{name: "file url scheme", file: "callback-url = ftp://example.com\n", wantErr: ":1: callback-url: \"ftp://example.com\": the scheme must be http or https"},
		{name: "file unknown key", file: "adress = 1\n", wantErr: `:1: unknown setting "adress"`},
		{name: "flag schedule", args: []string{"--retry-schedule", "5s,-1s"}, wantErr: "not a positive duration"},
		{name: "env webhook secret", env: map[string]string{"PARLEY_WEBHOOK_SECRET": secretA + ",s3cret"}, wantErr: `PARLEY_WEBHOOK_SECRET=` + strconv.Quote(secretA+",s3cret") + `: secret 2: webhook secret must start with "whsec_"`},
		{name: "file webhook secret", file: "webhook-secret = whsec_c2hvcnQ=\n", wantErr: ":1: webhook-secret: secret 1: webhook secret: 5 bytes after base64 decoding, want at least 24"},
		{name: "flag webhook secret", args: []string{"--webhook-secret", "whsec_not*base64"}, wantErr: "not standard base64"},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "missing file", args: []string{"--config", "/nonexistent/parley.conf"}, wantErr: "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			_, err := loadServeConfig(args, envOf(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if !isUsage(err) {
				t.Errorf("%v is not a usage error (exit status 2)", err)
			}
		})
	}
}

func TestCallbackCommandsValue(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"all", nil},
		{"none", []string{}},
		{"", []string{}},
		{" C2C.CallbackAfterSendMsg , C2C.CallbackAfterMsgWithDraw,C2C.CallbackAfterSendMsg", []string{parley.CommandC2CAfterSendMsg, parley.CommandC2CAfterWithdraw}},
	}
	for _, tt := range tests {
		var v commandsValue
		if err := v.Set(tt.in); err != nil {
			t.Fatalf("Set(%q): %v", tt.in, err)
		}
		if (v.list == nil) != (tt.want == nil) || !slices.Equal(v.list, tt.want) {
			t.Errorf("Set(%q) = %#v, want %#v", tt.in, v.list, tt.want)
		}
	}
}

func TestRetryScheduleDefaultAndEmpty(t *testing.T) {
	c, err := loadServeConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.retrySchedule.list, delivery.DefaultRetrySchedule(); !slices.Equal(got, want) {
		t.Errorf("default = %v, want %v", got, want)
	}
	if got, want := c.retrySchedule.String(), "5s,5m,30m,2h,5h,10h,10h"; got != want {
		t.Errorf("default shown as %q, want %q", got, want)
	}

	c, err = loadServeConfig(nil, envOf(map[string]string{"PARLEY_RETRY_SCHEDULE": ""}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.RetrySchedule == nil || len(opts.RetrySchedule) != 0 {
		t.Errorf("empty PARLEY_RETRY_SCHEDULE gave %#v, want an empty non-nil schedule (no retries)", opts.RetrySchedule)
	}

	c, err = loadServeConfig([]string{"--retry-schedule", "250ms, 1m30s"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.retrySchedule.list, []time.Duration{250 * time.Millisecond, 90 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestOptionsReadRestrictedWords(t *testing.T) {
	path := writeFile(t, "# house rules\nred packet\n\n  casino  \n#not a word\n")
	c, err := loadServeConfig([]string{"--restricted-words", path, "--callback-commands", "none", "--before-send-policy", "reject"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := opts.RestrictedWords, []string{"red packet", "casino"}; !slices.Equal(got, want) {
		t.Errorf("RestrictedWords = %q, want %q", got, want)
	}
	if opts.CallbackCommands == nil || len(opts.CallbackCommands) != 0 {
		t.Errorf("CallbackCommands = %#v, want empty non-nil", opts.CallbackCommands)
	}
	if opts.BeforeSendPolicy != "reject" {
		t.Errorf("BeforeSendPolicy = %q", opts.BeforeSendPolicy)
	}

	c.restrictedWords = filepath.Join(t.TempDir(), "missing.txt")
	if _, err := c.options(nil); err == nil {
		t.Error("a missing restricted-words file was accepted")
	}
}

func TestServeHelpDocumentsEveryFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	help := stderr.String()
	for name := range serveSettings() {
		for _, want := range []string{"--" + name, envName(name)} {
			if !strings.Contains(help, want) {
				t.Errorf("serve --help does not mention %s", want)
			}
		}
	}
	for _, want := range []string{"PARLEY_CONFIG", "default 127.0.0.1:8080", "default 2s", "default 5s,5m,30m,2h,5h,10h,10h", "default deliver", "default all", "name = value"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help does not say %q:\n%s", want, help)
		}
	}
}

func TestUsersigPrintsOnlyTheSig(t *testing.T) {
	key := strings.Repeat("ab", 32)
	var stdout, stderr bytes.Buffer
	env := envOf(map[string]string{"PARLEY_SECRET_KEY": key})
	code := run(context.Background(), []string{"usersig", "--user", "alice", "--expire", "60", "--sdkappid", "1400000001"}, env, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	out := stdout.String()
	sig := strings.TrimSuffix(out, "\n")
	if sig == "" || strings.ContainsAny(sig, " \n") {
		t.Fatalf("stdout = %q, want one UserSig line", out)
	}
	err := usersig.Verify(usersig.VerifyParams{UserSig: sig, SDKAppID: 1400000001, Key: key, Identifier: "alice", Now: time.Now()})
	if err != nil {
		t.Errorf("printed UserSig does not verify: %v", err)
	}
	err = usersig.Verify(usersig.VerifyParams{UserSig: sig, SDKAppID: 1400000001, Key: key, Identifier: "alice", Now: time.Now().Add(2 * time.Minute)})
	if err == nil {
		t.Error("UserSig with --expire 60 still valid two minutes later")
	}
}

func TestUsersigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no user", []string{"usersig"}, 2, "--user is required"},
		{"bad expire", []string{"usersig", "--user", "a", "--expire", "0", "--sdkappid", "1", "--secret-key", "k"}, 2, "positive number"},
		{"no app", []string{"usersig", "--user", "a", "--data", "DIR"}, 1, "no app in"},
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
			code := run(context.Background(), args, envOf(nil), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "parley serve", ""},
		{[]string{"--help"}, 0, "parley usersig", ""},
		{[]string{"help", "usersig"}, 0, "", "Usage: parley usersig"},
		{[]string{"version"}, 0, "parley ", ""},
		{[]string{"serve", "--no-such-flag"}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envOf(nil), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestClientURL(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:8080":      "http://127.0.0.1:8080",
		":8080":          "http://127.0.0.1:8080",
		"[::1]:9":        "http://[::1]:9",
	}
	for in, want := range tests {
		if got := clientURL(in); got != want {
			t.Errorf("clientURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }

// Two valid Standard Webhooks secrets: the spec's test vector and the
// base64 of 32 zero bytes.
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

func TestWebhookSecretValue(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{secretA, []string{secretA}},
		{" " + secretA + " ,, " + secretB + "," + secretA, []string{secretA, secretB}},
	}
	for _, tt := range tests {
		c, err := loadServeConfig([]string{"--webhook-secret", tt.in}, envOf(nil), io.Discard)
		if err != nil {
			t.Fatalf("--webhook-secret %q: %v", tt.in, err)
		}
		opts, err := c.options(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(opts.WebhookSecrets, tt.want) {
			t.Errorf("--webhook-secret %q: WebhookSecrets = %q, want %q", tt.in, opts.WebhookSecrets, tt.want)
		}
	}
}

// TestServePrintsTheWebhookSecret runs serve in-process and reads its
// startup lines: the generated secret is printed, one given with
// --webhook-secret is not.
func TestServePrintsTheWebhookSecret(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string // "" means app.json's secret
		notWant string
	}{
		{name: "generated"},
		{name: "given", args: []string{"--webhook-secret", secretA + "," + secretB}, want: "one by each secret of --webhook-secret", notWant: secretA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			var stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- runServe(ctx, append([]string{"--addr", "127.0.0.1:0", "--data", dir}, tt.args...), envOf(nil), &stderr)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(stderr.String(), "webhook-signature header") {
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no webhook secret line within 10s:\n%s", stderr.String())
				}
				time.Sleep(5 * time.Millisecond) // poll interval
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			out := stderr.String()
			want := tt.want
			if want == "" {
				app, err := server.LoadApp(dir)
				if err != nil {
					t.Fatal(err)
				}
				want = "verify it with this secret (kept in " + filepath.Join(dir, server.AppFile) + "):\n\n  " + app.WebhookSecret + "\n"
			}
			if !strings.Contains(out, want) {
				t.Errorf("startup lines lack %q:\n%s", want, out)
			}
			if tt.notWant != "" && strings.Contains(out, tt.notWant) {
				t.Errorf("startup lines print %q, a secret given on the command line:\n%s", tt.notWant, out)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the serve goroutine to write while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestBreakerOptions(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		wantThreshold int
		wantCooldown  time.Duration
		wantErr       string
	}{
		{"defaults", nil, 5, 5 * time.Second, ""},
		{"set", []string{"--breaker-threshold", "2", "--breaker-cooldown", "250ms"}, 2, 250 * time.Millisecond, ""},
		{"zero threshold switches it off", []string{"--breaker-threshold", "0"}, -1, 5 * time.Second, ""},
		{"negative threshold switches it off", []string{"--breaker-threshold", "-4"}, -1, 5 * time.Second, ""},
		{"zero cool-down", []string{"--breaker-cooldown", "0s"}, 0, 0, "breaker cool-down"},
		{"negative cool-down", []string{"--breaker-cooldown", "-1s"}, 0, 0, "breaker cool-down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadServeConfig(tt.args, envOf(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			opts, err := c.options(nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("options() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := opts.BreakerThreshold, tt.wantThreshold; got != want {
				t.Errorf("BreakerThreshold = %d, want %d", got, want)
			}
			if got, want := opts.BreakerCooldown, tt.wantCooldown; got != want {
				t.Errorf("BreakerCooldown = %v, want %v", got, want)
			}
		})
	}
}

func TestClientOptions(t *testing.T) {
	c, err := loadServeConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HeartbeatInterval != 30*time.Second || opts.ClientRecallWindow != 2*time.Minute || opts.SessionQueueMessages != 4096 || opts.MaxSessionsPerUser != 10 {
		t.Errorf("defaults: heartbeat %v, recall window %v, queue %d, sessions %d", opts.HeartbeatInterval, opts.ClientRecallWindow, opts.SessionQueueMessages, opts.MaxSessionsPerUser)
	}
	for _, bad := range [][]string{
		{"--heartbeat", "0s"},
		{"--client-recall-window", "-1s"},
		{"--session-queue", "0"},
		{"--max-sessions-per-user", "0"},
	} {
		c, err := loadServeConfig(bad, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.options(nil); err == nil {
			t.Errorf("%v: options() succeeded", bad)
		}
	}
}
