package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

const (
	// listenRetryMin and listenRetryMax bound the wait between attempts to
	// reach parley again: quick after a blip, patient while it is down.
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
	// listenSnippet is how much of a receiver's answer is shown without -v.
	listenSnippet = 200
	// listenSummaryRunes bounds the message text of a summary line.
	listenSummaryRunes = 60
	// listenReplyLimit is how much of an answer is read: what parley
	// itself reads of a reply before giving up on it.
	listenReplyLimit = 64 << 10
)

// listenConfig is what `parley listen` can be told.
type listenConfig struct {
	adminConfig
	callbackTimeout time.Duration
	forwardTo       urlValue
	commands        listenCommands
	verbose         bool
}

func newListenFlags(w io.Writer) (*flag.FlagSet, *listenConfig) {
	c := &listenConfig{}
	fset := flag.NewFlagSet("parley listen", flag.ContinueOnError)
	fset.SetOutput(w)
	fset.Var(&c.forwardTo, "forward-to", "`URL` of your receiver: each event is POSTed there as parley sends it (without it, events are only printed)")
	fset.Var(&c.commands, "command", "only events of `COMMAND` (repeat it, or give a comma-separated list)")
	fset.BoolVar(&c.verbose, "v", false, "also print each body and the receiver's whole answer")
	fset.DurationVar(&c.callbackTimeout, "callback-timeout", server.DefaultCallbackTimeout, "`DURATION` the receiver may take to answer a forwarded event")
	c.adminConfig.define(fset)
	fset.Usage = func() {
		fmt.Fprint(w, `Usage: parley listen [--forward-to URL] [-v] [--url URL] [--command COMMAND ...]

Connects to a running parley (no public URL needed: the stream comes from
parley, signed in as the App admin), prints every after-callback as it is
committed (time, command, event id, conversation and a one-line summary;
the body with -v), POSTs it to --forward-to exactly as parley's delivery
does (the same query parameters, Sign and RequestTime included when a
callback token is set, and the same headers, the Standard Webhooks
signature included) and prints the receiver's answer and latency.

It runs alongside parley's own delivery, which goes on as configured; parley
serve needs no --callback-url for it: without one, parley records the
events while a listener is connected. Events are forwarded one at a time,
in commit order. A lost connection is retried, and resumes after the last
event received. Ctrl-C stops it.

Before-send callbacks (C2C.CallbackBeforeSendMsg,
Group.CallbackBeforeSendMsg) are answered synchronously by the callback URL
while the sender waits, and are never recorded, so listen cannot see or
answer them: send one to your receiver with
  parley webhooks trigger C2C.CallbackBeforeSendMsg --callback-url URL

--addr, --data, --sdkappid, --secret-key, --admin and --callback-timeout
are also read from the environment and the config file, as by parley serve.

Flags:
`)
		printFlags(w, fset, serveSettings(), adminDefaults())
	}
	return fset, c
}

// listenCommands is --command: repeatable, each a command or a
// comma-separated list of them.
type listenCommands struct{ list []string }

func (v *listenCommands) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(v.list, ",")
}

func (v *listenCommands) Set(s string) error {
	for c := range strings.SplitSeq(s, ",") {
		c = strings.TrimSpace(c)
		switch {
		case c == "":
			continue
		case c == parley.CommandC2CBeforeSendMsg || c == parley.CommandGroupBeforeSendMsg:
			return fmt.Errorf("%s is a before-send callback, answered synchronously and never recorded, so it cannot be listened to; send one to your receiver with `parley webhooks trigger %s`", c, c)
		case !slices.Contains(parley.Commands, c):
			return fmt.Errorf("unknown callback command %q (known: %s)", c, strings.Join(parley.Commands, ", "))
		}
		if !slices.Contains(v.list, c) {
			v.list = append(v.list, c)
		}
	}
	return nil
}

