package hub_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/hub"
)

// countingTransport discards what it is given and counts the writes.
type countingTransport struct{ writes *atomic.Int64 }

func (c countingTransport) Write([]byte) error { c.writes.Add(1); return nil }
func (countingTransport) Ping() error          { return nil }
func (countingTransport) Close(int, string)    {}

// BenchmarkPublish measures a group change fanned out to n sessions, from
// Publish to the last transport Write. It keeps at most a window of
// changes in flight, so that no queue overflows whatever b.N is.
func BenchmarkPublish(b *testing.B) {
	payload := []byte(`{"MsgSeq":1,"From_Account":"alice","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello, everyone"}}]}`)
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			h := setup(b, hub.Config{
				PingInterval: -1,
				Encode:       func(c *parley.Change) []byte { return c.Data },
			})
			var writes atomic.Int64
			for i := range n {
				s := h.Register(hub.SessionInfo{User: "u" + strconv.Itoa(i)}, countingTransport{&writes})
				h.Subscribe(s, []string{"g"})
			}
			c := &parley.Change{Conversation: parley.GroupConversation("g"), Kind: parley.ChangeMessage, Data: payload}
			aud := parley.Audience{GroupID: "g"}
			const window = 512
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for writes.Load() < int64(i-window)*int64(n) {
					runtime.Gosched()
				}
				h.Publish(c, aud)
			}
			for writes.Load() < int64(b.N)*int64(n) {
				runtime.Gosched()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/push")
			if st := h.Stats(); st.DroppedPublishes != 0 || st.SlowConsumers != 0 {
				b.Fatalf("Stats = %+v", st)
			}
		})
	}
}

// BenchmarkIdleSession measures the heap the hub holds per idle session
// (registered and subscribed, nothing queued): the Session, its share of
// the user and of the hub's maps and ping buckets. The transport and the
// SessionInfo strings are the caller's and are not counted. With groups>0
// each user is in that many of 100 groups.
func BenchmarkIdleSession(b *testing.B) {
	const n = 10000
	for _, groups := range []int{0, 5} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			infos := make([]hub.SessionInfo, n)
			lists := make([][]string, n)
			for i := range infos {
				infos[i] = hub.SessionInfo{User: "user" + strconv.Itoa(i), Platform: "Web", RemoteAddr: "192.0.2." + strconv.Itoa(i%256)}
				for k := range groups {
					lists[i] = append(lists[i], "group"+strconv.Itoa((i+k*17)%100))
				}
			}
			tr := countingTransport{&atomic.Int64{}}
			sessions := make([]*hub.Session, n)
			var perSession float64
			for range b.N {
				h, err := hub.New(hub.Config{Encode: encode})
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range sessions {
					sessions[i] = h.Register(infos[i], tr)
					h.Subscribe(sessions[i], lists[i])
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSession = float64(after.HeapAlloc-before.HeapAlloc) / n
				if st := h.Stats(); st.Sessions != n {
					b.Fatalf("Stats = %+v", st)
				}
				h.Close()
				clear(sessions)
			}
			b.ReportMetric(perSession, "B/session")
		})
	}
}
