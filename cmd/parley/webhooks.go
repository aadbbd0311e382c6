package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

const webhooksUsage = `Usage: parley webhooks SUBCOMMAND [flags]

Subcommands:

  trigger COMMAND    send a sample COMMAND event to the callback URL and
                     print the receiver's answer
  trigger --list     list the commands
  ls                 list the events of a running parley's outbox, newest
                     first: state, attempts, last error
  show ID            show one event: its body and every attempt
  replay ID          send one event again, whatever its state
  recover --since T  send again every failed or dead event created since T

ls, show, replay and recover call the parley_webhook admin API of a
running parley (--url, by default the --addr of parley serve), signed as
the App admin with the app of --data.

Run "parley webhooks SUBCOMMAND --help" for its flags.
`

// replyLimit is how much of an answer is read and shown: what parley
// itself reads of a reply before giving up on it.
const replyLimit = 64 << 10

func runWebhooks(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, webhooksUsage)
		return usageError{err: errors.New("no subcommand"), printed: true}
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "trigger":
		return runTrigger(ctx, rest, env, stdout, stderr)
	case "ls":
		return runWebhooksList(ctx, rest, env, stdout, stderr)
	case "show":
		return runWebhooksShow(ctx, rest, env, stdout, stderr)
	case "replay":
		return runWebhooksReplay(ctx, rest, env, stdout, stderr)
	case "recover":
		return runWebhooksRecover(ctx, rest, env, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, webhooksUsage)
		return flag.ErrHelp
	default:
		fmt.Fprintf(stderr, "parley webhooks: unknown subcommand %q\n\n%s", sub, webhooksUsage)
		return usageError{err: fmt.Errorf("unknown subcommand %q", sub), printed: true}
	}
}

// triggerConfig is what `parley webhooks trigger` can be told: the serve
// settings that shape a webhook request, and its own.
type triggerConfig struct {
	config           string
	data             string
	sdkappid         uint64
	callbackURL      urlValue
	callbackToken    string
	callbackTimeout  time.Duration
	webhookSecrets   secretsValue
	callbackCommands commandsValue
	beforeSendPolicy policyValue
	list             bool
	verbose          bool
}

func newTriggerFlags(w io.Writer) (*flag.FlagSet, *triggerConfig) {
	c := &triggerConfig{}
	fset := flag.NewFlagSet("parley webhooks trigger", flag.ContinueOnError)
	fset.SetOutput(w)
	fset.StringVar(&c.config, "config", "", "read settings from `FILE`, as parley serve does")
	fset.StringVar(&c.data, "data", server.DefaultDataDir, "data `DIR` whose app.json holds the SDKAppID and webhook secret")
	fset.Uint64Var(&c.sdkappid, "sdkappid", 0, "`ID`: SdkAppid to send instead of app.json's")
	fset.Var(&c.callbackURL, "callback-url", "webhook `URL` of your app backend (required)")
	fset.StringVar(&c.callbackToken, "callback-token", "", "webhook authentication `TOKEN`: adds Sign and RequestTime")
	fset.DurationVar(&c.callbackTimeout, "callback-timeout", server.DefaultCallbackTimeout, "`DURATION` the receiver may take to answer")
	fset.Var(&c.webhookSecrets, "webhook-secret", "`LIST` of Standard Webhooks secrets (whsec_...), comma-separated, to sign with instead of app.json's")
	fset.Var(&c.callbackCommands, "callback-commands", "`LIST` of callbacks parley serve sends; the sample is sent anyway, with a note when COMMAND is not among them")
	fset.Var(&c.beforeSendPolicy, "before-send-policy", "`POLICY` parley applies when a before-send callback fails: deliver or reject")
	fset.BoolVar(&c.list, "list", false, "list the commands and exit")
	fset.BoolVar(&c.verbose, "v", false, "also print the request: URL, headers and body")
	fset.Usage = func() {
		fmt.Fprint(w, `Usage: parley webhooks trigger [flags] COMMAND
       parley webhooks trigger --list

Sends a sample COMMAND event to the callback URL exactly as parley serve
sends it: the query parameters SdkAppid, CallbackCommand, contenttype,
ClientIP and OptPlatform (and Sign and RequestTime when a callback token is
set), the Standard Webhooks headers signed with the app's webhook secrets,
and X-Parley-Event-Id. Then prints the receiver's answer: HTTP status,
latency and body, and for a before-send command what parley would do with
the message (allow, block, drop, custom code). No server needs to run and
nothing is stored.

The settings are parley serve's, read from the same flags, environment
variables and config file. The exit status is 0 when parley would accept
the answer, 1 when it would not (it retries an after-callback and applies
--before-send-policy to a before-send one), 2 for a usage mistake.

Flags:
`)
		printFlags(w, fset, serveSettings(), map[string]string{
			"sdkappid":       "from app.json",
			"webhook-secret": "from app.json",
		})
	}
	return fset, c
}

