package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/webhook"
)

const listenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// tapServer serves a Tap over a real HTTP server, resuming after a
// Last-Event-ID and filtering by ?command= as the parley server does; the
// outcome of each stream is sent on streamed.
type tapServer struct {
	*httptest.Server
	tap      *delivery.Tap
	streamed chan error
}

func newTapServer(t *testing.T, cfg delivery.TapConfig) *tapServer {
	t.Helper()
	tap, err := delivery.NewTap(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tapServer{tap: tap, streamed: make(chan error, 16)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p delivery.ListenParams
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p.Resume, p.AfterSeq = true, n
		}
		p.Commands = r.URL.Query()["command"]
		sub, err := tap.Subscribe(r.Context(), p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		ts.streamed <- sub.Stream(r.Context(), w)
	}))
	// Streams never end by themselves: closing the tap first lets
	// httptest's Close return.
	t.Cleanup(ts.Close)
	t.Cleanup(tap.Close)
	return ts
}

// listen opens a stream and reads its ready message.
func (ts *tapServer) listen(t *testing.T, lastEventID, query string) (*delivery.ListenReader, *delivery.ListenReady, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if !delivery.IsListenStream(resp) {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("not a stream: %s %s %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	closeFn := func() { cancel(); resp.Body.Close() }
	t.Cleanup(closeFn)
	lr := delivery.NewListenReader(resp.Body)
	m := next(t, lr)
	if m.Ready == nil {
		t.Fatalf("first message %+v, want ready", m)
	}
	if m.ID != strconv.FormatInt(m.Ready.Seq, 10) {
		t.Errorf("ready id %q, want its Seq %d", m.ID, m.Ready.Seq)
	}
	return lr, m.Ready, closeFn
}

// next reads a message, failing the test if none comes in 10s.
func next(t *testing.T, lr *delivery.ListenReader) delivery.ListenMessage {
	t.Helper()
	type result struct {
		m   delivery.ListenMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := lr.Next()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Next: %v", r.err)
		}
		return r.m
	case <-time.After(10 * time.Second):
		t.Fatal("no message in 10s")
	}
	panic("unreachable")
}

// nextEvent reads the next message, which must be a webhook event.
func nextEvent(t *testing.T, lr *delivery.ListenReader) *delivery.ListenEvent {
	t.Helper()
	m := next(t, lr)
	if m.Event == nil {
		t.Fatalf("message %+v, want a webhook event", m)
	}
	if m.ID != strconv.FormatInt(m.Event.Seq, 10) {
		t.Errorf("event id %q, want its Seq %d", m.ID, m.Event.Seq)
	}
	return m.Event
}

func TestTapStreamsEventsCommittedAfterReady(t *testing.T) {
	s := newStore(t)
	for range 3 {
		insertEvent(t, s, `{"before":true}`)
	}
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID, Token: "tok", Secrets: []string{listenSecret}})
	lr, ready, _ := ts.listen(t, "", "")
	if ready.Seq != 3 || ready.KeepAlive != 15000 {
		t.Errorf("ready = %+v, want Seq 3 (the newest event) and KeepAlive 15000 (ms)", ready)
	}

	e4 := insertEvent(t, s, `{"n":4,"html":"<b>&</b>"}`)
	e5 := insertEventIn(t, s, parley.GroupConversation("@TGS#1"), `{"n":5}`)
	ts.tap.Notify()
	for _, want := range []*parley.Event{e4, e5} {
		got := nextEvent(t, lr)
		if got.Seq != want.Seq || got.EventID != want.ID || got.Command != want.Command || got.Conversation != want.Conversation ||
			got.ClientIP != testOrigin.ClientIP || got.OptPlatform != testOrigin.OptPlatform || got.CreatedAt != want.CreatedAt.UnixMilli() {
			t.Errorf("event %+v, want the outbox's %+v", got, want)
		}
		if !bytes.Equal(got.Body, want.Body) {
			t.Errorf("body %q, want exactly %q", got.Body, want.Body)
		}
	}
}