func runListen(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) error {
	fset, c := newListenFlags(stderr)
	if err := configure(fset, args, env, serveSettings()); err != nil {
		return err
	}
	if c.callbackTimeout <= 0 {
		return usageError{err: fmt.Errorf("--callback-timeout %v: want a positive duration", c.callbackTimeout)}
	}
	base, err := c.baseURL()
	if err != nil {
		return err
	}
	app, err := c.app()
	if err != nil {
		return err
	}

	streamTransport := http.DefaultTransport.(*http.Transport).Clone()
	streamTransport.ResponseHeaderTimeout = 30 * time.Second
	defer streamTransport.CloseIdleConnections()
	forwardTransport := http.DefaultTransport.(*http.Transport).Clone()
	defer forwardTransport.CloseIdleConnections()
	l := &listenClient{
		base:    strings.TrimSuffix(base, "/"),
		app:     app,
		target:  c.forwardTo.s,
		verbose: c.verbose,
		filter:  c.commands.list,
		stream:  &http.Client{Transport: streamTransport},
		forward: &http.Client{Transport: forwardTransport, Timeout: c.callbackTimeout},
		out:     stdout,
		status:  stderr,
	}
	return l.run(ctx)
}

// listenClient is one `parley listen`.
type listenClient struct {
	base    string
	app     server.App
	target  string // "" prints only
	verbose bool
	filter  []string
	stream  *http.Client
	forward *http.Client
	out     io.Writer // events and answers
	status  io.Writer // the connection's ups and downs

	lastID string // the Seq of the last message received: where a reconnect resumes
}

// listenRefused is parley's answer to a stream it will not open: a Tencent
// error code. Retrying helps only with 91000 (shutting down, too many
// listeners): the others say the request itself is wrong.
type listenRefused struct {
	code int
	info string
}

func (e *listenRefused) Error() string {
	return fmt.Sprintf("parley refused the stream: %d %s", e.code, e.info)
}