// splitCommandArgs separates the flags of args, as fset defines them, from
// the positional arguments, so that COMMAND (or an event ID) may come
// before, between or after the flags. fset is only parsed into: give one
// made for the purpose. Arguments that do not parse are left to configure
// to report.
func splitCommandArgs(fset *flag.FlagSet, args []string) (flags, positional []string) {
	for len(args) > 0 {
		if err := fset.Parse(args); err != nil {
			return append(flags, args...), positional
		}
		rest := fset.Args()
		consumed := args[:len(args)-len(rest)]
		flags = append(flags, consumed...)
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return flags, append(positional, rest...)
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return flags, positional
}

func runTrigger(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	fset, c := newTriggerFlags(stderr)
	scratch, _ := newTriggerFlags(io.Discard)
	flagArgs, positional := splitCommandArgs(scratch, args)
	if err := configure(fset, flagArgs, env, serveSettings()); err != nil {
		return err
	}
	samples := sampleEvents()
	if c.list {
		if len(positional) > 0 {
			return usageError{err: fmt.Errorf("--list takes no COMMAND, got %q", positional[0])}
		}
		for _, s := range samples {
			fmt.Fprintf(stdout, "%-38s %s\n", s.command, s.summary)
		}
		return nil
	}
	switch len(positional) {
	case 0:
		fset.Usage()
		return usageError{err: errors.New("no COMMAND given; parley webhooks trigger --list lists them")}
	case 1:
	default:
		return usageError{err: fmt.Errorf("unexpected argument %q after the COMMAND", positional[1])}
	}
	i := slices.IndexFunc(samples, func(s sampleEvent) bool { return s.command == positional[0] })
	if i < 0 {
		known := make([]string, len(samples))
		for i, s := range samples {
			known[i] = s.command
		}
		return usageError{err: fmt.Errorf("unknown command %q (known: %s)", positional[0], strings.Join(known, ", "))}
	}
	sample := samples[i]
	if c.callbackURL.s == "" {
		return usageError{err: fmt.Errorf("no callback URL: give --callback-url, %s or callback-url in the config file", envName("callback-url"))}
	}
	if c.callbackCommands.list != nil && !slices.Contains(c.callbackCommands.list, sample.command) {
		fmt.Fprintf(stderr, "note: %s is not in --callback-commands, so parley serve does not send it\n", sample.command)
	}
	sdkAppID, secrets, err := c.signingApp()
	if err != nil {
		return err
	}
	body, err := marshalBody(sample.body)
	if err != nil {
		return err
	}

	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()
	rec := &recordingTransport{base: base}
	caller, err := delivery.NewCaller(delivery.CallerConfig{
		URL:      c.callbackURL.s,
		Token:    c.callbackToken,
		SDKAppID: sdkAppID,
		Secrets:  secrets,
		Timeout:  c.callbackTimeout,
		Client:   &http.Client{Transport: rec},
		// One call: a breaker could only get in its way.
		BreakerThreshold: -1,
	})
	if err != nil {
		return err
	}
	defer caller.Close()
	origin := parley.Origin{ClientIP: "127.0.0.1", OptPlatform: parley.OptPlatformREST}
	var (
		reply   parley.CallbackReply
		callErr error
	)
	if sample.before {
		reply, callErr = caller.Call(ctx, sample.command, body, origin)
	} else {
		// A first attempt of an event as the outbox worker makes it, judged
		// by the worker's own rule.
		ev := &parley.Event{ID: parley.NewEventID(time.Now()), Command: sample.command, Body: body, Origin: origin}
		callErr = caller.Send(ctx, ev, 1)
	}

	if rec.request == nil {
		return callErr
	}
	u := *rec.request.URL
	u.RawQuery = ""
	fmt.Fprintf(stdout, "POST %s %s (event %s)\n", u.String(), sample.command, rec.request.Header.Get("X-Parley-Event-Id"))
	if c.verbose {
		printRequest(stdout, rec.request, body)
	}
	if rec.status == "" {
		fmt.Fprintf(stdout, "no answer after %v\n", rec.latency.Round(time.Millisecond))
		return explainFailure(stdout, sample, c.beforeSendPolicy.String(), callErr)
	}
	fmt.Fprintf(stdout, "HTTP %s in %v\n", rec.status, rec.latency.Round(time.Millisecond))
	if len(rec.body) > 0 {
		fmt.Fprintf(stdout, "%s\n", bytes.TrimRight(rec.body, "\r\n"))
	}
	if !sample.before {
		if callErr == nil {
			fmt.Fprintln(stdout, "delivered: parley marks the event delivered")
			return nil
		}
		return explainFailure(stdout, sample, "", callErr)
	}
	if callErr != nil {
		return explainFailure(stdout, sample, c.beforeSendPolicy.String(), callErr)
	}
	verdict, ok := explainReply(sample, reply)
	fmt.Fprintln(stdout, verdict)
	if !ok {
		return fmt.Errorf("%s: parley would not accept the reply", sample.command)
	}
	return nil
}

// signingApp is the SdkAppid and the Standard Webhooks secrets parley
// serve would use with these settings: given ones first, app.json's
// otherwise, as serve resolves them. Unlike serve it never writes app.json:
// a generated secret would be one no receiver knows.
func (c *triggerConfig) signingApp() (uint64, []string, error) {
	sdkAppID, secrets := c.sdkappid, c.webhookSecrets.list
	if sdkAppID != 0 && len(secrets) > 0 {
		return sdkAppID, secrets, nil
	}
	stored, err := server.LoadApp(c.data)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, fmt.Errorf("no app in %s: run `parley serve --data %s` once to generate it, or pass --sdkappid and --webhook-secret",
			filepath.Join(c.data, server.AppFile), c.data)
	}
	if err != nil {
		return 0, nil, err
	}
	if sdkAppID == 0 {
		sdkAppID = stored.SDKAppID
	}
	if len(secrets) == 0 {
		if stored.WebhookSecret == "" {
			return 0, nil, fmt.Errorf("%s has no WebhookSecret: run `parley serve --data %s` once to add one, or pass --webhook-secret",
				filepath.Join(c.data, server.AppFile), c.data)
		}
		secrets = []string{stored.WebhookSecret}
	}
	return sdkAppID, secrets, nil
}