// TestTapRequestIsTheWorkers: an event replayed from the stream is, byte
// for byte, the request the Worker's first attempt makes: the query after
// the URL's own, every header, the body.
func TestTapRequestIsTheWorkers(t *testing.T) {
	s := newStore(t)
	at := time.Unix(1700000000, 0)
	now := func() time.Time { return at }
	cfg := delivery.TapConfig{Store: s, SDKAppID: testAppID, Token: "tok", Secrets: []string{listenSecret, "whsec_" + strings.Repeat("QUJD", 8)}, Now: now}
	ts := newTapServer(t, cfg)
	lr, _, _ := ts.listen(t, "", "")
	ev := insertEvent(t, s, `{"CallbackCommand":"C2C.CallbackAfterSendMsg","Text":"a & b"}`)
	ts.tap.Notify()
	got := nextEvent(t, lr)

	rc := newReceiver(t, answer(http.StatusOK, okReply))
	target := rc.URL + "/hook?app=demo&x=%2F"
	caller, err := delivery.NewCaller(delivery.CallerConfig{URL: target, Token: cfg.Token, Secrets: cfg.Secrets, SDKAppID: testAppID, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	if err := caller.Send(context.Background(), ev, 1); err != nil {
		t.Fatal(err)
	}
	req, err := got.NewRequest(context.Background(), target+"#fragment")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	hits := rc.Hits()
	if len(hits) != 2 {
		t.Fatalf("%d requests, want 2", len(hits))
	}
	worker, listen := hits[0], hits[1]
	if listen.Method != worker.Method || listen.Path != worker.Path || listen.RawQuery != worker.RawQuery {
		t.Errorf("listen sent %s %s?%s\nthe worker %s %s?%s", listen.Method, listen.Path, listen.RawQuery, worker.Method, worker.Path, worker.RawQuery)
	}
	delete(listen.Header, "Accept-Encoding") // the transport's, equal anyway
	delete(worker.Header, "Accept-Encoding")
	for k, v := range worker.Header {
		if !slices.Equal(listen.Header[k], v) {
			t.Errorf("header %s: listen sent %q, the worker %q", k, listen.Header[k], v)
		}
	}
	for k := range listen.Header {
		if _, ok := worker.Header[k]; !ok {
			t.Errorf("header %s: listen sent %q, the worker nothing", k, listen.Header[k])
		}
	}
	if !bytes.Equal(listen.Body, worker.Body) || !bytes.Equal(listen.Body, ev.Body) {
		t.Errorf("bodies: listen %q, worker %q, event %q", listen.Body, worker.Body, ev.Body)
	}
}

// TestTapRequestVerifies: the replayed request passes the receiver
// package's checks of both signatures, signed when streamed.
func TestTapRequestVerifies(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID, Token: "tok", Secrets: []string{listenSecret}})
	lr, _, _ := ts.listen(t, "", "")
	body := `{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"alice","To_Account":"bob","MsgSeq":1,"MsgRandom":2,"MsgTime":3,"MsgKey":"1_2_3","OnlineOnlyFlag":0,"SendMsgResult":0,"ErrorInfo":"send msg succeed","UnreadMsgNum":1,"MsgBody":[]}`
	ev := insertEvent(t, s, body)
	ts.tap.Notify()
	got := nextEvent(t, lr)

	var handled []webhook.Event[webhook.C2CAfterSendMsg]
	var refused []error
	h, err := webhook.NewHandler(webhook.Config{
		SDKAppID: testAppID,
		Token:    "tok",
		Secrets:  []string{listenSecret},
		OnC2CAfterSendMsg: func(_ context.Context, e webhook.Event[webhook.C2CAfterSendMsg]) error {
			handled = append(handled, e)
			return nil
		},
		OnError: func(_ *http.Request, err error) { refused = append(refused, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	rcv := httptest.NewServer(h)
	t.Cleanup(rcv.Close)
	req, err := got.NewRequest(context.Background(), rcv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(handled) != 1 {
		t.Fatalf("HTTP %d, handled %d, refused %v", resp.StatusCode, len(handled), refused)
	}
	if e := handled[0]; e.ID != ev.ID || e.Attempt != 1 || string(e.Raw) != body || e.Body.FromAccount != "alice" {
		t.Errorf("handled %+v", e)
	}
}

func TestTapResumesAfterLastEventID(t *testing.T) {
	s := newStore(t)
	var evs []*parley.Event
	for i := range 4 {
		evs = append(evs, insertEvent(t, s, `{"n":`+strconv.Itoa(i+1)+`}`))
	}
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID})

	lr, ready, _ := ts.listen(t, "2", "")
	if ready.Seq != 2 {
		t.Errorf("ready Seq %d, want 2: where the client left off", ready.Seq)
	}
	for _, want := range evs[2:] {
		if got := nextEvent(t, lr); got.EventID != want.ID {
			t.Errorf("got event %d %s, want %d %s", got.Seq, got.EventID, want.Seq, want.ID)
		}
	}

	// An id beyond the outbox (reset since): from the newest event on.
	lr, ready, _ = ts.listen(t, "99", "")
	if ready.Seq != 4 {
		t.Errorf("ready Seq %d after Last-Event-ID 99, want 4: the newest event", ready.Seq)
	}
	e5 := insertEvent(t, s, `{"n":5}`)
	ts.tap.Notify()
	if got := nextEvent(t, lr); got.EventID != e5.ID {
		t.Errorf("got event %d, want the new one %d", got.Seq, e5.Seq)
	}
}

func TestTapFiltersCommands(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID})
	lr, _, _ := ts.listen(t, "", "command="+parley.CommandGroupAfterRecall)
	insertEvent(t, s, `{}`) // C2C.CallbackAfterSendMsg
	recall := newEvent(parley.GroupConversation("@TGS#1"), `{"recall":1}`)
	recall.Command = parley.CommandGroupAfterRecall
	if err := s.EventInsert(context.Background(), recall); err != nil {
		t.Fatal(err)
	}
	ts.tap.Notify()
	if got := nextEvent(t, lr); got.EventID != recall.ID {
		t.Errorf("got %s %s, want only the recall", got.Command, got.EventID)
	}

	for _, bad := range []string{parley.CommandC2CBeforeSendMsg, "C2C.Nope"} {
		if _, err := ts.tap.Subscribe(context.Background(), delivery.ListenParams{Commands: []string{bad}}); parley.ErrorCode(err) != parley.ErrURLParams {
			t.Errorf("Subscribe(%s): %v, want %d", bad, err, parley.ErrURLParams)
		}
	}
}

func TestTapServesSeveralListeners(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID})
	a, _, _ := ts.listen(t, "", "")
	b, _, closeB := ts.listen(t, "", "")
	if n := ts.tap.Listeners(); n != 2 {
		t.Errorf("Listeners() = %d, want 2", n)
	}
	ev := insertEvent(t, s, `{}`)
	ts.tap.Notify()
	for _, lr := range []*delivery.ListenReader{a, b} {
		if got := nextEvent(t, lr); got.EventID != ev.ID {
			t.Errorf("got %s, want %s", got.EventID, ev.ID)
		}
	}
	closeB()
	if err := <-ts.streamed; err != nil {
		t.Errorf("the stream of a listener that left ended with %v, want nil", err)
	}
	waitFor(t, 5*time.Second, "one listener left", func() bool { return ts.tap.Listeners() == 1 })
	ev2 := insertEvent(t, s, `{}`)
	ts.tap.Notify()
	if got := nextEvent(t, a); got.EventID != ev2.ID {
		t.Errorf("got %s, want %s", got.EventID, ev2.ID)
	}
}

