package hub_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubtest"
)

// encode is the tests' Encode: "conversation#seq", easy to read back.
func encode(c *parley.Change) []byte {
	return []byte(c.Conversation + "#" + strconv.FormatUint(c.Seq, 10))
}

// decode splits a message of encode.
func decode(t testing.TB, msg string) (conversation string, seq uint64) {
	t.Helper()
	i := strings.LastIndexByte(msg, '#')
	if i < 0 {
		t.Fatalf("message %q is not conversation#seq", msg)
	}
	seq, err := strconv.ParseUint(msg[i+1:], 10, 64)
	if err != nil {
		t.Fatalf("message %q: %v", msg, err)
	}
	return msg[:i], seq
}

// setup starts a hub with cfg (Encode defaults to encode) and closes it at
// the end of the test.
func setup(t testing.TB, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Encode == nil {
		cfg.Encode = encode
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// conn is a registered session with its recording transport.
type conn struct {
	*hub.Session
	tr *hubtest.Transport
}

func register(h *hub.Hub, user string, groups ...string) conn {
	tr := hubtest.New()
	s := h.Register(hub.SessionInfo{User: user, Platform: "Web", RemoteAddr: "192.0.2.1"}, tr)
	h.Subscribe(s, groups)
	return conn{s, tr}
}

func change(conversation string, seq uint64) *parley.Change {
	return &parley.Change{Conversation: conversation, Seq: seq, Kind: parley.ChangeMessage}
}

func msg(conversation string, seq uint64) string { return fmt.Sprintf("%s#%d", conversation, seq) }

// mark publishes a marker change (Seq 1000+n) of conversation to every
// given conn by user, and waits until each has received it. Since a
// conversation's changes arrive in order, whatever each conn was to get
// of that conversation before the marker has arrived too. It returns each
// conn's messages before the marker.
func mark(t *testing.T, h *hub.Hub, conversation string, n uint64, conns ...conn) [][]string {
	t.Helper()
	var users []string
	for _, c := range conns {
		users = append(users, c.Info().User)
	}
	want := msg(conversation, 1000+n)
	h.Publish(change(conversation, 1000+n), parley.Audience{Users: users})
	var before [][]string
	for _, c := range conns {
		c.tr.Await(t, "marker "+want, func() bool { return slices.Contains(c.tr.Messages(), want) })
		msgs := c.tr.Messages()
		before = append(before, msgs[:slices.Index(msgs, want)])
	}
	return before
}

// eventually polls cond until it holds, failing t after 10 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		<-tick.C
	}
}

// clock is an injectable clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