// explainFailure says what parley does when a callback fails and returns
// the error that makes the exit status 1. policy is "" for after-callbacks.
func explainFailure(w io.Writer, s sampleEvent, policy string, callErr error) error {
	reason := "the answer is not HTTP 200 with a JSON body"
	if callErr != nil {
		reason = strings.TrimPrefix(callErr.Error(), "delivery: "+s.command+": ")
	}
	switch policy {
	case "":
		fmt.Fprintf(w, "failed: %s; parley would retry the event on its --retry-schedule\n", reason)
	case server.PolicyReject:
		fmt.Fprintf(w, "failed: %s; with --before-send-policy reject the sender gets %d (%s)\n",
			reason, parley.ErrBeforeCallbackFailed, parley.ErrorText(parley.ErrBeforeCallbackFailed))
	default:
		fmt.Fprintf(w, "failed: %s; with --before-send-policy deliver the message is delivered unchanged\n", reason)
	}
	return fmt.Errorf("%s: %s", s.command, reason)
}

// explainReply says what parley does with a message given a before-send
// reply, the way chat applies it; ok is false when parley treats the reply
// as a failed callback.
func explainReply(s sampleEvent, reply parley.CallbackReply) (verdict string, ok bool) {
	blocked, custom := parley.ErrBlockedByCallback, parley.IsCustomCallbackCode
	if s.command == parley.CommandGroupBeforeSendMsg {
		blocked, custom = parley.ErrGroupBlockedCallback, parley.IsGroupCustomCallbackCode
	}
	switch code := reply.ErrorCode; {
	case code == 0:
		var changes []string
		if raw := bytes.TrimSpace(reply.MsgBody); len(raw) > 0 && string(raw) != "null" {
			if _, err := chat.ValidateMsgBody(raw); err != nil {
				return fmt.Sprintf("failed: the reply's MsgBody is invalid (%v); parley applies --before-send-policy", err), false
			}
			changes = append(changes, "MsgBody replaced by the reply's")
		}
		if reply.CloudCustomData != nil {
			changes = append(changes, fmt.Sprintf("CloudCustomData replaced by %q", *reply.CloudCustomData))
		}
		if len(changes) == 0 {
			return "allow: the message is sent unchanged", true
		}
		return "allow: the message is sent with " + strings.Join(changes, " and "), true
	case code == 1:
		return fmt.Sprintf("block: the sender gets %d (%s)", blocked, parley.ErrorText(blocked)), true
	case code == 2:
		return "drop: the sender is told it was sent, but the message is neither stored nor delivered", true
	case custom(code):
		info := reply.ErrorInfo
		if info == "" {
			info = parley.ErrorText(blocked)
		}
		return fmt.Sprintf("custom code: the message is not sent; the sender gets %d (%s)", code, info), true
	default:
		return fmt.Sprintf("failed: undocumented ErrorCode %d; parley applies --before-send-policy", code), false
	}
}

func printRequest(w io.Writer, req *http.Request, body []byte) {
	// In the order sent, which is the order Tencent documents.
	for param := range strings.SplitSeq(req.URL.RawQuery, "&") {
		if unescaped, err := url.QueryUnescape(param); err == nil {
			param = unescaped
		}
		fmt.Fprintf(w, "  ?%s\n", param)
	}
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(req.Header[k], ", "))
	}
	fmt.Fprintf(w, "  %s\n", body)
}

// recordingTransport keeps what the Caller sent and what came back, which
// the Caller itself reduces to a reply or an error. It serves one request.
type recordingTransport struct {
	base http.RoundTripper

	request *http.Request
	status  string // "200 OK"; "" when no answer came
	body    []byte
	latency time.Duration
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.request = req
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.latency = time.Since(start)
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, replyLimit+1))
	resp.Body.Close()
	t.latency = time.Since(start)
	if err != nil {
		return nil, err
	}
	t.status, t.body = resp.Status, body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// sampleEvent is a realistic event of one command, with the values of
// Tencent's samples (testdata/seeds, testdata/tencent) where there is one.
type sampleEvent struct {
	command string
	summary string
	before  bool // a before-send callback: its reply decides the message's fate
	body    any  // one of the parley body structs
}