// TestTapCutsOffASlowListener: a listener that stops reading is cut off
// once a write waits longer than WriteTimeout, however far behind it is;
// the others go on.
func TestTapCutsOffASlowListener(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID, WriteTimeout: 100 * time.Millisecond})
	ts.listen(t, "", "") // never read after ready
	big := `{"pad":"` + strings.Repeat("x", 60<<10) + `"}`
	// Enough to fill the socket buffers of both ends, whatever the
	// kernel's autotuning gives them: the stream's writes block.
	for i := 0; i < 300 && ts.tap.Listeners() > 0; i++ {
		insertEvent(t, s, big)
		ts.tap.Notify()
	}
	waitFor(t, 10*time.Second, "the slow listener to be cut off", func() bool { return ts.tap.Listeners() == 0 })
	select {
	case err := <-ts.streamed:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Errorf("Stream returned %v, want the cut-off", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stream did not return")
	}
	// Others are served as before.
	lr, _, _ := ts.listen(t, "", "")
	ev := insertEvent(t, s, `{}`)
	ts.tap.Notify()
	if got := nextEvent(t, lr); got.EventID != ev.ID {
		t.Errorf("got %s, want %s", got.EventID, ev.ID)
	}
}

func TestTapKeepAlive(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID, KeepAlive: 20 * time.Millisecond})
	req, err := http.NewRequest(http.MethodGet, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 0, 512)
	for !bytes.Contains(buf, []byte("\n: keep-alive\n\n")) {
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		if err != nil {
			t.Fatalf("read: %v after %q", err, buf)
		}
		if buf = buf[:len(buf)+n]; len(buf) == cap(buf) {
			t.Fatalf("no keep-alive in %q", buf)
		}
	}
}

