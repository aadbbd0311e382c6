package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/webhook"
)

// watchedBuffer is an io.Writer a test can wait on.
type watchedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.b.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// wait waits until re matches what was written, and returns the match.
func (w *watchedBuffer) wait(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		m := rx.FindStringSubmatch(w.b.String())
		changed := w.changed
		w.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %q in 10s; output so far:\n%s", re, w.String())
		}
	}
}

// listenRun is a `parley listen` running in the test.
type listenRun struct {
	stdout, stderr *watchedBuffer
	stop           context.CancelFunc
	code           chan int
}

func listenNoEnv(string) (string, bool) { return "", false }

func startListen(t *testing.T, args ...string) *listenRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listenRun{stdout: newWatchedBuffer(), stderr: newWatchedBuffer(), stop: cancel, code: make(chan int, 1)}
	go func() { l.code <- run(ctx, append([]string{"listen"}, args...), listenNoEnv, l.stdout, l.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.code:
		case <-time.After(10 * time.Second):
			t.Error("parley listen did not stop")
		}
	})
	return l
}

// exit waits for the exit status.
func (l *listenRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-l.code:
		l.code <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("parley listen did not exit; stderr:\n%s", l.stderr.String())
	}
	return 0
}

// listenReceiver is an app backend built on the webhook package: it checks
// SdkAppid, Sign and the Standard Webhooks signature, and fails
// C2C.CallbackAfterSendMsg for the text "fail".
type listenReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []webhook.Event[webhook.C2CAfterSendMsg]
	refused []error
}