// sampleEvents lists a sample of every command, in the order of
// parley.Commands.
func sampleEvents() []sampleEvent {
	const (
		from, to       = "jared", "Jonh"
		msgSeq         = 48374
		msgRandom      = 2837546
		msgTime        = 1557481126
		cloudData      = "your cloud custom data"
		groupID        = "@TGS#2J4SZEAEL"
		groupType      = "Public"
		operator       = "admin"
		groupRandom    = 123456
		groupMsgID     = "144115233406643804-1727580296-4026038328"
		groupMsgSeq    = 123
		groupMsgTime   = 1490686222
		groupEventTime = 1670574414123
	)
	msgKey := parley.MsgKey(msgSeq, msgRandom, msgTime)
	// Compact, as parley stores it.
	sampleMsgBody := json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]`)
	return []sampleEvent{
		{
			command: parley.CommandC2CBeforeSendMsg,
			summary: "before a one-to-one message is sent; the reply may allow, block, drop or rewrite it",
			before:  true,
			body: parley.BeforeSendMsg{
				CallbackCommand: parley.CommandC2CBeforeSendMsg,
				FromAccount:     from, ToAccount: to,
				MsgSeq: msgSeq, MsgRandom: msgRandom, MsgTime: msgTime, MsgKey: msgKey,
				OnlineOnlyFlag: 1, MsgBody: sampleMsgBody, CloudCustomData: cloudData,
			},
		},
		{
			command: parley.CommandC2CAfterSendMsg,
			summary: "after a one-to-one message is sent",
			body: parley.AfterSendMsg{
				CallbackCommand: parley.CommandC2CAfterSendMsg,
				FromAccount:     from, ToAccount: to,
				MsgSeq: msgSeq, MsgRandom: msgRandom, MsgTime: msgTime, MsgKey: msgKey,
				OnlineOnlyFlag: 1, SendMsgResult: 0, ErrorInfo: parley.SendMsgSucceedInfo, UnreadMsgNum: 7,
				MsgBody: sampleMsgBody, CloudCustomData: cloudData,
			},
		},
		{
			command: parley.CommandC2CAfterWithdraw,
			summary: "after a one-to-one message is recalled",
			body: parley.AfterMsgWithdraw{
				CallbackCommand: parley.CommandC2CAfterWithdraw,
				FromAccount:     from, ToAccount: to, MsgKey: msgKey, UnreadMsgNum: 7,
			},
		},
		{
			command: parley.CommandC2CAfterExtension,
			summary: "after a one-to-one message's extensions change (here: three keys set)",
			body: parley.C2CMsgExtension{
				CallbackCommand: parley.CommandC2CAfterExtension,
				FromAccount:     "user1", ToAccount: "user2", MsgKey: "93847636_1287657_1764688415",
				OperateType: 1,
				ExtensionList: []parley.ExtensionKV{
					{Key: "k1", Value: "v1", Seq: 1},
					{Key: "k2", Value: "v2", Seq: 1},
					{Key: "k3", Value: "v3", Seq: 1},
				},
				Seq: 1, EventTime: 1764688540182,
			},
		},
		{
			command: parley.CommandGroupBeforeSendMsg,
			summary: "before a group message is sent; the reply may allow, block, drop or rewrite it",
			before:  true,
			body: parley.GroupBeforeSendMsg{
				CallbackCommand: parley.CommandGroupBeforeSendMsg,
				GroupID:         groupID, Type: groupType, FromAccount: from, OperatorAccount: operator,
				Random: groupRandom, MsgID: groupMsgID, OnlineOnlyFlag: 1,
				MsgBody: sampleMsgBody, CloudCustomData: cloudData, EventTime: groupEventTime,
			},
		},
		{
			command: parley.CommandGroupAfterSendMsg,
			summary: "after a group message is sent",
			body: parley.GroupAfterSendMsg{
				CallbackCommand: parley.CommandGroupAfterSendMsg,
				GroupID:         groupID, Type: groupType, FromAccount: from, OperatorAccount: operator,
				Random: groupRandom, MsgID: groupMsgID, MsgSeq: groupMsgSeq, MsgTime: groupMsgTime,
				OnlineOnlyFlag: 1, MsgBody: sampleMsgBody, CloudCustomData: cloudData, EventTime: groupEventTime,
			},
		},
		{
			command: parley.CommandGroupAfterRecall,
			summary: "after group messages are recalled",
			body: parley.GroupAfterRecallMsg{
				CallbackCommand: parley.CommandGroupAfterRecall,
				OperatorAccount: operator, Type: groupType, GroupID: groupID,
				MsgSeqList: []parley.GroupMsgSeqRef{{MsgSeq: groupMsgSeq}},
				EventTime:  groupEventTime,
			},
		},
		{
			command: parley.CommandGroupAfterExtension,
			summary: "after a group message's extensions change (here: two keys set)",
			body: parley.GroupMsgExtension{
				CallbackCommand: parley.CommandGroupAfterExtension,
				GroupID:         "test", MsgSeq: 10, OperateType: 1,
				ExtensionList: []parley.ExtensionKV{
					{Key: "key2", Value: "value2", Seq: 56},
					{Key: "key3", Value: "12122", Seq: 56},
				},
				Seq: 56, EventTime: 1764688294360,
			},
		},
	}
}

// marshalBody encodes a webhook body as chat does: without HTML escaping,
// without a trailing newline.
func marshalBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode sample body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// The admin subcommands: ls, show, replay and recover call the
// parley_webhook service of a running parley (restapi/webhookadmin.go).

// adminTimeout bounds one admin call: they are reads of an index or one
// write, quick unless the server is in trouble.
const adminTimeout = 30 * time.Second

// adminConfig is how an admin subcommand reaches a running parley: its
// base URL, and the app whose admin UserSig it signs, found as parley
// listen finds them (flags, then the environment and config file of
// parley serve, then app.json in --data).
type adminConfig struct {
	config    string
	url       string
	addr      string
	data      string
	sdkappid  uint64
	secretKey string
	admin     string
}

func (c *adminConfig) define(fset *flag.FlagSet) {
	fset.StringVar(&c.url, "url", "", "base `URL` of the running parley")
	fset.StringVar(&c.config, "config", "", "read settings from `FILE`, as parley serve does")
	fset.StringVar(&c.addr, "addr", server.DefaultAddr, "`HOST:PORT` parley serve listens on: --url defaults to it")
	fset.StringVar(&c.data, "data", server.DefaultDataDir, "data `DIR` whose app.json holds the app, to sign the admin UserSig with")
	fset.Uint64Var(&c.sdkappid, "sdkappid", 0, "`ID`: SDKAppID instead of app.json's")
	fset.StringVar(&c.secretKey, "secret-key", "", "`KEY` to sign the admin UserSig with instead of app.json's")
	fset.StringVar(&c.admin, "admin", "", "App admin `USERID` instead of app.json's")
}

// adminDefaults are the default texts of the adminConfig flags whose zero
// value means "look elsewhere".
func adminDefaults() map[string]string {
	return map[string]string{
		"url":        "http://ADDR",
		"sdkappid":   "from app.json",
		"secret-key": "from app.json",
		"admin":      "from app.json",
	}
}

const adminFlagsNote = `
--addr, --data, --sdkappid, --secret-key and --admin are also read from the
environment and the config file, as by parley serve.