func TestTapLimitsListenersAndCloses(t *testing.T) {
	s := newStore(t)
	ts := newTapServer(t, delivery.TapConfig{Store: s, SDKAppID: testAppID, MaxListeners: 1})
	ts.listen(t, "", "")
	if _, err := ts.tap.Subscribe(context.Background(), delivery.ListenParams{}); parley.ErrorCode(err) != parley.ErrInternal {
		t.Errorf("second Subscribe: %v, want a refusal", err)
	}
	ts.tap.Close()
	select {
	case err := <-ts.streamed:
		if err != nil {
			t.Errorf("Stream after Close: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stream")
	}
	if _, err := ts.tap.Subscribe(context.Background(), delivery.ListenParams{}); !errors.Is(err, delivery.ErrTapClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrTapClosed", err)
	}
}

func TestTapActive(t *testing.T) {
	c := &clock{}
	tap, err := delivery.NewTap(delivery.TapConfig{Store: newStore(t), SDKAppID: testAppID, Grace: time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if tap.Active() {
		t.Error("Active before any listener")
	}
	sub, err := tap.Subscribe(context.Background(), delivery.ListenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !tap.Active() {
		t.Error("not Active with a listener")
	}
	sub.Close()
	sub.Close()
	if !tap.Active() || tap.Listeners() != 0 {
		t.Errorf("right after the last listener left: Active %v, Listeners %d; want true, 0", tap.Active(), tap.Listeners())
	}
	c.Advance(time.Minute + time.Second)
	if tap.Active() {
		t.Error("Active a minute after the last listener left")
	}
}

// A listener starts after the outbox's newest event, whatever came before.
func TestTapFindsTheNewestEvent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tap, err := delivery.NewTap(delivery.TapConfig{Store: s, SDKAppID: testAppID})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for n := range 4 {
		sub, err := tap.Subscribe(ctx, delivery.ListenParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got := sub.Head(); got != want {
			t.Errorf("after %d events: head %d, want %d", n, got, want)
		}
		sub.Close()
		ev := &parley.Event{ID: parley.NewEventID(time.Now()), Command: parley.CommandC2CAfterSendMsg, Conversation: "c2c:a\x00b", Body: []byte(`{}`), CreatedAt: time.Now()}
		if err := s.EventInsert(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want = ev.Seq
	}
}

func TestNewTapRejects(t *testing.T) {
	s := newStore(t)
	for _, cfg := range []delivery.TapConfig{
		{SDKAppID: testAppID},
		{Store: s},
		{Store: s, SDKAppID: testAppID, Secrets: []string{"not-a-secret"}},
		{Store: s, SDKAppID: testAppID, WriteTimeout: -1},
	} {
		if _, err := delivery.NewTap(cfg); err == nil {
			t.Errorf("NewTap(%+v) succeeded", cfg)
		}
	}
}

func TestListenEventNewRequestRejectsBadTargets(t *testing.T) {
	ev := &delivery.ListenEvent{Query: "SdkAppid=1", Body: []byte(`{}`)}
	for _, target := range []string{"", "localhost:3000/hook", "ftp://x/", "http://", "http://a b/"} {
		if _, err := ev.NewRequest(context.Background(), target); err == nil {
			t.Errorf("NewRequest(%q) succeeded", target)
		}
	}
}

// readAll parses a whole stream.
func readAll(r io.Reader) ([]delivery.ListenMessage, error) {
	lr := delivery.NewListenReader(r)
	var out []delivery.ListenMessage
	for {
		m, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestListenReader(t *testing.T) {
	stream := "\uFEFF: hello\n\n" +
		"retry: 1000\n" +
		"id: 7\nevent: ready\ndata: {\"Seq\":7,\"KeepAlive\":15000}\n\n" +
		": keep-alive\r\n\r\n" +
		"event: other\ndata: x\n\n" +
		"id: 8\r\nevent:webhook\r\ndata: {\"Seq\":8,\"EventId\":\"evt_1\",\r\ndata: \"Body\":\"e30=\"}\r\n\r\n" +
		"event: webhook\rdata: {\"Seq\":9}\r\r" +
		"id: 10\nevent: webhook\ndata: {\"Seq\":10}\n" // cut short: dropped
	got, err := readAll(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d messages, want 3: %+v", len(got), got)
	}
	if r := got[0].Ready; r == nil || r.Seq != 7 || got[0].ID != "7" {
		t.Errorf("message 0 = %+v", got[0])
	}
	if e := got[1].Event; e == nil || e.Seq != 8 || e.EventID != "evt_1" || string(e.Body) != "{}" || got[1].ID != "8" {
		t.Errorf("message 1 = %+v (data lines join with a line feed, which JSON takes as space)", got[1])
	}
	if e := got[2].Event; e == nil || e.Seq != 9 || got[2].ID != "8" {
		t.Errorf("message 2 = %+v (the id carries over)", got[2])
	}

	if _, err := readAll(strings.NewReader("event: webhook\ndata: {not json\n\n")); err == nil {
		t.Error("a webhook event that is not JSON was accepted")
	}
	huge := "data: " + strings.Repeat("x", 5<<20) + "\n\n"
	if _, err := readAll(strings.NewReader(huge)); err == nil {
		t.Error("a 5 MiB event was accepted")
	}
	// Keep-alives over a long stream add up to no event.
	long := strings.Repeat(": keep-alive\n\n", 400_000) + "event: ready\ndata: {\"Seq\":1}\n\n"
	if got, err := readAll(strings.NewReader(long)); err != nil || len(got) != 1 {
		t.Errorf("after 400000 keep-alives: %d messages, %v", len(got), err)
	}
}

// FuzzListenReader: any input parses without panicking, within the size
// bound, and the same whether it arrives at once or a byte at a time, and
// whatever line ends it uses.
func FuzzListenReader(f *testing.F) {
	f.Add("id: 7\nevent: ready\ndata: {\"Seq\":7,\"KeepAlive\":15000}\n\n")
	f.Add("id: 8\nevent: webhook\ndata: {\"Seq\":8,\"EventId\":\"evt_x\",\"Command\":\"C2C.CallbackAfterSendMsg\",\"Query\":\"SdkAppid=1\",\"Header\":{\"X\":[\"y\"]},\"Body\":\"e30=\"}\n\n")
	f.Add(": keep-alive\n\n\uFEFFdata\n\nid\x00: 1\n")
	f.Add("event: webhook\ndata: {}\ndata: {}\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		whole, errWhole := readAll(strings.NewReader(stream))
		bytewise, errBytewise := readAll(iotest.OneByteReader(strings.NewReader(stream)))
		if (errWhole == nil) != (errBytewise == nil) || len(whole) != len(bytewise) {
			t.Fatalf("at once: %d, %v; byte by byte: %d, %v", len(whole), errWhole, len(bytewise), errBytewise)
		}
		for _, m := range whole {
			if (m.Ready == nil) == (m.Event == nil) {
				t.Fatalf("message %+v: want exactly one of Ready and Event", m)
			}
		}
		if !strings.Contains(stream, "\r") {
			crlf, errCRLF := readAll(strings.NewReader(strings.ReplaceAll(stream, "\n", "\r\n")))
			if (errWhole == nil) != (errCRLF == nil) || len(whole) != len(crlf) {
				t.Fatalf("LF: %d, %v; CRLF: %d, %v", len(whole), errWhole, len(crlf), errCRLF)
			}
		}
	})
}
