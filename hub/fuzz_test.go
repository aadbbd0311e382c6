package hub_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
)

// FuzzSkipSession feeds Audience.SkipSession arbitrary strings: the hub
// parses them back into its session numbers, and a session must be
// skipped exactly when the string is its ID.
func FuzzSkipSession(f *testing.F) {
	h, err := hub.New(hub.Config{Encode: encode, PingInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	conns := []conn{register(h, "a"), register(h, "a")}
	id := conns[0].ID()
	for _, seed := range []string{
		"", id, conns[1].ID(), id + "0", strings.ToUpper(id), id[:6] + "0" + id[6:],
		id[:6], id[:6] + "-1", id[:6] + "+1", id[:6] + "_1", id[:6] + "vvvvvvvvvvvvvv", id[:6] + "1" + strings.Repeat("0", 20),
	} {
		f.Add(seed)
	}
	var n atomic.Uint64
	f.Fuzz(func(t *testing.T, skip string) {
		i := n.Add(1)
		before := make([]int, len(conns))
		for k, c := range conns {
			before[k] = len(c.tr.Messages())
		}
		h.Publish(change("c", 2*i-1), parley.Audience{Users: []string{"a"}, SkipSession: skip})
		h.Publish(change("c", 2*i), parley.Audience{Users: []string{"a"}})
		for k, c := range conns {
			got := c.tr.AwaitMessages(t, before[k]+1)
			for got[len(got)-1] != msg("c", 2*i) {
				got = c.tr.AwaitMessages(t, len(got)+1)
			}
			got = got[before[k]:]
			skipped := len(got) == 1
			if want := c.ID() == skip; skipped != want {
				t.Errorf("SkipSession %q: session %s skipped %v, want %v (got %q)", skip, c.ID(), skipped, want, got)
			}
		}
	})
}