Flags:
`

// newAdminFlags is the FlagSet of an admin subcommand: its own flags
// (defined by own, which may be nil) and adminConfig's.
func newAdminFlags(name, usage string, w io.Writer, own func(*flag.FlagSet)) (*flag.FlagSet, *adminConfig) {
	c := &adminConfig{}
	fset := flag.NewFlagSet("parley webhooks "+name, flag.ContinueOnError)
	fset.SetOutput(w)
	if own != nil {
		own(fset)
	}
	c.define(fset)
	fset.Usage = func() {
		fmt.Fprint(w, usage, adminFlagsNote)
		printFlags(w, fset, serveSettings(), adminDefaults())
	}
	return fset, c
}

// parseAdminArgs configures fset from args (see configure) and returns its
// positional arguments, which may come anywhere among the flags; scratch
// is a second FlagSet like fset, to tell them apart.
func parseAdminArgs(fset, scratch *flag.FlagSet, args []string, env lookupEnv) ([]string, error) {
	scratch.SetOutput(io.Discard)
	flagArgs, positional := splitCommandArgs(scratch, args)
	if err := configure(fset, flagArgs, env, serveSettings()); err != nil {
		return nil, err
	}
	return positional, nil
}

// baseURL is the running parley's base URL: --url, else http://--addr.
func (c *adminConfig) baseURL() (string, error) {
	base := c.url
	if base == "" {
		base = clientURL(c.addr)
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{err: fmt.Errorf("--url %q: want http://HOST:PORT of the running parley", base)}
	}
	return strings.TrimSuffix(base, "/"), nil
}

// app is the app the admin UserSig is signed for: the flags' values,
// app.json's for the rest.
func (c *adminConfig) app() (server.App, error) {
	app := server.App{SDKAppID: c.sdkappid, SecretKey: c.secretKey, Admin: c.admin}
	if app.SDKAppID != 0 && app.SecretKey != "" && app.Admin != "" {
		return app, nil
	}
	stored, err := server.LoadApp(c.data)
	if errors.Is(err, fs.ErrNotExist) {
		return server.App{}, fmt.Errorf("no app in %s: give the --data of the running parley serve, or --sdkappid, --secret-key and --admin",
			filepath.Join(c.data, server.AppFile))
	}
	if err != nil {
		return server.App{}, err
	}
	return app.Or(stored), nil
}

// client resolves where parley is and signs for its admin.
func (c *adminConfig) client() (*adminClient, error) {
	base, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	app, err := c.app()
	if err != nil {
		return nil, err
	}
	return &adminClient{base: base, app: app, http: &http.Client{Timeout: adminTimeout}}, nil
}

// adminClient calls the parley_webhook service as the App admin.
type adminClient struct {
	base string
	app  server.App
	http *http.Client
}

// apiError is a failed answer of the admin API.
type apiError struct {
	code int
	info string
}

func (e *apiError) Error() string { return fmt.Sprintf("parley answered %d: %s", e.code, e.info) }

// call POSTs req as JSON to /v4/parley_webhook/{command} and decodes the
// answer's fields into res.
func (a *adminClient) call(ctx context.Context, command string, req, res any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: a.app.SDKAppID, Key: a.app.SecretKey, Identifier: a.app.Admin, Expire: 3600})
	if err != nil {
		return fmt.Errorf("signing the admin UserSig: %w", err)
	}
	q := url.Values{
		"sdkappid":    {strconv.FormatUint(a.app.SDKAppID, 10)},
		"identifier":  {a.app.Admin},
		"usersig":     {sig},
		"random":      {strconv.FormatUint(uint64(mathrand.Uint32()), 10)},
		"contenttype": {"json"},
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/v4/parley_webhook/"+command+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(r)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, UserSig and all
		}
		return fmt.Errorf("cannot reach parley at %s (is parley serve running there? --url and --addr say where): %v", a.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading parley's answer: %w", err)
	}
	var env struct {
		ActionStatus string
		ErrorInfo    string
		ErrorCode    int
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil || env.ActionStatus == "" {
		return fmt.Errorf("%s is not a parley answering the admin API: HTTP %d, %s", a.base, resp.StatusCode, oneLineSnippet(raw))
	}
	if env.ErrorCode != 0 {
		return &apiError{code: env.ErrorCode, info: env.ErrorInfo}
	}
	if err := json.Unmarshal(raw, res); err != nil {
		return fmt.Errorf("decoding parley's answer to %s: %w", command, err)
	}
	return nil
}

// oneLineSnippet is the start of b, on one line, for an error message.
func oneLineSnippet(b []byte) string {
	const limit = 200
	cut := len(b) > limit
	if cut {
		b = b[:limit]
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if cut {
		s += "…"
	}
	return strconv.Quote(s)
}

// adminEvent is an event as list_events, get_event and replay_event
// answer it.
type adminEvent struct {
	EventID       string `json:"EventId"`
	Seq           int64
	Command       string
	Conversation  string
	State         string
	Attempts      int
	CreatedAt     int64
	NextAttemptAt int64
	DeliveredAt   int64
	LastError     string

	// get_event only.
	Body        json.RawMessage
	ClientIP    string
	OptPlatform string
}

type adminAttempt struct {
	Attempt   int
	Time      int64
	Status    int
	LatencyMs float64
	Response  string
	Error     string
}

// timeText shows a Unix time in local time, "-" for none.
func timeText(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).Format(time.DateTime)
}

// conversationText shows an outbox conversation name: "c2c:alice,bob",
// "group:@TGS#1".
func conversationText(c string) string { return strings.ReplaceAll(c, "\x00", ",") }

// parseTimeArg reads a --since or --until: a duration back from now
// ("90m", "2h"), an RFC 3339 time, a date (local midnight), or Unix
// seconds.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty: want a duration back from now (1h), an RFC 3339 time, a date or Unix seconds")
	}
	// Digits alone are Unix seconds, before ParseDuration takes "0".
	if strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < math.MaxInt64/1000 {
			return time.Unix(n, 0), nil
		}
		return time.Time{}, fmt.Errorf("%q: too large for Unix seconds", s)
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive duration back from now", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a duration back from now (1h), an RFC 3339 time (2006-01-02T15:04:05Z), a date (2006-01-02) or Unix seconds", s)
}

// timeValue is a --since or --until flag.
type timeValue struct {
	t   time.Time
	now func() time.Time
}

func (v *timeValue) String() string {
	if v == nil || v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339)
}

func (v *timeValue) Set(s string) error {
	t, err := parseTimeArg(s, v.now())
	if err != nil {
		return err
	}
	v.t = t
	return nil
}

// stateValue is --state.
type stateValue struct{ s string }

func (v *stateValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *stateValue) Set(s string) error {
	switch parley.EventState(s) {
	case parley.EventPending, parley.EventFailed, parley.EventDelivered, parley.EventDead:
		v.s = s
		return nil
	}
	return fmt.Errorf("%q: want pending, failed, delivered or dead", s)
}

// commandValue is ls's --command: one command parley records events of.
type commandValue struct{ s string }

func (v *commandValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *commandValue) Set(s string) error {
	switch {
	case s == parley.CommandC2CBeforeSendMsg || s == parley.CommandGroupBeforeSendMsg:
		return fmt.Errorf("%s is a before-send callback: answered synchronously, never an event of the outbox", s)
	case !slices.Contains(parley.Commands, s):
		return fmt.Errorf("unknown callback command %q (known: %s)", s, strings.Join(parley.Commands, ", "))
	}
	v.s = s
	return nil
}

const lsUsage = `Usage: parley webhooks ls [--state S] [--command C] [--since T] [--until T] [--limit N]

