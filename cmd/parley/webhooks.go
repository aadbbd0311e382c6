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
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/server"
)

const webhooksUsage = `Usage: parley webhooks SUBCOMMAND [flags]

Subcommands:

  trigger COMMAND   send a sample COMMAND event to the callback URL and
                    print the receiver's answer
  trigger --list    list the commands

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

// splitCommandArgs separates the flags of args from the positional
// arguments, so that COMMAND may come before, between or after the flags.
// Arguments that do not parse are left to configure to report.
func splitCommandArgs(args []string) (flags, positional []string) {
	fset, _ := newTriggerFlags(io.Discard)
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
	flagArgs, positional := splitCommandArgs(args)
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
