package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

var benchBody = json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello, this is a benchmark message"}}]`)

// benchMessage is a message and its after-send event, as sendmsg writes
// them, between a pseudo-random pair of 100 users (as parley bench sends),
// so each user soon has 99 conversations.
func benchMessage(n int64) (*parley.Message, *parley.Event) {
	a := n % 100
	b := (a + 1 + int64(uint32(n)*2654435761>>8)%99) % 100
	from, to := fmt.Sprint("user", a), fmt.Sprint("user", b)
	msgTime := 1_700_000_000 + n/1000
	m := &parley.Message{
		From: from, To: to, MsgSeq: uint32(n), MsgRandom: uint32(n * 7), MsgTime: msgTime,
		MsgKey: parley.MsgKey(uint32(n), uint32(n*7), msgTime), MsgID: fmt.Sprint("id", n),
		Body: benchBody, BodyCRC: crc32.ChecksumIEEE(benchBody), LifeTime: parley.DefaultLifeTime,
	}
	e := &parley.Event{
		ID: parley.NewEventID(time.Now()), Command: parley.CommandC2CAfterSendMsg,
		Conversation: parley.C2CConversation(from, to),
		Body:         []byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello, this is a benchmark message"}}]}`),
		Origin:       parley.Origin{ClientIP: "127.0.0.1", OptPlatform: parley.OptPlatformREST},
	}
	return m, e
}

func insertPair(ctx context.Context, tx parley.Querier, n int64) error {
	m, e := benchMessage(n)
	if err := tx.MessageInsert(ctx, m); err != nil {
		return err
	}
	return tx.EventInsert(ctx, e)
}

// cpuTime is the process's user and system CPU time so far. Per call it is
// steadier than throughput on a machine whose disk latency wanders.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

func reportRows(b *testing.B, db *sqlite.DB, rowsPerCall int) {
	s := db.Stats()
	b.ReportMetric(float64(b.N*rowsPerCall)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	if s.Transactions > 0 {
		b.ReportMetric(float64(s.Calls)/float64(s.Transactions), "calls/commit")
	}
}

// BenchmarkInTxParallel: many goroutines, each InTx a message and an event.
// Group commit shares each fsync among the calls queued meanwhile.
func BenchmarkInTxParallel(b *testing.B) {
	db := open(b, sqlite.Config{})
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(64) // 64 × GOMAXPROCS callers, like concurrent HTTP requests
	b.ResetTimer()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := db.InTx(ctx, func(tx parley.Querier) error { return insertPair(ctx, tx, i) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRows(b, db, 2)
	reportCPU(b, cpu)
}

// BenchmarkInTxSerial: the same work one call at a time, so every call pays
// for its own commit.
func BenchmarkInTxSerial(b *testing.B) {
	db := open(b, sqlite.Config{})
	ctx := context.Background()
	var i int64
	cpu := cpuTime(b)
	for b.Loop() {
		i++
		if err := db.InTx(ctx, func(tx parley.Querier) error { return insertPair(ctx, tx, i) }); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, db, 2)
	reportCPU(b, cpu)
}

// BenchmarkSendMsg is sendmsg's write path under load: per message one
// InTx of a message insert, an unread bump, an unread-total read and an
// event insert, while a delivery loop claims events and marks them
// delivered, as the webhook worker does.
func BenchmarkSendMsg(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchSendMsg(b, false) })
	// With the message's change appended to its conversation's log, as
	// chat does for every stored message.
	b.Run("change-log", func(b *testing.B) { benchSendMsg(b, true) })
}

func benchSendMsg(b *testing.B, changeLog bool) {
	db := open(b, sqlite.Config{})
	ctx := context.Background()
	stop := make(chan struct{})
	var delivered atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			now := time.Now()
			es, err := db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 256})
			if err != nil {
				b.Error(err)
				return
			}
			if len(es) == 0 {
				continue
			}
			ids := make([]string, len(es))
			for i, e := range es {
				ids[i] = e.ID
			}
			if err := db.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: ids, At: now}); err != nil {
				b.Error(err)
				return
			}
			delivered.Add(int64(len(ids)))
		}
	})

	var n atomic.Int64
	b.SetParallelism(64)
	b.ResetTimer()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			err := db.InTx(ctx, func(tx parley.Querier) error {
				m, e := benchMessage(i)
				if err := tx.MessageInsert(ctx, m); err != nil {
					return err
				}
				if changeLog {
					c := &parley.Change{Conversation: parley.C2CConversation(m.From, m.To), Kind: parley.ChangeMessage, Time: m.MsgTime, Data: changeData}
					if err := tx.ChangeAppend(ctx, c); err != nil {
						return err
					}
				}
				if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: m.To, Peer: m.From, Delta: 1}); err != nil {
					return err
				}
				if _, err := tx.ConversationUnreadTotal(ctx, m.To); err != nil {
					return err
				}
				return tx.EventInsert(ctx, e)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := b.Elapsed()
	reportCPU(b, cpu)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "delivered/s")
	s := db.Stats()
	b.ReportMetric(float64(s.Calls)/float64(s.Transactions), "calls/commit")
}

// changeData is a typical C2C message change: about 420 bytes.
var changeData = []byte(`{"ConversationType":"C2C","From_Account":"user-0042","To_Account":"user-0017","MsgSeq":3970807875,"MsgRandom":1,"MsgTime":1795305203,"MsgKey":"3970807875_1_1795305203","MsgId":"804112218271802729-1795305203-1","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello, this is a message of ordinary length"}}],"CloudCustomData":"","OnlineOnlyFlag":0,"SupportMessageExtension":0,"IsNeedReadReceipt":0}`)

// BenchmarkClaimHeldBack is the delivery worker's idle round with a
// backlog that cannot move: every conversation's first event is leased (in
// flight to a slow receiver) and the rest wait behind it. A claim finds
// nothing and EventNextDue reports nothing, and both read the whole
// backlog to be sure, once per event at most a seek.
func BenchmarkClaimHeldBack(b *testing.B) {
	for _, backlog := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint("backlog ", backlog), func(b *testing.B) {
			db := open(b, sqlite.Config{})
			ctx := context.Background()
			now := time.Now()
			const convs = 100
			insert := func(from, to int) {
				err := db.InTx(ctx, func(tx parley.Querier) error {
					for i := from; i < to; i++ {
						e := &parley.Event{ID: fmt.Sprint("evt_", i), Command: parley.CommandC2CAfterSendMsg,
							Conversation: fmt.Sprint("conv", i%convs), Body: []byte(`{}`), NextAttemptAt: now}
						if err := tx.EventInsert(ctx, e); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			insert(0, convs)
			heads, err := db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Hour), Limit: convs})
			if err != nil || len(heads) != convs {
				b.Fatalf("claiming the heads: %d, %v", len(heads), err)
			}
			insert(convs, backlog)
			b.ResetTimer()
			for b.Loop() {
				es, err := db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Hour), Limit: 256})
				if err != nil || len(es) != 0 {
					b.Fatalf("claim = %d events, %v; want none", len(es), err)
				}
				if _, ok, err := db.EventNextDue(ctx); err != nil || ok {
					b.Fatalf("EventNextDue = %v, %v; want nothing due", ok, err)
				}
			}
		})
	}
}
