package hub_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubtest"
)

// Many goroutines publish the changes of 50 conversations (25 groups, 25
// C2C), their calls serialized as the store's writer serializes them, while
// other sessions come and go and group memberships change. Every session
// receives each conversation's changes in strictly increasing Seq order,
// and the sessions online throughout receive all of them.
func TestOrderPerConversation(t *testing.T) {
	const (
		groups     = 25
		c2cs       = 25
		seqs       = 100
		publishers = 4
	)
	h := setup(t, hub.Config{QueueMessages: 1 << 16})

	type conversation struct {
		id  string
		aud parley.Audience
	}
	var convs []conversation
	var groupIDs []string
	for i := range groups {
		g := "g" + strconv.Itoa(i)
		groupIDs = append(groupIDs, g)
		convs = append(convs, conversation{parley.GroupConversation(g), parley.Audience{GroupID: g}})
	}
	for i := range c2cs {
		peer := "peer" + strconv.Itoa(i)
		convs = append(convs, conversation{parley.C2CConversation("u0", peer), parley.Audience{Users: []string{"u0", peer}}})
	}

	// Online throughout: u0 (two devices, in every C2C conversation) and
	// u1..u4, all in every group.
	steady := []conn{register(h, "u0", groupIDs...), register(h, "u0", groupIDs...)}
	for i := 1; i <= 4; i++ {
		steady = append(steady, register(h, "u"+strconv.Itoa(i), groupIDs...))
	}

	var (
		writer  sync.Mutex // the store's writer: one Publish at a time
		pubWG   sync.WaitGroup
		stop    = make(chan struct{})
		churnWG sync.WaitGroup
		churned = make(chan *hubtest.Transport, 1024)
	)
	for p := range publishers {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			for seq := uint64(1); seq <= seqs; seq++ {
				for i := p; i < len(convs); i += publishers {
					writer.Lock()
					h.Publish(change(convs[i].id, seq), convs[i].aud)
					writer.Unlock()
				}
			}
		}()
	}
	// Sessions that come and go, and memberships that change, meanwhile.
	for k := range 2 {
		churnWG.Add(1)
		go func() {
			defer churnWG.Done()
			user := "churn" + strconv.Itoa(k)
			// Each session lives a tick: long enough to be pushed some
			// changes, short enough for many to come and go.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				tr := hubtest.New()
				s := h.Register(hub.SessionInfo{User: user}, tr)
				h.Subscribe(s, groupIDs[i%groups:])
				h.GroupMembersChanged(groupIDs[i%groups], nil, []string{user})
				h.GroupMembersChanged(groupIDs[(i+1)%groups], []string{user}, nil)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				s.Close(1000, "churn")
				select {
				case churned <- tr:
				default: // enough kept for checking
				}
			}
		}()
	}
	pubWG.Wait()

	for i, c := range steady {
		want := groups * seqs
		if i < 2 {
			want += c2cs * seqs
		}
		got := c.tr.AwaitMessages(t, want)
		if len(got) != want {
			t.Errorf("session %d got %d messages, want %d", i, len(got), want)
		}
		checkOrder(t, c.ID(), got, seqs)
	}
	close(stop)
	churnWG.Wait()
	close(churned)
	n, pushed := 0, 0
	for tr := range churned {
		checkOrder(t, "churned", tr.Messages(), 0)
		n++
		pushed += len(tr.Messages())
	}
	if st := h.Stats(); st.DroppedPublishes != 0 || st.SlowConsumers != 0 {
		t.Errorf("Stats = %+v, want nothing dropped or cut off", st)
	}
	t.Logf("%d churned sessions checked, %d changes pushed to them", n, pushed)
}

// checkOrder fails t unless each conversation's Seqs in msgs strictly
// increase, and, if complete > 0, are 1..complete.
func checkOrder(t *testing.T, who string, msgs []string, complete uint64) {
	t.Helper()
	last := make(map[string]uint64)
	for _, m := range msgs {
		conv, seq := decode(t, m)
		if seq <= last[conv] {
			t.Errorf("%s: %s Seq %d after %d", who, conv, seq, last[conv])
			return
		}
		if complete > 0 && seq != last[conv]+1 {
			t.Errorf("%s: %s Seq %d after %d: a gap", who, conv, seq, last[conv])
			return
		}
		last[conv] = seq
	}
	if complete > 0 {
		for conv, seq := range last {
			if seq != complete {
				t.Errorf("%s: %s ends at Seq %d, want %d", who, conv, seq, complete)
			}
		}
	}
}