// run streams until ctx ends or parley refuses, reconnecting after any
// other failure.
func (l *listenClient) run(ctx context.Context) error {
	wait := listenRetryMin
	down := false // an outage has been reported
	for {
		connected, err := l.session(ctx)
		if ctx.Err() != nil {
			fmt.Fprintln(l.status, "stopped")
			return nil
		}
		var refused *listenRefused
		if errors.As(err, &refused) && refused.code != parley.ErrInternal {
			return err
		}
		if connected {
			wait, down = listenRetryMin, false
		}
		if !down {
			if connected || l.lastID != "" {
				fmt.Fprintf(l.status, "lost the stream (%v); reconnecting\n", err)
			} else {
				fmt.Fprintf(l.status, "cannot reach parley at %s (%v); retrying\n", l.base, err)
			}
			down = true
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(l.status, "stopped")
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// errListenSilent ends a stream that has been silent for longer than three of
// its keep-alives: a laptop that slept, a proxy that dropped it.
var errListenSilent = errors.New("no keep-alive from parley in time")

// session is one connection: it returns when the stream ends, with
// whether it got as far as the ready event.
func (l *listenClient) session(ctx context.Context) (connected bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := l.connect(sctx)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	// Until the ready event says how often keep-alives come, allow what
	// the response header had.
	idle := 30 * time.Second
	watchdog := time.AfterFunc(idle, func() { cancel(errListenSilent) })
	defer watchdog.Stop()
	r := delivery.NewListenReader(readNotifier{resp.Body, func() { watchdog.Reset(idle) }})
	for {
		m, err := r.Next()
		// Forwarding takes as long as the receiver does (a breakpoint in
		// it, say): that is not the stream's silence.
		watchdog.Stop()
		if err != nil {
			if cause := context.Cause(sctx); cause != nil && ctx.Err() == nil {
				err = cause
			} else if errors.Is(err, io.EOF) {
				err = errors.New("parley closed it")
			}
			return connected, err
		}
		switch {
		case m.Ready != nil:
			if m.Ready.KeepAlive > 0 {
				idle = 3 * time.Duration(m.Ready.KeepAlive) * time.Millisecond
			}
			l.ready(m.Ready)
			connected = true
		case m.Event != nil:
			l.handle(ctx, m.Event)
		}
		l.lastID = m.ID
		watchdog.Reset(idle)
	}
}

// readNotifier calls onRead after every read that got bytes: keep-alive
// comments included, which the ListenReader skips.
type readNotifier struct {
	r      io.Reader
	onRead func()
}

func (n readNotifier) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if k > 0 {
		n.onRead()
	}
	return k, err
}

// connect opens the stream, or returns why not: a *listenRefused when
// parley answered with an error.
func (l *listenClient) connect(ctx context.Context) (*http.Response, error) {
	sig, err := usersig.Gen(usersig.GenParams{
		SDKAppID:   l.app.SDKAppID,
		Key:        l.app.SecretKey,
		Identifier: l.app.Admin,
		Expire:     int64((24 * time.Hour).Seconds()),
	})
	if err != nil {
		return nil, &listenRefused{code: parley.ErrUserSigInvalid, info: "cannot sign the admin UserSig: " + err.Error()}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	q := url.Values{
		"sdkappid":    {strconv.FormatUint(l.app.SDKAppID, 10)},
		"identifier":  {l.app.Admin},
		"usersig":     {sig},
		"random":      {strconv.FormatUint(uint64(binary.BigEndian.Uint32(rnd[:])), 10)},
		"contenttype": {"json"},
	}
	for _, c := range l.filter {
		q.Add("command", c)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+server.ListenPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", delivery.ListenContentType)
	if l.lastID != "" {
		req.Header.Set("Last-Event-ID", l.lastID)
	}
	resp, err := l.stream.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries the UserSig
		}
		return nil, err
	}
	if delivery.IsListenStream(resp) {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, listenReplyLimit))
	var answer struct {
		ActionStatus string
		ErrorCode    int
		ErrorInfo    string
	}
	if json.Unmarshal(body, &answer) == nil && answer.ErrorCode != 0 {
		return nil, &listenRefused{code: answer.ErrorCode, info: answer.ErrorInfo}
	}
	// Not parley, or a parley without listen: retrying will not help.
	return nil, &listenRefused{code: parley.ErrBadResource, info: fmt.Sprintf("%s%s answered HTTP %s, not an event stream: %s",
		l.base, server.ListenPath, resp.Status, listenOneLine(body, listenSnippet))}
}

func (l *listenClient) ready(r *delivery.ListenReady) {
	to := "printing only"
	if l.target != "" {
		to = "forwarding to " + l.target
	}
	if l.lastID == "" {
		fmt.Fprintf(l.status, "listening to %s for events committed from now on; %s; Ctrl-C to stop\n", l.base, to)
		return
	}
	if strconv.FormatInt(r.Seq, 10) == l.lastID {
		fmt.Fprintf(l.status, "reconnected; resuming after event %s; %s\n", l.lastID, to)
		return
	}
	// The outbox no longer goes as far as where we were: it was reset, or
	// this is another parley.
	fmt.Fprintf(l.status, "reconnected, but parley's outbox now ends at event %d, before event %s: streaming events committed from now on; %s\n", r.Seq, l.lastID, to)
}

// handle prints an event and forwards it.
func (l *listenClient) handle(ctx context.Context, ev *delivery.ListenEvent) {
	fmt.Fprintf(l.out, "%s  %s  %s  %s  %s\n", time.UnixMilli(ev.CreatedAt).Format("15:04:05.000"),
		ev.Command, ev.EventID, conversationText(ev.Conversation), listenSummary(ev.Command, ev.Body))
	if l.verbose {
		var pretty bytes.Buffer
		if json.Indent(&pretty, ev.Body, "    ", "  ") != nil {
			pretty.Reset()
			pretty.Write(ev.Body)
		}
		fmt.Fprintf(l.out, "    %s\n", pretty.Bytes())
	}
	if l.target == "" {
		return
	}
	req, err := ev.NewRequest(ctx, l.target)
	if err != nil {
		fmt.Fprintf(l.out, "    → not forwarded: %v\n", err)
		return
	}
	start := time.Now()
	resp, err := l.forward.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries Sign
		}
		fmt.Fprintf(l.out, "    → failed after %s: %v (parley would retry it)\n", listenLatency(time.Since(start)), err)
		return
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, listenReplyLimit+1))
	resp.Body.Close()
	took := time.Since(start)
	var verdict string
	switch {
	case readErr != nil:
		verdict = fmt.Sprintf(" (reading it failed: %v; parley would retry it)", readErr)
	case resp.StatusCode != http.StatusOK:
		verdict = " (not 200: parley would retry it)"
	case len(body) > listenReplyLimit:
		verdict = " (larger than 64 KiB: parley would retry it)"
	case !json.Valid(body):
		verdict = " (not JSON: parley would retry it)"
	}
	shown := listenOneLine(body, listenSnippet)
	if l.verbose {
		shown = listenOneLine(body, listenReplyLimit)
	}
	fmt.Fprintf(l.out, "    → %s in %s: %s%s\n", resp.Status, listenLatency(took), shown, verdict)
}

