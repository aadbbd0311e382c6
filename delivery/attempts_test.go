package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

func attemptList(t *testing.T, s parley.Store, id string) []parley.Attempt {
	t.Helper()
	as, err := s.AttemptList(context.Background(), id)
	if err != nil {
		t.Fatalf("AttemptList(%s): %v", id, err)
	}
	return as
}

// TestWorkerRecordsEveryAttempt runs one event against a receiver that
// fails, hangs, answers 429 and then comes back, and reads the attempt
// log: one row per request, numbered as the requests were, each with what
// the receiver said and how long it took.
func TestWorkerRecordsEveryAttempt(t *testing.T) {
	s := newStore(t)
	const timeout = 150 * time.Millisecond
	rc := newReceiver(t, func(n int, r *http.Request) (int, string) {
		switch n {
		case 1:
			return http.StatusInternalServerError, `{"error":"boom"}`
		case 2:
			<-r.Context().Done() // hangs past the timeout
			return http.StatusOK, okReply
		case 3:
			return http.StatusTooManyRequests, "slow down"
		}
		return http.StatusOK, okReply
	})
	e := insertEvent(t, s, `{"n":1}`)
	before := time.Now()
	w := newWorker(t, delivery.WorkerConfig{
		Store: s, URL: rc.URL, Timeout: timeout,
		RetrySchedule: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond},
	})
	w.Start()
	got := waitState(t, s, e.ID, parley.EventDelivered)
	after := time.Now()
	if got.Attempts != 4 {
		t.Errorf("Attempts = %d, want 4", got.Attempts)
	}

	as := attemptList(t, s, e.ID)
	want := []struct {
		status   int
		response string
		err      string // a substring of Error; "" wants none
	}{
		{500, `{"error":"boom"}`, "HTTP 500"},
		{0, "", "timed out"},
		{429, "slow down", "HTTP 429"},
		{200, okReply, ""},
	}
	if len(as) != len(want) {
		t.Fatalf("AttemptList = %d attempts, want %d: %+v", len(as), len(want), as)
	}
	if got := attempts(rc.Hits()); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("X-Parley-Attempt of the requests = %v, want 1 to 4", got)
	}
	for i, a := range as {
		w := want[i]
		if a.EventSeq != e.Seq || a.Attempt != i+1 || a.Status != w.status || a.Response != w.response {
			t.Errorf("attempt %d = %+v; want event Seq %d, attempt %d, status %d, response %q", i+1, a, e.Seq, i+1, w.status, w.response)
		}
		if (w.err == "") != (a.Error == "") || !strings.Contains(a.Error, w.err) {
			t.Errorf("attempt %d: Error = %q, want one with %q", i+1, a.Error, w.err)
		}
		if a.StartedAt.Before(before.Truncate(time.Millisecond)) || a.StartedAt.After(after) {
			t.Errorf("attempt %d: StartedAt %v, not between %v and %v", i+1, a.StartedAt, before, after)
		}
		if i > 0 && a.StartedAt.Before(as[i-1].StartedAt) {
			t.Errorf("attempt %d started at %v, before attempt %d (%v)", i+1, a.StartedAt, i, as[i-1].StartedAt)
		}
		if a.Latency <= 0 || a.Latency > after.Sub(before) {
			t.Errorf("attempt %d: Latency %v, want more than 0 and at most the test's %v", i+1, a.Latency, after.Sub(before))
		}
	}
	if as[1].Latency < timeout {
		t.Errorf("the hanging attempt's Latency = %v, want at least the timeout %v", as[1].Latency, timeout)
	}
	// The last failure's error is the event's LastError, word for word.
	if got.LastError != as[2].Error {
		t.Errorf("LastError = %q, want the error of attempt 3, %q", got.LastError, as[2].Error)
	}

	// Replayed, the event goes on counting: its next request and its next
	// row are attempt 5.
	if _, err := s.EventReplay(context.Background(), parley.EventReplayParams{ID: e.ID, At: time.Now()}); err != nil {
		t.Fatalf("EventReplay: %v", err)
	}
	w.Notify()
	waitFor(t, 10*time.Second, "the replay's attempt to be recorded", func() bool { return len(attemptList(t, s, e.ID)) == 5 })
	if a := attemptList(t, s, e.ID)[4]; a.Attempt != 5 || a.Status != 200 || a.Error != "" {
		t.Errorf("the replay's attempt = %+v, want attempt 5, status 200, no error", a)
	}
	if got := attempts(rc.Hits()); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("X-Parley-Attempt of the requests = %v, want 1 to 5", got)
	}
	if got := waitState(t, s, e.ID, parley.EventDelivered); got.Attempts != 5 {
		t.Errorf("Attempts after the replay = %d, want 5", got.Attempts)
	}
}