func newListenReceiver(t *testing.T, s *parleytest.Server, token string) *listenReceiver {
	t.Helper()
	ar := &listenReceiver{}
	h, err := webhook.NewHandler(webhook.Config{
		SDKAppID: s.App().SDKAppID,
		Token:    token,
		Secrets:  s.WebhookSecrets(),
		OnC2CAfterSendMsg: func(_ context.Context, e webhook.Event[webhook.C2CAfterSendMsg]) error {
			ar.mu.Lock()
			defer ar.mu.Unlock()
			ar.got = append(ar.got, e)
			if strings.Contains(string(e.Body.MsgBody), `"fail"`) {
				return errors.New("told to fail")
			}
			return nil
		},
		OnError: func(_ *http.Request, err error) {
			ar.mu.Lock()
			defer ar.mu.Unlock()
			ar.refused = append(ar.refused, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ar.Server = httptest.NewServer(h)
	t.Cleanup(ar.Close)
	return ar
}

func (ar *listenReceiver) events() ([]webhook.Event[webhook.C2CAfterSendMsg], []error) {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	return append([]webhook.Event[webhook.C2CAfterSendMsg](nil), ar.got...), append([]error(nil), ar.refused...)
}

func listenSend(t *testing.T, s *parleytest.Server, from, to, text string) map[string]any {
	t.Helper()
	resp := s.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": from, "To_Account": to, "MsgRandom": 1,
		"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}},
	})
	parleytest.OK(t, resp)
	return resp
}

func listenImport(t *testing.T, s *parleytest.Server, ids ...string) {
	t.Helper()
	for _, id := range ids {
		parleytest.OK(t, s.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
}

// TestListenForwardsWhatParleySends: a parley with no callback URL, a
// receiver built on the webhook package; listen prints the event, forwards
// the exact body with valid signatures, and prints the answer and latency.
func TestListenForwardsWhatParleySends(t *testing.T) {
	const token = "listen-token"
	s := parleytest.Start(t, server.Options{CallbackToken: token})
	rcv := newListenReceiver(t, s, token)
	l := startListen(t, "--url", s.URL(), "--data", s.DataDir(), "--forward-to", rcv.URL+"/hook?app=demo", "-v")
	l.stderr.wait(t, `listening to `+regexp.QuoteMeta(s.URL())+` for events committed from now on; forwarding to `)

	listenImport(t, s, "alice", "bob")
	listenSend(t, s, "alice", "bob", "hello")
	line := l.stdout.wait(t, `(?m)^\d\d:\d\d:\d\d\.\d{3}  C2C\.CallbackAfterSendMsg  (evt_\w+)  c2c:alice,bob  alice → bob: hello\n`)
	l.stdout.wait(t, `\n    → 200 OK in [0-9.]+(µs|ms|s): \{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""\}\n`)
	l.stdout.wait(t, `"From_Account": "alice"`) // -v: the body, indented

	stored, err := s.Store().EventGet(context.Background(), line[1])
	if err != nil {
		t.Fatalf("the printed event id %s: %v", line[1], err)
	}
	got, refused := rcv.events()
	if len(got) != 1 || len(refused) != 0 {
		t.Fatalf("receiver handled %d, refused %v; want 1 and none", len(got), refused)
	}
	e := got[0]
	if e.ID != stored.ID || !bytes.Equal(e.Raw, stored.Body) || e.Attempt != 1 || e.OptPlatform != parley.OptPlatformREST || e.SDKAppID != s.App().SDKAppID {
		t.Errorf("receiver got %+v\nwant the body %s of event %s", e, stored.Body, stored.ID)
	}

	// A failing receiver: the answer, and what parley would make of it.
	listenSend(t, s, "bob", "alice", "fail")
	l.stdout.wait(t, `bob → alice: fail\n(?s:.*)    → 500 Internal Server Error in [0-9.]+(µs|ms|s): \{"ActionStatus":"FAIL".*\(not 200: parley would retry it\)\n`)

	l.stop()
	if code := l.exit(t); code != 0 {
		t.Errorf("exit status %d after Ctrl-C, want 0", code)
	}
	l.stderr.wait(t, `stopped\n`)
}

func TestListenTwoListeners(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	a, b := newListenReceiver(t, s, ""), newListenReceiver(t, s, "")
	la := startListen(t, "--url", s.URL(), "--data", s.DataDir(), "--forward-to", a.URL)
	lb := startListen(t, "--url", s.URL(), "--data", s.DataDir(), "--forward-to", b.URL, "--command", parley.CommandC2CAfterSendMsg)
	la.stderr.wait(t, `listening to`)
	lb.stderr.wait(t, `listening to`)
	listenImport(t, s, "alice", "bob")
	listenSend(t, s, "alice", "bob", "to both")
	for _, l := range []*listenRun{la, lb} {
		l.stdout.wait(t, `alice → bob: to both\n    → 200 OK`)
	}
	for _, r := range []*listenReceiver{a, b} {
		if got, refused := r.events(); len(got) != 1 || len(refused) != 0 {
			t.Errorf("receiver handled %d, refused %v; want 1 and none", len(got), refused)
		}
	}
}

// TestListenReconnects: parley restarts; listen reconnects, resumes, and
// forwards what comes next.
func TestListenReconnects(t *testing.T) {
	dir := t.TempDir()
	first := parleytest.Start(t, server.Options{DataDir: dir})
	addr := first.Addr()
	rcv := newListenReceiver(t, first, "")
	l := startListen(t, "--url", first.URL(), "--data", dir, "--forward-to", rcv.URL)
	l.stderr.wait(t, `listening to`)
	listenImport(t, first, "alice", "bob")
	listenSend(t, first, "alice", "bob", "before")
	l.stdout.wait(t, `alice → bob: before\n    → 200 OK`)

	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.stderr.wait(t, `lost the stream \(.*\); reconnecting\n`)
	second := parleytest.Start(t, server.Options{Addr: addr, DataDir: dir})
	l.stderr.wait(t, `reconnected; resuming after event \d+; forwarding to `)
	listenSend(t, second, "alice", "bob", "after")
	l.stdout.wait(t, `alice → bob: after\n    → 200 OK`)
	if got, _ := rcv.events(); len(got) != 2 {
		t.Errorf("receiver got %d events, want 2: each once", len(got))
	}
}

func TestListenRefused(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	l := startListen(t, "--url", s.URL(), "--data", s.DataDir(), "--secret-key", "not the key")
	if code := l.exit(t); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if got := l.stderr.String(); !strings.Contains(got, "parley refused the stream: 70009") {
		t.Errorf("stderr %q, want the Tencent error 70009", got)
	}
}

func TestListenUsageErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := server.LoadOrCreateApp(dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--command", parley.CommandC2CBeforeSendMsg}, "parley webhooks trigger " + parley.CommandC2CBeforeSendMsg},
		{[]string{"--command", "C2C.Nope"}, `unknown callback command "C2C.Nope"`},
		{[]string{"--forward-to", "localhost:3000/hook"}, "scheme must be http or https"},
		{[]string{"--url", "127.0.0.1:8080"}, "want http://HOST:PORT"},
		{[]string{"--callback-timeout", "0s"}, "want a positive duration"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		l := startListen(t, append([]string{"--data", dir}, tt.args...)...)
		if code := l.exit(t); code != 2 {
			t.Errorf("%v: exit status %d, want 2", tt.args, code)
		}
		if got := l.stderr.String(); !strings.Contains(got, tt.want) {
			t.Errorf("%v: stderr %q, want %q", tt.args, got, tt.want)
		}
	}
	l := startListen(t, "--data", t.TempDir())
	if code := l.exit(t); code != 1 || !strings.Contains(l.stderr.String(), "no app in") {
		t.Errorf("no app.json: exit status %d, stderr %q", code, l.stderr.String())
	}
}

// TestListenWaitsForParley: started before parley is up, listen says so
// and keeps trying until stopped.
func TestListenWaitsForParley(t *testing.T) {
	ln := httptest.NewUnstartedServer(nil) // a free port, closed at once
	addr := ln.Listener.Addr().String()
	ln.Close()
	dir := t.TempDir()
	if _, _, err := server.LoadOrCreateApp(dir); err != nil {
		t.Fatal(err)
	}
	l := startListen(t, "--url", "http://"+addr, "--data", dir)
	l.stderr.wait(t, `cannot reach parley at http://`+regexp.QuoteMeta(addr)+` \(.*\); retrying\n`)
	s := parleytest.Start(t, server.Options{Addr: addr, DataDir: dir})
	l.stderr.wait(t, `listening to `)
	listenImport(t, s, "alice", "bob")
	listenSend(t, s, "alice", "bob", "printed only")
	l.stdout.wait(t, `alice → bob: printed only\n`)
	if strings.Contains(l.stdout.String(), "    →") {
		t.Errorf("forwarded with no --forward-to:\n%s", l.stdout.String())
	}
}

// TestListenWatchdog: a stream kept alive by comments alone lives on; one
// silent for three keep-alives is dropped and resumed after the last
// event.
func TestListenWatchdog(t *testing.T) {
	resumed := make(chan string, 1)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", delivery.ListenContentType)
		flush := func(s string) {
			io.WriteString(w, s)
			w.(http.Flusher).Flush()
		}
		flush("id: 5\nevent: ready\ndata: {\"Seq\":5,\"KeepAlive\":20}\n\n")
		// Decided by what the client has, not by how many times it came:
		// on a loaded machine the client may give up on the paced stream
		// below before event 6, and then it must get it on the next try.
		if r.Header.Get("Last-Event-ID") == "6" {
			select {
			case resumed <- r.Header.Get("Last-Event-ID"):
			default: // reconnected again: the first one is what is checked
			}
			<-r.Context().Done()
			return
		}
		// Keep-alives only, for ten times the 60 ms the client allows
		// between two of them: pacing the stream is what is under test.
		for range 30 {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return // dropped while alive: the event below never comes
			}
			flush(": keep-alive\n\n")
		}
		flush(`id: 6` + "\n" + `event: webhook` + "\n" + `data: {"Seq":6,"EventId":"evt_6","Command":"C2C.CallbackAfterSendMsg","Conversation":"c2c:a\u0000b","CreatedAt":0,` +
			`"Body":"eyJGcm9tX0FjY291bnQiOiJhIiwiVG9fQWNjb3VudCI6ImIiLCJNc2dCb2R5IjpbXX0="}` + "\n\n") // {"From_Account":"a","To_Account":"b","MsgBody":[]}
		<-r.Context().Done() // then silence
	}))
	t.Cleanup(fake.Close)
	l := startListen(t, "--url", fake.URL, "--sdkappid", "1400000001", "--secret-key", "k", "--admin", "administrator")
	l.stdout.wait(t, `evt_6  c2c:a,b  a → b: \n`)
	l.stderr.wait(t, `lost the stream \(no keep-alive from parley in time\); reconnecting\n`)
	select {
	case id := <-resumed:
		if id != "6" {
			t.Errorf("reconnected with Last-Event-ID %q, want 6", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection")
	}
}

// TestListenRetriesAServerThatIsBusy: 91000 (shutting down, too many
// listeners) is worth another try; the others are not.
func TestListenRetriesAServerThatIsBusy(t *testing.T) {
	var conns atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conns.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ActionStatus":"FAIL","ErrorInfo":"too many listeners","ErrorCode":91000}`)
			return
		}
		w.Header().Set("Content-Type", delivery.ListenContentType)
		io.WriteString(w, "id: 0\nevent: ready\ndata: {\"Seq\":0,\"KeepAlive\":15000}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(fake.Close)
	l := startListen(t, "--url", fake.URL, "--sdkappid", "1400000001", "--secret-key", "k", "--admin", "administrator")
	l.stderr.wait(t, `cannot reach parley at .* \(parley refused the stream: 91000 too many listeners\); retrying\n`)
	l.stderr.wait(t, `listening to `)
}

func TestListenSummary(t *testing.T) {
	seed := func(name string) []byte {
		b, err := os.ReadFile("../../testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		command string
		body    []byte
		want    string
	}{
		{parley.CommandC2CAfterSendMsg, seed("seeds/C2C.CallbackAfterSendMsg.json"), "jared → Jonh: red packet"},
		{parley.CommandC2CAfterWithdraw, seed("seeds/C2C.CallbackAfterMsgWithDraw.json"), "jared → Jonh: message 48374_2837546_1557481126 recalled"},
		{parley.CommandC2CAfterExtension, seed("seeds/C2C.CallbackAfterC2CMsgExtension.set.json"), "user1 → user2: message 93847636_1287657_1764688415 extensions set k1, k2, k3 (Seq 1)"},
		{parley.CommandC2CAfterExtension, seed("seeds/C2C.CallbackAfterC2CMsgExtension.clear.json"), "user1 → user2: message 93847636_1287657_1764688415 extensions cleared (Seq 3)"},
		{parley.CommandGroupAfterSendMsg, seed("tencent/Group.CallbackAfterSendMsg.json"), "group @TGS#2J4SZEAEL MsgSeq 123 jared: red packet"},
		{parley.CommandGroupAfterExtension, seed("seeds/Group.CallbackAfterGroupMsgExtension.delete.json"), "group test MsgSeq 10 extensions deleted key2, key3 (Seq 57)"},
		{parley.CommandGroupAfterRecall, []byte(`{"CallbackCommand":"Group.CallbackAfterRecallMsg","GroupId":"@TGS#1","MsgSeqList":[{"MsgSeq":5},{"MsgSeq":6}]}`), "group @TGS#1 MsgSeq 5, 6 recalled"},
		{parley.CommandC2CAfterSendMsg, []byte(`{"From_Account":"a","To_Account":"b","SendMsgResult":80001,"ErrorInfo":"dirty","MsgBody":[` +
			`{"MsgType":"TIMTextElem","MsgContent":{"Text":"line one\nline two"}},{"MsgType":"TIMImageElem","MsgContent":{}}]}`),
			"a → b: line one line two [Image] (not delivered: 80001 dirty)"},
		{parley.CommandC2CAfterSendMsg, []byte(`{"From_Account":"a","To_Account":"b","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + strings.Repeat("é", 70) + `"}}]}`),
			"a → b: " + strings.Repeat("é", 60) + "…"},
		{parley.CommandC2CAfterSendMsg, []byte(`not json`), ""},
		{"Some.Other", []byte(`{}`), ""},
	}
	for _, tt := range tests {
		if got := listenSummary(tt.command, tt.body); got != tt.want {
			t.Errorf("listenSummary(%s, %.60s) = %q, want %q", tt.command, tt.body, got, tt.want)
		}
	}
}
