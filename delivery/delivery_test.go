package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/sqlite"
)

const testAppID = 1400000001

func TestSign(t *testing.T) {
	tests := []struct {
		token string
		time  int64
		want  string
	}{
		// The official sample of spec 1.4.
		{"xxxxyyyy", 1669872112, "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"},
		// sha256("") followed by nothing but the time: printf '0' | sha256sum.
		{"", 0, "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"},
	}
	for _, tt := range tests {
		if got := delivery.Sign(tt.token, tt.time); got != tt.want {
			t.Errorf("Sign(%q, %d) = %s, want %s", tt.token, tt.time, got, tt.want)
		}
	}
}

func TestDefaultRetrySchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	got := delivery.DefaultRetrySchedule()
	if !slices.Equal(got, want) {
		t.Fatalf("DefaultRetrySchedule() = %v, want %v", got, want)
	}
	got[0] = 0
	if again := delivery.DefaultRetrySchedule(); again[0] != want[0] {
		t.Errorf("changing a returned schedule changed the next one: %v", again)
	}
}

// hit is one request the receiver got.
type hit struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// receiver is a real webhook receiver that records every request and
// answers with reply, which is given the 1-based number of the request
// and may block.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

type replyFunc func(n int, r *http.Request) (status int, body string)

func newReceiver(t testing.TB, reply replyFunc) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Method, r.URL.Path, r.URL.RawQuery, r.URL.Query(), r.Header.Clone(), body})
		n := len(rc.hits)
		rc.mu.Unlock()
		status, out := reply(n, r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

func answer(status int, body string) replyFunc {
	return func(int, *http.Request) (int, string) { return status, body }
}

// hang answers only once the request is cancelled or the test is over.
func hang(t testing.TB) replyFunc {
	ctx := t.Context()
	return func(_ int, r *http.Request) (int, string) {
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
		return http.StatusOK, okReply
	}
}

func newStore(t testing.TB) parley.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return db
}

var testOrigin = parley.Origin{ClientIP: "203.0.113.7", OptPlatform: parley.OptPlatformREST}

// insertEvent adds an event of the conversation of alice and bob.
func insertEvent(t testing.TB, s parley.Store, body string) *parley.Event {
	t.Helper()
	return insertEventIn(t, s, parley.C2CConversation("alice", "bob"), body)
}

func insertEventIn(t testing.TB, s parley.Store, conversation, body string) *parley.Event {
	t.Helper()
	e := newEvent(conversation, body)
	if err := s.EventInsert(context.Background(), e); err != nil {
		t.Fatalf("EventInsert: %v", err)
	}
	return e
}

func newEvent(conversation, body string) *parley.Event {
	now := time.Now()
	return &parley.Event{
		ID:           parley.NewEventID(now),
		Command:      parley.CommandC2CAfterSendMsg,
		Conversation: conversation,
		Body:         []byte(body),
		Origin:       testOrigin,
		CreatedAt:    now,
	}
}

func getEvent(t testing.TB, s parley.Store, id string) *parley.Event {
	t.Helper()
	e, err := s.EventGet(context.Background(), id)
	if err != nil {
		t.Fatalf("EventGet(%s): %v", id, err)
	}
	return e
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// waitState waits until the event is in state want and returns it.
func waitState(t testing.TB, s parley.Store, id string, want parley.EventState) *parley.Event {
	t.Helper()
	var e *parley.Event
	waitFor(t, 10*time.Second, "event "+id+" to be "+string(want), func() bool {
		e = getEvent(t, s, id)
		return e.State == want
	})
	return e
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func attempts(hits []hit) []int {
	var out []int
	for _, h := range hits {
		n, _ := strconv.Atoi(h.Header.Get("X-Parley-Attempt"))
		out = append(out, n)
	}
	return out
}