Lists the after-callback events of a running parley's outbox, newest first:
when each was created, its id, command and conversation, its state, how
many attempts it took, and its last error. States: pending (waiting for
its first attempt or a retry), failed (pending, its last attempt failed),
delivered, dead (every retry failed). T is a duration back from now (1h),
an RFC 3339 time, a date or Unix seconds. When more events match than
--limit, the last line gives the --cursor of the next page.
`

type lsOptions struct {
	state   stateValue
	command commandValue
	since   timeValue
	until   timeValue
	limit   int
	cursor  string
}

func newListFlags(w io.Writer) (*flag.FlagSet, *adminConfig, *lsOptions) {
	o := &lsOptions{since: timeValue{now: time.Now}, until: timeValue{now: time.Now}}
	fset, c := newAdminFlags("ls", lsUsage, w, func(fset *flag.FlagSet) {
		fset.Var(&o.state, "state", "only events in `STATE`: pending, failed, delivered or dead")
		fset.Var(&o.command, "command", "only events of `COMMAND`")
		fset.Var(&o.since, "since", "only events created at or after `TIME`")
		fset.Var(&o.until, "until", "only events created at or before `TIME`")
		fset.IntVar(&o.limit, "limit", 20, "at most `N` events, 1 to 100")
		fset.StringVar(&o.cursor, "cursor", "", "the page that starts after `CURSOR`, as the previous page's last line gives it")
	})
	return fset, c, o
}

func runWebhooksList(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	fset, c, o := newListFlags(stderr)
	scratch, _, _ := newListFlags(io.Discard)
	positional, err := parseAdminArgs(fset, scratch, args, env)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageError{err: fmt.Errorf("unexpected argument %q", positional[0])}
	}
	if o.limit < 1 || o.limit > 100 {
		return usageError{err: fmt.Errorf("--limit %d: want 1 to 100", o.limit)}
	}
	if !o.since.t.IsZero() && !o.until.t.IsZero() && o.until.t.Before(o.since.t) {
		return usageError{err: fmt.Errorf("--until %s is before --since %s", o.until.String(), o.since.String())}
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	req := map[string]any{"Limit": o.limit}
	if o.state.s != "" {
		req["State"] = o.state.s
	}
	if o.command.s != "" {
		req["Command"] = o.command.s
	}
	if !o.since.t.IsZero() {
		req["Since"] = o.since.t.Unix()
	}
	if !o.until.t.IsZero() {
		req["Until"] = o.until.t.Unix()
	}
	if o.cursor != "" {
		req["Cursor"] = o.cursor
	}
	var res struct {
		Events     []adminEvent
		NextCursor string
	}
	if err := client.call(ctx, "list_events", req, &res); err != nil {
		return err
	}
	if len(res.Events) == 0 {
		fmt.Fprintln(stdout, "no events")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tEVENT\tCOMMAND\tCONVERSATION\tSTATE\tATTEMPTS\tLAST ERROR")
	for _, e := range res.Events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", timeText(e.CreatedAt), e.EventID, e.Command,
			conversationText(e.Conversation), e.State, e.Attempts, shorten(e.LastError, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.NextCursor != "" {
		fmt.Fprintf(stdout, "more: add --cursor %s for the next page\n", res.NextCursor)
	}
	return nil
}

// shorten cuts s to at most n runes on one line, marking the cut.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

const showUsage = `Usage: parley webhooks show [flags] EVENT_ID