// listenLatency is d to a useful precision: 0.1 ms under a second.
func listenLatency(d time.Duration) string {
	if d < time.Second {
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// listenOneLine is b on one line, cut after limit bytes.
func listenOneLine(b []byte, limit int) string {
	if len(b) == 0 {
		return "(empty body)"
	}
	cut := len(b) > limit
	if cut {
		b = b[:limit]
	}
	// A rune split by the cut shows as "?", like any invalid byte.
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if cut {
		s += "…"
	}
	return s
}

// listenSummary is a one-line account of an event, "" when its body is not
// the command's.
func listenSummary(command string, body []byte) string {
	switch command {
	case parley.CommandC2CAfterSendMsg:
		var b parley.AfterSendMsg
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		s := fmt.Sprintf("%s → %s: %s", b.FromAccount, b.ToAccount, listenMsgText(b.MsgBody))
		if b.SendMsgResult != 0 {
			s += fmt.Sprintf(" (not delivered: %d %s)", b.SendMsgResult, b.ErrorInfo)
		}
		return s
	case parley.CommandC2CAfterWithdraw:
		var b parley.AfterMsgWithdraw
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		return fmt.Sprintf("%s → %s: message %s recalled", b.FromAccount, b.ToAccount, b.MsgKey)
	case parley.CommandC2CAfterExtension:
		var b parley.C2CMsgExtension
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		return fmt.Sprintf("%s → %s: message %s %s", b.FromAccount, b.ToAccount, b.MsgKey, listenExtensionChange(b.OperateType, b.ExtensionList, b.Seq))
	case parley.CommandGroupAfterSendMsg:
		var b parley.GroupAfterSendMsg
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		return fmt.Sprintf("group %s MsgSeq %d %s: %s", b.GroupID, b.MsgSeq, b.FromAccount, listenMsgText(b.MsgBody))
	case parley.CommandGroupAfterRecall:
		var b parley.GroupAfterRecallMsg
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		seqs := make([]string, len(b.MsgSeqList))
		for i, r := range b.MsgSeqList {
			seqs[i] = strconv.FormatUint(r.MsgSeq, 10)
		}
		return fmt.Sprintf("group %s MsgSeq %s recalled", b.GroupID, strings.Join(seqs, ", "))
	case parley.CommandGroupAfterExtension:
		var b parley.GroupMsgExtension
		if json.Unmarshal(body, &b) != nil {
			return ""
		}
		return fmt.Sprintf("group %s MsgSeq %d %s", b.GroupID, b.MsgSeq, listenExtensionChange(b.OperateType, b.ExtensionList, b.Seq))
	}
	return ""
}

func listenExtensionChange(op int, kvs []parley.ExtensionKV, seq uint64) string {
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	switch op {
	case parley.ExtensionSet:
		return fmt.Sprintf("extensions set %s (Seq %d)", strings.Join(keys, ", "), seq)
	case parley.ExtensionDel:
		return fmt.Sprintf("extensions deleted %s (Seq %d)", strings.Join(keys, ", "), seq)
	case parley.ExtensionClear:
		return fmt.Sprintf("extensions cleared (Seq %d)", seq)
	}
	return fmt.Sprintf("extensions changed, OperateType %d (Seq %d)", op, seq)
}

// listenMsgText is a message body on one line: the text of its text elements,
// the others as [Image], [Custom], ..., cut at listenSummaryRunes.
func listenMsgText(body json.RawMessage) string {
	var elems []struct {
		MsgType    string
		MsgContent struct{ Text string }
	}
	if json.Unmarshal(body, &elems) != nil {
		return "(unreadable MsgBody)"
	}
	parts := make([]string, 0, len(elems))
	for _, e := range elems {
		if e.MsgType == "TIMTextElem" {
			parts = append(parts, strings.Join(strings.Fields(e.MsgContent.Text), " "))
			continue
		}
		parts = append(parts, "["+strings.TrimSuffix(strings.TrimPrefix(e.MsgType, "TIM"), "Elem")+"]")
	}
	s := strings.Join(parts, " ")
	if utf8.RuneCountInString(s) > listenSummaryRunes {
		s = string([]rune(s)[:listenSummaryRunes]) + "…"
	}
	return s
}