// TestWorkerRecordsDeadLetteredAttempts: the attempt that dead-letters an
// event is recorded with the outcome, and a long body that is not UTF-8
// is kept readable and bounded.
func TestWorkerRecordsDeadLetteredAttempts(t *testing.T) {
	s := newStore(t)
	long := "\xff" + strings.Repeat("é", 1500) // 3001 bytes; 1024 would split an é
	rc := newReceiver(t, answer(http.StatusBadGateway, long))
	e := insertEvent(t, s, `{"n":1}`)
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, RetrySchedule: []time.Duration{time.Millisecond}})
	w.Start()
	got := waitState(t, s, e.ID, parley.EventDead)

	as := attemptList(t, s, e.ID)
	if len(as) != 2 || got.Attempts != 2 {
		t.Fatalf("dead after %d attempts with %d recorded, want 2 and 2: %+v", got.Attempts, len(as), as)
	}
	wantResponse := `\xff` + strings.Repeat("é", 511)
	for i, a := range as {
		if a.Attempt != i+1 || a.Status != http.StatusBadGateway || a.Response != wantResponse || !strings.Contains(a.Error, "HTTP 502") {
			t.Errorf("attempt %d = {Attempt:%d Status:%d Error:%q Response: %d bytes}, want attempt %d, 502, the escaped first 1 KiB (%d bytes)",
				i+1, a.Attempt, a.Status, a.Error, len(a.Response), i+1, len(wantResponse))
		}
	}
	if got.LastError != as[1].Error {
		t.Errorf("LastError = %q, want the last attempt's error %q", got.LastError, as[1].Error)
	}
}

// TestWorkerRecordsAttemptsOfABatch: every delivery of a busy worker is
// logged, one attempt each, written with the outcomes in batches.
func TestWorkerRecordsAttemptsOfABatch(t *testing.T) {
	s := newStore(t)
	rc := newReceiver(t, answer(http.StatusOK, okReply))
	var events []*parley.Event
	for i := range 50 {
		events = append(events, insertEventIn(t, s, parley.GroupConversation(strconv.Itoa(i%7)), fmt.Sprintf(`{"n":%d}`, i)))
	}
	w := newWorker(t, delivery.WorkerConfig{Store: s, URL: rc.URL, Concurrency: 4, BatchSize: 8})
	w.Start()
	for _, e := range events {
		waitState(t, s, e.ID, parley.EventDelivered)
		as := attemptList(t, s, e.ID)
		if len(as) != 1 || as[0].Attempt != 1 || as[0].EventSeq != e.Seq || as[0].Status != 200 || as[0].Response != okReply {
			t.Errorf("attempts of event %d = %+v, want one: attempt 1, status 200, the reply", e.Seq, as)
		}
	}
}

func FuzzResponseSnippet(f *testing.F) {
	f.Add([]byte(okReply))
	f.Add([]byte("\xff" + strings.Repeat("é", 1500)))
	f.Add(bytes.Repeat([]byte("a"), 1023))
	f.Add(append(bytes.Repeat([]byte("a"), 1022), "€"...))
	f.Add([]byte("\\xff"))
	f.Add([]byte{0xf0, 0x9f, 0x98})
	f.Fuzz(func(t *testing.T, body []byte) {
		got := delivery.ResponseSnippet(body)
		if !utf8.ValidString(got) {
			t.Fatalf("snippet of %q = %q: not valid UTF-8", body, got)
		}
		// Walking the body and the snippet side by side, the snippet is
		// the start of the body: each character as it is, each byte that
		// is not valid UTF-8 as \xNN.
		kept, rest := 0, got
		for rest != "" {
			if kept == len(body) {
				t.Fatalf("snippet of %q = %q: longer than the body", body, got)
			}
			r, size := utf8.DecodeRune(body[kept:])
			want := string(body[kept : kept+size])
			if r == utf8.RuneError && size == 1 {
				want = fmt.Sprintf(`\x%02x`, body[kept])
			}
			if !strings.HasPrefix(rest, want) {
				t.Fatalf("snippet of %q = %q: at body byte %d want %q, got %q", body, got, kept, want, rest)
			}
			rest = rest[len(want):]
			kept += size
		}
		limit := parley.AttemptResponseBytes
		switch {
		case len(body) <= limit && kept != len(body):
			t.Fatalf("snippet of a %d-byte body keeps %d bytes, want all", len(body), kept)
		case len(body) > limit && (kept > limit || kept < limit-utf8.UTFMax+1):
			t.Fatalf("snippet of a %d-byte body keeps %d bytes, want %d less a split character", len(body), kept, limit)
		}
	})
}