Shows one event of a running parley's outbox: its state, when it was
created and delivered or is next attempted, its last error, where it came
from (ClientIP, OptPlatform), its body pretty-printed, and every attempt:
when, the HTTP status (none when no answer came), the latency, the error
and the start of the receiver's answer (its first 1 KiB; bytes that are
not UTF-8 show as \xNN).
`

// eventIDArg is the one EVENT_ID of show and replay.
func eventIDArg(fset *flag.FlagSet, positional []string) (string, error) {
	switch len(positional) {
	case 0:
		fset.Usage()
		return "", usageError{err: errors.New("no EVENT_ID given; parley webhooks ls lists them")}
	case 1:
		return positional[0], nil
	}
	return "", usageError{err: fmt.Errorf("unexpected argument %q after the EVENT_ID", positional[1])}
}

// eventCommand reads the flags and the EVENT_ID of a subcommand about one
// event, and returns the ID and the client to call parley with.
func eventCommand(name, usage string, args []string, env lookupEnv, stderr io.Writer) (string, *adminClient, error) {
	fset, c := newAdminFlags(name, usage, stderr, nil)
	scratch, _ := newAdminFlags(name, usage, io.Discard, nil)
	positional, err := parseAdminArgs(fset, scratch, args, env)
	if err != nil {
		return "", nil, err
	}
	id, err := eventIDArg(fset, positional)
	if err != nil {
		return "", nil, err
	}
	client, err := c.client()
	if err != nil {
		return "", nil, err
	}
	return id, client, nil
}

func runWebhooksShow(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	id, client, err := eventCommand("show", showUsage, args, env, stderr)
	if err != nil {
		return err
	}
	var res struct {
		Event    adminEvent
		Attempts []adminAttempt
	}
	if err := client.call(ctx, "get_event", map[string]any{"EventId": id}, &res); err != nil {
		return err
	}
	printEvent(stdout, &res.Event, res.Attempts)
	return nil
}

func printEvent(w io.Writer, e *adminEvent, attempts []adminAttempt) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "event\t%s (seq %d)\n", e.EventID, e.Seq)
	fmt.Fprintf(tw, "command\t%s\n", e.Command)
	fmt.Fprintf(tw, "conversation\t%s\n", conversationText(e.Conversation))
	fmt.Fprintf(tw, "state\t%s after %d attempt%s\n", e.State, e.Attempts, plural(e.Attempts))
	fmt.Fprintf(tw, "created\t%s\n", timeText(e.CreatedAt))
	switch e.State {
	case string(parley.EventPending):
		fmt.Fprintf(tw, "next attempt\t%s\n", timeText(e.NextAttemptAt))
	case string(parley.EventDelivered):
		fmt.Fprintf(tw, "delivered\t%s\n", timeText(e.DeliveredAt))
	}
	if e.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s\n", e.LastError)
	}
	fmt.Fprintf(tw, "origin\tClientIP %s, OptPlatform %s\n", e.ClientIP, e.OptPlatform)
	tw.Flush()

	fmt.Fprintln(w, "body:")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, e.Body, "  ", "  "); err != nil {
		pretty.Reset()
		pretty.Write(e.Body)
	}
	fmt.Fprintf(w, "  %s\n", pretty.Bytes())

	if len(attempts) == 0 {
		fmt.Fprintln(w, "attempts: none yet")
		return
	}
	fmt.Fprintln(w, "attempts:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range attempts {
		status := "no answer"
		if a.Status != 0 {
			status = fmt.Sprintf("HTTP %d", a.Status)
		}
		outcome := "delivered"
		if a.Error != "" {
			outcome = a.Error
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\t%s\n", a.Attempt, timeText(a.Time), status, latencyText(a.LatencyMs), outcome)
		if a.Response != "" {
			fmt.Fprintf(tw, "  \t\tanswer:\t%s\n", shorten(a.Response, 200))
		}
	}
	tw.Flush()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// latencyText shows a latency in milliseconds as a duration, to the
// microsecond under a second.
func latencyText(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	if d < time.Second {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

const replayUsage = `Usage: parley webhooks replay [flags] EVENT_ID

Sends one event of a running parley's outbox again, whatever its state: a
delivered or dead event becomes pending, due now, with the same id (so
receivers can drop it as a duplicate) and its attempts counting on; a
pending one is made due now. It keeps its place in its conversation: later
events of the conversation that are still pending wait until it is
delivered or dead again. The delivery itself is parley's: follow it with
parley webhooks show EVENT_ID.
`

func runWebhooksReplay(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	id, client, err := eventCommand("replay", replayUsage, args, env, stderr)
	if err != nil {
		return err
	}
	var res struct{ Event adminEvent }
	if err := client.call(ctx, "replay_event", map[string]any{"EventId": id}, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %s: %s, due %s; its next attempt is #%d\n",
		res.Event.EventID, res.Event.State, timeText(res.Event.NextAttemptAt), res.Event.Attempts+1)
	return nil
}

const recoverUsage = `Usage: parley webhooks recover --since T [--until T] [flags]

Sends again every event of a running parley's outbox created since T (and
until T, if given) that is dead or failed (pending, its last attempt
failed): each becomes due now, keeping its id and counting its attempts
on, as with replay. A recovered dead event gets one more attempt, then is
dead again if it fails; a failed one goes on with its retry schedule. T is
a duration back from now (1h), an RFC 3339 time, a date or Unix seconds.
`

func runWebhooksRecover(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	since, until := timeValue{now: time.Now}, timeValue{now: time.Now}
	own := func(fset *flag.FlagSet) {
		fset.Var(&since, "since", "recover the events created at or after `TIME` (required)")
		fset.Var(&until, "until", "and at or before `TIME`")
	}
	fset, c := newAdminFlags("recover", recoverUsage, stderr, own)
	scratch, _ := newAdminFlags("recover", recoverUsage, io.Discard, func(fset *flag.FlagSet) {
		fset.Var(&timeValue{now: time.Now}, "since", "")
		fset.Var(&timeValue{now: time.Now}, "until", "")
	})
	positional, err := parseAdminArgs(fset, scratch, args, env)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageError{err: fmt.Errorf("unexpected argument %q", positional[0])}
	}
	if since.t.IsZero() {
		fset.Usage()
		return usageError{err: errors.New("--since is required: how far back to recover, e.g. --since 1h")}
	}
	if !until.t.IsZero() && until.t.Before(since.t) {
		return usageError{err: fmt.Errorf("--until %s is before --since %s", until.String(), since.String())}
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	req := map[string]any{"Since": since.t.Unix()}
	if !until.t.IsZero() {
		req["Until"] = until.t.Unix()
	}
	var res struct{ Recovered int }
	if err := client.call(ctx, "recover_events", req, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovered %d event%s created since %s: due now\n", res.Recovered, plural(res.Recovered), since.t.Format(time.DateTime))
	return nil
}
